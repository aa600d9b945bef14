//! The `messages` table and the people a message goes to.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::message::Audience;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub author_name: Option<String>,
    pub audience: String,
    pub ticket_type_id: Option<Uuid>,
    pub subject: String,
    pub body: String,
    pub recipients: i32,
    pub created_at: DateTime<Utc>,
    /// Emails sent so far, and given up on.
    pub sent: i64,
    pub failed: i64,
}

/// The SQL selecting the recipients (user ids) of an audience: `$1` the
/// event, `$2` the ticket type (for `ticket_type`).
fn recipients_sql(audience: Audience) -> &'static str {
    match audience {
        Audience::All => "SELECT DISTINCT user_id FROM bookings WHERE event_id = $1 AND status = 'confirmed'",
        Audience::TicketType => {
            "SELECT DISTINCT user_id FROM bookings WHERE event_id = $1 AND status = 'confirmed' AND ticket_type_id = $2"
        }
        Audience::CheckedIn => {
            "SELECT DISTINCT b.user_id FROM bookings b JOIN tickets t ON t.booking_id = b.id
             WHERE b.event_id = $1 AND b.status = 'confirmed' AND t.status = 'checked_in'"
        }
        Audience::NotCheckedIn => {
            "SELECT DISTINCT b.user_id FROM bookings b WHERE b.event_id = $1 AND b.status = 'confirmed'
               AND NOT EXISTS (SELECT 1 FROM bookings o JOIN tickets t ON t.booking_id = o.id
                               WHERE o.event_id = $1 AND o.user_id = b.user_id AND t.status = 'checked_in')"
        }
        Audience::WaitingList => "SELECT DISTINCT user_id FROM waiting_list WHERE event_id = $1 AND status = 'waiting'",
    }
}

/// How many people `audience` reaches now, and one of them (for a preview).
pub async fn audience_of(
    conn: &mut PgConnection,
    event_id: Uuid,
    audience: Audience,
    ticket_type_id: Option<Uuid>,
) -> Result<(i64, Option<Uuid>), sqlx::Error> {
    let sql = format!("WITH r AS ({}) SELECT count(*), min(user_id::text)::uuid FROM r", recipients_sql(audience));
    sqlx::query_as(&sql).bind(event_id).bind(ticket_type_id).fetch_one(conn).await
}

pub struct NewMessage<'a> {
    pub event_id: Uuid,
    pub author_id: Uuid,
    pub audience: Audience,
    pub ticket_type_id: Option<Uuid>,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Writes the message and queues one email per person of its audience, in
/// the caller's transaction; how many.
pub async fn insert_and_queue(conn: &mut PgConnection, new: &NewMessage<'_>) -> Result<(Uuid, i64), sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, event_id, author_id, audience, ticket_type_id, subject, body, recipients)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
    )
    .bind(id)
    .bind(new.event_id)
    .bind(new.author_id)
    .bind(new.audience.as_str())
    .bind(new.ticket_type_id)
    .bind(new.subject)
    .bind(new.body)
    .execute(&mut *conn)
    .await?;
    let queued = sqlx::query(&format!(
        "INSERT INTO outbox (id, kind, user_id, message_id)
         SELECT gen_random_uuid(), 'attendee_message', r.user_id, $3 FROM ({}) r
         ON CONFLICT DO NOTHING",
        recipients_sql(new.audience)
    ))
    .bind(new.event_id)
    .bind(new.ticket_type_id)
    .bind(id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let count = i64::try_from(queued).unwrap_or(i64::MAX);
    sqlx::query("UPDATE messages SET recipients = $2 WHERE id = $1")
        .bind(id)
        .bind(i32::try_from(count).unwrap_or(i32::MAX))
        .execute(conn)
        .await?;
    Ok((id, count))
}

/// An event's messages, newest first, with how many went and failed.
pub async fn of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.id, m.event_id, u.name AS author_name, m.audience, m.ticket_type_id, m.subject, m.body,
                m.recipients, m.created_at,
                (SELECT count(*) FROM outbox o WHERE o.message_id = m.id AND o.status = 'sent') AS sent,
                (SELECT count(*) FROM outbox o WHERE o.message_id = m.id AND o.status IN ('failed', 'skipped')) AS failed
         FROM messages m LEFT JOIN users u ON u.id = m.author_id
         WHERE m.event_id = $1 ORDER BY m.created_at DESC LIMIT 100",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}

/// What one person's copy of a message says: the text, their name, the
/// event and their bookings' references.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageMail {
    pub subject: String,
    pub body: String,
    pub event_title: String,
    pub name: String,
    pub email: String,
    pub verified: bool,
    pub numbers: Vec<i64>,
}

pub async fn mail(
    conn: &mut PgConnection,
    message_id: Uuid,
    user_id: Uuid,
) -> Result<Option<MessageMail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.subject, m.body, e.title AS event_title, u.name, u.email,
                u.email_verified_at IS NOT NULL AS verified,
                coalesce((SELECT array_agg(b.number ORDER BY b.created_at) FROM bookings b
                          WHERE b.event_id = m.event_id AND b.user_id = u.id AND b.status = 'confirmed'),
                         '{}') AS numbers
         FROM messages m JOIN events e ON e.id = m.event_id, users u
         WHERE m.id = $1 AND u.id = $2",
    )
    .bind(message_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}
