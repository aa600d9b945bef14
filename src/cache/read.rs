//! The read cache: public event pages and the first page of the event list,
//! kept in Redis as the JSON bytes the API answers with (and, for the web
//! pages, the event room's rows of the same, under keys of their own).
//!
//! Cache-aside with a short lifetime (`READ_CACHE_TTL_MS`, 1 s by default):
//! every write that changes what a reader sees (event edits, publish, cancel,
//! delete, ticket types) deletes the entries at once; seat availability
//! (`remaining`, moved by the worker many times a second during a sale) is
//! allowed to lag by the lifetime. A cold key is loaded once per process, however
//! many requests miss it at the same moment (single flight).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::Redis;

/// The largest `limit` of a list page, so every cached first page can be named.
const MAX_PAGE: u32 = 100;

type Flight<E> = Arc<OnceCell<Result<Option<Bytes>, Arc<E>>>>;

/// The key of a public event page.
pub fn event_key(id: Uuid) -> String {
    format!("read:event:{id}")
}

/// The key of a public event as the event room keeps it (its rows, for the pages).
pub fn event_rows_key(id: Uuid) -> String {
    format!("read:event-rows:{id}")
}

/// The key of the pages' list of coming events (the event room's rows).
pub fn listed_rows_key() -> String {
    "read:events-rows:listed".to_owned()
}

/// The key of the first page of the event list with `limit` items.
pub fn first_page_key(limit: u32) -> String {
    format!("read:events:first:{limit}")
}

/// A loader's error that every request waiting on the same load can be
/// answered with (the original may not be `Clone`).
pub trait SharedFailure: Send + Sync + 'static {
    fn replay(&self) -> Self;
}

/// The cache, for loaders failing with `E`.
pub struct ReadCache<E> {
    redis: Redis,
    enabled: bool,
    ttl: Duration,
    flights: Arc<Mutex<HashMap<String, Flight<E>>>>,
    /// How often the loader ran (a database read): for tests and /metrics.
    pub loads: Arc<AtomicU64>,
    pub hits: Arc<AtomicU64>,
}

impl<E> Clone for ReadCache<E> {
    fn clone(&self) -> Self {
        Self {
            redis: self.redis.clone(),
            enabled: self.enabled,
            ttl: self.ttl,
            flights: self.flights.clone(),
            loads: self.loads.clone(),
            hits: self.hits.clone(),
        }
    }
}

impl<E: SharedFailure> ReadCache<E> {
    pub fn new(redis: Redis, enabled: bool, ttl: Duration) -> Self {
        Self { redis, enabled, ttl, flights: Arc::default(), loads: Arc::default(), hits: Arc::default() }
    }

    /// The cached bytes under `key`, else what `load` returns (cached when it
    /// says so). `load` gives `None` for "nothing to show", and a flag: may
    /// the bytes be shared with every reader?
    pub async fn get_or_load<F, Fut>(&self, key: &str, load: F) -> Result<Option<Bytes>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<(Bytes, bool)>, E>>,
    {
        let full_key = self.redis.key(key);
        if self.enabled {
            match self.redis.query::<(Option<Vec<u8>>,)>(redis::pipe().cmd("GET").arg(&full_key)).await {
                Ok((Some(bytes),)) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(Bytes::from(bytes)));
                }
                Ok((None,)) => {}
                Err(err) => tracing::debug!(error = %err, "read cache unavailable; reading PostgreSQL"),
            }
        }
        let flight = {
            let mut flights = self.flights.lock().expect("flights poisoned");
            flights.entry(key.to_owned()).or_default().clone()
        };
        let result = flight
            .get_or_init(|| async {
                // A flight that ended just before this one began may have
                // filled the cache meanwhile.
                if self.enabled {
                    if let Ok((Some(bytes),)) =
                        self.redis.query::<(Option<Vec<u8>>,)>(redis::pipe().cmd("GET").arg(&full_key)).await
                    {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(Some(Bytes::from(bytes)));
                    }
                }
                self.loads.fetch_add(1, Ordering::Relaxed);
                match load().await {
                    Ok(Some((bytes, shareable))) => {
                        if self.enabled && shareable {
                            let mut pipe = redis::pipe();
                            pipe.cmd("SET")
                                .arg(&full_key)
                                .arg(bytes.as_ref())
                                .arg("PX")
                                .arg(self.ttl.as_millis() as u64)
                                .ignore();
                            if let Err(err) = self.redis.query::<()>(&pipe).await {
                                tracing::debug!(error = %err, "could not fill the read cache");
                            }
                        }
                        Ok(Some(bytes))
                    }
                    Ok(None) => Ok(None),
                    Err(err) => Err(Arc::new(err)),
                }
            })
            .await
            .clone();
        // The flight is over: the next miss loads afresh.
        self.flights.lock().expect("flights poisoned").retain(|_, f| !Arc::ptr_eq(f, &flight));
        result.map_err(|err| err.replay())
    }

    /// Forgets everything cached about an event (and every cached first page).
    pub async fn invalidate_event(&self, id: Uuid) {
        if !self.enabled {
            return;
        }
        let mut keys = vec![
            self.redis.key(&event_key(id)),
            self.redis.key(&event_rows_key(id)),
            self.redis.key(&listed_rows_key()),
        ];
        keys.extend((1..=MAX_PAGE).map(|limit| self.redis.key(&first_page_key(limit))));
        if let Err(err) = self.redis.query::<()>(redis::pipe().cmd("DEL").arg(keys).ignore()).await {
            // The entries expire within the TTL anyway.
            tracing::warn!(error = %err, event.id = %id, "could not invalidate the read cache");
        }
    }
}
