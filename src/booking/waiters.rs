//! Clients waiting for their booking to be decided (`GET /bookings/{id}?wait=N`).
//!
//! The worker announces decided bookings with PostgreSQL `NOTIFY` inside its
//! batch transaction, so the announcement goes out exactly when the decision
//! commits, never before and never for a batch that rolled back. (Redis
//! pub/sub would be sent after the commit and lost if the worker died in
//! between.) Each API process listens on one connection and wakes the
//! requests waiting for those ids. Should a notification be missed (the
//! listening connection dropping), waiters re-read the booking every second
//! anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::bookings::FINAL_CHANNEL;

/// The longest wait a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Waiters re-read this often whatever the notifications do.
pub const RECHECK: Duration = Duration::from_secs(1);

#[derive(Clone, Default)]
pub struct Waiters {
    waiting: Arc<Mutex<HashMap<Uuid, Arc<Notify>>>>,
}

impl Waiters {
    /// Listens for announcements on a connection of its own (not one of the
    /// pool's) until `shutdown`.
    pub fn start(&self, database_url: &str, shutdown: CancellationToken) {
        let waiting = self.waiting.clone();
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
                loop {
                    let notification = tokio::select! {
                        () = shutdown.cancelled() => return,
                        notification = listener.recv() => notification,
                    };
                    let Ok(notification) = notification else { break };
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
    pub fn wait_for(&self, id: Uuid) -> Waiting<'_> {
        let signal = self.waiting.lock().expect("waiters poisoned").entry(id).or_default().clone();
        Waiting { waiters: self, id, signal }
    }
}

pub struct Waiting<'a> {
    waiters: &'a Waiters,
    id: Uuid,
    pub signal: Arc<Notify>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut waiting = self.waiters.waiting.lock().expect("waiters poisoned");
        // Ours and the map's: nobody else waits; forget the entry (unless the
        // map holds a newer signal for the id).
        if waiting.get(&self.id).is_some_and(|s| Arc::ptr_eq(s, &self.signal) && Arc::strong_count(s) == 2) {
            waiting.remove(&self.id);
        }
    }
}
