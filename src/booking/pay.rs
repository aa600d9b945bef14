//! Paying for a held booking, whatever the provider: a payment that has
//! succeeded is applied here, exactly once, in one transaction that takes the
//! ticket type's lock and then the booking's (the allocation's lock order).
//! The rule it applies is `domain::checkout::on_payment`: held → confirmed;
//! expired → confirmed if the allocator can still give the seats, else
//! refunded; anything else → refunded. Money is never kept without tickets.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::allocation::{self, LockedTicketType};
use crate::db::bookings::{self as db, BookingRow};
use crate::db::payments;
use crate::domain::booking::{BookingStatus, Decision, Reason, SeatRequest};
use crate::domain::checkout::{self, OnPaid, Provider};

/// Why a payment could not be taken or applied.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// No such booking of this user (or of this event, for its organizer).
    #[error("booking not found")]
    NotFound,
    /// The booking is not waiting for a payment.
    #[error("{0}")]
    NotPayable(String),
    /// A priced booking confirmed without a payment.
    #[error("this booking has a price; pay for it instead")]
    PaymentRequired,
    /// Another payment attempt of the booking is still in flight.
    #[error("a payment for this booking is already being processed")]
    InFlight,
    /// The card was declined; the hold stays.
    #[error("{0}")]
    Declined(String),
    /// Stripe refused the payment method given (unknown, malformed, used up).
    #[error("{0}")]
    BadPaymentMethod(String),
    /// Stripe could not be reached or answered in a way we cannot use.
    #[error("the payment provider is unavailable: {0}")]
    Provider(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What applying a payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Confirmed,
    /// Refunded in full, for this reason.
    Refunded(Reason),
    /// This payment was applied before (a repeated webhook, a second confirm).
    Before,
}

/// Locks the booking's ticket type, then the booking: `None` if there is no
/// such booking (or its ticket type is gone).
pub async fn lock_booking(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> Result<Option<(LockedTicketType, BookingRow)>, sqlx::Error> {
    let Some(found) = db::find(conn, booking_id).await? else { return Ok(None) };
    let Some(tt) = allocation::lock_ticket_types(conn, &[found.ticket_type_id]).await?.pop() else {
        return Ok(None);
    };
    Ok(db::lock(conn, booking_id).await?.map(|booking| (tt, booking)))
}

/// Applies payment `payment_id`, which has succeeded, to its booking. Safe to
/// call any number of times: only the first changes anything.
pub async fn payment_succeeded(pool: &PgPool, payment_id: Uuid) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let Some(payment) = payments::find(&mut tx, payment_id).await? else {
        return Err(sqlx::Error::RowNotFound);
    };
    let Some((tt, booking)) = lock_booking(&mut tx, payment.booking_id).await? else {
        return Err(sqlx::Error::RowNotFound);
    };
    if !payments::mark_succeeded(&mut tx, payment_id).await? {
        return Ok(Applied::Before);
    }
    let applied = apply(&mut tx, &tt, &booking, payment_id).await?;
    tx.commit().await?;
    log_applied(&booking, applied);
    Ok(applied)
}

/// The rule, under the locks; the payment is marked succeeded already.
async fn apply(
    tx: &mut PgConnection,
    tt: &LockedTicketType,
    booking: &BookingRow,
    payment_id: Uuid,
) -> Result<Applied, sqlx::Error> {
    match checkout::on_payment(booking.status, booking.paid_at.is_some()) {
        OnPaid::Confirm => {
            db::confirm_held(tx, booking, true).await?;
            // The invoice, with the confirmation or not at all.
            crate::db::invoices::issue(tx, booking, payment_id).await?;
            Ok(Applied::Confirmed)
        }
        OnPaid::Retake => {
            if retake_seats(tx, tt, booking).await? {
                db::confirm_held(tx, booking, true).await?;
                crate::db::invoices::issue(tx, booking, payment_id).await?;
                Ok(Applied::Confirmed)
            } else {
                payments::refund_payment(tx, payment_id, Reason::PaidAfterExpiry.as_str()).await?;
                db::set_reason(tx, booking.id, Reason::PaidAfterExpiry.as_str()).await?;
                Ok(Applied::Refunded(Reason::PaidAfterExpiry))
            }
        }
        OnPaid::Refund(reason) => {
            payments::refund_payment(tx, payment_id, reason.as_str()).await?;
            Ok(Applied::Refunded(reason))
        }
    }
}

