//! For the organizer: checking tickets in at the door, the attendee list
//! (CSV, sent page by page) and the sales figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::export;
use super::extract::{CurrentUser, Json, Path};
use crate::db::tickets::{self as db, AttendeeRow, CheckIn};
use crate::domain::csv;
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::access::organizer_event;
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// The ticket code, as scanned from its QR code.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedIn {
    pub code: String,
    /// `checked_in`.
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub ticket_type_id: Uuid,
    pub booking_id: Uuid,
    pub attendee_name: String,
}

/// Scan a ticket at the door: the first scan admits, a second is refused with
/// the time of the first.
#[utoipa::path(post, path = "/api/v1/events/{id}/check-ins", tag = "door", params(("id" = Uuid, Path)),
    request_body = CheckInRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Admitted", body = CheckedIn),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event, or no such ticket for this event", body = Problem),
        (status = 409, description = "`already_checked_in` (with `checked_in_at` of the first scan) or `ticket_void`", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn check_in(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CheckInRequest>,
) -> ApiResult<axum::Json<CheckedIn>> {
    let mut tx = state.db.begin().await?;
    organizer_event(&mut tx, id, user.id).await?;
    let code = csv::ticket_code(&req.code).ok_or(ApiError::NotFound("ticket"))?;
    let outcome = db::check_in(&mut tx, id, &code).await?;
    tx.commit().await?;
    match outcome {
        CheckIn::Admitted(t) => Ok(axum::Json(CheckedIn {
            code: t.code,
            status: t.status,
            checked_in_at: t.checked_in_at,
            ticket_type_id: t.ticket_type_id,
            booking_id: t.booking_id,
            attendee_name: t.attendee_name,
        })),
        CheckIn::Already(at) => Err(ApiError::AlreadyCheckedIn(at)),
        CheckIn::Void => {
            Err(ApiError::Conflict { code: "ticket_void", detail: "this ticket was cancelled and is not valid".into() })
        }
        CheckIn::Unknown => Err(ApiError::NotFound("ticket")),
    }
}

/// Undo a check-in (a mistaken scan): the ticket is valid again.
#[utoipa::path(delete, path = "/api/v1/events/{id}/check-ins/{code}", tag = "door",
    params(("id" = Uuid, Path), ("code" = String, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "The ticket is valid again"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event, or no checked-in ticket of a standing booking with that code", body = Problem),
    ))]
pub async fn undo_check_in(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, code)): Path<(Uuid, String)>,
) -> ApiResult<axum::http::StatusCode> {
    let mut conn = state.db.acquire().await?;
    organizer_event(&mut conn, id, user.id).await?;
    let code = csv::ticket_code(&code).ok_or(ApiError::NotFound("checked-in ticket"))?;
    if !db::undo_check_in(&mut conn, id, &code).await? {
        return Err(ApiError::NotFound("checked-in ticket"));
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

const CSV_HEADER: &str = "ticket_code,ticket_type,attendee_name,attendee_email,booking_id,status,checked_in_at\r\n";

/// Every ticket of the event with its attendee, as CSV, sent page by page: an
/// event of 100,000 tickets is never held in memory, and a client that reads
/// slowly (or not at all) holds no database connection meanwhile.
#[utoipa::path(get, path = "/api/v1/events/{id}/attendees.csv", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header row; cells starting like a formula are prefixed with '", body = String, content_type = "text/csv"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 429, description = "The caller already has two downloads running (`rate_limited`)", body = Problem),
        (status = 503, description = "Too many downloads running in this process (`unavailable`)", body = Problem),
    ))]
pub async fn attendees(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> ApiResult<Response> {
    {
        let mut conn = state.db.acquire().await?;
        organizer_event(&mut conn, id, user.id).await?;
    }
    let slot = state.exports.start(user.id)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(2);
    let complete = Arc::new(AtomicBool::new(false));
    let done = complete.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let deadline = tokio::time::Instant::now() + state.exports.deadline;
        let mut chunk = String::from(CSV_HEADER);
        let mut after = None;
        loop {
            // Checked on every page: a download that never blocks (a slow
            // but steady reader) must end at its deadline too.
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                tracing::warn!(event.id = %id, "attendee list cut off: its deadline passed");
                return;
            }
            let Ok(turn) = tokio::time::timeout(left, state.exports.read_turn()).await else {
                tracing::warn!(event.id = %id, "attendee list cut off: its deadline passed");
                return;
            };
            let rows = match db::attendees_page(&state.db, id, after.as_ref(), export::PAGE_ROWS).await {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::error!(error = %err, "attendee list failed mid-stream");
                    return;
                }
            };
            drop(turn);
            rows.iter().for_each(|row| chunk.push_str(&attendee_record(row)));
            let last_page = rows.len() < export::PAGE_ROWS as usize;
            after = rows.last().map(AttendeeRow::cursor);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // The client went away, stopped reading, or took too long: stop
            // (the body then ends with an error, see below).
            let sent = sender.send_timeout(Bytes::from(std::mem::take(&mut chunk)), export::STALLED_CLIENT.min(left));
            if sent.await.is_err() {
                tracing::warn!(event.id = %id, "attendee list cut off: the client stopped reading, or its deadline passed");
                return;
            }
            if last_page {
                done.store(true, Ordering::Release);
                return;
            }
        }
    });
    // A list that was cut short must not look complete: unless the last page
    // went out, the body ends with an error (no closing chunk).
    let body = Body::from_stream(futures::stream::unfold(Some(receiver), move |receiver| {
        let complete = complete.clone();
        async move {
            let mut receiver = receiver?;
            match receiver.recv().await {
                Some(chunk) => Some((Ok(chunk), Some(receiver))),
                None if complete.load(Ordering::Acquire) => None,
                None => Some((Err(std::io::Error::other("the attendee list was cut off")), None)),
            }
        }
    }));
    let disposition = format!("attachment; filename=\"attendees-{id}.csv\"");
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

