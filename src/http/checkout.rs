//! Paying for a held booking: the buyer's routes (pay, check the payment,
//! confirm a free hold) and Stripe's webhook. The rules are in
//! `booking::pay` and `booking::card`; this only speaks HTTP.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::bookings::Booking;
use super::extract::{CurrentUser, JsonOrEmpty, Path};
use crate::booking::{card, pay, status};
use crate::domain::booking::BookingStatus;
use crate::domain::checkout::Provider;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;
use crate::payments::webhook;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Stripe's payment method (`pm_…`, or a card id `card_…` from
    /// Stripe.js's `createToken`): the server charges it at once. Leave it
    /// out to learn how to pay.
    pub payment_method: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Payment {
    pub provider: Provider,
    /// Card: `requires_payment_method` (send one), `requires_action` (finish
    /// 3-D Secure with Stripe.js and `client_secret`), `processing`,
    /// `succeeded` (the booking is confirmed). Offline: `pending` until the
    /// organizer marks it paid.
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    /// Pay before this, or the seats go back on sale.
    pub expires_at: Option<DateTime<Utc>>,
    pub client_secret: Option<String>,
    /// For Stripe.js (card payments).
    pub publishable_key: Option<String>,
    /// How to pay (offline).
    pub instructions: Option<String>,
}

/// Pay for a held booking: by card (Stripe) with a `payment_method`, or read
/// the offline instructions. The same answer when asked again; a declined
/// card keeps the hold.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/payment", tag = "bookings", params(("id" = Uuid, Path)),
    request_body(content = PaymentRequest, description = "May be left out"), security(("bearer" = [])),
    responses(
        (status = 200, description = "How the payment stands", body = Payment),
        (status = 402, description = "The card was declined (`payment_failed`); the hold stays", body = Problem),
        (status = 404, description = "No such booking of the caller", body = Problem),
        (status = 409, description = "The booking is not held (`not_payable`), or another payment of it is in flight (`conflict`)", body = Problem),
        (status = 422, description = "Stripe does not accept this payment method", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, booking.id = %id))]
pub async fn pay(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    JsonOrEmpty(req): JsonOrEmpty<PaymentRequest>,
) -> ApiResult<axum::Json<Payment>> {
    let method = match req.payment_method.as_deref().map(str::trim) {
        Some(m) if !is_payment_method(m) => {
            return Err(ApiError::field("payment_method", "must be a Stripe payment method id (pm_…, card_…)"));
        }
        other => other,
    };
    if let status::Current::Pending(_) = find(&state, user.id, id).await? {
        return Err(pay::PayError::NotPayable(pay::not_payable(BookingStatus::Pending)).into());
    }
    let checkout = card::pay(&state.db, state.stripe.as_ref(), user.id, id, method).await?;
    let config = &state.config;
    // The event's own instructions for paying offline, else the server's.
    let instructions = match checkout.provider {
        Provider::Offline => {
            let mut conn = state.db.acquire().await?;
            let event = match crate::db::bookings::find(&mut conn, id).await? {
                Some(booking) => crate::db::events::find_event(&mut conn, booking.event_id).await?,
                None => None,
            };
            Some(
                event
                    .and_then(|e| e.offline_payment_instructions)
                    .unwrap_or_else(|| config.offline_payment_instructions.clone()),
            )
        }
        Provider::Stripe => None,
    };
    Ok(axum::Json(Payment {
        provider: checkout.provider,
        status: checkout.status,
        amount_cents: checkout.amount_cents,
        currency: checkout.currency,
        expires_at: checkout.expires_at,
        client_secret: checkout.client_secret,
        publishable_key: config.stripe_publishable_key.clone().filter(|_| checkout.provider == Provider::Stripe),
        instructions,
    }))
}

