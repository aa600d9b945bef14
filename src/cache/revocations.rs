//! Revoked sessions: PostgreSQL is the source of truth, Redis the fast path
//! checked on every authenticated request.
//!
//! Redis here keeps nothing on disk, so it may come back empty. A marker key
//! says "every revocation still relevant has been copied in"; while it is
//! missing (or Redis is down) checks go to PostgreSQL and the copy is redone.
//! Revocation checks therefore never fail open.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// How long a revocation matters: the longest lifetime of anything that
    /// refers to a session (an access token, a page's session cookie).
    horizon: Duration,
    reloading: Arc<AtomicBool>,
    /// Revocations not yet in Redis (it failed): answered from here meanwhile.
    unsynced: Arc<Mutex<HashSet<Uuid>>>,
    complete: redis::Script,
}

/// Writes the copied revocations and the marker, unless the loading token
/// vanished meanwhile.
const COMPLETE: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('SET', ARGV[i], 1, 'EX', ARGV[i + 1]) end
redis.call('SET', KEYS[2], 1, 'EX', ARGV[2])
redis.call('DEL', KEYS[1])
return 1
"#;

/// The marker lives this long; it is set again by the next check that finds
/// it missing. A revocation that could not reach Redis is thus honoured by
/// every replica within this time, even if the marker could not be deleted.
const MARKER_TTL: Duration = Duration::from_secs(60);

impl Revocations {
    /// `leeway`: how much longer than the credential's lifetime, for clocks
    /// that differ between machines.
    pub fn new(redis: Redis, db: PgPool, longest_credential: Duration, leeway: Duration) -> Self {
        let horizon = longest_credential + leeway;
        Self {
            redis,
            db,
            horizon,
            reloading: Arc::new(AtomicBool::new(false)),
            unsynced: Arc::default(),
            complete: redis::Script::new(COMPLETE),
        }
    }

    fn marker(&self) -> String {
        self.redis.key("revoked:complete")
    }

    fn session_key(&self, session_id: Uuid) -> String {
        self.redis.key(&format!("revoked:{session_id}"))
    }

    pub async fn is_revoked(&self, session_id: Uuid) -> Result<bool, sqlx::Error> {
        if self.unsynced.lock().expect("poisoned").contains(&session_id) {
            return Ok(true);
        }
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(self.marker()).cmd("EXISTS").arg(self.session_key(session_id));
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

    /// Copies a revocation that PostgreSQL already holds into Redis. Until
    /// that succeeds, this process answers "revoked" from memory and keeps
    /// retrying in the background; other replicas rely on the marker's short
    /// lifetime (they go back to PostgreSQL within [`MARKER_TTL`]).
    pub async fn remember(&self, session_id: Uuid) {
        self.unsynced.lock().expect("poisoned").insert(session_id);
        if self.write(session_id).await.is_ok() {
            self.unsynced.lock().expect("poisoned").remove(&session_id);
            return;
        }
        let _ = self.redis.query::<()>(redis::pipe().cmd("DEL").arg(self.marker()).ignore()).await;
        let this = self.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + this.horizon;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if this.write(session_id).await.is_ok() {
                    break;
                }
            }
            this.unsynced.lock().expect("poisoned").remove(&session_id);
        });
    }

    async fn write(&self, session_id: Uuid) -> Result<(), super::CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(self.session_key(session_id)).arg(1).arg("EX").arg(self.horizon.as_secs()).ignore();
        self.redis.query::<()>(&pipe).await
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
        // A token set before reading PostgreSQL: should Redis lose its data
        // while we read (a restart), the token is gone too and the marker is
        // not set on an incomplete copy.
        let token = uuid::Uuid::new_v4().to_string();
        let loading = self.redis.key("revoked:loading");
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&loading).arg(&token).arg("EX").arg(60).ignore();
        self.redis.query::<()>(&pipe).await?;

        let since = Utc::now() - self.horizon;
        let mut conn = self.db.acquire().await?;
        let revoked = db::sessions::revoked_since(&mut conn, since).await?;
        let mut invocation = self.complete.prepare_invoke();
        invocation.key(&loading).key(self.marker()).arg(&token).arg(MARKER_TTL.as_secs());
        for (session_id, revoked_at) in &revoked {
            let left = (self.horizon.as_secs() as i64 - (Utc::now() - *revoked_at).num_seconds()).max(1);
            invocation.arg(self.session_key(*session_id)).arg(left);
        }
        let completed: i64 = self.redis.invoke(&invocation).await?;
        if completed != 1 {
            anyhow::bail!("Redis lost its data while revocations were copied; copying again at the next check");
        }
        tracing::info!(revoked = revoked.len(), "revoked sessions copied into Redis");
        Ok(())
    }
}
