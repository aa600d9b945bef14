//! An organization's webhook endpoints, their delivery log, replays and the
//! test event (owners; the `webhooks` room).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path, Query};
use crate::db::webhooks::{DeliveryRow, EndpointRow};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;
use crate::webhooks::EndpointInput;

#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// The signing secret (`whsec_…`), as the Standard Webhooks libraries take it.
    pub secret: String,
    /// Until then the previous secret signs too (after a rotation).
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub enabled: bool,
    /// Why it was turned off (five days of failures), if it was.
    pub disabled_reason: Option<String>,
    /// Since when every delivery failed, if they do.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<EndpointRow> for Endpoint {
    fn from(e: EndpointRow) -> Self {
        let overlap = e.previous_secret_until.filter(|until| *until > Utc::now());
        Self {
            id: e.id,
            url: e.url,
            description: e.description,
            events: e.events,
            secret: e.secret,
            previous_secret_valid_until: overlap,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewEndpoint {
    /// https, on the internet.
    pub url: String,
    /// Some of `booking.confirmed`, `booking.cancelled`, `booking.refunded`,
    /// `ticket.checked_in`, `waiting_list.offered`, `event.published`, `event.cancelled`.
    pub events: Vec<String>,
    /// A note for the team (up to 200 characters).
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` turns a disabled endpoint on again (its failure streak forgotten).
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    /// The `webhook-id` header: the same for every try and replay of one event.
    pub webhook_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last try's HTTP status, if the receiver answered.
    pub response_status: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Self {
        Self {
            id: d.id,
            webhook_id: crate::domain::webhook::message_id(d.message_id),
            event_type: d.event_type,
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            status: d.status,
            attempts: d.attempts,
            response_status: d.last_status,
            latency_ms: d.last_latency_ms,
            error: d.last_error,
            last_attempt_at: d.last_attempt_at,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    /// Pass as `before` for the next (older) page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryParams {
    /// Deliveries older than this one.
    pub before: Option<Uuid>,
    /// 1 to 100 (default 50).
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplaySince {
    /// Every event sent to the endpoint since then is sent again.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub deliveries: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// The `webhook-id` of the test event.
    pub webhook_id: String,
}

fn allow_local(state: &AppState) -> bool {
    state.config.webhooks_allow_http
}

/// The organization's endpoints (owners).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks", tag = "webhooks", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints", body = Vec<Endpoint>),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's", body = Problem),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<Endpoint>>> {
    let rows = crate::webhooks::list(&state.db, user.id, id).await?;
    Ok(axum::Json(rows.into_iter().map(Endpoint::from).collect()))
}

/// Registers an endpoint (owners): https on the internet, with a new signing secret.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks", tag = "webhooks", params(("id" = Uuid, Path)),
    security(("bearer" = [])), request_body = NewEndpoint,
    responses(
        (status = 201, description = "The endpoint, with its secret", body = Endpoint),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's", body = Problem),
        (status = 409, description = "The organization has 20 endpoints already (`too_many_webhooks`)", body = Problem),
        (status = 422, description = "Not https, a private address, or no known event", body = Problem),
    ))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewEndpoint>,
) -> ApiResult<(StatusCode, axum::Json<Endpoint>)> {
    let input =
        EndpointInput { url: Some(req.url), events: Some(req.events), description: req.description, enabled: None };
    let row = crate::webhooks::register(&state.db, user.id, id, input, allow_local(&state)).await?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// One endpoint (owners).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
    ))]
pub async fn get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Endpoint>> {
    Ok(axum::Json(crate::webhooks::get(&state.db, user.id, id, webhook).await?.into()))
}

/// Changes an endpoint: its URL, events, note; `enabled: true` turns it on again.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    request_body = EndpointChange,
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
        (status = 422, description = "Not https, a private address, or no known event", body = Problem),
    ))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
    Json(req): Json<EndpointChange>,
) -> ApiResult<axum::Json<Endpoint>> {
    let input = EndpointInput { url: req.url, events: req.events, description: req.description, enabled: req.enabled };
    let row = crate::webhooks::update(&state.db, user.id, id, webhook, input, allow_local(&state)).await?;
    Ok(axum::Json(row.into()))
}

/// Removes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    crate::webhooks::remove(&state.db, user.id, id, webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret; the previous one keeps signing beside it for 24 hours.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/rotate", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint with its new secret", body = Endpoint),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Endpoint>> {
    Ok(axum::Json(crate::webhooks::rotate(&state.db, user.id, id, webhook).await?.into()))
}

/// The endpoint's deliveries, newest first: status, tries, the last answer and its latency.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path), DeliveryParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
        (status = 422, description = "`limit` out of range", body = Problem),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
    Query(params): Query<DeliveryParams>,
) -> ApiResult<axum::Json<DeliveryPage>> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::Validation(vec![crate::domain::FieldError {
            field: "limit".into(),
            message: "from 1 to 100".into(),
        }]));
    }
    let rows = crate::webhooks::deliveries(&state.db, user.id, id, webhook, params.before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<Delivery> = rows.into_iter().take(limit as usize).map(Delivery::from).collect();
    let next_cursor = if more { items.last().map(|d| d.id) } else { None };
    Ok(axum::Json(DeliveryPage { items, next_cursor }))
}

/// Sends one delivery again (a new delivery of the same event, its `webhook-id` unchanged).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "On its way", body = Delivery),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization, endpoint or delivery", body = Problem),
        (status = 409, description = "The endpoint is turned off (`webhook_disabled`)", body = Problem),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook, delivery)): Path<(Uuid, Uuid, Uuid)>,
) -> ApiResult<(StatusCode, axum::Json<Delivery>)> {
    let row = crate::webhooks::replay(&state.db, user.id, id, webhook, delivery).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(row.into())))
}

/// Sends every event the endpoint was sent since a time again (not those on their way).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/replay", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    request_body = ReplaySince,
    responses(
        (status = 202, description = "How many are on their way", body = Replayed),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
        (status = 409, description = "The endpoint is turned off (`webhook_disabled`)", body = Problem),
        (status = 422, description = "`since` is not a time", body = Problem),
    ))]
pub async fn replay_since(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
    Json(req): Json<ReplaySince>,
) -> ApiResult<(StatusCode, axum::Json<Replayed>)> {
    let deliveries = crate::webhooks::replay_since(&state.db, user.id, id, webhook, req.since).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(Replayed { deliveries })))
}

/// Sends a `webhook.test` event to this endpoint.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/test", tag = "webhooks",
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 202, description = "On its way", body = TestSent),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization or endpoint", body = Problem),
        (status = 409, description = "The endpoint is turned off (`webhook_disabled`)", body = Problem),
    ))]
pub async fn test(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, axum::Json<TestSent>)> {
    let message = crate::webhooks::send_test(&state.db, user.id, id, webhook).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(TestSent { webhook_id: crate::domain::webhook::message_id(message) })))
}
