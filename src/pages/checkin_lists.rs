//! An event's check-in lists (`/manage/events/{id}/door/lists`): an entrance
//! that admits some ticket types only ("VIP entrance"). Managers and owners
//! make them; a door device chooses one on the offline door page.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::domain::team::Action;
use crate::event::EventError;
use crate::http::extract::{CurrentUser, Path};
use crate::http::state::AppState;

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    render(&state, &visitor, user, id, HashMap::new(), HashMap::new(), StatusCode::OK).await
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    user: CurrentUser,
    id: Uuid,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    // Making lists changes the event: its managers' page.
    let event = super::manage::own_event(state, user, id, Action::EditEvent).await?;
    let lists = state.events().checkin_lists(user.id, id).await?;
    let name_of = |t: &Uuid| event.ticket_types.iter().find(|x| x.id == *t).map_or("", |x| x.name.as_str());
    let data = context! {
        event => context! { id => id.to_string(), title => event.details.title.clone() },
        lists => lists.iter().map(|l| context! {
            name => l.name, types => l.ticket_type_ids.iter().map(name_of).collect::<Vec<_>>().join(", "),
        }).collect::<Vec<_>>(),
        types => event.ticket_types.iter().map(|t| context! {
            id => t.id.to_string(), name => t.name, checked => values.contains_key(&format!("type:{}", t.id)),
        }).collect::<Vec<_>>(),
        values,
        errors,
    };
    Ok(page_with_status(&state.pages, visitor, status, "manage/checkin_lists.html", data))
}

pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/door/lists"))?;
    let (visitor, form) = acting.into_parts();
    let chosen: Vec<Uuid> =
        form.0.keys().filter_map(|k| k.strip_prefix("type:")).filter_map(|t| t.parse().ok()).collect();
    match state.events().create_checkin_list(user.id, id, form.get("name"), &chosen).await {
        Ok(_) => Ok(see_other(&format!("/manage/events/{id}/door/lists"))),
        Err(EventError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (e.field, e.message)).collect();
            let values = form.0.into_iter().filter(|(k, _)| k != "csrf").collect();
            render(&state, &visitor, user, id, values, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(EventError::NotOrganizer) => Err(PageError::NotFound),
        Err(err) => Err(err.into()),
    }
}
