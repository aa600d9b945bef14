//! A buyer's booking (the waiting room while in line, the payment while
//! held, the tickets once confirmed), cancelling it, its QR codes, and the
//! buyer's list of bookings and waiting-list entries.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::model::{self, EventModel};
use super::render::page;
use super::render::see_other;
use super::session::{Acting, Visitor};
use crate::booking::{cancel, card, pay, status, waiting};
use crate::domain::booking::BookingStatus;
use crate::domain::calendar;
use crate::error::ApiError;
use crate::http::bookings::Booking;
use crate::http::checkout::PaymentRequest;
use crate::http::extract::{CurrentUser, JsonOrEmpty, Path, Query};
use crate::http::state::AppState;
use crate::http::waiting_list::WaitingEntry;

#[derive(serde::Deserialize)]
pub struct Notice {
    already: Option<String>,
    /// Back from saving names and answers.
    saved: Option<String>,
}

pub async fn page_of(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    booking_page(&state, &visitor, id, notice, None).await
}

/// The billing form as sent, with what is wrong with it.
struct BillingProblems {
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
}

async fn booking_page(
    state: &AppState,
    visitor: &Visitor,
    id: Uuid,
    notice: Notice,
    problems: Option<BillingProblems>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let booking = own_booking(state, user, id).await?;
    let event = state.events().visible(None, booking.event_id).await?.map(|e| EventModel::whole(&e));
    let now = chrono::Utc::now();
    let ticket_type = event.as_ref().and_then(|e| e.ticket_type_name(booking.ticket_type_id)).map(str::to_owned);
    let deadline = event.as_ref().map(|e| e.cancellation_deadline);
    // A ticket used at the door cannot be given back.
    let used = booking.tickets.iter().any(|t| t.status == "checked_in");
    let cancellable = matches!(booking.status, BookingStatus::Held | BookingStatus::Confirmed)
        && deadline.is_some_and(|d| now < d)
        && !used;
    let pay_within = booking.expires_at.map(|at| (at - now).num_seconds().max(0));
    // The draw it waits for: at the sales start, or earlier at its presale's time.
    let sales_start = event.as_ref().and_then(|e| e.sales_start);
    let draw_at = booking.queue.as_ref().and_then(|q| q.draw_at).or(sales_start);
    let presale_at = draw_at.filter(|at| Some(*at) != sales_start);
    let opens_in = draw_at.map(|at| (at - now).num_seconds().max(0));
    let card = state.stripe.is_some()
        && booking.payment.as_ref().is_some_and(|p| p.provider == crate::domain::checkout::Provider::Stripe);
    let stripe = card.then(|| {
        context! {
            key => state.config.stripe_publishable_key.clone(),
            js => minijinja::Value::from_safe_string(state.config.stripe_js_url.clone()),
        }
    });
    // The event's own instructions for paying offline, else the server's.
    let offline_instructions = event
        .as_ref()
        .and_then(|e| e.offline_payment_instructions.clone())
        .unwrap_or_else(|| state.config.offline_payment_instructions.clone());
    // Drawn from the pre-queue: its place, and a link to check the draw.
    let drawn = crate::db::line::place_in_draw(&mut *state.db.acquire().await?, booking.id).await?;
    // Who holds each ticket, and the answers given, once it has seats.
    let details = match booking.status {
        BookingStatus::Held | BookingStatus::Confirmed => Some(super::details::of_booking(state, user, id).await?),
        _ => None,
    };
    // Its invoice and credit notes; while a priced hold waits for payment,
    // the name and address its invoice will carry.
    // (A request still in the queue is not written yet: it has none.)
    let issued = match booking.status {
        BookingStatus::Pending => Vec::new(),
        _ => crate::papers::invoices(&state.db, user.id, id).await.map_err(ApiError::from)?,
    };
    let invoices: Vec<minijinja::Value> = issued
        .into_iter()
        .map(|row| {
            let d = &row.document.0;
            context! {
                number => d.number.clone(),
                credit_note => d.kind == crate::domain::invoice::Kind::CreditNote,
                gross_cents => d.totals.gross_cents,
                currency => d.currency.clone(),
                issued_at => d.issued_at.to_rfc3339(),
                url => format!("/bookings/{id}/invoices/{}.pdf", d.number),
            }
        })
        .collect();
    let billing = if booking.status == BookingStatus::Held && booking.total_cents.unwrap_or(0) > 0 {
        let (name, address) = crate::papers::booking_billing(&state.db, user.id, id).await.map_err(ApiError::from)?;
        Some(match &problems {
            Some(p) => context! {
                name => p.values.get("billing_name").cloned().unwrap_or_default(),
                address => p.values.get("billing_address").cloned().unwrap_or_default(),
            },
            None => context! { name, address },
        })
    } else {
        None
    };
    let data = context! {
        booking => minijinja::Value::from_serialize(&booking),
        invoices,
        billing,
        // The billing form's problems, next to its fields.
        errors => problems.map(|p| p.errors).unwrap_or_default(),
        drawn => drawn.map(|d| context! {
            place => d.place,
            of => d.entries,
            presale_at => d.round.presale_at().map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        }),
        event => shown(event, booking.event_id),
        ticket_type,
        cancellable,
        pay_within,
        opens_in,
        presale_at,
        card,
        stripe,
        offline_instructions,
        wallet => state.wallet.is_some(),
        already_in_line => notice.already.is_some(),
        saved => notice.saved.is_some(),
        details,
        live => matches!(booking.status, BookingStatus::Pending | BookingStatus::Held),
    };
    Ok(page(&state.pages, visitor, "booking.html", data))
}

