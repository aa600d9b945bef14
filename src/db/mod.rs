//! PostgreSQL: connecting, migrating, and the queries, one module per table family.
//! Query functions take a connection or transaction; the caller commits.

pub mod allocation;
pub mod bookings;
pub mod codes;
pub mod door_scans;
pub mod events;
pub mod images;
pub mod invariants;
pub mod invoices;
pub mod line;
pub mod mail;
pub mod messages;
pub mod outbox;
pub mod payments;
pub mod prune;
pub mod questions;
pub mod quotas;
pub mod sessions;
pub mod sign_in_links;
pub mod teams;
pub mod tickets;
pub mod users;
pub mod waiting;
pub mod wakeup;
pub mod webhooks;

use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, migrate::Migrator};

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Connects to `url`, creating the database if it is missing, and migrates it.
pub async fn connect_and_migrate(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    if !Postgres::database_exists(url).await? {
        // Another process may create it at the same moment; only a failure
        // that leaves no database behind is an error.
        if let Err(err) = Postgres::create_database(url).await {
            if !Postgres::database_exists(url).await? {
                return Err(err.into());
            }
        }
        tracing::info!(database = %crate::config::redact_url(url), "created database");
    }
    let pool = pool(url, max_connections).await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// A pool whose callers wait at most a few seconds for a connection, so an
/// unreachable database turns into a 503 instead of a hung request.
pub async fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(3)).connect(url).await
}

/// Whether `err` means "the database cannot be reached" rather than a bad query.
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    use sqlx::Error::*;
    match err {
        PoolTimedOut | PoolClosed | Io(_) | Tls(_) | WorkerCrashed => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away.
        Database(db) => db.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

/// A serialization failure or a deadlock: nothing was changed, and the same
/// transaction tried again may well pass.
pub fn is_retryable(err: &sqlx::Error) -> bool {
    err.as_database_error().and_then(|e| e.code()).is_some_and(|code| code == "40001" || code == "40P01")
}

/// The constraint a database error violated, if any.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    err.as_database_error().and_then(|e| e.constraint())
}

/// `%text%` with the text's own `%`, `_` and `\` matched literally.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
