//! Starting and stopping a process: what each role builds (the API's
//! state, `AppState::connect`; the worker's and mailer's contexts), the
//! composition of the API and the pages into one router, serving it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{PasswordHasher, TokenKeys};
use crate::booking::catalog::Catalog;
use crate::cache::{BookingCache, Redis, Revocations};
use crate::config::Config;
use crate::mail::{MailSettings, MailerContext};
use crate::queue::{Broker, Topology};
use crate::worker::WorkerContext;

pub use crate::http::state::{AppState, Services};

/// Why the process could not start: one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(
        "cannot reach PostgreSQL at {url}: {reason}. Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or point DATABASE_URL at a running server"
    )]
    Database { url: String, reason: String },
    #[error(
        "cannot reach RabbitMQ at {url}: {reason}. Start it (rabbitmq-server -detached) or point AMQP_URL at a running broker"
    )]
    Broker { url: String, reason: String },
    #[error("REDIS_URL is not a Redis URL: {0}")]
    RedisUrl(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
}

impl AppState {
    /// Connects to every part. PostgreSQL must answer; Redis and RabbitMQ may
    /// be down (a warning each) and are reconnected in the background.
    pub async fn connect(config: Config) -> Result<Self, StartError> {
        let Connections { db, redis, broker } = Connections::open(&config).await?;
        let secret = match &config.jwt_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random key, so tokens end with this process and are not shared between replicas"
                );
                rand::random::<[u8; 32]>().to_vec()
            }
        };
        let tokens = TokenKeys::new(&secret, config.access_token_ttl());
        let pages = crate::auth::PageKeys::new(&secret, config.refresh_token_ttl(), &config.public_url);
        // A page's session cookie lives as long as a refresh token: a logout
        // must outlive both it and the access tokens.
        let revocations = Revocations::new(
            redis.clone(),
            db.clone(),
            config.access_token_ttl().max(config.refresh_token_ttl()),
            Duration::from_secs(config.revocation_leeway_secs),
        );
        let read_cache = crate::cache::read::ReadCache::new(
            redis.clone(),
            config.read_cache,
            std::time::Duration::from_millis(config.read_cache_ttl_ms),
        );
        let limits = Arc::new(crate::http::rate_limit::Limits::from_config(&config));
        // A quarter of the pool for the reads of waiters and streams.
        let waiters = crate::booking::waiters::Waiters::new(
            config.long_poll_max_waiters,
            (config.database_max_connections as usize / 4).max(1),
        );
        let exports = Arc::new(crate::http::export::Exports::new(Duration::from_secs(config.export_deadline_secs)));
        let stripe = crate::payments::stripe::Stripe::from_config(&config);
        let wallet = crate::papers::wallet::PassSigner::from_config(&config).map_err(StartError::Config)?.map(Arc::new);
        let verified = crate::booking::verified::VerifiedBuyers::new(config.email_verification_required(), db.clone());
        Ok(Self::new(Services {
            config: Arc::new(config),
            bookings: BookingCache::new(redis.clone()),
            catalog: Catalog::new(db.clone()),
            metrics: Arc::default(),
            read_cache,
            limiter: crate::cache::rate_limit::RateLimiter::new(redis.clone()),
            limits,
            waiters,
            exports,
            verified,
            stripe,
            wallet,
            pages,
            activity: Default::default(),
            db,
            redis,
            broker,
            tokens,
            hasher: PasswordHasher::default(),
            revocations,
        }))
    }
}

/// The connections every role needs: PostgreSQL (must answer; migrated),
/// Redis and RabbitMQ (may come later, reconnected in the background).
struct Connections {
    db: PgPool,
    redis: Redis,
    broker: Broker,
}

impl Connections {
    async fn open(config: &Config) -> Result<Self, StartError> {
        config.validate().map_err(StartError::Config)?;
        let db = crate::db::connect_and_migrate(&config.database_url, config.database_max_connections).await.map_err(
            |err| StartError::Database {
                url: crate::config::redact_url(&config.database_url),
                reason: format!("{err:#}"),
            },
        )?;
        let redis = Redis::connect(&config.redis_url, &config.redis_key_prefix)
            .await
            .map_err(|err| StartError::RedisUrl(err.to_string()))?;
        let topology = Topology::from_config(config);
        let broker = Broker::connect(&config.amqp_url, topology, config.amqp_publish_channels).await;
        Ok(Self { db, redis, broker })
    }
}

/// What `boxoffice worker` runs: the worker and the mailer, with only their
/// connections (no token keys, password hasher or rate limiter).
pub async fn background(config: Config) -> Result<(WorkerContext, MailerContext), StartError> {
    let Connections { db, redis, broker } = Connections::open(&config).await?;
    let activity = crate::booking::activity::BookingActivity::default();
    let worker = WorkerContext {
        db: db.clone(),
        broker,
        bookings: BookingCache::new(redis),
        batch_size: config.worker_batch_size,
        max_attempts: config.booking_max_attempts,
        provider: config.payment_provider(),
        stripe: crate::payments::stripe::Stripe::from_config(&config),
        activity: activity.clone(),
    };
    let mailer = MailerContext { db, metrics: Arc::default(), settings: MailSettings::from_config(&config), activity };
    Ok((worker, mailer))
}

