//! For the organizer: the event's orders (every booking with its buyer,
//! amount, payment and refund), marking an offline booking paid, and
//! cancelling a booking with a full refund.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::bookings::Booking;
use super::extract::{CurrentUser, Path};
use super::pagination::{Checked, FromQuery, Limit, booking_cursor, given};
use crate::booking::{cancel, pay, payback};
use crate::domain::booking::BookingStatus;
use crate::domain::team::Action;
use crate::domain::{FieldError, Violations};
use crate::error::{ApiResult, Problem};
use crate::event::access::event_for;
use crate::event::orders;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Order {
    #[serde(flatten)]
    pub booking: Booking,
    pub buyer_name: String,
    pub buyer_email: String,
    /// Who paid its offline refund back (`refund.paid_back_at` says when).
    pub refund_paid_back_by: Option<String>,
    /// The names given per ticket (null: the buyer's), in ticket order;
    /// empty when none were given.
    pub attendees: Vec<Option<String>>,
    /// The answers to the event's questions.
    pub answers: Vec<crate::domain::question::Answer>,
    /// Numbers of its invoice and credit notes, in the order issued (the
    /// PDFs: `GET /api/v1/bookings/{id}/invoices/{number}.pdf`).
    pub invoices: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderList {
    pub items: Vec<Order>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListParams {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only bookings in this status (`held`, `confirmed`, `expired`, …).
    pub status: Option<String>,
    /// A booking reference (`K7M2-9QXD`, any case, dashes or not), or part
    /// of the buyer's name or email.
    pub q: Option<String>,
}

/// A page of an event's orders: at most `limit`, before the `cursor`'s, in
/// one `status` or all.
#[derive(Debug, Default)]
pub struct OrderQuery {
    pub limit: Limit,
    pub before: Option<Uuid>,
    pub filter: orders::OrderFilter,
}

/// The longest search an order list takes (a name or an email).
const SEARCH_MAX: usize = 200;

impl FromQuery for OrderQuery {
    type Raw = OrderListParams;

    fn check(raw: OrderListParams) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let limit = Limit::parse(&mut v, raw.limit.as_deref());
        let before = given(&raw.cursor).and_then(|raw| booking_cursor(&mut v, raw));
        let status = given(&raw.status).and_then(|raw| {
            v.check(
                "status",
                BookingStatus::try_from(raw.trim().to_owned())
                    .map_err(|_| "must be one of pending, held, confirmed, rejected, expired, cancelled".to_owned()),
            )
        });
        let search = given(&raw.q).and_then(|raw| {
            let text = raw.trim().to_owned();
            v.check(
                "q",
                if text.chars().count() > SEARCH_MAX {
                    Err(format!("must be at most {SEARCH_MAX} characters"))
                } else {
                    Ok(text)
                },
            )
        });
        let limit = v.finish_with(limit)?;
        Ok(Self { limit, before, filter: orders::OrderFilter { status, search } })
    }
}

/// The event's orders, newest first.
#[utoipa::path(get, path = "/api/v1/events/{id}/bookings", tag = "door", params(("id" = Uuid, Path), OrderListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderList),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 422, description = "Invalid parameters", body = Problem),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Checked(query): Checked<OrderQuery>,
) -> ApiResult<axum::Json<OrderList>> {
    let OrderQuery { limit, before, filter } = query;
    let (orders, next) = orders::page(&state.db, user.id, id, &filter, before, limit.get()).await?;
    let items = orders.into_iter().map(Order::from).collect();
    Ok(axum::Json(OrderList { items, next_cursor: next.map(|id| id.to_string()) }))
}

impl From<orders::Order> for Order {
    fn from(order: orders::Order) -> Self {
        Self {
            booking: order.booking.into(),
            buyer_name: order.buyer_name,
            buyer_email: order.buyer_email,
            refund_paid_back_by: order.refund_paid_back_by,
            attendees: order.details.attendees,
            answers: order.details.answers,
            invoices: order.invoices,
        }
    }
}

/// Mark an offline booking paid (the transfer arrived, or it was paid at the
/// door): held → confirmed with its tickets and email. After its hold ran
/// out, it is confirmed if the seats can still be had, otherwise the money
/// is recorded as a refund to pay back (`paid_after_expiry`).
#[utoipa::path(post, path = "/api/v1/events/{id}/bookings/{booking_id}/mark-paid", tag = "door",
    params(("id" = Uuid, Path), ("booking_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking", body = Booking),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event, or no such booking of it", body = Problem),
        (status = 409, description = "Not an offline booking waiting for its payment (`not_payable`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id, booking.id = %booking_id))]
pub async fn mark_paid(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, booking_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Booking>> {
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::MarkPaid).await?;
    let (current, _) = pay::mark_paid(&state.db, id, booking_id, user.id).await?;
    Ok(axum::Json(current.into()))
}

/// The offline refund of a booking was paid back (a transfer, cash at the
/// desk): recorded with who and when, the refund succeeded, and the buyer
/// gets the refund email. A second call answers the same and sends nothing.
#[utoipa::path(post, path = "/api/v1/events/{id}/bookings/{booking_id}/refund/paid-out", tag = "door",
    params(("id" = Uuid, Path), ("booking_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking, its refund succeeded", body = Booking),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event, or no such booking of it", body = Problem),
        (status = 409, description = "No offline refund to pay back (`no_refund_owed`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id, booking.id = %booking_id))]
pub async fn refund_paid_back(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, booking_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Booking>> {
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::Refund).await?;
    let current = payback::paid_back(&state.db, id, booking_id, user.id).await?;
    Ok(axum::Json(current.into()))
}

/// Cancel a booking of the event (at any time): tickets void, seats back on
/// sale, what was paid refunded in full.
#[utoipa::path(post, path = "/api/v1/events/{id}/bookings/{booking_id}/cancel", tag = "door",
    params(("id" = Uuid, Path), ("booking_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled booking, with its refund", body = Booking),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event, or no such booking of it", body = Problem),
        (status = 409, description = "Already cancelled, rejected, expired or pending, or a ticket was checked in", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id, booking.id = %booking_id))]
pub async fn cancel_order(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, booking_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Booking>> {
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::Refund).await?;
    let row = cancel::cancel_booking(
        &state.db,
        &state.bookings,
        cancel::Canceller::Organizer(id, user.id),
        booking_id,
        state.config.payment_provider(),
    )
    .await?;
    Ok(axum::Json(row.into()))
}
