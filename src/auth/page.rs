//! The keys of the web pages' sessions and CSRF tokens, and the cookies
//! that carry them (the pages' own rules about them: `pages::session`).

use std::time::Duration;

use axum::http::HeaderValue;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::TokenKeys;

/// The keys of page sessions and CSRF tokens: derived from the token secret,
/// but not the same key, so a session cookie is never a bearer token.
pub struct PageKeys {
    pub session: TokenKeys,
    csrf: [u8; 32],
    secure: bool,
}

impl PageKeys {
    pub fn new(secret: &[u8], lifetime: Duration, public_url: &str) -> Self {
        let derive = |purpose: &str| -> [u8; 32] {
            let mut hash = Sha256::new();
            hash.update(purpose.as_bytes());
            hash.update(secret);
            hash.finalize().into()
        };
        Self {
            session: TokenKeys::new(&derive("boxoffice page session"), lifetime),
            csrf: derive("boxoffice csrf"),
            secure: public_url.starts_with("https://"),
        }
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure { "__Host-boxoffice" } else { "boxoffice" }
    }

    pub fn browser_cookie(&self) -> &'static str {
        if self.secure { "__Host-boxoffice-browser" } else { "boxoffice-browser" }
    }

    pub fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age.map(|a| format!("; Max-Age={}", a.as_secs())).unwrap_or_default();
        HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"))
            .expect("cookie values are base64 and hex")
    }

    /// The `Set-Cookie` that signs `user` in (for as long as a refresh token lives).
    pub fn sign_in(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<HeaderValue> {
        let value = self.session.issue(user_id, session_id)?;
        Ok(self.cookie(self.session_cookie(), &value, Some(self.session.ttl())))
    }

    /// The `Set-Cookie` that forgets the session.
    pub fn sign_out(&self) -> HeaderValue {
        self.cookie(self.session_cookie(), "", Some(Duration::ZERO))
    }

    pub fn token(&self, bound_to: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf).expect("any key length");
        mac.update(bound_to.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    pub fn token_matches(&self, bound_to: &str, token: &str) -> bool {
        let Some(bytes) = unhex(token) else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.csrf).expect("any key length");
        mac.update(bound_to.as_bytes());
        mac.verify_slice(&bytes).is_ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}
