//! The back office: the organizer's events, a new event with its ticket
//! types, an event's live sales, its orders (mark paid, refund), its
//! attendees, and the door (check-in by typed code). Every page of an event
//! the signed-in person does not organize is a 404, like the API.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::event_form::{self, EventForm};
use super::form::FieldErrors;
use super::model::EventModel;
use super::render::see_other;
use super::render::{page, page_with_status};
use super::session::{Acting, Visitor};
use crate::booking::{cancel, pay};
use crate::domain::team::Action;
use crate::error::ApiError;
use crate::event::access::event_for;
use crate::event::{Event, EventError, door, line, orders};
use crate::http::extract::{CurrentUser, Path, Query};
use crate::http::orders::{Order, OrderList, OrderListParams, OrderQuery};
use crate::http::pagination::{FromQuery, Limit};
use crate::http::state::AppState;

/// Ticket type rows a new event's form offers (empty ones are left out).
const TYPE_ROWS: usize = 3;

/// The signed-in organizer, or off to sign in and back here.
pub(super) fn organizer(visitor: &Visitor) -> Result<CurrentUser, PageError> {
    visitor.signed_in()
}

/// The event as the templates read it.
fn model(event: &Event) -> minijinja::Value {
    minijinja::Value::from_serialize(EventModel::whole(event))
}

/// "My events": each with its status and sold / capacity.
pub async fn events(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let mine = crate::event::read::organized_by(&state.db, user.id, 100).await?;
    // Each event's organization and the person's role in it: the link goes
    // where the role may go (the door's to the door page).
    let teams = {
        let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
        crate::db::teams::of_user(&mut conn, user.id).await.map_err(ApiError::from)?
    };
    let events: Vec<_> = mine
        .iter()
        .map(|Event { details: e, ticket_types }| {
            let capacity: i64 = ticket_types.iter().map(|t| i64::from(t.capacity)).sum();
            let left: i64 = ticket_types.iter().map(|t| i64::from(t.remaining)).sum();
            let team = teams.iter().find(|m| m.organization.id == e.organization_id);
            let role = team.map(|m| m.role.0);
            let door_only = !role.is_some_and(|r| r.allows(Action::ViewOrders));
            context! { id => e.id.to_string(), title => e.title, status => e.status, starts_at => e.starts_at.to_rfc3339(),
                       timezone => e.timezone, sold => capacity - left, capacity, door_only,
                       organization => team.filter(|m| m.organization.personal_of != Some(user.id)).map(|m| m.organization.name.clone()),
                       role => role.map(|r| r.label()) }
        })
        .collect();
    // Whose each is, once some are a team's.
    let shared = mine.iter().any(|event| {
        teams
            .iter()
            .any(|m| m.organization.id == event.details.organization_id && m.organization.personal_of != Some(user.id))
    });
    Ok(page(&state.pages, &visitor, "manage/events.html", context! { events, shared }))
}

