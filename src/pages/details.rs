//! Names and answers in the pages: the step between "Book" and the booking
//! for a ticket type that asks them, and the buyer changing them on their
//! booking. The form's fields are `name.{ticket}`, `q.{question}.{ticket}`
//! (asked per ticket), `q.{question}` (once per booking), and for a
//! multiple-choice question one box per option (`….o{k}`).

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
use crate::booking::details::{self, DetailsError};
use crate::domain::question::{Answer, AnswerProblem, AnswerValue, AppliesTo, AttendeeNames, Details, QuestionKind};
use crate::http::extract::{Path, Query};
use crate::http::state::AppState;

/// What a booking of some ticket type is asked, as the form macro reads it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DetailsForm {
    pub quantity: u16,
    pub names: AttendeeNames,
    pub ticket_type: String,
    pub per_ticket: Vec<QuestionModel>,
    pub per_booking: Vec<QuestionModel>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QuestionModel {
    pub id: Uuid,
    pub label: String,
    pub kind: QuestionKind,
    pub options: Vec<String>,
    pub required: bool,
}

impl DetailsForm {
    pub fn new(
        questions: &[crate::domain::question::Question],
        ticket_type_id: Uuid,
        ticket_type: &str,
        quantity: u16,
        names: AttendeeNames,
    ) -> Self {
        let asked = questions.iter().filter(|q| q.asks(ticket_type_id));
        let model = |q: &crate::domain::question::Question| QuestionModel {
            id: q.id,
            label: q.label.clone(),
            kind: q.kind,
            options: q.options.clone(),
            required: q.required,
        };
        let (per_ticket, per_booking): (Vec<_>, Vec<_>) = asked.partition(|q| q.applies_to == AppliesTo::Ticket);
        Self {
            // Never more tickets than one order may have (the callers checked).
            quantity: quantity.min(crate::domain::event::MAX_PER_ORDER_MAX as u16),
            names,
            ticket_type: ticket_type.to_owned(),
            per_ticket: per_ticket.into_iter().map(model).collect(),
            per_booking: per_booking.into_iter().map(model).collect(),
        }
    }

    pub fn asks_anything(&self) -> bool {
        self.names != AttendeeNames::Off || !self.per_ticket.is_empty() || !self.per_booking.is_empty()
    }

    fn questions(&self) -> impl Iterator<Item = (&QuestionModel, AppliesTo)> {
        let tickets = self.per_ticket.iter().map(|q| (q, AppliesTo::Ticket));
        tickets.chain(self.per_booking.iter().map(|q| (q, AppliesTo::Booking)))
    }

    /// The names and answers a sent form gives (blank ones too: the rules
    /// decide what a blank means).
    pub fn read(&self, form: &Form) -> (Vec<String>, Vec<Answer>) {
        let names = match self.names {
            AttendeeNames::Off => Vec::new(),
            _ => (0..self.quantity).map(|i| form.get(&format!("name.{i}")).to_owned()).collect(),
        };
        let mut answers = Vec::new();
        for (q, applies_to) in self.questions() {
            let indexes: Vec<Option<u16>> = match applies_to {
                AppliesTo::Ticket => (0..self.quantity).map(Some).collect(),
                AppliesTo::Booking => vec![None],
            };
            for index in indexes {
                let name = field_name(q.id, index);
                let value = match q.kind {
                    QuestionKind::Checkbox => AnswerValue::Ticked(form.get(&name) == "on"),
                    QuestionKind::Multi => AnswerValue::Picked(
                        q.options
                            .iter()
                            .enumerate()
                            .filter(|(k, _)| form.get(&format!("{name}.o{k}")) == "on")
                            .map(|(_, o)| o.clone())
                            .collect(),
                    ),
                    _ => AnswerValue::Text(form.get(&name).to_owned()),
                };
                answers.push(Answer { question_id: q.id, ticket_index: index, value });
            }
        }
        (names, answers)
    }

    /// The form's values showing `names` and `answers` (to edit, or sent back).
    pub fn values(&self, names: &[Option<String>], answers: &[Answer]) -> HashMap<String, String> {
        let mut values = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(name) = name {
                values.insert(format!("name.{i}"), name.clone());
            }
        }
        for answer in answers {
            let name = field_name(answer.question_id, answer.ticket_index);
            match &answer.value {
                AnswerValue::Text(text) => {
                    values.insert(name, text.clone());
                }
                AnswerValue::Ticked(true) => {
                    values.insert(name, "on".into());
                }
                AnswerValue::Ticked(false) => {}
                AnswerValue::Picked(picked) => {
                    let options = self.questions().find(|(q, _)| q.id == answer.question_id).map(|(q, _)| &q.options);
                    for (k, option) in options.into_iter().flatten().enumerate() {
                        if picked.contains(option) {
                            values.insert(format!("{name}.o{k}"), "on".into());
                        }
                    }
                }
            }
        }
        values
    }
}

