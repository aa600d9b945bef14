//! The `waiting_list` table.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    pub ticket_type_id: Uuid,
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub quantity: i32,
    pub status: String,
    pub booking_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, ticket_type_id, event_id, user_id, quantity, status, booking_id, created_at";

/// One live entry per user and ticket type.
pub const ONE_PER_USER: &str = "waiting_list_one_per_user";

pub async fn join(
    conn: &mut PgConnection,
    ticket_type_id: Uuid,
    event_id: Uuid,
    user_id: Uuid,
    quantity: i32,
) -> Result<EntryRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO waiting_list (id, ticket_type_id, event_id, user_id, quantity) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(ticket_type_id)
    .bind(event_id)
    .bind(user_id)
    .bind(quantity)
    .fetch_one(conn)
    .await
}

/// The user's waiting entry `id` leaves the list; `false` if there is none.
/// (An entry holding an offer ends with it: cancelling the offer's booking.)
pub async fn leave(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let left = sqlx::query(
        "UPDATE waiting_list SET status = 'left', updated_at = now()
         WHERE id = $1 AND user_id = $2 AND status = 'waiting'",
    )
    .bind(id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(left.rows_affected() == 1)
}

/// The user's live entries, newest first.
pub async fn of_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM waiting_list WHERE user_id = $1 AND status IN ('waiting', 'offered') ORDER BY id DESC"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Places of waiting entries in their lists (1 = first), by entry id.
pub async fn positions(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT w.id, (SELECT count(*) FROM waiting_list o
                        WHERE o.ticket_type_id = w.ticket_type_id AND o.status = 'waiting' AND o.id <= w.id)
         FROM waiting_list w WHERE w.id = ANY($1) AND w.status = 'waiting'",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The waiting entries of a ticket type, in order, locked. The caller holds
/// the ticket type's lock (taken first, as everywhere).
pub async fn waiting_locked(conn: &mut PgConnection, ticket_type_id: Uuid) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM waiting_list WHERE ticket_type_id = $1 AND status = 'waiting' ORDER BY id FOR UPDATE"
    ))
    .bind(ticket_type_id)
    .fetch_all(conn)
    .await
}

pub async fn mark_offered(conn: &mut PgConnection, ids: &[Uuid], booking_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE waiting_list w SET status = 'offered', booking_id = o.booking_id, updated_at = now()
         FROM UNNEST($1::uuid[], $2::uuid[]) AS o (id, booking_id) WHERE w.id = o.id",
    )
    .bind(ids)
    .bind(booking_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The offers made as these bookings are over (taken, cancelled, run out).
pub async fn close_offers(conn: &mut PgConnection, booking_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE waiting_list SET status = 'done', updated_at = now() WHERE booking_id = ANY($1) AND status = 'offered'",
    )
    .bind(booking_ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// The event is cancelled: nobody waits for it any more.
pub async fn close_event(conn: &mut PgConnection, event_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE waiting_list SET status = 'done', updated_at = now()
         WHERE event_id = $1 AND status IN ('waiting', 'offered')",
    )
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Waiting entries and their seats, per ticket type of the event.
pub async fn counts(conn: &mut PgConnection, event_id: Uuid) -> Result<HashMap<Uuid, (i64, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT ticket_type_id, count(*), coalesce(sum(quantity), 0)::bigint FROM waiting_list
         WHERE event_id = $1 AND status = 'waiting' GROUP BY ticket_type_id",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(tt, n, seats)| (tt, (n, seats))).collect())
}
