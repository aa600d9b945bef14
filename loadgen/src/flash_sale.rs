//! The flash sale: an organizer puts `capacity` seats on sale, `users` buyers
//! send `requests` booking requests at once, and the run checks from outside
//! that nothing was oversold and every accepted booking reached a final state.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::client::{Api, Booking, Pay};
use crate::report::{self, Percentiles, Sample, bar};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Base URL of the running Boxoffice.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// Buyers (accounts) sending the requests, round robin. Default: one per
    /// request, as in a real on-sale (a user has one request in line per
    /// ticket type; more requests than buyers meet 409 `already_in_line`).
    #[arg(long)]
    pub users: Option<usize>,
    /// The server's database: buyers are then written there in bulk (fast)
    /// instead of registering through the API (argon2 for each).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Booking requests to send.
    #[arg(long, default_value_t = 10_000)]
    pub requests: usize,
    /// Seats on sale.
    #[arg(long, default_value_t = 1_000)]
    pub capacity: i64,
    /// Requests in flight at once (closed loop), and the connection pool size.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Open loop instead: send at this many requests per second, whatever the
    /// answers do (latency is then measured from when a request was due).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seats per request.
    #[arg(long, default_value_t = 1)]
    pub quantity: i64,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw throughput and latency over time here (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// The JSON of a `ceilings` run on this machine: the summary then reads as
    /// shares of what the parts alone can do.
    #[arg(long)]
    pub ceilings: Option<PathBuf>,
    /// Give up following bookings to their final state after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub follow_timeout: u64,
    /// Price of a seat, in cents. 0 (the default): free, confirmed at once;
    /// priced: held, then paid as `--pay` says.
    #[arg(long, default_value_t = 0)]
    pub price_cents: i64,
    /// How held bookings are paid: `offline` (the organizer marks them paid),
    /// `card` (through the server's Stripe, the emulator at `--stripe-emulator`), `none`.
    #[arg(long, value_enum, default_value_t = Pay::Offline)]
    pub pay: Pay,
    /// Share of the holds that are paid (0 to 1); the others run out.
    #[arg(long, default_value_t = 1.0)]
    pub pay_share: f64,
    /// The event's hold for a card payment, in seconds (60 to 3600): how long
    /// the run waits for unpaid holds to run out.
    #[arg(long, default_value_t = 60)]
    pub hold_seconds: i64,
    /// The Stripe emulator the server uses (`--pay card`): payment methods come from it.
    #[arg(long, default_value = "http://127.0.0.1:8420")]
    pub stripe_emulator: String,
    #[arg(long, default_value = "sk_test_local")]
    pub stripe_secret_key: String,
    /// Every buyer types one code (10 % off) that may go to this many seats:
    /// counted in the worker's transaction, never more.
    #[arg(long)]
    pub code: Option<i64>,
    /// Two ticket types of `capacity` seats each, sharing a quota of this
    /// many; requests alternate between them.
    #[arg(long)]
    pub quota: Option<i64>,
    /// The event issues no invoices: a priced sale's confirmations without
    /// them, to weigh what issuing them costs (runs alternated with and without).
    #[arg(long)]
    pub no_invoices: bool,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub event_id: String,
    pub ticket_type_id: String,
    pub capacity: i64,
    pub requests: usize,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub quantity: i64,
    pub accepted: usize,
    pub confirmed_bookings: usize,
    pub confirmed_seats: i64,
    pub rejected_bookings: usize,
    pub remaining: i64,
    pub tickets_issued: i64,
    pub sale_seconds: f64,
    pub accepted_per_s: f64,
    pub responses_per_s: f64,
    pub finalized_per_s: f64,
    pub accept_ms: Percentiles,
    pub final_ms: Percentiles,
    pub status_counts: BTreeMap<u16, usize>,
    pub price_cents: i64,
    /// Whether the event invoiced its paid bookings.
    pub invoices: bool,
    /// Priced sales: bookings held by the worker, and the rate it held them.
    pub held_bookings: usize,
    pub holds_per_s: f64,
    /// Holds paid (and confirmed), and how fast payments were applied.
    pub paid_bookings: usize,
    pub pay_seconds: f64,
    pub confirmed_per_s: f64,
    /// Holds left unpaid that ran out, their seats back on sale.
    pub expired_bookings: usize,
    /// `--code`: the seats it may go to, and went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_max_uses: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_uses: Option<i64>,
    /// `--quota`: the shared capacity, and the seats of both types sold or held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_capacity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_taken: Option<i64>,
    pub invariants_ok: bool,
    pub violations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratios: Option<serde_json::Value>,
    pub timeline: Vec<report::Bucket>,
}

