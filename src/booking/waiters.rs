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
//!
//! The same waiters carry the booking event streams, and nobody may take
//! the pool for everyone: at most [`PER_USER`] waits or streams per person
//! and [`PER_BOOKING`] per booking at once (one account's 30 streams once
//! filled a cap of 30 and multiplied the database's work by five); the
//! streams of one booking share one read per tick ([`Waiting::recent_read`]);
//! and their reads together take at most a quarter of the database pool
//! ([`Waiters::read_permit`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::allocation::FINAL_CHANNEL;
use crate::domain::booking::BookingStatus;

/// The longest wait a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Waiters re-read this often while announcements cannot be received.
pub const RECHECK: Duration = Duration::from_secs(1);
/// And this often while they can: a safety net, not the way they learn.
pub const SAFETY_RECHECK: Duration = Duration::from_secs(10);

/// Waits and streams one person may have open at once (per process).
pub const PER_USER: usize = 3;
/// Waits and streams of one booking at once (two tabs).
pub const PER_BOOKING: usize = 2;

/// Why a wait was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The process has as many waiters as allowed.
    Full,
    /// This person, or this booking, has as many as one may.
    TooMany,
}

/// A booking as one of its streams read it: its status and its JSON.
pub type SharedRead = (BookingStatus, Arc<str>);

/// One person's waits on one booking: how many, and the last read.
type BookingWatch = (usize, Option<(Instant, SharedRead)>);

/// Who waits: per person and per booking, and the last read of each booking,
/// shared by its streams.
#[derive(Default)]
struct Watchers {
    per_user: HashMap<Uuid, usize>,
    /// By (person, booking): only its owner's streams read a booking, so a
    /// stranger asking for it (404 after registering) takes none of theirs.
    per_booking: HashMap<(Uuid, Uuid), BookingWatch>,
}

#[derive(Clone)]
pub struct Waiters {
    waiting: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
    watchers: Arc<Mutex<Watchers>>,
    /// Database reads by waiters and streams at once.
    reads: Arc<Semaphore>,
    /// Whether announcements are being received: waiters need not re-read.
    listening: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    max: usize,
    /// Reads of a booking by a waiter after it was woken (for `/metrics` and tests).
    pub rereads: Arc<AtomicU64>,
}

impl Waiters {
    /// `max` waiters at once, whose reads take at most `reads` connections.
    pub fn new(max: usize, reads: usize) -> Self {
        Self {
            waiting: Arc::default(),
            watchers: Arc::default(),
            reads: Arc::new(Semaphore::new(reads.max(1))),
            listening: Arc::default(),
            count: Arc::default(),
            max,
            rereads: Arc::default(),
        }
    }

    /// A turn to read a booking from the database: waiters and streams take
    /// at most their share of the pool, and queue for it beyond that.
    pub async fn read_permit(&self) -> OwnedSemaphorePermit {
        self.reads.clone().acquire_owned().await.expect("the semaphore is never closed")
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

    /// `user` waits for booking `id` to be announced: the signal, released
    /// when the returned guard drops (also when the request is abandoned
    /// midway). Refused when this person or booking has as many waits as one
    /// may, or the process as many as allowed.
    pub fn wait_for(&self, id: Uuid, user: Uuid) -> Result<Waiting, Refused> {
        {
            let mut watchers = self.watchers.lock().expect("waiters poisoned");
            let mine = watchers.per_user.get(&user).copied().unwrap_or(0);
            let its = watchers.per_booking.get(&(user, id)).map_or(0, |(n, _)| *n);
            if mine >= PER_USER || its >= PER_BOOKING {
                return Err(Refused::TooMany);
            }
            if self.count.fetch_add(1, Ordering::Relaxed) >= self.max {
                self.count.fetch_sub(1, Ordering::Relaxed);
                return Err(Refused::Full);
            }
            *watchers.per_user.entry(user).or_default() += 1;
            watchers.per_booking.entry((user, id)).or_default().0 += 1;
        }
        let signal = self.waiting.lock().expect("waiters poisoned").entry(id).or_default().clone();
        Ok(Waiting { waiters: self.clone(), id, user, signal })
    }
}

pub struct Waiting {
    waiters: Waiters,
    id: Uuid,
    user: Uuid,
    pub signal: Arc<Notify>,
}

impl Waiting {
    /// The booking as another stream of it read it less than `within` ago.
    pub fn recent_read(&self, within: Duration) -> Option<SharedRead> {
        let watchers = self.waiters.watchers.lock().expect("waiters poisoned");
        let (_, last) = watchers.per_booking.get(&(self.user, self.id))?;
        last.as_ref().filter(|(at, _)| at.elapsed() < within).map(|(_, read)| read.clone())
    }

