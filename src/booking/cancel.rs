//! Cancelling: one booking by its owner, or every booking of a cancelled event.
//! Seats return in the same transaction that voids the tickets.

use uuid::Uuid;

use crate::app::AppState;
use crate::db::bookings::{self as db, BookingRow};
use crate::domain::booking::{BookingStatus, Reason};
use crate::error::ApiError;

/// Cancels `booking_id` for its owner `user_id`: 404 for anyone else, 409
/// unless it is confirmed with no ticket checked in, and 409
/// `cancellation_closed` after the event's cancellation deadline.
pub async fn cancel_booking(state: &AppState, user_id: Uuid, booking_id: Uuid) -> Result<BookingRow, ApiError> {
    let mut tx = state.db.begin().await?;
    // Lock order everywhere: ticket type, then bookings (the worker and event
    // cancellation do the same), so two cancellations never deadlock.
    let ticket_type_id = db::find(&mut tx, booking_id)
        .await?
        .filter(|b| b.user_id == user_id)
        .ok_or(ApiError::NotFound("booking"))?
        .ticket_type_id;
    db::lock_ticket_type(&mut tx, ticket_type_id).await?;
    let booking = db::lock(&mut tx, booking_id).await?.ok_or(ApiError::NotFound("booking"))?;
    let refusal = match booking.status {
        BookingStatus::Confirmed => None,
        BookingStatus::Cancelled => Some("the booking is already cancelled"),
        BookingStatus::Rejected => Some("a rejected booking cannot be cancelled"),
        BookingStatus::Pending => Some("the booking is still being processed; try again in a moment"),
    };
    if let Some(detail) = refusal {
        return Err(ApiError::conflict(detail));
    }
    if db::has_checked_in_ticket(&mut tx, booking_id).await? {
        return Err(ApiError::conflict("a ticket of this booking was already used at the door"));
    }
    let event = crate::db::events::find_event(&mut tx, booking.event_id).await?.ok_or(ApiError::NotFound("booking"))?;
    let closes = crate::domain::event::cancellation_closes(event.starts_at, event.cancellation_deadline);
    if chrono::Utc::now() >= closes {
        return Err(ApiError::Conflict {
            code: "cancellation_closed",
            detail: format!("bookings of this event could be cancelled until {}", closes.to_rfc3339()),
        });
    }
    db::cancel(&mut tx, &booking, Reason::CancelledByUser.as_str()).await?;
    crate::db::outbox::enqueue(&mut tx, crate::db::outbox::Kind::BookingCancelled, &[booking_id]).await?;
    let cancelled = db::find(&mut tx, booking_id).await?.ok_or(ApiError::NotFound("booking"))?;
    tx.commit().await?;
    seats_returned(state, &[booking.ticket_type_id]).await;
    tracing::info!(booking.id = %booking_id, "booking cancelled by its owner");
    Ok(cancelled)
}

/// After seats came back: clear the sold-out flags so the next request goes
/// through at once (a failure only delays that by the flag's few seconds).
pub async fn seats_returned(state: &AppState, ticket_type_ids: &[Uuid]) {
    if let Err(err) = state.bookings.clear_sold_out(ticket_type_ids).await {
        tracing::warn!(error = %err, "could not clear sold-out flags; they expire on their own");
    }
}