/// A booking followed to its end: the buyer's token and the booking, or why not.
type Followed = (String, Result<Booking, String>);

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let stage = set_up(&args).await?;
    let sold = sell(&args, &stage).await;
    let finals = follow(&args, &stage.api, &sold.accepted).await;
    // When the worker decided each booking (before any payment changed it).
    let decided_at: HashMap<String, chrono::DateTime<chrono::Utc>> =
        finals.iter().filter_map(|(_, r)| r.as_ref().ok().map(|b| (b.id.clone(), b.updated_at))).collect();
    let checkout = check_out(&args, &stage, &finals).await?;
    let finals = if checkout.held == 0 { finals } else { as_ended(&args, &stage.api, finals).await };
    let mut results = check(&args, &stage, sold, &finals, &decided_at, checkout).await?;
    if let Some(path) = &args.ceilings {
        results.ratios = Some(ratios(&results, path)?);
    }
    print_summary(&results);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let title = format!("flash sale: {} requests, {} seats", args.requests, args.capacity);
        crate::plot::draw(path, &title, &results.timeline)?;
    }
    Ok(results.invariants_ok)
}

/// What the sale runs on: an organizer, the event, the buyers.
struct Stage {
    api: Api,
    run_id: String,
    organizer: String,
    event_id: String,
    /// The ticket types on sale (two with `--quota`); requests alternate.
    types: Vec<String>,
    tokens: Vec<String>,
    /// `--code`: its id and spelling.
    code: Option<(String, String)>,
}

async fn set_up(args: &Args) -> anyhow::Result<Stage> {
    let api = Api::new(&args.base, args.concurrency.max(16));
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let organizer = api.user(&format!("organizer-{run_id}@loadgen.test")).await.context("creating the organizer")?;
    let max_per_order = args.quantity.clamp(1, 100);
    let (event_id, tt) = api
        .flash_sale_event(
            &organizer,
            args.capacity,
            max_per_order,
            args.price_cents,
            args.hold_seconds,
            !args.no_invoices,
        )
        .await?;
    let mut types = vec![tt];
    if let Some(shared) = args.quota {
        types.push(api.add_ticket_type(&organizer, &event_id, args.capacity, max_per_order, args.price_cents).await?);
        api.quota(&organizer, &event_id, shared, &types).await?;
    }
    let code = match args.code {
        Some(max_uses) => Some(api.code(&organizer, &event_id, max_uses).await?),
        None => None,
    };
    let users = args.users.unwrap_or(args.requests).max(1);
    let tokens = crate::buyers::create(&api, args.database_url.as_deref(), users, &run_id)
        .await
        .context("creating the buyers")?;
    Ok(Stage { api, run_id, organizer, event_id, types, tokens, code })
}

/// The sale's answers: every request's latency and status, the bookings accepted.
struct Sold {
    samples: Vec<Sample>,
    accepted: Vec<(String, Booking)>,
    seconds: f64,
}