    /// Keeps a read of the booking for its other streams.
    pub fn keep_read(&self, read: SharedRead) {
        let mut watchers = self.waiters.watchers.lock().expect("waiters poisoned");
        if let Some((_, last)) = watchers.per_booking.get_mut(&(self.user, self.id)) {
            *last = Some((Instant::now(), read));
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.count.fetch_sub(1, Ordering::Relaxed);
        {
            let mut watchers = self.waiters.watchers.lock().expect("waiters poisoned");
            if let Some(n) = watchers.per_user.get_mut(&self.user) {
                *n -= 1;
                if *n == 0 {
                    watchers.per_user.remove(&self.user);
                }
            }
            if let Some((n, _)) = watchers.per_booking.get_mut(&(self.user, self.id)) {
                *n -= 1;
                if *n == 0 {
                    watchers.per_booking.remove(&(self.user, self.id));
                }
            }
        }
        let mut waiting = self.waiters.waiting.lock().expect("waiters poisoned");
        // Ours and the map's: nobody else waits; forget the entry (unless the
        // map holds a newer signal for the id).
        if waiting.get(&self.id).is_some_and(|s| Arc::ptr_eq(s, &self.signal) && Arc::strong_count(s) == 2) {
            waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_and_one_booking_have_a_few_waits_and_the_process_its_cap() {
        let waiters = Waiters::new(5, 1);
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let (one, two, three) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let a = waiters.wait_for(one, ada).unwrap();
        let _b = waiters.wait_for(one, ada).unwrap();
        assert_eq!(waiters.wait_for(one, ada).err(), Some(Refused::TooMany), "two per booking");
        let _c = waiters.wait_for(two, ada).unwrap();
        assert_eq!(waiters.wait_for(three, ada).err(), Some(Refused::TooMany), "three per person");
        let _d = waiters.wait_for(three, bob).unwrap();
        let _e = waiters.wait_for(two, bob).unwrap();
        assert_eq!(waiters.wait_for(Uuid::now_v7(), bob).err(), Some(Refused::Full), "five in the process");
        drop(_e);
        let _stranger = waiters.wait_for(one, bob).expect("a stranger asking for Ada's booking takes none of hers");
        drop(_stranger);
        let _e = waiters.wait_for(two, bob).unwrap();
        drop(a);
        let _f = waiters.wait_for(three, ada).expect("a wait that ended gives its place back");
        assert_eq!(waiters.waiting(), 5);
    }

    #[test]
    fn the_streams_of_one_booking_share_a_read() {
        let waiters = Waiters::new(10, 1);
        let (ada, booking) = (Uuid::now_v7(), Uuid::now_v7());
        let first = waiters.wait_for(booking, ada).unwrap();
        let second = waiters.wait_for(booking, ada).unwrap();
        assert!(second.recent_read(Duration::from_secs(1)).is_none());
        first.keep_read((BookingStatus::Pending, Arc::from("{}")));
        let shared = second.recent_read(Duration::from_secs(1)).unwrap();
        assert_eq!((shared.0, &*shared.1), (BookingStatus::Pending, "{}"));
        assert!(second.recent_read(Duration::ZERO).is_none(), "too old");
        drop((first, second));
        let again = waiters.wait_for(booking, ada).unwrap();
        assert!(again.recent_read(Duration::from_secs(1)).is_none(), "forgotten with its last stream");
    }
}
