//! Removing what is no longer needed: emails long sent, refresh tokens long
//! expired, sessions long ended. Tables that only grow make every scan and
//! backup slower; nothing removed here is read again.

use std::time::Duration;

use sqlx::PgPool;

/// Rows deleted per statement, so a backlog never holds long locks.
const BATCH: i64 = 5000;

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub emails: u64,
    pub refresh_tokens: u64,
    pub sessions: u64,
}

/// Deletes, older than `keep`: emails sent or skipped, refresh tokens,
/// verification and sign-in links expired, and sessions ended (revoked, or with no refresh token alive). `keep` must
/// outlast an access token: a session's row is what says it was revoked, and
/// a missing one reads as revoked.
pub async fn prune(pool: &PgPool, keep: Duration) -> Result<Pruned, sqlx::Error> {
    let keep_secs = keep.as_secs_f64();
    let emails = in_batches(
        pool,
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox
             WHERE status IN ('sent', 'skipped') AND coalesce(sent_at, created_at) < now() - make_interval(secs => $1)
             LIMIT $2)",
        keep_secs,
    )
    .await?;
    let sessions = in_batches(
        pool,
        "DELETE FROM sessions WHERE id IN (
             SELECT s.id FROM sessions s
             WHERE s.created_at < now() - make_interval(secs => $1)
               AND (s.revoked_at < now() - make_interval(secs => $1)
                    OR NOT EXISTS (SELECT 1 FROM refresh_tokens r
                                   WHERE r.session_id = s.id AND r.expires_at >= now() - make_interval(secs => $1)))
             LIMIT $2)",
        keep_secs,
    )
    .await?;
    in_batches(
        pool,
        "DELETE FROM email_verifications WHERE token_hash IN (
             SELECT token_hash FROM email_verifications WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2)",
        keep_secs,
    )
    .await?;
    in_batches(
        pool,
        "DELETE FROM sign_in_links WHERE token_hash IN (
             SELECT token_hash FROM sign_in_links WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2)",
        keep_secs,
    )
    .await?;
    let refresh_tokens = in_batches(
        pool,
        "DELETE FROM refresh_tokens WHERE token_hash IN (
             SELECT token_hash FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2)",
        keep_secs,
    )
    .await?;
    Ok(Pruned { emails, refresh_tokens, sessions })
}

async fn in_batches(pool: &PgPool, statement: &str, keep_secs: f64) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let deleted = sqlx::query(statement).bind(keep_secs).bind(BATCH).execute(pool).await?.rows_affected();
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
    }
}
