//! Bookings: book (accepted onto the queue), follow, list, cancel.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{CurrentUser, Json, MaybeUser, Path};
use super::pagination::{Checked, FromQuery, Limit, booking_cursor};
use crate::booking::accept::{self, Accepted, BookingRequest};
use crate::booking::{cancel, status, waiters};
use crate::cache::bookings::PendingBooking;
use crate::db::payments::Money;
use crate::db::{self, bookings::BookingRow};
use crate::domain::booking::BookingStatus;
use crate::domain::checkout::Provider;
use crate::domain::{FieldError, Violations};
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::line::{self, QueueStatus};
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    pub ticket_type_id: Uuid,
    /// 1 to the ticket type's `max_per_order`.
    pub quantity: i64,
    /// A code of the event (case, dashes and spaces do not matter): its
    /// price is the one charged; 422 `code_invalid`, `code_expired`,
    /// `code_not_for_type`; the worker rejects `code_used_up`.
    pub code: Option<String>,
    /// The holders' names, one per ticket in ticket order, for a ticket type
    /// whose `attendee_names` is `optional` or `required` (a blank or missing
    /// name: the buyer's). 422 `attendee_name_required` / `attendee_name_invalid`.
    #[serde(default)]
    pub attendees: Vec<AttendeeName>,
    /// Answers to the event's questions (`GET /api/v1/events/{id}/questions`):
    /// per ticket with `ticket_index` (0-based), or once per booking without.
    /// 422 `answer_required` / `answer_invalid` with `question_id`.
    #[serde(default)]
    pub answers: Vec<crate::domain::question::Answer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendeeName {
    /// At most 100 characters; blank: the buyer's name.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    /// 26 characters, unguessable; what the QR code carries.
    pub code: String,
    /// `valid`, `void` or `checked_in`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Booking {
    pub id: Uuid,
    /// What a person reads out and types ("K7M2-9QXD"; case and dashes do
    /// not matter on input). Null while the request is still in the queue:
    /// it is given when the booking is written.
    #[schema(example = "K7M2-9QXD")]
    pub reference: Option<String>,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub status: BookingStatus,
    /// Why it was rejected or cancelled: `sold_out`, `not_enough_seats`,
    /// `sales_closed`, `event_cancelled`, `cancelled_by_user`, ...
    pub reason: Option<String>,
    /// When the request was accepted.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tickets: Vec<Ticket>,
    /// Per seat, as sold (once the worker gave the booking its seats).
    pub unit_price_cents: Option<i64>,
    /// What the buyer pays: `unit_price_cents × quantity`, and the tax on
    /// top when the event's prices leave it out (its invoice's gross).
    pub total_cents: Option<i64>,
    pub currency: Option<String>,
    /// When the hold runs out (`held` only): pay before.
    pub expires_at: Option<DateTime<Utc>>,
    pub payment: Option<PaymentSummary>,
    pub refund: Option<RefundSummary>,
    /// While pending: the booking's place in its event's line (on the
    /// booking itself; lists leave it out).
    pub queue: Option<QueuePlace>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePlace {
    /// `prequeue` (waiting for the draw at `sales_start`, or at a presale's
    /// time) or `line`.
    pub phase: String,
    /// In the pre-queue: when its draw is made.
    pub draw_at: Option<chrono::DateTime<chrono::Utc>>,
    /// 1 = next; exact when read; null in the pre-queue.
    pub position: Option<i64>,
    /// Requests ahead.
    pub ahead: Option<i64>,
    /// From the rate the line moved over the last 10 s.
    pub estimated_wait_seconds: Option<f64>,
}

impl From<status::Place> for QueuePlace {
    fn from(p: status::Place) -> Self {
        Self {
            phase: if p.prequeue { "prequeue" } else { "line" }.into(),
            draw_at: p.draw_at,
            position: p.position,
            ahead: p.ahead,
            estimated_wait_seconds: p.estimated_wait_seconds,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentSummary {
    pub provider: Provider,
    /// `unpaid` (held, nothing tried yet), `processing`, `requires_action`
    /// (3-D Secure), `failed` (the newest attempt), `succeeded`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundSummary {
    /// `pending` (on its way; offline: for the organizer to pay out),
    /// `succeeded`, `failed`.
    pub status: String,
    pub amount_cents: i64,
    /// An offline refund: when the organizer paid it back.
    pub paid_back_at: Option<DateTime<Utc>>,
}

impl From<status::Current> for Booking {
    fn from(current: status::Current) -> Self {
        match current {
            status::Current::Stored(row, tickets, money) => Self::stored(*row, tickets, money),
            status::Current::Pending(pending) => Self::pending(&pending),
        }
    }
}

impl Booking {
    /// The booking with its place in line (while it is pending).
    pub fn in_line((current, place): (status::Current, Option<status::Place>)) -> Self {
        Self { queue: place.map(QueuePlace::from), ..Self::from(current) }
    }

    fn pending(p: &PendingBooking) -> Self {
        Self {
            id: p.id,
            reference: None,
            event_id: p.event_id,
            ticket_type_id: p.ticket_type_id,
            quantity: p.quantity,
            status: BookingStatus::Pending,
            reason: None,
            created_at: p.accepted_at,
            updated_at: p.accepted_at,
            tickets: Vec::new(),
            unit_price_cents: None,
            total_cents: None,
            currency: None,
            expires_at: None,
            payment: None,
            refund: None,
            queue: None,
        }
    }

    pub(super) fn stored(row: BookingRow, tickets: Vec<db::bookings::TicketRow>, money: Money) -> Self {
        let payment = match (money.payment, row.payment_provider.0) {
            (Some((provider, status)), _) => Some(PaymentSummary { provider, status: payment_status(&status) }),
            // A free booking is confirmed without a payment: nothing is unpaid.
            (None, Some(_)) if row.unit_price_cents == Some(0) => None,
            (None, Some(provider)) => Some(PaymentSummary { provider, status: "unpaid".into() }),
            (None, None) => None,
        };
        Self {
            total_cents: row.unit_price_cents.map(|_| row.total_cents()),
            unit_price_cents: row.unit_price_cents,
            currency: row.currency.clone(),
            expires_at: row.expires_at.filter(|_| row.status == BookingStatus::Held),
            payment,
            refund: money.refund.map(|(status, amount_cents)| RefundSummary {
                status,
                amount_cents,
                paid_back_at: money.paid_back.as_ref().map(|(at, _)| *at),
            }),
            queue: None,
            reference: Some(row.reference()),
            id: row.id,
            event_id: row.event_id,
            ticket_type_id: row.ticket_type_id,
            quantity: row.quantity,
            status: row.status,
            reason: row.reason,
            created_at: row.accepted_at,
            updated_at: row.updated_at,
            tickets: tickets.into_iter().map(|t| Ticket { code: t.code, status: t.status }).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BookingList {
    pub items: Vec<Booking>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingListParams {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Book seats. The request is accepted onto the booking queue (202, `pending`)
/// and decided by the worker; follow it at the `Location`.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", request_body = CreateBookingRequest,
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable ASCII characters; the same key from the same user returns the first booking")),
    responses(
        (status = 202, description = "Accepted, pending", body = Booking,
            headers(("Location" = String, description = "Where to follow the booking"))),
        (status = 200, description = "The Idempotency-Key was used before: that booking as it is now", body = Booking,
            headers(("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 403, description = "The caller's email address is not verified yet (`email_unverified`)", body = Problem),
        (status = 404, description = "No such ticket type", body = Problem),
        (status = 409, description = "`sold_out`, `code_used_up` (the code went to as many seats as it may), `sales_closed`, `event_cancelled`, or the key's first request is still in flight (`conflict`)", body = Problem),
        (status = 422, description = "Invalid fields, or `idempotency_key_reused`", body = Problem),
        (status = 503, description = "The booking queue is unavailable; nothing was accepted", body = Problem,
            headers(("Retry-After" = String, description = "Seconds"))),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn create_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Json(req): Json<CreateBookingRequest>,
) -> ApiResult<Response> {
    let idempotency_key = idempotency_key_of(&headers)?;
    state.verified.require(user.id).await?;
    let request = BookingRequest {
        user_id: user.id,
        ticket_type_id: req.ticket_type_id,
        quantity: req.quantity,
        idempotency_key,
        code: req.code,
        attendees: req.attendees.into_iter().map(|a| a.name.unwrap_or_default()).collect(),
        answers: req.answers,
    };
    match accept::accept(&state.acceptor(), request).await? {
        Accepted::New(pending) => {
            let location = format!("/api/v1/bookings/{}", pending.id);
            Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], axum::Json(Booking::pending(&pending)))
                .into_response())
        }
        Accepted::Replayed(id) => {
            let booking = find_booking(&state, user.id, id)
                .await?
                .ok_or_else(|| ApiError::conflict("the booking of this Idempotency-Key is still being processed"))?;
            let replayed = [(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))];
            Ok((StatusCode::OK, replayed, axum::Json(booking)).into_response())
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Seconds (1 to 30) to wait for a pending booking to be decided before
    /// answering; the answer comes as soon as it is.
    pub wait: Option<String>,
}

/// How long to wait for a pending booking's decision: none, or 1 to 30 s.
#[derive(Debug, Default, Clone, Copy)]
pub struct Wait(pub Option<std::time::Duration>);

impl FromQuery for Wait {
    type Raw = WaitParams;

    fn check(raw: WaitParams) -> Result<Self, Vec<FieldError>> {
        match raw.wait.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
            None => Ok(Self(None)),
            Some(raw) => match raw.parse::<u64>() {
                Ok(secs) if (1..=waiters::MAX_WAIT.as_secs()).contains(&secs) => {
                    Ok(Self(Some(std::time::Duration::from_secs(secs))))
                }
                _ => Err(vec![FieldError {
                    field: "wait".into(),
                    message: "must be a whole number of seconds from 1 to 30".into(),
                }]),
            },
        }
    }
}

/// One of the caller's bookings, as it is now, or, with `wait`, as soon as it is decided.
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "bookings", params(("id" = Uuid, Path), WaitParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking (still `pending` if `wait` ran out)", body = Booking),
        (status = 404, description = "No such booking of the caller", body = Problem),
        (status = 422, description = "`wait` out of range", body = Problem),
        (status = 429, description = "Rate limited (`rate_limited`), or, with `wait`, as many waits and streams open as one may: 3 a person, 2 a booking (`too_many_streams`)", body = Problem),
    ))]
pub async fn get_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Checked(Wait(wait)): Checked<Wait>,
) -> ApiResult<axum::Json<Booking>> {
    let booking = find_booking(&state, user.id, id).await?.ok_or(ApiError::NotFound("booking"))?;
    let Some(wait) = wait.filter(|_| booking.status == BookingStatus::Pending) else {
        return Ok(axum::Json(booking));
    };
    let deadline = tokio::time::Instant::now() + wait;
    let waiting = match state.waiters.wait_for(id, user.id) {
        Ok(waiting) => waiting,
        Err(waiters::Refused::Full) => return Ok(axum::Json(booking)), // enough waiters already: as it is now
        Err(waiters::Refused::TooMany) => return Err(ApiError::TooManyStreams),
    };
    let mut woken = false;
    let result = async {
        loop {
            let notified = waiting.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable(); // before the re-read: no announcement slips between
            if woken {
                state.waiters.rereads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let booking = {
                let _turn = state.waiters.read_permit().await;
                find_booking(&state, user.id, id).await?.ok_or(ApiError::NotFound("booking"))?
            };
            let now = tokio::time::Instant::now();
            if booking.status != BookingStatus::Pending || now >= deadline {
                return Ok(booking);
            }
            // No connection is held here (find_booking gave its back).
            let _ = tokio::time::timeout(state.waiters.sleep_for(deadline - now), notified).await;
            woken = true;
        }
    }
    .await;
    result.map(axum::Json)
}

/// Cancel a held or confirmed booking: its tickets become void, the seats go
/// back on sale, and what was paid is refunded in full (`refund`). A request
/// still pending (in the pre-queue, in line, or in the queue) leaves the
/// line: cancelled with reason `left_line`, before its turn.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled booking", body = Booking),
        (status = 404, description = "No such booking of the caller", body = Problem),
        (status = 409, description = "Already cancelled, rejected or expired, a ticket was checked in, or past the event's cancellation deadline (`cancellation_closed`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, booking.id = %id))]
pub async fn cancel_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Booking>> {
    let row = cancel::cancel_booking(
        &state.db,
        &state.bookings,
        cancel::Canceller::Owner(user.id),
        id,
        state.config.payment_provider(),
    )
    .await?;
    Ok(axum::Json(row.into()))
}

/// A page of the caller's bookings: at most `limit`, before the `cursor`'s.
#[derive(Debug, Default)]
pub struct BookingPage {
    pub limit: Limit,
    pub before: Option<Uuid>,
}

impl FromQuery for BookingPage {
    type Raw = BookingListParams;

    fn check(raw: BookingListParams) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let limit = Limit::parse(&mut v, raw.limit.as_deref());
        let before = raw.cursor.as_deref().and_then(|raw| booking_cursor(&mut v, raw));
        let limit = v.finish_with(limit)?;
        Ok(Self { limit, before })
    }
}

/// The caller's bookings, newest first; pending ones lead the first page.
#[utoipa::path(get, path = "/api/v1/me/bookings", tag = "bookings", params(BookingListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of bookings", body = BookingList),
        (status = 400, description = "Unreadable query string", body = Problem),
        (status = 422, description = "Invalid parameters", body = Problem),
    ))]
pub async fn my_bookings(
    State(state): State<AppState>,
    user: CurrentUser,
    Checked(page): Checked<BookingPage>,
) -> ApiResult<axum::Json<BookingList>> {
    let (items, next) =
        status::list_of_user(&state.db, &state.bookings, user.id, page.before, page.limit.get()).await?;
    let items = items.into_iter().map(Booking::from).collect();
    Ok(axum::Json(BookingList { items, next_cursor: next.map(|id| id.to_string()) }))
}

/// How many booking requests for an event are accepted and not yet processed.
#[utoipa::path(get, path = "/api/v1/events/{id}/queue", tag = "bookings", params(("id" = Uuid, Path)),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The queue of the event", body = QueueStatus),
        (status = 401, description = "A token was sent but is not valid", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn event_queue(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<QueueStatus>> {
    Ok(axum::Json(line::of_event(&state.db, &state.bookings, viewer.map(|u| u.id), id).await?))
}

/// A payment attempt's status as the API says it: the steps before Stripe
/// answered are `processing` to the buyer.
fn payment_status(stored: &str) -> String {
    match stored {
        "creating" | "requires_confirmation" => "processing".into(),
        other => other.into(),
    }
}

/// The caller's booking `id` as it is now, with its place in line while
/// pending (`None` for anyone else's).
pub(super) async fn find_booking(state: &AppState, user_id: Uuid, id: Uuid) -> ApiResult<Option<Booking>> {
    let found = status::of_user_in_line(&state.db, &state.bookings, user_id, id).await?;
    Ok(found.map(Booking::in_line))
}

/// The `Idempotency-Key` header: 1 to 255 printable ASCII characters.
fn idempotency_key_of(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    value.to_str().map_err(|_| invalid_key()).and_then(idempotency_key).map(Some)
}

/// An Idempotency-Key as sent (a header, or a page's form field).
pub fn idempotency_key(key: &str) -> ApiResult<String> {
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if valid { Ok(key.to_owned()) } else { Err(invalid_key()) }
}

fn invalid_key() -> ApiError {
    ApiError::field("Idempotency-Key", "must be 1 to 255 printable ASCII characters")
}

/// A booking's names and answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingDetails {
    /// One per ticket, in ticket order; `name` null: the buyer's name holds it.
    pub attendees: Vec<AttendeeOfTicket>,
    pub answers: Vec<crate::domain::question::Answer>,
    /// Until when the buyer may change them (the event's `answers_until`).
    pub editable_until: DateTime<Utc>,
    /// Whether the caller may change them now.
    pub editable: bool,
    /// Whether they answer everything the event asks (false: a required
    /// name or answer is still to give, e.g. a waiting-list offer's).
    pub complete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttendeeOfTicket {
    pub ticket_index: u16,
    pub name: Option<String>,
}

impl From<crate::booking::details::BookingDetails> for BookingDetails {
    fn from(b: crate::booking::details::BookingDetails) -> Self {
        let attendees = (0..u16::try_from(b.quantity).unwrap_or_default())
            .map(|i| AttendeeOfTicket { ticket_index: i, name: b.details.name_of(usize::from(i)).map(str::to_owned) })
            .collect();
        Self {
            attendees,
            answers: b.details.answers,
            editable_until: b.editable_until,
            editable: b.editable,
            complete: b.complete,
        }
    }
}

/// Names and answers to replace a booking's with (all of them: what is left
/// out is cleared).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingDetailsRequest {
    #[serde(default)]
    pub attendees: Vec<AttendeeName>,
    #[serde(default)]
    pub answers: Vec<crate::domain::question::Answer>,
}

/// A booking's names and answers (its buyer, or the event's organizer).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/details", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Names and answers", body = BookingDetails),
        (status = 404, description = "No such booking of the caller's, or of an event they organize", body = Problem),
    ))]
pub async fn get_details(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<BookingDetails>> {
    Ok(axum::Json(crate::booking::details::of_booking(&state.db, user.id, id).await?.into()))
}

/// Change a held or confirmed booking's names and answers (its buyer), until
/// the event's `answers_until`; checked like a booking request's.
#[utoipa::path(put, path = "/api/v1/bookings/{id}/details", tag = "bookings", params(("id" = Uuid, Path)),
    request_body = BookingDetailsRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Names and answers as now stored", body = BookingDetails),
        (status = 404, description = "No such booking of the caller's", body = Problem),
        (status = 409, description = "`answers_closed` (past `answers_until`) or `booking_not_editable` (not held or confirmed)", body = Problem),
        (status = 422, description = "`answer_required`, `answer_invalid`, `attendee_name_required` or `attendee_name_invalid`, with `question_id`", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, booking.id = %id))]
pub async fn put_details(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<BookingDetailsRequest>,
) -> ApiResult<axum::Json<BookingDetails>> {
    let names: Vec<String> = req.attendees.into_iter().map(|a| a.name.unwrap_or_default()).collect();
    crate::booking::details::edit(&state.db, user.id, id, &names, &req.answers).await?;
    Ok(axum::Json(crate::booking::details::of_booking(&state.db, user.id, id).await?.into()))
}

/// The booking's valid tickets as a PDF, a page each: the event, when and
/// where, the ticket type, the holder, the reference, the code as text and
/// as a QR code (its buyer, or the event's organizer).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/tickets.pdf", tag = "tickets", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The PDF", body = Vec<u8>, content_type = "application/pdf"),
        (status = 404, description = "No such booking of the caller's, or of an event they organize", body = Problem),
        (status = 409, description = "`no_tickets`: not confirmed, or every ticket void", body = Problem),
    ))]
