//! Scans made at the door offline, applied when they come in, and the
//! event's check-in lists.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CheckinListRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub ticket_type_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn lists_of(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<CheckinListRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, name, ticket_type_ids, created_at FROM checkin_lists WHERE event_id = $1 ORDER BY name",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}

pub async fn find_list(
    conn: &mut PgConnection,
    event_id: Uuid,
    id: Uuid,
) -> Result<Option<CheckinListRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_id, name, ticket_type_ids, created_at FROM checkin_lists WHERE event_id = $1 AND id = $2",
    )
    .bind(event_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// A new list; `None` when the event has one of that name.
pub async fn insert_list(
    conn: &mut PgConnection,
    event_id: Uuid,
    name: &str,
    ticket_type_ids: &[Uuid],
) -> Result<Option<CheckinListRow>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO checkin_lists (id, event_id, name, ticket_type_ids) VALUES ($1, $2, $3, $4)
         ON CONFLICT (event_id, name) DO NOTHING
         RETURNING id, event_id, name, ticket_type_ids, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(name)
    .bind(ticket_type_ids)
    .fetch_optional(conn)
    .await
}

/// What became of one scan.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScanRow {
    pub nonce: String,
    pub outcome: String,
    pub ticket_code: Option<String>,
    pub scanned_at: DateTime<Utc>,
    pub gate: Option<String>,
}

/// The scan `nonce` of `device_id`, if it came in before.
pub async fn find_scan(
    conn: &mut PgConnection,
    event_id: Uuid,
    device_id: &str,
    nonce: &str,
) -> Result<Option<ScanRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT nonce, outcome, ticket_code, scanned_at, gate FROM door_scans
         WHERE event_id = $1 AND device_id = $2 AND nonce = $3",
    )
    .bind(event_id)
    .bind(device_id)
    .bind(nonce)
    .fetch_optional(conn)
    .await
}

pub struct NewScan<'a> {
    pub event_id: Uuid,
    pub device_id: &'a str,
    pub nonce: &'a str,
    pub gate: Option<&'a str>,
    pub list_id: Option<Uuid>,
    pub ticket_code: Option<&'a str>,
    pub scanned_at: DateTime<Utc>,
    pub outcome: &'a str,
}

/// Records a scan; false when its nonce came in already (a retried upload).
pub async fn insert_scan(conn: &mut PgConnection, scan: &NewScan<'_>) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO door_scans (id, event_id, device_id, nonce, gate, list_id, ticket_code, scanned_at, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id, device_id, nonce) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(scan.event_id)
    .bind(scan.device_id)
    .bind(scan.nonce)
    .bind(scan.gate)
    .bind(scan.list_id)
    .bind(scan.ticket_code)
    .bind(scan.scanned_at)
    .bind(scan.outcome)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A ticket as the door sees it, locked for the scan's decision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DoorTicket {
    pub code: String,
    pub status: String,
    pub booking_id: Uuid,
    pub position: i32,
    pub ticket_type_id: Uuid,
    pub ticket_type: String,
    pub holder: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_in_gate: Option<String>,
    pub checked_in_device: Option<String>,
}

pub async fn lock_ticket(
    conn: &mut PgConnection,
    event_id: Uuid,
    code: &str,
) -> Result<Option<DoorTicket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.code, t.status, t.booking_id, t.position, t.ticket_type_id, tt.name AS ticket_type,
                coalesce(a.name, u.name) AS holder,
                t.checked_in_at, t.checked_in_gate, t.checked_in_device
         FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN users u ON u.id = b.user_id
         JOIN ticket_types tt ON tt.id = t.ticket_type_id
         LEFT JOIN attendees a ON a.booking_id = t.booking_id AND a.ticket_index = t.position
         WHERE t.code = $1 AND t.event_id = $2
         FOR UPDATE OF t",
    )
    .bind(code)
    .bind(event_id)
    .fetch_optional(conn)
    .await
}

/// Locks the tickets of `codes` (of the event) in code order.
pub async fn lock_tickets(conn: &mut PgConnection, event_id: Uuid, codes: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT code FROM tickets WHERE event_id = $1 AND code = ANY($2) ORDER BY code FOR UPDATE")
        .bind(event_id)
        .bind(codes)
        .fetch_all(conn)
        .await?;
    Ok(())
}

/// Admits the ticket by this scan: when, where, by which device.
pub async fn admit(
    conn: &mut PgConnection,
    code: &str,
    at: DateTime<Utc>,
    gate: Option<&str>,
    device: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET status = 'checked_in', checked_in_at = $2, checked_in_gate = $3, checked_in_device = $4
         WHERE code = $1",
    )
    .bind(code)
    .bind(at)
    .bind(gate)
    .bind(device)
    .execute(conn)
    .await?;
    Ok(())
}

/// An earlier scan came in after a later one admitted the ticket: the
/// later one becomes the duplicate.
pub async fn demote_admission(conn: &mut PgConnection, code: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE door_scans SET outcome = 'duplicate' WHERE ticket_code = $1 AND outcome = 'admitted'")
        .bind(code)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every ticket of the event the door may see offline: the SHA-256 of its
/// code (the code itself stays on the server), holder, type, status.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OfflineTicket {
    pub code: String,
    pub holder: String,
    pub ticket_type_id: Uuid,
    pub ticket_type: String,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_in_gate: Option<String>,
}

pub async fn offline_list(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<OfflineTicket>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.code, CASE WHEN t.status = 'void' THEN '' ELSE coalesce(a.name, u.name) END AS holder,
                t.ticket_type_id,
                tt.name AS ticket_type, t.status, t.checked_in_at, t.checked_in_gate
         FROM tickets t JOIN bookings b ON b.id = t.booking_id JOIN users u ON u.id = b.user_id
         JOIN ticket_types tt ON tt.id = t.ticket_type_id
         LEFT JOIN attendees a ON a.booking_id = t.booking_id AND a.ticket_index = t.position
         WHERE t.event_id = $1 AND b.status IN ('confirmed', 'cancelled')",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}
