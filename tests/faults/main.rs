//! The fault suite: Boxoffice under steady booking load while a part of the
//! system is killed or stopped and brought back.
//!
//! It runs alone, after the main suite (`cargo test --test faults`, a step of
//! `.ci/run`), against private PostgreSQL, Redis and RabbitMQ instances it
//! starts on ports of its own (`instances.rs`), an SMTP server of its own, and
//! the real `boxoffice api` and `boxoffice worker` processes (`system.rs`).
//! After each fault: every 202 reaches exactly one final state, the seats add
//! up, no request is applied twice, every confirmed booking has exactly one
//! confirmation email, and the processes reconnected by themselves (only the
//! killed one is restarted). The table it prints is the one in
//! docs/RELIABILITY.md. `cargo test --test faults -- redis smtp` runs some cases.

mod api;
mod checkout;
mod checks;
mod cluster;
mod instances;
mod load;
mod onsale;
mod outbox;
#[path = "../it/proxy.rs"]
mod proxy;
mod selling;
#[allow(dead_code)]
#[path = "../it/smtp.rs"]
mod smtp;
mod system;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use checkout::CheckoutFault;
use checks::{EmailIndex, ensure, verdict};
use cluster::{Cluster, ClusterFault, ClusterRow};
use instances::{Postgres, RabbitMq, Redis};
use load::{Load, Tally};
use smtp::SmtpSink;
use system::Boxoffice;

/// Seats per case: enough that the sale lasts through the fault at the
/// buyers' pace (about 150 requests/s of one or two seats).
const CAPACITY: i64 = 4000;
const BUYERS: usize = 6;
/// A case that takes longer than this has failed (it hung somewhere).
const CASE_LIMIT: Duration = Duration::from_secs(400);
/// localstripe, as `.ci/run` starts it (the suite starts it when it is not running).
const STRIPE_PORT: u16 = 8421;
const STRIPE_EMULATOR: &str = "http://127.0.0.1:8421";
const STRIPE_KEY: &str = "sk_test_faults";
const STRIPE_WEBHOOK_SECRET: &str = "whsec_faults_0123456789abcdef";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    WorkerKilled,
    ApiKilled,
    RabbitMqRestarted,
    PostgresRestarted,
    PostgresConnectionsTerminated,
    RedisRestarted,
    SmtpRestarted,
}

impl Fault {
    const ALL: [Fault; 7] = [
        Fault::WorkerKilled,
        Fault::ApiKilled,
        Fault::RabbitMqRestarted,
        Fault::PostgresRestarted,
        Fault::PostgresConnectionsTerminated,
        Fault::RedisRestarted,
        Fault::SmtpRestarted,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::WorkerKilled => "worker",
            Fault::ApiKilled => "api",
            Fault::RabbitMqRestarted => "rabbitmq",
            Fault::PostgresRestarted => "postgresql",
            Fault::PostgresConnectionsTerminated => "pg_terminate_backend",
            Fault::RedisRestarted => "redis",
            Fault::SmtpRestarted => "smtp",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Fault::WorkerKilled => "worker process killed (SIGKILL), restarted 2 s later",
            Fault::ApiKilled => "API process killed (SIGKILL), restarted 2 s later",
            Fault::RabbitMqRestarted => "RabbitMQ node shut down, started again 2 s later",
            Fault::PostgresRestarted => "PostgreSQL stopped (immediate), started again 2 s later",
            Fault::PostgresConnectionsTerminated => "every connection of the service ended by pg_terminate_backend",
            Fault::RedisRestarted => "Redis killed (it keeps nothing), started again 2 s later",
            Fault::SmtpRestarted => "SMTP server stopped, started again 2 s later",
        }
    }

    /// What "recovered" means for this part, measured from the moment it is back.
    fn recovery(self) -> &'static str {
        match self {
            Fault::WorkerKilled => "every booking accepted so far final",
            Fault::SmtpRestarted => "every confirmed booking's email received",
            Fault::ApiKilled => "first booking decided after the restart",
            _ => "a booking accepted after it is final, /readyz ok",
        }
    }
}

// Fields drop in order: the processes go before the services they use.
struct Rig {
    app: Boxoffice,
    db: sqlx::PgPool,
    pg: Postgres,
    redis: Redis,
    rabbit: RabbitMq,
    sink: SmtpSink,
    dir: PathBuf,
    client: reqwest::Client,
    organizer: String,
    buyers: Vec<String>,
    /// Buyer tokens by user id (the payers act for whoever holds a booking).
    buyer_tokens: std::collections::HashMap<Uuid, String>,
    emails: EmailIndex,
    /// The API and worker reach Stripe (the emulator) through this relay.
    stripe: proxy::Proxy,
}

