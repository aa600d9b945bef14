//! Rate limiting at the edge, as middleware: per user on authenticated
//! routes, per client IP otherwise, stricter per IP on login, register and
//! refresh (login is also limited per email address, in its handler). When
//! Redis cannot answer, requests pass (fail open) with a warning and a metric:
//! a missing limiter must not take the service down with it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::cache::rate_limit::{Decision, Limit};
use crate::config::Config;
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Limits {
    pub enabled: bool,
    pub trust_proxy_headers: bool,
    pub user: Limit,
    pub anonymous: Limit,
    pub auth: Limit,
    pub login_failures: Limit,
    pub login_email: Limit,
}

impl Limits {
    /// The limits of a validated config.
    pub fn from_config(config: &Config) -> Self {
        let parse = |raw: &str| Limit::parse(raw).expect("validated at start");
        Self {
            enabled: config.rate_limits == "on",
            trust_proxy_headers: config.trust_proxy_headers,
            user: parse(&config.rate_limit_user),
            anonymous: parse(&config.rate_limit_anonymous),
            auth: parse(&config.rate_limit_auth),
            login_failures: parse(&config.rate_limit_login_failures),
            login_email: parse(&config.rate_limit_login_email),
        }
    }
}

pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !state.limits.enabled {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await; // health, metrics and docs are not limited
    }
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = client_ip(request.headers(), peer, state.limits.trust_proxy_headers);
    let (key, limit) = if path.starts_with("/api/v1/auth/") && path != "/api/v1/auth/logout" {
        (format!("auth-ip:{ip}"), state.limits.auth)
    } else if let Some(user) = bearer_user(&state, request.headers()).await {
        // The handler's extractor takes it from here instead of checking again.
        request.extensions_mut().insert(user);
        (format!("user:{}", user.id), state.limits.user)
    } else {
        (format!("ip:{ip}"), state.limits.anonymous)
    };
    match check(&state, &key, limit).await {
        Some(decision) if !decision.allowed => {
            let mut response = ApiError::RateLimited { retry_after: decision.retry_after_secs }.into_response();
            set_headers(response.headers_mut(), &decision);
            response
        }
        Some(decision) => {
            let mut response = next.run(request).await;
            set_headers(response.headers_mut(), &decision);
            response
        }
        None => next.run(request).await,
    }
}

/// The failed-login limits of one attempt: per (account, client address) —
/// past it that address's attempts on that account are refused without a
/// password check — and per account from all addresses, a ceiling past which
/// a wrong password answers 429 while the right one still signs in. Only
/// failures count, so nobody can lock an owner out by guessing, and the keys
/// name a digest of the address, not the raw (unvalidated, up to 64 KiB) field.
pub struct LoginFailures {
    pair: String,
    account: String,
}

impl LoginFailures {
    pub fn new(email: &str, client_ip: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
        let account: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Self { pair: format!("login-fail:{account}:{client_ip}"), account: format!("login-fail:{account}") }
    }

    /// 429 when this address has used up its failures on this account.
    pub async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        if !state.limits.enabled {
            return Ok(());
        }
        match state.limiter.peek(&self.pair, state.limits.login_failures).await {
            Ok(decision) if !decision.allowed => Err(ApiError::RateLimited { retry_after: decision.retry_after_secs }),
            Ok(_) => Ok(()),
            Err(err) => {
                state.metrics.redis_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "login limit not enforced: Redis unavailable");
                Ok(())
            }
        }
    }

    /// Counts a failed attempt; the answer to give it.
    pub async fn failed(&self, state: &AppState) -> ApiError {
        if !state.limits.enabled {
            return ApiError::InvalidCredentials;
        }
        check(state, &self.pair, state.limits.login_failures).await;
        match check(state, &self.account, state.limits.login_email).await {
            Some(decision) if !decision.allowed => {
                tracing::warn!("failed logins on one account from many addresses passed the ceiling");
                ApiError::RateLimited { retry_after: decision.retry_after_secs }
            }
            _ => ApiError::InvalidCredentials,
        }
    }
}

/// Counts a request against `key`; `None` when Redis could not say (fail open).
pub async fn check(state: &AppState, key: &str, limit: Limit) -> Option<Decision> {
    match state.limiter.check(key, limit).await {
        Ok(decision) => Some(decision),
        Err(err) => {
            state.metrics.redis_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "rate limit not enforced: Redis unavailable");
            None
        }
    }
}

pub fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(decision.reset_secs));
}

/// The user of a valid bearer token of a live session. A logged-out or
/// forged token counts against the client's address, never against the user
/// it names: otherwise a leaked, revoked token could use up its owner's quota.
async fn bearer_user(state: &AppState, headers: &HeaderMap) -> Option<super::extract::CurrentUser> {
    let header = headers.get(header::AUTHORIZATION)?;
    super::extract::authenticate(header.as_bytes(), state).await.ok()
}

/// The client's address: the peer, or with a trusted proxy in front, the
/// last address that proxy appended to `X-Forwarded-For` (earlier entries
/// are whatever the client claimed).
pub fn client_ip(headers: &HeaderMap, peer: Option<IpAddr>, trust_proxy_headers: bool) -> String {
    if trust_proxy_headers {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.7"));
        let peer = Some("10.0.0.1".parse().unwrap());
        assert_eq!(client_ip(&headers, peer, false), "10.0.0.1");
        assert_eq!(client_ip(&headers, peer, true), "203.0.113.7");
        headers.insert("x-forwarded-for", HeaderValue::from_static("not an ip"));
        assert_eq!(client_ip(&headers, peer, true), "10.0.0.1");
    }
}
