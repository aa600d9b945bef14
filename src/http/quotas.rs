//! An event's shared quotas over HTTP (organizer only); the rules are the
//! event room's (`event::quotas`) and, for selling, the worker's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path};
use crate::db::quotas::QuotaRow;
use crate::error::{ApiResult, Problem};
use crate::event::quotas::QuotaInput;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Quota {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    /// Seats its ticket types may sell between them.
    pub capacity: i32,
    /// Of those, seats neither held nor sold.
    pub remaining: i32,
    pub ticket_type_ids: Vec<Uuid>,
}

impl From<QuotaRow> for Quota {
    fn from(row: QuotaRow) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            name: row.name,
            capacity: row.capacity,
            remaining: row.remaining,
            ticket_type_ids: row.ticket_type_ids,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaList {
    pub items: Vec<Quota>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuotaRequest {
    /// 1 to 100 characters, unique in the event.
    pub name: String,
    /// 1 to 1,000,000; at least the seats its types have held or sold.
    pub capacity: i64,
    /// Ticket types of the event that share it.
    pub ticket_type_ids: Vec<Uuid>,
}

/// Make a quota shared by ticket types of the event (organizer). A booking
/// then takes seats from its type and from every quota the type is in, in
/// the worker's transaction; either running out sells the type out.
#[utoipa::path(post, path = "/api/v1/events/{id}/quotas", tag = "events", params(("id" = Uuid, Path)),
    request_body = CreateQuotaRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The quota", body = Quota),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The name is taken, the event is cancelled, or its types have sold more than the capacity", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn create_quota(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CreateQuotaRequest>,
) -> ApiResult<impl IntoResponse> {
    let input = QuotaInput { name: req.name, capacity: req.capacity, ticket_type_ids: req.ticket_type_ids };
    let row = state.events().create_quota(user.id, id, input).await?;
    Ok((StatusCode::CREATED, axum::Json(Quota::from(row))))
}

/// The event's quotas, with what each has left (organizer).
#[utoipa::path(get, path = "/api/v1/events/{id}/quotas", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every quota of the event", body = QuotaList),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn list_quotas(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<QuotaList>> {
    let rows = state.events().quotas(user.id, id).await?;
    Ok(axum::Json(QuotaList { items: rows.into_iter().map(Quota::from).collect() }))
}