pub async fn new_event_form(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let organizations = creatable(&state, user).await?;
    let values: HashMap<String, String> = [
        ("timezone", "UTC"),
        ("currency", "EUR"),
        ("prequeue_minutes", "30"),
        ("hold_seconds", "600"),
        ("offline_hold_hours", "24"),
        ("offer_hours", "24"),
        ("ticket_types[0].max_per_order", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let rows = event_form::rows(&[], TYPE_ROWS);
    let data = context! { values, rows, organizations, new => true };
    Ok(page(&state.pages, &visitor, "manage/event_form.html", data))
}

/// The organizations `user` may create events in, their own personal one
/// first (the form's default); `None` when that is the only one (no choice
/// to offer).
async fn creatable(state: &AppState, user: CurrentUser) -> Result<Option<Vec<minijinja::Value>>, PageError> {
    let mine = crate::team::mine(&state.db, user.id).await.map_err(crate::error::ApiError::from)?;
    let mut choices: Vec<_> = mine.into_iter().filter(|m| m.role.0.allows(Action::CreateEvent)).collect();
    choices.sort_by_key(|m| m.organization.personal_of != Some(user.id));
    if choices.len() == 1 && choices[0].organization.personal_of == Some(user.id) {
        return Ok(None);
    }
    Ok(Some(
        choices
            .into_iter()
            .map(|m| {
                let name = match m.organization.personal_of {
                    Some(owner) if owner == user.id => "Yourself".to_owned(),
                    // Another person's own events, where they made this person a member.
                    Some(_) => format!("{} (personal)", m.organization.name),
                    None => m.organization.name,
                };
                context! { id => m.organization.id.to_string(), name }
            })
            .collect(),
    ))
}

/// "Save" (a draft) or "Publish": the API's own validation, its messages next
/// to the fields, the input kept.
pub async fn create_event(State(state): State<AppState>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user("/manage/events/new")?;
    let (visitor, form) = acting.into_parts();
    let mut errors = FieldErrors::new();
    let read = EventForm::read(&form, &[], TYPE_ROWS, None, &mut errors);
    let rows_used = read.as_ref().map(EventForm::rows_used).unwrap_or_default();
    let request = read.and_then(EventForm::create);
    let organizations = creatable(&state, user).await?;
    // Blank (a person in no team sees no choice): their personal one.
    let organization = match form.get("organization_id").trim() {
        "" => None,
        raw => match raw.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => {
                let at = if organizations.is_some() { "organization_id" } else { "form" };
                errors.insert(at.to_owned(), "choose one of your organizations".to_owned());
                None
            }
        },
    };
    let again = |errors: FieldErrors| {
        let values: HashMap<&String, &String> = form.0.iter().filter(|(k, _)| k.as_str() != "csrf").collect();
        let errors = event_form::place_errors(errors, TYPE_ROWS);
        let data = context! { values, errors, organizations, rows => event_form::rows(&[], TYPE_ROWS), new => true };
        page_with_status(&state.pages, &visitor, StatusCode::UNPROCESSABLE_ENTITY, "manage/event_form.html", data)
    };
    let Some(request) = request.filter(|_| errors.is_empty()) else { return Ok(again(errors)) };
    let created = match request.parse(Utc::now()) {
        Ok(new) => state.events().create(user.id, organization, new, Default::default()).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(event) => Ok(see_other(&format!("/manage/events/{}", event.details.id))),
        // Left since the form was shown, or never theirs: said next to the choice.
        Err(err @ (EventError::OrganizationNotFound | EventError::NotOrganizer)) => {
            // Next to the choice when the form offers one, above the form otherwise.
            let at = if organizations.is_some() { "organization_id" } else { "form" };
            let (field, message) = match (err, organization) {
                (EventError::OrganizationNotFound, _) => (at, "choose one of your organizations"),
                (_, Some(_)) => (at, "your role in this organization does not allow new events"),
                // Their own organization, where someone they made owner gave them a lesser role.
                (_, None) => ("form", "your role in your own organization no longer allows new events: ask its owner"),
            };
            Ok(again([(field.to_owned(), message.to_owned())].into()))
        }
        Err(EventError::Invalid(errors)) => Ok(again(event_form::to_form_rows(field_errors(errors), &rows_used))),
        // Two ticket types that PostgreSQL finds to share a name.
        Err(err @ EventError::NameTaken) => Ok(again([("ticket_types".to_owned(), err.to_string())].into())),
        Err(err) => Err(err.into()),
    }
}

/// The field errors of a refusal, by field name.
fn field_errors(errors: Vec<crate::domain::FieldError>) -> FieldErrors {
    errors.into_iter().map(|e| (e.field, e.message)).collect()
}

/// An event of the signed-in person's organization that their role lets
/// them `action` (a 404 page for anyone else: a page reveals the event).
pub(super) async fn own_event(
    state: &AppState,
    user: CurrentUser,
    id: Uuid,
    action: Action,
) -> Result<Event, PageError> {
    match state.events().for_organizer(user.id, id, action).await {
        Err(EventError::NotOrganizer) => Err(PageError::NotFound),
        other => Ok(other?),
    }
}

/// What the person's role lets them do to `event`, so a page offers only
/// that (a link their role may not follow would lead to a 404).
async fn abilities(state: &AppState, user: CurrentUser, event: &Event) -> Result<minijinja::Value, PageError> {
    let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
    let role =
        crate::db::teams::role_of(&mut conn, event.details.organization_id, user.id).await.map_err(ApiError::from)?;
    let may = |action: Action| role.is_some_and(|r| r.allows(action));
    Ok(context! {
        edit => may(Action::EditEvent),
        orders => may(Action::ViewOrders),
        mark_paid => may(Action::MarkPaid),
        refund => may(Action::Refund),
        door => may(Action::CheckIn),
        message => may(Action::Message),
    })
}

/// The live sales of one event: per ticket type and in total, the line, a
/// chart of seats sold per minute.
pub async fn dashboard(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let own = own_event(&state, user, id, Action::ViewOrders).await?;
    let may = abilities(&state, user, &own).await?;
    let event = EventModel::whole(&own);
    let stats = door::sales(&state.db, &state.bookings, user.id, id, Action::ViewOrders).await?;
    let line = line::of_event(&state.db, &state.bookings, Some(user.id), id).await?;
    let mut conn = state.db.acquire().await?;
    let per_minute = crate::db::tickets::sold_per_minute(&mut conn, id).await?;
    let chart = super::chart::sales_svg(&per_minute, stats.totals.capacity, event.zone());
    let sales_upcoming = event.sales_start.is_some_and(|t| t > Utc::now());
    let quotas: Vec<_> = state
        .events()
        .quotas(user.id, id)
        .await?
        .into_iter()
        .map(|q| {
            let types: Vec<&str> = q.ticket_type_ids.iter().filter_map(|t| event.ticket_type_name(*t)).collect();
            context! { name => q.name, capacity => q.capacity, sold => q.capacity - q.remaining, remaining => q.remaining,
                       types => types.join(", ") }
        })
        .collect();
    let data = context! {
        quotas,
        may,
        event => minijinja::Value::from_serialize(&event),
        sales_upcoming,
        stats => minijinja::Value::from_serialize(&stats),
        line => minijinja::Value::from_serialize(&line),
        chart => minijinja::Value::from_safe_string(chart),
    };
    Ok(page(&state.pages, &visitor, "manage/event.html", data))
}

pub async fn publish(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}"))?;
    state.events().publish(user.id, id).await?;
    Ok(see_other(&format!("/manage/events/{id}")))
}

