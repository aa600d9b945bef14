//! Verification links: a random token mailed to the address, its SHA-256
//! kept (like refresh tokens), good once within [`VALID_FOR`].

use std::time::Duration;

/// How long a verification link works.
pub const VALID_FOR: Duration = Duration::from_secs(24 * 3600);

/// A new token and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    super::refresh::generate()
}

pub fn hash(token: &str) -> Vec<u8> {
    super::refresh::hash(token)
}
