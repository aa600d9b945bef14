//! The webhooks room: an organization's endpoints (its owners register,
//! change, rotate and remove them), the delivery log, replays and the test
//! event. What a change announces is written in the changing transaction
//! ([`events`]); the worker process sends it ([`send`]).

pub mod events;
pub mod send;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::webhooks::{self as db, DeliveryRow, EndpointChanges, EndpointRow, NewEndpoint};
use crate::domain::team::Action;
use crate::domain::webhook::{self as rules, EVENT_TYPES};
use crate::domain::{FieldError, Violations};
use crate::event::access::{Refusal, authorize};

/// Most endpoints an organization registers.
pub const MAX_ENDPOINTS: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not an organization of this person's.
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("your role in this organization does not allow its webhooks")]
    NotAllowed,
    #[error("webhook endpoint not found")]
    NotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    #[error("an organization has at most {MAX_ENDPOINTS} webhook endpoints")]
    TooMany,
    /// Turned off: nothing is sent to it until it is on again.
    #[error("the endpoint is turned off: turn it on first")]
    Disabled,
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The organization, when `person` may manage its webhooks (owners).
async fn allowed(conn: &mut PgConnection, person: Uuid, organization: Uuid) -> Result<(), WebhookError> {
    if organization == person {
        crate::db::teams::ensure_personal(conn, person).await?;
    }
    match authorize(conn, person, organization, Action::Webhooks).await? {
        Ok(_) => Ok(()),
        Err(Refusal::NotMember) => Err(WebhookError::OrganizationNotFound),
        Err(Refusal::NotAllowed(_)) => Err(WebhookError::NotAllowed),
    }
}

/// An endpoint as typed: its URL, what it receives, a note.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Checks what was typed; `creating` needs a URL and events.
fn check(input: EndpointInput, creating: bool, allow_local: bool) -> Result<EndpointChanges, WebhookError> {
    let mut v = Violations::new();
    let url = match input.url.as_deref() {
        Some(raw) => match rules::check_url(raw, allow_local) {
            Ok(url) => Some(url.to_string()),
            Err(refusal) => {
                v.add("url", refusal.to_string());
                None
            }
        },
        None if creating => {
            v.add("url", "required");
            None
        }
        None => None,
    };
    let events = match input.events {
        Some(events) => {
            let mut events: Vec<String> = events.into_iter().map(|e| e.trim().to_owned()).collect();
            events.sort();
            events.dedup();
            if events.is_empty() {
                v.add("events", "choose at least one event");
            } else if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
                v.add("events", format!("{unknown:?} is not one of {}", EVENT_TYPES.join(", ")));
            }
            Some(events)
        }
        None if creating => {
            v.add("events", "choose at least one event");
            None
        }
        None => None,
    };
    let description = input.description.and_then(|d| v.line("description", &d, 0, 200));
    let changes = EndpointChanges { url, description, events, enabled: input.enabled };
    v.finish_with(Some(changes)).map_err(WebhookError::Invalid)
}