/// A payment method id as Stripe writes them: a known prefix, then letters,
/// digits and `_`.
fn is_payment_method(id: &str) -> bool {
    ["pm_", "card_", "src_"].iter().any(|p| id.len() > p.len() && id.starts_with(p))
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Ask Stripe how the booking's card payment went (after 3-D Secure, say):
/// a success confirms the booking before this returns.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/payment/confirm", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking: confirmed, or as it was while the payment has not succeeded", body = Booking),
        (status = 404, description = "No such booking of the caller", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, booking.id = %id))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Booking>> {
    if let pending @ status::Current::Pending(_) = find(&state, user.id, id).await? {
        return Ok(axum::Json(pending.into()));
    }
    let row = card::check(&state.db, state.stripe.as_ref(), user.id, id).await?;
    let mut conn = state.db.acquire().await?;
    Ok(axum::Json(status::stored_booking(&mut conn, row).await?.into()))
}

/// The caller's booking as it is now (still in line, or stored); 404 for anyone else's.
async fn find(state: &AppState, user_id: Uuid, id: Uuid) -> ApiResult<status::Current> {
    status::of_user(&state.db, &state.bookings, user_id, id).await?.ok_or(ApiError::NotFound("booking"))
}

/// Confirm a held booking that costs nothing (a free waiting-list offer).
#[utoipa::path(post, path = "/api/v1/bookings/{id}/confirm", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The confirmed booking", body = Booking),
        (status = 404, description = "No such booking of the caller", body = Problem),
        (status = 409, description = "Not held (`not_payable`), or it has a price (`payment_required`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, booking.id = %id))]
pub async fn confirm_booking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Booking>> {
    let current = pay::confirm_free(&state.db, user.id, id).await?;
    Ok(axum::Json(current.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceived {
    pub received: bool,
    /// This event id was received before; nothing was applied again.
    pub duplicate: bool,
}

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: StripeEventData,
}

#[derive(Debug, Deserialize)]
struct StripeEventData {
    object: serde_json::Value,
}

/// Stripe's webhook: `payment_intent.*` events, signed with the endpoint's
/// secret (`Stripe-Signature`); each event id is applied once.
#[utoipa::path(post, path = "/api/v1/payments/stripe/webhook", tag = "bookings",
    request_body(content = String, description = "A Stripe event, as Stripe sends it", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "Stripe's signature of the body")),
    responses(
        (status = 200, description = "Received", body = WebhookReceived),
        (status = 400, description = "No, a bad or an old signature (`invalid_signature`), or not an event", body = Problem),
        (status = 404, description = "Card payments are not configured", body = Problem),
    ))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<WebhookReceived>> {
    let Some(secret) = state.config.stripe_webhook_secret.as_ref() else {
        return Err(ApiError::NotFound("a Stripe webhook (card payments are not configured)"));
    };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Err(err) = webhook::verify(signature, &body, secret.expose(), Utc::now().timestamp()) {
        tracing::warn!(error = %err, "webhook refused");
        return Err(ApiError::InvalidSignature(err));
    }
    let event: StripeEvent =
        serde_json::from_slice(&body).map_err(|err| ApiError::BadRequest(format!("not a Stripe event: {err}")))?;
    let mut conn = state.db.acquire().await?;
    if crate::db::payments::event_seen(&mut conn, &event.id).await? {
        return Ok(axum::Json(WebhookReceived { received: true, duplicate: true }));
    }
    drop(conn);
    if event.kind.starts_with("payment_intent.") {
        let intent: crate::payments::stripe::PaymentIntent = serde_json::from_value(event.data.object)
            .map_err(|err| ApiError::BadRequest(format!("not a payment intent: {err}")))?;
        // Applying is idempotent; the id is recorded after, so an event whose
        // application failed is applied when Stripe sends it again.
        let stripe =
            state.stripe.as_ref().ok_or(ApiError::NotFound("a Stripe webhook (card payments are not configured)"))?;
        card::intent_event(&state.db, stripe, &intent).await?;
        tracing::info!(event = %event.id, kind = %event.kind, intent = %intent.id, "webhook applied");
    }
    crate::db::payments::first_delivery(&mut *state.db.acquire().await?, &event.id, &event.kind).await?;
    Ok(axum::Json(WebhookReceived { received: true, duplicate: false }))
}
