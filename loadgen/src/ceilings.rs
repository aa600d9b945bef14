//! What the parts alone can do on this machine, measured in the same run as
//! the scenarios, so results read as a share of the machine's own ceilings.
//!
//! - `pg_batch`: the worker's batch allocation (the same function, so the
//!   same SQL, at the same batch size) straight against PostgreSQL;
//! - `pg_one_tx_per_booking`: one transaction per booking, check then update
//!   under the row lock, with many clients (the design Boxoffice replaces);
//! - `rabbitmq_publish`: persistent publishes with confirms to a quorum queue,
//!   same message size, a window of unconfirmed publishes per channel;
//! - `http_healthz`: the API's cheapest route over HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice::app::AppState;
use boxoffice::config::Config;
use boxoffice::queue;
use futures::StreamExt;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde::Serialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::{direct, report};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[command(flatten)]
    pub config: Config,
    /// Base URL of a running Boxoffice, for the HTTP ceiling.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// Bookings allocated in the PostgreSQL measurements.
    #[arg(long, default_value_t = 20_000)]
    pub bookings: usize,
    /// Clients of the one-transaction-per-booking measurement.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Messages published in the RabbitMQ measurement.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Channels, and unconfirmed publishes in flight on each.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Seconds of the HTTP measurement, and its concurrency.
    #[arg(long, default_value_t = 5)]
    pub http_seconds: u64,
    #[arg(long, default_value_t = 64)]
    pub http_concurrency: usize,
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize, Clone, Copy)]
pub struct Ceilings {
    pub pg_batch_per_s: f64,
    pub batch_size: u16,
    pub pg_one_tx_per_booking_per_s: f64,
    pub one_tx_clients: usize,
    pub rabbitmq_publish_per_s: f64,
    pub http_healthz_per_s: f64,
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let ceilings = measure(&args).await?;
    let rows = [
        (
            "PostgreSQL batch allocation",
            format!("{:.0} bookings/s (batches of {})", ceilings.pg_batch_per_s, ceilings.batch_size),
        ),
        (
            "one transaction per booking",
            format!("{:.0} bookings/s ({} clients)", ceilings.pg_one_tx_per_booking_per_s, ceilings.one_tx_clients),
        ),
        (
            "RabbitMQ persistent + confirms",
            format!(
                "{:.0} messages/s ({} channels x {} in flight)",
                ceilings.rabbitmq_publish_per_s, args.channels, args.in_flight
            ),
        ),
        (
            "HTTP GET /healthz",
            format!("{:.0} requests/s ({} in flight)", ceilings.http_healthz_per_s, args.http_concurrency),
        ),
    ];
    println!("\n{}", report::table(&rows));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&ceilings)?)?;
    }
    Ok(true)
}

pub async fn measure(args: &Args) -> anyhow::Result<Ceilings> {
    let state = AppState::connect(args.config.clone()).await.map_err(|err| anyhow::anyhow!("{err}"))?;
    let batch_size = state.config.worker_batch_size;

    // PostgreSQL, batched: the worker's own transaction.
    let (user, event, tt) = direct::sale(&state, 1_000_000, 1).await?;
    let requests = direct::requests(user, event, tt, 1, args.bookings);
    let start = Instant::now();
    for batch in requests.chunks(usize::from(batch_size)) {
        boxoffice::booking::allocate::allocate_batch(
            &state.db,
            batch,
            &[],
            boxoffice::booking::allocate::LINE_CHUNK,
            state.config.payment_provider(),
        )
        .await?;
    }
    let pg_batch_per_s = args.bookings as f64 / start.elapsed().as_secs_f64();

    // PostgreSQL, one transaction per booking, many clients on one hot row.
    let (user, event, tt) = direct::sale(&state, 1_000_000, 1).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.clients as u32)
        .connect(&state.config.database_url)
        .await?;
    let per_client = args.bookings / args.clients.max(1);
    let start = Instant::now();
    futures::stream::iter(0..args.clients)
        .for_each_concurrent(None, |_| {
            let pool = pool.clone();
            async move {
                for _ in 0..per_client {
                    let _ = one_booking(&pool, user, event, tt).await;
                }
            }
        })
        .await;
    let pg_one_tx_per_booking_per_s = (per_client * args.clients) as f64 / start.elapsed().as_secs_f64();

    // RabbitMQ: persistent publishes with confirms to a quorum queue.
    let rabbitmq_publish_per_s = rabbitmq(&state, args).await?;

    // HTTP: the cheapest route.
    let http_healthz_per_s = healthz(args).await?;

    Ok(Ceilings {
        pg_batch_per_s,
        batch_size,
        pg_one_tx_per_booking_per_s,
        one_tx_clients: args.clients,
        rabbitmq_publish_per_s,
        http_healthz_per_s,
    })
}