#[derive(serde::Deserialize)]
pub struct OrderFilter {
    status: Option<String>,
    cursor: Option<String>,
    q: Option<String>,
}

/// Orders: every booking with its buyer, amount, payment and refund; by status; a page at a time.
pub async fn orders(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(filter): Query<OrderFilter>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let own = own_event(&state, user, id, Action::ViewOrders).await?;
    let may = abilities(&state, user, &own).await?;
    let event = model(&own);
    let status = filter.status.filter(|s| !s.is_empty());
    let q = filter.q.filter(|q| !q.trim().is_empty());
    // The page's own query (a status chosen, a search, a cursor followed), checked as the API checks it.
    let params = OrderListParams { limit: None, cursor: filter.cursor, status: status.clone(), q: q.clone() };
    let query = OrderQuery { limit: Limit::of(50), ..OrderQuery::check(params).map_err(ApiError::Validation)? };
    let (orders, next) = orders::page(&state.db, user.id, id, &query.filter, query.before, query.limit.get()).await?;
    let list =
        OrderList { items: orders.into_iter().map(Order::from).collect(), next_cursor: next.map(|id| id.to_string()) };
    // The answers' questions by id, to label them.
    let questions: std::collections::HashMap<String, String> = {
        let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
        let asked = crate::db::questions::of_event(&mut conn, id).await.map_err(ApiError::from)?;
        asked.into_iter().map(|q| (q.id.to_string(), q.label)).collect()
    };
    let data = context! {
        event,
        may,
        orders => minijinja::Value::from_serialize(&list),
        questions => super::render::fields(questions),
        status,
        q,
    };
    Ok(page(&state.pages, &visitor, "manage/orders.html", data))
}

