//! Accepting a booking request (the API side of the booking protocol):
//! validate against the cached offer, check the Idempotency-Key and the
//! sold-out flag, record the booking as pending, publish it with a publisher
//! confirm. Only a confirmed publish is an accepted booking.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sqlx::PgPool;

use super::catalog::{Catalog, Offer};
use crate::cache::bookings::{Admission, HolderMark, IDEMPOTENCY_TTL, KeyHorizon, PendingBooking};
use crate::cache::{BookingCache, CacheError};
use crate::db;
use crate::domain::booking::AcceptedRequest;
use crate::domain::code::CodeRule;
use crate::domain::event::EventStatus;
use crate::metrics::Metrics;
use crate::queue::Broker;

/// The parts accepting a booking uses (borrowed from the API's state).
pub struct Acceptor<'a> {
    pub db: &'a PgPool,
    pub bookings: &'a BookingCache,
    pub broker: &'a Broker,
    pub catalog: &'a Catalog,
    pub metrics: &'a Metrics,
}

/// Why a booking request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("no such ticket type")]
    UnknownTicketType,
    #[error("{0}")]
    SalesClosed(&'static str),
    /// Requests are taken from this time (the pre-queue opens).
    #[error("tickets for this event are not on sale yet; requests are taken from {}", .0.to_rfc3339())]
    NotYetOpen(DateTime<Utc>),
    #[error("the event is cancelled")]
    EventCancelled,
    #[error("must be between 1 and {max} for this ticket type")]
    Quantity { max: i64 },
    #[error("this ticket type is sold out")]
    SoldOut,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("a request with this Idempotency-Key is still being accepted; retry shortly")]
    KeyInFlight,
    /// The user has this booking in line for the ticket type already.
    #[error("you are in line for this ticket type already (booking {0}); wait for its decision")]
    AlreadyInLine(Uuid),
    /// The buyer has as many unpaid holds in this event as one may.
    #[error("you have {0} bookings of this event waiting for payment; pay for or cancel one before booking more")]
    TooManyHolds(i64),
    /// A hold of theirs on this ticket type ran out unpaid a short while ago.
    #[error("your last hold of this ticket type ran out unpaid; you can hold it again at {}", .0.to_rfc3339())]
    HoldCooldown(DateTime<Utc>),
    /// The code cannot be used for this request.
    #[error(transparent)]
    Code(#[from] crate::domain::code::CodeRefusal),
    /// The worker found the code used up a moment ago.
    #[error("this code has been used as many times as it may be")]
    CodeUsedUp,
    /// Names or answers that do not fit what the event asks.
    #[error("names or answers refused")]
    Answers(Vec<crate::domain::question::AnswerProblem>),
    /// The broker did not confirm: nothing was accepted.
    #[error("the booking queue is unavailable")]
    QueueUnavailable,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A booking request as it reaches the accept path, already well-formed.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub user_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
    /// A code as typed (case, dashes and spaces do not matter).
    pub code: Option<String>,
    /// A holder's name per ticket, in ticket order (blank: the buyer's).
    pub attendees: Vec<String>,
    pub answers: Vec<crate::domain::question::Answer>,
}

#[derive(Debug)]
pub enum Accepted {
    /// A new booking, now pending in the queue (answer 202).
    New(PendingBooking),
    /// The Idempotency-Key was used before for this booking (answer 200 with it as it is now).
    Replayed(Uuid),
}

