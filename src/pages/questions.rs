//! The back office's questions of an event: the list in its order, a form
//! for a new one, and "Delete" for one nobody answered yet.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::form::{FieldErrors, Form};
use super::model::EventModel;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::event::EventError;
use crate::event::questions::QuestionInput;
use crate::http::extract::Path;
use crate::http::state::AppState;

async fn questions_page(
    state: &AppState,
    visitor: &Visitor,
    user: crate::http::extract::CurrentUser,
    id: Uuid,
    values: Option<&Form>,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let event = state.events().for_organizer(user.id, id, crate::domain::team::Action::EditEvent).await?;
    let rows = state.events().questions(user.id, id).await?;
    let model = EventModel::whole(&event);
    let name_of = |id: &Uuid| model.ticket_type_name(*id).unwrap_or("a removed type").to_owned();
    let questions: Vec<_> = rows
        .iter()
        .map(|r| {
            let q = &r.question;
            let types = q.ticket_type_ids.as_ref().map(|ids| ids.iter().map(name_of).collect::<Vec<_>>().join(", "));
            context! {
                id => q.id, label => q.label, kind => q.kind.as_str(), options => q.options, required => q.required,
                per_ticket => q.applies_to == crate::domain::question::AppliesTo::Ticket, types, answered => r.answered,
            }
        })
        .collect();
    let values = values.map(|form| form.0.clone()).unwrap_or_default();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let data = context! { event => model, questions, values, errors };
    Ok(page_with_status(&state.pages, visitor, status, "manage/questions.html", data))
}

pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    questions_page(&state, &visitor, user, id, None, FieldErrors::new()).await
}

/// "Add question".
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/questions"))?;
    let (visitor, form) = acting.into_parts();
    let event = state.events().for_organizer(user.id, id, crate::domain::team::Action::EditEvent).await?;
    let chosen: Vec<Uuid> =
        event.ticket_types.iter().filter(|t| form.get(&format!("tt-{}", t.id)) == "on").map(|t| t.id).collect();
    // One option per line.
    let options: Vec<String> =
        form.get("options").lines().map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
    let input = QuestionInput {
        label: Some(form.get("label").to_owned()),
        kind: Some(form.get("kind").to_owned()),
        options: Some(options).filter(|o| !o.is_empty()),
        required: Some(form.get("required") == "on"),
        ticket_type_ids: Some(Some(chosen).filter(|ids| !ids.is_empty())),
        applies_to: Some(form.get("applies_to").to_owned()).filter(|a| !a.is_empty()),
        position: None,
    };
    match state.events().create_question(user.id, id, input).await {
        Ok(_) => Ok(see_other(&format!("/manage/events/{id}/questions"))),
        Err(EventError::Invalid(invalid)) => {
            let errors = invalid
                .into_iter()
                .map(|e| (e.field.split('[').next().unwrap_or_default().to_owned(), e.message))
                .collect();
            questions_page(&state, &visitor, user, id, Some(&form), errors).await
        }
        Err(err @ EventError::TooManyQuestions) => {
            let errors = [("label".to_owned(), err.to_string())].into();
            questions_page(&state, &visitor, user, id, Some(&form), errors).await
        }
        Err(err) => Err(err.into()),
    }
}

/// "Delete": a question nobody answered.
pub async fn delete(
    State(state): State<AppState>,
    Path((id, question)): Path<(Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/questions"))?;
    state.events().delete_question(user.id, id, question).await?;
    Ok(see_other(&format!("/manage/events/{id}/questions")))
}
