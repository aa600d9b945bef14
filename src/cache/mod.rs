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

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelServerType};
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
    /// The connection to the primary; none until the first one is made.
    /// Replaced when Sentinel names another primary.
    conn: RwLock<Option<ConnectionManager>>,
    prefix: String,
}

/// Where the primary is: one address, or whatever the Sentinels say.
enum Source {
    Direct(redis::Client),
    /// `redis+sentinel://host:port,host:port/master-name`.
    Sentinel {
        sentinels: Vec<String>,
        master: String,
    },
}

impl Source {
    fn parse(url: &str) -> Result<Self, redis::RedisError> {
        let Some(rest) = url.strip_prefix("redis+sentinel://") else {
            return Ok(Self::Direct(redis::Client::open(url)?));
        };
        let invalid = || {
            redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a Sentinel URL is redis+sentinel://host:port,host:port/master-name",
            ))
        };
        let (hosts, master) = rest.split_once('/').ok_or_else(invalid)?;
        // A Sentinel without a port listens on Sentinel's own, 26379.
        let sentinels: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| if h.contains(':') { format!("redis://{h}") } else { format!("redis://{h}:26379") })
            .collect();
        let master = master.trim_end_matches('/');
        if sentinels.is_empty() || master.is_empty() {
            return Err(invalid());
        }
        Ok(Self::Sentinel { sentinels, master: master.to_owned() })
    }
}

impl Redis {
    /// Connects to `url` (`redis://…`, or `redis+sentinel://…` to follow the
    /// primary the Sentinels name through a failover). When Redis cannot be
    /// reached the returned handle starts disconnected and keeps trying in
    /// the background; a URL that does not parse is an error.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let source = Source::parse(url)?;
        let redis = Self { inner: Arc::new(Inner { conn: RwLock::new(None), prefix: prefix.to_owned() }) };
        match source {
            Source::Direct(client) => {
                if let Err(err) = try_connect(&redis.inner, &client).await {
                    warn_unreachable(url, &err);
                    tokio::spawn(reconnect(Arc::downgrade(&redis.inner), client));
                }
            }
            Source::Sentinel { sentinels, master } => {
                let mut sentinel = Sentinels::build(&sentinels, &master)?;
                let mut primary = None;
                if let Err(err) = follow_once(&redis.inner, &mut sentinel, &mut primary).await {
                    warn_unreachable(url, &err);
                }
                tokio::spawn(follow(Arc::downgrade(&redis.inner), sentinel, primary));
            }
        }
        Ok(redis)
    }

    /// `prefix` + `suffix`: every key this process writes.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.inner.prefix)
    }

    pub fn is_connected(&self) -> bool {
        self.inner.conn.read().expect("redis connection lock").is_some()
    }

    fn connection(&self) -> Result<ConnectionManager, CacheError> {
        self.inner.conn.read().expect("redis connection lock").clone().ok_or(CacheError::NotConnected)
    }

    /// Runs `pipe` with the short timeout. Use `.cmd(..)` on a fresh
    /// `redis::pipe()` for single commands too: one code path for all calls.
    pub async fn query<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, CacheError> {
        let mut conn = self.connection()?;
        match tokio::time::timeout(CALL_TIMEOUT, pipe.query_async(&mut conn)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout(CALL_TIMEOUT)),
        }
    }

    /// Runs a Lua script with the short timeout (loading it on first use).
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T, CacheError> {
        let mut conn = self.connection()?;
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

fn warn_unreachable(url: &str, err: &redis::RedisError) {
    tracing::warn!(
        "Redis is unreachable at {}: {err}. Starting without it (no cache, no rate limits); \
         retrying in the background. Start it with: redis-server --daemonize yes",
        crate::config::redact_url(url)
    );
}

async fn manager(client: redis::Client) -> Result<ConnectionManager, redis::RedisError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(CALL_TIMEOUT)
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}

async fn try_connect(inner: &Inner, client: &redis::Client) -> Result<(), redis::RedisError> {
    let conn = manager(client.clone()).await?;
    *inner.conn.write().expect("redis connection lock") = Some(conn);
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

/// How often the Sentinels are asked which node is the primary. A failover
/// takes Sentinel its `down-after-milliseconds` and an election; this adds
/// at most this much.
const ASK_SENTINELS_EVERY: Duration = Duration::from_millis(500);

/// The Sentinels, each asked on its own with a short timeout, starting with
/// the one that answered last: one that hangs (its machine gone) costs a
/// timeout, not every answer after it.
struct Sentinels {
    each: Vec<SentinelClient>,
    next: usize,
}

impl Sentinels {
    fn build(urls: &[String], master: &str) -> Result<Self, redis::RedisError> {
        let each = urls
            .iter()
            .map(|url| SentinelClient::build(vec![url.as_str()], master.to_owned(), None, SentinelServerType::Master))
            .collect::<Result<_, _>>()?;
        Ok(Self { each, next: 0 })
    }

    /// A client for the primary the first Sentinel to answer names.
    async fn primary(&mut self) -> Result<redis::Client, redis::RedisError> {
        let mut last = redis::RedisError::from((redis::ErrorKind::IoError, "no Sentinel answered"));
        for offset in 0..self.each.len() {
            let index = (self.next + offset) % self.each.len();
            match tokio::time::timeout(CONNECT_TIMEOUT, self.each[index].async_get_client()).await {
                Ok(Ok(client)) => {
                    self.next = index;
                    return Ok(client);
                }
                Ok(Err(err)) => last = err,
                Err(_) => {
                    last = redis::RedisError::from((redis::ErrorKind::IoError, "a Sentinel did not answer in time"))
                }
            }
        }
        Err(last)
    }
}

/// Asks the Sentinels for the primary; connects anew when it is another
/// node than `primary` (the address connected to), or when not connected.
async fn follow_once(
    inner: &Inner,
    sentinel: &mut Sentinels,
    primary: &mut Option<String>,
) -> Result<(), redis::RedisError> {
    let client = sentinel.primary().await?;
    let address = client.get_connection_info().addr.to_string();
    let connected = inner.conn.read().expect("redis connection lock").is_some();
    if connected && primary.as_deref() == Some(address.as_str()) {
        return Ok(());
    }
    let conn = manager(client).await?;
    *inner.conn.write().expect("redis connection lock") = Some(conn);
    if primary.is_some() {
        tracing::warn!(primary = %address, "the Sentinels name a new Redis primary; connected to it");
    } else {
        tracing::info!(primary = %address, "connected to the Redis primary the Sentinels name");
    }
    *primary = Some(address);
    Ok(())
}

/// Follows the primary through failovers for as long as the handle lives.
async fn follow(inner: Weak<Inner>, mut sentinel: Sentinels, mut primary: Option<String>) {
    loop {
        tokio::time::sleep(ASK_SENTINELS_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(err) = follow_once(&inner, &mut sentinel, &mut primary).await {
            tracing::debug!(error = %err, "no Redis primary from the Sentinels yet");
        }
    }
}