pub async fn mark_paid(
    State(state): State<AppState>,
    Path((id, booking)): Path<(Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/orders"))?;
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::MarkPaid).await?;
    let _paid = pay::mark_paid(&state.db, id, booking, user.id).await?;
    Ok(see_other(&format!("/manage/events/{id}/orders")))
}

/// "Mark paid back": the organizer paid an offline refund out by hand.
pub async fn refund_paid_back(
    State(state): State<AppState>,
    Path((id, booking)): Path<(Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/orders"))?;
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::Refund).await?;
    let _row = crate::booking::payback::paid_back(&state.db, id, booking, user.id).await?;
    Ok(see_other(&format!("/manage/events/{id}/orders")))
}

/// "Refund": a page that says what happens, then the cancel with a full refund.
pub async fn refund_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, booking)): Path<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let event = model(&own_event(&state, user, id, Action::Refund).await?);
    Ok(page(&state.pages, &visitor, "manage/refund.html", context! { event, booking => booking.to_string() }))
}

pub async fn refund(
    State(state): State<AppState>,
    Path((id, booking)): Path<(Uuid, Uuid)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/orders"))?;
    event_for(&mut *state.db.acquire().await?, id, user.id, Action::Refund).await?;
    let by = cancel::Canceller::Organizer(id, user.id);
    let _cancelled =
        cancel::cancel_booking(&state.db, &state.bookings, by, booking, state.config.payment_provider()).await?;
    Ok(see_other(&format!("/manage/events/{id}/orders")))
}

#[derive(serde::Deserialize)]
pub struct Search {
    q: Option<String>,
}

/// Attendees, searchable by name, email or ticket code; the CSV for all.
pub async fn attendees(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(search): Query<Search>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let event = model(&own_event(&state, user, id, Action::ViewOrders).await?);
    let q = search.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let rows = crate::db::tickets::attendees_matching(&state.db, id, q.as_deref(), 500).await?;
    // A column per question, each ticket's answer (or its booking's) in it.
    let (questions, mut details) = {
        let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
        let questions = crate::db::questions::of_event(&mut conn, id).await.map_err(ApiError::from)?;
        let bookings: Vec<Uuid> = rows.iter().map(|r| r.booking_id).collect();
        let details = if questions.is_empty() {
            Default::default()
        } else {
            crate::db::questions::details_of(&mut conn, &bookings).await.map_err(ApiError::from)?
        };
        (questions, details)
    };
    let attendees: Vec<_> = rows
        .into_iter()
        .map(|r| {
            let given = details.entry(r.booking_id).or_default();
            let answers: Vec<String> = questions
                .iter()
                .map(|q| given.answer_for_ticket(q.id, r.position).map(|v| v.in_words()).unwrap_or_default())
                .collect();
            context! { code => r.ticket_code, ticket_type => r.ticket_type, name => r.attendee_name, email => r.attendee_email,
                       status => r.status, checked_in_at => r.checked_in_at.map(|t| t.to_rfc3339()), answers }
        })
        .collect();
    let questions: Vec<String> = questions.into_iter().map(|q| q.label).collect();
    Ok(page(&state.pages, &visitor, "manage/attendees.html", context! { event, attendees, questions, q }))
}

pub async fn attendees_csv(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    Ok(crate::http::door::attendees(State(state), user, Path(id)).await?)
}

/// The door, made for a phone: a typed (or scanned) code, the verdict filling the screen.
pub async fn door(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    door_page(&state, &visitor, user, id, None).await
}