pub async fn tickets_pdf(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let pdf = crate::papers::tickets_pdf(&state.db, user.id, id).await?;
    Ok(pdf_response(id, pdf))
}

/// The booking's valid tickets as Apple Wallet passes: a `.pkpass` for one
/// ticket, a `.pkpasses` bundle (one pass per ticket) for several. Only when
/// the server has a pass certificate (`APPLE_PASS_*`); otherwise 404.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/tickets.pkpass", tag = "tickets", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One pass (`application/vnd.apple.pkpass`) or a bundle of one per ticket (`application/vnd.apple.pkpasses`)", body = Vec<u8>, content_type = "application/vnd.apple.pkpass"),
        (status = 404, description = "No such booking of the caller's or of an event they organize; or passes are not configured", body = Problem),
        (status = 409, description = "`no_tickets`: not confirmed, or every ticket void", body = Problem),
    ))]
pub async fn tickets_pkpass(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let signer = state.wallet.clone().ok_or(ApiError::NotFound("pass"))?;
    let passes = crate::papers::tickets_pkpass(&state.db, signer, user.id, id).await?;
    Ok(pkpass_response(id, passes))
}

/// A booking's Wallet passes as a download.
pub fn pkpass_response(id: Uuid, passes: crate::papers::wallet::Passes) -> Response {
    download(passes.content_type, &format!("tickets-{id}.{}", passes.extension), passes.bytes)
}

/// A booking's tickets PDF as a download.
pub fn pdf_response(id: Uuid, pdf: Vec<u8>) -> Response {
    download("application/pdf", &format!("tickets-{id}.pdf"), pdf)
}

/// `body` as a download named `filename` (quotes and backslashes left out),
/// kept by no cache: papers are the buyer's or the organizer's alone.
pub fn download(content_type: &str, filename: &str, body: Vec<u8>) -> Response {
    let filename = filename.replace(['"', '\\'], "");
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