impl AppState {
    /// The worker's parts, sharing this process's connections (`serve`).
    pub fn worker(&self) -> WorkerContext {
        WorkerContext {
            db: self.db.clone(),
            broker: self.broker.clone(),
            bookings: self.bookings.clone(),
            batch_size: self.config.worker_batch_size,
            max_attempts: self.config.booking_max_attempts,
            provider: self.config.payment_provider(),
            stripe: self.stripe.clone(),
            activity: self.activity.clone(),
        }
    }

    /// The webhook sender's parts.
    pub fn webhook_sender(&self) -> crate::webhooks::send::SenderContext {
        crate::webhooks::send::SenderContext { db: self.db.clone(), allow_local: self.config.webhooks_allow_http }
    }

    /// The mailer's parts, sharing this process's connections and metrics.
    pub fn mailer(&self) -> MailerContext {
        MailerContext {
            db: self.db.clone(),
            metrics: self.metrics.clone(),
            settings: MailSettings::from_config(&self.config),
            activity: self.activity.clone(),
        }
    }
}

/// Binds the API's listener (before anything else starts, so a taken port fails fast).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|err| StartError::Bind { addr, reason: err.to_string() })
}

/// How long shutdown waits for requests in flight (a long-poll lasts 30 s at most).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(35);

/// Everything one API process answers: the API and the pages side by side
/// (kanidm's shape: the views merged beside the API), behind the same door
/// (admission and the request deadline), the docs, one fallback that
/// answers a page's 404 as a page and the API's as problem+json, and the
/// headers of the contract on every answer.
pub fn router(state: AppState) -> axum::Router {
    use axum::middleware::{from_fn, from_fn_with_state};
    use axum::response::IntoResponse;

    use crate::http::admission;

    let (api, docs) = crate::http::api_router(&state);
    let door = admission::Admission::default();
    let composed = api
        // The pages call the same rules: the same door in front of them
        // (their rate limits are their own layer).
        .merge(crate::pages::router(&state))
        // Inside the door: time waiting there does not count.
        .layer(from_fn(admission::deadline))
        .layer(from_fn_with_state(door.clone(), admission::webhook_door))
        .merge(docs)
        .fallback(|uri: axum::http::Uri| async move {
            if crate::pages::is_page_path(uri.path()) {
                crate::pages::not_found().await.into_response()
            } else {
                crate::error::ApiError::NotFound("route").into_response()
            }
        })
        .method_not_allowed_fallback(|| async { crate::error::ApiError::MethodNotAllowed })
        // Outermost but the limits: every answer carries them, a 404 too.
        .layer(from_fn_with_state(state.clone(), crate::pages::security_headers))
        .with_state(state);
    // The door outermost: a request waiting there has started nothing else.
    crate::http::outer_layers(composed).layer(from_fn_with_state(door, admission::admit))
}

/// Serves `/metrics` on `listener` (`METRICS_ADDR`) until `shutdown`.
pub async fn serve_metrics(state: AppState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, crate::http::metrics_router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish. The accept loop is hyper's own (rather than
/// `axum::serve`) for the header read timeout: a connection that has not sent
/// a whole request head within `HEADER_READ_TIMEOUT_MS` (from the moment it
/// is accepted, or since its last answer) is closed — a silent socket, a
/// client trickling its headers byte by byte, an idle keep-alive.
pub async fn serve(state: AppState, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    state.waiters.start(&state.config.database_url, shutdown.clone());
    tokio::spawn(crate::metrics::refresh_gauges(state.db.clone(), state.metrics.clone(), shutdown.clone()));
    let header_read_timeout = Duration::from_millis(state.config.header_read_timeout_ms);
    let router = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only, with hyper's HTTP/1 server itself: a dual-protocol
    // server sniffs the version with no timer (a silent socket stayed open
    // for good) and would serve cleartext HTTP/2, whose streams would need
    // limits of their own. A proxy in front may speak HTTP/2 to clients.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let mut accept_failures = 0u32;
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_failures = 0;
                    accepted
                }
                Err(err) => {
                    // Out of file descriptors, say: back off (up to 1 s) so the
                    // loop neither spins nor keeps the connections being served
                    // from the CPU, then keep serving.
                    accept_failures = accept_failures.saturating_add(1);
                    let pause = Duration::from_millis(10 * u64::from(accept_failures.min(100)));
                    tracing::warn!(error = %err, pause_ms = pause.as_millis() as u64, "accepting a connection failed");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            request
        });
        let connection =
            builder.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown: requests still in flight were cut off"),
    }
    Ok(())
}
