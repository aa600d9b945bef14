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
use crate::db::tickets::{self as db, AttendeeRow};
use crate::domain::csv;
use crate::domain::question::{Details, Question};
use crate::domain::team::Action;
use crate::error::{ApiResult, Problem};
use crate::event::access::event_for;
use crate::event::door::{self, EventStats};
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
    /// The holder: the name given for this ticket, else the buyer's.
    pub attendee_name: String,
    /// The answers that concern this ticket (its own and its booking's).
    pub answers: Vec<DoorAnswer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DoorAnswer {
    pub label: String,
    /// As a person reads it ("Veggie; Vegan", "Yes").
    pub answer: String,
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
    let t = door::check_in(&state.db, user.id, id, &req.code).await?;
    let answers = door::answers_of(&state.db, id, &t).await?;
    Ok(axum::Json(CheckedIn {
        answers: answers.into_iter().map(|(label, answer)| DoorAnswer { label, answer }).collect(),
        code: t.code,
        status: t.status,
        checked_in_at: t.checked_in_at,
        ticket_type_id: t.ticket_type_id,
        booking_id: t.booking_id,
        attendee_name: t.attendee_name,
    }))
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
    door::undo_check_in(&state.db, user.id, id, &code).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

const CSV_COLUMNS: [&str; 7] =
    ["ticket_code", "ticket_type", "attendee_name", "attendee_email", "booking_id", "status", "checked_in_at"];

/// Every ticket of the event with its attendee, as CSV, sent page by page: an
/// event of 100,000 tickets is never held in memory, and a client that reads
/// slowly (or not at all) holds no database connection meanwhile.
#[utoipa::path(get, path = "/api/v1/events/{id}/attendees.csv", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header row, then a column per question of the event (its label; a booking's answer repeats on each of its tickets); cells starting like a formula are prefixed with '", body = String, content_type = "text/csv"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 429, description = "The caller already has two downloads running (`rate_limited`)", body = Problem),
        (status = 503, description = "Too many downloads running in this process (`unavailable`)", body = Problem),
    ))]
pub async fn attendees(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> ApiResult<Response> {
    let questions = {
        let mut conn = state.db.acquire().await?;
        event_for(&mut conn, id, user.id, Action::ViewOrders).await?;
        crate::db::questions::of_event(&mut conn, id).await?
    };
    let header = csv::record(CSV_COLUMNS.into_iter().chain(questions.iter().map(|q| q.label.as_str())));
    let slot = state.exports.start(user.id)?;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(2);
    let complete = Arc::new(AtomicBool::new(false));
    let done = complete.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let deadline = tokio::time::Instant::now() + state.exports.deadline;
        let mut chunk = header;
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
            let details = if questions.is_empty() {
                Default::default()
            } else {
                let bookings: Vec<Uuid> = rows.iter().map(|r| r.booking_id).collect();
                let found = match state.db.acquire().await {
                    Ok(mut conn) => crate::db::questions::details_of(&mut conn, &bookings).await,
                    Err(err) => Err(err),
                };
                match found {
                    Ok(details) => details,
                    Err(err) => {
                        tracing::error!(error = %err, "attendee list failed mid-stream");
                        return;
                    }
                }
            };
            drop(turn);
            rows.iter().for_each(|row| chunk.push_str(&attendee_record(row, &questions, details.get(&row.booking_id))));
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

fn attendee_record(row: &AttendeeRow, questions: &[Question], details: Option<&Details>) -> String {
    let booking = row.booking_id.to_string();
    let checked_in = row.checked_in_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_default();
    let answers: Vec<String> = questions
        .iter()
        .map(|q| {
            details.and_then(|d| d.answer_for_ticket(q.id, row.position)).map(|v| v.in_words()).unwrap_or_default()
        })
        .collect();
    csv::record(
        [
            row.ticket_code.as_str(),
            &row.ticket_type,
            &row.attendee_name,
            &row.attendee_email,
            &booking,
            &row.status,
            &checked_in,
        ]
        .into_iter()
        .chain(answers.iter().map(String::as_str)),
    )
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
    Ok(axum::Json(door::sales(&state.db, &state.bookings, user.id, id, Action::ViewOrders).await?))
}
