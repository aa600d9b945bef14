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

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
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
    /// Listens for announcements until the pool closes.
    pub fn start(&self, db: PgPool) {
        let waiting = self.waiting.clone();
        tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut listener = PgListener::connect_with(&db).await?;
                    listener.listen(FINAL_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match listener.await {
                    Ok(listener) => listener,
                    Err(_) if db.is_closed() => return,
                    Err(_) => {
                        tokio::time::sleep(RECHECK).await;
                        continue;
                    }
                };
                while let Ok(notification) = listener.recv().await {
                    let waiting = waiting.lock().expect("waiters poisoned");
                    if waiting.is_empty() {
                        continue;
                    }
                    for id in notification.payload().split(',').filter_map(|id| id.parse::<Uuid>().ok()) {
                        if let Some(notify) = waiting.get(&id) {
                            notify.notify_waiters();
                        }
                    }
                }
            }
        });
    }

    /// The signal for `id`, shared by everyone waiting for it.
    pub fn signal(&self, id: Uuid) -> Arc<Notify> {
        self.waiting.lock().expect("waiters poisoned").entry(id).or_default().clone()
    }

    /// Drops the signal for `id` once nobody else holds it.
    pub fn done(&self, id: Uuid, signal: Arc<Notify>) {
        let mut waiting = self.waiting.lock().expect("waiters poisoned");
        drop(signal);
        if waiting.get(&id).is_some_and(|s| Arc::strong_count(s) == 1) {
            waiting.remove(&id);
        }
    }
}