/// "Add to calendar": the booking's event as an `.ics` (its owner only; once
/// the booking has seats).
pub async fn calendar(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let booking = own_booking(&state, user, id).await?;
    if !matches!(booking.status, BookingStatus::Held | BookingStatus::Confirmed) {
        return Err(PageError::NotFound);
    }
    let event = state.events().visible(None, booking.event_id).await?.ok_or(PageError::NotFound)?;
    let e = &event.details;
    let url = format!("{}/bookings/{id}", state.config.public_url.trim_end_matches('/'));
    let organizer = state.config.mail_from.parse::<lettre::message::Mailbox>().map(|m| m.email.to_string());
    let entry = calendar::Entry {
        uid: calendar::uid(id, &state.config.public_url),
        title: &e.title,
        venue: &e.venue,
        starts_at: e.starts_at,
        ends_at: e.ends_at,
        timezone: &e.timezone,
        url: &url,
        organizer_email: organizer.as_deref().unwrap_or("tickets@localhost"),
        stamp: chrono::Utc::now(),
    };
    let body = calendar::ics(&entry, calendar::Method::Publish);
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/calendar; charset=utf-8; method=PUBLISH".to_owned()),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"event.ics\"".to_owned()),
    ];
    Ok((headers, body).into_response())
}

/// "Download tickets (PDF)": the API's own PDF, for the signed-in buyer.
pub async fn tickets_pdf(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let pdf = crate::papers::tickets_pdf(&state.db, user.id, id).await.map_err(ApiError::from)?;
    Ok(crate::http::bookings::pdf_response(id, pdf))
}

/// "Add to Apple Wallet": the API's own passes, for the signed-in buyer
/// (404 when the server has no pass certificate, as the API).
pub async fn tickets_pkpass(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let signer = state.wallet.clone().ok_or(PageError::NotFound)?;
    let passes = crate::papers::tickets_pkpass(&state.db, signer, user.id, id).await.map_err(ApiError::from)?;
    Ok(crate::http::bookings::pkpass_response(id, passes))
}

/// "Invoice (PDF)": an invoice or credit note of the booking, for its buyer
/// or the event's organizer (from Orders).
pub async fn invoice_pdf(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, file)): Path<(Uuid, String)>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let number = file.strip_suffix(".pdf").ok_or(PageError::NotFound)?;
    let pdf = crate::papers::invoice_pdf(&state.db, user.id, id, number).await.map_err(ApiError::from)?;
    Ok(crate::http::bookings::download("application/pdf", &format!("{number}.pdf"), pdf))
}

/// The buyer's name and address for the booking's invoice (while held).
pub async fn billing(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    let (visitor, form) = acting.into_parts();
    let (name, address) = (form.get("billing_name"), form.get("billing_address"));
    match crate::papers::set_billing(&state.db, user.id, id, name, address).await {
        Ok(()) => Ok(see_other(&format!("/bookings/{id}?saved=1"))),
        Err(crate::papers::PapersError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (format!("billing_{}", e.field), e.message)).collect();
            let problems = BillingProblems { values: form.0.clone(), errors };
            let notice = Notice { already: None, saved: None };
            let mut page = booking_page(&state, &visitor, id, notice, Some(problems)).await?;
            *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(err) => Err(ApiError::from(err).into()),
    }
}

/// The signed-in person's booking as it is now (its place while in line, or
/// stored); not found
/// for anyone else's.
async fn own_booking(state: &AppState, user: CurrentUser, id: Uuid) -> Result<Booking, PageError> {
    let booking = status::of_user_in_line(&state.db, &state.bookings, user.id, id).await?;
    Ok(Booking::in_line(booking.ok_or(PageError::NotFound)?))
}

/// The event as the page shows it; an event gone from view still lets its
/// bookings show.
fn shown(event: Option<EventModel>, id: Uuid) -> minijinja::Value {
    event.map_or_else(|| model::gone(id), minijinja::Value::from_serialize)
}

/// "Cancel booking": a page that says what happens and asks to confirm.
pub async fn cancel_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let booking = own_booking(&state, user, id).await?;
    let event = state.events().visible(None, booking.event_id).await?.map(|e| EventModel::whole(&e));
    let event = shown(event, booking.event_id);
    Ok(page(
        &state.pages,
        &visitor,
        "cancel.html",
        context! { booking => minijinja::Value::from_serialize(&booking), event },
    ))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    let by = cancel::Canceller::Owner(user.id);
    let _cancelled =
        cancel::cancel_booking(&state.db, &state.bookings, by, id, state.config.payment_provider()).await?;
    Ok(see_other(&format!("/bookings/{id}")))
}

