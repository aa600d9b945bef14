//! Paying a held booking by card, through Stripe's Payment Intents.
//!
//! One attempt at a time per booking (a unique index): the page sends a
//! payment method; the server creates the intent (not confirmed, with an
//! Idempotency-Key derived from the booking and the attempt, so a lost answer
//! leaves at most an unconfirmed intent, never a second charge), records its
//! id, then confirms it. `succeeded` is applied at once (`pay::payment_succeeded`);
//! `requires_action` hands 3-D Secure to Stripe.js; a decline keeps the hold
//! so another card can be tried (a new attempt, after the failed one). The
//! same success may also arrive by the signed webhook or by the buyer's
//! "check my payment" call: applying it is idempotent.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::pay::{self, PayError};
use crate::db::bookings::{self as db, BookingRow};
use crate::db::payments::{self, PaymentRow};
use crate::domain::booking::BookingStatus;
use crate::domain::checkout::Provider;
use crate::payments::stripe::{PaymentIntent, Stripe, StripeError};

/// An attempt stuck in `creating` this long (its process died mid-call) no
/// longer blocks a new one: it was never confirmed, so it cannot charge.
const STALE_CREATING: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// What the buyer is told about paying a held booking.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub booking: BookingRow,
    pub provider: Provider,
    /// `requires_payment_method`, `requires_action`, `processing`,
    /// `succeeded`, `failed` (card); `pending` (offline, until marked paid).
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// For Stripe.js, while 3-D Secure is to be done.
    pub client_secret: Option<String>,
}

/// `POST /bookings/{id}/payment`: the state of the booking's payment, and
/// with `payment_method` (Stripe), a charge attempt.
pub async fn pay(
    pool: &PgPool,
    stripe: Option<&Stripe>,
    user_id: Uuid,
    booking_id: Uuid,
    payment_method: Option<&str>,
) -> Result<Checkout, PayError> {
    let booking = owned_booking(pool, user_id, booking_id).await?;
    if booking.status != BookingStatus::Held {
        return Err(PayError::NotPayable(pay::not_payable(booking.status)));
    }
    let provider = booking.payment_provider.0.unwrap_or(Provider::Offline);
    let stripe = match (provider, stripe) {
        (Provider::Offline, _) => {
            if payment_method.is_some() {
                return Err(PayError::NotPayable("this booking is paid offline, not by card".into()));
            }
            return Ok(checkout(booking, provider, "pending".into(), None));
        }
        (Provider::Stripe, None) => return Err(PayError::Provider("card payments are not configured".into())),
        (Provider::Stripe, Some(stripe)) => stripe,
    };
    let latest = settle_in_flight(pool, stripe, booking_id).await?;
    if latest.as_ref().is_some_and(|p| p.status == "succeeded") {
        // It went through meanwhile (3-D Secure finished): the booking is sold.
        let booking = db::find(&mut *pool.acquire().await?, booking_id).await?.ok_or(PayError::NotFound)?;
        return Ok(checkout(booking, provider, "succeeded".into(), None));
    }
    let Some(payment_method) = payment_method else {
        let (status, secret) = match latest {
            Some(p) if p.status == "requires_action" => (p.status, p.client_secret),
            _ => ("requires_payment_method".to_owned(), None),
        };
        return Ok(checkout(booking, provider, status, secret));
    };
    if let Some(abandoned) = latest.filter(|p| payments::IN_FLIGHT.contains(&p.status.as_str())) {
        abandon(pool, stripe, &abandoned).await?;
    }
    charge(pool, stripe, booking, payment_method).await
}

