//! The worker's batch transaction: one PostgreSQL transaction decides a whole
//! batch of booking requests.
//!
//! In order: skip requests already decided (redelivery), give duplicates of an
//! Idempotency-Key nothing, lock the ticket types in id order, allocate in
//! arrival order while seats last, write bookings, tickets and seat counts
//! with one multi-row statement each. The caller commits nothing: this
//! function commits, and only then may the messages be acked.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::bookings::{HoldMark, PendingBooking};
use crate::db::allocation::{self as db, NewTickets, Outcomes};
use crate::db::codes::LockedCode;
use crate::domain::booking::AcceptedRequest;
use crate::domain::booking::{BookingStatus, Decision, Inventory, Reason, SeatRequest, Spinning};
use crate::domain::checkout::{self, Provider};
use crate::domain::code::CodeStock;

/// What one committed batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Every request of the batch, now in PostgreSQL (decided now or before).
    pub settled: Vec<PendingBooking>,
    /// (booking, status, reason) of the bookings decided by this batch.
    pub decided: Vec<(Uuid, BookingStatus, Option<Reason>)>,
    /// Requests that were already decided (redelivered messages).
    pub skipped: usize,
    /// Ticket types left without a seat.
    pub sold_out: Vec<Uuid>,
    /// Codes left without a use.
    pub codes_used_up: Vec<Uuid>,
    /// Seats confirmed by this batch.
    pub seats_confirmed: i64,
    /// Seats held for payment by this batch.
    pub seats_held: i64,
    /// Requests put in the line in PostgreSQL (waiting for the draw, or behind it).
    pub parked: usize,
    /// Bookings decided by this batch, per event (the line's rate).
    pub decided_per_event: HashMap<Uuid, u64>,
    /// Buyers given a hold by this batch (marked in Redis for the door).
    pub holders: Vec<HoldMark>,
}

/// Placed requests decided per transaction: small enough that a long line
/// moves visibly, place by place.
pub const LINE_CHUNK: i64 = 1000;