/// Whether `user_id` may ask for `quantity` seats of `offer` at `now`: the
/// rules the accept path checks before touching Redis or the queue.
/// `presale_from`: the presale of the request's code, if any, which opens
/// requests earlier.
pub fn check_offer(
    offer: &Offer,
    user_id: Uuid,
    quantity: i64,
    now: DateTime<Utc>,
    presale_from: Option<DateTime<Utc>>,
) -> Result<(), AcceptError> {
    match offer.event_status {
        // A draft is invisible to everyone but its organizer.
        EventStatus::Draft if offer.organizer_id != user_id => return Err(AcceptError::UnknownTicketType),
        EventStatus::Draft => return Err(AcceptError::SalesClosed("the event is not published")),
        EventStatus::Cancelled => return Err(AcceptError::EventCancelled),
        EventStatus::Published => {}
    }
    let schedule = offer.schedule();
    if !schedule.requests_open_with(now, offer.published_at, offer.prequeue_minutes, presale_from) {
        return match schedule.requests_open_at_with(offer.published_at, offer.prequeue_minutes, presale_from) {
            Some(opens) if now < opens => Err(AcceptError::NotYetOpen(opens)),
            _ => Err(AcceptError::SalesClosed("tickets for this event are not on sale now")),
        };
    }
    // One order never exceeds what one buyer may own (the worker checks the
    // seats they own already).
    let max = i64::from(offer.max_per_order.min(offer.max_per_buyer.unwrap_or(i32::MAX)));
    if !(1..=max).contains(&quantity) {
        return Err(AcceptError::Quantity { max });
    }
    Ok(())
}

/// The rules against seat spinning, answered at once where PostgreSQL
/// already shows them broken (a priced request only: a free one holds
/// nothing). The worker's transaction is where they are decided, under its
/// locks: this only spares a buyer a place in line that cannot end well, so
/// PostgreSQL is asked only about a buyer the worker marked as a holder in
/// the event lately, and when it cannot answer the request goes on and the
/// worker decides.
async fn check_holds(
    db: &PgPool,
    offer: &Offer,
    user_id: Uuid,
    holder: HolderMark,
    now: DateTime<Utc>,
) -> Result<(), AcceptError> {
    if offer.price_cents == 0 || holder == HolderMark::Absent {
        return Ok(());
    }
    let standing = async {
        let mut conn = db.acquire().await?;
        db::bookings::hold_standing(&mut conn, user_id, offer.event_id, offer.ticket_type_id).await
    };
    let (holds, lapsed) = match standing.await {
        Ok(standing) => standing,
        Err(err) => {
            tracing::debug!(error = %err, "holds not checked at the door; the worker decides");
            return Ok(());
        }
    };
    let times =
        crate::domain::checkout::HoldTimes { hold_cooldown_seconds: offer.hold_cooldown_seconds, ..Default::default() };
    if let Some(until) = lapsed.and_then(|lapsed| times.cooldown_until(lapsed, now)) {
        return Err(AcceptError::HoldCooldown(until));
    }
    if holds >= crate::domain::checkout::MAX_UNPAID_HOLDS {
        return Err(AcceptError::TooManyHolds(holds));
    }
    Ok(())
}

/// The code `typed` for `offer` at `now`, checked cheaply (it exists, is
/// enabled, in its window, for this type); its uses are the worker's to count.
pub async fn code_for(
    catalog: &Catalog,
    offer: &Offer,
    typed: &str,
    now: DateTime<Utc>,
) -> Result<CodeRule, AcceptError> {
    use crate::domain::code::{CodeRefusal, normalize};
    let code = normalize(typed).ok_or(CodeRefusal::Invalid)?;
    let rule = catalog.code(offer.event_id, &code).await?.ok_or(CodeRefusal::Invalid)?;
    rule.check(offer.ticket_type_id, offer.hidden, now)?;
    Ok(rule)
}

/// The presale `typed` opens for `offer` at `now`, if it is a code that may
/// be used there (pages ask before the quantity is sized).
pub async fn presale_of(
    catalog: &Catalog,
    offer: &Offer,
    typed: Option<&str>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let typed = typed.filter(|typed| !typed.trim().is_empty())?;
    code_for(catalog, offer, typed, now).await.ok()?.presale_from
}

