//! Clients waiting for their booking to be decided (`GET /bookings/{id}?wait=N`).
//!
//! The worker announces decided bookings with PostgreSQL `NOTIFY` inside its
//! batch transaction, so the announcement goes out exactly when the decision
//! commits, never before and never for a batch that rolled back. (Redis
//! pub/sub would be sent after the commit and lost if the worker died in
//! between.) Each API process listens on one connection and wakes the
//! requests waiting for those ids. A waiter holds no database connection
//! while it waits and reads the booking again only when woken: by its
//! announcement, or when the listening connection comes back after a drop
//! (announcements may have been missed meanwhile; while it is down, waiters
//! re-read every second). At most `LONG_POLL_MAX_WAITERS` wait at once per
//! process; past that a request is answered at once with the booking as it is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::allocation::FINAL_CHANNEL;

/// The longest wait a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Waiters re-read this often while announcements cannot be received.
pub const RECHECK: Duration = Duration::from_secs(1);
/// And this often while they can: a safety net, not the way they learn.
pub const SAFETY_RECHECK: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Waiters {
    waiting: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
    /// Whether announcements are being received: waiters need not re-read.
    listening: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    max: usize,
    /// Reads of a booking by a waiter after it was woken (for `/metrics` and tests).
    pub rereads: Arc<AtomicU64>,
}

impl Waiters {
    pub fn new(max: usize) -> Self {
        Self { waiting: Arc::default(), listening: Arc::default(), count: Arc::default(), max, rereads: Arc::default() }
    }

    /// Whether announcements are being received.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Requests waiting right now.
    pub fn waiting(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// How long a waiter may sleep before reading again: while announcements
    /// arrive, [`SAFETY_RECHECK`] at most (should one ever be lost some way
    /// not foreseen here), else [`RECHECK`].
    pub fn sleep_for(&self, left: Duration) -> Duration {
        if self.listening.load(Ordering::Relaxed) { SAFETY_RECHECK.min(left) } else { RECHECK.min(left) }
    }
}

impl Waiters {
    /// Listens for announcements on a connection of its own (not one of the
    /// pool's) until `shutdown`.
    pub fn start(&self, database_url: &str, shutdown: CancellationToken) {
        let waiting = self.waiting.clone();
        let listening = self.listening.clone();
        let url = database_url.to_owned();
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                let listener = async {
                    let mut listener = PgListener::connect(&url).await?;
                    listener.listen(FINAL_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let Ok(mut listener) = listener.await else {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RECHECK) => continue,
                    }
                };
                // Listening (again): whoever waits may have missed announcements
                // meanwhile; each reads once more, then sleeps until announced.
                let wake_all = || waiting.lock().expect("waiters poisoned").values().for_each(|s| s.notify_waiters());
                listening.store(true, Ordering::Relaxed);
                wake_all();
                loop {
                    // `try_recv`, not `recv`: the latter reconnects by itself and
                    // loses, unsaid, what was announced while it was away.
                    let notification = tokio::select! {
                        () = shutdown.cancelled() => return,
                        notification = listener.try_recv() => notification,
                    };
                    let notification = match notification {
                        Ok(Some(notification)) => notification,
                        // The connection dropped; the next call reconnects.
                        // Announcements may have been lost meanwhile.
                        Ok(None) => {
                            wake_all();
                            continue;
                        }
                        Err(_) => {
                            listening.store(false, Ordering::Relaxed);
                            break;
                        }
                    };
                    let mut waiting = waiting.lock().expect("waiters poisoned");
                    if waiting.is_empty() {
                        continue;
                    }
                    for id in notification.payload().split(',').filter_map(|id| id.parse::<Uuid>().ok()) {
                        // Decided for good: wake its waiters and forget it.
                        if let Some(notify) = waiting.remove(&id) {
                            notify.notify_waiters();
                        }
                    }
                }
            }
        });
    }

    /// Waits for `id` to be announced: the signal, released when the
    /// returned guard drops (also when the request is abandoned midway).
    /// `None` when as many requests as allowed are waiting already.
    pub fn wait_for(&self, id: Uuid) -> Option<Waiting> {
        if self.count.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let signal = self.waiting.lock().expect("waiters poisoned").entry(id).or_default().clone();
        Some(Waiting { waiters: self.clone(), id, signal })
    }
}

pub struct Waiting {
    waiters: Waiters,
    id: Uuid,
    pub signal: Arc<Notify>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.count.fetch_sub(1, Ordering::Relaxed);
        let mut waiting = self.waiters.waiting.lock().expect("waiters poisoned");
        // Ours and the map's: nobody else waits; forget the entry (unless the
        // map holds a newer signal for the id).
        if waiting.get(&self.id).is_some_and(|s| Arc::ptr_eq(s, &self.signal) && Arc::strong_count(s) == 2) {
            waiting.remove(&self.id);
        }
    }
}
