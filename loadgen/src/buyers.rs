//! Buyers for a sale, one per request as in a real on-sale (a user has one
//! request in line per ticket type). Twenty thousand registrations and logins
//! through the API would run argon2 forty thousand times; with the server's
//! database at hand they are written straight into PostgreSQL instead — one
//! precomputed password hash for all, verified addresses, a session and a
//! refresh token each — and each refresh token is exchanged at the API for an
//! access token (no password work on the server).

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::client::{Api, PASSWORD};

/// Rows written per statement.
const CHUNK: usize = 5_000;

/// `count` buyers' access tokens: through PostgreSQL when `database_url` is
/// given (fast), else by registering and logging in through the API.
pub async fn create(api: &Api, database_url: Option<&str>, count: usize, run_id: &str) -> anyhow::Result<Vec<String>> {
    let progress = crate::report::bar(count as u64, "buyers");
    let tokens = match database_url {
        Some(url) => in_bulk(api, url, count, run_id, &progress).await,
        None => futures::stream::iter(0..count)
            .map(|i| {
                let (api, progress) = (api.clone(), progress.clone());
                let email = format!("buyer-{i}-{run_id}@loadgen.test");
                async move {
                    let token = api.user(&email).await;
                    progress.inc(1);
                    token
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect(),
    };
    progress.finish();
    tokens
}

async fn in_bulk(
    api: &Api,
    database_url: &str,
    count: usize,
    run_id: &str,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<String>> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .with_context(|| format!("connecting to the server's database at {database_url}"))?;
    let hash = boxoffice::auth::PasswordHasher::default().hash(PASSWORD).await?;
    let mut refresh_tokens = Vec::with_capacity(count);
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    for chunk in (0..count).collect::<Vec<_>>().chunks(CHUNK) {
        let emails: Vec<String> = chunk.iter().map(|i| format!("buyer-{i}-{run_id}@loadgen.test")).collect();
        let (tokens, hashes): (Vec<String>, Vec<Vec<u8>>) =
            chunk.iter().map(|_| boxoffice::auth::refresh::generate()).unzip();
        let mut tx = pool.begin().await?;
        let users = boxoffice::db::users::insert_verified_many(&mut tx, &emails, "Load Test", &hash)
            .await
            .context("writing the buyers (is this the server's database, migrated?)")?;
        boxoffice::db::sessions::create_many(&mut tx, &users, &hashes, expires).await?;
        tx.commit().await?;
        refresh_tokens.extend(tokens);
    }
    futures::stream::iter(refresh_tokens)
        .map(|refresh_token| {
            let (api, progress) = (api.clone(), progress.clone());
            async move {
                let reply = api
                    .http()
                    .post(api.url("/api/v1/auth/refresh"))
                    .json(&json!({"refresh_token": refresh_token}))
                    .send()
                    .await?;
                if !reply.status().is_success() {
                    bail!("refresh answered {}: {}", reply.status(), reply.text().await.unwrap_or_default());
                }
                let pair: Value = reply.json().await?;
                progress.inc(1);
                pair["access_token"].as_str().map(str::to_owned).context("no access token")
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}
