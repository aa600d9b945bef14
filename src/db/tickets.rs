//! Tickets at the door: reading one, checking it in, the attendee list, stats.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// A ticket with what its page shows and who may see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketView {
    pub code: String,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub booking_id: Uuid,
    pub owner_id: Uuid,
    /// The holder: the name given for this ticket, else the buyer's.
    pub attendee_name: String,
    /// Its place in the booking (the answers given for it have this index).
    pub position: i32,
    pub ticket_type_id: Uuid,
    pub ticket_type_name: String,
    pub event_id: Uuid,
    pub event_title: String,
    pub event_venue: String,
    pub event_starts_at: DateTime<Utc>,
    /// The event's organization.
    pub organization_id: Uuid,
}

pub async fn find(conn: &mut PgConnection, code: &str) -> Result<Option<TicketView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.code, t.status, t.checked_in_at, t.booking_id, b.user_id AS owner_id,
                coalesce(a.name, u.name) AS attendee_name, t.position,
                tt.id AS ticket_type_id, tt.name AS ticket_type_name, e.id AS event_id, e.title AS event_title,
                e.venue AS event_venue, e.starts_at AS event_starts_at, e.organization_id
         FROM tickets t
         JOIN bookings b ON b.id = t.booking_id
         JOIN users u ON u.id = b.user_id
         LEFT JOIN attendees a ON a.booking_id = t.booking_id AND a.ticket_index = t.position
         JOIN ticket_types tt ON tt.id = t.ticket_type_id
         JOIN events e ON e.id = t.event_id
         WHERE t.code = $1",
    )
    .bind(code)
    .fetch_optional(conn)
    .await
}

/// What a scan at the door found.
#[derive(Debug)]
pub enum CheckIn {
    /// First scan: now checked in.
    Admitted(Box<TicketView>),
    /// Scanned before, at this time.
    Already(DateTime<Utc>),
    /// The booking was cancelled.
    Void,
    /// No such ticket for this event.
    Unknown,
}

/// Checks a ticket of `event_id` in. Of many concurrent scans of one code,
/// exactly one is admitted: the update only takes a still valid ticket, and
/// the others, waiting on its row lock, then find it checked in. The booking
/// row is share-locked first so a cancellation in flight (which holds it) is
/// either seen whole or not at all.
pub async fn check_in(conn: &mut PgConnection, event_id: Uuid, code: &str) -> Result<CheckIn, sqlx::Error> {
    let found: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT t.status, t.checked_in_at FROM tickets t JOIN bookings b ON b.id = t.booking_id
         WHERE t.code = $1 AND t.event_id = $2 FOR SHARE OF b",
    )
    .bind(code)
    .bind(event_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((status, checked_in_at)) = found else { return Ok(CheckIn::Unknown) };
    match status.as_str() {
        "void" => return Ok(CheckIn::Void),
        "checked_in" => return Ok(CheckIn::Already(checked_in_at.unwrap_or_default())),
        _ => {}
    }
    let admitted = sqlx::query(
        "UPDATE tickets SET status = 'checked_in', checked_in_at = now(), checked_in_gate = NULL, checked_in_device = NULL
         WHERE code = $1 AND status = 'valid'",
    )
    .bind(code)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let Some(ticket) = find(conn, code).await? else { return Ok(CheckIn::Unknown) };
    if admitted == 1 {
        return Ok(CheckIn::Admitted(Box::new(ticket)));
    }
    Ok(match ticket.status.as_str() {
        "void" => CheckIn::Void,
        _ => CheckIn::Already(ticket.checked_in_at.unwrap_or_default()),
    })
}

