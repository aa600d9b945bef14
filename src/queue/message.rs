//! What travels through the booking queue: one booking request as a JSON
//! object, or several accepted at the same moment as a JSON array of them
//! (the API coalesces concurrent accepts into one message). Workers read
//! both, so deploy workers before APIs when this changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::booking::AcceptedRequest;

/// How an [`AcceptedRequest`] travels through the booking queue (JSON). Its
/// own type, so the wire format can stay compatible with messages already
/// in a queue while the domain type changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRequested {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    pub accepted_at: DateTime<Utc>,
    /// The price the buyer was shown when the request was accepted; the
    /// worker refuses (`price_changed`) if the ticket type's differs by then.
    /// Absent in messages from before it travelled (they are not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The code the request was accepted with (absent without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<Uuid>,
    /// The presale of the request's code (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presale_at: Option<DateTime<Utc>>,
    /// The tax shown with the price: (basis points, included); absent in
    /// messages from before it travelled (not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<(i32, bool)>,
    /// Holders' names and answers (absent when none were given).
    #[serde(default, skip_serializing_if = "crate::domain::question::Details::is_empty")]
    pub details: crate::domain::question::Details,
}

/// The body of a message carrying `requests`: the object itself for one
/// (what workers have always read), an array of them for more.
pub fn encode(requests: &[BookingRequested]) -> Vec<u8> {
    let encoded = match requests {
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    };
    encoded.expect("a booking request serializes")
}

/// The requests of a message body (one object, or an array of them).
pub fn decode(data: &[u8]) -> Result<Vec<BookingRequested>, serde_json::Error> {
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(data),
        _ => serde_json::from_slice(data).map(|one| vec![one]),
    }
}

/// Header counting how often a message has been tried (absent: never).
pub const ATTEMPTS_HEADER: &str = "x-boxoffice-attempts";
/// Header holding the last error of a dead-lettered or retried message.
pub const ERROR_HEADER: &str = "x-boxoffice-error";

impl From<&AcceptedRequest> for BookingRequested {
    fn from(r: &AcceptedRequest) -> Self {
        Self {
            booking_id: r.booking_id,
            user_id: r.user_id,
            event_id: r.event_id,
            ticket_type_id: r.ticket_type_id,
            quantity: r.quantity,
            idempotency_key: r.idempotency_key.clone(),
            accepted_at: r.accepted_at,
            unit_price_cents: r.unit_price_cents,
            currency: r.currency.clone(),
            code_id: r.code_id,
            presale_at: r.presale_at,
            tax: r.tax,
            details: r.details.clone(),
        }
    }
}

impl From<BookingRequested> for AcceptedRequest {
    fn from(m: BookingRequested) -> Self {
        Self {
            booking_id: m.booking_id,
            user_id: m.user_id,
            event_id: m.event_id,
            ticket_type_id: m.ticket_type_id,
            quantity: m.quantity,
            idempotency_key: m.idempotency_key,
            accepted_at: m.accepted_at,
            unit_price_cents: m.unit_price_cents,
            currency: m.currency,
            code_id: m.code_id,
            presale_at: m.presale_at,
            tax: m.tax,
            details: m.details,
        }
    }
}

/// A message's requests: those the worker can act on, and those set apart
/// with why.
pub type Sorted = (Vec<AcceptedRequest>, Vec<(BookingRequested, String)>);

/// The requests of a message the worker can act on — well-formed JSON of the
/// right shape — split into those with sane values and those without, each
/// with why (the API never sends such; a hand-made or corrupted message must
/// not reach the database).
pub fn sort(data: &[u8]) -> Result<Sorted, String> {
    let requests = decode(data).map_err(|e| format!("unparseable: {e}"))?;
    if requests.is_empty() {
        return Err("unparseable: no booking request in the message".into());
    }
    let (mut good, mut bad) = (Vec::with_capacity(requests.len()), Vec::new());
    for request in requests {
        match insane(&request) {
            Some(why) => bad.push((request, why)),
            None => good.push(request.into()),
        }
    }
    Ok((good, bad))
}

fn insane(message: &BookingRequested) -> Option<String> {
    if !(1..=1000).contains(&message.quantity) {
        return Some(format!("quantity {} out of range", message.quantity));
    }
    if message.idempotency_key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255 || k.contains('\0')) {
        return Some("invalid idempotency key".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BookingRequested {
        BookingRequested {
            booking_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            ticket_type_id: Uuid::now_v7(),
            quantity: 1,
            idempotency_key: Some("k".into()),
            accepted_at: Utc::now(),
            unit_price_cents: Some(0),
            currency: Some("EUR".into()),
            code_id: None,
            presale_at: None,
            tax: None,
            details: Default::default(),
        }
    }

    #[test]
    fn one_request_travels_as_an_object_several_as_an_array_and_both_decode() {
        let one = vec![request()];
        let body = encode(&one);
        assert_eq!(body.first(), Some(&b'{'), "what older workers read");
        assert_eq!(decode(&body).unwrap(), one);
        let three = vec![request(), request(), request()];
        let body = encode(&three);
        assert_eq!(body.first(), Some(&b'['));
        assert_eq!(decode(&body).unwrap(), three);
        assert!(decode(b"[{\"booking_id\": 1}]").is_err());
        assert!(decode(b"{not json").is_err());
    }

    #[test]
    fn requests_with_insane_values_are_set_apart_from_the_others_of_their_message() {
        let good = serde_json::json!({
            "booking_id": uuid::Uuid::now_v7(), "user_id": uuid::Uuid::now_v7(), "event_id": uuid::Uuid::now_v7(),
            "ticket_type_id": uuid::Uuid::now_v7(), "quantity": 2, "idempotency_key": null,
            "accepted_at": "2027-01-01T00:00:00Z"
        });
        let (sane, insane) = sort(good.to_string().as_bytes()).unwrap();
        assert_eq!((sane.len(), insane.len()), (1, 0));
        for (field, value) in [("quantity", serde_json::json!(0)), ("idempotency_key", serde_json::json!("nul\u{0}"))] {
            let mut bad = good.clone();
            bad[field] = value;
            let (sane, insane) = sort(bad.to_string().as_bytes()).unwrap();
            assert_eq!((sane.len(), insane.len()), (0, 1), "{field}");
            // In a message with others, only the insane one is set apart.
            let batch = serde_json::json!([good, bad, good]);
            let (sane, insane) = sort(batch.to_string().as_bytes()).unwrap();
            assert_eq!((sane.len(), insane.len()), (2, 1), "{field}");
        }
        assert!(sort(b"not json").is_err());
        assert!(sort(b"[]").is_err());
    }
}