/// Decides `requests` in one transaction; a priced booking that gets seats
/// is held for payment through `provider`. Also moves the line in PostgreSQL
/// of `drain` (ticket types the caller knows to have one, whose sales started):
/// requests taken before `sales_start` are parked there until the draw, which
/// this transaction makes once sales have started; then the line is decided
/// in its order, `chunk` at a time ([`LINE_CHUNK`] in the worker), before
/// anything that came after.
pub async fn allocate_batch(
    pool: &PgPool,
    requests: &[AcceptedRequest],
    drain: &[Uuid],
    chunk: i64,
    provider: Provider,
) -> Result<BatchOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Locks first: a copy of one of these messages being decided by another
    // worker holds the same ticket type's lock until it commits, so the
    // redelivery check below sees its result instead of racing it.
    let mut ticket_type_ids: Vec<Uuid> =
        requests.iter().map(|r| r.ticket_type_id).chain(drain.iter().copied()).collect();
    ticket_type_ids.sort();
    ticket_type_ids.dedup();
    let locked = db::lock_ticket_types(&mut tx, &ticket_type_ids).await?;

    let ids: Vec<Uuid> = requests.iter().map(|r| r.booking_id).collect();
    let decided_before = db::already_final(&mut tx, &ids).await?;

    // The same message twice in one batch counts once.
    let mut seen = HashSet::new();
    let arrived: Vec<&AcceptedRequest> =
        requests.iter().filter(|r| !decided_before.contains(&r.booking_id) && seen.insert(r.booking_id)).collect();

    // The line in PostgreSQL: park what waits for the draw, draw once sales
    // have started, queue behind an undecided line, take its next chunk.
    let now = chrono::Utc::now();
    let by_type: HashMap<Uuid, &db::LockedTicketType> = locked.iter().map(|tt| (tt.id, tt)).collect();
    let mut events: Vec<Uuid> = locked.iter().map(|tt| tt.event_id).collect();
    events.sort();
    events.dedup();
    let mut lines = crate::db::line::state(&mut tx, &events).await?;
    // The draw a request waits for: its presale's, or the event's, not made yet.
    let waits_for = |r: &AcceptedRequest| {
        let tt = by_type.get(&r.ticket_type_id)?;
        let round = tt.schedule().round_of(r.accepted_at, r.presale_at)?;
        (!lines.get(&tt.event_id).is_some_and(|l| l.drawn(round))).then_some(round)
    };
    let (prequeued, arrived): (Vec<&AcceptedRequest>, Vec<&AcceptedRequest>) =
        arrived.into_iter().partition(|r| waits_for(r).is_some());
    // A buyer has one request in line per ticket type. Redis enforces it at
    // the door, but a Redis that came back empty forgets who is in line: a
    // second request must not go into the line beside the first (it would
    // break the line's unique index and fail the whole batch); it is decided
    // now, as a duplicate.
    let mut twice = crate::db::line::already_in_line(&mut tx, &prequeued).await?;
    let (second, prequeued): (Vec<&AcceptedRequest>, Vec<&AcceptedRequest>) =
        prequeued.into_iter().partition(|r| twice.contains(&r.booking_id));
    let rounds: Vec<crate::domain::draw::Round> =
        prequeued.iter().map(|r| waits_for(r).expect("partitioned by it")).collect();
    crate::db::line::park(&mut tx, &prequeued, Some(&rounds)).await?;
    for r in &prequeued {
        lines.entry(r.event_id).or_default().undrawn = true;
    }
    // The draw itself is the line worker's (`worker/line.rs`, through
    // [`draw`]): it waits until the whole pre-queue is here. A request from
    // before its draw parked after it goes behind the drawn ones.
    let late: Vec<Uuid> = events.iter().copied().filter(|e| lines.get(e).is_some_and(|l| l.late)).collect();
    // Behind a line still undecided (or one still waiting for its draw).
    let (queued, arrived): (Vec<&AcceptedRequest>, Vec<&AcceptedRequest>) = arrived.into_iter().partition(|r| {
        lines.get(&r.event_id).is_some_and(|l| l.placed || l.undrawn) && by_type.contains_key(&r.ticket_type_id)
    });
    twice.extend(crate::db::line::already_in_line(&mut tx, &queued).await?);
    let (second_queued, queued): (Vec<&AcceptedRequest>, Vec<&AcceptedRequest>) =
        queued.into_iter().partition(|r| twice.contains(&r.booking_id));
    let numbered: Vec<Uuid> = late.iter().copied().chain(queued.iter().map(|r| r.event_id)).collect();
    crate::db::line::lock_numbering(&mut tx, &numbered).await?;
    for event_id in late {
        crate::db::line::place_late(&mut tx, event_id).await?;
    }
    crate::db::line::park(&mut tx, &queued, None).await?;
    let placed = crate::db::line::next_placed(&mut tx, &ticket_type_ids, chunk).await?;
    let placed_ids: HashSet<Uuid> = placed.iter().map(|r| r.booking_id).collect();
    // The line first, then what came straight from the queue.
    let fresh: Vec<&AcceptedRequest> = placed
        .iter()
        .chain(arrived.into_iter().filter(|r| !placed_ids.contains(&r.booking_id)))
        .chain(second)
        .chain(second_queued)
        .collect();
    let waiting: HashSet<Uuid> = prequeued.iter().chain(&queued).map(|r| r.booking_id).collect();

    let mut duplicates = duplicate_keys(&mut tx, &fresh).await?;
    duplicates.extend(twice);

    let mut inventory: HashMap<Uuid, Inventory> = locked.iter().map(|tt| (tt.id, tt.inventory())).collect();
    // The shared quotas of these types, after the types' locks. (DESIGN
    // orders quotas first; here the types come first because which quotas
    // to lock is read from the types' membership, stable only under the
    // types' locks, which a quota's change takes too. Every path locks types
    // then quotas, so no two wait for each other.)
    let mut quotas = HashMap::new();
    for quota in db::lock_quotas(&mut tx, &ticket_type_ids).await? {
        for tt in &quota.ticket_type_ids {
            if let Some(stock) = inventory.get_mut(tt) {
                stock.quotas.push(quota.id);
            }
        }
        quotas.insert(quota.id, quota.remaining);
    }
    let buyers: Vec<(Uuid, Uuid)> = fresh.iter().map(|r| (r.ticket_type_id, r.user_id)).collect();
    count_owned(&mut tx, &locked, &buyers, &mut inventory).await?;
    let mut spinning = count_spinning(&mut tx, &locked, &buyers, now).await?;
    // Codes after the ticket types (the lock order everywhere), their uses
    // summed under their locks.
    let code_uses: Vec<(Uuid, Uuid)> = fresh.iter().filter_map(|r| r.code_id.map(|code| (code, r.user_id))).collect();
    let (mut codes, locked_codes) = code_stocks(&mut tx, &code_uses).await?;
    let usable: HashSet<Uuid> = codes.keys().copied().collect();
    let locked: HashMap<Uuid, &db::LockedTicketType> = locked.iter().map(|tt| (tt.id, tt)).collect();
    // What a seat of `r` costs now: its code's price, if it has one.
    let price_of = |r: &AcceptedRequest, tt: &db::LockedTicketType| match r.code_id.and_then(|c| locked_codes.get(&c)) {
        Some(code) => crate::domain::code::unit_price(code.kind, code.value, tt.price_cents),
        None => tt.price_cents,
    };

    // Requests decided before allocation: duplicates, those the API accepted
    // outside the sales window (the window is judged at acceptance, so a
    // backlog never costs a buyer who was in time), and those accepted at a
    // price that has changed since.
    let precheck = |r: &AcceptedRequest| -> Option<Reason> {
        if duplicates.contains(&r.booking_id) {
            return Some(Reason::DuplicateRequest);
        }
        let tt = locked.get(&r.ticket_type_id)?;
        if !tt.schedule().requests_open_with(r.accepted_at, tt.published_at, tt.prequeue_minutes, r.presale_at) {
            return Some(Reason::SalesClosed);
        }
        if r.code_id.is_some_and(|code| !usable.contains(&code)) {
            return Some(Reason::CodeInvalid);
        }
        let shown = r.unit_price_cents.zip(r.currency.as_deref());
        // What it costs, tax added on top included, against what was shown.
        let charged = |price: i64, (rate, included): (i32, bool)| {
            crate::domain::tax::charged(price, i64::from(r.quantity), rate, included)
        };
        let taxed_differently = r.tax.zip(r.unit_price_cents).is_some_and(|(shown_tax, price)| {
            charged(price, shown_tax) != charged(price, (tt.tax_rate, tt.prices_include_tax))
        });
        let changed = shown.is_some_and(|(price, currency)| price != price_of(r, tt) || currency != tt.currency);
        (changed || taxed_differently).then_some(Reason::PriceChanged)
    };
    let (rejected_early, to_allocate): (Vec<&AcceptedRequest>, Vec<&AcceptedRequest>) =
        fresh.iter().copied().partition(|r| precheck(r).is_some());
    let seat_requests: Vec<SeatRequest> = to_allocate
        .iter()
        .map(|r| SeatRequest {
            ticket_type_id: r.ticket_type_id,
            buyer: r.user_id,
            quantity: r.quantity,
            code: r.code_id,
        })
        .collect();
    let decisions =
        crate::domain::booking::allocate(&seat_requests, &mut inventory, &mut spinning, &mut codes, &mut quotas);

    let mut outcome = BatchOutcome { skipped: decided_before.len(), ..Default::default() };
    let mut outcomes = Outcomes::default();
    let mut tickets = NewTickets::default();
    let mut details = crate::db::questions::NewDetails::default();
    // The questions as they are now, for the batch's requests with answers.
    let answering: Vec<Uuid> = fresh.iter().filter(|r| !r.details.answers.is_empty()).map(|r| r.event_id).collect();
    let questions = if answering.is_empty() {
        HashMap::new()
    } else {
        crate::db::questions::of_events(&mut tx, &answering).await?
    };
    let early = rejected_early.iter().map(|r| (*r, Decision::Rejected(precheck(r).expect("partitioned"))));
    for (request, decision) in early.chain(to_allocate.iter().copied().zip(decisions)) {
        let tt = locked.get(&request.ticket_type_id);
        let (status, reason) = match (decision, tt) {
            (Decision::Confirmed, Some(tt)) => {
                (checkout::status_when_allocated(price_of(request, tt), request.quantity), None)
            }
            (Decision::Confirmed, None) => unreachable!("seats are only given from a locked ticket type"),
            (Decision::Rejected(reason), _) => (BookingStatus::Rejected, Some(reason)),
        };
        let confirmed = status == BookingStatus::Confirmed;
        let seated = confirmed || status == BookingStatus::Held;
        let held = tt.filter(|_| status == BookingStatus::Held);
        outcomes.ids.push(request.booking_id);
        outcomes.user_ids.push(request.user_id);
        outcomes.event_ids.push(request.event_id);
        outcomes.ticket_type_ids.push(request.ticket_type_id);
        outcomes.quantities.push(request.quantity);
        outcomes.statuses.push(status.as_str());
        outcomes.reasons.push(reason.map(Reason::as_str));
        outcomes.unit_prices.push(tt.filter(|_| seated).map(|tt| price_of(request, tt)));
        outcomes.currencies.push(tt.filter(|_| seated).map(|tt| tt.currency.clone()));
        // Paid as the event takes payments, among the server's ways.
        let expires_at = held.map(|tt| (tt.hold_times(), tt.hold_times().expiry(now, tt.provider(provider))));
        if let Some((times, expiry)) = expires_at {
            let until = times.watch_until(expiry);
            outcome.holders.push(HoldMark { event_id: request.event_id, user_id: request.user_id, until });
        }
        outcomes.expires_at.push(expires_at.map(|(_, expiry)| expiry));
        outcomes.providers.push(held.map(|tt| tt.provider(provider).as_str()));
        // A duplicate gives up the key: the first booking keeps it.
        outcomes.keys.push(request.idempotency_key.clone().filter(|_| reason != Some(Reason::DuplicateRequest)));
        outcomes.accepted_at.push(request.accepted_at);
        outcomes.code_ids.push(request.code_id);
        outcomes.push_tax(tt.filter(|_| seated).copied());
        if seated && !request.details.is_empty() {
            let form = crate::domain::question::Form {
                questions: questions.get(&request.event_id).map_or(&[], Vec::as_slice),
                ticket_type_id: request.ticket_type_id,
                quantity: u16::try_from(request.quantity).unwrap_or(u16::MAX),
                names: Default::default(),
            };
            details.add(request.booking_id, &form.still_fitting(&request.details));
        }
        if confirmed {
            outcome.seats_confirmed += i64::from(request.quantity);
            tickets.add(request.booking_id, request.event_id, request.ticket_type_id, request.quantity);
        } else if seated {
            outcome.seats_held += i64::from(request.quantity);
        }
        outcome.decided.push((request.booking_id, status, reason));
        *outcome.decided_per_event.entry(request.event_id).or_default() += 1;
    }

    let (changed, taken): (Vec<Uuid>, Vec<i32>) = inventory
        .iter()
        .filter_map(|(id, stock)| {
            let taken = locked[id].remaining - stock.remaining;
            (taken > 0).then_some((*id, taken))
        })
        .unzip();
    if !outcomes.ids.is_empty() {
        let written = db::write_outcomes(&mut tx, &outcomes).await?;
        if written != outcomes.ids.len() as u64 {
            // A booking was decided elsewhere after all: roll back rather
            // than take seats twice; the retry finds it decided and skips it.
            return Err(sqlx::Error::Protocol(format!(
                "{} of {} bookings were decided concurrently; batch rolled back",
                outcomes.ids.len() as u64 - written,
                outcomes.ids.len()
            )));
        }
        db::insert_tickets(&mut tx, &tickets).await?;
        crate::db::questions::insert_details(&mut tx, &details).await?;
        db::take_seats(&mut tx, &changed, &taken).await?;
        // The confirmation emails commit with the bookings, or not at all.
        let confirmed: Vec<Uuid> =
            outcome.decided.iter().filter(|(_, s, _)| *s == BookingStatus::Confirmed).map(|(id, _, _)| *id).collect();
        crate::db::outbox::enqueue(&mut tx, crate::db::outbox::Kind::BookingConfirmed, &confirmed).await?;
        crate::webhooks::events::bookings(&mut tx, "booking.confirmed", &confirmed).await?;
        // Announced on commit (NOTIFY is transactional): clients waiting on
        // `GET /bookings/{id}?wait=` answer at once.
        db::announce_final(&mut tx, &outcomes.ids).await?;
    }
    tx.commit().await?;

    outcome.codes_used_up =
        codes.iter().filter(|(_, stock)| stock.uses_left.is_some_and(|left| left <= 0)).map(|(id, _)| *id).collect();
    // Sold out: no seat of its own left, or none in a quota it draws from.
    outcome.sold_out = inventory
        .iter()
        .filter(|(_, stock)| stock.remaining == 0 || stock.quotas.iter().any(|q| quotas.get(q) == Some(&0)))
        .map(|(id, _)| *id)
        .collect();
    // Redis forgets what is decided (and what was decided before); what waits
    // in the line keeps its pending record and its place.
    let decided: HashSet<Uuid> = outcome.decided.iter().map(|(id, _, _)| *id).collect();
    outcome.settled = requests
        .iter()
        .chain(placed.iter())
        .filter(|r| !waiting.contains(&r.booking_id) || decided.contains(&r.booking_id))
        .map(PendingBooking::from)
        .collect();
    outcome.parked = waiting.iter().filter(|id| !decided.contains(id)).count();
    Ok(outcome)
}

