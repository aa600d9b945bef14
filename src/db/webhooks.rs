//! The `webhook_endpoints` and `webhook_deliveries` tables.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl EndpointRow {
    /// The secrets a delivery is signed with now: the current one, and the
    /// previous one during a rotation's overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if until > now {
                secrets.push(previous);
            }
        }
        secrets
    }
}

const ENDPOINT: &str = "SELECT id, organization_id, url, description, events, secret, previous_secret, \
    previous_secret_until, enabled, disabled_reason, failing_since, created_at FROM webhook_endpoints";

pub async fn of_organization(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!("{ENDPOINT} WHERE organization_id = $1 ORDER BY created_at, id"))
        .bind(organization_id)
        .fetch_all(conn)
        .await
}

/// Endpoint `id` of `organization_id`.
pub async fn find(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!("{ENDPOINT} WHERE organization_id = $1 AND id = $2"))
        .bind(organization_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn count(conn: &mut PgConnection, organization_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE organization_id = $1")
        .bind(organization_id)
        .fetch_one(conn)
        .await
}

pub struct NewEndpoint<'a> {
    pub organization_id: Uuid,
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a [String],
    pub secret: &'a str,
    pub created_by: Uuid,
}

pub async fn insert(conn: &mut PgConnection, new: &NewEndpoint<'_>) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH e AS (INSERT INTO webhook_endpoints (id, organization_id, url, description, events, secret, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *) {}",
        ENDPOINT.replace("FROM webhook_endpoints", "FROM e")
    ))
    .bind(Uuid::now_v7())
    .bind(new.organization_id)
    .bind(new.url)
    .bind(new.description)
    .bind(new.events)
    .bind(new.secret)
    .bind(new.created_by)
    .fetch_one(conn)
    .await
}

/// What a change sets (`None`: kept).
#[derive(Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub async fn update(conn: &mut PgConnection, id: Uuid, changes: &EndpointChanges) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH e AS (UPDATE webhook_endpoints SET
            url = coalesce($2, url), description = coalesce($3, description), events = coalesce($4, events),
            enabled = coalesce($5, enabled),
            -- Enabled again: a fresh start (no failure streak, no reason to be off).
            disabled_reason = CASE WHEN $5 AND NOT enabled THEN NULL ELSE disabled_reason END,
            failing_since = CASE WHEN $5 AND NOT enabled THEN NULL ELSE failing_since END,
            updated_at = now()
          WHERE id = $1 RETURNING *) {}",
        ENDPOINT.replace("FROM webhook_endpoints", "FROM e")
    ))
    .bind(id)
    .bind(changes.url.as_deref())
    .bind(changes.description.as_deref())
    .bind(changes.events.as_deref())
    .bind(changes.enabled)
    .fetch_one(conn)
    .await
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// A new secret; the current one stays valid until `overlap_until`.
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &str,
    overlap_until: DateTime<Utc>,
) -> Result<EndpointRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH e AS (UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3,
                    secret = $2, updated_at = now() WHERE id = $1 RETURNING *) {}",
        ENDPOINT.replace("FROM webhook_endpoints", "FROM e")
    ))
    .bind(id)
    .bind(secret)
    .bind(overlap_until)
    .fetch_one(conn)
    .await
}

/// One message to every enabled endpoint of its organization subscribed to
/// its type (`only`: to that endpoint alone, whatever it subscribed to: a
/// test). Each row is (message id, organization, body).
pub async fn enqueue(
    conn: &mut PgConnection,
    event_type: &str,
    messages: &[(Uuid, Uuid, String)],
    only: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    if messages.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.0).collect();
    let organizations: Vec<Uuid> = messages.iter().map(|m| m.1).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.2.as_str()).collect();
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, event_type, payload)
         SELECT gen_random_uuid(), m.id, w.id, $1, m.body
         FROM unnest($2::uuid[], $3::uuid[], $4::text[]) AS m (id, organization_id, body)
         JOIN webhook_endpoints w ON w.organization_id = m.organization_id
         WHERE CASE WHEN $5::uuid IS NULL THEN w.enabled AND $1 = ANY (w.events) ELSE w.id = $5 END",
    )
    .bind(event_type)
    .bind(&ids)
    .bind(&organizations)
    .bind(&bodies)
    .bind(only)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The organizations among `organizations` with an enabled endpoint for
/// `event_type` (most have none: nothing else is read for them).
pub async fn subscribed(
    conn: &mut PgConnection,
    event_type: &str,
    organizations: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT organization_id FROM webhook_endpoints
         WHERE organization_id = ANY ($1) AND enabled AND $2 = ANY (events)",
    )
    .bind(organizations)
    .bind(event_type)
    .fetch_all(conn)
    .await
}

/// A delivery claimed for sending, with its endpoint.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub payload: String,
    /// Tries made before this one.
    pub attempts: i32,
    /// The claim: until then the row is this sender's. Its outcome is
    /// recorded only while the claim holds (another sender may have taken
    /// the row after it ran out).
    pub leased_until: DateTime<Utc>,
}