/// Sets aside an attempt in flight for a new card: its intent is cancelled
/// at Stripe first, so it can no longer charge. One Stripe will not cancel
/// (it succeeded, or is processing) keeps the booking's payment as it is.
async fn abandon(pool: &PgPool, stripe: &Stripe, attempt: &PaymentRow) -> Result<(), PayError> {
    let Some(intent_id) = attempt.intent_id.as_deref() else {
        return Err(PayError::InFlight); // being created right now
    };
    match stripe.cancel_intent(intent_id).await {
        Ok(cancelled) => {
            apply_intent(pool, attempt, &cancelled).await?;
            Ok(())
        }
        Err(StripeError::Refused { .. }) => {
            let intent = stripe.retrieve_intent(intent_id).await.map_err(stripe_failure)?;
            apply_intent(pool, attempt, &intent).await?;
            Err(if intent.status == "succeeded" {
                PayError::NotPayable("the booking was paid a moment ago".into())
            } else {
                PayError::InFlight
            })
        }
        Err(err) => Err(stripe_failure(err)),
    }
}

/// One attempt with a new payment method.
async fn charge(
    pool: &PgPool,
    stripe: &Stripe,
    booking: BookingRow,
    payment_method: &str,
) -> Result<Checkout, PayError> {
    let currency = booking.currency.clone().unwrap_or_default();
    let attempt = {
        let mut conn = pool.acquire().await?;
        payments::insert(&mut conn, booking.id, Provider::Stripe, "creating", booking.total_cents(), &currency)
            .await
            .map_err(|err| match crate::db::violated_constraint(&err) {
                Some(payments::ONE_IN_FLIGHT) => PayError::InFlight,
                _ => PayError::Database(err),
            })?
    };
    let key = format!("boxoffice-booking-{}-attempt-{}", booking.id, attempt.id);
    let created =
        stripe.create_intent(&key, attempt.amount_cents, &currency, payment_method, &booking.id.to_string()).await;
    let intent = match created {
        Ok(intent) => intent,
        Err(err) => {
            record(pool, attempt.id, None, "failed", None, Some(&err.to_string())).await?;
            return Err(stripe_failure(err));
        }
    };
    if let Err(mismatch) = intent_matches(&intent, &booking) {
        tracing::error!(booking.id = %booking.id, intent = %intent.id, %mismatch, "Stripe's intent does not match the booking");
        record(pool, attempt.id, Some(&intent.id), "failed", None, Some(&mismatch)).await?;
        return Err(PayError::Provider("the payment provider answered with another amount".into()));
    }
    let recorded =
        record(pool, attempt.id, Some(&intent.id), "requires_confirmation", intent.client_secret.as_deref(), None)
            .await?;
    if !recorded {
        // Set aside meanwhile (this call took so long another attempt
        // started): never confirm it; cancel it so it cannot charge.
        let _ = stripe.cancel_intent(&intent.id).await;
        return Err(PayError::InFlight);
    }
    match stripe.confirm_intent(&intent.id).await {
        Ok(confirmed) => {
            let status = apply_intent(pool, &attempt, &confirmed).await?;
            let booking = db::find(&mut *pool.acquire().await?, booking.id).await?.ok_or(PayError::NotFound)?;
            let secret = (status == "requires_action").then(|| confirmed.client_secret.clone()).flatten();
            Ok(checkout(booking, Provider::Stripe, status, secret))
        }
        Err(err @ StripeError::Declined { .. }) => {
            record(pool, attempt.id, Some(&intent.id), "failed", None, Some(&err.to_string())).await?;
            tracing::info!(booking.id = %booking.id, error = %err, "card declined; the hold stays");
            Err(PayError::Declined(err.to_string()))
        }
        Err(err) => {
            // Unknown whether the card was charged: the attempt stays in
            // flight until Stripe says (the webhook, the buyer's confirm call,
            // or the next attempt, which asks first).
            tracing::warn!(booking.id = %booking.id, error = %err, "confirming the intent failed; outcome unknown");
            Err(stripe_failure(err))
        }
    }
}