/// One booking in its own transaction: check, then take the seat, under the row lock.
async fn one_booking(pool: &sqlx::PgPool, user: Uuid, event: Uuid, tt: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let remaining: i32 = sqlx::query_scalar("SELECT remaining FROM ticket_types WHERE id = $1 FOR UPDATE")
        .bind(tt)
        .fetch_one(&mut *tx)
        .await?;
    let id = Uuid::now_v7();
    let status = if remaining > 0 { "confirmed" } else { "rejected" };
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, accepted_at) VALUES ($1, $2, $3, $4, 1, $5, now())",
    )
    .bind(id)
    .bind(user)
    .bind(event)
    .bind(tt)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    if remaining > 0 {
        sqlx::query(
            "INSERT INTO tickets (code, booking_id, event_id, ticket_type_id, position) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(boxoffice::domain::booking::new_ticket_code())
        .bind(id)
        .bind(event)
        .bind(tt)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE ticket_types SET remaining = remaining - 1 WHERE id = $1")
            .bind(tt)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

async fn rabbitmq(state: &AppState, args: &Args) -> anyhow::Result<f64> {
    let connection = state.broker.connection().map_err(|err| anyhow::anyhow!("RabbitMQ: {err}"))?;
    let name = format!("{}ceiling-{}", state.config.amqp_queue_prefix, Uuid::new_v4().simple());
    let setup = connection.create_channel().await?;
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    setup.queue_declare(&name, QueueDeclareOptions { durable: true, ..Default::default() }, arguments).await?;
    // The same size as a booking request.
    let request = &direct::requests(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), 1, 1)[0];
    let payload = serde_json::to_vec(&boxoffice::queue::BookingRequested::from(request))?;
    let mut channels = Vec::new();
    for _ in 0..args.channels.max(1) {
        channels.push((queue::confirm_channel(&connection).await?, Arc::new(Semaphore::new(args.in_flight.max(1)))));
    }
    let start = Instant::now();
    futures::stream::iter(0..args.messages)
        .for_each_concurrent(args.channels * args.in_flight, |i| {
            let (channel, window) = channels[i % channels.len()].clone();
            let (payload, name) = (&payload, &name);
            async move {
                let _permit = window.acquire().await.expect("open");
                let properties = queue::persistent_json(&i.to_string(), FieldTable::default());
                let _ = queue::publish_confirmed(&channel, "", name, payload, properties).await;
            }
        })
        .await;
    let per_s = args.messages as f64 / start.elapsed().as_secs_f64();
    setup.queue_delete(&name, QueueDeleteOptions::default()).await?;
    Ok(per_s)
}

async fn healthz(args: &Args) -> anyhow::Result<f64> {
    let api = crate::client::Api::new(&args.base, args.http_concurrency);
    let url = api.url("/healthz");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let end = Instant::now() + Duration::from_secs(args.http_seconds);
    let start = Instant::now();
    futures::stream::iter(0..args.http_concurrency)
        .for_each_concurrent(None, |_| {
            let (api, url, count) = (api.clone(), url.clone(), count.clone());
            async move {
                while Instant::now() < end {
                    if api.http().get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    Ok(count.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}