/// The names and answers of a request for `quantity` of `offer`, checked
/// against what the event asks (its questions cached like its codes).
pub async fn details_for(
    catalog: &Catalog,
    offer: &Offer,
    quantity: i64,
    attendees: &[String],
    answers: &[crate::domain::question::Answer],
) -> Result<crate::domain::question::Details, AcceptError> {
    use crate::domain::question::{AttendeeNames, Form};
    let nothing_given = attendees.iter().all(|n| n.trim().is_empty()) && answers.is_empty();
    if nothing_given && offer.attendee_names != AttendeeNames::Required && !offer.asks_questions {
        return Ok(Default::default());
    }
    let rules =
        if offer.asks_questions || !answers.is_empty() { Some(catalog.rules(offer.event_id).await?) } else { None };
    let form = Form {
        questions: rules.as_ref().map_or(&[], |r| r.questions.as_slice()),
        ticket_type_id: offer.ticket_type_id,
        quantity: u16::try_from(quantity).unwrap_or(u16::MAX),
        names: offer.attendee_names,
    };
    form.check(attendees, answers).map_err(AcceptError::Answers)
}

pub async fn accept(state: &Acceptor<'_>, request: BookingRequest) -> Result<Accepted, AcceptError> {
    let offer = state.catalog.offer(request.ticket_type_id).await?.ok_or(AcceptError::UnknownTicketType)?;
    let now = Utc::now();
    let code = match request.code.as_deref().filter(|typed| !typed.trim().is_empty()) {
        Some(typed) => Some(code_for(state.catalog, &offer, typed, now).await?),
        None => None,
    };
    // A hidden type does not exist for whoever has no code naming it.
    if offer.hidden && !code.as_ref().is_some_and(|rule| rule.unlocks(offer.ticket_type_id)) {
        return Err(AcceptError::UnknownTicketType);
    }
    let presale_from = code.as_ref().and_then(|rule| rule.presale_from);
    check_offer(&offer, request.user_id, request.quantity, now, presale_from)?;
    let details = details_for(state.catalog, &offer, request.quantity, &request.attendees, &request.answers).await?;

    let message = AcceptedRequest {
        booking_id: Uuid::now_v7(),
        user_id: request.user_id,
        event_id: offer.event_id,
        ticket_type_id: offer.ticket_type_id,
        quantity: request.quantity as i32,
        idempotency_key: request.idempotency_key,
        accepted_at: now,
        // The price the buyer was shown: the code's, if any.
        unit_price_cents: Some(code.as_ref().map_or(offer.price_cents, |rule| rule.unit_price(offer.price_cents))),
        currency: Some(offer.currency.clone()),
        code_id: code.as_ref().map(|rule| rule.id),
        // Its code's presale: before it, the request waits for its draw;
        // from then on it goes straight into the line.
        presale_at: offer.schedule().presale(presale_from),
        // With the price: tax added at checkout is part of what was shown.
        tax: Some((offer.tax_rate, offer.prices_include_tax)),
        details,
    };
    let fingerprint = fingerprint(message.ticket_type_id, message.quantity, message.code_id, &message.details);
    match admit(state, &message, &fingerprint).await {
        Ok(Admission::Admitted { horizon, holder }) => {
            if let Some(existing) = forgotten_key(state, &message, horizon).await {
                // Redis came back empty and took this key for new: undo that.
                if let Err(err) = state.bookings.withdraw(&message).await {
                    tracing::warn!(error = %err, "could not withdraw the pending record");
                }
                return replay_forgotten(state, &message, &fingerprint, &existing).await;
            }
            // A new request (not a replay, not sold out): the rules against
            // seat spinning, where PostgreSQL already shows them broken.
            if let Err(refused) = check_holds(state.db, &offer, message.user_id, holder, now).await {
                if let Err(err) = state.bookings.withdraw(&message).await {
                    tracing::warn!(error = %err, "could not withdraw the pending record");
                }
                return Err(refused);
            }
        }
        Ok(Admission::SoldOut(horizon)) => {
            // A replay of a booking Redis forgot is still a replay, sold out or not.
            if let Some(existing) = forgotten_key(state, &message, horizon).await {
                return replay_forgotten(state, &message, &fingerprint, &existing).await;
            }
            state.metrics.bookings_refused_sold_out.fetch_add(1, Ordering::Relaxed);
            return Err(AcceptError::SoldOut);
        }
        Ok(Admission::InLine(pending)) => return Err(AcceptError::AlreadyInLine(pending)),
        // Used up a moment ago (the worker's flag): refused now, not after a
        // wait in line. Without Redis the worker decides.
        Ok(Admission::CodeUsedUp) => return Err(AcceptError::CodeUsedUp),
        Ok(Admission::KeyUsed(record)) => {
            if record.fingerprint != fingerprint {
                return Err(key_reused());
            }
            if !record.accepted {
                // Still being accepted, or the API died before marking it:
                // once the worker has written the booking, it is the answer.
                let mut conn = state.db.acquire().await?;
                return match db::bookings::find(&mut conn, record.booking_id).await? {
                    Some(_) => Ok(Accepted::Replayed(record.booking_id)),
                    None => Err(key_in_flight()),
                };
            }
            return Ok(Accepted::Replayed(record.booking_id));
        }
        Err(err) => {
            state.metrics.redis_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, "Redis unavailable: accepting through PostgreSQL");
            return accept_without_redis(state, message).await;
        }
    }

    if let Err(err) = state.broker.publish_booking(&message).await {
        tracing::warn!(error = %err, booking.id = %message.booking_id, "booking not published; answering 503");
        if let Err(err) = state.bookings.withdraw(&message).await {
            tracing::warn!(error = %err, booking.id = %message.booking_id, "could not withdraw the pending record");
        }
        if !err.certainly_unsent() {
            let mut conn = state.db.acquire().await?;
            db::bookings::tombstone(&mut conn, &message).await?;
        }
        state.metrics.bookings_unavailable.fetch_add(1, Ordering::Relaxed);
        return Err(AcceptError::QueueUnavailable);
    }
    state.metrics.bookings_accepted.fetch_add(1, Ordering::Relaxed);
    if let Err(err) = state.bookings.mark_accepted(&message, &fingerprint).await {
        // The booking is safe in the queue; a retry with the key gets 409
        // until the record expires, and the worker's key constraint keeps it single.
        tracing::warn!(error = %err, booking.id = %message.booking_id, "could not mark the Idempotency-Key accepted");
    }
    Ok(Accepted::New(PendingBooking::from(&message)))
}