/// Before a new attempt (or an answer), learns how the booking's attempt in
/// flight ended: one that succeeded is applied; one abandoned (3-D Secure
/// never finished, a declined card) is cancelled at Stripe and set aside.
/// Returns the newest attempt as it is then.
async fn settle_in_flight(pool: &PgPool, stripe: &Stripe, booking_id: Uuid) -> Result<Option<PaymentRow>, PayError> {
    let Some(latest) = payments::latest_of(&mut *pool.acquire().await?, booking_id).await? else { return Ok(None) };
    if !payments::IN_FLIGHT.contains(&latest.status.as_str()) {
        return Ok(Some(latest));
    }
    let Some(intent_id) = latest.intent_id.clone() else {
        if chrono::Utc::now() - latest.created_at > STALE_CREATING {
            record(pool, latest.id, None, "failed", None, Some("abandoned while being created")).await?;
            return Ok(payments::find(&mut *pool.acquire().await?, latest.id).await?);
        }
        return Ok(Some(latest));
    };
    let intent = stripe.retrieve_intent(&intent_id).await.map_err(stripe_failure)?;
    apply_intent(pool, &latest, &intent).await?;
    Ok(payments::find(&mut *pool.acquire().await?, latest.id).await?)
}

/// Records what Stripe says of an attempt's intent, and applies a success
/// (after checking amount, currency and booking). Returns the status recorded.
pub async fn apply_intent(pool: &PgPool, attempt: &PaymentRow, intent: &PaymentIntent) -> Result<String, PayError> {
    let booking = db::find(&mut *pool.acquire().await?, attempt.booking_id).await?.ok_or(PayError::NotFound)?;
    if let Err(mismatch) = intent_matches(intent, &booking) {
        tracing::error!(booking.id = %booking.id, intent = %intent.id, %mismatch, "intent does not match its booking; not applied");
        return Ok(attempt.status.clone());
    }
    let status = match intent.status.as_str() {
        "succeeded" => {
            pay::payment_succeeded(pool, attempt.id).await?;
            return Ok("succeeded".into());
        }
        "requires_action" | "processing" | "requires_confirmation" => intent.status.clone(),
        // Declined, 3-D Secure failed, cancelled: this attempt is over.
        _ => "failed".to_owned(),
    };
    let error = intent.last_payment_error.as_ref().and_then(|e| e.message.clone());
    record(pool, attempt.id, Some(&intent.id), &status, intent.client_secret.as_deref(), error.as_deref()).await?;
    Ok(status)
}

/// `POST /bookings/{id}/payment/confirm`: asks Stripe about the booking's
/// newest attempt and applies a success; returns the booking as it is then.
pub async fn check(
    pool: &PgPool,
    stripe: Option<&Stripe>,
    user_id: Uuid,
    booking_id: Uuid,
) -> Result<BookingRow, PayError> {
    let booking = owned_booking(pool, user_id, booking_id).await?;
    if let Some(stripe) = stripe.filter(|_| booking.payment_provider.0 == Some(Provider::Stripe)) {
        let latest = payments::latest_of(&mut *pool.acquire().await?, booking_id).await?;
        if let Some((attempt, intent_id)) = latest.and_then(|p| p.intent_id.clone().map(|id| (p, id))) {
            if attempt.status != "succeeded" {
                let intent = stripe.retrieve_intent(&intent_id).await.map_err(stripe_failure)?;
                apply_intent(pool, &attempt, &intent).await?;
            }
        }
    }
    db::find(&mut *pool.acquire().await?, booking_id).await?.ok_or(PayError::NotFound)
}

