//! The `bookings` and `tickets` tables.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::booking::AcceptedRequest;
use crate::domain::booking::BookingStatus;
use crate::domain::event::{EventStatus, Schedule};

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
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub code: String,
    pub booking_id: Uuid,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
}

pub const IDEMPOTENCY_KEY_TAKEN: &str = "bookings_idempotency_key";

const BOOKING_COLUMNS: &str = "id, user_id, event_id, ticket_type_id, quantity, status, reason, idempotency_key, accepted_at, created_at, updated_at";

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Locks a ticket type row (before any booking row: the lock order of every
/// transaction that touches both).
pub async fn lock_ticket_type(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM ticket_types WHERE id = $1 FOR UPDATE").bind(id).execute(conn).await?;
    Ok(())
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
        "SELECT code, booking_id, status, checked_in_at FROM tickets WHERE booking_id = ANY($1) ORDER BY booking_id, code",
    )
    .bind(booking_ids)
    .fetch_all(conn)
    .await
}

/// Records an accepted booking as pending in PostgreSQL (the path taken
/// while Redis is down); the unique key constraint is then the idempotency check.
pub async fn insert_pending(conn: &mut PgConnection, m: &AcceptedRequest) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, idempotency_key, accepted_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7)",
    )
    .bind(m.booking_id)
    .bind(m.user_id)
    .bind(m.event_id)
    .bind(m.ticket_type_id)
    .bind(m.quantity)
    .bind(&m.idempotency_key)
    .bind(m.accepted_at)
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
                                        updated_at = now()
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

// --- allocation (the worker's batch transaction) ---

/// Which of `ids` are already decided: a redelivered message finds its booking here.
pub async fn already_final(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM bookings WHERE id = ANY($1) AND status <> 'pending'")
        .bind(ids)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Which (user, key) pairs already belong to a booking, and to which.
pub async fn keys_taken(
    conn: &mut PgConnection,
    users: &[Uuid],
    keys: &[String],
) -> Result<HashMap<(Uuid, String), Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
        "SELECT b.user_id, b.idempotency_key, b.id
         FROM bookings b JOIN UNNEST($1::uuid[], $2::text[]) AS k (user_id, key)
           ON b.user_id = k.user_id AND b.idempotency_key = k.key",
    )
    .bind(users)
    .bind(keys)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(user, key, id)| ((user, key), id)).collect())
}

/// A ticket type locked for allocation, with what decides whether it sells.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedTicketType {
    pub id: Uuid,
    pub event_id: Uuid,
    pub remaining: i32,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    pub price_cents: i64,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
}

impl LockedTicketType {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
        }
    }
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

/// Seats that `users` own of `ticket_type_ids` (confirmed bookings), by
/// (ticket type, user). Read under the ticket types' locks, so it cannot
/// change before the batch commits.
pub async fn seats_owned(
    conn: &mut PgConnection,
    ticket_type_ids: &[Uuid],
    users: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_type_id, user_id, sum(quantity)::bigint FROM bookings
         WHERE user_id = ANY($2) AND ticket_type_id = ANY($1) AND status = 'confirmed'
         GROUP BY ticket_type_id, user_id",
    )
    .bind(ticket_type_ids)
    .bind(users)
    .fetch_all(conn)
    .await
}

