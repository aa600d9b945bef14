//! Admission control: at most `IN_FLIGHT` requests are worked on at once per
//! process; the rest wait at the door, before authentication, so an
//! overloaded process queues connections, not half-done work. Without it,
//! 10,000 concurrent requests made every Redis call wait behind the others
//! past its timeout, and the fallbacks meant for "Redis is gone" made the
//! overload worse (docs/BENCHMARKS.md). Long-polls (`?wait=`) are let
//! through: they mostly sleep (holding no connection; their number is
//! bounded by the waiters themselves), and holding a slot for 30 s would
//! starve the rest. Login and registration have a smaller door of their own:
//! they wait for the password hasher, and a flood of them must not take the
//! slots every other route needs. Stripe's webhook has a door of its own
//! too: it is outside the per-address rate limit (its signature is its gate,
//! checked before anything else is done), and during a sale's rush its
//! deliveries must neither wait behind buyers nor crowd them out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Requests worked on at once; enough to keep two cores and the connection
/// pools busy, few enough that nothing inside queues for long.
pub const IN_FLIGHT: usize = 512;
/// Logins and registrations worked on at once (each waits for argon2, of
/// which a few run at a time anyway).
pub const AUTH_IN_FLIGHT: usize = 32;
/// Stripe's webhook deliveries worked on at once.
pub const WEBHOOK_IN_FLIGHT: usize = 16;
/// Where Stripe delivers its events.
pub const STRIPE_WEBHOOK_PATH: &str = "/api/v1/payments/stripe/webhook";

#[derive(Clone)]
pub struct Admission {
    general: Arc<Semaphore>,
    passwords: Arc<Semaphore>,
    webhooks: Arc<Semaphore>,
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            general: Arc::new(Semaphore::new(IN_FLIGHT)),
            passwords: Arc::new(Semaphore::new(AUTH_IN_FLIGHT)),
            webhooks: Arc::new(Semaphore::new(WEBHOOK_IN_FLIGHT)),
        }
    }
}

/// A webhook delivery's body arrives within this, before it takes a place
/// at its door.
pub const WEBHOOK_BODY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The door: the first thing a request meets, outside the router and every
/// other layer, so that a request waiting here holds hyper's request and
/// this future only, not the futures of the middleware it would otherwise
/// have passed (about 17 KB each at 10,000 waiting: docs/BENCHMARKS.md).
pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    // A long-poll passes; Stripe's webhook has its own door, inside.
    if is_long_poll(&request) || request.uri().path() == STRIPE_WEBHOOK_PATH {
        return next.run(request).await;
    }
    let door = if hashes_a_password(&request) { &admission.passwords } else { &admission.general };
    let _permit = door.acquire().await.expect("the semaphore is never closed");
    next.run(request).await
}

/// Stripe's webhook's own door, inside the router (so its answers carry the
/// contract's headers): the body is read whole first, then a place taken.
pub async fn webhook_door(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    if request.uri().path() != STRIPE_WEBHOOK_PATH {
        return next.run(request).await;
    }
    // Read whole first: someone trickling bodies at the webhook (it is
    // outside the per-address limit) holds no place at its door.
    let (parts, body) = request.into_parts();
    let limit = super::extract::BODY_LIMIT;
    let bytes = match tokio::time::timeout(WEBHOOK_BODY_WITHIN, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return axum::response::IntoResponse::into_response(ApiError::PayloadTooLarge(limit)),
        Err(_) => return axum::response::IntoResponse::into_response(ApiError::RequestTimeout),
    };
    let _permit = admission.webhooks.acquire().await.expect("the semaphore is never closed");
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// Login and registration: the routes that run argon2 (and the sign-in
/// link's, which anyone may call as often as these).
fn hashes_a_password(request: &Request) -> bool {
    request.method() == axum::http::Method::POST
        && matches!(
            request.uri().path(),
            "/api/v1/auth/login"
                | "/api/v1/auth/register"
                | "/api/v1/auth/email-link"
                | "/api/v1/auth/email-link/redeem"
        )
}

/// A whole request, body included, within 45 s once admitted (a long-poll
/// takes 30 at most): a client sending its body a byte at a time is cut off
/// with 408.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(45);

pub async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(crate::error::ApiError::RequestTimeout),
    }
}

/// `GET /api/v1/bookings/{id}?wait=...`, and nothing else.
fn is_long_poll(request: &Request) -> bool {
    let uri = request.uri();
    request.method() == axum::http::Method::GET
        && uri.path().strip_prefix("/api/v1/bookings/").is_some_and(|id| !id.is_empty() && !id.contains('/'))
        && uri.query().is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("wait")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, uri: &str) -> Request {
        Request::builder().method(method).uri(uri).body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn login_and_registration_have_a_door_of_their_own() {
        assert!(hashes_a_password(&request("POST", "/api/v1/auth/login")));
        assert!(hashes_a_password(&request("POST", "/api/v1/auth/register")));
        assert!(!hashes_a_password(&request("POST", "/api/v1/auth/refresh")));
        assert!(!hashes_a_password(&request("GET", "/api/v1/me")));
    }

    #[test]
    fn only_a_booking_long_poll_skips_the_door() {
        assert!(is_long_poll(&request("GET", "/api/v1/bookings/abc?wait=30")));
        assert!(is_long_poll(&request("GET", "/api/v1/bookings/abc?x=1&wait=5")));
        assert!(!is_long_poll(&request("POST", "/api/v1/bookings?wait=1")));
        assert!(!is_long_poll(&request("GET", "/api/v1/events?await=x")));
        assert!(!is_long_poll(&request("GET", "/api/v1/events?q=wait=")));
        assert!(!is_long_poll(&request("GET", "/api/v1/bookings/abc/cancel?wait=1")));
        assert!(!is_long_poll(&request("GET", "/api/v1/bookings/abc")));
    }
}