/// A signed webhook's intent: the attempt it belongs to (or, should its
/// record have been lost between Stripe's answer and ours, a new one for the
/// booking named in its metadata), then the same path as above.
///
/// The intent is taken from Stripe itself, never from the body alone: a
/// signature proves only that whoever sent it knows the webhook secret, and
/// a leaked or weak secret must not be enough to confirm a booking nobody
/// paid for (one GET per event; Stripe sends a few per payment).
pub async fn intent_event(pool: &PgPool, stripe: &Stripe, said: &PaymentIntent) -> Result<(), PayError> {
    let intent = match stripe.retrieve_intent(&said.id).await {
        Ok(intent) => intent,
        Err(StripeError::Refused { status, message }) => {
            tracing::warn!(intent = %said.id, status, %message, "webhook for an intent Stripe does not know; ignored");
            return Ok(());
        }
        Err(err) => return Err(stripe_failure(err)),
    };
    let intent = &intent;
    let mut conn = pool.acquire().await?;
    let attempt = match payments::find_by_intent(&mut conn, &intent.id).await? {
        Some(attempt) => attempt,
        None => {
            let Some(booking_id) = intent.metadata.get("booking_id").and_then(|id| id.parse::<Uuid>().ok()) else {
                tracing::warn!(intent = %intent.id, "webhook for an intent that is not ours; ignored");
                return Ok(());
            };
            let Some(booking) = db::find(&mut conn, booking_id).await? else {
                tracing::warn!(intent = %intent.id, "webhook for an unknown booking; ignored");
                return Ok(());
            };
            if let Err(mismatch) = intent_matches(intent, &booking) {
                tracing::error!(booking.id = %booking.id, intent = %intent.id, %mismatch, "webhook intent does not match its booking; not applied");
                return Ok(());
            }
            // Our record of the attempt was lost between Stripe's answer and
            // ours (the process died): the attempt left without an intent id
            // gets it; failing that, a success is recorded as a new attempt.
            match payments::attach_intent(&mut conn, booking.id, &intent.id).await? {
                Some(attempt) => attempt,
                None if intent.status == "succeeded" => {
                    let currency = booking.currency.clone().unwrap_or_default();
                    let attempt =
                        payments::insert(&mut conn, booking.id, Provider::Stripe, "failed", intent.amount, &currency)
                            .await?;
                    payments::record(&mut conn, attempt.id, Some(&intent.id), "failed", None, None).await?;
                    attempt
                }
                None => return Ok(()),
            }
        }
    };
    drop(conn);
    apply_intent(pool, &attempt, intent).await?;
    Ok(())
}

/// Whether Stripe's intent is for exactly this booking: its id in the
/// metadata, its total and its currency.
pub fn intent_matches(intent: &PaymentIntent, booking: &BookingRow) -> Result<(), String> {
    let named = intent.metadata.get("booking_id").map(String::as_str);
    if named != Some(booking.id.to_string().as_str()) {
        return Err(format!("metadata.booking_id is {named:?}"));
    }
    if intent.amount != booking.total_cents() {
        return Err(format!("amount {} instead of {}", intent.amount, booking.total_cents()));
    }
    let currency = booking.currency.as_deref().unwrap_or_default();
    if !intent.currency.eq_ignore_ascii_case(currency) {
        return Err(format!("currency {} instead of {currency}", intent.currency));
    }
    Ok(())
}

async fn owned_booking(pool: &PgPool, user_id: Uuid, booking_id: Uuid) -> Result<BookingRow, PayError> {
    let mut conn = pool.acquire().await?;
    db::find(&mut conn, booking_id).await?.filter(|b| b.user_id == user_id).ok_or(PayError::NotFound)
}

async fn record(
    pool: &PgPool,
    id: Uuid,
    intent_id: Option<&str>,
    status: &str,
    client_secret: Option<&str>,
    error: Option<&str>,
) -> Result<bool, sqlx::Error> {
    payments::record(&mut *pool.acquire().await?, id, intent_id, status, client_secret, error).await
}

fn checkout(booking: BookingRow, provider: Provider, status: String, client_secret: Option<String>) -> Checkout {
    Checkout {
        provider,
        status,
        amount_cents: booking.total_cents(),
        currency: booking.currency.clone().unwrap_or_default(),
        expires_at: booking.expires_at,
        client_secret,
        booking,
    }
}

fn stripe_failure(err: StripeError) -> PayError {
    match err {
        StripeError::Declined { message, .. } => PayError::Declined(message),
        StripeError::Refused { message, .. } => PayError::BadPaymentMethod(message),
        StripeError::Unreachable(reason) => PayError::Provider(reason),
    }
}
