//! The waiting list of a sold-out ticket type: join, leave, list mine.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path};
use crate::booking::waiting;
use crate::db::waiting::EntryRow;
use crate::error::{ApiResult, Problem};
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Seats wanted together: 1 to the ticket type's `max_per_order`.
    pub quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingEntry {
    pub id: Uuid,
    pub ticket_type_id: Uuid,
    pub event_id: Uuid,
    pub quantity: i32,
    /// `waiting` or `offered` (seats are held for you: see `booking_id`).
    pub status: String,
    /// Place in the list (1 = first) while waiting.
    pub position: Option<i64>,
    /// The offer: a held booking to pay (or confirm) before it runs out.
    pub booking_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<(EntryRow, Option<i64>)> for WaitingEntry {
    fn from((row, position): (EntryRow, Option<i64>)) -> Self {
        Self {
            id: row.id,
            ticket_type_id: row.ticket_type_id,
            event_id: row.event_id,
            quantity: row.quantity,
            status: row.status,
            position,
            booking_id: row.booking_id,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingList {
    pub items: Vec<WaitingEntry>,
}

/// Join the waiting list of a sold-out ticket type: seats that come back are
/// offered in list order (a held booking and an email).
#[utoipa::path(post, path = "/api/v1/ticket-types/{id}/waiting-list", tag = "bookings", params(("id" = Uuid, Path)),
    request_body = JoinRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "On the list", body = WaitingEntry),
        (status = 403, description = "The caller's email address is not verified yet (`email_unverified`)", body = Problem),
        (status = 404, description = "No such ticket type", body = Problem),
        (status = 409, description = "Seats are on sale (`not_sold_out`), already on the list (`already_waiting`), or sales closed (`sales_closed`)", body = Problem),
        (status = 422, description = "Invalid quantity", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, ticket_type.id = %id))]
pub async fn join(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<JoinRequest>,
) -> ApiResult<(StatusCode, axum::Json<WaitingEntry>)> {
    state.verified.require(user.id).await?;
    let entry = waiting::join(&state.db, user.id, id, req.quantity).await?;
    let position = crate::db::waiting::positions(&mut *state.db.acquire().await?, &[entry.id]).await?;
    let position = position.get(&entry.id).copied();
    Ok((StatusCode::CREATED, axum::Json(WaitingEntry::from((entry, position)))))
}

/// Leave a waiting list. An entry holding an offer is not on the list any
/// more: cancel the offer's booking to give the seats back.
#[utoipa::path(delete, path = "/api/v1/waiting-list/{id}", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 404, description = "No such waiting entry of the caller", body = Problem),
    ))]
pub async fn leave(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    waiting::leave(&state.db, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's waiting-list entries, with their places.
#[utoipa::path(get, path = "/api/v1/me/waiting-list", tag = "bookings", security(("bearer" = [])),
    responses((status = 200, description = "The caller's entries", body = WaitingList)))]
pub async fn mine(State(state): State<AppState>, user: CurrentUser) -> ApiResult<axum::Json<WaitingList>> {
    let items = waiting::of_user(&state.db, user.id).await?;
    Ok(axum::Json(WaitingList { items: items.into_iter().map(WaitingEntry::from).collect() }))
}
