//! Faults under load: while buyers book steadily against a small capacity, a
//! part of the system goes away and comes back. Each part is reached through
//! a TCP relay the test cuts (tests/it/proxy.rs), so the shared services of
//! the machine are never stopped; the processes must reconnect on their own.
//! After each fault: every 202 reaches exactly one final state, capacity =
//! remaining + confirmed, no ticket twice, every confirmed booking has its
//! email. Each case prints its figures for docs/RELIABILITY.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with, test_config};
use crate::proxy::Proxy;
use crate::smtp::SmtpSink;

/// Enough seats that the sale lasts through the fault (bookings must resume after it).
const CAPACITY: i64 = 5000;

/// The figures of one case.
#[derive(Debug, Default)]
struct Figures {
    sent: usize,
    accepted: usize,
    answered_5xx: usize,
    no_answer: usize,
    first_202_after_restore: Option<Duration>,
}

struct Rig {
    app: TestApp,
    pg: Proxy,
    redis: Proxy,
    amqp: Proxy,
    sink: SmtpSink,
}

async fn rig() -> Rig {
    let pg = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let redis = Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let amqp = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let sink = SmtpSink::start().await;
    let mut config = test_config(&["--smtp-url", &sink.url()]);
    config.database_url = config.database_url.replace(":5432/", &format!(":{}/", pg.port));
    config.redis_url = format!("redis://127.0.0.1:{}", redis.port);
    config.amqp_url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", amqp.port);
    let app = spawn_app_with(config).await;
    Rig { app, pg, redis, amqp, sink }
}

/// Books one seat at a time from 6 buyers until `stop`, recording every answer.
async fn steady_load(
    app: &TestApp,
    tt: &str,
    tokens: &[String],
    stop: Arc<AtomicBool>,
    restored: Arc<Mutex<Option<Instant>>>,
) -> (Figures, Vec<Uuid>) {
    let figures = Arc::new(Mutex::new(Figures::default()));
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let clients = tokens.iter().map(|token| {
        let (stop, figures, accepted, sent, restored) =
            (stop.clone(), figures.clone(), accepted.clone(), sent.clone(), restored.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                sent.fetch_add(1, Ordering::Relaxed);
                let key = Uuid::new_v4().to_string();
                let request = app
                    .client
                    .post(app.url("/api/v1/bookings"))
                    .bearer_auth(token)
                    .header("idempotency-key", &key)
                    .timeout(Duration::from_secs(10))
                    .json(&serde_json::json!({"ticket_type_id": tt, "quantity": 1}));
                match request.send().await {
                    Ok(response) if response.status() == StatusCode::ACCEPTED => {
                        let body: serde_json::Value = response.json().await.unwrap();
                        accepted.lock().await.push(body["id"].as_str().unwrap().parse().unwrap());
                        let mut figures = figures.lock().await;
                        figures.accepted += 1;
                        if let Some(at) = *restored.lock().await {
                            figures.first_202_after_restore.get_or_insert(at.elapsed());
                        }
                    }
                    Ok(response) if response.status().is_server_error() => {
                        figures.lock().await.answered_5xx += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Err(_) => {
                        figures.lock().await.no_answer += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    });
    futures::future::join_all(clients).await;
    let mut figures = std::mem::take(&mut *figures.lock().await);
    figures.sent = sent.load(Ordering::Relaxed);
    let accepted = std::mem::take(&mut *accepted.lock().await);
    (figures, accepted)
}

/// Runs load, cuts with `fault` after 1 s, restores with `heal` 2 s later,
/// runs 2 s more, then checks everything and prints the figures.
async fn under_load<F, H>(name: &str, rig: &Rig, fault: F, heal: H)
where
    F: std::future::Future<Output = ()>,
    H: std::future::Future<Output = ()>,
{
    let app = &rig.app;
    let (organizer, _) = app.user().await;
    let tokens = app.users(6).await;
    let (_, tt) = app.on_sale(&organizer, CAPACITY, 1).await;
    let stop = Arc::new(AtomicBool::new(false));
    let restored = Arc::new(Mutex::new(None));
    let load = steady_load(app, &tt, &tokens, stop.clone(), restored.clone());
    let script = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        fault.await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        heal.await;
        *restored.lock().await = Some(Instant::now());
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::SeqCst);
    };
    let ((figures, accepted), ()) = tokio::join!(load, script);

    // Every 202 reaches a final state, once.
    app.wait_final(&accepted, Duration::from_secs(60)).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1)")
        .bind(&accepted)
        .fetch_one(app.db())
        .await
        .unwrap();
    let confirmed = app.check_invariants(&tt).await;
    let duplicate_codes: i64 =
        sqlx::query_scalar("SELECT count(*) - count(DISTINCT code) FROM tickets").fetch_one(app.db()).await.unwrap();
    // Every confirmed booking gets its one email, eventually.
    let confirmed_bookings: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        .fetch_one(app.db())
        .await
        .unwrap();
    // A send claimed just before the database went away waits out its lease.
    let mut ids = std::collections::HashSet::new();
    let mut messages = Vec::new();
    for _ in 0..1200 {
        messages = rig.sink.messages();
        ids = messages.iter().filter_map(|m| m.header("Message-ID")).collect();
        if ids.len() as i64 >= confirmed_bookings {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "FAULT {name}: sent {}, accepted {}, confirmed {confirmed}, lost {}, applied twice {}, 5xx {}, no answer {}, \
         first 202 after restore {:?}, emails {} (resent with the same Message-ID: {})",
        figures.sent,
        figures.accepted,
        accepted.len() as i64 - rows,
        duplicate_codes,
        figures.answered_5xx,
        figures.no_answer,
        figures.first_202_after_restore,
        ids.len(),
        messages.len() - ids.len(),
    );
    assert_eq!(rows, accepted.len() as i64, "{name}: an accepted booking was lost");
    assert_eq!(duplicate_codes, 0, "{name}");
    // Exactly one email per confirmed booking, as the receiver counts them: a
    // send whose outcome could not be recorded (the database went away right
    // after it) goes again with the same Message-ID.
    assert_eq!(ids.len() as i64, confirmed_bookings, "{name}: one email per confirmed booking");
    assert!(
        figures.accepted > 0 && figures.first_202_after_restore.is_some(),
        "{name}: bookings resumed after the fault"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_going_away_and_coming_back() {
    let rig = rig().await;
    under_load("rabbitmq", &rig, async { rig.amqp.cut() }, async { rig.amqp.restore() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_going_away_and_coming_back() {
    let rig = rig().await;
    under_load("postgresql", &rig, async { rig.pg.cut() }, async { rig.pg.restore() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_terminating_every_connection_of_the_service() {
    let rig = rig().await;
    let name = rig.app.state.config.database_url.rsplit('/').next().unwrap().to_owned();
    let terminate = async {
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();
    };
    under_load("pg_terminate_backend", &rig, terminate, async {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_going_away_and_coming_back() {
    let rig = rig().await;
    under_load("redis", &rig, async { rig.redis.cut() }, async { rig.redis.restore() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mail_server_going_away_and_coming_back() {
    let rig = rig().await;
    under_load("smtp", &rig, async { rig.sink.stop() }, rig.sink.restart()).await;
}
