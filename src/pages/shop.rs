//! The shop: upcoming events, an event with its ticket types, booking, and
//! joining the waiting list of a sold-out type.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use uuid::Uuid;

use super::details::BookStep;
use super::error::PageError;
use super::model::EventModel;
use super::render::{fields, page, page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::booking::accept::{Accepted, BookingRequest, accept};
use crate::booking::waiting;
use crate::error::ApiError;
use crate::http::bookings::idempotency_key;
use crate::http::extract::{Path, Query};
use crate::http::state::AppState;

#[derive(serde::Deserialize)]
pub struct Search {
    q: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(search): Query<Search>,
) -> Result<Response, PageError> {
    let q = search.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let events: Vec<EventModel> = state.events().listed(q.as_deref()).await?.iter().map(EventModel::from).collect();
    Ok(page(&state.pages, &visitor, "index.html", context! { events, q }))
}

pub async fn event(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(kept): Query<Kept>,
) -> Result<Response, PageError> {
    // Back from signing in (or up): the quantity chosen before is there again.
    let ticket_type = kept.ticket_type.and_then(|tt| tt.parse::<Uuid>().ok());
    let quantity = kept.quantity.filter(|q| !q.is_empty() && q.len() <= 4 && q.chars().all(|c| c.is_ascii_digit()));
    let quantities = match (ticket_type, quantity) {
        (Some(tt), Some(quantity)) => [(tt.to_string(), quantity)].into(),
        _ => Default::default(),
    };
    let code = kept.code.filter(|c| !c.trim().is_empty() && c.len() <= 60);
    event_page(&state, &visitor, id, Problems { quantities, code, ..Problems::default() }).await
}

/// What a signed-out "Book" keeps for the way back: the ticket type and the
/// quantity chosen.
#[derive(serde::Deserialize)]
pub struct Kept {
    /// Taken as text: a mangled link shows the page, not an error.
    ticket_type: Option<String>,
    quantity: Option<String>,
    /// "Have a code?": shows what it unlocks and its prices.
    code: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct DrawQuery {
    /// The visitor's own booking, to find in the order (from its page's link).
    booking: Option<String>,
    /// A presale's draw: its time (RFC 3339).
    presale_at: Option<String>,
}

/// The draw of an event's pre-queue: what was committed and drawn, and the
/// check itself, made in the browser (`static/draw.js`) from the published
/// draw alone: the seed against its commitment, the order recomputed.
pub async fn draw(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(query): Query<DrawQuery>,
) -> Result<Response, PageError> {
    let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
    let event = crate::event::access::find_visible(&mut conn, id, visitor.user.map(|u| u.id))
        .await
        .map_err(ApiError::from)?
        .ok_or(PageError::NotFound)?;
    let round = match query.presale_at.as_deref() {
        None | Some("") => crate::domain::draw::Round::Main,
        Some(raw) => crate::domain::draw::Round::Presale(
            chrono::DateTime::parse_from_rfc3339(raw.trim())
                .map_err(|_| PageError::NotFound)?
                .with_timezone(&chrono::Utc),
        ),
    };
    let summary = crate::booking::draw::page(&mut conn, id, round, None, 1)
        .await
        .map_err(ApiError::from)?
        .ok_or(PageError::NotFound)?;
    drop(conn);
    let mine = query.booking.as_deref().and_then(|b| Uuid::try_parse(b).ok());
    let data = context! {
        event => context! { id => event.id, title => event.title, timezone => event.timezone },
        committed_at => summary.committed_at.map(|t| t.to_rfc3339()),
        commitment => summary.commitment,
        drawn_at => summary.drawn_at.map(|t| t.to_rfc3339()),
        seed => summary.seed,
        total => summary.total,
        note => summary.note,
        mine => mine.map(|m| m.to_string()),
        presale_at => round.presale_at().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    };
    Ok(page(&state.pages, &visitor, "draw.html", data))
}

/// What went wrong with one ticket type's form, to show next to it.
#[derive(Default, serde::Serialize)]
struct Problems {
    status: Option<u16>,
    /// Messages by ticket type id.
    errors: HashMap<String, String>,
    /// Quantities as typed, by ticket type id.
    quantities: HashMap<String, String>,
    /// The ticket type whose Book met an unverified address: "Resend the link" there.
    resend_for: Option<String>,
    /// A code as the buyer typed it.
    code: Option<String>,
}

async fn event_page(state: &AppState, visitor: &Visitor, id: Uuid, problems: Problems) -> Result<Response, PageError> {
    let event = state.events().visible(visitor.user.map(|u| u.id), id).await?.ok_or(PageError::NotFound)?;
    let now = chrono::Utc::now();
    // A code shows what it unlocks and its prices; one that cannot be used
    // says why next to its field.
    let (rule, code_error) = match problems.code.as_deref() {
        Some(typed) => match code_of_event(state, id, typed, now).await? {
            Ok(rule) => (Some(rule), None),
            Err(refusal) => (None, Some(refusal_in_words(refusal))),
        },
        None => (None, None),
    };
    let code = rule.as_ref().map(|r| crate::domain::code::display(&r.code)).or(problems.code.clone());
    let applied = rule.as_ref().map(|r| context! { kind => r.kind, value => r.value });
    let event = EventModel::with_code(&event, rule.as_ref());
    let data = context! {
        code,
        code_error,
        applied,
        opens_in => event.requests_open_at.filter(|t| *t > now).map(|t| (t - now).num_seconds()),
        sales_in => event.sales_start.filter(|t| *t > now).map(|t| (t - now).num_seconds()),
        presale_in => event.presale_at.filter(|t| *t > now).map(|t| (t - now).num_seconds()),
        event,
        errors => problems.errors,
        quantities => fields(problems.quantities),
        resend_for => problems.resend_for,
        // A fresh key per page view: the same form sent twice is one booking.
        key => Uuid::new_v4().to_string(),
    };
    let status = problems.status.and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    Ok(page_with_status(&state.pages, visitor, status, "event.html", data))
}

/// The code `typed` of event `id`, if it may be used now (for some type).
async fn code_of_event(
    state: &AppState,
    id: Uuid,
    typed: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<crate::domain::code::CodeRule, crate::domain::code::CodeRefusal>, ApiError> {
    use crate::domain::code::{CodeRefusal, normalize};
    let Some(code) = normalize(typed) else { return Ok(Err(CodeRefusal::Invalid)) };
    let Some(rule) = state.catalog.code(id, &code).await? else { return Ok(Err(CodeRefusal::Invalid)) };
    if rule.disabled {
        return Ok(Err(CodeRefusal::Invalid));
    }
    if rule.valid_from.is_some_and(|from| now < from) || rule.valid_until.is_some_and(|until| now >= until) {
        return Ok(Err(CodeRefusal::Expired));
    }
    Ok(Ok(rule))
}

fn refusal_in_words(refusal: crate::domain::code::CodeRefusal) -> String {
    use crate::domain::code::CodeRefusal;
    match refusal {
        CodeRefusal::Invalid => "We do not know this code for this event: check how it is spelled.",
        CodeRefusal::Expired => "This code is not valid now.",
        CodeRefusal::NotForType => "This code is not for this ticket type.",
    }
    .to_owned()
}

/// "Book": accepted into the line, then the booking's page (the waiting room).
pub async fn book(
    State(state): State<AppState>,
    Path(event_id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let (user, ticket_type_id, typed) = ticket_type_form(&acting, event_id)?;
    let (visitor, form) = acting.into_parts();
    let code = Some(form.get("code").to_owned()).filter(|c| !c.trim().is_empty());
    let problem = |message: String, status: StatusCode| Problems {
        status: Some(status.as_u16()),
        errors: [(ticket_type_id.to_string(), message)].into(),
        quantities: [(ticket_type_id.to_string(), typed.clone())].into(),
        resend_for: None,
        code: code.clone(),
    };
    let Ok(quantity) = typed.parse::<i64>() else {
        let problems = problem("Enter a whole number of seats.".into(), StatusCode::UNPROCESSABLE_ENTITY);
        return event_page(&state, &visitor, event_id, problems).await;
    };
    // A type that asks names or questions: they are asked first, on a page
    // of their own ("Who is coming?"), once the quantity is one that may be booked.
    let step =
        BookStep { event_id, ticket_type_id, quantity: u16::try_from(quantity).unwrap_or(0), code: code.clone() };
    let asked = match step.form(&state, &visitor).await? {
        Some(asked) if asked.asks_anything() => Some(asked),
        _ => None,
    };
    let (attendees, answers) = match &asked {
        Some(asked) => {
            // The quantity first: it sizes the form (a typed 60,000 must not
            // become a page of 60,000 tickets).
            let checked = async {
                let offer = state.catalog.offer(ticket_type_id).await?.ok_or(ApiError::NotFound("ticket type"))?;
                let now = chrono::Utc::now();
                let presale = crate::booking::accept::presale_of(&state.catalog, &offer, code.as_deref(), now).await;
                crate::booking::accept::check_offer(&offer, user.id, quantity, now, presale)?;
                Ok::<_, ApiError>(())
            };
            match checked.await {
                Ok(()) if form.get("details") == "1" => asked.read(&form),
                Ok(()) => {
                    let code = code
                        .map(|c| {
                            format!("&code={}", url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>())
                        })
                        .unwrap_or_default();
                    return Ok(see_other(&format!(
                        "/events/{event_id}/details?ticket_type={ticket_type_id}&quantity={quantity}{code}"
                    )));
                }
                Err(err) if shown_on_the_form(&err) => {
                    return event_page(&state, &visitor, event_id, problem(in_words(&err), err.status())).await;
                }
                Err(err) => return Err(err.into()),
            }
        }
        None => (Vec::new(), Vec::new()),
    };
    let request = BookingRequest {
        user_id: user.id,
        ticket_type_id,
        quantity,
        idempotency_key: None,
        code: code.clone(),
        attendees,
        answers,
    };
    match request_booking(&state, request, form.get("key")).await {
        Ok(id) => Ok(see_other(&format!("/bookings/{id}"))),
        Err(ApiError::AlreadyInLine(booking)) => Ok(see_other(&format!("/bookings/{booking}?already=1"))),
        // Sent back with each refusal next to its field.
        Err(ApiError::Answers(problems)) => {
            let values = form.0.clone();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            step.render(&state, &visitor, values, super::details::errors(&problems), None, status).await
        }
        Err(err) if asked.is_some() && shown_on_the_form(&err) => {
            let values = form.0.clone();
            step.render(&state, &visitor, values, Default::default(), Some(in_words(&err)), err.status()).await
        }
        Err(err) if shown_on_the_form(&err) => {
            let unverified = matches!(err, ApiError::EmailUnverified);
            let mut problems = problem(in_words(&err), err.status());
            problems.resend_for = unverified.then(|| ticket_type_id.to_string());
            event_page(&state, &visitor, event_id, problems).await
        }
        Err(err) => Err(err.into()),
    }
}

/// A booking request from the Book form, with the form's own key (a fresh
/// one per page view: sent twice, one booking), as the API takes one: the
/// key checked, the buyer verified, then accepted. The booking to show.
#[tracing::instrument(skip_all, fields(user.id = %request.user_id))]
async fn request_booking(state: &AppState, mut request: BookingRequest, key: &str) -> Result<Uuid, ApiError> {
    request.idempotency_key = Some(key).filter(|k| !k.is_empty()).map(idempotency_key).transpose()?;
    state.verified.require(request.user_id).await?;
    let user_id = request.user_id;
    match accept(&state.acceptor(), request).await? {
        Accepted::New(pending) => Ok(pending.id),
        // The key's booking, once it is there to show.
        Accepted::Replayed(id) => match crate::booking::status::of_user(&state.db, &state.bookings, user_id, id).await?
        {
            Some(_) => Ok(id),
            None => Err(ApiError::conflict("the booking of this Idempotency-Key is still being processed")),
        },
    }
}

/// "Join the waiting list" of a sold-out ticket type.
pub async fn join_waiting_list(
    State(state): State<AppState>,
    Path(event_id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let (user, ticket_type_id, typed) = ticket_type_form(&acting, event_id)?;
    let visitor = acting.visitor;
    let quantity = typed.parse::<i64>().unwrap_or(0);
    let joined = async {
        state.verified.require(user.id).await?;
        Ok::<_, ApiError>(waiting::join(&state.db, user.id, ticket_type_id, quantity).await?)
    };
    match joined.await {
        Ok(_) => Ok(see_other("/me/tickets")),
        Err(err) if shown_on_the_form(&err) => {
            let problems = Problems {
                status: Some(err.status().as_u16()),
                errors: [(ticket_type_id.to_string(), in_words(&err))].into(),
                quantities: [(ticket_type_id.to_string(), typed)].into(),
                resend_for: None,
                code: None,
            };
            event_page(&state, &visitor, event_id, problems).await
        }
        Err(err) => Err(err.into()),
    }
}

/// What both forms of a ticket type send: who (signed in, or off to sign in
/// and back to the event), the ticket type, and the quantity as typed.
fn ticket_type_form(
    acting: &Acting,
    event_id: Uuid,
) -> Result<(crate::http::extract::CurrentUser, Uuid, String), PageError> {
    let form = &acting.form;
    let ticket_type_id: Uuid =
        form.get("ticket_type_id").parse().map_err(|_| PageError::BadForm("no ticket type chosen".into()))?;
    // Signed out: to sign in (or up) and back to this form, the choice kept.
    let quantity: String = form.get("quantity").chars().filter(char::is_ascii_digit).take(4).collect();
    // A code given on the way is kept too (letters and digits only).
    let code: String = form.get("code").chars().filter(char::is_ascii_alphanumeric).take(40).collect();
    let code = if code.is_empty() { String::new() } else { format!("&code={code}") };
    let user = acting.user(format!("/events/{event_id}?ticket_type={ticket_type_id}&quantity={quantity}{code}"))?;
    Ok((user, ticket_type_id, form.get("quantity").to_owned()))
}

/// A refusal the person can act on: said next to the form, not as an error page.
fn shown_on_the_form(err: &ApiError) -> bool {
    err.status().is_client_error() && err.status() != StatusCode::UNAUTHORIZED
}

/// The API's refusal as a sentence for the person at the form.
fn in_words(err: &ApiError) -> String {
    let message = match err {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field.replace('_', " "), e.message))
            .collect::<Vec<_>>()
            .join("; "),
        ApiError::EmailUnverified => {
            "Confirm your email address first: follow the link in the email we sent you.".into()
        }
        ApiError::Code(refusal) => refusal_in_words(*refusal),
        other => other.to_string(),
    };
    capitalized(&message)
}

pub(super) fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            first.to_uppercase().chain(chars).collect::<String>() + if message.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}