/// Takes the seats of an expired booking again, through the allocator (the
/// same rule as in the queue: seats left, the event still on, the buyer's
/// limit), so a late payment never oversells.
async fn retake_seats(tx: &mut PgConnection, tt: &LockedTicketType, booking: &BookingRow) -> Result<bool, sqlx::Error> {
    // Paid: these seats are sold, not held, so the rules against holding
    // unpaid seats do not apply.
    let inventory = crate::domain::booking::Inventory { holds_in: None, ..tt.inventory() };
    let mut inventory = std::collections::HashMap::from([(tt.id, inventory)]);
    crate::booking::allocate::count_owned(tx, std::slice::from_ref(tt), &[(tt.id, booking.user_id)], &mut inventory)
        .await?;
    let request = SeatRequest {
        ticket_type_id: tt.id,
        buyer: booking.user_id,
        quantity: booking.quantity,
        code: booking.code_id,
    };
    let mut spinning = crate::domain::booking::Spinning::default();
    // Its code's use went back when the hold ran out: it must be there again.
    let uses: Vec<(Uuid, Uuid)> = booking.code_id.map(|code| (code, booking.user_id)).into_iter().collect();
    let mut quotas = std::collections::HashMap::new();
    for quota in allocation::lock_quotas(tx, &[tt.id]).await? {
        if let Some(stock) = inventory.get_mut(&tt.id) {
            stock.quotas.push(quota.id);
        }
        quotas.insert(quota.id, quota.remaining);
    }
    let (mut codes, _) = crate::booking::allocate::code_stocks(tx, &uses).await?;
    match crate::domain::booking::allocate(&[request], &mut inventory, &mut spinning, &mut codes, &mut quotas).first() {
        Some(Decision::Confirmed) => {
            allocation::take_seats(tx, &[tt.id], &[booking.quantity]).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn log_applied(booking: &BookingRow, applied: Applied) {
    match applied {
        Applied::Confirmed => tracing::info!(booking.id = %booking.id, "payment applied; booking confirmed"),
        Applied::Refunded(reason) => {
            tracing::warn!(booking.id = %booking.id, reason = reason.as_str(), "payment cannot buy the booking; refunding it")
        }
        Applied::Before => {}
    }
}

/// The organizer marks an offline booking of their event paid: held (or
/// expired: the late-payment rule) → confirmed; cancelled meanwhile → the
/// money is recorded and refunded. The money is always recorded.
pub async fn mark_paid(
    pool: &PgPool,
    event_id: Uuid,
    booking_id: Uuid,
    actor: Uuid,
) -> Result<(crate::booking::status::Current, Applied), PayError> {
    let mut tx = pool.begin().await?;
    let (tt, booking) = lock_booking(&mut tx, booking_id).await?.ok_or(PayError::NotFound)?;
    if booking.event_id != event_id {
        return Err(PayError::NotFound);
    }
    if booking.payment_provider.0 != Some(Provider::Offline) {
        return Err(PayError::NotPayable(match booking.payment_provider.0 {
            Some(Provider::Stripe) => "this booking is paid by card, not offline".into(),
            _ => not_payable(booking.status),
        }));
    }
    // Once per booking: a second press (a double click, two people at the
    // desk) answers what the first did and records nothing, whatever the
    // first did (confirmed it, or a refund owed because the hold had run out).
    if payments::has_succeeded(&mut tx, booking.id).await? {
        return Ok((crate::booking::status::stored_booking(&mut tx, booking).await?, Applied::Before));
    }
    // Money that came for a booking already over (cancelled meanwhile) is
    // recorded too, and goes back (a refund for the organizer to pay out).
    if !matches!(booking.status, BookingStatus::Held | BookingStatus::Expired | BookingStatus::Cancelled) {
        return Err(PayError::NotPayable(not_payable(booking.status)));
    }
    let currency = booking.currency.clone().unwrap_or_default();
    let payment =
        payments::insert(&mut tx, booking.id, Provider::Offline, "succeeded", booking.total_cents(), &currency).await?;
    let applied = apply(&mut tx, &tt, &booking, payment.id).await?;
    let booking = db::find(&mut tx, booking_id).await?.ok_or(PayError::NotFound)?;
    log_applied(&booking, applied);
    let detail = serde_json::json!({"amount_cents": payment.amount_cents, "currency": currency});
    crate::team::record(&mut tx, actor, event_id, "booking.marked_paid", &booking.reference(), detail).await?;
    // The answer, read in the transaction: once it commits, nothing may fail
    // (a busy pool must not answer 503 for a payment recorded).
    let current = crate::booking::status::stored_booking(&mut tx, booking).await?;
    tx.commit().await?;
    Ok((current, applied))
}

/// The owner confirms a held booking that costs nothing (a free waiting-list
/// offer); a priced one must be paid.
/// Answers the booking as confirmed, read in the same transaction (nothing
/// may fail after the commit: a retry would find it confirmed, 409).
pub async fn confirm_free(
    pool: &PgPool,
    user_id: Uuid,
    booking_id: Uuid,
) -> Result<crate::booking::status::Current, PayError> {
    let mut tx = pool.begin().await?;
    let (_, booking) =
        lock_booking(&mut tx, booking_id).await?.filter(|(_, b)| b.user_id == user_id).ok_or(PayError::NotFound)?;
    if booking.status != BookingStatus::Held {
        return Err(PayError::NotPayable(not_payable(booking.status)));
    }
    if booking.total_cents() > 0 {
        return Err(PayError::PaymentRequired);
    }
    db::confirm_held(&mut tx, &booking, false).await?;
    let booking = db::find(&mut tx, booking_id).await?.ok_or(PayError::NotFound)?;
    let current = crate::booking::status::stored_booking(&mut tx, booking).await?;
    tx.commit().await?;
    Ok(current)
}

/// Why a booking in `status` cannot be paid, in words.
pub fn not_payable(status: BookingStatus) -> String {
    match status {
        BookingStatus::Pending => "the booking is still in line; it can be paid once its seats are held".into(),
        BookingStatus::Held => "the booking is waiting for its payment".into(),
        BookingStatus::Confirmed => "the booking is paid and confirmed already".into(),
        BookingStatus::Expired => "the hold ran out and its seats went back on sale".into(),
        BookingStatus::Rejected => "the booking was rejected; there is nothing to pay".into(),
        BookingStatus::Cancelled => "the booking is cancelled".into(),
    }
}
