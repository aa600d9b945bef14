//! What the emails show, read for the mailer: a booking with its buyer,
//! event and tickets; an account.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// What an email about one booking shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingMail {
    pub booking_id: Uuid,
    /// The booking's number, behind its reference.
    pub number: i64,
    /// The booking's status now (a confirmation is not sent once cancelled).
    pub status: String,
    pub quantity: i32,
    pub email: String,
    pub name: String,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// The event's zone: every time in its emails is written there.
    pub timezone: String,
    pub ticket_type: String,
    /// Whether the buyer's address is verified (unverified ones get no
    /// booking emails while verification is required).
    pub verified: bool,
    /// When a hold (a waiting-list offer) runs out.
    pub expires_at: Option<DateTime<Utc>>,
    /// The newest refund that reached the buyer, and its currency.
    pub refunded_cents: Option<i64>,
    pub currency: Option<String>,
    #[sqlx(skip)]
    pub tickets: Vec<String>,
    /// The tickets as a PDF, for the confirmation (made by the mailer).
    #[sqlx(skip)]
    pub tickets_pdf: Option<Vec<u8>>,
    /// A paid booking's invoice, as (number, PDF), for the confirmation.
    #[sqlx(skip)]
    pub invoice_pdf: Option<(String, Vec<u8>)>,
}

/// What an email about an account needs. Not its name: anyone can register
/// anyone's address, so the verification email carries no text a stranger wrote.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountMail {
    pub email: String,
    pub verified: bool,
}

/// The account an email is about; `None` if it no longer exists.
pub async fn account(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<AccountMail>, sqlx::Error> {
    sqlx::query_as("SELECT email, email_verified_at IS NOT NULL AS verified FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// What an invitation email says.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct InvitationMail {
    pub organization: String,
    pub inviter: String,
    pub role: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Who a message to an event's people comes from: its organization.
pub async fn organizer_of_message(conn: &mut PgConnection, message_id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT o.name FROM messages m JOIN events e ON e.id = m.event_id JOIN organizations o ON o.id = e.organization_id
         WHERE m.id = $1",
    )
    .bind(message_id)
    .fetch_optional(conn)
    .await
    .map(Option::unwrap_or_default)
}

/// What a "webhook disabled" email says.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookDisabledMail {
    pub organization_id: Uuid,
    pub organization: String,
    pub url: String,
    pub reason: Option<String>,
}

/// Endpoint `id` with its organization's name.
pub async fn webhook_endpoint(conn: &mut PgConnection, id: Uuid) -> Result<Option<WebhookDisabledMail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.id AS organization_id, o.name AS organization, w.url, w.disabled_reason AS reason
           FROM webhook_endpoints w JOIN organizations o ON o.id = w.organization_id WHERE w.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The invitation `id` with its organization and who sent it.
pub async fn invitation(conn: &mut PgConnection, id: Uuid) -> Result<Option<InvitationMail>, sqlx::Error> {
    sqlx::query_as(
        "SELECT o.name AS organization, u.name AS inviter, i.role, i.expires_at
           FROM invitations i JOIN organizations o ON o.id = i.organization_id JOIN users u ON u.id = i.invited_by
          WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The booking, its buyer, event and tickets; `None` if the booking or its
/// event no longer exists.
pub async fn booking(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<BookingMail>, sqlx::Error> {
    let mail: Option<BookingMail> = sqlx::query_as(
        "SELECT b.id AS booking_id, b.number, b.status, b.quantity, u.email, u.name, e.title, e.venue, e.starts_at, e.ends_at, e.timezone,
                t.name AS ticket_type, u.email_verified_at IS NOT NULL AS verified,
                (SELECT r.amount_cents FROM refunds r WHERE r.booking_id = b.id AND r.status = 'succeeded'
                  ORDER BY r.created_at DESC LIMIT 1) AS refunded_cents,
                b.currency, b.expires_at
         FROM bookings b
         JOIN users u ON u.id = b.user_id
         JOIN events e ON e.id = b.event_id
         JOIN ticket_types t ON t.id = b.ticket_type_id
         WHERE b.id = $1",
    )
    .bind(booking_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut mail) = mail else { return Ok(None) };
    mail.tickets = sqlx::query_scalar("SELECT code FROM tickets WHERE booking_id = $1 ORDER BY created_at, code")
        .bind(booking_id)
        .fetch_all(conn)
        .await?;
    Ok(Some(mail))
}
