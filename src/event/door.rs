//! At the door, for the event's organizer: a ticket checked in once (a
//! second scan is refused with the time of the first), a mistaken scan
//! undone, and how the sale goes per ticket type and in total.

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::EventError;
use super::access::event_for;
use crate::cache::BookingCache;
use crate::db::tickets::{self as db, CheckIn, TicketView};
use crate::domain::csv;
use crate::domain::team::Action;

/// Checks the ticket whose scanned `code` it is in, for `user`, the
/// organizer of `event_id`.
pub async fn check_in(db: &PgPool, user: Uuid, event_id: Uuid, code: &str) -> Result<Box<TicketView>, EventError> {
    let mut tx = db.begin().await?;
    event_for(&mut tx, event_id, user, Action::CheckIn).await?;
    let code = csv::ticket_code(code).ok_or(EventError::TicketNotFound)?;
    let outcome = db::check_in(&mut tx, event_id, &code).await?;
    if let CheckIn::Admitted(ticket) = &outcome {
        crate::webhooks::events::checked_in(&mut tx, ticket.booking_id, ticket.position, &ticket.attendee_name, None)
            .await?;
    }
    tx.commit().await?;
    match outcome {
        CheckIn::Admitted(ticket) => Ok(ticket),
        CheckIn::Already(at) => Err(EventError::AlreadyCheckedIn(at)),
        CheckIn::Void => Err(EventError::TicketVoid),
        CheckIn::Unknown => Err(EventError::TicketNotFound),
    }
}

/// The answers that concern an admitted ticket (its own and its booking's),
/// labelled, in the questions' order: what the door reads out.
pub async fn answers_of(db: &PgPool, event_id: Uuid, ticket: &TicketView) -> Result<Vec<(String, String)>, EventError> {
    let mut conn = db.acquire().await?;
    let questions = crate::db::questions::of_event(&mut conn, event_id).await?;
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    let details = crate::db::questions::details_of(&mut conn, &[ticket.booking_id]).await?;
    let Some(given) = details.get(&ticket.booking_id) else { return Ok(Vec::new()) };
    Ok(questions
        .iter()
        .filter_map(|q| given.answer_for_ticket(q.id, ticket.position).map(|v| (q.label.clone(), v.in_words())))
        .collect())
}

/// Undoes a check-in (a mistaken scan): the ticket is valid again.
pub async fn undo_check_in(db: &PgPool, user: Uuid, event_id: Uuid, code: &str) -> Result<(), EventError> {
    let mut conn = db.begin().await?;
    event_for(&mut conn, event_id, user, Action::CheckIn).await?;
    let code = csv::ticket_code(code).ok_or(EventError::NoCheckIn)?;
    if !db::undo_check_in(&mut conn, event_id, &code).await? {
        return Err(EventError::NoCheckIn);
    }
    // The ticket is valid again: who made it so is recorded.
    crate::team::record(&mut conn, user, event_id, "check_in.undone", &code, serde_json::json!({})).await?;
    conn.commit().await?;
    Ok(())
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

impl SalesTotals {
    fn add(&mut self, sales: &TicketTypeSales) {
        self.capacity += sales.capacity;
        self.sold += sales.sold;
        self.held += sales.held;
        self.remaining += sales.remaining;
        self.pending += sales.pending;
        self.cancelled += sales.cancelled;
        self.checked_in += sales.checked_in;
        self.waiting += sales.waiting;
        self.waiting_seats += sales.waiting_seats;
        self.revenue_cents += sales.revenue_cents;
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventStats {
    pub event_id: Uuid,
    pub ticket_types: Vec<TicketTypeSales>,
    pub totals: SalesTotals,
    /// Each shared quota: what its types took of it together.
    pub quotas: Vec<QuotaSales>,
}

/// A shared quota's figures: `capacity = remaining + held + sold` over its types.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaSales {
    pub id: Uuid,
    pub name: String,
    pub ticket_type_ids: Vec<Uuid>,
    pub capacity: i64,
    pub sold: i64,
    pub held: i64,
    pub remaining: i64,
}

/// How the sale of `event_id` goes (revenue included), for `user`, a member
/// whose role lets them `action` (the orders; the door's counts).
pub async fn sales(
    db: &PgPool,
    bookings: &BookingCache,
    user: Uuid,
    event_id: Uuid,
    action: Action,
) -> Result<EventStats, EventError> {
    let mut conn = db.acquire().await?;
    event_for(&mut conn, event_id, user, action).await?;
    let rows = db::stats(&mut conn, event_id).await?;
    let waiting = crate::db::waiting::counts(&mut conn, event_id).await?;
    let quota_rows = crate::db::quotas::of_event(&mut conn, event_id).await?;
    drop(conn);
    // Redis knows every request not yet decided, those the worker parked in
    // PostgreSQL (the pre-queue, the line) too; PostgreSQL knows the parked
    // ones and those accepted while Redis was down. Each source sees the
    // whole line in its own case, so the figure is the larger, never the sum
    // (which counted every parked request twice).
    let (queued, queued_total) = crate::booking::status::in_line_by_type(bookings, event_id).await;
    let mut totals = SalesTotals::default();
    let ticket_types: Vec<TicketTypeSales> = rows
        .into_iter()
        .map(|r| {
            let sales = TicketTypeSales {
                ticket_type_id: r.ticket_type_id,
                name: r.name,
                capacity: r.capacity,
                sold: r.capacity - r.remaining - r.held,
                held: r.held,
                remaining: r.remaining,
                pending: r.pending_stored.max(queued.get(&r.ticket_type_id).copied().unwrap_or(0)),
                cancelled: r.cancelled,
                checked_in: r.checked_in,
                waiting: waiting.get(&r.ticket_type_id).map_or(0, |w| w.0),
                waiting_seats: waiting.get(&r.ticket_type_id).map_or(0, |w| w.1),
                revenue_cents: r.revenue_cents,
                currency: r.currency,
            };
            totals.add(&sales);
            sales
        })
        .collect();
    // Redis's per-type figures come from a sample; its total does not.
    if let Some(queued_total) = queued_total {
        totals.pending = totals.pending.max(queued_total);
    }
    let quotas = quota_rows
        .into_iter()
        .map(|q| {
            let of_quota = || ticket_types.iter().filter(|t| q.ticket_type_ids.contains(&t.ticket_type_id));
            let held: i64 = of_quota().map(|t| t.held).sum();
            QuotaSales {
                capacity: i64::from(q.capacity),
                remaining: i64::from(q.remaining),
                held,
                sold: i64::from(q.capacity) - i64::from(q.remaining) - held,
                id: q.id,
                name: q.name,
                ticket_type_ids: q.ticket_type_ids,
            }
        })
        .collect();
    Ok(EventStats { event_id, ticket_types, totals, quotas })
}
