//! Starting an isolated app per test, and the calls most tests make.

use std::net::SocketAddr;

use boxoffice::app::{self, AppState};
use boxoffice::config::Config;
use clap::Parser;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const JWT_SECRET: &str = "integration-tests-secret-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery";

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    config: Config,
}

/// A config for an isolated app: its own database and Redis prefix.
/// `extra` are more flags, e.g. `["--redis-url", "redis://127.0.0.1:1"]`.
pub fn test_config(extra: &[&str]) -> Config {
    let server = std::env::var("TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let id = Uuid::new_v4().simple().to_string();
    let database_url = format!("{server}/boxoffice_test_{id}");
    let prefix = format!("test:{id}:");
    let queue_prefix = format!("test.{id}.");
    let mail_dir = std::env::temp_dir().join(format!("boxoffice-test-{id}")).display().to_string();
    let defaults = [
        ("--amqp-queue-prefix", queue_prefix.as_str()),
        // Test queues vanish five minutes after their last use; classic ones,
        // because creating and expiring hundreds of quorum queues a run stalls
        // the broker (the quorum topology has its own test).
        ("--amqp-queue-expires-ms", "300000"),
        ("--amqp-queue-type", "classic"),
        // Tests make many accounts from one address; the rate-limit tests turn
        // limits back on with their own numbers.
        ("--rate-limits", "off"),
        // Most tests are about what verified buyers do; the verification
        // tests turn it on (tests/it/verification.rs).
        ("--email-verification", "off"),
        ("--database-url", database_url.as_str()),
        ("--database-max-connections", "5"),
        ("--redis-key-prefix", prefix.as_str()),
        ("--jwt-secret", JWT_SECRET),
        ("--bind-addr", "127.0.0.1:0"),
        ("--mail-dir", mail_dir.as_str()),
    ];
    let mut args = vec!["test"];
    for (flag, value) in defaults {
        // A flag in `extra` replaces the default.
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    TestCli::parse_from(args).config
}

pub struct TestApp {
    pub base: String,
    /// The listener of `/metrics` (`METRICS_ADDR`), apart from the API's.
    pub metrics_base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // The test's database goes with it (runs used to leave ~85 behind,
        // about 680 MB).
        drop_database(&self.state.config.database_url);
    }
}

/// `DROP DATABASE ... WITH (FORCE)`: the connections still open (the app's
/// pool, a worker process) are ended first. On a thread of its own, so it
/// can be called from inside a test's runtime.
pub fn drop_database(url: &str) {
    let url = url.to_owned();
    let _ = std::thread::spawn(move || drop_database_blocking(&url)).join();
}

fn drop_database_blocking(url: &str) {
    use sqlx::Connection;
    let Some((server, name)) = url.rsplit_once('/') else { return };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    runtime.block_on(async {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
        }
    });
}

/// Creates the test's database as a copy of a template migrated once for
/// all tests of this set of migrations (crates.io's `test_database.rs`):
/// `CREATE DATABASE … TEMPLATE` copies files, where migrating each database
/// from scratch ran every migration again. Nothing happens when the database
/// exists or the copy cannot be made: `AppState::connect` then creates and
/// migrates it as before.
pub fn clone_template(url: &str) {
    let url = url.to_owned();
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(clone_template_async(&url))
    })
    .join();
}

async fn clone_template_async(url: &str) -> Option<()> {
    use sqlx::{Connection, Executor};
    let (server, name) = url.rsplit_once('/')?;
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await.ok()?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .ok()?;
    if exists {
        return Some(());
    }
    let template = template_name();
    // One process builds the template; the others wait on the lock, then find it.
    admin.execute("SELECT pg_advisory_lock(7302461)").await.ok()?;
    let built = build_template(&mut admin, server, &template).await;
    admin.execute("SELECT pg_advisory_unlock(7302461)").await.ok()?;
    built?;
    admin.execute(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"").as_str()).await.ok()?;
    Some(())
}

/// The template's name: the migrations' versions and checksums, hashed, so
/// a new or changed migration gets a template of its own.
fn template_name() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for migration in boxoffice::db::MIGRATOR.iter() {
        hash.update(migration.version.to_be_bytes());
        hash.update(&migration.checksum);
    }
    let digest = hash.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("boxoffice_template_{hex}")
}

