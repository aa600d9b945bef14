//! The `users` table.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

pub const EMAIL_TAKEN: &str = "users_email_key";

pub(super) const COLUMNS: &str = "id, email, name, password_hash, created_at, email_verified_at";

pub async fn insert(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .fetch_one(conn)
    .await
}

pub async fn find_by_email(conn: &mut PgConnection, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = $1")).bind(email).fetch_optional(conn).await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// Many accounts at once, their addresses verified, all with one password
/// hash (the load generator's buyers, and the tests'); returns their ids.
pub async fn insert_verified_many(
    conn: &mut PgConnection,
    emails: &[String],
    name: &str,
    password_hash: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = emails.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, email_verified_at)
         SELECT id, email, $3, $4, now() FROM UNNEST($1::uuid[], $2::text[]) AS u (id, email)",
    )
    .bind(&ids)
    .bind(emails)
    .bind(name)
    .bind(password_hash)
    .execute(conn)
    .await?;
    Ok(ids)
}

/// Whether the user's address is verified (`None`: no such user).
pub async fn is_verified(conn: &mut PgConnection, id: Uuid) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

// --- verification links ---

/// Records a verification link's token (its hash) for `user_id`.
pub async fn add_verification(
    conn: &mut PgConnection,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO email_verifications (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Verification links made for `user_id` in the last hour and the last day,
/// with the user's row locked (so two resends cannot both pass a limit).
pub async fn links_sent(conn: &mut PgConnection, user_id: Uuid) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *conn).await?;
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE created_at > now() - interval '1 hour'),
                count(*) FILTER (WHERE created_at > now() - interval '1 day')
         FROM email_verifications WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}

/// Uses a verification link: marks it used and its user verified. `None`
/// when the token is unknown, used or expired.
pub async fn verify(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH used AS (
             UPDATE email_verifications SET used_at = now()
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
             RETURNING user_id)
         UPDATE users SET email_verified_at = coalesce(email_verified_at, now())
         WHERE id = (SELECT user_id FROM used)
         RETURNING {COLUMNS}"
    ))
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}
