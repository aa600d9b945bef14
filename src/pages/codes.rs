//! The back office's codes of an event: the list with uses, a form for one
//! code and one for many, the CSV to hand them out, and "Disable".

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::event_form::{local_time, whole};
use super::form::{FieldErrors, Form};
use super::model::EventModel;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::event::EventError;
use crate::event::codes::CodeInput;
use crate::http::extract::Path;
use crate::http::state::AppState;

/// The codes page, with `errors` and the `values` typed (after a refusal).
async fn codes_page(
    state: &AppState,
    visitor: &Visitor,
    user: crate::http::extract::CurrentUser,
    id: Uuid,
    values: Option<&Form>,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let event = state.events().for_organizer(user.id, id, crate::domain::team::Action::EditEvent).await?;
    let rows = state.events().codes(user.id, id).await?;
    let model = EventModel::whole(&event);
    let currency = model.ticket_types.first().map_or_else(|| "EUR".to_owned(), |t| t.currency.clone());
    let name_of = |id: &Uuid| model.ticket_type_name(*id).unwrap_or("a removed type").to_owned();
    let codes: Vec<_> = rows
        .iter()
        .map(|c| {
            let types = c.ticket_type_ids.as_ref().map(|ids| ids.iter().map(name_of).collect::<Vec<_>>().join(", "));
            context! {
                id => c.id, code => crate::domain::code::display(&c.code), kind => c.kind, value => c.value,
                types, max_uses => c.max_uses, uses => c.uses, note => c.note.clone(),
                valid_until => c.valid_until.map(|t| t.to_rfc3339()), disabled => c.disabled_at.is_some(),
                presale_from => c.presale_from.map(|t| t.to_rfc3339()),
            }
        })
        .collect();
    let values = values.map(|form| form.0.clone()).unwrap_or_default();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let data = context! { event => model, codes, currency, values, errors };
    Ok(page_with_status(&state.pages, visitor, status, "manage/codes.html", data))
}

pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    codes_page(&state, &visitor, user, id, None, FieldErrors::new()).await
}

/// "Create code" and "Create codes" (the form's `bulk` says which).
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/codes"))?;
    let (visitor, form) = acting.into_parts();
    let event = state.events().for_organizer(user.id, id, crate::domain::team::Action::EditEvent).await?;
    let tz: chrono_tz::Tz = event.details.timezone.parse().unwrap_or(chrono_tz::UTC);
    let currency = event.ticket_types.first().map_or_else(|| "EUR".to_owned(), |t| t.currency.clone());
    let mut errors = FieldErrors::new();
    let kind = form.get("kind").to_owned();
    let typed_value = form.get("value");
    // A percentage is a whole number; money is typed as on the price fields.
    let value = match (kind.as_str(), typed_value) {
        (_, "") | ("unlock", _) => None,
        ("percent", raw) => whole(&form, "value", &mut errors).or_else(|| {
            errors.entry("value".into()).or_insert(format!("Enter a whole percentage, not {raw:?}."));
            None
        }),
        (_, raw) => match crate::domain::money::parse(raw, &currency) {
            Some(cents) => Some(cents),
            None => {
                let example = crate::domain::money::example(&currency);
                errors.insert("value".into(), format!("Enter an amount like {example}."));
                None
            }
        },
    };
    let chosen: Vec<Uuid> =
        event.ticket_types.iter().filter(|t| form.get(&format!("tt-{}", t.id)) == "on").map(|t| t.id).collect();
    let bulk = form.get("bulk") == "on";
    let input = CodeInput {
        code: Some(form.get("code").to_owned()).filter(|c| !c.is_empty() && !bulk),
        kind: Some(kind),
        value,
        ticket_type_ids: Some(chosen).filter(|ids| !ids.is_empty()),
        max_uses: whole(&form, "max_uses", &mut errors),
        max_per_buyer: whole(&form, "max_per_buyer", &mut errors),
        valid_from: None,
        valid_until: local_time(&form, "valid_until", tz, &mut errors),
        presale_from: local_time(&form, "presale_from", tz, &mut errors),
        note: Some(form.get("note").to_owned()),
        count: if bulk { Some(whole(&form, "count", &mut errors).unwrap_or(0)) } else { None },
        prefix: Some(form.get("prefix").to_owned()).filter(|p| bulk && !p.is_empty()),
    };
    if !errors.is_empty() {
        return codes_page(&state, &visitor, user, id, Some(&form), errors).await;
    }
    match state.events().create_codes(user.id, id, input).await {
        Ok(_) => Ok(see_other(&format!("/manage/events/{id}/codes"))),
        Err(EventError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (e.field, e.message)).collect();
            codes_page(&state, &visitor, user, id, Some(&form), errors).await
        }
        Err(err @ EventError::CodeTaken) => {
            let errors = [("code".to_owned(), format!("{err}: choose another."))].into();
            codes_page(&state, &visitor, user, id, Some(&form), errors).await
        }
        Err(err) => Err(err.into()),
    }
}

/// "Disable": no new booking uses the code.
pub async fn disable(
    State(state): State<AppState>,
    Path((id, code_id)): Path<(Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/codes"))?;
    state.events().disable_code(user.id, id, code_id).await?;
    Ok(see_other(&format!("/manage/events/{id}/codes")))
}

/// The codes as CSV (the API's own).
pub async fn csv(State(state): State<AppState>, visitor: Visitor, Path(id): Path<Uuid>) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let rows = state.events().codes(user.id, id).await?;
    Ok(crate::http::codes::csv_response(id, &rows))
}
