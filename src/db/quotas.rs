//! The `quotas` table: capacities shared by several ticket types of an event.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub const NAME_TAKEN: &str = "quotas_event_name_key";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuotaRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub capacity: i32,
    pub remaining: i32,
    pub ticket_type_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "q.id, q.event_id, q.name, q.capacity, q.remaining,
    ARRAY(SELECT qt.ticket_type_id FROM quota_ticket_types qt WHERE qt.quota_id = q.id ORDER BY qt.ticket_type_id)
        AS ticket_type_ids, q.created_at";

/// Seats of `ticket_type_ids` held or confirmed now (what a new quota over
/// them has given already). The caller holds the types' locks.
pub async fn taken(conn: &mut PgConnection, ticket_type_ids: &[Uuid]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM bookings
         WHERE ticket_type_id = ANY($1) AND status IN ('held', 'confirmed')",
    )
    .bind(ticket_type_ids)
    .fetch_one(conn)
    .await
}

pub async fn insert(
    conn: &mut PgConnection,
    event_id: Uuid,
    name: &str,
    capacity: i32,
    remaining: i32,
    ticket_type_ids: &[Uuid],
) -> Result<QuotaRow, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "WITH q AS (INSERT INTO quotas (id, event_id, name, capacity, remaining) VALUES ($1, $2, $3, $4, $5))
         INSERT INTO quota_ticket_types (quota_id, ticket_type_id) SELECT $1, t FROM UNNEST($6::uuid[]) AS t",
    )
    .bind(id)
    .bind(event_id)
    .bind(name)
    .bind(capacity)
    .bind(remaining)
    .bind(ticket_type_ids)
    .execute(&mut *conn)
    .await?;
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM quotas q WHERE q.id = $1")).bind(id).fetch_one(conn).await
}

pub async fn of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<QuotaRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM quotas q WHERE q.event_id = $1 ORDER BY q.id"))
        .bind(event_id)
        .fetch_all(conn)
        .await
}

/// `ticket_type_ids` and every ticket type sharing a quota with one of
/// them, in id order: whose sales seats coming back to a quota reopen (and
/// whose waiting lists they are offered to).
pub async fn sharing(conn: &mut PgConnection, ticket_type_ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM (SELECT UNNEST($1::uuid[]) AS id
                         UNION SELECT other.ticket_type_id FROM quota_ticket_types qt
                               JOIN quota_ticket_types other ON other.quota_id = qt.quota_id
                               WHERE qt.ticket_type_id = ANY($1)) t
         ORDER BY id",
    )
    .bind(ticket_type_ids)
    .fetch_all(conn)
    .await
}