/// Makes the draw `round` of `event_id` (at `at`: the sales start or the
/// presale's time) now, in a transaction of its own, if it is due and not
/// made: returns it when this call made it. Locks the event's row first (as
/// the organizer's changes do), then all its ticket types in id order (as a
/// batch does), so it deadlocks with neither.
pub async fn draw(
    pool: &PgPool,
    event_id: Uuid,
    round: crate::domain::draw::Round,
) -> Result<Option<crate::db::line::Drawn>, sqlx::Error> {
    use crate::domain::draw::Round;
    let began = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    let Some(event) = crate::db::events::share_event(&mut tx, event_id).await? else { return Ok(None) };
    let ticket_types: Vec<Uuid> =
        crate::db::events::ticket_types_of(&mut tx, &[event_id]).await?.iter().map(|tt| tt.id).collect();
    db::lock_rows(&mut tx, &ticket_types).await?;
    let now = chrono::Utc::now();
    let at = match round {
        Round::Main => event.sales_start.unwrap_or(now),
        Round::Presale(at) => at,
    };
    let cancelled = event.status == crate::domain::event::EventStatus::Cancelled;
    if !(at <= now || cancelled) {
        return Ok(None);
    }
    let drawn = crate::db::line::draw(&mut tx, event_id, round, at).await?;
    tx.commit().await?;
    let took_ms = began.elapsed().as_millis() as u64;
    let presale = round.presale_at().map(|at| at.to_rfc3339());
    match drawn.map(|d| (d, d.seed.map(|s| crate::domain::draw::to_hex(&s)))) {
        Some((d, Some(seed))) => {
            tracing::info!(event.id = %event_id, ?presale, %seed, entries = d.entries, took_ms, "pre-queue drawn")
        }
        Some((d, None)) => tracing::warn!(
            event.id = %event_id, ?presale, entries = d.entries, took_ms,
            "no draw was committed; pre-queue kept in arrival order"
        ),
        None => {}
    }
    Ok(drawn)
}