/// Undoes a check-in (a mistaken scan): the ticket is valid again — only
/// ever a ticket of a booking that still stands. (A cancellation voids the
/// ticket rows it cancels, so one racing with this update is seen whole.)
pub async fn undo_check_in(conn: &mut PgConnection, event_id: Uuid, code: &str) -> Result<bool, sqlx::Error> {
    let undone = sqlx::query(
        "UPDATE tickets t SET status = 'valid', checked_in_at = NULL, checked_in_gate = NULL, checked_in_device = NULL
         FROM bookings b
         WHERE t.code = $1 AND t.event_id = $2 AND t.status = 'checked_in'
           AND b.id = t.booking_id AND b.status = 'confirmed'",
    )
    .bind(code)
    .bind(event_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(undone == 1)
}

/// One row of the attendee list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttendeeRow {
    pub ticket_code: String,
    pub ticket_type: String,
    /// The holder: the name given for this ticket, else the buyer's.
    pub attendee_name: String,
    /// The buyer's address.
    pub attendee_email: String,
    pub booking_id: Uuid,
    /// Its place in the booking (the answers given for it have this index).
    pub position: i32,
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// Where a page of the attendee list ends: the next page starts after it.
#[derive(Debug, Clone)]
pub struct AttendeeCursor {
    pub ticket_type: String,
    pub attendee_name: String,
    pub ticket_code: String,
}

impl AttendeeRow {
    pub fn cursor(&self) -> AttendeeCursor {
        AttendeeCursor {
            ticket_type: self.ticket_type.clone(),
            attendee_name: self.attendee_name.clone(),
            ticket_code: self.ticket_code.clone(),
        }
    }
}

/// Every ticket of an event with its attendee (an [`AttendeeRow`] each).
const ATTENDEES: &str =
    "SELECT t.code AS ticket_code, tt.name AS ticket_type, coalesce(a.name, u.name) AS attendee_name,
                u.email AS attendee_email, t.booking_id, t.position, t.status, t.checked_in_at
         FROM tickets t
         JOIN bookings b ON b.id = t.booking_id
         JOIN users u ON u.id = b.user_id
         LEFT JOIN attendees a ON a.booking_id = t.booking_id AND a.ticket_index = t.position
         JOIN ticket_types tt ON tt.id = t.ticket_type_id";

/// One page of the attendee list, by ticket type, attendee and code, after
/// `after`. Read whole, so the connection goes back to the pool before the
/// page is sent to a client that may be slow.
pub async fn attendees_page(
    pool: &sqlx::PgPool,
    event_id: Uuid,
    after: Option<&AttendeeCursor>,
    limit: i64,
) -> Result<Vec<AttendeeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{ATTENDEES}
         WHERE t.event_id = $1 AND ($2::text IS NULL OR (tt.name, coalesce(a.name, u.name), t.code) > ($2, $3, $4))
         ORDER BY tt.name, coalesce(a.name, u.name), t.code
         LIMIT $5"
    ))
    .bind(event_id)
    .bind(after.map(|c| &c.ticket_type))
    .bind(after.map(|c| &c.attendee_name))
    .bind(after.map(|c| &c.ticket_code))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Sales figures of one ticket type.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketTypeStats {
    pub ticket_type_id: Uuid,
    pub name: String,
    pub capacity: i64,
    pub remaining: i64,
    pub currency: String,
    pub cancelled: i64,
    pub checked_in: i64,
    /// Paid minus refunded (refunds on their way count as refunded).
    pub revenue_cents: i64,
    pub pending_stored: i64,
    /// Seats held for a payment.
    pub held: i64,
}

pub async fn stats(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<TicketTypeStats>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS ticket_type_id, t.name, t.capacity::bigint, t.remaining::bigint, t.currency,
                coalesce(b.cancelled, 0) AS cancelled, coalesce(c.checked_in, 0) AS checked_in,
                coalesce(m.paid, 0) - coalesce(m.refunded, 0) AS revenue_cents,
                coalesce(b.pending, 0) AS pending_stored, coalesce(b.held, 0) AS held
         FROM ticket_types t
         LEFT JOIN (SELECT ticket_type_id,
                           -- Seats given back: a request that left the line never had any.
                           sum(quantity) FILTER (WHERE status = 'cancelled'
                                                   AND reason IS DISTINCT FROM 'left_line')::bigint AS cancelled,
                           sum(quantity) FILTER (WHERE status = 'held')::bigint AS held,
                           count(*) FILTER (WHERE status = 'pending') AS pending
                    FROM bookings WHERE event_id = $1 GROUP BY ticket_type_id) b ON b.ticket_type_id = t.id
         LEFT JOIN (SELECT b.ticket_type_id,
                           sum(p.amount_cents) FILTER (WHERE p.status = 'succeeded')::bigint AS paid,
                           sum(r.amount_cents) FILTER (WHERE r.status <> 'failed')::bigint AS refunded
                    FROM bookings b JOIN payments p ON p.booking_id = b.id
                    LEFT JOIN refunds r ON r.payment_id = p.id
                    WHERE b.event_id = $1 GROUP BY b.ticket_type_id) m ON m.ticket_type_id = t.id
         LEFT JOIN (SELECT ticket_type_id, count(*) AS checked_in
                    FROM tickets WHERE event_id = $1 AND status = 'checked_in' GROUP BY ticket_type_id) c
                ON c.ticket_type_id = t.id
         WHERE t.event_id = $1
         ORDER BY t.id",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}

/// Attendees whose name, email or ticket code contains `q` (all without
/// one), in the list's order, at most `limit`.
pub async fn attendees_matching(
    pool: &sqlx::PgPool,
    event_id: Uuid,
    q: Option<&str>,
    limit: i64,
) -> Result<Vec<AttendeeRow>, sqlx::Error> {
    let pattern = q.map(super::like_pattern);
    sqlx::query_as(&format!(
        "{ATTENDEES}
         WHERE t.event_id = $1
           AND ($2::text IS NULL OR coalesce(a.name, u.name) ILIKE $2 OR u.name ILIKE $2 OR u.email ILIKE $2
                OR t.code ILIKE $2)
         ORDER BY tt.name, coalesce(a.name, u.name), t.code
         LIMIT $3"
    ))
    .bind(event_id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Seats confirmed per minute (by when each booking was confirmed), oldest
/// first: the back office's chart of sales over time.
pub async fn sold_per_minute(
    conn: &mut PgConnection,
    event_id: Uuid,
) -> Result<Vec<(DateTime<Utc>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT date_trunc('minute', coalesce(b.paid_at, b.updated_at)) AS minute, sum(b.quantity)::bigint
         FROM bookings b
         WHERE b.event_id = $1 AND b.status = 'confirmed'
         GROUP BY 1 ORDER BY 1",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}