/// Redis is down: the pending row goes to PostgreSQL instead, where the
/// unique (user, key) constraint is the idempotency check.
async fn accept_without_redis(state: &Acceptor<'_>, message: AcceptedRequest) -> Result<Accepted, AcceptError> {
    let mut conn = state.db.acquire().await?;
    if let Some(key) = &message.idempotency_key {
        if let Some(existing) = db::bookings::find_by_key(&mut conn, message.user_id, key).await? {
            let same = existing.ticket_type_id == message.ticket_type_id
                && existing.quantity == message.quantity
                && existing.code_id == message.code_id;
            return if same { Ok(Accepted::Replayed(existing.id)) } else { Err(key_reused()) };
        }
    }
    if let Some(pending) = db::bookings::pending_of(&mut conn, message.user_id, message.ticket_type_id).await? {
        return Err(AcceptError::AlreadyInLine(pending));
    }
    if let Err(err) = db::bookings::insert_pending(&mut conn, &message).await {
        return Err(match db::violated_constraint(&err) {
            Some(db::bookings::IDEMPOTENCY_KEY_TAKEN) => key_in_flight(),
            // A concurrent request of the same user got in first.
            Some(db::bookings::ONE_PENDING) => {
                match db::bookings::pending_of(&mut conn, message.user_id, message.ticket_type_id).await? {
                    Some(pending) => AcceptError::AlreadyInLine(pending),
                    None => key_in_flight(),
                }
            }
            _ => err.into(),
        });
    }
    // Publishing may wait for the broker to come back (seconds): not while
    // holding a connection of the pool.
    drop(conn);
    if let Err(err) = state.broker.publish_booking(&message).await {
        tracing::warn!(error = %err, booking.id = %message.booking_id, "booking not published; answering 503");
        let mut conn = state.db.acquire().await?;
        if err.certainly_unsent() {
            db::bookings::delete_pending(&mut conn, message.booking_id).await?;
        } else {
            db::bookings::tombstone(&mut conn, &message).await?;
        }
        state.metrics.bookings_unavailable.fetch_add(1, Ordering::Relaxed);
        return Err(AcceptError::QueueUnavailable);
    }
    Ok(Accepted::New(PendingBooking::from(&message)))
}