fn field_name(question: Uuid, index: Option<u16>) -> String {
    match index {
        Some(i) => format!("q.{question}.{i}"),
        None => format!("q.{question}"),
    }
}

/// Each refusal next to its field.
pub fn errors(problems: &[AnswerProblem]) -> HashMap<String, String> {
    let mut errors = HashMap::new();
    for p in problems {
        let field = match (p.question_id, p.ticket_index) {
            (None, Some(i)) => format!("name.{i}"),
            (None, None) => "name.0".into(),
            (Some(q), index) => field_name(q, index),
        };
        let message = super::shop::capitalized(&p.message);
        errors.entry(field).or_insert(message);
    }
    errors
}

#[derive(serde::Deserialize)]
pub struct Chosen {
    ticket_type: Option<String>,
    quantity: Option<String>,
    code: Option<String>,
}

/// "Who is coming?": the names and questions of a booking of the chosen
/// ticket type and quantity, before it is requested.
pub async fn book_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(event_id): Path<Uuid>,
    Query(chosen): Query<Chosen>,
) -> Result<Response, PageError> {
    let back = || see_other(&format!("/events/{event_id}"));
    let (Some(ticket_type_id), Some(quantity)) = (
        chosen.ticket_type.and_then(|t| t.parse::<Uuid>().ok()),
        chosen.quantity.and_then(|q| q.parse::<u16>().ok()).filter(|q| *q >= 1),
    ) else {
        return Ok(back());
    };
    let Some(user) = visitor.user else { return Err(PageError::SignIn(visitor.here.clone())) };
    // A quantity that may be booked (it sizes the page), else back to the event.
    let offer = state.catalog.offer(ticket_type_id).await.map_err(crate::error::ApiError::from)?;
    let code = chosen.code.filter(|c| !c.trim().is_empty() && c.len() <= 60);
    let now = chrono::Utc::now();
    let allowed = match offer {
        Some(offer) => {
            let presale = crate::booking::accept::presale_of(&state.catalog, &offer, code.as_deref(), now).await;
            crate::booking::accept::check_offer(&offer, user.id, i64::from(quantity), now, presale).is_ok()
        }
        None => false,
    };
    if !allowed {
        return Ok(back());
    }
    let step = BookStep { event_id, ticket_type_id, quantity, code };
    step.render(&state, &visitor, HashMap::new(), HashMap::new(), None, StatusCode::OK).await
}

/// One ticket type and quantity on their way to a booking.
pub struct BookStep {
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: u16,
    pub code: Option<String>,
}

impl BookStep {
    /// What is asked of this booking (`None`: no such ticket type in view).
    pub async fn form(&self, state: &AppState, visitor: &Visitor) -> Result<Option<DetailsForm>, PageError> {
        let Some(event) = state.events().visible(visitor.user.map(|u| u.id), self.event_id).await? else {
            return Ok(None);
        };
        let Some(tt) = event.ticket_types.iter().find(|t| t.id == self.ticket_type_id) else { return Ok(None) };
        let rules = state.catalog.rules(self.event_id).await.map_err(crate::error::ApiError::from)?;
        // A hidden type is there only for a code that opens it.
        let typed = self.code.as_deref().and_then(crate::domain::code::normalize);
        let opens = typed.is_some_and(|code| rules.codes.iter().any(|r| r.code == code && r.unlocks(tt.id)));
        if tt.hidden && !opens {
            return Ok(None);
        }
        Ok(Some(DetailsForm::new(&rules.questions, tt.id, &tt.name, self.quantity, tt.attendee_names)))
    }

    /// The page: its fields, with `values` and `errors` when sent back.
    pub async fn render(
        &self,
        state: &AppState,
        visitor: &Visitor,
        values: HashMap<String, String>,
        errors: HashMap<String, String>,
        problem: Option<String>,
        status: StatusCode,
    ) -> Result<Response, PageError> {
        let event = state.events().visible(visitor.user.map(|u| u.id), self.event_id).await?;
        let Some(event) = event else { return Err(PageError::NotFound) };
        let Some(form) = self.form(state, visitor).await? else { return Err(PageError::NotFound) };
        let data = context! {
            event => context! { id => event.details.id, title => event.details.title, timezone => event.details.timezone,
                                starts_at => event.details.starts_at, venue => event.details.venue },
            form,
            ticket_type_id => self.ticket_type_id,
            quantity => self.quantity,
            code => self.code,
            problem,
            values,
            errors,
            key => Uuid::new_v4().to_string(),
        };
        Ok(page_with_status(&state.pages, visitor, status, "book_details.html", data))
    }
}