/// Sends the requests, in a closed loop (`concurrency` in flight) or an open
/// one (`rate` a second, whatever the answers do).
async fn sell(args: &Args, stage: &Stage) -> Sold {
    let sale = bar(args.requests as u64, "sale");
    let samples = Arc::new(Mutex::new(Vec::with_capacity(args.requests)));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let send = |i: usize, due: Duration| {
        let (api, tt, token) = (
            stage.api.clone(),
            stage.types[i % stage.types.len()].clone(),
            stage.tokens[i % stage.tokens.len()].clone(),
        );
        let code = stage.code.as_ref().map(|(_, code)| code.clone());
        let (samples, accepted, sale) = (samples.clone(), accepted.clone(), sale.clone());
        let key = format!("{}-{i}", stage.run_id);
        let quantity = args.quantity;
        async move {
            let result = api.book(&token, &tt, quantity, &key, code.as_deref()).await;
            let latency = start.elapsed().saturating_sub(due);
            let status = match result {
                Ok((status, booking)) => {
                    if let Some(booking) = booking.filter(|_| status == 202) {
                        accepted.lock().await.push((token, booking));
                    }
                    status
                }
                Err(_) => 0, // no answer at all
            };
            samples.lock().await.push(Sample { due, latency, status });
            sale.inc(1);
        }
    };
    match args.rate {
        None => {
            let next = Arc::new(AtomicUsize::new(0));
            let workers: FuturesUnordered<_> = (0..args.concurrency)
                .map(|_| {
                    let next = next.clone();
                    let send = &send;
                    async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= args.requests {
                                break;
                            }
                            send(i, start.elapsed()).await;
                        }
                    }
                })
                .collect();
            workers.collect::<Vec<()>>().await;
        }
        Some(rate) => {
            let mut in_flight = FuturesUnordered::new();
            for i in 0..args.requests {
                let due = Duration::from_secs_f64(i as f64 / rate);
                // Send when due, not when the previous answer came: no coordinated omission.
                loop {
                    let wait = due.saturating_sub(start.elapsed());
                    if wait.is_zero() {
                        break;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                    }
                }
                in_flight.push(send(i, due));
            }
            while in_flight.next().await.is_some() {}
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    sale.finish();
    let samples = std::mem::take(&mut *samples.lock().await);
    let accepted = std::mem::take(&mut *accepted.lock().await);
    Sold { samples, accepted, seconds }
}