/// Redis's admission, with one correction: the place in line a user holds
/// is given up by the worker just after its commit (and a crash in between
/// can leave it behind for an hour), so a place whose booking PostgreSQL has
/// decided already, or that nobody holds any more, is freed and the request
/// admitted after all. Only then is `already_in_line` the answer.
async fn admit(state: &Acceptor<'_>, message: &AcceptedRequest, fingerprint: &str) -> Result<Admission, CacheError> {
    let admission = state.bookings.admit(message, fingerprint).await?;
    let Admission::InLine(holder) = admission else { return Ok(admission) };
    let decided = match state.db.acquire().await {
        Ok(mut conn) => db::bookings::find(&mut conn, holder).await.ok().flatten().is_some_and(|b| b.status.is_final()),
        Err(_) => false,
    };
    let vanished = !decided && matches!(state.bookings.pending(holder).await, Ok(None));
    if !(decided || vanished) {
        return Ok(admission);
    }
    state.bookings.leave_line(message.user_id, message.ticket_type_id, holder).await?;
    state.bookings.admit(message, fingerprint).await
}

/// While Redis may be missing keys it once held (it came back empty less
/// than a day after the newest keyed booking), a key it calls new is looked
/// up in PostgreSQL. Any failure here leaves it to the worker's unique
/// (user, key) constraint, which turns a second booking into a
/// `duplicate_request` rejection: bookings keep flowing without PostgreSQL.
async fn forgotten_key(
    state: &Acceptor<'_>,
    message: &AcceptedRequest,
    horizon: KeyHorizon,
) -> Option<db::bookings::BookingRow> {
    let key = message.idempotency_key.as_deref()?;
    let lookup = async {
        let until = match horizon {
            KeyHorizon::NotAsked => return Ok(None),
            KeyHorizon::Until(ms) => ms,
            KeyHorizon::Unknown => {
                let mut conn = state.db.acquire().await?;
                let newest = db::bookings::newest_keyed_accept(&mut conn).await?;
                let until = newest.map_or(0, |at| at.timestamp_millis() + IDEMPOTENCY_TTL.as_millis() as i64);
                state.bookings.set_key_horizon(until).await.unwrap_or(until)
            }
        };
        // The normal case: Redis has every key of the last day; no round trip.
        if Utc::now().timestamp_millis() >= until {
            return Ok(None);
        }
        let mut conn = state.db.acquire().await?;
        db::bookings::find_by_key(&mut conn, message.user_id, key).await
    };
    let found: Result<_, sqlx::Error> = lookup.await;
    found.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "could not look up an Idempotency-Key Redis may have lost");
        None
    })
}

/// Which request body an Idempotency-Key was used with.
fn fingerprint(
    ticket_type_id: Uuid,
    quantity: i32,
    code_id: Option<Uuid>,
    details: &crate::domain::question::Details,
) -> String {
    // Without a code or names as before (records in Redis stay comparable);
    // names and answers by their hash: a retry that changed them is another request.
    let mut print = match code_id {
        Some(code) => format!("{ticket_type_id}:{quantity}:{code}"),
        None => format!("{ticket_type_id}:{quantity}"),
    };
    if !details.is_empty() {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(serde_json::to_vec(details).unwrap_or_default());
        print.push_str(&format!(":{}", crate::domain::draw::to_hex(&hash[..12])));
    }
    print
}

