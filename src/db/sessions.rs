//! The `sessions` and `refresh_tokens` tables: logins, rotation, revocation.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Starts a session for `user_id` with its first refresh token.
/// A session for each of `user_ids`, each with the refresh token of the same
/// position in `token_hashes`; returns the session ids.
pub async fn create_many(
    conn: &mut PgConnection,
    user_ids: &[Uuid],
    token_hashes: &[Vec<u8>],
    expires_at: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = user_ids.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "WITH s AS (INSERT INTO sessions (id, user_id) SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))
         INSERT INTO refresh_tokens (token_hash, session_id, expires_at)
         SELECT hash, session, $4 FROM UNNEST($3::bytea[], $1::uuid[]) AS t (hash, session)",
    )
    .bind(&ids)
    .bind(user_ids)
    .bind(token_hashes)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(ids)
}

pub async fn create(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    let session_id = Uuid::now_v7();
    sqlx::query(
        "WITH s AS (INSERT INTO sessions (id, user_id) VALUES ($1, $2))
         INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($3, $1, $4)",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(session_id)
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now spent and `new_hash` replaces it.
    Rotated { user_id: Uuid, session_id: Uuid },
    /// The token had already been exchanged: someone holds a copy. The whole
    /// session is now revoked.
    Reused { session_id: Uuid },
    /// Unknown, expired, or its session already ended.
    Invalid,
}

#[derive(sqlx::FromRow)]
struct PresentedToken {
    session_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Exchanges the refresh token `old_hash` for `new_hash`, in the caller's
/// transaction. The row lock makes two concurrent exchanges of one token
/// count as reuse for the second.
pub async fn rotate(
    conn: &mut PgConnection,
    old_hash: &[u8],
    new_hash: &[u8],
    new_expires_at: DateTime<Utc>,
) -> Result<Rotation, sqlx::Error> {
    let row: Option<PresentedToken> = sqlx::query_as(
        "SELECT s.id AS session_id, s.user_id, t.expires_at, t.rotated_at, s.revoked_at
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
         WHERE t.token_hash = $1
         FOR UPDATE OF t, s",
    )
    .bind(old_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(PresentedToken { session_id, user_id, expires_at, rotated_at, revoked_at }) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= Utc::now() {
        return Ok(Rotation::Invalid);
    }
    if rotated_at.is_some() {
        revoke(conn, session_id, "refresh_token_reused").await?;
        return Ok(Rotation::Reused { session_id });
    }
    sqlx::query(
        "WITH spent AS (UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1)
         INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($2, $3, $4)",
    )
    .bind(old_hash)
    .bind(new_hash)
    .bind(session_id)
    .bind(new_expires_at)
    .execute(conn)
    .await?;
    Ok(Rotation::Rotated { user_id, session_id })
}

/// Ends a session: its refresh tokens stop working, and so do its access
/// tokens once the revocation check sees it.
pub async fn revoke(conn: &mut PgConnection, session_id: Uuid, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(session_id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every live session of `user_id`; their ids, for the revocations cache.
pub async fn revoke_all_of(conn: &mut PgConnection, user_id: Uuid, reason: &str) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2
         WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
    )
    .bind(user_id)
    .bind(reason)
    .fetch_all(conn)
    .await
}

/// Whether the session is revoked (an unknown session counts as revoked).
pub async fn is_revoked(conn: &mut PgConnection, session_id: Uuid) -> Result<bool, sqlx::Error> {
    let live: Option<bool> = sqlx::query_scalar("SELECT revoked_at IS NULL FROM sessions WHERE id = $1")
        .bind(session_id)
        .fetch_optional(conn)
        .await?;
    Ok(live != Some(true))
}

/// Sessions revoked after `since`: those whose access tokens may still be unexpired.
pub async fn revoked_since(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<(Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, revoked_at FROM sessions WHERE revoked_at > $1").bind(since).fetch_all(conn).await
}
