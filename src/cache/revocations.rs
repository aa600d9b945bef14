//! Revoked sessions: PostgreSQL is the source of truth, Redis the fast path
//! checked on every authenticated request.
//!
//! Redis here keeps nothing on disk, so it may come back empty. A marker key
//! says "every revocation still relevant has been copied in"; while it is
//! missing (or Redis is down) checks go to PostgreSQL and the copy is redone.
//! Revocation checks therefore never fail open.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use super::Redis;
use crate::db;

#[derive(Clone)]
pub struct Revocations {
    redis: Redis,
    db: PgPool,
    /// How long a revocation matters: the lifetime of an access token.
    horizon: Duration,
    reloading: Arc<AtomicBool>,
}

impl Revocations {
    pub fn new(redis: Redis, db: PgPool, access_token_ttl: Duration) -> Self {
        // A little longer than the token lifetime, for clock leeway.
        let horizon = access_token_ttl + Duration::from_secs(30);
        Self {
            redis,
            db,
            horizon,
            reloading: Arc::new(AtomicBool::new(false)),
        }
    }

    fn marker(&self) -> String {
        self.redis.key("revoked:complete")
    }

    fn session_key(&self, session_id: Uuid) -> String {
        self.redis.key(&format!("revoked:{session_id}"))
    }

    pub async fn is_revoked(&self, session_id: Uuid) -> Result<bool, sqlx::Error> {
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS")
            .arg(self.marker())
            .cmd("EXISTS")
            .arg(self.session_key(session_id));
        match self.redis.query::<(bool, bool)>(&pipe).await {
            Ok((true, revoked)) => return Ok(revoked),
            Ok((false, _)) => self.spawn_reload(),
            Err(err) if self.redis.is_connected() => {
                tracing::warn!(error = %err, "revocation check fell back to PostgreSQL")
            }
            Err(_) => {}
        }
        let mut conn = self.db.acquire().await?;
        db::sessions::is_revoked(&mut conn, session_id).await
    }

    /// Copies a revocation that PostgreSQL already holds into Redis. Should
    /// Redis miss it, the marker is dropped so checks go to PostgreSQL.
    pub async fn remember(&self, session_id: Uuid) {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.session_key(session_id))
            .arg(1)
            .arg("EX")
            .arg(self.horizon.as_secs());
        if self.redis.query::<()>(&pipe).await.is_err() {
            let _ = self
                .redis
                .query::<()>(redis::pipe().cmd("DEL").arg(self.marker()))
                .await;
        }
    }

    fn spawn_reload(&self) {
        if self.reloading.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.reload().await {
                tracing::warn!(error = %err, "copying revocations into Redis failed; will retry");
            }
            this.reloading.store(false, Ordering::Release);
        });
    }

    async fn reload(&self) -> anyhow::Result<()> {
        let since = Utc::now() - self.horizon;
        let mut conn = self.db.acquire().await?;
        let revoked = db::sessions::revoked_since(&mut conn, since).await?;
        let mut pipe = redis::pipe();
        for (session_id, revoked_at) in &revoked {
            let left =
                (self.horizon.as_secs() as i64 - (Utc::now() - *revoked_at).num_seconds()).max(1);
            pipe.cmd("SET")
                .arg(self.session_key(*session_id))
                .arg(1)
                .arg("EX")
                .arg(left)
                .ignore();
        }
        pipe.cmd("SET").arg(self.marker()).arg(1).ignore();
        self.redis.query::<()>(&pipe).await?;
        tracing::info!(
            revoked = revoked.len(),
            "revoked sessions copied into Redis"
        );
        Ok(())
    }
}