/// "Leave the line": the request still pending is given up, before its turn
/// (one press: the page says what it costs). Decided meanwhile, the booking
/// page shows how.
pub async fn leave(State(state): State<AppState>, Path(id): Path<Uuid>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    match cancel::leave_line(&state.db, &state.bookings, user.id, id).await {
        Ok(_) | Err(cancel::CancelError::DecidedMeanwhile | cancel::CancelError::NotCancellable(_)) => {
            Ok(see_other(&format!("/bookings/{id}")))
        }
        Err(err) => Err(crate::error::ApiError::from(err).into()),
    }
}

/// The booking's changes as server-sent events, for the waiting room's script.
pub async fn events(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    Ok(crate::http::booking_events::booking_events(State(state), user, Path(id)).await?.into_response())
}

/// A ticket's QR code (its owner only).
pub async fn qr(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    Ok(crate::http::tickets::ticket_qr(State(state), user, Path(code)).await?.into_response())
}

/// "My tickets": bookings and waiting-list entries, newest first.
pub async fn mine(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(welcome): Query<Welcome>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let (bookings, _) = status::list_of_user(&state.db, &state.bookings, user.id, None, 100).await?;
    let bookings: Vec<Booking> = bookings.into_iter().map(Booking::from).collect();
    let waiting = waiting::of_user(&state.db, user.id).await?;
    let waiting: Vec<WaitingEntry> = waiting.into_iter().map(WaitingEntry::from).collect();
    // Each event once: its title, date in its zone, venue and ticket types.
    let mut events: HashMap<String, Option<EventModel>> = HashMap::new();
    let ids = bookings.iter().map(|b| b.event_id).chain(waiting.iter().map(|w| w.event_id));
    for event_id in ids {
        if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(event_id.to_string()) {
            let event = state.events().visible(None, event_id).await?;
            slot.insert(event.as_ref().map(EventModel::whole));
        }
    }
    let data = context! {
        bookings => minijinja::Value::from_serialize(&bookings),
        waiting => minijinja::Value::from_serialize(&waiting),
        events => minijinja::Value::from_serialize(&events),
        verify_first => welcome.welcome.as_deref() == Some("verify"),
    };
    Ok(page(&state.pages, &visitor, "tickets.html", data))
}

#[derive(serde::Deserialize)]
pub struct Welcome {
    welcome: Option<String>,
}

/// "Leave" a waiting list.
pub async fn leave_waiting_list(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user("/me/tickets")?;
    waiting::leave(&state.db, user.id, id).await?;
    Ok(see_other("/me/tickets"))
}

/// The card form's script sends the card here (a `card_…` id from Stripe.js's
/// `createToken`); the answer, JSON for the script, says whether 3-D Secure
/// must be finished in the browser (`requires_action` with `client_secret`).
pub async fn pay(State(state): State<AppState>, Path(id): Path<Uuid>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    let form = acting.form;
    let request = PaymentRequest { payment_method: Some(form.get("payment_method").to_owned()) };
    match crate::http::checkout::pay(State(state.clone()), user, Path(id), JsonOrEmpty(request)).await {
        Ok(payment) => Ok(payment.into_response()),
        // One sentence: what happened, until when the seats wait, what to do.
        Err(ApiError::PaymentFailed(reason)) => {
            let until = held_until(&state, user, id).await;
            let reason = reason.trim().trim_end_matches('.');
            let message = match until {
                Some(until) => format!("{reason}. Your seats are held until {until} — try another card."),
                None => format!("{reason} — try another card."),
            };
            let body = serde_json::json!({"message": message});
            Ok((axum::http::StatusCode::PAYMENT_REQUIRED, axum::Json(body)).into_response())
        }
        Err(err) if err.status().is_client_error() => {
            let body = serde_json::json!({"message": err.to_string()});
            Ok((err.status(), axum::Json(body)).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// When the hold of `user`'s booking `id` runs out, as a clock time in its
/// event's zone ("18:42").
async fn held_until(state: &AppState, user: CurrentUser, id: Uuid) -> Option<String> {
    let booking = own_booking(state, user, id).await.ok()?;
    let expires_at = booking.expires_at?;
    let event = state.events().visible(None, booking.event_id).await.ok().flatten()?;
    let zone = event.details.timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
    Some(expires_at.with_timezone(&zone).format("%H:%M").to_string())
}

/// After 3-D Secure: ask Stripe how it went, then show the booking.
pub async fn payment_confirm(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    // Still in line: nothing to ask Stripe yet; the booking page shows it.
    if !own_booking(&state, user, id).await?.status.eq(&BookingStatus::Pending) {
        let _row = card::check(&state.db, state.stripe.as_ref(), user.id, id).await?;
    }
    Ok(see_other(&format!("/bookings/{id}")))
}

/// "Confirm" of a free held booking (a waiting-list offer that costs nothing).
pub async fn confirm_free(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/bookings/{id}"))?;
    let _row = pay::confirm_free(&state.db, user.id, id).await?;
    Ok(see_other(&format!("/bookings/{id}")))
}
