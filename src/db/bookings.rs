//! The `bookings` and `tickets` tables.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::booking::AcceptedRequest;
use crate::domain::booking::BookingStatus;
use crate::domain::checkout::Provider;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    #[sqlx(try_from = "String")]
    pub status: BookingStatus,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub accepted_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Per seat, as sold (set once the worker gave it seats).
    pub unit_price_cents: Option<i64>,
    pub currency: Option<String>,
    /// When a hold runs out (held bookings).
    pub expires_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "Option<String>")]
    pub payment_provider: OptionalProvider,
    pub paid_at: Option<DateTime<Utc>>,
    /// The row's number, behind its reference.
    pub number: i64,
    /// The code it was booked with.
    pub code_id: Option<Uuid>,
    /// Its tax as sold (basis points; whether the price includes it).
    pub tax_rate: Option<i32>,
    pub prices_include_tax: Option<bool>,
    /// For its invoice, as the buyer entered them.
    pub billing_name: Option<String>,
    pub billing_address: Option<String>,
    /// Waiting for a draw: its presale's time (null: the event's); else the
    /// presale it was taken in, if any.
    pub presale_at: Option<DateTime<Utc>>,
}

impl BookingRow {
    /// What a person reads out and types: "K7M2-9QXD".
    pub fn reference(&self) -> String {
        crate::domain::reference::encode(self.number)
    }

    /// What the buyer pays for the booking (0 before it has a price): tax
    /// added when its event's prices leave it out.
    pub fn total_cents(&self) -> i64 {
        crate::domain::tax::charged(
            self.unit_price_cents.unwrap_or(0),
            i64::from(self.quantity),
            self.tax_rate.unwrap_or(0),
            self.prices_include_tax.unwrap_or(true),
        )
    }
}

/// The payment provider column (NULL for bookings never held).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionalProvider(pub Option<Provider>);

impl TryFrom<Option<String>> for OptionalProvider {
    type Error = String;

    fn try_from(value: Option<String>) -> Result<Self, String> {
        value.map(Provider::try_from).transpose().map(Self)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub code: String,
    pub booking_id: Uuid,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
}

pub const IDEMPOTENCY_KEY_TAKEN: &str = "bookings_idempotency_key";

const BOOKING_COLUMNS: &str = "id, user_id, event_id, ticket_type_id, quantity, status, reason, idempotency_key, \
     accepted_at, created_at, updated_at, unit_price_cents, currency, expires_at, payment_provider, paid_at, number, code_id, \
     tax_rate, prices_include_tax, billing_name, billing_address, presale_at";

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn find_by_key(conn: &mut PgConnection, user_id: Uuid, key: &str) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE user_id = $1 AND idempotency_key = $2"))
        .bind(user_id)
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// When the newest booking with an Idempotency-Key was accepted. Booking ids
/// are UUIDv7 taken at acceptance, so the primary key walks back in time; the
/// few newest are read in case clocks of API replicas disagree a little.
pub async fn newest_keyed_accept(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT max(accepted_at) FROM (SELECT accepted_at FROM bookings WHERE idempotency_key IS NOT NULL
           ORDER BY id DESC LIMIT 100) newest",
    )
    .fetch_one(conn)
    .await
}

/// The caller's bookings, newest first, strictly before `before` when given.
pub async fn list_by_user(
    conn: &mut PgConnection,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {BOOKING_COLUMNS} FROM bookings
         WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(user_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}

pub async fn tickets_of(conn: &mut PgConnection, booking_ids: &[Uuid]) -> Result<Vec<TicketRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, booking_id, status, checked_in_at FROM tickets WHERE booking_id = ANY($1) ORDER BY booking_id, position, code",
    )
    .bind(booking_ids)
    .fetch_all(conn)
    .await
}

