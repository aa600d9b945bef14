//! A small typed client for the part of Stripe's API Boxoffice uses:
//! Payment Intents and Refunds, form-encoded as Stripe expects.
//!
//! Targets Stripe API version [`API_VERSION`] (sent on every request, so an
//! account's default version does not change what we get back). Sends only
//! parameters that both Stripe and the localstripe emulator accept:
//! `payment_method_types[]=card` keeps Stripe from asking for a `return_url`
//! (automatic payment methods are off), and the emulator rejects what it
//! does not know (`automatic_payment_methods` among them).

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Config, Secret};

pub const API_VERSION: &str = "2024-06-20";
/// A Stripe call that takes longer than this is treated as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    secret_key: Secret,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe").field("base", &self.base).finish_non_exhaustive()
    }
}

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// The card was declined (HTTP 402): the buyer may try another.
    #[error("{message}")]
    Declined { code: String, message: String },
    /// Stripe refused the request (4xx): retrying it as is will not help.
    #[error("Stripe refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    /// Stripe did not answer, or answered 5xx or 429: worth another try.
    #[error("Stripe is unreachable: {0}")]
    Unreachable(String),
}

impl StripeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable(_))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    pub client_secret: Option<String>,
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentError {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

impl Stripe {
    /// The client, when `STRIPE_SECRET_KEY` is set.
    pub fn from_config(config: &Config) -> Option<Self> {
        Some(Self::new(&config.stripe_api_base, config.stripe_secret_key.clone()?))
    }

    pub fn new(base: &str, secret_key: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("a TLS backend is compiled in");
        Self { http, base: base.trim_end_matches('/').to_owned(), secret_key }
    }

    /// A card payment method from a raw test card number, as Stripe.js makes
    /// one in the buyer's browser: for the emulator, tests and load runs
    /// (Stripe itself refuses raw numbers outside test mode).
    pub async fn test_card(&self, number: &str) -> Result<String, StripeError> {
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        let form = [
            ("type", "card".to_owned()),
            ("card[number]", number.to_owned()),
            ("card[exp_month]", "12".to_owned()),
            ("card[exp_year]", "2034".to_owned()),
            ("card[cvc]", "123".to_owned()),
        ];
        Ok(self.post::<Created>("/v1/payment_methods", None, &form).await?.id)
    }

    /// Creates an intent for `amount` of `currency` paid with
    /// `payment_method`, not yet confirmed: creating twice (a lost answer)
    /// can only leave an unconfirmed intent behind, never a second charge.
    pub async fn create_intent(
        &self,
        idempotency_key: &str,
        amount: i64,
        currency: &str,
        payment_method: &str,
        booking_id: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let form = [
            ("amount", amount.to_string()),
            ("currency", currency.to_ascii_lowercase()),
            ("payment_method", payment_method.to_owned()),
            ("payment_method_types[]", "card".to_owned()),
            ("metadata[booking_id]", booking_id.to_owned()),
        ];
        self.post("/v1/payment_intents", Some(idempotency_key), &form).await
    }

    /// Confirms an intent: it charges the card, or asks for 3-D Secure.
    pub async fn confirm_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.post::<PaymentIntent>(&format!("/v1/payment_intents/{}/confirm", path_part(id)?), None, &[]).await
    }

    /// Cancels an intent nobody will finish (3-D Secure abandoned for another card).
    pub async fn cancel_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.post::<PaymentIntent>(&format!("/v1/payment_intents/{}/cancel", path_part(id)?), None, &[]).await
    }

    pub async fn retrieve_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.get(&format!("/v1/payment_intents/{}", path_part(id)?), &[]).await
    }

    /// Refunds an intent in full; `refund_id` is the Idempotency-Key and
    /// goes in the metadata, so a retry can find a refund made before.
    pub async fn refund(&self, intent_id: &str, refund_id: &str) -> Result<Refund, StripeError> {
        let form = [("payment_intent", intent_id.to_owned()), ("metadata[refund_id]", refund_id.to_owned())];
        self.post("/v1/refunds", Some(refund_id), &form).await
    }

    /// The refund of `intent_id` made for our `refund_id`, if Stripe has one.
    pub async fn find_refund(&self, intent_id: &str, refund_id: &str) -> Result<Option<Refund>, StripeError> {
        let list: List<Refund> = self.get("/v1/refunds", &[("payment_intent", intent_id), ("limit", "100")]).await?;
        Ok(list.data.into_iter().find(|r| r.metadata.get("refund_id").map(String::as_str) == Some(refund_id)))
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: Option<&str>,
        form: &[(&str, String)],
    ) -> Result<T, StripeError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, StripeError> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query)).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, StripeError> {
        let response = request
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(|err| StripeError::Unreachable(without_url(&err)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| StripeError::Unreachable(without_url(&err)))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|err| StripeError::Unreachable(format!("unreadable answer: {err}")));
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error);
        let message = detail.as_ref().and_then(|d| d.message.clone()).unwrap_or_else(|| status.to_string());
        match status.as_u16() {
            402 => Err(StripeError::Declined {
                code: detail.and_then(|d| d.code).unwrap_or_else(|| "card_declined".into()),
                message,
            }),
            429 | 500.. => Err(StripeError::Unreachable(format!("{status}: {message}"))),
            code => Err(StripeError::Refused { status: code, message }),
        }
    }
}

/// An id put in a URL path: Stripe's ids are letters, digits and `_`.
fn path_part(id: &str) -> Result<&str, StripeError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(id)
    } else {
        Err(StripeError::Refused { status: 400, message: "not a Stripe id".into() })
    }
}

/// reqwest's error without the URL (it may carry query parameters): what
/// kind of failure, and its causes.
fn without_url(err: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