/// Migrates the template under another name and renames it when done, so a
/// half-built one is never copied; templates of older migrations are dropped.
async fn build_template(admin: &mut sqlx::PgConnection, server: &str, template: &str) -> Option<()> {
    use sqlx::{Connection, Executor};
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(template)
        .fetch_one(&mut *admin)
        .await
        .ok()?;
    if exists {
        return Some(());
    }
    let old: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'boxoffice\\_template\\_%'")
            .fetch_all(&mut *admin)
            .await
            .ok()?;
    for name in old {
        let _ = admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await;
    }
    let building = format!("{template}_building");
    admin.execute(format!("CREATE DATABASE \"{building}\"").as_str()).await.ok()?;
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/{building}")).await.ok()?;
    boxoffice::db::MIGRATOR.run(&mut conn).await.ok()?;
    conn.close().await.ok()?;
    admin.execute(format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\"").as_str()).await.ok()?;
    Some(())
}

/// The API and a worker, like `boxoffice serve`.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config(&[])).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let app = spawn_api_with(config).await;
    app.spawn_worker(app.state.clone());
    app.spawn_mailer(app.state.clone());
    app
}

/// The API alone, like `boxoffice api`.
pub async fn spawn_api_with(config: Config) -> TestApp {
    clone_template(&config.database_url);
    let listener = app::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let metrics = app::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let metrics_base = format!("http://{}", metrics.local_addr().unwrap());
    let state = AppState::connect(config).await.expect("app starts");
    let shutdown = CancellationToken::new();
    tokio::spawn(app::serve(state.clone(), listener, shutdown.clone()));
    tokio::spawn(app::serve_metrics(state.clone(), metrics, shutdown.clone()));
    TestApp { base: format!("http://{addr}"), metrics_base, client: reqwest::Client::new(), state, shutdown }
}