/// A new endpoint of `organization` with a new secret.
pub async fn register(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    input: EndpointInput,
    allow_local: bool,
) -> Result<EndpointRow, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    // Counted under the organization's row lock: two at once cannot pass the limit.
    crate::db::teams::lock(&mut tx, organization).await?;
    let changes = check(input, true, allow_local)?;
    if db::count(&mut tx, organization).await? >= MAX_ENDPOINTS {
        return Err(WebhookError::TooMany);
    }
    let (url, events) = (changes.url.unwrap_or_default(), changes.events.unwrap_or_default());
    let secret = rules::new_secret();
    let new = NewEndpoint {
        organization_id: organization,
        url: &url,
        description: changes.description.as_deref().unwrap_or(""),
        events: &events,
        secret: &secret,
        created_by: person,
    };
    let endpoint = db::insert(&mut tx, &new).await?;
    crate::db::teams::audit(
        &mut tx,
        organization,
        Some(person),
        "webhook.created",
        None,
        &rules::host_of(&url),
        json!({"events": events}),
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

pub async fn list(pool: &PgPool, person: Uuid, organization: Uuid) -> Result<Vec<EndpointRow>, WebhookError> {
    let mut conn = pool.acquire().await?;
    allowed(&mut conn, person, organization).await?;
    Ok(db::of_organization(&mut conn, organization).await?)
}

pub async fn get(pool: &PgPool, person: Uuid, organization: Uuid, id: Uuid) -> Result<EndpointRow, WebhookError> {
    let mut conn = pool.acquire().await?;
    allowed(&mut conn, person, organization).await?;
    db::find(&mut conn, organization, id).await?.ok_or(WebhookError::NotFound)
}

pub async fn update(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    id: Uuid,
    input: EndpointInput,
    allow_local: bool,
) -> Result<EndpointRow, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let before = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    let changes = check(input, false, allow_local)?;
    let endpoint = db::update(&mut tx, id, &changes).await?;
    crate::db::teams::audit(
        &mut tx,
        organization,
        Some(person),
        "webhook.changed",
        None,
        &rules::host_of(&endpoint.url),
        json!({"url_changed": before.url != endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}),
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

pub async fn remove(pool: &PgPool, person: Uuid, organization: Uuid, id: Uuid) -> Result<(), WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let endpoint = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    db::delete(&mut tx, id).await?;
    let host = rules::host_of(&endpoint.url);
    crate::db::teams::audit(&mut tx, organization, Some(person), "webhook.removed", None, &host, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// A new secret; the old one signs beside it for a day, so a receiver can
/// switch without missing a delivery.
pub async fn rotate(pool: &PgPool, person: Uuid, organization: Uuid, id: Uuid) -> Result<EndpointRow, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let endpoint = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    let rotated = db::rotate(&mut tx, id, &rules::new_secret(), Utc::now() + rules::ROTATION_OVERLAP).await?;
    crate::db::teams::audit(
        &mut tx,
        organization,
        Some(person),
        "webhook.secret_rotated",
        None,
        &rules::host_of(&endpoint.url),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(rotated)
}

/// The endpoint's deliveries, newest first.
pub async fn deliveries(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, WebhookError> {
    let mut conn = pool.acquire().await?;
    allowed(&mut conn, person, organization).await?;
    db::find(&mut conn, organization, id).await?.ok_or(WebhookError::NotFound)?;
    Ok(db::deliveries(&mut conn, id, before, limit).await?)
}

/// Delivery `delivery` sent again (its `webhook-id` unchanged).
pub async fn replay(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    id: Uuid,
    delivery: Uuid,
) -> Result<DeliveryRow, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let endpoint = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    if !endpoint.enabled {
        return Err(WebhookError::Disabled);
    }
    let again = db::replay(&mut tx, id, delivery).await?.ok_or(WebhookError::DeliveryNotFound)?;
    tx.commit().await?;
    Ok(again)
}

/// Every message to the endpoint since `since` sent again; how many.
pub async fn replay_since(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let endpoint = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    if !endpoint.enabled {
        return Err(WebhookError::Disabled);
    }
    let count = db::replay_since(&mut tx, id, since).await?;
    crate::db::teams::audit(
        &mut tx,
        organization,
        Some(person),
        "webhook.replayed",
        None,
        &rules::host_of(&endpoint.url),
        json!({"since": since, "deliveries": count}),
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}

/// A `webhook.test` event to this endpoint alone.
pub async fn send_test(pool: &PgPool, person: Uuid, organization: Uuid, id: Uuid) -> Result<Uuid, WebhookError> {
    let mut tx = pool.begin().await?;
    allowed(&mut tx, person, organization).await?;
    let endpoint = db::find(&mut tx, organization, id).await?.ok_or(WebhookError::NotFound)?;
    if !endpoint.enabled {
        return Err(WebhookError::Disabled);
    }
    let message = Uuid::now_v7();
    let body = events::envelope(rules::TEST_EVENT, json!({"organization_id": organization, "endpoint_id": id}));
    db::enqueue(&mut tx, rules::TEST_EVENT, &[(message, organization, body)], Some(id)).await?;
    tx.commit().await?;
    Ok(message)
}
