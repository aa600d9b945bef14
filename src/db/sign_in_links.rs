//! The `sign_in_links` table: emailed links that sign a person in, keyed by
//! the address (an account need not exist yet).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::users::{COLUMNS, UserRow};

/// How many links `email` was sent in the last hour and day at the request
/// of `network`, and in the last day from anywhere. Takes a lock on the
/// address for the rest of the transaction, so that two requests at the
/// same moment cannot both pass the limit.
pub async fn sent(conn: &mut PgConnection, email: &str, network: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sign-in-link:' || $1, 0))")
        .bind(email)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE network = $2 AND created_at > now() - interval '1 hour'),
                count(*) FILTER (WHERE network = $2),
                count(*)
         FROM sign_in_links WHERE email = $1 AND created_at > now() - interval '1 day'",
    )
    .bind(email)
    .bind(network)
    .fetch_one(conn)
    .await
}

/// The address a link's token was sent to, while it still works (not used
/// up by asking).
pub async fn address_of(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT email FROM sign_in_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

pub async fn add(
    conn: &mut PgConnection,
    token_hash: &[u8],
    email: &str,
    network: &str,
    next: Option<&str>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sign_in_links (token_hash, email, network, next, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(token_hash)
        .bind(email)
        .bind(network)
        .bind(next)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A link used: the address it was sent to and where the person was going.
#[derive(Debug, sqlx::FromRow)]
pub struct Used {
    pub email: String,
    pub next: Option<String>,
}

/// Uses a link once: `None` when it is unknown, used or expired.
pub async fn redeem(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<Used>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE sign_in_links SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING email, next",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// The account an address proved it owns, as it stands after the proof.
pub struct Claimed {
    pub user: UserRow,
    /// Made now, for an address nobody had registered.
    pub created: bool,
    /// Registered by someone who never proved the address: its password and
    /// sessions (someone else's, perhaps) no longer count.
    pub taken_over: bool,
}

/// The account of `email`, verified: made with `name` and `password_hash`
/// (a random one: no password was chosen) when none exists; when one exists
/// unverified and `take_back`, its password is replaced by `password_hash`
/// and its name by `name`, since whoever chose them never showed they own
/// the address.
pub async fn claim_account(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    password_hash: &str,
    take_back: bool,
) -> Result<Claimed, sqlx::Error> {
    // Two links of one new address redeemed at once: one insert wins, the
    // other finds its row.
    let created: Option<UserRow> = sqlx::query_as(&format!(
        "INSERT INTO users (id, email, name, password_hash, email_verified_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(user) = created {
        return Ok(Claimed { user, created: true, taken_over: false });
    }
    let existing: UserRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1 FOR UPDATE"))
        .bind(email)
        .fetch_one(&mut *conn)
        .await?;
    if existing.email_verified_at.is_some() || !take_back {
        return Ok(Claimed { user: existing, created: false, taken_over: false });
    }
    let user: UserRow = sqlx::query_as(&format!(
        "UPDATE users SET email_verified_at = now(), password_hash = $2, name = $3 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(existing.id)
    .bind(password_hash)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Claimed { user, created: false, taken_over: true })
}
