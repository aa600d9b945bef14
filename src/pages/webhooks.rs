//! An organization's webhooks in the back office (owners): the endpoints
//! and a form for a new one; each endpoint's secret, its delivery log with
//! a replay per delivery, replay since a time, a test event, rotation,
//! turning it off and on, removal. Every change is the `webhooks` room's.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::form::Form;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::domain::webhook::EVENT_TYPES;
use crate::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::http::state::AppState;
use crate::webhooks::{EndpointInput, WebhookError};

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// What each event type means, for the form's checkboxes.
fn described(event_type: &str) -> &'static str {
    match event_type {
        "booking.confirmed" => "A booking is confirmed (free, paid, or marked paid)",
        "booking.cancelled" => "A booking is cancelled (by its buyer, the organizer, or with its event)",
        "booking.refunded" => "A refund reached the buyer",
        "ticket.checked_in" => "A ticket is admitted at the door",
        "waiting_list.offered" => "Seats are offered to someone on the waiting list",
        "event.published" => "An event is published",
        "event.cancelled" => "An event is cancelled",
        _ => "",
    }
}

/// The organization's name, when the person is a member (the room decides
/// whether their role may see its webhooks).
async fn organization_name(state: &AppState, user: Uuid, id: Uuid) -> Result<String, PageError> {
    let mine = crate::team::mine(&state.db, user).await.map_err(ApiError::from)?;
    mine.into_iter().find(|m| m.organization.id == id).map(|m| m.organization.name).ok_or(PageError::NotFound)
}

fn refused(err: WebhookError) -> PageError {
    match err {
        WebhookError::OrganizationNotFound
        | WebhookError::NotAllowed
        | WebhookError::NotFound
        | WebhookError::DeliveryNotFound => PageError::NotFound,
        // A test or replay of an endpoint turned off meanwhile (the page offers none).
        err => ApiError::from(err).into(),
    }
}

pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let done = done.done.filter(|d| d == "removed");
    list_page(&state, &visitor, user.id, id, HashMap::new(), HashMap::new(), done, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn list_page(
    state: &AppState,
    visitor: &Visitor,
    user: Uuid,
    id: Uuid,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    done: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let endpoints = crate::webhooks::list(&state.db, user, id).await.map_err(refused)?;
    let name = organization_name(state, user, id).await?;
    let types: Vec<_> = EVENT_TYPES
        .iter()
        .map(|t| context! { value => *t, label => described(t), checked => values.contains_key(&format!("event:{t}")) })
        .collect();
    let data = context! {
        organization => context! { id => id.to_string(), name },
        endpoints => endpoints.iter().map(|e| context! {
            id => e.id.to_string(), url => e.url, description => e.description, events => e.events.join(", "),
            enabled => e.enabled, failing => e.failing_since.is_some(),
        }).collect::<Vec<_>>(),
        types,
        values,
        errors,
        done,
    };
    Ok(page_with_status(&state.pages, visitor, status, "manage/webhooks.html", data))
}

/// The event types checked in a form (`event:<type>` fields).
fn checked(form: &Form) -> Vec<String> {
    EVENT_TYPES.iter().filter(|t| !form.get(&format!("event:{t}")).is_empty()).map(|t| (*t).to_owned()).collect()
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}/webhooks"))?;
    let (visitor, form) = acting.into_parts();
    let input = EndpointInput {
        url: Some(form.get("url").to_owned()),
        events: Some(checked(&form)),
        description: Some(form.get("description").to_owned()),
        enabled: None,
    };
    match crate::webhooks::register(&state.db, user.id, id, input, state.config.webhooks_allow_http).await {
        Ok(endpoint) => Ok(see_other(&format!("/manage/organizations/{id}/webhooks/{}?done=created", endpoint.id))),
        Err(WebhookError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (e.field, e.message)).collect();
            let values = form.0.into_iter().filter(|(k, _)| k != "csrf").collect();
            list_page(&state, &visitor, user.id, id, values, errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(err @ WebhookError::TooMany) => {
            let errors = [("url".to_owned(), format!("{}.", err))].into();
            let values = form.0.into_iter().filter(|(k, _)| k != "csrf").collect();
            list_page(&state, &visitor, user.id, id, values, errors, None, StatusCode::CONFLICT).await
        }
        Err(err) => Err(refused(err)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, webhook)): Path<(Uuid, Uuid)>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let done = done.done.filter(|d| {
        ["created", "tested", "rotated", "enabled", "disabled", "replayed", "replayed_all"].contains(&d.as_str())
    });
    endpoint_page(&state, &visitor, user.id, id, webhook, HashMap::new(), done, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn endpoint_page(
    state: &AppState,
    visitor: &Visitor,
    user: Uuid,
    id: Uuid,
    webhook: Uuid,
    errors: HashMap<String, String>,
    done: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let endpoint = crate::webhooks::get(&state.db, user, id, webhook).await.map_err(refused)?;
    let log = crate::webhooks::deliveries(&state.db, user, id, webhook, None, 50).await.map_err(refused)?;
    let name = organization_name(state, user, id).await?;
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let overlap = endpoint.previous_secret_until.filter(|t| *t > chrono::Utc::now()).map(when);
    let data = context! {
        organization => context! { id => id.to_string(), name },
        endpoint => context! {
            id => endpoint.id.to_string(), url => endpoint.url, description => endpoint.description,
            events => endpoint.events.join(", "), secret => endpoint.secret, overlap,
            enabled => endpoint.enabled, disabled_reason => endpoint.disabled_reason,
            failing_since => endpoint.failing_since.map(when),
        },
        deliveries => log.iter().map(|d| context! {
            id => d.id.to_string(), webhook_id => crate::domain::webhook::message_id(d.message_id),
            event_type => d.event_type, status => d.status, attempts => d.attempts,
            response => d.last_status, latency => d.last_latency_ms, error => d.last_error,
            at => when(d.created_at),
            next => (d.status == "pending").then(|| when(d.next_attempt_at)),
        }).collect::<Vec<_>>(),
        values => context! { since => errors.get("since_value").cloned() },
        errors,
        done,
    };
    Ok(page_with_status(&state.pages, visitor, status, "manage/webhook.html", data))
}

/// A button on an endpoint's page: `test`, `rotate`, `enable`, `disable`,
/// `remove`, `replay` (since a time).
pub async fn act(
    State(state): State<AppState>,
    Path((id, webhook, what)): Path<(Uuid, Uuid, String)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}/webhooks/{webhook}"))?;
    let (visitor, form) = acting.into_parts();
    let db = &state.db;
    let back = |done: &str| Ok(see_other(&format!("/manage/organizations/{id}/webhooks/{webhook}?done={done}")));
    let switch = |on: bool| EndpointInput { enabled: Some(on), ..Default::default() };
    let allow = state.config.webhooks_allow_http;
    match what.as_str() {
        "test" => {
            crate::webhooks::send_test(db, user.id, id, webhook).await.map_err(refused).and_then(|_| back("tested"))
        }
        "rotate" => {
            crate::webhooks::rotate(db, user.id, id, webhook).await.map_err(refused).and_then(|_| back("rotated"))
        }
        "enable" => crate::webhooks::update(db, user.id, id, webhook, switch(true), allow)
            .await
            .map_err(refused)
            .and_then(|_| back("enabled")),
        "disable" => crate::webhooks::update(db, user.id, id, webhook, switch(false), allow)
            .await
            .map_err(refused)
            .and_then(|_| back("disabled")),
        "remove" => {
            crate::webhooks::remove(db, user.id, id, webhook).await.map_err(refused)?;
            Ok(see_other(&format!("/manage/organizations/{id}/webhooks?done=removed")))
        }
        "replay" => {
            // A time typed in the browser's own field, taken as UTC (the page says so).
            let since =
                chrono::NaiveDateTime::parse_from_str(form.get("since"), "%Y-%m-%dT%H:%M").ok().map(|t| t.and_utc());
            let Some(since) = since else {
                // Who may comes first: the page itself is the room's to refuse.
                crate::webhooks::get(db, user.id, id, webhook).await.map_err(refused)?;
                let errors = [
                    ("since".to_owned(), "a date and time".to_owned()),
                    ("since_value".to_owned(), form.get("since").to_owned()),
                ]
                .into();
                return endpoint_page(
                    &state,
                    &visitor,
                    user.id,
                    id,
                    webhook,
                    errors,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            crate::webhooks::replay_since(db, user.id, id, webhook, since).await.map_err(refused)?;
            back("replayed_all")
        }
        _ => Err(PageError::NotFound),
    }
}

/// "Replay" on one delivery of the log.
pub async fn replay(
    State(state): State<AppState>,
    Path((id, webhook, delivery)): Path<(Uuid, Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}/webhooks/{webhook}"))?;
    crate::webhooks::replay(&state.db, user.id, id, webhook, delivery).await.map_err(refused)?;
    Ok(see_other(&format!("/manage/organizations/{id}/webhooks/{webhook}?done=replayed")))
}
