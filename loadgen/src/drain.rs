//! The worker alone: fill the booking queue with M requests straight to
//! RabbitMQ (no HTTP), then start the worker (the server's own code, in this
//! process) and time it until every request is decided.

use std::time::{Duration, Instant};

use anyhow::Context;
use boxoffice::app::AppState;
use boxoffice::config::Config;
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::direct;
use crate::report;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server's settings (DATABASE_URL, AMQP_URL, WORKER_BATCH_SIZE, ...).
    /// Use an AMQP_QUEUE_PREFIX no running worker consumes.
    #[command(flatten)]
    pub config: Config,
    /// Booking requests to put in the queue.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Seats on sale (default: half the requests, so both outcomes are written).
    #[arg(long)]
    pub capacity: Option<i32>,
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub messages: usize,
    pub capacity: i32,
    pub batch_size: u16,
    pub published_per_s: f64,
    pub drain_seconds: f64,
    pub finalized_per_s: f64,
    pub confirmed_seats: i64,
    pub invariants_ok: bool,
    pub violations: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let capacity = args.capacity.unwrap_or((args.messages / 2) as i32).max(1);
    let batch_size = args.config.worker_batch_size;
    let state = AppState::connect(args.config).await.map_err(|err| anyhow::anyhow!("{err}"))?;
    state.broker.connection().map_err(|err| anyhow::anyhow!("RabbitMQ: {err}"))?;
    let (user, event, tt) = direct::sale(&state, capacity, 1).await?;
    let requests = direct::requests(user, event, tt, 1, args.messages);

    let fill = crate::report::bar(args.messages as u64, "queue");
    let start = Instant::now();
    let published: Vec<anyhow::Result<()>> = futures::stream::iter(&requests)
        .map(|request| {
            let (state, fill) = (state.clone(), fill.clone());
            async move {
                state.broker.publish_booking(request).await.context("publishing")?;
                fill.inc(1);
                Ok(())
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    published.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    let published_per_s = args.messages as f64 / start.elapsed().as_secs_f64();
    fill.finish();

    let drain = crate::report::bar(args.messages as u64, "worker");
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let worker = tokio::spawn(boxoffice::worker::run(state.worker(), shutdown.clone()));
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE ticket_type_id = $1 AND status <> 'pending'")
                .bind(tt)
                .fetch_one(&state.db)
                .await?;
        drain.set_position(done as u64);
        if done as usize >= args.messages {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("the worker did not drain the queue within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_seconds = start.elapsed().as_secs_f64();
    drain.finish();
    shutdown.cancel();
    let _ = worker.await;

    let (confirmed_seats, violations) = direct::invariants(&state, tt).await?;
    let results = Results {
        messages: args.messages,
        capacity,
        batch_size,
        published_per_s,
        drain_seconds,
        finalized_per_s: args.messages as f64 / drain_seconds,
        confirmed_seats,
        invariants_ok: violations.is_empty() && confirmed_seats == i64::from(capacity.min(args.messages as i32)),
        violations,
    };
    let rows = [
        ("requests", format!("{} (batch size {})", results.messages, batch_size)),
        ("published/s", format!("{:.0} (filling the queue)", results.published_per_s)),
        ("finalized/s", format!("{:.0} ({:.2} s for all)", results.finalized_per_s, results.drain_seconds)),
        ("seats", format!("{} confirmed of {}", results.confirmed_seats, capacity)),
        ("invariants", if results.invariants_ok { "all hold".into() } else { results.violations.join("; ") }),
    ];
    println!("\n{}", report::table(&rows));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(results.invariants_ok)
}