/// Fills in what the buyers own already of the ticket types that limit it
/// (`buyers`: (ticket type, user) pairs), read under the ticket types' locks.
/// The codes of `uses` ((code, buyer) pairs), locked, as stocks to take
/// from: a code disabled since is left out (its requests are refused), and
/// the locked rows, for their prices.
pub(crate) async fn code_stocks(
    tx: &mut sqlx::PgConnection,
    uses: &[(Uuid, Uuid)],
) -> Result<(HashMap<Uuid, CodeStock>, HashMap<Uuid, LockedCode>), sqlx::Error> {
    let ids: Vec<Uuid> = uses.iter().map(|(code, _)| *code).collect();
    let locked = crate::db::codes::lock_for_batch(tx, &ids).await?;
    let limited: Vec<(Uuid, Uuid)> = uses
        .iter()
        .copied()
        .filter(|(code, _)| locked.iter().any(|c| c.id == *code && c.max_per_buyer.is_some()))
        .collect();
    let by_buyer = crate::db::codes::used_by(tx, &limited).await?;
    let mut stocks = HashMap::new();
    for code in locked.iter().filter(|c| !c.disabled) {
        let used_by = by_buyer.iter().filter(|((c, _), _)| *c == code.id).map(|((_, buyer), n)| (*buyer, *n)).collect();
        stocks.insert(
            code.id,
            CodeStock {
                uses_left: code.max_uses.map(|most| i64::from(most) - code.uses),
                max_per_buyer: code.max_per_buyer.map(i64::from),
                used_by,
            },
        );
    }
    Ok((stocks, locked.into_iter().map(|c| (c.id, c)).collect()))
}