/// The buyer's form to change their booking's names and answers.
pub async fn edit_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let found = details::of_booking(&state.db, user.id, id).await.map_err(crate::error::ApiError::from)?;
    let form = edit_model(&state, &found).await?;
    let values = form.values(&found.details.attendees, &found.details.answers);
    render_edit(&state, &visitor, &found, form, values, HashMap::new(), StatusCode::OK).await
}

/// Saves the buyer's names and answers, then back to the booking.
pub async fn save(State(state): State<AppState>, Path(id): Path<Uuid>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}/details"))?;
    let (visitor, sent) = acting.into_parts();
    let found = details::of_booking(&state.db, user.id, id).await.map_err(crate::error::ApiError::from)?;
    let form = edit_model(&state, &found).await?;
    let (names, answers) = form.read(&sent);
    match details::edit(&state.db, user.id, id, &names, &answers).await {
        Ok(_) => Ok(see_other(&format!("/bookings/{id}?saved=1"))),
        Err(DetailsError::Answers(problems)) => {
            let values: HashMap<String, String> = sent.0.clone();
            render_edit(&state, &visitor, &found, form, values, errors(&problems), StatusCode::UNPROCESSABLE_ENTITY)
                .await
        }
        Err(err) => Err(crate::error::ApiError::from(err).into()),
    }
}

async fn edit_model(state: &AppState, found: &details::BookingDetails) -> Result<DetailsForm, PageError> {
    let mut conn = state.db.acquire().await.map_err(crate::error::ApiError::from)?;
    let booking = crate::db::bookings::find(&mut conn, found.booking_id)
        .await
        .map_err(crate::error::ApiError::from)?
        .ok_or(PageError::NotFound)?;
    let types = crate::db::events::ticket_types_of(&mut conn, &[booking.event_id])
        .await
        .map_err(crate::error::ApiError::from)?;
    let name = types.iter().find(|t| t.id == booking.ticket_type_id).map_or("", |t| t.name.as_str());
    let quantity = u16::try_from(found.quantity).unwrap_or_default();
    Ok(DetailsForm::new(&found.questions, booking.ticket_type_id, name, quantity, found.attendee_names))
}

async fn render_edit(
    state: &AppState,
    visitor: &Visitor,
    found: &details::BookingDetails,
    form: DetailsForm,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let data = context! {
        booking_id => found.booking_id,
        editable => found.editable,
        editable_until => found.editable_until.to_rfc3339(),
        timezone => found.timezone,
        form,
        values,
        errors,
    };
    Ok(page_with_status(&state.pages, visitor, status, "booking_details.html", data))
}

/// The names and answers of `user`'s booking `id` as its page lists them
/// (`None` when its ticket type asks nothing).
pub async fn of_booking(
    state: &AppState,
    user: crate::http::extract::CurrentUser,
    id: Uuid,
) -> Result<Option<minijinja::Value>, PageError> {
    let found = details::of_booking(&state.db, user.id, id).await.map_err(crate::error::ApiError::from)?;
    let form = edit_model(state, &found).await?;
    if !form.asks_anything() {
        return Ok(None);
    }
    let mut conn = state.db.acquire().await.map_err(crate::error::ApiError::from)?;
    let buyer = crate::db::users::find(&mut conn, user.id).await.map_err(crate::error::ApiError::from)?;
    let buyer = buyer.map(|u| u.name).unwrap_or_default();
    let mut listed = summary(&form, &found.details, &buyer);
    listed = context! { editable => found.editable, incomplete => !found.complete, ..listed };
    Ok(Some(listed))
}

/// Names and answers as a booking's page lists them: per ticket, then the booking's.
fn summary(form: &DetailsForm, details: &Details, buyer: &str) -> minijinja::Value {
    let answer = |q: &QuestionModel, index: Option<u16>| {
        details.answers.iter().find(|a| a.question_id == q.id && a.ticket_index == index).map(|a| a.value.in_words())
    };
    let tickets: Vec<minijinja::Value> = (0..form.quantity)
        .map(|i| {
            let answers: Vec<minijinja::Value> =
                form.per_ticket.iter().map(|q| context! { label => q.label, answer => answer(q, Some(i)) }).collect();
            context! {
                number => i + 1,
                name => details.name_of(usize::from(i)).unwrap_or(buyer),
                answers,
            }
        })
        .collect();
    let booking: Vec<minijinja::Value> =
        form.per_booking.iter().map(|q| context! { label => q.label, answer => answer(q, None) }).collect();
    context! { tickets, booking, asks => form.asks_anything() }
}
