//! Sending refunds to Stripe: rows written by the transactions that cancel
//! (`db::payments::refund_*`), claimed with a lease like the outbox, sent
//! with the refund's id as Stripe's Idempotency-Key, retried with backoff
//! while Stripe is unreachable. A retry first asks Stripe for a refund made
//! for this id (the process may have died between Stripe's answer and our
//! record): a refund is never paid twice, even where the Idempotency-Key has
//! expired (Stripe keeps them 24 hours) or is not honoured (the emulator).

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db::payments::{self, RefundRow};
use crate::payments::stripe::{Stripe, StripeError};

const EVERY: Duration = Duration::from_secs(1);
const BATCH: i64 = 20;
/// Longer than a Stripe call may take (10 s), so a row is never sent by two workers at once.
const LEASE: Duration = Duration::from_secs(60);
/// Tries before a refund Stripe keeps refusing (not one it cannot be reached
/// for) is set aside as `failed` for a person to look at.
const MAX_REFUSED: i32 = 5;

pub async fn run(db: PgPool, stripe: Option<Stripe>, shutdown: CancellationToken) {
    // Offline refunds are paid out by the organizer: nothing to send.
    let Some(stripe) = stripe else { return };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(err) = send_due(&db, &stripe).await {
            tracing::warn!(error = %err, "sending refunds failed; trying again");
        }
    }
}

/// Sends the refunds due now; returns how many succeeded.
pub async fn send_due(db: &PgPool, stripe: &Stripe) -> Result<usize, sqlx::Error> {
    let claimed = payments::claim_due_refunds(&mut *db.acquire().await?, BATCH, LEASE).await?;
    let mut succeeded = 0;
    for refund in claimed {
        match send(stripe, &refund).await {
            Ok(stripe_id) => {
                let mut tx = db.begin().await?;
                if payments::refund_succeeded(&mut tx, refund.id, &stripe_id).await? {
                    let kind = crate::db::outbox::Kind::RefundSucceeded;
                    crate::db::outbox::enqueue(&mut tx, kind, &[refund.booking_id]).await?;
                    crate::webhooks::events::bookings(&mut tx, "booking.refunded", &[refund.booking_id]).await?;
                }
                tx.commit().await?;
                succeeded += 1;
                tracing::info!(refund.id = %refund.id, booking.id = %refund.booking_id, "refund sent");
            }
            Err(err) => {
                let retry = err.is_retryable() || refund.attempts < MAX_REFUSED;
                let retry_at = retry.then(|| Utc::now() + backoff(refund.attempts));
                tracing::warn!(refund.id = %refund.id, error = %err, retry = retry, "refund not sent");
                payments::refund_failed(&mut *db.acquire().await?, refund.id, &err.to_string(), retry_at).await?;
            }
        }
    }
    Ok(succeeded)
}

async fn send(stripe: &Stripe, refund: &RefundRow) -> Result<String, StripeError> {
    let Some(intent) = refund.intent_id.as_deref() else {
        return Err(StripeError::Refused { status: 400, message: "the payment has no Stripe intent".into() });
    };
    let id = refund.id.to_string();
    let made = match refund.attempts {
        1 => None,
        _ => stripe.find_refund(intent, &id).await?,
    };
    let made = match made {
        Some(made) => made,
        None => stripe.refund(intent, &id).await?,
    };
    // Stripe may take a while with a refund (`pending`): asked again at the
    // next try (which finds it by its metadata), recorded once it succeeded.
    match made.status.as_deref() {
        Some("succeeded") | None => Ok(made.id),
        Some("failed" | "canceled") => {
            Err(StripeError::Refused { status: 402, message: format!("Stripe could not refund ({})", made.id) })
        }
        Some(other) => Err(StripeError::Unreachable(format!("refund {} is {other} at Stripe", made.id))),
    }
}

/// 2, 4, 8 … seconds, at most 10 minutes.
fn backoff(attempts: i32) -> chrono::TimeDelta {
    chrono::TimeDelta::seconds(2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert_eq!(super::backoff(1).num_seconds(), 2);
        assert_eq!(super::backoff(3).num_seconds(), 8);
        assert_eq!(super::backoff(50).num_seconds(), 600);
    }
}