pub(crate) async fn count_owned(
    conn: &mut sqlx::PgConnection,
    locked: &[db::LockedTicketType],
    buyers: &[(Uuid, Uuid)],
    inventory: &mut HashMap<Uuid, Inventory>,
) -> Result<(), sqlx::Error> {
    let limited: Vec<Uuid> = locked.iter().filter(|tt| tt.max_per_buyer.is_some()).map(|tt| tt.id).collect();
    if limited.is_empty() {
        return Ok(());
    }
    let mut users: Vec<Uuid> = buyers.iter().filter(|(tt, _)| limited.contains(tt)).map(|(_, user)| *user).collect();
    users.sort();
    users.dedup();
    for (tt, user, seats) in db::seats_owned(conn, &limited, &users).await? {
        if let Some(stock) = inventory.get_mut(&tt) {
            stock.owned.insert(user, seats as i32);
        }
    }
    Ok(())
}

/// What limits seat spinning for the buyers of priced types among `buyers`
/// ((ticket type, user) pairs): their unpaid holds per event, and the types
/// they may not hold again yet. Read under the events' hold locks, so two
/// workers deciding one buyer's requests for two types of an event count
/// each other's holds.
pub(crate) async fn count_spinning(
    conn: &mut sqlx::PgConnection,
    locked: &[db::LockedTicketType],
    buyers: &[(Uuid, Uuid)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Spinning, sqlx::Error> {
    let holding: HashMap<Uuid, &db::LockedTicketType> =
        locked.iter().filter(|tt| tt.price_cents > 0).map(|tt| (tt.id, tt)).collect();
    let mut pairs: Vec<(Uuid, Uuid)> =
        buyers.iter().filter_map(|(tt, user)| holding.get(tt).map(|tt| (tt.event_id, *user))).collect();
    if pairs.is_empty() {
        return Ok(Spinning::default());
    }
    pairs.sort();
    pairs.dedup();
    let mut events: Vec<Uuid> = pairs.iter().map(|(event, _)| *event).collect();
    events.dedup();
    db::lock_holds_of_events(conn, &events).await?;
    let types: Vec<Uuid> = holding.keys().copied().collect();
    let (holds, lapses) = db::spinning(conn, &pairs, &types).await?;
    let cooling = lapses
        .into_iter()
        .filter(|(tt, _, lapsed)| {
            holding.get(tt).is_some_and(|tt| tt.hold_times().cooldown_until(*lapsed, now).is_some())
        })
        .map(|(tt, user, _)| (tt, user))
        .collect();
    Ok(Spinning { holds: holds.into_iter().map(|(event, user, n)| ((event, user), n)).collect(), cooling })
}

/// Requests whose (user, Idempotency-Key) already belongs to another booking,
/// in the database or earlier in this batch. Normally Redis stops them at the
/// door; this is the durable backstop for when Redis did not.
async fn duplicate_keys(
    conn: &mut sqlx::PgConnection,
    fresh: &[&AcceptedRequest],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let keyed: Vec<&&AcceptedRequest> = fresh.iter().filter(|r| r.idempotency_key.is_some()).collect();
    if keyed.is_empty() {
        return Ok(HashSet::new());
    }
    let users: Vec<Uuid> = keyed.iter().map(|r| r.user_id).collect();
    let keys: Vec<String> = keyed.iter().map(|r| r.idempotency_key.clone().unwrap_or_default()).collect();
    let mut owners = db::keys_taken(conn, &users, &keys).await?;
    let mut duplicates = HashSet::new();
    for r in keyed {
        let owner = owners.entry((r.user_id, r.idempotency_key.clone().unwrap_or_default())).or_insert(r.booking_id);
        if *owner != r.booking_id {
            duplicates.insert(r.booking_id);
        }
    }
    Ok(duplicates)
}
