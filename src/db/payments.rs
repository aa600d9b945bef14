//! The `payments`, `refunds` and `stripe_events` tables.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::checkout::Provider;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: Uuid,
    pub booking_id: Uuid,
    #[sqlx(try_from = "String")]
    pub provider: Provider,
    pub intent_id: Option<String>,
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub client_secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

const PAYMENT_COLUMNS: &str =
    "id, booking_id, provider, intent_id, status, amount_cents, currency, client_secret, created_at";

/// The unique index that allows one payment attempt in flight per booking.
pub const ONE_IN_FLIGHT: &str = "payments_one_in_flight";

/// Statuses of an attempt still in flight (see `ONE_IN_FLIGHT`).
pub const IN_FLIGHT: [&str; 4] = ["creating", "requires_confirmation", "requires_action", "processing"];

/// Records a new payment attempt.
pub async fn insert(
    conn: &mut PgConnection,
    booking_id: Uuid,
    provider: Provider,
    status: &str,
    amount_cents: i64,
    currency: &str,
) -> Result<PaymentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO payments (id, booking_id, provider, status, amount_cents, currency)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {PAYMENT_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(booking_id)
    .bind(provider.as_str())
    .bind(status)
    .bind(amount_cents)
    .bind(currency)
    .fetch_one(conn)
    .await
}

pub async fn has_succeeded(conn: &mut PgConnection, booking_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM payments WHERE booking_id = $1 AND status = 'succeeded')")
        .bind(booking_id)
        .fetch_one(conn)
        .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1")).bind(id).fetch_optional(conn).await
}

pub async fn find_by_intent(conn: &mut PgConnection, intent_id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE intent_id = $1"))
        .bind(intent_id)
        .fetch_optional(conn)
        .await
}

/// The booking's newest payment attempt.
pub async fn latest_of(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE booking_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .bind(booking_id)
    .fetch_optional(conn)
    .await
}

/// Gives intent `intent_id` to the booking's newest attempt that has none
/// (its record was lost between Stripe's answer and ours).
pub async fn attach_intent(
    conn: &mut PgConnection,
    booking_id: Uuid,
    intent_id: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET intent_id = $2, updated_at = now()
         WHERE id = (SELECT id FROM payments WHERE booking_id = $1 AND intent_id IS NULL AND provider = 'stripe'
                       AND status = 'creating'
                     ORDER BY created_at DESC LIMIT 1)
         RETURNING {PAYMENT_COLUMNS}"
    ))
    .bind(booking_id)
    .bind(intent_id)
    .fetch_optional(conn)
    .await
}

/// Records what Stripe said of an attempt (not once it succeeded: that is
/// [`mark_succeeded`]'s, in the transaction that applies it). An attempt
/// that is over never goes back in flight (another may be in flight now).
pub async fn record(
    conn: &mut PgConnection,
    id: Uuid,
    intent_id: Option<&str>,
    status: &str,
    client_secret: Option<&str>,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE payments SET intent_id = coalesce($2, intent_id), status = $3,
                client_secret = coalesce($4, client_secret), last_error = $5, updated_at = now()
         WHERE id = $1 AND status <> 'succeeded'
           AND NOT (status = 'failed' AND $3 IN ('creating', 'requires_confirmation', 'requires_action', 'processing'))",
    )
    .bind(id)
    .bind(intent_id)
    .bind(status)
    .bind(client_secret)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// Marks the payment succeeded; `false` when it already was (applied before:
/// a repeated webhook or confirm changes nothing).
pub async fn mark_succeeded(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE payments SET status = 'succeeded', last_error = NULL, updated_at = now()
         WHERE id = $1 AND status <> 'succeeded'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

// --- refunds ---

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefundRow {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub booking_id: Uuid,
    #[sqlx(try_from = "String")]
    pub provider: Provider,
    pub amount_cents: i64,
    pub currency: String,
    pub status: String,
    pub attempts: i32,
    /// The Payment Intent refunded (Stripe).
    pub intent_id: Option<String>,
}

/// Refunds payment `payment_id` in full, once: a second call finds the row
/// and adds nothing. Returns whether a refund was written now.
pub async fn refund_payment(conn: &mut PgConnection, payment_id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    let written = sqlx::query(
        "INSERT INTO refunds (id, payment_id, booking_id, provider, amount_cents, currency, reason)
         SELECT $1, id, booking_id, provider, amount_cents, currency, $3 FROM payments
         WHERE id = $2 AND status = 'succeeded'
         ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(payment_id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(written.rows_affected() == 1)
}

/// Refunds every succeeded payment of `booking_ids` not refunded yet (the
/// bookings are being cancelled in the caller's transaction).
pub async fn refund_bookings(conn: &mut PgConnection, booking_ids: &[Uuid], reason: &str) -> Result<u64, sqlx::Error> {
    let written = sqlx::query(
        "INSERT INTO refunds (id, payment_id, booking_id, provider, amount_cents, currency, reason)
         SELECT gen_random_uuid(), p.id, p.booking_id, p.provider, p.amount_cents, p.currency, $2
         FROM payments p
         WHERE p.booking_id = ANY($1) AND p.status = 'succeeded'
         ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(booking_ids)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(written.rows_affected())
}

/// Claims up to `limit` Stripe refunds due now: each moves its next attempt
/// `lease` ahead, so other workers skip it, and comes due again should this
/// one die before recording the result.
pub async fn claim_due_refunds(
    conn: &mut PgConnection,
    limit: i64,
    lease: Duration,
) -> Result<Vec<RefundRow>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM refunds WHERE status = 'pending' AND provider = 'stripe' AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE refunds r SET attempts = r.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond',
                updated_at = now()
         FROM due, payments p
         WHERE r.id = due.id AND p.id = r.payment_id
         RETURNING r.id, r.payment_id, r.booking_id, r.provider, r.amount_cents, r.currency, r.status, r.attempts,
                   p.intent_id",
    )
    .bind(limit)
    .bind(lease.as_millis() as f64)
    .fetch_all(conn)
    .await
}

/// Records a refund Stripe made; `false` if it was recorded already.
pub async fn refund_succeeded(
    conn: &mut PgConnection,
    id: Uuid,
    provider_refund_id: &str,
) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE refunds SET status = 'succeeded', provider_refund_id = $2, last_error = NULL, updated_at = now()
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(provider_refund_id)
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// A refund that failed this time: tried again at `retry_at`, or given up
/// (`failed`, for a person to look at) when `retry_at` is `None`.
pub async fn refund_failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refunds SET last_error = $2, updated_at = now(),
                status = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE status END,
                next_attempt_at = coalesce($3, next_attempt_at)
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(conn)
    .await?;
    Ok(())
}

// --- what a booking shows ---

/// A booking's newest payment and refund, as its JSON shows them.
#[derive(Debug, Clone, Default)]
pub struct Money {
    /// (provider, status) of the newest attempt.
    pub payment: Option<(Provider, String)>,
    /// (status, amount) of the newest refund.
    pub refund: Option<(String, i64)>,
    /// When the newest refund was paid back by hand (offline), and by whom.
    pub paid_back: Option<(DateTime<Utc>, String)>,
}

pub async fn money_of(conn: &mut PgConnection, booking_ids: &[Uuid]) -> Result<HashMap<Uuid, Money>, sqlx::Error> {
    let mut money: HashMap<Uuid, Money> = HashMap::new();
    if booking_ids.is_empty() {
        return Ok(money);
    }
    let payments: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (booking_id) booking_id, provider, status FROM payments
         WHERE booking_id = ANY($1)
         ORDER BY booking_id, (status = 'succeeded') DESC, created_at DESC, id DESC",
    )
    .bind(booking_ids)
    .fetch_all(&mut *conn)
    .await?;
    for (booking, provider, status) in payments {
        if let Ok(provider) = Provider::try_from(provider) {
            money.entry(booking).or_default().payment = Some((provider, status));
        }
    }
    type RefundOf = (Uuid, String, i64, Option<DateTime<Utc>>, Option<String>);
    let refunds: Vec<RefundOf> = sqlx::query_as(
        "SELECT DISTINCT ON (r.booking_id) r.booking_id, r.status, r.amount_cents, r.paid_back_at, u.name
         FROM refunds r LEFT JOIN users u ON u.id = r.paid_back_by
         WHERE r.booking_id = ANY($1) ORDER BY r.booking_id, r.created_at DESC, r.id DESC",
    )
    .bind(booking_ids)
    .fetch_all(conn)
    .await?;
    for (booking, status, amount, paid_back_at, by) in refunds {
        let entry = money.entry(booking).or_default();
        entry.refund = Some((status, amount));
        entry.paid_back = paid_back_at.zip(by);
    }
    Ok(money)
}

// --- Stripe's webhook events ---

/// Whether webhook event `event_id` was applied before.
pub async fn event_seen(conn: &mut PgConnection, event_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stripe_events WHERE id = $1)").bind(event_id).fetch_one(conn).await
}

/// Records a webhook event as applied; `false` if it was before.
pub async fn first_delivery(conn: &mut PgConnection, event_id: &str, kind: &str) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(event_id)
        .bind(kind)
        .execute(conn)
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// What marking a booking's offline refund paid back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidBack {
    /// Recorded now.
    Now,
    /// Recorded before (a second press).
    Before,
    /// The booking has no offline refund.
    NoRefund,
}

/// Marks the newest offline refund of `booking_id` paid back by `by`. The
/// caller holds the booking's row lock, so two presses at once are one
/// after the other and the second finds it done.
pub async fn refund_paid_back(conn: &mut PgConnection, booking_id: Uuid, by: Uuid) -> Result<PaidBack, sqlx::Error> {
    let found: Option<(String, bool)> = sqlx::query_as(
        "WITH r AS (SELECT id, status FROM refunds WHERE booking_id = $1 AND provider = 'offline'
                    ORDER BY created_at DESC, id DESC LIMIT 1),
              u AS (UPDATE refunds SET status = 'succeeded', paid_back_by = $2, paid_back_at = now(), updated_at = now()
                    FROM r WHERE refunds.id = r.id AND refunds.status = 'pending' RETURNING refunds.id)
         SELECT r.status, EXISTS (SELECT 1 FROM u) FROM r",
    )
    .bind(booking_id)
    .bind(by)
    .fetch_optional(conn)
    .await?;
    Ok(match found {
        None => PaidBack::NoRefund,
        Some((_, true)) => PaidBack::Now,
        Some((status, false)) if status == "succeeded" => PaidBack::Before,
        Some(_) => PaidBack::NoRefund,
    })
}