/// The booking PostgreSQL holds under a key Redis forgot is the answer, and
/// Redis learns the key again so the next replay needs no look-up.
async fn replay_forgotten(
    state: &Acceptor<'_>,
    message: &AcceptedRequest,
    fingerprint_of_request: &str,
    existing: &db::bookings::BookingRow,
) -> Result<Accepted, AcceptError> {
    // PostgreSQL's row does not keep the names and answers the request
    // carried: the rest of it is compared, and Redis relearns the request's own.
    let none = Default::default();
    let first = fingerprint(existing.ticket_type_id, existing.quantity, existing.code_id, &none);
    let same = first == fingerprint(message.ticket_type_id, message.quantity, message.code_id, &none);
    let remembered = if same { fingerprint_of_request } else { first.as_str() };
    if let Err(err) = state.bookings.remember_key(message, existing.id, remembered).await {
        tracing::warn!(error = %err, "could not remember the Idempotency-Key again");
    }
    if same { Ok(Accepted::Replayed(existing.id)) } else { Err(key_reused()) }
}

fn key_reused() -> AcceptError {
    AcceptError::KeyReused
}

fn key_in_flight() -> AcceptError {
    AcceptError::KeyInFlight
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn offer() -> Offer {
        let now = Utc::now();
        Offer {
            ticket_type_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            organizer_id: Uuid::now_v7(),
            event_status: EventStatus::Published,
            starts_at: now + Duration::days(30),
            ends_at: None,
            sales_start: None,
            sales_end: None,
            published_at: Some(now - Duration::days(1)),
            max_per_order: 4,
            max_per_buyer: None,
            price_cents: 2500,
            currency: "EUR".into(),
            prequeue_minutes: 30,
            hold_cooldown_seconds: 600,
            hidden: false,
            attendee_names: Default::default(),
            asks_questions: false,
            tax_rate: 0,
            prices_include_tax: true,
        }
    }

    #[test]
    fn a_published_offer_on_sale_takes_an_order_within_its_limits() {
        let buyer = Uuid::now_v7();
        assert!(check_offer(&offer(), buyer, 1, Utc::now(), None).is_ok());
        assert!(check_offer(&offer(), buyer, 4, Utc::now(), None).is_ok());
        for quantity in [0, 5, -1] {
            let err = check_offer(&offer(), buyer, quantity, Utc::now(), None).unwrap_err();
            assert!(matches!(err, AcceptError::Quantity { max: 4 }), "{quantity}: {err}");
        }
        let limited = Offer { max_per_buyer: Some(2), ..offer() };
        assert!(matches!(check_offer(&limited, buyer, 3, Utc::now(), None), Err(AcceptError::Quantity { max: 2 })));
    }

    #[test]
    fn a_draft_is_unknown_to_strangers_and_closed_to_its_organizer() {
        let draft = Offer { event_status: EventStatus::Draft, published_at: None, ..offer() };
        let stranger = Uuid::now_v7();
        assert!(matches!(check_offer(&draft, stranger, 1, Utc::now(), None), Err(AcceptError::UnknownTicketType)));
        assert!(matches!(
            check_offer(&draft, draft.organizer_id, 1, Utc::now(), None),
            Err(AcceptError::SalesClosed(_))
        ));
        let cancelled = Offer { event_status: EventStatus::Cancelled, ..offer() };
        assert!(matches!(check_offer(&cancelled, stranger, 1, Utc::now(), None), Err(AcceptError::EventCancelled)));
    }

    #[test]
    fn outside_the_sales_window_sales_are_closed_and_before_the_pre_queue_they_say_when_it_opens() {
        let now = Utc::now();
        let later = Offer { sales_start: Some(now + Duration::hours(1)), ..offer() };
        let opens = now + Duration::minutes(30);
        assert!(
            matches!(check_offer(&later, Uuid::now_v7(), 1, now, None), Err(AcceptError::NotYetOpen(at)) if at == opens)
        );
        assert!(check_offer(&later, Uuid::now_v7(), 1, opens, None).is_ok(), "the pre-queue takes requests");
        let over = Offer { sales_end: Some(now - Duration::hours(1)), ..offer() };
        assert!(matches!(check_offer(&over, Uuid::now_v7(), 1, now, None), Err(AcceptError::SalesClosed(_))));
        assert!(check_offer(&later, Uuid::now_v7(), 1, now + Duration::hours(2), None).is_ok());
    }
}
