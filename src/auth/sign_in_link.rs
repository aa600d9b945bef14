//! Sign-in links: a random token mailed to an address, its SHA-256 kept
//! (like verification links), good once within [`VALID_FOR`]. Opening one
//! proves the address, so it signs in, and makes the account (verified)
//! when the address has none.

use std::time::Duration;

/// How long a sign-in link works: short, since it is as good as a password.
pub const VALID_FOR: Duration = Duration::from_secs(15 * 60);

/// Links one address gets at most at the request of one network, an hour's
/// and a day's worth; and from all networks together in a day (so that a
/// stranger asking from elsewhere cannot lock the owner out, nor bury the
/// address in mail).
pub const PER_HOUR: i64 = 4;
pub const PER_DAY: i64 = 6;
pub const PER_DAY_ALL: i64 = 20;

/// A new token and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    super::refresh::generate()
}

pub fn hash(token: &str) -> Vec<u8> {
    super::refresh::hash(token)
}

/// The name of an account a link made: the address's local part, which the
/// person sees on their pages and can recognise (no name was asked for).
pub fn default_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let name: String = local.chars().take(crate::http::auth::NAME_MAX).collect();
    if name.trim().is_empty() { email.to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_made_by_a_link_is_named_after_the_address() {
        assert_eq!(default_name("ada.lovelace@example.com"), "ada.lovelace");
        assert_eq!(default_name("x@y"), "x");
    }
}
