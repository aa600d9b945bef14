//! Writing to an event's people (`/manage/events/{id}/messages`): the text
//! with its fields, previewed for one person with the count, then sent; the
//! messages sent so far with how many went.

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
use crate::domain::message::Audience;
use crate::domain::team::Action;
use crate::event::EventError;
use crate::event::messages::{MessageInput, Preview};
use crate::http::extract::{CurrentUser, Path, Query};
use crate::http::state::AppState;

#[derive(serde::Deserialize)]
pub struct Done {
    sent: Option<i64>,
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let values = HashMap::from([("audience".to_owned(), "all".to_owned())]);
    render(&state, &visitor, user, id, values, HashMap::new(), None, done.sent, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    visitor: &Visitor,
    user: CurrentUser,
    id: Uuid,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    preview: Option<Preview>,
    sent: Option<i64>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let event = super::manage::own_event(state, user, id, Action::Message).await?;
    let messages = state.events().messages(user.id, id).await?;
    let types: Vec<_> =
        event.ticket_types.iter().map(|t| context! { id => t.id.to_string(), name => t.name }).collect();
    let audiences: Vec<_> =
        Audience::ALL.iter().map(|a| context! { value => a.as_str(), label => a.label() }).collect();
    let data = context! {
        event => context! { id => id.to_string(), title => event.details.title },
        types,
        audiences,
        messages => messages.iter().map(|m| context! {
            subject => m.subject, author => m.author_name, recipients => m.recipients, sent => m.sent, failed => m.failed,
            audience => Audience::parse(&m.audience).map_or("", |a| a.label()),
            at => m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }).collect::<Vec<_>>(),
        preview => preview.map(|p| context! { recipients => p.recipients, subject => p.subject, body => p.body }),
        sent,
        values,
        errors,
    };
    Ok(page_with_status(&state.pages, visitor, status, "manage/messages.html", data))
}

fn input(form: &Form) -> MessageInput {
    MessageInput {
        audience: form.get("audience").to_owned(),
        ticket_type_id: form.get("ticket_type_id").parse().ok(),
        subject: form.get("subject").to_owned(),
        body: form.get("body").to_owned(),
    }
}

/// "Preview" shows one person's copy and the count; "Send" queues it.
pub async fn post(State(state): State<AppState>, Path(id): Path<Uuid>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/messages"))?;
    let (visitor, form) = acting.into_parts();
    let values: HashMap<String, String> =
        form.0.iter().filter(|(k, _)| *k != "csrf").map(|(k, v)| (k.clone(), v.clone())).collect();
    let refused = |err: EventError| match err {
        EventError::Invalid(errors) => Ok(errors.into_iter().map(|e| (e.field, e.message)).collect()),
        EventError::NotOrganizer => Err(PageError::NotFound),
        err => Err(PageError::from(err)),
    };
    if form.get("action") == "send" {
        match state.events().send_message(user.id, id, input(&form)).await {
            Ok((_, count)) => Ok(see_other(&format!("/manage/events/{id}/messages?sent={count}"))),
            Err(err) => {
                let errors = refused(err)?;
                render(&state, &visitor, user, id, values, errors, None, None, StatusCode::UNPROCESSABLE_ENTITY).await
            }
        }
    } else {
        match state.events().preview_message(user.id, id, input(&form)).await {
            Ok(preview) => {
                render(&state, &visitor, user, id, values, HashMap::new(), Some(preview), None, StatusCode::OK).await
            }
            Err(err) => {
                let errors = refused(err)?;
                render(&state, &visitor, user, id, values, errors, None, None, StatusCode::UNPROCESSABLE_ENTITY).await
            }
        }
    }
}
