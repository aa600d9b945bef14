//! At the door, for the event's organizer: a ticket checked in once (a
//! second scan is refused with the time of the first), a mistaken scan
//! undone, and how the sale goes per ticket type and in total.

use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::EventError;
use super::access::organizer_event;
use crate::cache::BookingCache;
use crate::db::tickets::{self as db, CheckIn, TicketView};
use crate::domain::csv;

/// Checks the ticket whose scanned `code` it is in, for `user`, the
/// organizer of `event_id`.
pub async fn check_in(db: &PgPool, user: Uuid, event_id: Uuid, code: &str) -> Result<Box<TicketView>, EventError> {
    let mut tx = db.begin().await?;
    organizer_event(&mut tx, event_id, user).await?;
    let code = csv::ticket_code(code).ok_or(EventError::TicketNotFound)?;
    let outcome = db::check_in(&mut tx, event_id, &code).await?;
    tx.commit().await?;
    match outcome {
        CheckIn::Admitted(ticket) => Ok(ticket),
        CheckIn::Already(at) => Err(EventError::AlreadyCheckedIn(at)),
        CheckIn::Void => Err(EventError::TicketVoid),
        CheckIn::Unknown => Err(EventError::TicketNotFound),
    }
}

/// Undoes a check-in (a mistaken scan): the ticket is valid again.
pub async fn undo_check_in(db: &PgPool, user: Uuid, event_id: Uuid, code: &str) -> Result<(), EventError> {
    let mut conn = db.acquire().await?;
    organizer_event(&mut conn, event_id, user).await?;
    let code = csv::ticket_code(code).ok_or(EventError::NoCheckIn)?;
    if !db::undo_check_in(&mut conn, event_id, &code).await? {
        return Err(EventError::NoCheckIn);
    }
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
}

/// How the sale of `event_id` goes, for its organizer `user`.
pub async fn sales(db: &PgPool, bookings: &BookingCache, user: Uuid, event_id: Uuid) -> Result<EventStats, EventError> {
    let mut conn = db.acquire().await?;
    organizer_event(&mut conn, event_id, user).await?;
    let rows = db::stats(&mut conn, event_id).await?;
    let waiting = crate::db::waiting::counts(&mut conn, event_id).await?;
    drop(conn);
    // Redis knows every request not yet decided, those the worker parked in
    // PostgreSQL (the pre-queue, the line) too; PostgreSQL knows the parked
    // ones and those accepted while Redis was down. Each source sees the
    // whole line in its own case, so the figure is the larger, never the sum
    // (which counted every parked request twice).
    let (queued, queued_total) = crate::booking::status::in_line_by_type(bookings, event_id).await;
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
    Ok(EventStats { event_id, ticket_types, totals })
}
