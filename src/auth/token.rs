//! Access tokens: short-lived HS256 JWTs.
//!
//! A token names its user (`sub`) and its session (`sid`, the refresh-token
//! family it was minted in); revoking the session revokes the token at once.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const ISSUER: &str = "boxoffice";
/// Clock difference tolerated between the replicas that mint and check tokens.
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `user_id` in `session_id`.
    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            jti: Uuid::now_v7(),
            iss: ISSUER.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The claims of a token signed with this key, of the right algorithm,
    /// already valid and not yet expired; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok().map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], Duration::from_secs(60))
    }

    #[test]
    fn an_issued_token_verifies() {
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let claims = keys().verify(&keys().issue(user, session).unwrap()).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
    }

    #[test]
    fn another_key_a_tampered_payload_and_alg_none_are_refused() {
        let token = keys().issue(Uuid::now_v7(), Uuid::now_v7()).unwrap();
        let other = TokenKeys::new(&[8u8; 32], Duration::from_secs(60));
        assert!(other.verify(&token).is_none());

        let parts: Vec<&str> = token.split('.').collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = serde_json::json!(Uuid::now_v7());
        let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(keys().verify(&format!("{}.{forged}.{}", parts[0], parts[2])).is_none());

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(keys().verify(&format!("{none_header}.{}.", parts[1])).is_none());
        assert!(keys().verify("not-a-jwt").is_none());
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_refused() {
        let now = Utc::now().timestamp();
        for (nbf, exp) in [(now - 600, now - 60), (now + 600, now + 900)] {
            let claims = AccessClaims {
                sub: Uuid::now_v7(),
                sid: Uuid::now_v7(),
                jti: Uuid::now_v7(),
                iss: ISSUER.into(),
                iat: nbf,
                nbf,
                exp,
            };
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7u8; 32]))
                    .unwrap();
            assert!(keys().verify(&token).is_none());
        }
    }
}