async fn door_page(
    state: &AppState,
    visitor: &Visitor,
    user: CurrentUser,
    id: Uuid,
    verdict: Option<minijinja::Value>,
) -> Result<Response, PageError> {
    let own = own_event(state, user, id, Action::CheckIn).await?;
    let may = abilities(state, user, &own).await?;
    let event = model(&own);
    let stats = door::sales(&state.db, &state.bookings, user.id, id, Action::CheckIn).await?;
    let data = context! { event, may, verdict, checked_in => stats.totals.checked_in, sold => stats.totals.sold };
    Ok(page(&state.pages, visitor, "manage/door.html", data))
}

/// "Check in": Admitted (with name and ticket type), Already checked in at hh:mm, or Not valid.
pub async fn check_in(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/door"))?;
    let (visitor, form) = acting.into_parts();
    let code = form.get("code").to_owned();
    let verdict = match door::check_in(&state.db, user.id, id, &code).await {
        Ok(admitted) => {
            let event = EventModel::whole(&own_event(&state, user, id, Action::CheckIn).await?);
            let ticket_type = event.ticket_type_name(admitted.ticket_type_id);
            let answers: Vec<minijinja::Value> = door::answers_of(&state.db, id, &admitted)
                .await?
                .into_iter()
                .map(|(label, answer)| context! { label, answer })
                .collect();
            context! { kind => "admitted", code => admitted.code, name => admitted.attendee_name, ticket_type, answers }
        }
        Err(EventError::AlreadyCheckedIn(at)) => {
            let zone = EventModel::whole(&own_event(&state, user, id, Action::CheckIn).await?).zone();
            context! { kind => "already", code, at => at.with_timezone(&zone).format("%H:%M").to_string() }
        }
        Err(EventError::TicketNotFound | EventError::TicketVoid) => context! { kind => "invalid", code },
        Err(err) => return Err(err.into()),
    };
    door_page(&state, &visitor, user, id, Some(verdict)).await
}

/// "Undo" of a mistaken check-in: the ticket is valid again.
pub async fn undo(State(state): State<AppState>, Path(id): Path<Uuid>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/door"))?;
    let (visitor, form) = acting.into_parts();
    let code = form.get("code").to_owned();
    let verdict = match door::undo_check_in(&state.db, user.id, id, &code).await {
        Ok(()) => context! { kind => "undone", code },
        Err(EventError::NoCheckIn) => context! { kind => "invalid", code },
        Err(err) => return Err(err.into()),
    };
    door_page(&state, &visitor, user, id, Some(verdict)).await
}

/// "Edit": every setting of the event and of its ticket types, and a row to add one.
pub async fn edit_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    edit_page(&state, &visitor, user, id, FieldErrors::new()).await
}

/// The edit page as the event stands, with `errors` (the image's, say) next
/// to their fields: 422 when there are any.
pub(super) async fn edit_page(
    state: &AppState,
    visitor: &Visitor,
    user: CurrentUser,
    id: Uuid,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let event = own_event(state, user, id, Action::EditEvent).await?;
    let types = event_form::existing_types(&event);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let data = context! { values => event_form::values_of(&event, state.stripe.is_some()),
    rows => event_form::rows(&types, types.len() + 1), event => model(&event), new => false, errors,
    card_possible => state.stripe.is_some() };
    Ok(page_with_status(&state.pages, visitor, status, "manage/event_form.html", data))
}

