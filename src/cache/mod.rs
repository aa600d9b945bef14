//! Redis: a connection that survives Redis going away, and what is kept in it.
//!
//! Redis is a fast path, never the source of truth. Every call is bounded by a
//! short timeout and its caller has a PostgreSQL fallback, so a slow or absent
//! Redis costs speed, not correctness.

pub mod bookings;
pub mod line;
pub mod rate_limit;
pub mod read;
pub mod revocations;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Pipeline};

pub use bookings::BookingCache;
pub use revocations::Revocations;

/// Longest wait for one Redis round trip before the caller falls back.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RECONNECT_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis is not connected")]
    NotConnected,
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("unreadable {0} in Redis")]
    Corrupt(&'static str),
}

#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    conn: OnceLock<ConnectionManager>,
    prefix: String,
}

impl Redis {
    /// Connects to `url`. When Redis cannot be reached the returned handle
    /// starts disconnected and keeps trying in the background; a URL that does
    /// not parse is an error.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let redis = Self { inner: Arc::new(Inner { conn: OnceLock::new(), prefix: prefix.to_owned() }) };
        if let Err(err) = try_connect(&redis.inner, &client).await {
            tracing::warn!(
                "Redis is unreachable at {}: {err}. Starting without it (no cache, no rate limits); \
                 retrying in the background. Start it with: redis-server --daemonize yes",
                crate::config::redact_url(url)
            );
            tokio::spawn(reconnect(Arc::downgrade(&redis.inner), client));
        }
        Ok(redis)
    }

    /// `prefix` + `suffix`: every key this process writes.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.prefix)
    }

    pub fn is_connected(&self) -> bool {
        self.inner.conn.get().is_some()
    }

    /// Runs `pipe` with the short timeout. Use `.cmd(..)` on a fresh
    /// `redis::pipe()` for single commands too: one code path for all calls.
    pub async fn query<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, CacheError> {
        let mut conn = self.inner.conn.get().cloned().ok_or(CacheError::NotConnected)?;
        match tokio::time::timeout(CALL_TIMEOUT, pipe.query_async(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout(CALL_TIMEOUT)),
        }
    }

    /// Runs a Lua script with the short timeout (loading it on first use).
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T, CacheError> {
        let mut conn = self.inner.conn.get().cloned().ok_or(CacheError::NotConnected)?;
        match tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout(CALL_TIMEOUT)),
        }
    }

    /// `Ok` when Redis answers a PING now.
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.query::<(String,)>(redis::pipe().cmd("PING")).await.map(|_| ())
    }
}

async fn try_connect(inner: &Inner, client: &redis::Client) -> Result<(), redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CALL_TIMEOUT)
        .set_number_of_retries(1);
    let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
    let _ = inner.conn.set(conn);
    Ok(())
}

/// Retries the first connection until it succeeds; from then on the
/// `ConnectionManager` reconnects by itself.
async fn reconnect(inner: Weak<Inner>, client: redis::Client) {
    loop {
        tokio::time::sleep(RECONNECT_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        if try_connect(&inner, &client).await.is_ok() {
            tracing::info!("connected to Redis");
            return;
        }
    }
}
