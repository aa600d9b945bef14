//! Operations: liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every part answers, `busy` when PostgreSQL's pool is full
    /// (still ready), else `degraded`.
    pub status: &'static str,
    /// `ok`, `busy` (every connection of the pool in use), or `error`; the
    /// cause goes to the log, not to whoever asks.
    pub postgres: &'static str,
    /// `ok` or `error`.
    pub redis: &'static str,
    /// `ok` or `error`.
    pub rabbitmq: &'static str,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// PostgreSQL, Redis and RabbitMQ all answer.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Every part answers", body = Readiness),
    (status = 503, description = "At least one part does not; the body says which", body = Readiness),
))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Readiness>) {
    let postgres = async {
        match tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db)).await {
            Ok(Ok(_)) => "ok",
            _ if pool_is_saturated(&state) => "busy",
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "readiness: PostgreSQL");
                "error"
            }
            Err(_) => {
                tracing::warn!("readiness: PostgreSQL did not answer within {CHECK_TIMEOUT:?}");
                "error"
            }
        }
    };
    let redis = async {
        match state.redis.ping().await {
            Ok(()) => "ok",
            Err(err) => {
                tracing::warn!(error = %err, "readiness: Redis");
                "error"
            }
        }
    };
    let (postgres, redis) = tokio::join!(postgres, redis);
    let rabbitmq = match state.broker.connection() {
        Ok(_) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "readiness: RabbitMQ");
            "error"
        }
    };
    // A full pool still serves (slower): taking every replica out of a load
    // balancer in the middle of a sale would serve nobody.
    let parts = [postgres, redis, rabbitmq];
    let ready = parts.iter().all(|s| *s == "ok" || *s == "busy");
    let (status, word) = match (ready, parts.iter().all(|s| *s == "ok")) {
        (true, true) => (StatusCode::OK, "ok"),
        (true, false) => (StatusCode::OK, "busy"),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "degraded"),
    };
    (status, axum::Json(Readiness { status: word, postgres, redis, rabbitmq }))
}

/// Every connection the pool may open is open and in use: PostgreSQL is up,
/// the process is overloaded.
fn pool_is_saturated(state: &AppState) -> bool {
    state.db.size() >= state.config.database_max_connections && state.db.num_idle() == 0
}

/// Counters and gauges in the Prometheus text format. Cheap: no query runs
/// per scrape (the outbox gauges are kept up to date in the background).
/// With `METRICS_TOKEN` set, only for `Authorization: Bearer <token>`.
/// Served on `METRICS_ADDR` only (`http::metrics_router`), so not in the
/// public API's document.
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl axum::response::IntoResponse, crate::error::ApiError> {
    if let Some(expected) = &state.config.metrics_token {
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests compared, so the time taken says nothing about the token.
        use sha2::Digest;
        if sha2::Sha256::digest(given.trim()) != sha2::Sha256::digest(expected) {
            return Err(crate::error::ApiError::Unauthorized("/metrics needs the METRICS_TOKEN as a bearer token"));
        }
    }
    use std::sync::atomic::Ordering;
    let cache = &state.read_cache;
    let metrics = &state.metrics;
    let gauges = [
        ("boxoffice_outbox_pending", "Emails waiting in the outbox", metrics.outbox_pending.load(Ordering::Relaxed)),
        (
            "boxoffice_outbox_failed",
            "Emails given up on (see outbox.last_error)",
            metrics.outbox_failed.load(Ordering::Relaxed),
        ),
        (
            "boxoffice_read_cache_hits",
            "Reads answered from the Redis read cache",
            cache.hits.load(Ordering::Relaxed) as i64,
        ),
        ("boxoffice_read_cache_loads", "Reads that loaded from PostgreSQL", cache.loads.load(Ordering::Relaxed) as i64),
        (
            "boxoffice_offer_loads_total",
            "PostgreSQL reads of ticket type offers (the accept path's only queries)",
            state.catalog.loads.load(Ordering::Relaxed) as i64,
        ),
        (
            "boxoffice_db_pool_connections",
            "PostgreSQL connections open in this process's pool",
            i64::from(state.db.size()),
        ),
        ("boxoffice_db_pool_idle", "Of those, idle", state.db.num_idle() as i64),
        (
            "boxoffice_queue_messages_published",
            "Booking messages the broker confirmed (several coalesced requests may share one)",
            state.broker.messages_published() as i64,
        ),
        (
            "boxoffice_queue_messages_refused",
            "Booking messages the broker refused (published again on a new channel until the request's deadline)",
            state.broker.messages_refused() as i64,
        ),
    ];
    let body = state.metrics.render(&gauges);
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}
