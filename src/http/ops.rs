//! Operations: liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every part answers, else `degraded`.
    pub status: &'static str,
    /// `ok`, or the error met when asking PostgreSQL.
    pub postgres: String,
    pub redis: String,
    pub rabbitmq: String,
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
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err(err)) => format!("error: {err}"),
            Err(_) => format!("error: no answer within {CHECK_TIMEOUT:?}"),
        }
    };
    let redis = async {
        match state.redis.ping().await {
            Ok(()) => "ok".to_owned(),
            Err(err) => format!("error: {err}"),
        }
    };
    let (postgres, redis) = tokio::join!(postgres, redis);
    let rabbitmq = match state.broker.connection() {
        Ok(_) => "ok".to_owned(),
        Err(err) => format!("error: {err}"),
    };
    let ready = [&postgres, &redis, &rabbitmq].iter().all(|s| *s == "ok");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(Readiness { status: if ready { "ok" } else { "degraded" }, postgres, redis, rabbitmq }))
}

/// Counters and gauges in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus metrics", body = String, content_type = "text/plain; version=0.0.4"),
))]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let mut gauges = Vec::new();
    if let Ok(mut conn) = state.db.acquire().await {
        if let Ok((pending, failed)) = crate::db::outbox::depth(&mut conn).await {
            gauges.push(("boxoffice_outbox_pending", "Emails waiting in the outbox", pending));
            gauges.push(("boxoffice_outbox_failed", "Emails given up on (see outbox.last_error)", failed));
        }
    }
    use std::sync::atomic::Ordering;
    let cache = &state.read_cache;
    gauges.push((
        "boxoffice_read_cache_hits",
        "Reads answered from the Redis read cache",
        cache.hits.load(Ordering::Relaxed) as i64,
    ));
    gauges.push((
        "boxoffice_read_cache_loads",
        "Reads that loaded from PostgreSQL",
        cache.loads.load(Ordering::Relaxed) as i64,
    ));
    gauges.push((
        "boxoffice_offer_loads_total",
        "PostgreSQL reads of ticket type offers (the accept path's only queries)",
        state.catalog.loads.load(Ordering::Relaxed) as i64,
    ));
    let body = state.metrics.render(&gauges);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
