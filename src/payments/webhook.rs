//! Stripe's webhook signatures: `Stripe-Signature: t=<unix time>,v1=<hex>`,
//! where v1 is HMAC-SHA256 of `"<t>.<raw body>"` with the endpoint's
//! signing secret. Checked in constant time, within a tolerance of 300 s
//! either way (an old delivery replayed by someone who recorded it fails).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature's timestamp is more than 300 s away")]
    OutsideTolerance,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `header` for `body` at unix time `now`.
pub fn verify(header: &str, body: &[u8], secret: &str, now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.extend(decode_hex(hex)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance);
    }
    let mac = signed_payload(timestamp, body, secret);
    if signatures.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header Stripe would send for `body` at `timestamp` (tests, and the
/// README's example of a hand-signed event).
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let bytes = signed_payload(timestamp, body, secret).finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

fn signed_payload(timestamp: i64, body: &[u8], secret: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_made_with_the_secret_passes_and_any_change_fails() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_900_000_000);
        assert_eq!(verify(&header, body, SECRET, 1_900_000_100), Ok(()));
        assert_eq!(verify(&header, br#"{"id":"evt_2"}"#, SECRET, 1_900_000_100), Err(SignatureError::Mismatch));
        assert_eq!(verify(&header, body, "whsec_other", 1_900_000_100), Err(SignatureError::Mismatch));
        let forged = header.replace("t=1900000000", "t=1900000050");
        assert_eq!(verify(&forged, body, SECRET, 1_900_000_100), Err(SignatureError::Mismatch));
    }

    #[test]
    fn old_and_malformed_signatures_fail() {
        let body = b"{}";
        let header = sign(body, SECRET, 1_900_000_000);
        assert_eq!(verify(&header, body, SECRET, 1_900_000_301), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(&header, body, SECRET, 1_899_999_699), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(&header, body, SECRET, 1_900_000_300), Ok(()));
        for bad in ["", "t=1900000000", "v1=00", "t=x,v1=00", "t=1900000000,v1=zz"] {
            assert_eq!(verify(bad, body, SECRET, 1_900_000_000), Err(SignatureError::Malformed), "{bad}");
        }
    }

    #[test]
    fn any_one_of_several_v1_signatures_may_match() {
        let body = b"{}";
        let good = sign(body, SECRET, 1_900_000_000);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1900000000,v1={},v1={v1},v0=abc", "00".repeat(32));
        assert_eq!(verify(&header, body, SECRET, 1_900_000_000), Ok(()));
    }
}
