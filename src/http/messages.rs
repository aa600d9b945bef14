//! Messages to an event's people (owners and managers; the event room's).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path};
use crate::db::messages::MessageRow;
use crate::domain::message::Audience;
use crate::error::{ApiResult, Problem};
use crate::event::messages::MessageInput;
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMessage {
    /// `all`, `ticket_type`, `checked_in`, `not_checked_in` or `waiting_list`.
    pub audience: String,
    /// For `ticket_type`: which.
    pub ticket_type_id: Option<Uuid>,
    /// Up to 150 characters; `{name}`, `{event}` and `{reference}` are filled in per person.
    pub subject: String,
    /// Plain text, up to 10,000 characters, with the same fields.
    pub body: String,
}

impl From<NewMessage> for MessageInput {
    fn from(m: NewMessage) -> Self {
        Self { audience: m.audience, ticket_type_id: m.ticket_type_id, subject: m.subject, body: m.body }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePreview {
    /// How many people it reaches now.
    pub recipients: i64,
    /// One person's copy.
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageQueued {
    pub id: Uuid,
    /// One email each, queued behind the booking emails.
    pub recipients: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SentMessage {
    pub id: Uuid,
    pub author: Option<String>,
    pub audience: Audience,
    pub ticket_type_id: Option<Uuid>,
    pub subject: String,
    pub body: String,
    pub recipients: i32,
    /// Emails sent so far.
    pub sent: i64,
    /// Emails given up on (an address that refuses mail, or not verified).
    pub failed: i64,
    pub created_at: DateTime<Utc>,
}

impl From<MessageRow> for SentMessage {
    fn from(m: MessageRow) -> Self {
        Self {
            id: m.id,
            author: m.author_name,
            audience: Audience::parse(&m.audience).unwrap_or(Audience::All),
            ticket_type_id: m.ticket_type_id,
            subject: m.subject,
            body: m.body,
            recipients: m.recipients,
            sent: m.sent,
            failed: m.failed,
            created_at: m.created_at,
        }
    }
}

/// How a message would read, and how many it reaches (nothing is sent).
#[utoipa::path(post, path = "/api/v1/events/{id}/messages/preview", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])), request_body = NewMessage,
    responses(
        (status = 200, description = "One person's copy and the count", body = MessagePreview),
        (status = 403, description = "The caller's role may not write to the event's people", body = Problem),
        (status = 404, description = "No such event of the caller's", body = Problem),
        (status = 422, description = "No text, an unknown field, or an audience that is none", body = Problem),
    ))]
pub async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewMessage>,
) -> ApiResult<axum::Json<MessagePreview>> {
    let p = state.events().preview_message(user.id, id, req.into()).await?;
    Ok(axum::Json(MessagePreview { recipients: p.recipients, subject: p.subject, body: p.body }))
}

/// Writes to the event's people: one email each, through the outbox, behind every booking email.
#[utoipa::path(post, path = "/api/v1/events/{id}/messages", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])), request_body = NewMessage,
    responses(
        (status = 202, description = "Queued", body = MessageQueued),
        (status = 403, description = "The caller's role may not write to the event's people", body = Problem),
        (status = 404, description = "No such event of the caller's", body = Problem),
        (status = 422, description = "No text, an unknown field, an audience that is none or nobody in it", body = Problem),
    ))]
pub async fn send(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewMessage>,
) -> ApiResult<(StatusCode, axum::Json<MessageQueued>)> {
    let (message, recipients) = state.events().send_message(user.id, id, req.into()).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(MessageQueued { id: message, recipients })))
}

/// The event's messages, newest first, with how many were sent and failed.
#[utoipa::path(get, path = "/api/v1/events/{id}/messages", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The messages", body = Vec<SentMessage>),
        (status = 403, description = "The caller's role may not write to the event's people", body = Problem),
        (status = 404, description = "No such event of the caller's", body = Problem),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<SentMessage>>> {
    let rows = state.events().messages(user.id, id).await?;
    Ok(axum::Json(rows.into_iter().map(SentMessage::from).collect()))
}
