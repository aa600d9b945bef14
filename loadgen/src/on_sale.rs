//! The on-sale: `prequeued` buyers press "book" during the pre-queue, at
//! random moments before `sales_start`; `later` buyers arrive after the open.
//! Every buyer follows their booking (its place in line) until decided. The
//! run reports how fair the draw was (the rank correlation between arrival
//! and place among the pre-queued: near 0 is fair; among later arrivals,
//! arrival order is kept: near 1), the places each buyer saw over time, and
//! the time from the open to the last decision.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use plotters::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::Api;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// The server's database: buyers are written there in bulk.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Buyers who join the pre-queue before the open.
    #[arg(long, default_value_t = 2_000)]
    pub prequeued: usize,
    /// Buyers who arrive after the open.
    #[arg(long, default_value_t = 500)]
    pub later: usize,
    #[arg(long, default_value_t = 1_000)]
    pub capacity: i64,
    /// Seconds from now to `sales_start` (the pre-queue arrivals spread over all but the last two).
    #[arg(long, default_value_t = 20)]
    pub open_in: u64,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Places over time of a sample of buyers, and decisions per second (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// One buyer in this many watches their place ten times a second.
    #[arg(long, default_value_t = 10)]
    pub sample_every: usize,
    /// Booking requests in flight at most (each on a connection of its own).
    #[arg(long, default_value_t = 4_096)]
    pub connections: usize,
    /// The server's process (on this machine): its memory and CPU are sampled through the run.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub prequeued: usize,
    pub later: usize,
    pub capacity: i64,
    /// Spearman correlation of arrival rank and place among the pre-queued.
    pub prequeue_arrival_vs_place: f64,
    /// The same among later arrivals (their order is kept).
    pub later_arrival_vs_place: f64,
    pub later_all_behind_prequeue: bool,
    /// Seconds from `sales_start` to the last decision.
    pub open_to_last_decision_s: f64,
    /// Places only went down for every buyer.
    pub places_only_decreased: bool,
    pub confirmed: usize,
    pub rejected: usize,
    pub seed: Option<String>,
    /// How the booking requests were answered (status, or why there was no answer): how many of each.
    pub answers: std::collections::BTreeMap<String, usize>,
    pub violations: Vec<String>,
    /// The server process: resident memory at the open and at its highest
    /// after it, CPU seconds from the open to the last decision.
    pub server: Option<Server>,
    /// The server's database after the run: the draw, decisions per second, sizes.
    pub ledger: Option<crate::ledger::Ledger>,
    /// The watched buyers: pre-queued or not, and the (seconds after the open, place) they saw.
    pub samples: Vec<(bool, Vec<(f64, i64)>)>,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct Server {
    pub rss_at_open_mb: f64,
    pub peak_rss_after_open_mb: f64,
    pub peak_rss_at_s: f64,
    pub cpu_open_to_last_decision_s: f64,
}

struct Buyer {
    token: String,
    booking: String,
    arrived: Instant,
    prequeued: bool,
    /// (seconds since the open, place) as the buyer saw it.
    seen: Vec<(f64, i64)>,
    first_place: Option<i64>,
    status: String,
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let api = Api::new(&args.base, 512);
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let organizer = api.user(&format!("organizer-{run_id}@loadgen.test")).await?;
    let open = Utc::now() + chrono::Duration::seconds(args.open_in as i64);
    let event = json!({
        "title": "On-sale", "venue": "Stadium", "starts_at": (Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "status": "published", "sales_start": open.to_rfc3339(), "prequeue_minutes": 30,
        "ticket_types": [{"name": "General", "price_cents": 0, "capacity": args.capacity, "max_per_order": 1}]
    });
    let reply = api.http().post(api.url("/api/v1/events")).bearer_auth(&organizer).json(&event).send().await?;
    if !reply.status().is_success() {
        bail!("creating the event: {} {}", reply.status(), reply.text().await.unwrap_or_default());
    }
    let event: Value = reply.json().await?;
    let event_id = event["id"].as_str().context("event id")?.to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().context("ticket type")?.to_owned();
    let tokens =
        crate::buyers::create(&api, args.database_url.as_deref(), args.prequeued + args.later, &run_id).await?;
    let until_open = (open - Utc::now()).to_std().unwrap_or_default();
    if until_open < Duration::from_secs(3) {
        bail!("the buyers took too long to create: raise --open-in");
    }
    let spread = until_open - Duration::from_secs(2);
    let open_at = Instant::now() + until_open;

    // Arrivals: the pre-queued at random moments before the open, the later
    // after it. A sample of them (one in SAMPLE_EVERY) watch their place from
    // the moment they are accepted, ten times a second: the line moves fast.
    let buyers = Arc::new(Mutex::new(Vec::new()));
    let watched: Arc<Mutex<HashMap<String, Places>>> = Arc::default();
    let sample_every = args.sample_every.max(1);
    let answers: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>> = Arc::default();
    let memory = args.server_pid.map(|pid| {
        let samples: Arc<std::sync::Mutex<Vec<Sample>>> = Arc::default();
        (tokio::spawn(sample_server(pid, open_at, samples.clone())), samples)
    });
    // The crowd's connections, at most this many at once (the load
    // generator's file descriptors are the limit, not the server's).
    let connections = Arc::new(tokio::sync::Semaphore::new(args.connections));
    let book = |n: usize, token: String, at: Instant, prequeued: bool| {
        let (api, tt, buyers, watched, answers, connections) =
            (api.clone(), tt.clone(), buyers.clone(), watched.clone(), answers.clone(), connections.clone());
        async move {
            tokio::time::sleep_until(at.into()).await;
            let permit = connections.acquire_owned().await.expect("never closed");
            let arrived = Instant::now();
            let answer = api.book(&token, &tt, 1, &uuid::Uuid::new_v4().to_string(), None).await;
            let kind = match &answer {
                Ok((status, _)) => status.to_string(),
                Err(err) => format!("no answer: {}", err.root_cause()),
            };
            drop(permit);
            *answers.lock().expect("answers").entry(kind).or_default() += 1;
            if let Ok((202, Some(b))) = answer {
                let booking = b.id.clone();
                let buyer = Buyer {
                    token: token.clone(),
                    booking: b.id,
                    arrived,
                    prequeued,
                    seen: Vec::new(),
                    first_place: None,
                    status: b.status,
                };
                buyers.lock().await.push(buyer);
                if n.is_multiple_of(sample_every) {
                    let seen = watch(&api, &token, &booking, open_at).await;
                    watched.lock().await.insert(booking, seen);
                }
            }
        }
    };
    let start = Instant::now();
    let mut arrivals = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (at, prequeued) = if i < args.prequeued {
            (start + spread.mul_f64((uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1e6), true)
        } else {
            (open_at + Duration::from_millis(500 + 4 * (i - args.prequeued) as u64), false)
        };
        arrivals.push(book(i, token.clone(), at, prequeued));
    }
    futures::future::join_all(arrivals).await;

    // Everyone follows their booking until decided.
    let mut buyers = std::mem::take(&mut *buyers.lock().await);
    let watched = std::mem::take(&mut *watched.lock().await);
    for buyer in &mut buyers {
        if let Some(seen) = watched.get(&buyer.booking) {
            buyer.seen.clone_from(seen);
            buyer.first_place = seen.first().map(|(_, p)| *p);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    futures::stream::iter(buyers.iter_mut())
        .for_each_concurrent(256, |buyer| {
            let api = api.clone();
            async move {
                while buyer.status == "pending" && Instant::now() < deadline {
                    let reply = api
                        .http()
                        .get(api.url(&format!("/api/v1/bookings/{}", buyer.booking)))
                        .bearer_auth(&buyer.token)
                        .send()
                        .await;
                    if let Ok(reply) = reply {
                        let body: Value = reply.json().await.unwrap_or_default();
                        buyer.status = body["status"].as_str().unwrap_or("pending").to_owned();
                        if let Some(place) = body["queue"]["position"].as_i64() {
                            let t = Instant::now().saturating_duration_since(open_at).as_secs_f64();
                            buyer.first_place.get_or_insert(place);
                            buyer.seen.push((t, place));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await;
    let last_decision = Instant::now().saturating_duration_since(open_at).as_secs_f64();
    let server = memory.map(|(task, samples)| {
        task.abort();
        let samples = samples.lock().expect("samples").clone();
        server_summary(&samples)
    });

    let mut violations = Vec::new();
    let places_only_decreased = buyers.iter().all(|b| b.seen.windows(2).all(|w| w[1].1 <= w[0].1));
    if !places_only_decreased {
        violations.push("a buyer saw their place go up".into());
    }
    let ranked = |prequeued: bool| -> Vec<(f64, f64)> {
        let mut group: Vec<&Buyer> =
            buyers.iter().filter(|b| b.prequeued == prequeued && b.first_place.is_some()).collect();
        group.sort_by_key(|b| b.arrived);
        let arrival: Vec<usize> = (0..group.len()).collect();
        let mut by_place: Vec<(usize, i64)> =
            group.iter().enumerate().map(|(i, b)| (i, b.first_place.unwrap_or(0))).collect();
        by_place.sort_by_key(|(_, p)| *p);
        let mut place_rank = vec![0usize; group.len()];
        for (rank, (i, _)) in by_place.iter().enumerate() {
            place_rank[*i] = rank;
        }
        arrival.iter().map(|&i| (i as f64, place_rank[i] as f64)).collect()
    };
    let queue: Value =
        api.http().get(api.url(&format!("/api/v1/events/{event_id}/queue"))).send().await?.json().await?;
    // The pre-queue's order is the draw's: recomputed from the published seed
    // and the pre-queued booking ids (what any buyer could check).
    let pre = match queue["shuffle_seed"].as_str().and_then(parse_seed) {
        Some(seed) => {
            let mut group: Vec<&Buyer> = buyers.iter().filter(|b| b.prequeued).collect();
            group.sort_by_key(|b| b.arrived);
            let ids: Vec<uuid::Uuid> = group.iter().filter_map(|b| b.booking.parse().ok()).collect();
            let order = boxoffice::domain::draw::order(seed, ids.clone());
            let place: std::collections::HashMap<uuid::Uuid, usize> =
                order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            ids.iter().enumerate().map(|(arrival, id)| (arrival as f64, place[id] as f64)).collect()
        }
        None => {
            violations.push("no draw was published".into());
            Vec::new()
        }
    };
    let later = ranked(false);
    let max_pre = buyers.iter().filter(|b| b.prequeued).filter_map(|b| b.first_place).max().unwrap_or(0);
    // Behind the pre-queue: every pre-queued booking was decided before any
    // later one (decision times from the server's database), or, without it,
    // judged by the first places seen (a weaker reading: places are relative
    // to the moment they were read).
    let db = match &args.database_url {
        Some(url) => Some(sqlx::PgPool::connect(url).await?),
        None => None,
    };
    let later_all_behind_prequeue = match &args.database_url {
        Some(_) if db.is_some() => {
            let db = db.as_ref().expect("checked");
            let (last_pre, first_later): (Option<When>, Option<When>) = sqlx::query_as(
                "SELECT max(updated_at) FILTER (WHERE prequeued), min(updated_at) FILTER (WHERE NOT prequeued)
                     FROM bookings WHERE event_id = $1::uuid AND status <> 'pending'",
            )
            .bind(&event_id)
            .fetch_one(db)
            .await?;
            last_pre.zip(first_later).is_none_or(|(pre, later)| pre <= later)
        }
        _ => buyers.iter().filter(|b| !b.prequeued).filter_map(|b| b.first_place).all(|p| p > max_pre || max_pre == 0),
    };
    if !later_all_behind_prequeue {
        violations.push("a later arrival was decided before the pre-queue was".into());
    }
    let queue: Value =
        api.http().get(api.url(&format!("/api/v1/events/{event_id}/queue"))).send().await?.json().await?;
    let ledger = match &db {
        Some(db) => Some(crate::ledger::read(db, &event_id, open).await?),
        None => None,
    };
    let confirmed = buyers.iter().filter(|b| b.status == "confirmed").count();
    if confirmed as i64 != args.capacity.min(buyers.len() as i64) {
        violations.push(format!("{confirmed} confirmed of {} seats", args.capacity));
    }
    let results = Results {
        prequeued: buyers.iter().filter(|b| b.prequeued).count(),
        later: buyers.iter().filter(|b| !b.prequeued).count(),
        capacity: args.capacity,
        prequeue_arrival_vs_place: spearman(&pre),
        later_arrival_vs_place: spearman(&later),
        later_all_behind_prequeue,
        open_to_last_decision_s: last_decision,
        places_only_decreased,
        confirmed,
        rejected: buyers.iter().filter(|b| b.status == "rejected").count(),
        seed: queue["shuffle_seed"].as_str().map(str::to_owned),
        answers: std::mem::take(&mut *answers.lock().expect("answers")),
        violations,
        server,
        ledger,
        samples: buyers.iter().filter(|b| !b.seen.is_empty()).map(|b| (b.prequeued, b.seen.clone())).collect(),
    };
    let summary = serde_json::json!({
        "prequeue_arrival_vs_place": results.prequeue_arrival_vs_place,
        "later_arrival_vs_place": results.later_arrival_vs_place,
        "later_all_behind_prequeue": results.later_all_behind_prequeue,
        "open_to_last_decision_s": results.open_to_last_decision_s,
        "places_only_decreased": results.places_only_decreased,
        "confirmed": results.confirmed, "rejected": results.rejected, "seed": results.seed,
        "watched": results.samples.len(), "answers": results.answers, "violations": results.violations,
        "server": results.server,
        "ledger": results.ledger.as_ref().map(|l| json!({
            "draw_entries": l.draw_entries, "draw_started_s": l.draw_started_s,
            "first_decision_s": l.first_decision_s, "last_decision_s": l.last_decision_s, "decided": l.decided,
            "peak_decided_per_s": l.peak_decided_per_s, "mean_decided_per_s": l.mean_decided_per_s,
            "sizes": l.sizes,
        })),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    if let Some(path) = &args.plot {
        plot_places(path, &buyers, results.ledger.as_ref())?;
    }
    Ok(results.violations.is_empty())
}

fn parse_seed(hex: &str) -> Option<boxoffice::domain::draw::Seed> {
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(seed)
}

type When = chrono::DateTime<Utc>;
/// (seconds after the open, place) as one buyer saw them.
type Places = Vec<(f64, i64)>;

/// (seconds after the open, resident kB, CPU seconds) of the server process.
type Sample = (f64, u64, f64);

/// Samples the server's memory and CPU every 100 ms until aborted.
async fn sample_server(pid: u32, open_at: Instant, samples: Arc<std::sync::Mutex<Vec<Sample>>>) {
    loop {
        if let Ok(stats) = crate::watchers::proc_stats(pid) {
            let t = Instant::now().saturating_duration_since(open_at).as_secs_f64()
                - open_at.saturating_duration_since(Instant::now()).as_secs_f64();
            samples.lock().expect("samples").push((t, stats.rss_kb, stats.cpu_seconds));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn server_summary(samples: &[Sample]) -> Server {
    let at_open = samples.iter().rev().find(|s| s.0 <= 0.0).or(samples.first()).copied().unwrap_or_default();
    let peak = samples.iter().filter(|s| s.0 > 0.0).max_by_key(|s| s.1).copied().unwrap_or(at_open);
    let last = samples.last().copied().unwrap_or(at_open);
    Server {
        rss_at_open_mb: at_open.1 as f64 / 1024.0,
        peak_rss_after_open_mb: peak.1 as f64 / 1024.0,
        peak_rss_at_s: peak.0,
        cpu_open_to_last_decision_s: last.2 - at_open.2,
    }
}

/// Reads the booking ten times a second until it is decided: (seconds after
/// the open, place) for every read that had a place.
async fn watch(api: &Api, token: &str, booking: &str, open_at: Instant) -> Vec<(f64, i64)> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let reply = api.http().get(api.url(&format!("/api/v1/bookings/{booking}"))).bearer_auth(token).send().await;
        if let Ok(reply) = reply {
            let body: Value = reply.json().await.unwrap_or_default();
            if let Some(place) = body["queue"]["position"].as_i64() {
                let t = Instant::now().saturating_duration_since(open_at).as_secs_f64()
                    - open_at.saturating_duration_since(Instant::now()).as_secs_f64();
                seen.push((t, place));
            }
            if body["status"].as_str().is_some_and(|s| s != "pending") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Spearman's rank correlation of (rank, rank) pairs.
fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let d2: f64 = pairs.iter().map(|(a, b)| (a - b).powi(2)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// Places over time of the watched buyers (lines that fall to 1, then
/// stop) and, from the server's database, bookings decided per second.
fn plot_places(path: &std::path::Path, buyers: &[Buyer], ledger: Option<&crate::ledger::Ledger>) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(560);
    let seen = || buyers.iter().flat_map(|b| b.seen.iter());
    let rate = ledger.map_or(&[][..], |l| &l.decided_per_second[..]);
    let end = seen().map(|s| s.0).chain(rate.iter().map(|r| r.0 as f64 + 1.0)).fold(1.0, f64::max);
    let start = seen().map(|s| s.0).fold(0.0, f64::min);
    let top_place = seen().map(|s| s.1).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "place in line over time (watched buyers; 0 s = sales_start; blue: pre-queue, red: later)",
            ("sans-serif", 16),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(start..end, 0.0..top_place)?;
    chart.configure_mesh().x_desc("seconds after the open").y_desc("place").draw()?;
    for buyer in buyers.iter().filter(|b| !b.seen.is_empty()) {
        let colour = if buyer.prequeued { BLUE.mix(0.6) } else { RED.mix(0.6) };
        chart.draw_series(LineSeries::new(buyer.seen.iter().map(|(t, p)| (*t, *p as f64)), colour))?;
    }
    let top_rate = rate.iter().map(|r| r.1).max().unwrap_or(1) as f64;
    let mut chart = ChartBuilder::on(&bottom)
        .caption("bookings decided per second (the server's database)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(70)
        .build_cartesian_2d(start..end, 0.0..top_rate * 1.1)?;
    chart.configure_mesh().x_desc("seconds after the open").y_desc("decided/s").draw()?;
    chart.draw_series(LineSeries::new(rate.iter().map(|(s, n)| (*s as f64 + 0.5, *n as f64)), &BLACK))?;
    root.present()?;
    Ok(())
}
