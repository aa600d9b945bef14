//! The `bookings` and `tickets` tables.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::booking::AcceptedRequest;
use crate::domain::booking::BookingStatus;

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
    super::allocation::take_seats(conn, &tts, &counts).await?;
    Ok(ids)
}