impl Rig {
    async fn start() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("boxoffice-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        // The service users (postgres, rabbitmq) must reach their folders inside.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        println!("faults: private instances in {}", dir.display());
        let (pg, redis, rabbit) = tokio::task::block_in_place(|| -> Result<_> {
            Ok((Postgres::create(&dir)?, Redis::create(&dir)?, RabbitMq::create(&dir)?))
        })?;
        let sink = SmtpSink::start().await;
        let stripe = proxy::Proxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], STRIPE_PORT))).await;
        tokio::task::block_in_place(start_stripe_emulator)?;
        let database_url = pg.url("boxoffice");
        let stripe_env = [
            ("STRIPE_SECRET_KEY", STRIPE_KEY.to_owned()),
            ("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET.to_owned()),
            ("STRIPE_API_BASE", format!("http://127.0.0.1:{}", stripe.port)),
            // The suite's webhook receiver listens on this machine.
            ("WEBHOOKS_ALLOW_HTTP", "1".to_owned()),
        ];
        let mut app = Boxoffice::new(&dir, database_url.clone(), redis.url(), rabbit.url(), sink.url(), &stripe_env);
        tokio::task::block_in_place(|| app.start_api())?;
        let client = reqwest::Client::new();
        wait_ready(&client, &app).await?;
        app.worker.start()?;
        let db = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&database_url).await?;
        let mut rig = Self {
            dir,
            pg,
            redis,
            rabbit,
            sink,
            app,
            client,
            db,
            organizer: String::new(),
            buyers: Vec::new(),
            buyer_tokens: Default::default(),
            emails: EmailIndex::default(),
            stripe,
        };
        rig.organizer = rig.user().await?;
        for _ in 0..BUYERS {
            let token = rig.user().await?;
            let me: Value = rig
                .client
                .get(format!("{}/api/v1/me", rig.app.base()))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            rig.buyer_tokens.insert(me["id"].as_str().context("user id")?.parse()?, token.clone());
            rig.buyers.push(token);
        }
        Ok(rig)
    }

    async fn call(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        api::call(&self.client, &self.app.base(), path, token, body).await
    }

    async fn user(&self) -> Result<String> {
        api::user(&self.client, &self.app.base()).await
    }

    /// A published event with one ticket type on sale; the ticket type's id.
    /// Its buyers come back again and again (the load books in a loop), so
    /// one buyer may own any number of its seats.
    async fn sale(&self, title: &str, price_cents: i64, capacity: i64) -> Result<Uuid> {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let event = self
            .call(
                "/api/v1/events",
                Some(&self.organizer),
                json!({
                    "title": title,
                    "venue": "Loopback Hall",
                    "starts_at": starts_at,
                    "status": "published",
                    "ticket_types": [{"name": "Standard", "price_cents": price_cents, "capacity": capacity,
                                      "max_per_order": 2, "max_per_buyer": capacity}]
                }),
            )
            .await?;
        Ok(event["ticket_types"][0]["id"].as_str().context("ticket type id")?.parse()?)
    }

    fn inject(&mut self, fault: Fault) -> Result<()> {
        match fault {
            Fault::WorkerKilled => self.app.worker.kill9(),
            Fault::ApiKilled => self.app.api.kill9(),
            Fault::RabbitMqRestarted => self.rabbit.stop()?,
            Fault::PostgresRestarted => self.pg.stop()?,
            Fault::RedisRestarted => self.redis.kill(),
            Fault::SmtpRestarted => self.sink.stop(),
            Fault::PostgresConnectionsTerminated => {}
        }
        Ok(())
    }

    async fn heal(&mut self, fault: Fault) -> Result<()> {
        match fault {
            Fault::WorkerKilled => self.app.worker.start()?,
            Fault::ApiKilled => tokio::task::block_in_place(|| self.app.start_api())?,
            Fault::RabbitMqRestarted => tokio::task::block_in_place(|| self.rabbit.start())?,
            Fault::PostgresRestarted => tokio::task::block_in_place(|| self.pg.start())?,
            Fault::RedisRestarted => tokio::task::block_in_place(|| self.redis.start())?,
            Fault::SmtpRestarted => self.sink.restart().await,
            Fault::PostgresConnectionsTerminated => {
                let admin = sqlx::PgPool::connect(&self.pg.url("postgres")).await?;
                let ended: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE datname = 'boxoffice' AND pid <> pg_backend_pid()",
                )
                .fetch_all(&admin)
                .await?;
                println!("faults: pg_terminate_backend ended {} connections", ended.len());
                admin.close().await;
            }
        }
        Ok(())
    }

    /// Waits until the part's work has caught up after it came back.
    async fn recovered(&mut self, fault: Fault, tt: Uuid, load: &Load, back: Instant) -> Result<Duration> {
        let deadline = back + Duration::from_secs(120);
        // The worker's backlog: what was accepted while it was dead.
        let backlog = load.snapshot().accepted_ids(None);
        // The emails held while the mail server was away.
        let waiting: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'")
                .bind(tt)
                .fetch_all(&self.db)
                .await?;
        loop {
            let done = match fault {
                Fault::WorkerKilled => checks::wait_final(&self.db, &backlog, Duration::ZERO).await == 0,
                Fault::ApiKilled => load.snapshot().first_decided_after(back).is_some(),
                Fault::SmtpRestarted => {
                    self.emails.read(&self.sink);
                    waiting.iter().all(|id| self.emails.by_booking.contains_key(id))
                }
                // A service is recovered when the processes use it again: a
                // booking accepted after it came back is final, and /readyz
                // (which pings all three) says ok.
                _ => {
                    let fresh = load.snapshot().accepted_ids(Some(back));
                    let finalized =
                        !fresh.is_empty() && checks::wait_final(&self.db, &fresh, Duration::ZERO).await < fresh.len();
                    finalized && ready(&self.client, &self.app).await
                }
            };
            if done {
                return Ok(back.elapsed());
            }
            if Instant::now() > deadline {
                bail!("not recovered ({}) within 120 s", fault.recovery());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// After a failed case: every part running again, so the next case starts whole.
    async fn repair(&mut self) {
        let _ = tokio::task::block_in_place(|| -> Result<()> {
            if !instances::port_open(self.pg.port) {
                self.pg.start()?;
            }
            if !instances::port_open(self.redis.port) {
                self.redis.kill();
                self.redis.start()?;
            }
            if !instances::port_open(self.rabbit.port) {
                let _ = self.rabbit.stop();
                self.rabbit.start()?;
            }
            if self.app.worker.exited().is_some() || !self.app.worker.running() {
                self.app.worker.kill9();
                self.app.worker.start()?;
            }
            if self.app.api.exited().is_some() || !self.app.api.running() {
                self.app.api.kill9();
                self.app.start_api()?;
            }
            Ok(())
        });
        if !instances::port_open(self.sink.port) {
            self.sink.restart().await;
        }
    }

    async fn case(&mut self, fault: Fault) -> Result<Row> {
        let tt = self.sale(&format!("Fault: {}", fault.name()), 0, CAPACITY).await?;
        let load = Load::start(&self.client, &self.app.base(), &tt.to_string(), &self.buyers);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let down = Instant::now();
        tokio::task::block_in_place(|| self.inject(fault))?;
        if fault != Fault::PostgresConnectionsTerminated {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // A killed process counts as back when it is started again (its own
        // start-up is part of its recovery); a service when it answers again.
        let restarted = Instant::now();
        self.heal(fault).await?;
        let back = if matches!(fault, Fault::WorkerKilled | Fault::ApiKilled) { restarted } else { Instant::now() };
        let outage = back - down;
        let recovery = self.recovered(fault, tt, &load, back).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let tally = load.stop().await;
        let recovery = recovery?;
        // The parts that were not killed must have reconnected by themselves.
        for process in [&mut self.app.api, &mut self.app.worker] {
            if let Some(status) = process.exited() {
                bail!("a boxoffice process exited by itself ({status}):\n{}", process.log_tail(30));
            }
        }
        let v = verdict(&self.db, tt, &tally, &mut self.emails, &self.sink).await?;
        let mut problems = v.problems.clone();
        if tally.unexpected_server_errors() > 0 {
            problems.push(format!("5xx other than 503: {:?}", tally.statuses));
        }
        if tally.accepted.is_empty() {
            problems.push("no booking was accepted".into());
        }
        if !tally.unexpected.is_empty() {
            problems.push(format!("{} unexpected answers, e.g. {}", tally.unexpected.len(), tally.unexpected[0]));
        }
        let row = Row { fault, tally, verdict: v, outage, recovery };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }
}

/// localstripe on its port, started in the background when nothing listens there.
fn start_stripe_emulator() -> Result<()> {
    if instances::port_open(STRIPE_PORT) {
        return Ok(());
    }
    let started = std::process::Command::new("sh")
        .args(["-c", &format!("nohup localstripe --port {STRIPE_PORT} --from-scratch >/dev/null 2>&1 &")])
        .status()?;
    if !started.success() {
        bail!("could not start localstripe (python3 -m pip install localstripe)");
    }
    instances::wait_for_port("localstripe", STRIPE_PORT, Duration::from_secs(30))
}

/// Whether `/readyz` says PostgreSQL, Redis and RabbitMQ all answer.
async fn ready(client: &reqwest::Client, app: &Boxoffice) -> bool {
    let answer = client.get(format!("{}/readyz", app.base())).timeout(Duration::from_secs(2)).send().await;
    answer.is_ok_and(|r| r.status().is_success())
}

/// Waits until the API is ready (its database exists and is migrated).
async fn wait_ready(client: &reqwest::Client, app: &Boxoffice) -> Result<()> {
    for _ in 0..600 {
        if ready(client, app).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the API never became ready:\n{}", app.api.log_tail(20))
}

struct Row {
    fault: Fault,
    tally: Tally,
    verdict: checks::Verdict,
    /// From the fault to the part being back.
    outage: Duration,
    /// From the part being back to its work caught up.
    recovery: Duration,
}

impl Row {
    const HEADER: &str = "| fault | requests sent | accepted (202) | confirmed | lost | applied twice | 5xx seen | no answer | down for | time to recover | emails |\n\
                          | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

    fn markdown(&self) -> String {
        let (t, v) = (&self.tally, &self.verdict);
        let accepted = t.accepted_ids(None);
        format!(
            "| {} | {} | {} | {} bookings, {} seats | {} | {} | {} | {} | {:.1} s | {:.2} s ({}) | one per confirmed booking{} |",
            self.fault.description(),
            t.sent,
            accepted.len(),
            v.confirmed_bookings,
            v.confirmed_seats,
            v.lost,
            v.applied_twice,
            t.server_errors(),
            t.no_answer,
            self.outage.as_secs_f64(),
            self.recovery.as_secs_f64(),
            self.fault.recovery(),
            if v.resent > 0 { format!(" ({} resent with the same Message-ID)", v.resent) } else { String::new() },
        )
    }
}

fn main() -> std::process::ExitCode {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let chosen = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let faults: Vec<Fault> = Fault::ALL.into_iter().filter(|f| chosen(f.name())).collect();
    let checkout_faults: Vec<CheckoutFault> = CheckoutFault::ALL.into_iter().filter(|f| chosen(f.name())).collect();
    let cluster_faults: Vec<ClusterFault> = ClusterFault::ALL.into_iter().filter(|f| chosen(f.name())).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let (passed, failed) = runtime.block_on(async {
        let mut rig = match Rig::start().await {
            Ok(rig) => rig,
            Err(error) => {
                eprintln!("faults: could not start the private system: {error:#}");
                let singles =
                    usize::from(chosen("onsale")) + usize::from(chosen("selling")) + usize::from(chosen("outbox"));
                return (0, faults.len() + checkout_faults.len() + cluster_faults.len() + singles);
            }
        };
        let mut rows = Vec::new();
        let mut failed = 0;
        for fault in &faults {
            println!("\nfaults: {} ...", fault.description());
            match tokio::time::timeout(CASE_LIMIT, rig.case(*fault)).await {
                Ok(Ok(row)) => rows.push(row),
                Ok(Err(error)) => {
                    failed += 1;
                    eprintln!("FAILED {}: {error:#}", fault.name());
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.repair().await;
                }
                Err(_) => {
                    failed += 1;
                    eprintln!("FAILED {}: took longer than {CASE_LIMIT:?}", fault.name());
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.repair().await;
                }
            }
        }
        let mut checkout_rows = Vec::new();
        for fault in &checkout_faults {
            println!("\nfaults: {} ...", fault.description());
            match tokio::time::timeout(CASE_LIMIT, rig.checkout_case(*fault)).await {
                Ok(Ok(row)) => checkout_rows.push(row),
                Ok(Err(error)) => {
                    failed += 1;
                    eprintln!("FAILED {}: {error:#}", fault.name());
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.stripe.restore();
                    rig.repair().await;
                }
                Err(_) => {
                    failed += 1;
                    eprintln!("FAILED {}: took longer than {CASE_LIMIT:?}", fault.name());
                    rig.stripe.restore();
                    rig.repair().await;
                }
            }
        }
        let mut selling_rows = Vec::new();
        if chosen("selling") {
            println!("\nfaults: the worker killed mid-sale with a code of few uses and a shared quota ...");
            match tokio::time::timeout(CASE_LIMIT, rig.selling_case()).await {
                Ok(Ok(row)) => selling_rows.push(row),
                Ok(Err(error)) => {
                    failed += 1;
                    eprintln!("FAILED selling: {error:#}");
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.repair().await;
                }
                Err(_) => {
                    failed += 1;
                    eprintln!("FAILED selling: took longer than {CASE_LIMIT:?}");
                    rig.repair().await;
                }
            }
        }
        let mut onsale_rows = Vec::new();
        if chosen("onsale") {
            println!("\nfaults: the worker killed around an on-sale's open, the API while offers are made ...");
            match tokio::time::timeout(CASE_LIMIT, rig.onsale_case()).await {
                Ok(Ok(row)) => onsale_rows.push(row),
                Ok(Err(error)) => {
                    failed += 1;
                    eprintln!("FAILED onsale: {error:#}");
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.repair().await;
                }
                Err(_) => {
                    failed += 1;
                    eprintln!("FAILED onsale: took longer than {CASE_LIMIT:?}");
                    rig.repair().await;
                }
            }
        }
        let mut outbox_rows = Vec::new();
        if chosen("outbox") {
            println!("\nfaults: the worker killed while webhooks and a message to attendees go out ...");
            match tokio::time::timeout(CASE_LIMIT, rig.outbox_case()).await {
                Ok(Ok(row)) => outbox_rows.push(row),
                Ok(Err(error)) => {
                    failed += 1;
                    eprintln!("FAILED outbox: {error:#}");
                    eprintln!("api log:\n{}\nworker log:\n{}", rig.app.api.log_tail(15), rig.app.worker.log_tail(15));
                    rig.repair().await;
                }
                Err(_) => {
                    failed += 1;
                    eprintln!("FAILED outbox: took longer than {CASE_LIMIT:?}");
                    rig.repair().await;
                }
            }
        }
        let mut cluster_rows: Vec<ClusterRow> = Vec::new();
        if !cluster_faults.is_empty() {
            println!("\nfaults: scripts/cluster.sh up (3 RabbitMQ nodes, Redis and 3 Sentinels, HAProxy, 2 APIs, 2 workers) ...");
            match Cluster::up(&rig.dir, &rig.sink).await {
                Ok(mut cluster) => {
                    for fault in &cluster_faults {
                        println!("\nfaults: {} ...", fault.description());
                        let outcome = tokio::time::timeout(CASE_LIMIT, cluster.case(*fault, &rig.sink)).await;
                        match outcome {
                            Ok(Ok(row)) => cluster_rows.push(row),
                            Ok(Err(error)) => {
                                failed += 1;
                                eprintln!("FAILED {}: {error:#}", fault.name());
                                eprintln!("{}", cluster.log_tails(25));
                                let _ = tokio::task::block_in_place(|| cluster.repair());
                            }
                            Err(_) => {
                                failed += 1;
                                eprintln!("FAILED {}: took longer than {CASE_LIMIT:?}", fault.name());
                                let _ = tokio::task::block_in_place(|| cluster.repair());
                            }
                        }
                    }
                    tokio::task::block_in_place(|| cluster.down());
                }
                Err(error) => {
                    failed += cluster_faults.len();
                    eprintln!("FAILED cluster: could not start it: {error:#}");
                }
            }
        }
        println!("\n{}", Row::HEADER);
        for row in &rows {
            println!("{}", row.markdown());
        }
        println!("\n{}", checkout::CheckoutRow::HEADER);
        for row in &checkout_rows {
            println!("{}", row.markdown());
        }
        println!("\n{}", selling::SellingRow::HEADER);
        for row in &selling_rows {
            println!("{}", row.markdown());
        }
        println!("\n{}", onsale::OnSaleRow::HEADER);
        for row in &onsale_rows {
            println!("{}", row.markdown());
        }
        println!("\n{}", outbox::OutboxRow::HEADER);
        for row in &outbox_rows {
            println!("{}", row.markdown());
        }
        println!("\n{}", ClusterRow::HEADER);
        for row in &cluster_rows {
            println!("{}", row.markdown());
        }
        let dir = rig.dir.clone();
        drop(rig);
        if failed == 0 {
            let _ = std::fs::remove_dir_all(dir);
        }
        let passed = rows.len() + checkout_rows.len() + selling_rows.len() + onsale_rows.len() + outbox_rows.len();
        (passed + cluster_rows.len(), failed)
    });
    println!("\nfaults: {passed} passed, {failed} failed");
    if failed == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
