//! Pages of lists: the `limit` parameter, keyset cursors, text search patterns.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::Violations;
use crate::domain::event as rules;

/// Items per page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: i64 = 20;

/// The `limit` of a list: 1 to 100, default 20.
pub(crate) fn parse_limit(v: &mut Violations, raw: Option<&str>) -> Option<i64> {
    match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
        None => Some(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) => v.range("limit", n, 1, 100),
            Err(_) => {
                v.add("limit", "must be a whole number between 1 and 100");
                None
            }
        },
    }
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