/// Follows every accepted booking until it is final (or `follow_timeout`).
async fn follow(args: &Args, api: &Api, accepted: &[(String, Booking)]) -> Vec<Followed> {
    let follow = bar(accepted.len() as u64, "final");
    let deadline = Instant::now() + Duration::from_secs(args.follow_timeout);
    let finals = futures::stream::iter(accepted.iter().cloned())
        .map(|(token, booking)| {
            let (api, follow) = (api.clone(), follow.clone());
            async move {
                let result = loop {
                    match api.booking(&token, &booking.id).await {
                        Ok(b) if b.status != "pending" => break Ok(b),
                        Ok(_) | Err(_) if Instant::now() > deadline => {
                            break Err(format!("booking {} not final in time", booking.id));
                        }
                        // The server held the request up to 30 s; a still pending
                        // answer (or an error) is simply asked again.
                        _ => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                };
                follow.inc(1);
                (token, result)
            }
        })
        .buffer_unordered(args.concurrency.clamp(1, 512))
        .collect()
        .await;
    follow.finish();
    finals
}

/// A priced sale's checkout: a share of the holds paid, the rest run out.
#[derive(Default)]
struct Checkout {
    held: usize,
    paid: usize,
    pay_seconds: f64,
    expired: usize,
    violations: Vec<String>,
}

async fn check_out(args: &Args, stage: &Stage, finals: &[Followed]) -> anyhow::Result<Checkout> {
    let api = &stage.api;
    let held: Vec<(String, Booking)> = finals
        .iter()
        .filter_map(|(token, b)| b.as_ref().ok().filter(|b| b.status == "held").map(|b| (token.clone(), b.clone())))
        .collect();
    let to_pay = ((held.len() as f64) * args.pay_share.clamp(0.0, 1.0)).round() as usize;
    let stripe =
        boxoffice::payments::stripe::Stripe::new(&args.stripe_emulator, args.stripe_secret_key.as_str().into());
    let paying = bar(to_pay as u64, "pay");
    let pay_start = Instant::now();
    let paid: Vec<anyhow::Result<bool>> = futures::stream::iter(held.iter().take(to_pay).cloned())
        .map(|(token, booking)| {
            let (api, paying, stripe, organizer, event_id) =
                (api.clone(), paying.clone(), stripe.clone(), stage.organizer.clone(), stage.event_id.clone());
            async move {
                let result = api.pay(args.pay, (&event_id, &booking.id), (&organizer, &token), &stripe).await;
                paying.inc(1);
                result
            }
        })
        .buffer_unordered(args.concurrency.clamp(1, 64))
        .collect()
        .await;
    let pay_seconds = pay_start.elapsed().as_secs_f64();
    paying.finish();
    let mut violations = Vec::new();
    let paid_bookings = paid.iter().filter(|r| matches!(r, Ok(true))).count();
    for failure in paid.iter().filter_map(|r| r.as_ref().err()).take(3) {
        violations.push(format!("a payment failed: {failure:#}"));
    }
    if paid_bookings < to_pay.min(held.len()) && args.pay != Pay::None {
        violations.push(format!("{} of {to_pay} payments did not confirm their booking", to_pay - paid_bookings));
    }
    // The unpaid holds run out (the worker releases them within seconds of expires_at).
    let unpaid: Vec<(String, Booking)> = held.iter().skip(paid_bookings.min(to_pay)).cloned().collect();
    let mut expired = 0;
    if !unpaid.is_empty() {
        let waiting = bar(unpaid.len() as u64, "expire");
        let deadline = Instant::now() + Duration::from_secs(args.hold_seconds.max(0) as u64 + 60);
        for (token, booking) in &unpaid {
            loop {
                let now = api.booking(token, &booking.id).await?;
                if now.status == "expired" {
                    expired += 1;
                    break;
                }
                if Instant::now() > deadline {
                    violations.push(format!("booking {} still {} after its hold", booking.id, now.status));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            waiting.inc(1);
        }
        waiting.finish();
    }
    Ok(Checkout { held: held.len(), paid: paid_bookings, pay_seconds, expired, violations })
}

/// The bookings as they ended (paid ones confirmed now).
async fn as_ended(args: &Args, api: &Api, finals: Vec<Followed>) -> Vec<Followed> {
    futures::stream::iter(finals)
        .map(|(token, decided)| {
            let api = api.clone();
            async move {
                let now = match decided {
                    Ok(b) => api.booking(&token, &b.id).await.map_err(|e| format!("{e:#}")),
                    failed => failed,
                };
                (token, now)
            }
        })
        .buffer_unordered(args.concurrency.clamp(1, 512))
        .collect()
        .await
}

/// Checks from outside what the sale left (and, with the server's database,
/// the invariants every test checks), and sums it up.
async fn check(
    args: &Args,
    stage: &Stage,
    sold: Sold,
    finals: &[Followed],
    decided_at: &HashMap<String, chrono::DateTime<chrono::Utc>>,
    checkout: Checkout,
) -> anyhow::Result<Results> {
    let Sold { samples, accepted, seconds: sale_seconds } = sold;
    let mut violations = checkout.violations;
    let mut status_counts = BTreeMap::new();
    let mut accept_histogram = report::histogram();
    for s in &samples {
        *status_counts.entry(s.status).or_insert(0) += 1;
        let _ = accept_histogram.record(s.latency.as_micros().max(1) as u64);
    }
    let server_errors: usize = status_counts.iter().filter(|(s, _)| **s >= 500 || **s == 0).map(|(_, n)| n).sum();
    if server_errors > 0 {
        violations.push(format!("{server_errors} answers were 5xx or no answer"));
    }
    let mut final_histogram = report::histogram();
    let (mut confirmed_bookings, mut rejected_bookings, mut confirmed_seats, mut tickets_issued) = (0, 0, 0i64, 0i64);
    let (mut first_accept, mut last_final) = (None, None);
    for (_, result) in finals {
        match result {
            Ok(b) => {
                // Latency and rate of the worker's decision (for a hold, not its payment).
                let decided = decided_at.get(&b.id).copied().unwrap_or(b.updated_at);
                let took = (decided - b.created_at).num_microseconds().unwrap_or(0).max(1) as u64;
                let _ = final_histogram.record(took);
                first_accept = first_accept.min(Some(b.created_at)).or(Some(b.created_at));
                last_final = last_final.max(Some(decided));
                match b.status.as_str() {
                    "confirmed" => {
                        confirmed_bookings += 1;
                        confirmed_seats += b.quantity;
                        tickets_issued += b.tickets.len() as i64;
                    }
                    "held" | "expired" | "cancelled" => {}
                    _ => rejected_bookings += 1,
                }
            }
            Err(violation) => violations.push(violation.clone()),
        }
    }
    let event = stage.api.event(&stage.event_id).await?;
    let mut remaining = 0;
    for tt in event["ticket_types"].as_array().context("ticket types")? {
        remaining += tt["remaining"].as_i64().context("remaining")?;
    }
    let capacity = args.capacity * stage.types.len() as i64;
    if confirmed_seats > capacity {
        violations.push(format!("oversold: {confirmed_seats} seats confirmed of {capacity}"));
    }
    if remaining != capacity - confirmed_seats {
        violations.push(format!("remaining is {remaining}, expected {}", capacity - confirmed_seats));
    }
    // What was held and confirmed at the end (unpaid holds have run out).
    let taken = confirmed_seats;
    if let Some(shared) = args.quota.filter(|shared| taken > *shared) {
        violations.push(format!("the quota of {shared} was oversold: {taken} seats of its two types"));
    }
    let code_uses = match &stage.code {
        Some((id, _)) => Some(stage.api.code_uses(&stage.organizer, &stage.event_id, id).await?),
        None => None,
    };
    if let (Some(max), Some(uses)) = (args.code, code_uses) {
        if uses > max {
            violations.push(format!("the code went to {uses} seats, more than its {max}"));
        }
        if uses != confirmed_seats {
            violations.push(format!("the code counts {uses} uses for {confirmed_seats} seats sold with it"));
        }
    }
    if tickets_issued != confirmed_seats {
        violations.push(format!("{tickets_issued} tickets for {confirmed_seats} confirmed seats"));
    }
    // With the server's database, the invariants every test checks too
    // (`capacity = remaining + held + confirmed`, no money kept without tickets).
    if let Some(url) = &args.database_url {
        let db = sqlx::PgPool::connect(url).await.context("connecting to the server's database")?;
        for tt in &stage.types {
            let seats = boxoffice::db::invariants::seats(&db, tt.parse()?).await?;
            violations.extend(seats.violations());
            if seats.held > 0 && args.pay != Pay::None {
                violations.push(format!("{} seats still held at the end", seats.held));
            }
            violations.extend(boxoffice::db::invariants::quota_violations(&db, tt.parse()?).await?);
            violations.extend(boxoffice::db::invariants::invoice_violations(&db, tt.parse()?).await?);
        }
        db.close().await;
    }
    let finalize_seconds = match (first_accept, last_final) {
        (Some(a), Some(b)) => ((b - a).num_microseconds().unwrap_or(0) as f64 / 1e6).max(1e-3),
        _ => f64::NAN,
    };
    Ok(Results {
        event_id: stage.event_id.clone(),
        ticket_type_id: stage.types[0].clone(),
        capacity: args.capacity,
        requests: args.requests,
        concurrency: args.concurrency,
        rate: args.rate,
        quantity: args.quantity,
        accepted: accepted.len(),
        confirmed_bookings,
        confirmed_seats,
        rejected_bookings,
        remaining,
        tickets_issued,
        sale_seconds,
        accepted_per_s: accepted.len() as f64 / sale_seconds,
        responses_per_s: samples.len() as f64 / sale_seconds,
        finalized_per_s: finals.iter().filter(|(_, r)| r.is_ok()).count() as f64 / finalize_seconds,
        accept_ms: Percentiles::of(&accept_histogram, true),
        final_ms: Percentiles::of(&final_histogram, false),
        status_counts,
        price_cents: args.price_cents,
        invoices: !args.no_invoices,
        held_bookings: checkout.held,
        holds_per_s: checkout.held as f64 / finalize_seconds,
        paid_bookings: checkout.paid,
        pay_seconds: checkout.pay_seconds,
        confirmed_per_s: checkout.paid as f64 / checkout.pay_seconds.max(1e-3),
        expired_bookings: checkout.expired,
        code_max_uses: args.code,
        code_uses,
        quota_capacity: args.quota,
        quota_taken: args.quota.map(|_| taken),
        invariants_ok: violations.is_empty(),
        violations,
        ratios: None,
        timeline: report::timeline(&samples),
    })
}

/// The rates as shares of the ceilings measured on this machine (`ceilings --json`).
fn ratios(results: &Results, path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let pg = c["pg_batch_per_s"].as_f64().unwrap_or(f64::NAN);
    let mq = c["rabbitmq_publish_per_s"].as_f64().unwrap_or(f64::NAN);
    let one = c["pg_one_tx_per_booking_per_s"].as_f64().unwrap_or(f64::NAN);
    let http = c["http_healthz_per_s"].as_f64().unwrap_or(f64::NAN);
    Ok(serde_json::json!({
        "finalized_of_lower_ceiling": results.finalized_per_s / pg.min(mq),
        "finalized_vs_one_tx_per_booking": results.finalized_per_s / one,
        "answers_of_http_ceiling": results.responses_per_s / http,
    }))
}

fn print_summary(r: &Results) {
    let counts: Vec<String> = r.status_counts.iter().map(|(s, n)| format!("{s}: {n}")).collect();
    let verdict = if r.invariants_ok { "all hold".to_owned() } else { r.violations.join("; ") };
    let rows = [
        (
            "requests",
            format!(
                "{} in {:.2} s ({})",
                r.requests,
                r.sale_seconds,
                r.rate.map_or(format!("closed loop, {} in flight", r.concurrency), |x| format!("open loop, {x}/s"))
            ),
        ),
        ("answers", counts.join(", ")),
        ("accepted/s", format!("{:.0}", r.accepted_per_s)),
        ("answers/s", format!("{:.0}", r.responses_per_s)),
        ("finalized/s", format!("{:.0}", r.finalized_per_s)),
        (
            "accept p50/p99/p99.9",
            format!("{:.1} / {:.1} / {:.1} ms", r.accept_ms.p50, r.accept_ms.p99, r.accept_ms.p999.unwrap_or(0.0)),
        ),
        ("accept→final p50/p99", format!("{:.1} / {:.1} ms", r.final_ms.p50, r.final_ms.p99)),
        (
            "seats",
            format!(
                "{} confirmed of {}, {} remaining, {} tickets",
                r.confirmed_seats, r.capacity, r.remaining, r.tickets_issued
            ),
        ),
        ("bookings", format!("{} confirmed, {} rejected", r.confirmed_bookings, r.rejected_bookings)),
        (
            "checkout",
            if r.price_cents == 0 {
                "free: confirmed at once".to_owned()
            } else {
                format!(
                    "{} held ({:.0}/s), {} paid in {:.2} s ({:.0} confirmed/s, {}), {} expired",
                    r.held_bookings,
                    r.holds_per_s,
                    r.paid_bookings,
                    r.pay_seconds,
                    r.confirmed_per_s,
                    if r.invoices { "invoiced" } else { "no invoices" },
                    r.expired_bookings
                )
            },
        ),
        (
            "codes and quotas",
            match (r.code_max_uses, r.quota_capacity) {
                (None, None) => "(neither: --code, --quota)".to_owned(),
                (code, quota) => [
                    code.map(|max| format!("code: {} seats of at most {max}", r.code_uses.unwrap_or(0))),
                    quota.map(|cap| format!("quota: {} seats of {cap}", r.quota_taken.unwrap_or(0))),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; "),
            },
        ),
        ("invariants", verdict),
        (
            "ratios",
            r.ratios.as_ref().map_or("(no --ceilings given)".to_owned(), |x| {
                format!(
                    "finalized = {:.0} % of the lower ceiling, {:.1}x one-tx-per-booking; answers = {:.0} % of HTTP /healthz",
                    x["finalized_of_lower_ceiling"].as_f64().unwrap_or(0.0) * 100.0,
                    x["finalized_vs_one_tx_per_booking"].as_f64().unwrap_or(0.0),
                    x["answers_of_http_ceiling"].as_f64().unwrap_or(0.0) * 100.0
                )
            }),
        ),
    ];
    println!("\n{}", report::table(&rows));
}
