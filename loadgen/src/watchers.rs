//! Many buyers watching their place at once: `streams` buyers join an
//! event's pre-queue, each opens the booking's event stream
//! (`GET /bookings/{id}/events`) on a connection of its own, and they wait
//! for the open. Reported: the server's memory (resident) and CPU time before,
//! with every stream open and idle, and through the sale that decides them;
//! and how long after the open the last stream heard its decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::Api;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Event streams to hold open (one buyer, one booking, one connection each).
    #[arg(long, default_value_t = 10_000)]
    pub streams: usize,
    /// The server's process id, to read its memory and CPU time from /proc.
    #[arg(long)]
    pub server_pid: u32,
    /// Seconds the streams stay open and idle before the open.
    #[arg(long, default_value_t = 30)]
    pub idle: u64,
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub streams_open: usize,
    pub rss_before_mb: f64,
    pub rss_open_idle_mb: f64,
    pub rss_per_stream_kb: f64,
    /// CPU seconds the server used per second while the streams sat idle.
    pub cpu_idle_share: f64,
    pub cpu_sale_seconds: f64,
    pub decided_streams: usize,
    pub open_to_last_decision_s: f64,
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let api = Api::new(&args.base, 64);
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let organizer = api.user(&format!("organizer-{run_id}@loadgen.test")).await?;
    let tokens = crate::buyers::create(&api, args.database_url.as_deref(), args.streams, &run_id).await?;
    // The open is far enough away for everyone to join and watch a while.
    let open = Utc::now() + chrono::Duration::seconds(args.idle as i64 + 60 + args.streams as i64 / 200);
    let event = json!({
        "title": "Watchers", "venue": "Stadium", "starts_at": (Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "status": "published", "sales_start": open.to_rfc3339(), "prequeue_minutes": 60,
        "ticket_types": [{"name": "General", "price_cents": 0, "capacity": args.streams, "max_per_order": 1}]
    });
    let reply = api.http().post(api.url("/api/v1/events")).bearer_auth(&organizer).json(&event).send().await?;
    let event: Value = reply.json().await?;
    let tt = event["ticket_types"][0]["id"].as_str().context("ticket type")?.to_owned();
    let before = proc_stats(args.server_pid)?;

    let bookings: Vec<(String, String)> = futures::stream::iter(tokens)
        .map(|token| {
            let (api, tt) = (api.clone(), tt.clone());
            async move {
                let booked = api.book(&token, &tt, 1, &uuid::Uuid::new_v4().to_string(), None).await;
                booked.ok().and_then(|(_, b)| b).map(|b| (token, b.id))
            }
        })
        .buffer_unordered(64)
        .filter_map(|b| async move { b })
        .collect()
        .await;
    if bookings.len() < args.streams {
        bail!("only {} of {} bookings accepted", bookings.len(), args.streams);
    }

    // One connection per stream, as 10,000 browsers would have.
    let open_streams = Arc::new(AtomicUsize::new(0));
    let decided = Arc::new(AtomicUsize::new(0));
    let last_decision = Arc::new(std::sync::Mutex::new(Instant::now()));
    let open_at = Instant::now() + (open - Utc::now()).to_std().unwrap_or_default();
    let mut tasks = Vec::new();
    for (token, id) in bookings {
        let (base, open_streams, decided, last) =
            (args.base.clone(), open_streams.clone(), decided.clone(), last_decision.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("a client");
            let Ok(response) =
                client.get(format!("{base}/api/v1/bookings/{id}/events")).bearer_auth(&token).send().await
            else {
                return;
            };
            open_streams.fetch_add(1, Ordering::Relaxed);
            let mut body = response.bytes_stream();
            let mut text = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.contains("\"status\":\"confirmed\"") || text.contains("\"status\":\"rejected\"") {
                    decided.fetch_add(1, Ordering::Relaxed);
                    *last.lock().expect("not poisoned") = Instant::now();
                    break;
                }
                if text.len() > 64 * 1024 {
                    text.clear();
                }
            }
        }));
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // Every stream open, then idle.
    let deadline = Instant::now() + Duration::from_secs(120);
    while open_streams.load(Ordering::Relaxed) < args.streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let idle_start = proc_stats(args.server_pid)?;
    let idle_began = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let idle_end = proc_stats(args.server_pid)?;
    let idle_seconds = idle_began.elapsed().as_secs_f64();

    // The open: every stream hears its decision.
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(300), task).await;
    }
    let after = proc_stats(args.server_pid)?;
    let last = *last_decision.lock().expect("not poisoned");
    let results = Results {
        streams_open: open_streams.load(Ordering::Relaxed),
        rss_before_mb: before.rss_kb as f64 / 1024.0,
        rss_open_idle_mb: idle_end.rss_kb as f64 / 1024.0,
        rss_per_stream_kb: (idle_end.rss_kb as f64 - before.rss_kb as f64) / args.streams as f64,
        cpu_idle_share: (idle_end.cpu_seconds - idle_start.cpu_seconds) / idle_seconds,
        cpu_sale_seconds: after.cpu_seconds - idle_end.cpu_seconds,
        decided_streams: decided.load(Ordering::Relaxed),
        open_to_last_decision_s: last.saturating_duration_since(open_at).as_secs_f64(),
    };
    println!("{}", serde_json::to_string_pretty(&results)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(results.decided_streams == args.streams)
}

pub(crate) struct ProcStats {
    pub rss_kb: u64,
    pub cpu_seconds: f64,
}

pub(crate) fn proc_stats(pid: u32) -> anyhow::Result<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("VmRSS")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command name in parentheses: utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ProcStats { rss_kb, cpu_seconds: ticks / 100.0 })
}
