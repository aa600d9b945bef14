//! Query parameters, typed: a query string is read as sent (its documented
//! `…Params`, all strings: a 400 only when it is not a query string at all)
//! and checked into the handler's typed value with every bad field named
//! (a 422): [`Checked`]. Here too: the `limit` of a list, keyset cursors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::extract::Query;
use crate::domain::event as rules;
use crate::domain::{FieldError, Violations};
use crate::error::ApiError;

/// Items per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: i64 = 20;

/// A query string's parameters checked into a typed value (svix's
/// `ValidatedQuery`): `T::Raw` is what the route documents and reads.
pub struct Checked<T>(pub T);

/// A typed value of a query string.
pub trait FromQuery: Sized {
    /// The parameters as sent.
    type Raw: serde::de::DeserializeOwned;
    /// The value, or every bad field.
    fn check(raw: Self::Raw) -> Result<Self, Vec<FieldError>>;
}

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for Checked<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<T::Raw>::from_request_parts(parts, state).await?;
        T::check(raw).map(Checked).map_err(ApiError::Validation)
    }
}

/// The `limit` of a list: 1 to 100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(i64);

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

impl Limit {
    /// A limit the caller knows to be in range (a page asking for its own list).
    pub const fn of(n: i64) -> Self {
        Self(if n < 1 {
            1
        } else if n > 100 {
            100
        } else {
            n
        })
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// As sent (absent or blank: the default).
    pub fn parse(v: &mut Violations, raw: Option<&str>) -> Option<Self> {
        match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
            None => Some(Self::default()),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) => v.range("limit", n, 1, 100).map(Self),
                Err(_) => {
                    v.add("limit", "must be a whole number between 1 and 100");
                    None
                }
            },
        }
    }
}

/// A cursor that is a booking id (the lists of bookings, newest first).
pub(crate) fn booking_cursor(v: &mut Violations, raw: &str) -> Option<Uuid> {
    v.check("cursor", Uuid::parse_str(raw).map_err(|_| "is not a cursor returned by this list".to_owned()))
}

/// A query parameter given with a value (`?q=` counts as absent).
pub(crate) fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|raw| !raw.trim().is_empty())
}

pub(crate) fn encode_cursor(starts_at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", starts_at.timestamp_micros()))
}

pub(crate) fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), String> {
    const BAD: &str = "is not a cursor returned by this list";
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BAD.to_owned())?;
    let text = String::from_utf8(bytes).map_err(|_| BAD.to_owned())?;
    let (micros, id) = text.split_once('|').ok_or(BAD)?;
    let micros: i64 = micros.parse().map_err(|_| BAD.to_owned())?;
    let starts_at = DateTime::from_timestamp_micros(micros).filter(|t| rules::in_supported_range(*t)).ok_or(BAD)?;
    let id = Uuid::parse_str(id).map_err(|_| BAD.to_owned())?;
    Ok((starts_at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        for bad in ["", "!!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("99999999999999999999|x")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
