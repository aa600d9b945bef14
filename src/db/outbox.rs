//! The `outbox` table: emails waiting to be sent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// What an outbox row announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BookingConfirmed,
    BookingCancelled,
    EventCancelled,
    /// The link that verifies an account's address (a row about a user).
    EmailVerification,
    /// A refund reached the buyer's card.
    RefundSucceeded,
    /// Seats for a waiting-list entry: an offer to take before it runs out.
    WaitingListOffer,
    /// A link that signs a person in (a row naming the address itself: the
    /// account may not exist yet).
    SignInLink,
    /// An invitation to join an organization (a row naming the address and
    /// the invitation).
    Invitation,
    /// A webhook endpoint was disabled after days of failures (a row per
    /// owner, naming the address and the endpoint).
    WebhookDisabled,
    /// An organizer's message to an event's people (a row per person,
    /// naming them and the message).
    AttendeeMessage,
}

impl Kind {
    /// Someone waits on this email to act (see [`claim_due_urgent`]).
    pub fn is_urgent(self) -> bool {
        matches!(self, Self::EmailVerification | Self::WaitingListOffer | Self::SignInLink | Self::Invitation)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BookingConfirmed => "booking_confirmed",
            Self::BookingCancelled => "booking_cancelled",
            Self::EventCancelled => "event_cancelled",
            Self::EmailVerification => "email_verification",
            Self::RefundSucceeded => "refund_succeeded",
            Self::WaitingListOffer => "waiting_list_offer",
            Self::SignInLink => "sign_in_link",
            Self::Invitation => "invitation",
            Self::WebhookDisabled => "webhook_disabled",
            Self::AttendeeMessage => "attendee_message",
        }
    }
}