/// Records an accepted booking as pending in PostgreSQL (the path taken
/// while Redis is down); the unique key constraint is then the idempotency check.
pub async fn insert_pending(conn: &mut PgConnection, m: &AcceptedRequest) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, idempotency_key, accepted_at,
                               presale_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8)",
    )
    .bind(m.booking_id)
    .bind(m.user_id)
    .bind(m.event_id)
    .bind(m.ticket_type_id)
    .bind(m.quantity)
    .bind(&m.idempotency_key)
    .bind(m.accepted_at)
    .bind(m.presale_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a pending row whose message certainly never reached the broker.
pub async fn delete_pending(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bookings WHERE id = $1 AND status = 'pending'").bind(id).execute(conn).await?;
    Ok(())
}

/// Records a request answered 503 whose message may still have reached the
/// broker (the confirm timed out): decided as rejected (`not_accepted`), so
/// should the message arrive after all, the worker finds it decided and takes
/// no seat. Its Idempotency-Key is released for the client's retry.
pub async fn tombstone(conn: &mut PgConnection, m: &AcceptedRequest) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, reason, accepted_at)
         VALUES ($1, $2, $3, $4, $5, 'rejected', 'not_accepted', $6)
         ON CONFLICT (id) DO UPDATE SET status = 'rejected', reason = 'not_accepted', idempotency_key = NULL,
                                        pending_details = NULL, updated_at = now()
         WHERE bookings.status = 'pending'",
    )
    .bind(m.booking_id)
    .bind(m.user_id)
    .bind(m.event_id)
    .bind(m.ticket_type_id)
    .bind(m.quantity)
    .bind(m.accepted_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn pending_count(conn: &mut PgConnection, event_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'pending'")
        .bind(event_id)
        .fetch_one(conn)
        .await
}

pub async fn event_has_bookings(conn: &mut PgConnection, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bookings WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(conn)
        .await
}

/// At most one pending row per user and ticket type.
pub const ONE_PENDING: &str = "bookings_one_pending";

/// The user's booking request in line for the ticket type, as PostgreSQL
/// knows it (accepted while Redis was down).
pub async fn pending_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    ticket_type_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bookings WHERE user_id = $1 AND ticket_type_id = $2 AND status = 'pending' LIMIT 1",
    )
    .bind(user_id)
    .bind(ticket_type_id)
    .fetch_optional(conn)
    .await
}

// --- the organizer's orders ---

/// A booking with its buyer, as the organizer's order list shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    #[sqlx(flatten)]
    pub booking: BookingRow,
    pub buyer_name: String,
    pub buyer_email: String,
}

/// The event's bookings, newest first, strictly before `before` when given,
/// only of `status` when given (an index per filter keeps every page a short
/// index scan, however many bookings the event has).
pub async fn orders(
    conn: &mut PgConnection,
    event_id: Uuid,
    status: Option<BookingStatus>,
    (number, pattern): (Option<i64>, Option<String>),
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let columns: Vec<String> = BOOKING_COLUMNS.split(", ").map(|c| format!("b.{}", c.trim())).collect();
    sqlx::query_as(&format!(
        "SELECT {}, u.name AS buyer_name, u.email AS buyer_email
         FROM bookings b JOIN users u ON u.id = b.user_id
         WHERE b.event_id = $1 AND ($2::text IS NULL OR b.status = $2) AND ($3::uuid IS NULL OR b.id < $3)
           AND ($5::text IS NULL OR b.number = $6 OR u.name ILIKE $5 OR u.email ILIKE $5)
         ORDER BY b.id DESC LIMIT $4",
        columns.join(", ")
    ))
    .bind(event_id)
    .bind(status.map(BookingStatus::as_str))
    .bind(before)
    .bind(limit)
    .bind(pattern)
    .bind(number)
    .fetch_all(conn)
    .await
}

// --- cancellation ---

/// Cancels a held or confirmed booking: its tickets turn void (a checked-in
/// one too, so undoing that check-in cannot revive it), its seats go back and
/// its payment, if any, is refunded. The caller holds the ticket type's and
/// the booking's row locks.
pub async fn cancel(conn: &mut PgConnection, booking: &BookingRow, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH b AS (UPDATE bookings SET status = 'cancelled', reason = $2, updated_at = now() WHERE id = $1)
         UPDATE tickets SET status = 'void' WHERE booking_id = $1 AND status <> 'void'",
    )
    .bind(booking.id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    // Its seats back to its type and the type's quotas.
    super::allocation::take_seats(&mut *conn, &[booking.ticket_type_id], &[-booking.quantity]).await?;
    // (Its credit note is the caller's last statement: the invoice counter's
    // lock is then held only until the commit.)
    super::payments::refund_bookings(conn, &[booking.id], reason).await?;
    Ok(())
}