/// Locks the ticket types in id order, so concurrent workers (and
/// cancellations) always take the locks in the same order and never deadlock.
///
/// The event's status is read by a second statement, after the locks are
/// held: a statement that waited for a lock still sees the rows of other
/// tables as they were when it started, and an event cancelled meanwhile
/// (its cancellation holds these locks) would look published.
pub async fn lock_ticket_types(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<LockedTicketType>, sqlx::Error> {
    sqlx::query("SELECT id FROM ticket_types WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(
        "SELECT t.id, t.event_id, t.remaining, t.max_per_order, t.max_per_buyer, t.price_cents, t.currency,
                e.status AS event_status, e.starts_at, e.ends_at, e.sales_start, e.sales_end, e.published_at
         FROM ticket_types t JOIN events e ON e.id = t.event_id
         WHERE t.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// The decided bookings of a batch, column by column (one multi-row statement).
#[derive(Debug, Default)]
pub struct Outcomes {
    pub ids: Vec<Uuid>,
    pub user_ids: Vec<Uuid>,
    pub event_ids: Vec<Uuid>,
    pub ticket_type_ids: Vec<Uuid>,
    pub quantities: Vec<i32>,
    pub statuses: Vec<&'static str>,
    pub reasons: Vec<Option<&'static str>>,
    pub unit_prices: Vec<Option<i64>>,
    pub currencies: Vec<Option<String>>,
    pub keys: Vec<Option<String>>,
    pub accepted_at: Vec<DateTime<Utc>>,
}

/// Writes decided bookings; a row already pending (written by the API while
/// Redis was down) is finalised, a decided one is never touched again.
/// Returns how many rows were written (fewer: some were decided already).
pub async fn write_outcomes(conn: &mut PgConnection, o: &Outcomes) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, reason,
                               unit_price_cents, currency, idempotency_key, accepted_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::text[],
                              $8::bigint[], $9::text[], $10::text[], $11::timestamptz[])
         ON CONFLICT (id) DO UPDATE
            SET status = EXCLUDED.status, reason = EXCLUDED.reason, unit_price_cents = EXCLUDED.unit_price_cents,
                currency = EXCLUDED.currency, updated_at = now()
          WHERE bookings.status = 'pending'",
    )
    .bind(&o.ids)
    .bind(&o.user_ids)
    .bind(&o.event_ids)
    .bind(&o.ticket_type_ids)
    .bind(&o.quantities)
    .bind(&o.statuses)
    .bind(&o.reasons)
    .bind(&o.unit_prices)
    .bind(&o.currencies)
    .bind(&o.keys)
    .bind(&o.accepted_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// The channel on which decided bookings are announced.
pub const FINAL_CHANNEL: &str = "booking_final";
/// Ids per notification: 150 × 37 bytes stays well under NOTIFY's 8000-byte payload.
const IDS_PER_NOTIFY: usize = 150;

/// Announces, when the caller's transaction commits, that these bookings are final.
pub async fn announce_final(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = ids
        .chunks(IDS_PER_NOTIFY)
        .map(|chunk| chunk.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
        .collect();
    sqlx::query("SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS payload")
        .bind(FINAL_CHANNEL)
        .bind(&payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes `seats[i]` seats from ticket type `ids[i]`.
pub async fn take_seats(conn: &mut PgConnection, ids: &[Uuid], seats: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ticket_types t SET remaining = t.remaining - s.seats, updated_at = now()
         FROM UNNEST($1::uuid[], $2::int[]) AS s (id, seats) WHERE t.id = s.id",
    )
    .bind(ids)
    .bind(seats)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tickets of a batch, column by column.
#[derive(Debug, Default)]
pub struct NewTickets {
    pub codes: Vec<String>,
    pub booking_ids: Vec<Uuid>,
    pub event_ids: Vec<Uuid>,
    pub ticket_type_ids: Vec<Uuid>,
}

pub async fn insert_tickets(conn: &mut PgConnection, t: &NewTickets) -> Result<(), sqlx::Error> {
    if t.codes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tickets (code, booking_id, event_id, ticket_type_id)
         SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::uuid[])",
    )
    .bind(&t.codes)
    .bind(&t.booking_ids)
    .bind(&t.event_ids)
    .bind(&t.ticket_type_ids)
    .execute(conn)
    .await?;
    Ok(())
}

// --- cancellation ---

/// Cancels a confirmed booking: its tickets turn void (a checked-in one too,
/// so undoing that check-in cannot revive it) and its seats go back.
/// The caller holds the booking's row lock.
pub async fn cancel(conn: &mut PgConnection, booking: &BookingRow, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH b AS (UPDATE bookings SET status = 'cancelled', reason = $2, updated_at = now() WHERE id = $1),
              t AS (UPDATE tickets SET status = 'void' WHERE booking_id = $1 AND status <> 'void')
         UPDATE ticket_types SET remaining = remaining + $3, updated_at = now() WHERE id = $4",
    )
    .bind(booking.id)
    .bind(reason)
    .bind(booking.quantity)
    .bind(booking.ticket_type_id)
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

/// Cancels every confirmed booking of an event (the event was cancelled),
/// returning the seats; returns the ids of the bookings cancelled.
pub async fn cancel_all_of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    // Lock the event's ticket types first, in id order, like the worker does.
    sqlx::query("SELECT id FROM ticket_types WHERE event_id = $1 ORDER BY id FOR UPDATE")
        .bind(event_id)
        .execute(&mut *conn)
        .await?;
    let cancelled: Vec<(Uuid, Uuid, i32)> = sqlx::query_as(
        "UPDATE bookings SET status = 'cancelled', reason = 'event_cancelled', updated_at = now()
         WHERE event_id = $1 AND status = 'confirmed'
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
    take_seats(conn, &tts, &counts).await?;
    Ok(ids)
}