fn attendee_record(row: &AttendeeRow) -> String {
    let booking = row.booking_id.to_string();
    let checked_in = row.checked_in_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_default();
    csv::record([
        row.ticket_code.as_str(),
        &row.ticket_type,
        &row.attendee_name,
        &row.attendee_email,
        &booking,
        &row.status,
        &checked_in,
    ])
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TicketTypeSales {
    pub ticket_type_id: Uuid,
    pub name: String,
    pub capacity: i64,
    /// Seats of confirmed bookings.
    pub sold: i64,
    /// Seats held while their buyers pay.
    pub held: i64,
    pub remaining: i64,
    /// Booking requests accepted and not yet decided (past 10,000 in the
    /// queue, split between ticket types from a sample; the total is exact).
    pub pending: i64,
    /// Seats of cancelled bookings.
    pub cancelled: i64,
    pub checked_in: i64,
    /// Waiting-list entries, and the seats they wait for.
    pub waiting: i64,
    pub waiting_seats: i64,
    /// What was paid, minus what was refunded or is being refunded.
    pub revenue_cents: i64,
    pub currency: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct SalesTotals {
    pub capacity: i64,
    pub sold: i64,
    pub held: i64,
    pub remaining: i64,
    pub pending: i64,
    pub cancelled: i64,
    pub checked_in: i64,
    pub waiting: i64,
    pub waiting_seats: i64,
    /// The sum over ticket types (meaningful when they share a currency).
    pub revenue_cents: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventStats {
    pub event_id: Uuid,
    pub ticket_types: Vec<TicketTypeSales>,
    pub totals: SalesTotals,
}

/// How the sale goes, per ticket type and in total.
#[utoipa::path(get, path = "/api/v1/events/{id}/stats", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sales figures", body = EventStats),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn stats(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<EventStats>> {
    let mut conn = state.db.acquire().await?;
    organizer_event(&mut conn, id, user.id).await?;
    let rows = db::stats(&mut conn, id).await?;
    let waiting = crate::db::waiting::counts(&mut conn, id).await?;
    // Requests still in the queue are known to Redis (and, accepted while
    // Redis was down, to PostgreSQL: `pending_stored` below).
    let (queued, queued_total) = crate::booking::status::in_line_by_type(&state.bookings, id).await;
    let mut totals = SalesTotals::default();
    let ticket_types = rows
        .into_iter()
        .map(|r| {
            let sales = TicketTypeSales {
                ticket_type_id: r.ticket_type_id,
                name: r.name,
                capacity: r.capacity,
                sold: r.capacity - r.remaining - r.held,
                held: r.held,
                remaining: r.remaining,
                pending: r.pending_stored + queued.get(&r.ticket_type_id).copied().unwrap_or(0),
                cancelled: r.cancelled,
                checked_in: r.checked_in,
                waiting: waiting.get(&r.ticket_type_id).map_or(0, |w| w.0),
                waiting_seats: waiting.get(&r.ticket_type_id).map_or(0, |w| w.1),
                revenue_cents: r.revenue_cents,
                currency: r.currency,
            };
            totals.capacity += sales.capacity;
            totals.sold += sales.sold;
            totals.held += sales.held;
            totals.remaining += sales.remaining;
            totals.pending += sales.pending;
            totals.cancelled += sales.cancelled;
            totals.checked_in += sales.checked_in;
            totals.waiting += sales.waiting;
            totals.waiting_seats += sales.waiting_seats;
            totals.revenue_cents += sales.revenue_cents;
            sales
        })
        .collect();
    if let Some(queued_total) = queued_total {
        let sampled: i64 = queued.values().sum();
        totals.pending += (queued_total - sampled).max(0);
    }
    Ok(axum::Json(EventStats { event_id: id, ticket_types, totals }))
}