/// Claims up to `limit` due deliveries of enabled endpoints by moving them
/// `lease` ahead. A try is counted when its outcome is recorded (a sender
/// that dies first, or never reaches the endpoint, costs the row nothing).
pub async fn claim_due(conn: &mut PgConnection, limit: i64, lease: Duration) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
            SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled
            ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries d SET next_attempt_at = now() + make_interval(secs => $2)
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.message_id, d.endpoint_id, d.payload, d.attempts, d.next_attempt_at AS leased_until",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(conn)
    .await
}

/// The endpoint a delivery goes to (any organization's: the sender's own read).
pub async fn endpoint(conn: &mut PgConnection, id: Uuid) -> Result<Option<EndpointRow>, sqlx::Error> {
    sqlx::query_as(&format!("{ENDPOINT} WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// What one try answered.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// A delivery answered 2xx: delivered; its endpoint is well again, and what
/// waited out a backoff for it goes now.
pub async fn mark_delivered(
    conn: &mut PgConnection,
    due: &Due,
    outcome: &Outcome,
    lease: Duration,
) -> Result<u64, sqlx::Error> {
    let mine = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_attempt_at = now(),
                attempts = attempts + 1, last_status = $2, last_latency_ms = $3, last_error = NULL
         WHERE id = $1 AND next_attempt_at = $4 AND status = 'pending'",
    )
    .bind(due.id)
    .bind(outcome.status.map(i32::from))
    .bind(outcome.latency_ms)
    .bind(due.leased_until)
    .execute(&mut *conn)
    .await?;
    if mine.rows_affected() == 0 {
        return Ok(0);
    }
    sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
        .bind(due.endpoint_id)
        .execute(&mut *conn)
        .await?;
    // Beyond a lease: not held by a sender right now. The try they are
    // brought forward for does not count against their schedule.
    let woken = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
         WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at > now() + make_interval(secs => $2)",
    )
    .bind(due.endpoint_id)
    .bind(lease.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(woken.rows_affected())
}

/// A try failed: again after `retry` (given up without one). Returns
/// since when the endpoint has been failing; `None` when the row is no
/// longer this try's (another sender took it after the lease ran out).
pub async fn mark_failed(
    conn: &mut PgConnection,
    due: &Due,
    outcome: &Outcome,
    retry: Option<Duration>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    // The endpoint first, as its removal takes them (endpoint, then its
    // deliveries by the cascade): the other order could deadlock with it.
    sqlx::query("SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE")
        .bind(due.endpoint_id)
        .fetch_optional(&mut *conn)
        .await?;
    let mine = sqlx::query(
        "UPDATE webhook_deliveries SET
            status = CASE WHEN $5::float8 IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_at = now() + make_interval(secs => coalesce($5::float8, 0)),
            attempts = attempts + 1, last_attempt_at = now(), last_status = $2, last_latency_ms = $3, last_error = $4
         WHERE id = $1 AND next_attempt_at = $6 AND status = 'pending'",
    )
    .bind(due.id)
    .bind(outcome.status.map(i32::from))
    .bind(outcome.latency_ms)
    .bind(outcome.error.as_deref())
    .bind(retry.map(|r| r.as_secs_f64()))
    .bind(due.leased_until)
    .execute(&mut *conn)
    .await?;
    if mine.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query_scalar(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()) WHERE id = $1
         RETURNING failing_since",
    )
    .bind(due.endpoint_id)
    .fetch_one(conn)
    .await
    .map(Some)
}

/// Disables an endpoint that kept failing; true when this call did it.
pub async fn disable(conn: &mut PgConnection, id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND enabled",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY: &str = "SELECT id, message_id, event_type, status, attempts, next_attempt_at, last_status, \
    last_latency_ms, last_error, last_attempt_at, created_at, delivered_at FROM webhook_deliveries";

/// An endpoint's deliveries, newest first, before `before` (a delivery id).
pub async fn deliveries(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{DELIVERY} WHERE endpoint_id = $1
           AND ($2::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM webhook_deliveries WHERE id = $2))
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(endpoint_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Sends delivery `id` of `endpoint_id` again: a new delivery of the same
/// message (its `webhook-id` unchanged, so a receiver can tell).
pub async fn replay(conn: &mut PgConnection, endpoint_id: Uuid, id: Uuid) -> Result<Option<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH d AS (INSERT INTO webhook_deliveries (id, message_id, endpoint_id, event_type, payload)
                    SELECT gen_random_uuid(), message_id, endpoint_id, event_type, payload FROM webhook_deliveries
                    WHERE id = $2 AND endpoint_id = $1 RETURNING *) {}",
        DELIVERY.replace("FROM webhook_deliveries", "FROM d")
    ))
    .bind(endpoint_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Sends every message of `endpoint_id` since `since` again (not those on
/// their way already); how many.
pub async fn replay_since(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO webhook_deliveries (id, message_id, endpoint_id, event_type, payload)
         SELECT gen_random_uuid(), message_id, endpoint_id, event_type, min(payload) FROM webhook_deliveries d
         WHERE endpoint_id = $1 AND created_at >= $2
         GROUP BY message_id, endpoint_id, event_type
         HAVING bool_and(status <> 'pending')",
    )
    .bind(endpoint_id)
    .bind(since)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
