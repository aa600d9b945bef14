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

use crate::cache::rate_limit::Decision;
use crate::config::Config;
use crate::config::Limit;
use crate::error::ApiError;
use crate::http::state::AppState;

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
    pub fn from_config(config: &Config) -> Self {
        Self {
            enabled: config.rate_limits,
            trust_proxy_headers: config.trust_proxy_headers,
            user: config.rate_limit_user,
            anonymous: config.rate_limit_anonymous,
            auth: config.rate_limit_auth,
            login_failures: config.rate_limit_login_failures,
            login_email: config.rate_limit_login_email,
        }
    }
}

pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !state.limits.enabled {
        return next.run(request).await;
    }
    let path = request.uri().path();
    // Health, metrics and docs are not limited; nor is Stripe's webhook: its
    // deliveries come from a few addresses, a 429 makes Stripe back off for
    // hours while holds last minutes, and its signature is checked first.
    if !path.starts_with("/api/") || path == super::admission::STRIPE_WEBHOOK_PATH {
        return next.run(request).await;
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

/// The limits of one login attempt, so that guessing is bounded and the
/// owner is never locked out by someone else's guesses:
/// - per (account, client network): attempts are counted before the
///   password is checked (parallel guesses cannot slip past), and a
///   successful sign-in gives the quota back; an IPv6 client counts by its
///   /64, which one customer usually holds whole;
/// - per account, from everywhere: failures are counted; past the ceiling,
///   attempts are refused without a password check unless they come from a
///   network this account signed in from before (remembered 90 days). Past
///   it a stranger's right guess and wrong guess look the same.
///
/// The keys name a digest of the address, never the raw (unvalidated, up to
/// 64 KiB) field.
pub struct LoginFailures {
    pair: String,
    account: String,
    network: String,
}

/// How long a network an account signed in from is remembered.
const KNOWN_NETWORK_TTL: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

impl LoginFailures {
    pub fn new(email: &str, client_ip: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(email.trim().to_lowercase().as_bytes());
        let account: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let network = network_of(client_ip);
        Self { pair: format!("login-fail:{account}:{network}"), account: format!("login-fail:{account}"), network }
    }

    /// Before the password is checked: counts the attempt; 429 when this
    /// network has used up its attempts on this account, or the account its
    /// failures and this network is not one it signed in from.
    pub async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        if !state.limits.enabled {
            return Ok(());
        }
        if let Some(decision) = check(state, &self.pair, state.limits.login_failures).await {
            if !decision.allowed {
                return Err(ApiError::RateLimited { retry_after: decision.retry_after_secs });
            }
        }
        let Ok(decision) = state.limiter.peek(&self.account, state.limits.login_email).await else {
            return Ok(()); // Redis away: fail open, as every limit does
        };
        if !decision.allowed && !state.limiter.is_remembered(&self.account, &self.network).await.unwrap_or(false) {
            tracing::warn!("failed logins on one account passed the ceiling; refusing unknown networks");
            return Err(ApiError::RateLimited { retry_after: decision.retry_after_secs });
        }
        Ok(())
    }

    /// The password was right: this network's quota comes back, and it is
    /// remembered as one the account signs in from.
    pub async fn succeeded(&self, state: &AppState) {
        if !state.limits.enabled {
            return;
        }
        let reset = state.limiter.reset(&self.pair).await;
        let remembered = state.limiter.remember(&self.account, &self.network, KNOWN_NETWORK_TTL).await;
        if let Err(err) = reset.and(remembered) {
            state.metrics.redis_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "could not record a successful login for the limits");
        }
    }

    /// The password was wrong: counts the failure against the account.
    pub async fn failed(&self, state: &AppState) -> ApiError {
        if state.limits.enabled {
            check(state, &self.account, state.limits.login_email).await;
        }
        ApiError::InvalidCredentials
    }
}

/// The network a client counts as for login limits: its IPv4 address, or
/// its IPv6 /64.
pub fn network_of(client_ip: &str) -> String {
    match client_ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(|| client_ip.to_owned(), |v4| v4.to_string()),
        _ => client_ip.to_owned(),
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
    fn an_ipv6_client_counts_by_its_64_and_an_ipv4_one_by_its_address() {
        assert_eq!(network_of("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(network_of("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_eq!(network_of("203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("unknown"), "unknown");
    }

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