impl TryFrom<String> for Kind {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "booking_confirmed" => Ok(Self::BookingConfirmed),
            "booking_cancelled" => Ok(Self::BookingCancelled),
            "event_cancelled" => Ok(Self::EventCancelled),
            "email_verification" => Ok(Self::EmailVerification),
            "refund_succeeded" => Ok(Self::RefundSucceeded),
            "waiting_list_offer" => Ok(Self::WaitingListOffer),
            "sign_in_link" => Ok(Self::SignInLink),
            "invitation" => Ok(Self::Invitation),
            "webhook_disabled" => Ok(Self::WebhookDisabled),
            "attendee_message" => Ok(Self::AttendeeMessage),
            other => Err(format!("unknown outbox kind {other:?}")),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: Kind,
    /// The booking an email is about; `None` for emails about an account.
    pub booking_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    /// The recipient of an email about an address with no account behind it yet.
    pub email: Option<String>,
    /// The verification or sign-in link's token, until the email is sent.
    pub secret: Option<String>,
    /// The invitation an invitation email carries.
    pub invitation_id: Option<Uuid>,
    /// The endpoint a "webhook disabled" email is about.
    pub webhook_endpoint_id: Option<Uuid>,
    /// The message an attendee message carries.
    pub message_id: Option<Uuid>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// Queues one email of `kind` per booking, in the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, kind: Kind, booking_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = booking_ids.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO outbox (id, kind, booking_id) SELECT id, $3, b FROM UNNEST($1::uuid[], $2::uuid[]) AS u (id, b)",
    )
    .bind(&ids)
    .bind(booking_ids)
    .bind(kind.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues the verification email of `user_id`, carrying the link's `token`.
pub async fn enqueue_verification(conn: &mut PgConnection, user_id: Uuid, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (id, kind, user_id, secret) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(Kind::EmailVerification.as_str())
        .bind(user_id)
        .bind(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues the email carrying a sign-in link's `token` to `email`.
pub async fn enqueue_sign_in_link(conn: &mut PgConnection, email: &str, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (id, kind, email, secret) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(Kind::SignInLink.as_str())
        .bind(email)
        .bind(token)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues the invitation email carrying `token` to `email`.
pub async fn enqueue_invitation(
    conn: &mut PgConnection,
    email: &str,
    token: &str,
    invitation_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (id, kind, email, secret, invitation_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(Uuid::now_v7())
        .bind(Kind::Invitation.as_str())
        .bind(email)
        .bind(token)
        .bind(invitation_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Queues the "webhook disabled" email to each owner of `organization_id`.
pub async fn enqueue_webhook_disabled(
    conn: &mut PgConnection,
    organization_id: Uuid,
    endpoint_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, email, webhook_endpoint_id)
         SELECT gen_random_uuid(), $3, u.email, $2 FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organization_id = $1 AND m.role = 'owner'",
    )
    .bind(organization_id)
    .bind(endpoint_id)
    .bind(Kind::WebhookDisabled.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due rows for `lease`: they are not due again (for
/// any mailer) until the lease runs out, by which time they are sent or
/// rescheduled. `SKIP LOCKED` lets several mailers claim side by side. The
/// last error is cleared while a row is held, so that a row waiting for its
/// retry (error set) can be told from a row being sent (none). Organizers'
/// messages to their attendees come after every other email due, and not
/// at all unless `messages` (not while a sale is deciding).
pub async fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
    messages: bool,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
                           last_error = NULL
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()
                        AND ($3 OR kind <> 'attendee_message')
                      ORDER BY kind = 'attendee_message', next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, booking_id, user_id, email, secret, invitation_id, webhook_endpoint_id, message_id, attempts, created_at",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(messages)
    .fetch_all(conn)
    .await
}

/// Like [`claim_due`], only emails someone waits on to act: the link that
/// verifies an address (needed to book) and a waiting-list offer (it runs
/// out). During a sale these go before the confirmations piling up.
pub async fn claim_due_urgent(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
                           last_error = NULL
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()
                        AND kind IN ($3, $4, $5, $6)
                      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, kind, booking_id, user_id, email, secret, invitation_id, webhook_endpoint_id, message_id, attempts, created_at",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .bind(Kind::EmailVerification.as_str())
    .bind(Kind::WaitingListOffer.as_str())
    .bind(Kind::SignInLink.as_str())
    .bind(Kind::Invitation.as_str())
    .fetch_all(conn)
    .await
}

// The outcome of a claimed row is recorded only while the claim still holds
// (same attempt, still pending): a mailer that took longer than its lease must
// not overwrite what the next claimer did.
const STILL_MINE: &str = "id = $1 AND attempts = $2 AND status = 'pending'";

pub async fn mark_sent(conn: &mut PgConnection, row: &OutboxRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE outbox SET status = 'sent', sent_at = now(), last_error = NULL, secret = NULL WHERE {STILL_MINE}"
    ))
    .bind(row.id)
    .bind(row.attempts)
    .execute(conn)
    .await?;
    Ok(())
}

/// Not sent, and not to be: the change it announced was undone first.
pub async fn mark_skipped(conn: &mut PgConnection, row: &OutboxRow, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("UPDATE outbox SET status = 'skipped', last_error = $3, secret = NULL WHERE {STILL_MINE}"))
        .bind(row.id)
        .bind(row.attempts)
        .bind(why)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn reschedule(
    conn: &mut PgConnection,
    row: &OutboxRow,
    delay: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $3), last_error = $4 WHERE {STILL_MINE}"
    ))
    .bind(row.id)
    .bind(row.attempts)
    .bind(delay.as_secs_f64())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// How `last_error` starts when the mail server could not be reached at all.
pub const UNREACHABLE: &str = "mail server unreachable: ";

/// The mail server answers again: rows waiting out their backoff because it
/// was unreachable are due now. Rows held by a mailer (no error) and rows the
/// server itself put off (a greylisting 4xx, say) keep their backoff.
pub async fn retry_waiting_now(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE outbox SET next_attempt_at = now()
          WHERE status = 'pending' AND starts_with(last_error, $1) AND next_attempt_at > now()",
    )
    .bind(UNREACHABLE)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn mark_failed(conn: &mut PgConnection, row: &OutboxRow, error: &str) -> Result<(), sqlx::Error> {
    // A verification link that could not be sent is dead: its token goes too
    // (`retry-failed` sends such a row again; the user asks for a new link).
    sqlx::query(&format!("UPDATE outbox SET status = 'failed', last_error = $3, secret = NULL WHERE {STILL_MINE}"))
        .bind(row.id)
        .bind(row.attempts)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// Puts given-up rows back in line (after fixing what made them fail);
/// returns how many.
pub async fn retry_failed(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE status = 'failed'",
    )
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// (pending, failed) rows: the outbox depth and what was given up on.
pub async fn depth(conn: &mut PgConnection) -> Result<(i64, i64), sqlx::Error> {
    // Each count reads only its partial index, however many sent rows there are.
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending'),
                (SELECT count(*) FROM outbox WHERE status = 'failed')",
    )
    .fetch_one(conn)
    .await
}