/// "Save": the event's settings, then each ticket type changed or added; a
/// refusal comes back next to its field (what was accepted before it stays).
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/edit"))?;
    let (visitor, form) = acting.into_parts();
    let event = own_event(&state, user, id, Action::EditEvent).await?;
    let types = event_form::existing_types(&event);
    let rows = types.len() + 1;
    let mut errors = FieldErrors::new();
    let read =
        EventForm::read(&form, &types, rows, Some(&event_form::values_of(&event, state.stripe.is_some())), &mut errors);
    let again = |errors: FieldErrors| {
        let errors = event_form::place_errors(errors, rows);
        let values: HashMap<&String, &String> = form.0.iter().filter(|(k, _)| k.as_str() != "csrf").collect();
        let data = context! { values, errors, rows => event_form::rows(&types, rows), event => model(&event),
        new => false, card_possible => state.stripe.is_some() };
        page_with_status(&state.pages, &visitor, StatusCode::UNPROCESSABLE_ENTITY, "manage/event_form.html", data)
    };
    let Some(read) = read.filter(|_| errors.is_empty()) else { return Ok(again(errors)) };
    let (changes, type_changes) = read.update();
    let events = state.events();
    match events.update(user.id, id, changes).await {
        Ok(_) => {}
        Err(EventError::Invalid(errors)) => return Ok(again(field_errors(errors))),
        // Moving the sales start after the draw; or the event was cancelled meanwhile.
        Err(err @ (EventError::DrawMade | EventError::Cancelled)) => {
            return Ok(again([(err.field().unwrap_or("form").to_owned(), err.to_string())].into()));
        }
        Err(err) => return Err(err.into()),
    }
    for change in type_changes {
        let prefix = format!("ticket_types[{}].", change.row);
        let result = match change.apply {
            event_form::TypeChange::Update(tt, changes) => {
                events.update_ticket_type(user.id, id, tt, changes).await.map(|_| ())
            }
            event_form::TypeChange::Add(input) => events.add_ticket_type(user.id, id, &input).await.map(|_| ()),
        };
        match result {
            Ok(()) => {}
            Err(EventError::Invalid(errors)) => {
                let errors = errors.into_iter().map(|e| (format!("{prefix}{}", e.field), e.message)).collect();
                return Ok(again(errors));
            }
            Err(
                err @ (EventError::CapacityBelowSold(_)
                | EventError::PriceLocked(_)
                | EventError::NameTaken
                | EventError::TooManyTicketTypes
                | EventError::Cancelled),
            ) => {
                let field = match err.field() {
                    Some(field @ ("capacity" | "price_cents" | "name")) => format!("{prefix}{field}"),
                    _ => "form".to_owned(),
                };
                return Ok(again([(field, format!("{err}."))].into()));
            }
            Err(err) => return Err(err.into()),
        }
    }
    // How the event is paid for: the boxes ticked, the instructions typed
    // (when the form had them: a form without them changes nothing there).
    if form.get("payment_form").is_empty() {
        return Ok(see_other(&format!("/manage/events/{id}")));
    }
    let mut methods = Vec::new();
    if form.get("pay_card") == "on" {
        methods.push("card".to_owned());
    }
    if form.get("pay_offline") == "on" {
        methods.push("offline".to_owned());
    }
    let payment = crate::event::payment::PaymentChanges {
        methods: Some(Some(methods)),
        instructions: Some(Some(form.get("offline_payment_instructions").to_owned())),
        prices_include_tax: Some(form.get("prices_exclude_tax") != "on"),
        // Only a draft's form has it (a published event's is fixed).
        issue_invoices: (form.get("invoices_field") == "1").then(|| form.get("issue_invoices") == "on"),
    };
    match events.set_payment(user.id, id, payment).await {
        Ok(_) => {}
        Err(EventError::Invalid(errors)) => return Ok(again(field_errors(errors))),
        Err(err) => return Err(err.into()),
    }
    Ok(see_other(&format!("/manage/events/{id}")))
}

/// "Cancel event": a page that says what happens, then the cancel.
pub async fn cancel_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let event = model(&own_event(&state, user, id, Action::EditEvent).await?);
    let stats = door::sales(&state.db, &state.bookings, user.id, id, Action::ViewOrders).await?;
    let data = context! { event, sold => stats.totals.sold, held => stats.totals.held };
    Ok(page(&state.pages, &visitor, "manage/cancel.html", data))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}"))?;
    state.events().cancel(user.id, id).await?;
    Ok(see_other(&format!("/manage/events/{id}")))
}