/// A pending request whose buyer left the line: cancelled, holding no seat
/// (none was taken for it). The caller holds its ticket type's lock.
pub async fn leave_line(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bookings SET status = 'cancelled', reason = 'left_line', pending_details = NULL, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A request still in the queue whose buyer left the line: written decided
/// (cancelled, `left_line`), so the worker skips its message when it comes.
/// The caller holds its ticket type's lock.
pub async fn insert_left_line(
    conn: &mut PgConnection,
    pending: &crate::cache::bookings::PendingBooking,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, reason, accepted_at)
         VALUES ($1, $2, $3, $4, $5, 'cancelled', 'left_line', $6)",
    )
    .bind(pending.id)
    .bind(pending.user_id)
    .bind(pending.event_id)
    .bind(pending.ticket_type_id)
    .bind(pending.quantity)
    .bind(pending.accepted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Sells a held booking whose seats it already has (paid, or free): status
/// `confirmed`, one ticket per seat, the confirmation email, and the news to
/// whoever waits on it. The caller holds the ticket type's and the booking's
/// row locks.
pub async fn confirm_held(conn: &mut PgConnection, booking: &BookingRow, paid: bool) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bookings SET status = 'confirmed', reason = NULL, updated_at = now(),
                paid_at = CASE WHEN $2 THEN coalesce(paid_at, now()) ELSE paid_at END
         WHERE id = $1",
    )
    .bind(booking.id)
    .bind(paid)
    .execute(&mut *conn)
    .await?;
    let mut tickets = super::allocation::NewTickets::default();
    tickets.add(booking.id, booking.event_id, booking.ticket_type_id, booking.quantity);
    super::allocation::insert_tickets(conn, &tickets).await?;
    super::outbox::enqueue(conn, super::outbox::Kind::BookingConfirmed, &[booking.id]).await?;
    crate::webhooks::events::bookings(conn, "booking.confirmed", &[booking.id]).await?;
    // A waiting-list offer taken: the entry is done.
    super::waiting::close_offers(conn, &[booking.id]).await?;
    super::allocation::announce_final(conn, &[booking.id]).await
}

/// Notes a reason on a booking that keeps its status (a late payment refunded).
pub async fn set_reason(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE bookings SET reason = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn has_checked_in_ticket(conn: &mut PgConnection, booking_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tickets WHERE booking_id = $1 AND status = 'checked_in')")
        .bind(booking_id)
        .fetch_one(conn)
        .await
}

/// Cancels every held and confirmed booking of an event (the event was
/// cancelled), returning the seats and refunding what was paid; returns the
/// ids of the bookings cancelled.
pub async fn cancel_all_of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    // Lock the event's ticket types first, in id order, like the worker does.
    sqlx::query("SELECT id FROM ticket_types WHERE event_id = $1 ORDER BY id FOR UPDATE")
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    let cancelled: Vec<(Uuid, Uuid, i32)> = sqlx::query_as(
        "UPDATE bookings SET status = 'cancelled', reason = 'event_cancelled', updated_at = now()
         WHERE event_id = $1 AND status IN ('held', 'confirmed')
         RETURNING id, ticket_type_id, quantity",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<Uuid> = cancelled.iter().map(|(id, _, _)| *id).collect();
    // Checked-in tickets too: the event is off, and an undone check-in must
    // not bring one back to `valid`.
    sqlx::query("UPDATE tickets SET status = 'void' WHERE booking_id = ANY($1) AND status <> 'void'")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    let mut seats: HashMap<Uuid, i32> = HashMap::new();
    for (_, tt, quantity) in &cancelled {
        *seats.entry(*tt).or_default() += quantity;
    }
    let (tts, counts): (Vec<Uuid>, Vec<i32>) = seats.into_iter().map(|(tt, n)| (tt, -n)).unzip();
    super::allocation::take_seats(&mut *conn, &tts, &counts).await?;
    super::payments::refund_bookings(conn, &ids, "event_cancelled").await?;
    Ok(ids)
}

/// A buyer's unpaid holds in an event, and when their latest hold of a
/// ticket type ran out unpaid: what the accept path checks before queueing a
/// priced request (the worker decides again under its locks).
pub async fn hold_standing(
    conn: &mut PgConnection,
    user_id: Uuid,
    event_id: Uuid,
    ticket_type_id: Uuid,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM bookings WHERE user_id = $1 AND event_id = $2 AND status = 'held'),
                (SELECT max(updated_at) FROM bookings
                 WHERE user_id = $1 AND ticket_type_id = $3 AND status = 'expired' AND reason = 'hold_expired')",
    )
    .bind(user_id)
    .bind(event_id)
    .bind(ticket_type_id)
    .fetch_one(conn)
    .await
}

/// Holds past their expiry, oldest first, at most `limit`: (booking, ticket type).
pub async fn due_holds(conn: &mut PgConnection, limit: i64) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ticket_type_id FROM bookings WHERE status = 'held' AND expires_at <= now()
         ORDER BY expires_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Expires those of `ids` still held and due (a hold paid or cancelled
/// meanwhile is not): (booking, ticket type, seats) of each.
pub async fn expire_holds(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid, i32)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE bookings SET status = 'expired', reason = 'hold_expired', updated_at = now()
         WHERE id = ANY($1) AND status = 'held' AND expires_at <= now()
         RETURNING id, ticket_type_id, quantity",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}
