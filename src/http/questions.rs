//! An event's questions over HTTP: anyone who can see the event reads them
//! (a client books with their answers); its organizer makes and changes
//! them. The rules are the event room's (`event::questions`) and, for
//! answering, `domain::question`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::nullable;
use super::extract::{CurrentUser, Json, MaybeUser, Path};
use crate::db::questions::QuestionRow;
use crate::domain::question::{AppliesTo, QuestionKind};
use crate::domain::team::Action;
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::questions::QuestionInput;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Question {
    pub id: Uuid,
    pub label: String,
    pub kind: QuestionKind,
    /// What a `choice` or `multi` answer picks from (empty for other kinds).
    pub options: Vec<String>,
    pub required: bool,
    /// The ticket types whose bookings are asked it; null: every type.
    pub ticket_type_ids: Option<Vec<Uuid>>,
    /// `ticket`: answered for each ticket (`ticket_index`); `booking`: once.
    pub applies_to: AppliesTo,
    /// Its place among the event's questions (0 first).
    pub position: i32,
    /// For the organizer: bookings answered it (only `label` and `position`
    /// may change now). Absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<crate::domain::question::Question> for Question {
    fn from(q: crate::domain::question::Question) -> Self {
        Self {
            id: q.id,
            label: q.label,
            kind: q.kind,
            options: q.options,
            required: q.required,
            ticket_type_ids: q.ticket_type_ids,
            applies_to: q.applies_to,
            position: q.position,
            answered: None,
            created_at: None,
            updated_at: None,
        }
    }
}

impl From<QuestionRow> for Question {
    fn from(row: QuestionRow) -> Self {
        Self {
            answered: Some(row.answered),
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
            ..row.question.into()
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionList {
    pub items: Vec<Question>,
}

/// A question to ask; on `PATCH`, absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionRequest {
    /// What the buyer reads (1–200 characters). Required to create.
    pub label: Option<String>,
    /// `text`, `long_text`, `choice`, `multi`, `checkbox`, `email`, `phone`
    /// or `date`. Required to create.
    pub kind: Option<String>,
    /// For `choice` and `multi`: 1–50 options, each 1–100 characters.
    pub options: Option<Vec<String>>,
    /// A required `checkbox` must be ticked ("I accept the terms").
    pub required: Option<bool>,
    /// Only bookings of these ticket types are asked; null or absent: every type.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub ticket_type_ids: Option<Option<Vec<Uuid>>>,
    /// `ticket` (default: once per ticket) or `booking` (once).
    pub applies_to: Option<String>,
    /// Its place (0 first); absent: last (or where it is).
    pub position: Option<i64>,
}

impl From<QuestionRequest> for QuestionInput {
    fn from(req: QuestionRequest) -> Self {
        Self {
            label: req.label,
            kind: req.kind,
            options: req.options,
            required: req.required,
            ticket_type_ids: req.ticket_type_ids,
            applies_to: req.applies_to,
            position: req.position,
        }
    }
}

/// Ask the event's buyers a question (organizer).
#[utoipa::path(post, path = "/api/v1/events/{id}/questions", tag = "questions", params(("id" = Uuid, Path)),
    request_body = QuestionRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The question", body = Question),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event is cancelled, or asks 50 questions already", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn create_question(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<QuestionRequest>,
) -> ApiResult<impl IntoResponse> {
    let row = state.events().create_question(user.id, id, req.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(Question::from(row))))
}

/// The event's questions, in their order: what a booking request answers.
/// Anyone who can see the event may read them; its organizer also learns
/// which were answered.
#[utoipa::path(get, path = "/api/v1/events/{id}/questions", tag = "questions", params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The questions", body = QuestionList),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn list_questions(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<QuestionList>> {
    let viewer = viewer.map(|u| u.id);
    let event = state.events().visible(viewer, id).await?.ok_or(ApiError::NotFound("event"))?;
    let editor = match viewer {
        Some(viewer) => {
            let mut conn = state.db.acquire().await?;
            crate::event::access::may(&mut conn, viewer, event.details.organization_id, Action::EditEvent)
                .await?
                .then_some(viewer)
        }
        None => None,
    };
    let items: Vec<Question> = if let Some(editor) = editor {
        let rows = state.events().questions(editor, id).await?;
        rows.into_iter().map(Question::from).collect()
    } else {
        // A hidden ticket type is not named to those who cannot see it, nor
        // are the questions only its buyers are asked.
        let hidden: Vec<Uuid> = event.ticket_types.iter().filter(|t| t.hidden).map(|t| t.id).collect();
        let rules = state.catalog.rules(id).await?;
        rules
            .questions
            .iter()
            .filter_map(|q| {
                let mut q = q.clone();
                if let Some(ids) = &mut q.ticket_type_ids {
                    ids.retain(|t| !hidden.contains(t));
                    if ids.is_empty() {
                        return None;
                    }
                }
                Some(Question::from(q))
            })
            .collect()
    };
    Ok(axum::Json(QuestionList { items }))
}

/// Change a question (organizer). Once answered, only `label` and
/// `position` (409 `question_answered`).
#[utoipa::path(patch, path = "/api/v1/events/{id}/questions/{question_id}", tag = "questions",
    params(("id" = Uuid, Path), ("question_id" = Uuid, Path)), request_body = QuestionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed question", body = Question),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or question", body = Problem),
        (status = 409, description = "`question_answered`: only its label and position may change", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn update_question(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, question_id)): Path<(Uuid, Uuid)>,
    Json(req): Json<QuestionRequest>,
) -> ApiResult<axum::Json<Question>> {
    Ok(axum::Json(state.events().update_question(user.id, id, question_id, req.into()).await?.into()))
}

/// Delete a question nobody answered (organizer; 409 `question_answered`).
#[utoipa::path(delete, path = "/api/v1/events/{id}/questions/{question_id}", tag = "questions",
    params(("id" = Uuid, Path), ("question_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or question", body = Problem),
        (status = 409, description = "`question_answered`", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn delete_question(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, question_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state.events().delete_question(user.id, id, question_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