/// The real binary as `role` (`serve`, `worker` ...), with `config`'s
/// database, key and queue prefixes and mail folder; the caller adds the rest.
pub fn binary(role: &str, config: &Config) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    command
        .arg(role)
        .env("DATABASE_URL", &config.database_url)
        .env("REDIS_KEY_PREFIX", &config.redis_key_prefix)
        .env("AMQP_QUEUE_PREFIX", &config.amqp_queue_prefix)
        .env("AMQP_QUEUE_TYPE", config.amqp_queue_type.as_str())
        .env("AMQP_QUEUE_EXPIRES_MS", "300000")
        // Tests run side by side: each process's metrics on a port of its own.
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("MAIL_DIR", &config.mail_dir);
    command
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem `code` of an error response (and checks its content type).
    pub fn code(&self) -> &str {
        assert_eq!(
            self.headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "not a problem response: {self:?}"
        );
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The fields named in a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Runs one more worker in this process (with `state`'s connections),
    /// stopped with the app.
    pub fn spawn_worker(&self, state: AppState) {
        tokio::spawn(boxoffice::worker::run(state.worker(), self.shutdown.clone()));
    }

    /// Runs one more mailer and webhook sender in this process, stopped with the app.
    pub fn spawn_mailer(&self, state: AppState) {
        tokio::spawn(boxoffice::mail::run(state.mailer(), self.shutdown.clone()));
        tokio::spawn(boxoffice::webhooks::send::run(state.webhook_sender(), self.shutdown.clone()));
    }

    /// One more worker started as `boxoffice worker` starts it: its own
    /// connections and nothing of the API (`app::background`), stopped with the app.
    pub async fn start_worker(&self, config: Config) {
        let (worker, _) = app::background(config).await.expect("the worker starts");
        tokio::spawn(boxoffice::worker::run(worker, self.shutdown.clone()));
    }

    /// One more mailer started as `boxoffice worker` starts it, stopped with the app.
    pub async fn start_mailer(&self, config: Config) {
        let (_, mailer) = app::background(config).await.expect("the mailer starts");
        tokio::spawn(boxoffice::mail::run(mailer, self.shutdown.clone()));
    }

    pub fn db(&self) -> &PgPool {
        &self.state.db
    }

    /// `/metrics`, on its own listener.
    pub async fn scrape(&self) -> String {
        self.client.get(format!("{}/metrics", self.metrics_base)).send().await.unwrap().text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        // 503 is a designed answer (a part is down); any other 5xx is a bug.
        assert!(status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE, "server error {status}: {body}");
        Reply { status, headers, body }
    }

    /// A JSON request, with a bearer token when `token` is given.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn register(&self, email: &str) -> Reply {
        self.post("/api/v1/auth/register", None, json!({"email": email, "password": PASSWORD, "name": "Test User"}))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await
    }

    /// Registers a fresh user and logs in: (access token, refresh token).
    pub async fn user(&self) -> (String, String) {
        let email = format!("{}@example.org", Uuid::new_v4().simple());
        assert_eq!(self.register(&email).await.status, StatusCode::CREATED);
        let reply = self.login(&email, PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        (reply.body["access_token"].as_str().unwrap().into(), reply.body["refresh_token"].as_str().unwrap().into())
    }

    /// Creates an event as `token`'s user; `overrides` replace fields of a valid default body.
    pub async fn create_event(&self, token: &str, overrides: Value) -> Reply {
        let mut body = event_body();
        for (key, value) in overrides.as_object().expect("an object") {
            body[key] = value.clone();
        }
        self.post("/api/v1/events", Some(token), body).await
    }

    /// Creates a published event and returns its JSON.
    pub async fn published_event(&self, token: &str, overrides: Value) -> Value {
        let mut overrides = overrides;
        overrides["status"] = json!("published");
        let reply = self.create_event(token, overrides).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        reply.body
    }
}

/// A valid event body starting in 30 days.
pub fn event_body() -> Value {
    json!({
        "title": "Night of Rust",
        "description": "Talks and music",
        "venue": "Main Hall, Berlin",
        "starts_at": in_days(30),
        "ticket_types": [{"name": "Standard", "price_cents": 2500, "capacity": 100}]
    })
}

/// An RFC 3339 time `days` from now (fractional days allowed).
pub fn in_days(days: impl Into<f64>) -> String {
    let days = days.into();
    let at = chrono::Utc::now() + chrono::Duration::seconds((days * 86_400.0) as i64);
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl TestApp {
    /// `POST /api/v1/bookings`, with an Idempotency-Key when given.
    pub async fn book(&self, token: &str, ticket_type_id: &str, quantity: i64, key: Option<&str>) -> Reply {
        let mut request = self
            .client
            .post(self.url("/api/v1/bookings"))
            .bearer_auth(token)
            .json(&json!({"ticket_type_id": ticket_type_id, "quantity": quantity}));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }

    /// A published event with one free ticket type of `capacity` seats
    /// (confirmed without a payment): (event, ticket type id).
    pub async fn on_sale(&self, token: &str, capacity: i64, max_per_order: i64) -> (Value, String) {
        self.on_sale_priced(token, capacity, max_per_order, 0).await
    }

    /// Like [`Self::on_sale`], at `price_cents` a seat (EUR): bookings are held until paid.
    pub async fn on_sale_priced(
        &self,
        token: &str,
        capacity: i64,
        max_per_order: i64,
        price_cents: i64,
    ) -> (Value, String) {
        let event = self
            .published_event(
                token,
                json!({"ticket_types": [{"name": "Standard", "price_cents": price_cents, "capacity": capacity, "max_per_order": max_per_order}]}),
            )
            .await;
        let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
        (event, tt)
    }

    /// Time passes: the booking's hold ran out a second ago.
    pub async fn run_out(&self, booking: &str) {
        sqlx::query("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
            .bind(booking)
            .execute(self.db())
            .await
            .unwrap();
    }

    /// The organizer marks an offline booking of their event paid.
    /// Marks a booking paid as the organizer's page would: a 503 ("try
    /// again shortly": the server's connections all busy, as when 40 payments
    /// of one organizer take turns for its invoice numbers on a loaded
    /// machine) changed nothing and is sent again.
    pub async fn mark_paid(&self, organizer: &str, event_id: &str, booking_id: &str) -> Reply {
        let path = format!("/api/v1/events/{event_id}/bookings/{booking_id}/mark-paid");
        let mut tries = 0;
        loop {
            let reply = self.call(Method::POST, &path, Some(organizer), None).await;
            tries += 1;
            if reply.status != StatusCode::SERVICE_UNAVAILABLE || tries == 5 {
                return reply;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
        }
    }

    /// Books without a key, expects 202, and waits until the booking is final.
    /// The user id behind each of `tokens`.
    pub async fn user_ids(&self, tokens: &[String]) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(tokens.len());
        for token in tokens {
            ids.push(self.get("/api/v1/me", Some(token)).await.body["id"].as_str().unwrap().parse().unwrap());
        }
        ids
    }

    pub async fn book_final(&self, token: &str, ticket_type_id: &str, quantity: i64) -> Uuid {
        let reply = self.book(token, ticket_type_id, quantity, None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        let id = reply.body["id"].as_str().unwrap().parse().unwrap();
        self.wait_final(&[id], std::time::Duration::from_secs(30)).await;
        id
    }

    /// Waits until every booking in `ids` has a final status in PostgreSQL.
    pub async fn wait_final(&self, ids: &[Uuid], within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let done: i64 =
                sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1) AND status <> 'pending'")
                    .bind(ids)
                    .fetch_one(self.db())
                    .await
                    .unwrap();
            if done == ids.len() as i64 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {done} of {} bookings final in time", ids.len());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Checks the booking invariants of a ticket type (`db::invariants`) and
    /// returns the confirmed seats.
    pub async fn check_invariants(&self, ticket_type_id: &str) -> i64 {
        let seats = boxoffice::db::invariants::seats(self.db(), ticket_type_id.parse().unwrap()).await.unwrap();
        assert!(seats.violations().is_empty(), "{:?}: {seats:?}", seats.violations());
        let quotas =
            boxoffice::db::invariants::quota_violations(self.db(), ticket_type_id.parse().unwrap()).await.unwrap();
        assert!(quotas.is_empty(), "{quotas:?}");
        let papers =
            boxoffice::db::invariants::invoice_violations(self.db(), ticket_type_id.parse().unwrap()).await.unwrap();
        assert!(papers.is_empty(), "{papers:?}");
        seats.confirmed
    }

    /// Ids of every booking row of a ticket type, oldest first.
    pub async fn db_booking_ids(&self, ticket_type_id: &str) -> Vec<Uuid> {
        sqlx::query_scalar("SELECT id FROM bookings WHERE ticket_type_id = $1::uuid ORDER BY id")
            .bind(ticket_type_id)
            .fetch_all(self.db())
            .await
            .unwrap()
    }

    /// A connection of its own to this app's Redis (keys start with
    /// `config.redis_key_prefix`).
    pub async fn redis_conn(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.state.config.redis_url.as_str()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// Seconds left of the Redis mark that makes the door look up the
    /// holds of `token`'s person in the event (-2: no mark).
    pub async fn holder_mark_ttl(&self, event_id: &str, token: &str) -> i64 {
        let me = self.get("/api/v1/me", Some(token)).await.body["id"].as_str().unwrap().to_owned();
        let mark = format!("{}holder:{event_id}:{me}", self.state.config.redis_key_prefix);
        redis::cmd("TTL").arg(&mark).query_async(&mut self.redis_conn().await).await.unwrap()
    }

    /// Redis keeps nothing on disk, so a restart empties it: simulated by
    /// deleting this app's keys. Returns how many there were.
    pub async fn forget_redis(&self) -> usize {
        let mut conn = self.redis_conn().await;
        let pattern = format!("{}*", self.state.config.redis_key_prefix);
        let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut conn).await.unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
        }
        keys.len()
    }

    /// `count` fresh buyers with verified addresses, and an access token of a
    /// session of each. Written straight into PostgreSQL (one password hash
    /// for all), since a sale has one buyer per request and argon2 would
    /// make a thousand of them take minutes; `user()` goes through the API.
    pub async fn users(&self, count: usize) -> Vec<String> {
        let hash = self.state.hasher.hash(PASSWORD).await.unwrap();
        let emails: Vec<String> =
            (0..count).map(|_| format!("buyer-{}@example.org", Uuid::new_v4().simple())).collect();
        let refresh: Vec<Vec<u8>> = (0..count).map(|_| boxoffice::auth::refresh::generate().1).collect();
        let mut conn = self.db().acquire().await.unwrap();
        let ids = boxoffice::db::users::insert_verified_many(&mut conn, &emails, "Buyer", &hash).await.unwrap();
        let expires = chrono::Utc::now() + chrono::Duration::days(1);
        let sessions = boxoffice::db::sessions::create_many(&mut conn, &ids, &refresh, expires).await.unwrap();
        ids.iter().zip(&sessions).map(|(user, session)| self.state.tokens.issue(*user, *session).unwrap()).collect()
    }
}

/// Polls `probe` until it gives a value, failing the test after `within`
/// (a bound only so a regression fails instead of hanging, not a timing claim).
pub async fn eventually<T, P, F, Fut>(within: std::time::Duration, what: &str, mut probe: F) -> T
where
    P: Probe<T>,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = P>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = match probe().await.outcome() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            match seen {
                Some(seen) => panic!("not within {within:?}: {what}; last seen: {seen}"),
                None => panic!("not within {within:?}: {what}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// What a probe of [`eventually`] found: `Some`/`Ok` ends the wait; an
/// `Err` says what was seen instead (shown when the wait fails).
pub trait Probe<T> {
    fn outcome(self) -> Result<T, Option<String>>;
}

impl<T> Probe<T> for Option<T> {
    fn outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: std::fmt::Debug> Probe<T> for Result<T, E> {
    fn outcome(self) -> Result<T, Option<String>> {
        self.map_err(|seen| Some(format!("{seen:?}")))
    }
}

/// Ids of the bookings in the 202 replies.
pub fn accepted_ids(replies: &[Reply]) -> Vec<Uuid> {
    replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .map(|r| r.body["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Where localstripe (the Stripe emulator from PyPI) listens for the tests.
pub const STRIPE_EMULATOR_PORT: u16 = 8421;
pub const STRIPE_SECRET_KEY: &str = "sk_test_boxoffice";
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_boxoffice_test_0123456789";

/// localstripe's address, started (once for the machine; it outlives the
/// test process, and the next tests use it) when nothing listens yet. Its
/// objects carry each test's own booking ids, so tests share it safely.
pub async fn stripe_emulator() -> String {
    let base = format!("http://127.0.0.1:{STRIPE_EMULATOR_PORT}");
    let up = || async { tokio::net::TcpStream::connect(("127.0.0.1", STRIPE_EMULATOR_PORT)).await.is_ok() };
    if !up().await {
        // Several test processes may get here at once: one binds, the others exit.
        // In the background of a shell that ends at once: it outlives this test process.
        let started = std::process::Command::new("sh")
            .args(["-c", &format!("nohup localstripe --port {STRIPE_EMULATOR_PORT} --from-scratch >/dev/null 2>&1 &")])
            .status()
            .expect("a shell");
        assert!(started.success());
        let what = "localstripe listens (python3 -m pip install localstripe; .ci/run does it)";
        eventually(std::time::Duration::from_secs(30), what, || async { up().await.then_some(()) }).await;
    }
    base
}

/// A test configuration with card payments through the emulator at `base`.
pub fn stripe_config(base: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "--stripe-secret-key",
        STRIPE_SECRET_KEY,
        "--stripe-publishable-key",
        "pk_test_boxoffice",
        "--stripe-webhook-secret",
        STRIPE_WEBHOOK_SECRET,
        "--stripe-api-base",
        base,
    ];
    args.extend_from_slice(extra);
    test_config(&args)
}

/// A card payment method made at the emulator, as Stripe.js would for the page.
pub async fn card(base: &str, number: &str) -> String {
    let stripe = boxoffice::payments::stripe::Stripe::new(base, STRIPE_SECRET_KEY.into());
    stripe.test_card(number).await.unwrap()
}

/// A booking reference as shown: two groups of four Crockford base32 characters.
pub fn is_reference(text: &str) -> bool {
    let (a, b) = text.split_once('-').unwrap_or_default();
    a.len() == 4 && b.len() == 4 && boxoffice::domain::reference::decode(text).is_some()
}
