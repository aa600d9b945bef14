//! An offline refund paid back. A refund of an offline payment is money the
//! organizer pays out by hand (a transfer, cash at the desk); until they say
//! they did, it stays `pending` ("to pay back" in Orders). Saying so records
//! who and when, marks the refund succeeded and sends the buyer the refund
//! email, once: the booking's row lock puts two presses one after the other,
//! and the second answers what the first did.

use sqlx::PgPool;
use uuid::Uuid;

use crate::db::bookings as db;
use crate::db::outbox::{self, Kind};
use crate::db::payments::{self, PaidBack};

#[derive(Debug, thiserror::Error)]
pub enum PaybackError {
    /// No such booking of this event.
    #[error("booking not found")]
    NotFound,
    /// The booking has no offline refund to pay back (none, or by card:
    /// Stripe pays those back itself).
    #[error("this booking has no offline refund to pay back")]
    NoRefund,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// `by` (the event's organizer, checked by the caller) paid back the
/// offline refund of `booking_id`, a booking of `event_id`.
/// Answers the booking as it now stands, read in the same transaction
/// (nothing may fail after the commit: a retry would find it paid back).
pub async fn paid_back(
    pool: &PgPool,
    event_id: Uuid,
    booking_id: Uuid,
    by: Uuid,
) -> Result<crate::booking::status::Current, PaybackError> {
    let mut tx = pool.begin().await?;
    let booking =
        db::lock(&mut tx, booking_id).await?.filter(|b| b.event_id == event_id).ok_or(PaybackError::NotFound)?;
    match payments::refund_paid_back(&mut tx, booking_id, by).await? {
        PaidBack::Now => {
            outbox::enqueue(&mut tx, Kind::RefundSucceeded, &[booking_id]).await?;
            crate::webhooks::events::bookings(&mut tx, "booking.refunded", &[booking_id]).await?;
            let detail = serde_json::json!({});
            crate::team::record(&mut tx, by, event_id, "refund.paid_back", &booking.reference(), detail).await?;
            tracing::info!(booking.id = %booking_id, "offline refund paid back");
        }
        PaidBack::Before => {}
        PaidBack::NoRefund => return Err(PaybackError::NoRefund),
    }
    let current = crate::booking::status::stored_booking(&mut tx, booking).await?;
    tx.commit().await?;
    Ok(current)
}
