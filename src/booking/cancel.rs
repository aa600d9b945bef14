//! Cancelling: one booking by its owner, or every booking of a cancelled event.
//! Seats return in the same transaction that voids the tickets.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::booking::status::Current;
use crate::cache::BookingCache;
use crate::cache::bookings::{HoldMark, PendingBooking};
use crate::db::bookings as db;
use crate::domain::booking::{BookingStatus, Reason};

/// Why a booking could not be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No such booking of this user (others' bookings do not exist for them).
    #[error("booking not found")]
    NotFound,
    #[error("{0}")]
    NotCancellable(&'static str),
    /// Redis could not say whether the request is still in the queue.
    #[error("the booking state is unavailable, try again shortly")]
    Unavailable,
    /// Leaving the line came too late: the request was decided meanwhile.
    #[error("your turn came before you left: the request was decided meanwhile; see the booking")]
    DecidedMeanwhile,
    #[error("bookings of this event could be cancelled until {}", .0.to_rfc3339())]
    DeadlinePassed(DateTime<Utc>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Who cancels: the booking's owner (until the event's cancellation
/// deadline), or the organizer of its event (at any time).
#[derive(Debug, Clone, Copy)]
pub enum Canceller {
    Owner(Uuid),
    /// A member of this event's organization who may refund (checked by
    /// the caller): the event, and who.
    Organizer(Uuid, Uuid),
}

/// Cancels `booking_id`: not found for anyone but its owner or its event's
/// organizer; refused unless it is held or confirmed with no ticket checked
/// in, and for the owner after the event's cancellation deadline. What was
/// paid is refunded in full (a refund row in the same transaction). The
/// owner of a request still pending leaves the line with it ([`leave_line`]).
pub async fn cancel_booking(
    db: &PgPool,
    bookings: &BookingCache,
    by: Canceller,
    booking_id: Uuid,
    provider: crate::domain::checkout::Provider,
) -> Result<Current, CancelError> {
    if let Canceller::Owner(user_id) = by {
        let pending = {
            let mut conn = db.acquire().await?;
            db::find(&mut conn, booking_id).await?.is_none_or(|b| b.status == BookingStatus::Pending)
        };
        if pending {
            // Decided meanwhile: cancelled as the booking it became.
            match leave_line(db, bookings, user_id, booking_id).await {
                Err(CancelError::DecidedMeanwhile) => {}
                left => return left,
            }
        }
    }
    let mut tx = db.begin().await?;
    // Lock order everywhere: ticket type, then bookings (the worker and event
    // cancellation do the same), so two cancellations never deadlock.
    let found = db::find(&mut tx, booking_id).await?.filter(|b| match by {
        Canceller::Owner(user_id) => b.user_id == user_id,
        Canceller::Organizer(event_id, _) => b.event_id == event_id,
    });
    let found = found.ok_or(CancelError::NotFound)?;
    // Its type and those sharing a quota with it (the seats it gives back
    // are theirs to sell too), in id order like every batch.
    let types = crate::db::quotas::sharing(&mut tx, &[found.ticket_type_id]).await?;
    crate::db::allocation::lock_rows(&mut tx, &types).await?;
    crate::db::events::lock_ticket_type(&mut tx, found.event_id, found.ticket_type_id).await?;
    let booking = db::lock(&mut tx, booking_id).await?.ok_or(CancelError::NotFound)?;
    let refusal = match booking.status {
        BookingStatus::Confirmed | BookingStatus::Held => None,
        BookingStatus::Cancelled => Some("the booking is already cancelled"),
        BookingStatus::Rejected => Some("a rejected booking cannot be cancelled"),
        BookingStatus::Expired => Some("the hold ran out; the booking is over already"),
        BookingStatus::Pending => Some("the booking is still being processed; try again in a moment"),
    };
    if let Some(detail) = refusal {
        return Err(CancelError::NotCancellable(detail));
    }
    if db::has_checked_in_ticket(&mut tx, booking_id).await? {
        return Err(CancelError::NotCancellable("a ticket of this booking was already used at the door"));
    }
    let reason = match by {
        Canceller::Owner(_) => {
            let event = crate::db::events::find_event(&mut tx, booking.event_id).await?.ok_or(CancelError::NotFound)?;
            let closes = crate::domain::event::cancellation_closes(event.starts_at, event.cancellation_deadline);
            if Utc::now() >= closes {
                return Err(CancelError::DeadlinePassed(closes));
            }
            Reason::CancelledByUser
        }
        Canceller::Organizer(..) => Reason::CancelledByOrganizer,
    };
    db::cancel(&mut tx, &booking, reason.as_str()).await?;
    // Its seats go to the waiting list first (an offer cancelled is over).
    crate::db::waiting::close_offers(&mut tx, &[booking_id]).await?;
    let mut offered = Vec::new();
    for tt in &types {
        offered.extend(crate::booking::waiting::offer_returned_seats(&mut tx, *tt, provider).await?);
    }
    crate::db::outbox::enqueue(&mut tx, crate::db::outbox::Kind::BookingCancelled, &[booking_id]).await?;
    crate::webhooks::events::bookings(&mut tx, "booking.cancelled", &[booking_id]).await?;
    // The answer, read in the transaction: once it commits, nothing may fail
    // (a busy pool must not answer 503 for a cancellation that happened).
    let cancelled = db::find(&mut tx, booking_id).await?.ok_or(CancelError::NotFound)?;
    let cancelled = crate::booking::status::stored_booking(&mut tx, cancelled).await?;
    // A credit note for its refund, with it; last, so the organizer's invoice
    // counter is locked only until the commit.
    crate::db::invoices::credit_refunds(&mut tx, &[booking_id]).await?;
    if let Canceller::Organizer(event_id, actor) = by {
        let detail = serde_json::json!({"total_cents": booking.total_cents()});
        crate::team::record(&mut tx, actor, event_id, "booking.cancelled", &booking.reference(), detail).await?;
    }
    tx.commit().await?;
    seats_returned(bookings, &types, &offered).await;
    // Its code's uses came back too.
    if let Err(err) = bookings.clear_code_used_up(booking.code_id.as_slice()).await {
        tracing::warn!(error = %err, "could not clear a code's used-up flag; it lapses by itself");
    }
    tracing::info!(booking.id = %booking_id, reason = reason.as_str(), "booking cancelled");
    Ok(cancelled)
}

/// The owner of a request not decided yet leaves the line (the pre-queue,
/// the line in PostgreSQL, or the queue the worker has not read yet): the
/// booking ends `cancelled`, reason `left_line`, holding no seat. Decided
/// under its ticket type's lock, which the worker's batch holds while it
/// decides: either the batch decided the request first (then it is refused
/// here, as decided meanwhile), or this comes first and the batch finds it
/// decided (a request still in the queue is written here as such, so the
/// worker skips its message as a redelivery).
pub async fn leave_line(
    db: &PgPool,
    bookings: &BookingCache,
    user_id: Uuid,
    booking_id: Uuid,
) -> Result<Current, CancelError> {
    let mut tx = db.begin().await?;
    let pending = match db::find(&mut tx, booking_id).await? {
        Some(row) if row.user_id == user_id => PendingBooking::from(&row),
        Some(_) => return Err(CancelError::NotFound),
        // Only Redis knows it yet (and only Redis can say whose it is).
        None => match bookings.pending(booking_id).await {
            Ok(Some(pending)) if pending.user_id == user_id => pending,
            Ok(Some(_)) => return Err(CancelError::NotFound),
            // Gone from Redis: written by the worker a moment ago, or never
            // there. PostgreSQL, asked again, tells which.
            Ok(None) => match db::find(&mut tx, booking_id).await? {
                Some(row) if row.user_id == user_id => return Err(CancelError::DecidedMeanwhile),
                _ => return Err(CancelError::NotFound),
            },
            Err(err) => {
                tracing::warn!(error = %err, "Redis could not say whether the request is in the queue");
                return Err(CancelError::Unavailable);
            }
        },
    };
    crate::db::events::lock_ticket_type(&mut tx, pending.event_id, pending.ticket_type_id).await?;
    match db::lock(&mut tx, booking_id).await? {
        Some(row) if row.status == BookingStatus::Pending => db::leave_line(&mut tx, booking_id).await?,
        Some(_) => return Err(CancelError::DecidedMeanwhile),
        None => db::insert_left_line(&mut tx, &pending).await?,
    }
    crate::db::allocation::announce_final(&mut tx, &[booking_id]).await?;
    // The answer, read before the commit (see `cancel_booking`).
    let left = db::find(&mut tx, booking_id).await?.ok_or(CancelError::NotFound)?;
    let left = crate::booking::status::stored_booking(&mut tx, left).await?;
    tx.commit().await?;
    // Redis forgets the request (and the buyer's place for the type): the
    // buyer may queue again, at the back.
    if let Err(err) = bookings.forget(&pending).await {
        tracing::warn!(error = %err, "Redis still lists a request that left the line; it goes stale on its own");
    }
    tracing::info!(booking.id = %booking_id, "left the line");
    Ok(left)
}

/// After seats came back (committed): clear the sold-out flags so the next
/// request goes through at once (a failure only delays that by the flag's
/// few seconds), and mark the buyers `offered` them as holders, for the door.
pub async fn seats_returned(bookings: &BookingCache, ticket_type_ids: &[Uuid], offered: &[HoldMark]) {
    if let Err(err) = bookings.clear_sold_out(ticket_type_ids).await {
        tracing::warn!(error = %err, "could not clear sold-out flags; they expire on their own");
    }
    if let Err(err) = bookings.mark_holders(offered).await {
        // The worker still refuses what the door lets through.
        tracing::debug!(error = %err, "could not mark the waiting list's new holders");
    }
}
