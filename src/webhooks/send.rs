//! The webhook sender, beside the mailer in the worker process: claims due
//! deliveries (`FOR UPDATE SKIP LOCKED` and a lease, so several senders
//! share the work and a crashed one's rows come due again), POSTs each,
//! signed as the Standard Webhooks specification says, and records the
//! answer: 2xx delivered; anything else tried again on the schedule of
//! `domain::webhook` until it is given up; an endpoint failing for five days
//! disabled, its owners told by email. At least once: a receiver dedupes
//! with `webhook-id`.
//!
//! Requests go only to addresses on the internet: names are resolved by a
//! resolver that drops private, loopback and link-local addresses (checked
//! when the connection is made, so a name that changes its address after
//! registration gains nothing), redirects are not followed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::db::webhooks::{self as db, Due, Outcome};
use crate::domain::webhook as rules;

const CLAIM: i64 = 20;
/// Longer than a request may take.
const LEASE: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_secs(2);

/// What the sender needs.
#[derive(Clone)]
pub struct SenderContext {
    pub db: PgPool,
    /// `WEBHOOKS_ALLOW_HTTP`: http and private addresses too (tests, local trials).
    pub allow_local: bool,
}

pub async fn run(context: SenderContext, shutdown: CancellationToken) {
    let client = match client(context.allow_local) {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "webhook sender not started");
            return;
        }
    };
    let mut wakeup = crate::db::wakeup::Wakeup::new(&context.db, "webhooks", POLL).await;
    while !shutdown.is_cancelled() {
        loop {
            let claimed = match context.db.acquire().await {
                Ok(mut conn) => db::claim_due(&mut conn, CLAIM, LEASE).await,
                Err(err) => Err(err),
            };
            match claimed {
                Ok(rows) if rows.is_empty() => break,
                Ok(rows) => {
                    join_all(rows.iter().map(|due| deliver(&context, &client, due))).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "webhook sender cannot read its deliveries");
                    break;
                }
            }
        }
        if !wakeup.wait(&shutdown).await {
            break;
        }
    }
}

fn client(allow_local: bool) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // A proxy would resolve the endpoint's name itself, past the check below.
        .no_proxy()
        .user_agent(concat!("Boxoffice-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if allow_local { builder } else { builder.dns_resolver(Arc::new(PublicOnly)) };
    builder.build()
}

/// Resolves names to their addresses on the internet only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| rules::routable(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} has no address on the internet").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[tracing::instrument(skip_all, fields(delivery.id = %due.id, endpoint.id = %due.endpoint_id, attempt = due.attempts + 1))]
async fn deliver(context: &SenderContext, client: &reqwest::Client, due: &Due) {
    // The connection goes back before the request: an endpoint that takes
    // its time must not hold the pool the rest of the system works with.
    let endpoint = match context.db.acquire().await {
        Ok(mut conn) => db::endpoint(&mut conn, due.endpoint_id).await,
        Err(err) => Err(err),
    };
    let endpoint = match endpoint {
        Ok(Some(endpoint)) if endpoint.enabled => endpoint,
        // Removed or disabled since: the row stays as it is (a cascade removes it, enabling sends it).
        Ok(_) => return,
        // The lease brings it back.
        Err(_) => return,
    };
    let now = chrono::Utc::now();
    let id = rules::message_id(due.message_id);
    let timestamp = now.timestamp();
    let signature = rules::signature_header(&endpoint.signing_secrets(now), &id, timestamp, &due.payload);
    let outcome = match refused_address(&endpoint.url, context.allow_local) {
        Some(why) => Outcome { status: None, latency_ms: 0, error: Some(why) },
        None => {
            let started = Instant::now();
            let sent = client
                .post(&endpoint.url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(due.payload.clone())
                .send()
                .await;
            let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
            match sent {
                Ok(response) => {
                    let status = response.status();
                    let error = (!status.is_success()).then(|| format!("answered {status}"));
                    Outcome { status: Some(status.as_u16()), latency_ms, error }
                }
                Err(err) => Outcome { status: None, latency_ms, error: Some(describe(&err)) },
            }
        }
    };
    let recorded = match context.db.acquire().await {
        Ok(mut conn) => record(&mut conn, due, &endpoint, &outcome).await,
        Err(err) => Err(err),
    };
    if let Err(err) = recorded {
        // The lease brings it back: at worst it is sent twice, with the same webhook-id.
        tracing::warn!(error = %err, "could not record a webhook delivery");
    }
}

/// An endpoint written as an address inside the operator's network (a URL
/// registered before this check, or the setting turned off since).
fn refused_address(url: &str, allow_local: bool) -> Option<String> {
    rules::check_url(url, allow_local).err().map(|refusal| format!("not sent: the URL {refusal}"))
}

fn describe(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text.chars().take(500).collect()
}

async fn record(
    conn: &mut PgConnection,
    due: &Due,
    endpoint: &db::EndpointRow,
    outcome: &Outcome,
) -> Result<(), sqlx::Error> {
    if outcome.error.is_none() {
        let woken = db::mark_delivered(conn, due, outcome, LEASE).await?;
        if woken > 0 {
            tracing::info!(deliveries = woken, "the endpoint answers again; its waiting deliveries are due now");
        }
        return Ok(());
    }
    // This try counts: the schedule's step after it.
    let retry = rules::retry_after(due.attempts + 1);
    tracing::warn!(error = ?outcome.error, retry_in = ?retry, "webhook not delivered");
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    // Another sender took the row since (this one outlived its lease): its word counts.
    let Some(failing_since) = db::mark_failed(&mut tx, due, outcome, retry).await? else { return Ok(()) };
    if chrono::Utc::now() - failing_since >= rules::DISABLE_AFTER {
        let reason = format!("every delivery failed for five days (last: {})", outcome.error.as_deref().unwrap_or(""));
        if db::disable(&mut tx, endpoint.id, &reason).await? {
            let host = crate::domain::webhook::host_of(&endpoint.url);
            tracing::warn!(host = %host, "webhook endpoint disabled after five days of failures");
            crate::db::teams::audit(
                &mut tx,
                endpoint.organization_id,
                None,
                "webhook.disabled",
                None,
                &host,
                serde_json::json!({"reason": reason}),
            )
            .await?;
            crate::db::outbox::enqueue_webhook_disabled(&mut tx, endpoint.organization_id, endpoint.id).await?;
        }
    }
    tx.commit().await
}
