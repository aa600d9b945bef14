//! Tickets: one ticket with its event, and its QR code.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Path};
use crate::db::tickets::{self as db, TicketView};
use crate::domain::csv::ticket_code;
use crate::domain::team::Action;
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::access::may;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketTypeRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventRef {
    pub id: Uuid,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetails {
    pub code: String,
    /// `valid`, `void` or `checked_in`.
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub booking_id: Uuid,
    pub attendee_name: String,
    pub ticket_type: TicketTypeRef,
    pub event: EventRef,
}

impl From<TicketView> for TicketDetails {
    fn from(t: TicketView) -> Self {
        Self {
            code: t.code,
            status: t.status,
            checked_in_at: t.checked_in_at,
            booking_id: t.booking_id,
            attendee_name: t.attendee_name,
            ticket_type: TicketTypeRef { id: t.ticket_type_id, name: t.ticket_type_name },
            event: EventRef {
                id: t.event_id,
                title: t.event_title,
                venue: t.event_venue,
                starts_at: t.event_starts_at,
            },
        }
    }
}

/// The ticket `code` for its owner or the event's organizer; nobody else
/// learns that it exists.
async fn visible_ticket(state: &AppState, user: CurrentUser, code: &str) -> ApiResult<TicketView> {
    let code = ticket_code(code).ok_or(ApiError::NotFound("ticket"))?;
    let mut conn = state.db.acquire().await?;
    let ticket = db::find(&mut conn, &code).await?.ok_or(ApiError::NotFound("ticket"))?;
    if ticket.owner_id == user.id || may(&mut conn, user.id, ticket.organization_id, Action::CheckIn).await? {
        return Ok(ticket);
    }
    Err(ApiError::NotFound("ticket"))
}

/// A ticket with its event and status (its owner or the organizer).
#[utoipa::path(get, path = "/api/v1/tickets/{code}", tag = "tickets", params(("code" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketDetails),
        (status = 404, description = "No such ticket for the caller", body = Problem),
    ))]
pub async fn get_ticket(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<TicketDetails>> {
    Ok(axum::Json(visible_ticket(&state, user, &code).await?.into()))
}

/// The ticket's QR code, carrying its code (its owner or the organizer).
#[utoipa::path(get, path = "/api/v1/tickets/{code}/qr.svg", tag = "tickets", params(("code" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An SVG image", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "No such ticket for the caller", body = Problem),
    ))]
pub async fn ticket_qr(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let ticket = visible_ticket(&state, user, &code).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, max-age=3600")],
        crate::qr::svg(&ticket.code),
    ))
}
