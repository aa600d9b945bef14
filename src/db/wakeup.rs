//! Waking a sender of rows written in other transactions (the outbox's
//! emails, webhook deliveries): on the `NOTIFY` a trigger sends as they
//! commit, and every poll interval for retries coming due; a listener lost
//! with its connection is made again.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

pub struct Wakeup {
    db: PgPool,
    channel: &'static str,
    poll: Duration,
    listener: Option<PgListener>,
}

impl Wakeup {
    pub async fn new(db: &PgPool, channel: &'static str, poll: Duration) -> Self {
        // A connection of its own, beside the pool: a listener holds its
        // connection for good, and the pool's are for the work.
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with((*db.connect_options()).clone());
        let mut wakeup = Self { db: own, channel, poll, listener: None };
        wakeup.listener = wakeup.listen().await;
        wakeup
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.db).await.ok()?;
        listener.listen(self.channel).await.ok()?;
        Some(listener)
    }

    /// Until a notification, the poll interval, or `shutdown`; false on shutdown.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let poll = self.poll;
        let notified = async {
            match self.listener.as_mut() {
                Some(listener) => {
                    if listener.recv().await.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = notified => {}
            () = tokio::time::sleep(poll) => {}
        }
        if self.listener.is_none() {
            self.listener = self.listen().await;
        }
        true
    }
}
