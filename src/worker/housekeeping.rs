//! Periodic chores of the worker role: pruning old rows (see [`crate::db::prune`]).

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How often old rows are pruned (and the first time, this long after start).
const EVERY: Duration = Duration::from_secs(3600);
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Prunes rows older than `keep` every hour until `shutdown`. Several
/// workers may prune at once: deletes of the same rows simply find less.
pub async fn run(db: PgPool, keep: Duration, shutdown: CancellationToken) {
    let mut next = FIRST_AFTER;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(next) => {}
        }
        next = EVERY;
        match crate::db::prune::prune(&db, keep).await {
            Ok(pruned) => tracing::info!(?pruned, "pruned old rows"),
            Err(err) => tracing::warn!(error = %err, "pruning old rows failed; trying again in an hour"),
        }
    }
}
