//! The booking as it is now, in one place: PostgreSQL once the worker has
//! written it, the pending record in Redis before (and PostgreSQL's pending
//! rows for what was accepted while Redis was down). Handlers ask here and
//! only turn the answer into JSON.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::BookingCache;
use crate::cache::bookings::PendingBooking;
use crate::db::bookings::{self as db, BookingRow, TicketRow};
use crate::db::line::Spot;
use crate::db::payments::Money;
use crate::domain::draw::Round;

/// One booking as it is now.
#[derive(Debug)]
pub enum Current {
    /// Written by the worker (or accepted while Redis was down), with its
    /// tickets, payment and refund.
    Stored(Box<BookingRow>, Vec<TicketRow>, Money),
    /// Accepted, in the queue; only Redis knows it yet.
    Pending(PendingBooking),
}

impl Current {
    /// Not decided yet (as of the read).
    pub fn is_pending(&self) -> bool {
        match self {
            Current::Stored(row, _, _) => row.status == crate::domain::booking::BookingStatus::Pending,
            Current::Pending(_) => true,
        }
    }
}

/// `user_id`'s booking `id`; `None` for anyone else's, or none.
pub async fn of_user(
    db: &PgPool,
    bookings: &BookingCache,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<Current>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    if let Some(row) = db::find(&mut conn, id).await? {
        return stored(&mut conn, row, user_id).await;
    }
    match bookings.pending(id).await {
        Ok(Some(pending)) => return Ok(Some(pending).filter(|p| p.user_id == user_id).map(Current::Pending)),
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "pending booking lookup failed"),
    }
    // The worker may have committed (and cleared the pending record) between
    // the two reads above: the row is there now.
    match db::find(&mut conn, id).await? {
        Some(row) => stored(&mut conn, row, user_id).await,
        None => Ok(None),
    }
}

async fn stored(conn: &mut sqlx::PgConnection, row: BookingRow, user_id: Uuid) -> Result<Option<Current>, sqlx::Error> {
    if row.user_id != user_id {
        return Ok(None);
    }
    let tickets = db::tickets_of(conn, &[row.id]).await?;
    let money = crate::db::payments::money_of(conn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    Ok(Some(Current::Stored(Box::new(row), tickets, money)))
}

/// A page of `user_id`'s bookings, newest first, and where the next page
/// starts. The first page also has the requests only Redis knows yet.
pub async fn list_of_user(
    db: &PgPool,
    bookings: &BookingCache,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<(Vec<Current>, Option<Uuid>), sqlx::Error> {
    let mut conn = db.acquire().await?;
    let rows = db::list_by_user(&mut conn, user_id, before, limit + 1).await?;
    let mut items = Vec::new();
    if before.is_none() {
        let stored: HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
        match bookings.pending_of_user(user_id).await {
            Ok(pending) => items.extend(pending.into_iter().filter(|p| !stored.contains(&p.id)).map(Current::Pending)),
            Err(err) => tracing::warn!(error = %err, "pending bookings unavailable"),
        }
    }
    let has_more = rows.len() as i64 > limit;
    let rows: Vec<BookingRow> = rows.into_iter().take(limit as usize).collect();
    let next = if has_more { rows.last().map(|r| r.id) } else { None };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut tickets = db::tickets_of(&mut conn, &ids).await?;
    let mut money = crate::db::payments::money_of(&mut conn, &ids).await?;
    for row in rows {
        let mine = tickets.extract_if(.., |t| t.booking_id == row.id).collect();
        let paid = money.remove(&row.id).unwrap_or_default();
        items.push(Current::Stored(Box::new(row), mine, paid));
    }
    Ok((items, next))
}

/// A stored booking with its tickets, payment and refund (after a change).
pub async fn stored_booking(conn: &mut sqlx::PgConnection, row: BookingRow) -> Result<Current, sqlx::Error> {
    let tickets = db::tickets_of(conn, &[row.id]).await?;
    let money = crate::db::payments::money_of(conn, &[row.id]).await?.remove(&row.id).unwrap_or_default();
    Ok(Current::Stored(Box::new(row), tickets, money))
}

/// Requests in Redis per ticket type (read from at most a sample of records),
/// and the exact total; empty and `None` when Redis cannot say.
pub async fn in_line_by_type(bookings: &BookingCache, event_id: Uuid) -> (HashMap<Uuid, i64>, Option<i64>) {
    let mut by_type: HashMap<Uuid, i64> = HashMap::new();
    match bookings.pending_of_event(event_id).await {
        Ok(pending) => pending.iter().for_each(|p| *by_type.entry(p.ticket_type_id).or_default() += 1),
        Err(err) => tracing::warn!(error = %err, "pending requests from Redis unavailable"),
    }
    let total = bookings.pending_count(event_id).await.map(|n| n as i64).ok();
    (by_type, total)
}

/// Where a pending booking stands in its event's line.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// In the pre-queue (waiting for the draw: no position yet), or in line.
    pub prequeue: bool,
    /// When the draw it waits for is made (the sales start, or its presale's
    /// time), in the pre-queue.
    pub draw_at: Option<DateTime<Utc>>,
    /// 1 = next; exact at the read.
    pub position: Option<i64>,
    pub ahead: Option<i64>,
    /// `ahead` at the rate the line moved over the last seconds.
    pub estimated_wait_seconds: Option<f64>,
}

/// `user_id`'s booking `id` as it is now with its place in line while it is
/// pending; `None` for anyone else's, or none.
pub async fn of_user_in_line(
    db: &PgPool,
    bookings: &BookingCache,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<(Current, Option<Place>)>, sqlx::Error> {
    let Some(mut current) = of_user(db, bookings, user_id, id).await? else { return Ok(None) };
    let mut place = place_in_line(db, bookings, &current).await?;
    if place.is_none() && current.is_pending() {
        // Decided between the two reads: show the decision, not "pending"
        // without a place.
        let Some(again) = of_user(db, bookings, user_id, id).await? else { return Ok(None) };
        place = place_in_line(db, bookings, &again).await?;
        current = again;
    }
    Ok(Some((current, place)))
}

/// The booking's place in line while it is pending; `None` once decided.
pub async fn place_in_line(
    db: &PgPool,
    bookings: &BookingCache,
    current: &Current,
) -> Result<Option<Place>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let (id, event_id, accepted_at, presale_at) = match current {
        _ if !current.is_pending() => return Ok(None),
        Current::Stored(row, _, _) => (row.id, row.event_id, row.accepted_at, row.presale_at),
        Current::Pending(p) => (p.id, p.event_id, p.accepted_at, p.presale_at),
    };
    // `current` may be a moment old: the worker may have parked or decided
    // the request since. Read it again, in one statement with its place; a
    // request decided meanwhile has no place (counting it as still in the
    // queue, behind the whole line, made places jump up at the very end).
    match crate::db::line::place(&mut conn, id).await? {
        Spot::Decided => return Ok(None),
        Spot::Placed { position, ahead } => return Ok(Some(with_estimate(bookings, event_id, position, ahead).await)),
        Spot::Unplaced => {}
    }
    let event = crate::db::events::find_event(&mut conn, event_id).await?;
    let sales_start = event.as_ref().and_then(|e| e.sales_start);
    let prequeued =
        |draw_at| Some(Place { prequeue: true, draw_at, position: None, ahead: None, estimated_wait_seconds: None });
    // Waiting in PostgreSQL for a draw: its presale's, or the event's.
    if let Some(presale_at) = crate::db::line::waiting_for_draw(&mut conn, id).await? {
        return Ok(prequeued(presale_at.or(sales_start)));
    }
    // Still in the queue, taken before its draw (its presale's, or the
    // event's at sales_start) and that draw not made yet: in the pre-queue.
    match event.and_then(|e| e.schedule().round_of(accepted_at, presale_at)) {
        Some(Round::Presale(at)) if !crate::db::line::presale_drawn(&mut conn, event_id, at).await? => {
            return Ok(prequeued(Some(at)));
        }
        Some(Round::Main) if crate::db::line::draw_of(&mut conn, event_id).await?.is_none() => {
            return Ok(prequeued(sales_start));
        }
        _ => {}
    }
    // In the queue (RabbitMQ): behind every request of the event accepted
    // before it (Redis's rank among the pending, those already in the line
    // in PostgreSQL too, whatever their order there), and behind the few of
    // the line accepted after it that overtook it in the queue; never ahead
    // of the line itself (Redis forgets records older than an hour, and a
    // Redis that came back empty remembers none).
    let Some(queued) = crate::db::line::queued(&mut conn, event_id, id, accepted_at).await? else {
        // Parked (or decided) since the read above: its place in the line.
        return Ok(match crate::db::line::place(&mut conn, id).await? {
            Spot::Placed { position, ahead } => Some(with_estimate(bookings, event_id, position, ahead).await),
            Spot::Decided | Spot::Unplaced => None,
        });
    };
    // A presale's holder in line before the sales start: the event's own
    // pre-queue, which Redis counts as accepted before it, goes behind it.
    let presale_line = presale_at.is_some_and(|at| at <= accepted_at) && sales_start.is_some_and(|s| accepted_at < s);
    if presale_line {
        let ahead = queued.line;
        return Ok(Some(with_estimate(bookings, event_id, ahead + 1, ahead).await));
    }
    match bookings.rank(event_id, id).await {
        Ok(Some((rank, _))) => {
            let ahead = (rank as i64 + queued.overtakers).max(queued.line);
            Ok(Some(with_estimate(bookings, event_id, ahead + 1, ahead).await))
        }
        Ok(None) => Ok(None),
        Err(err) => {
            tracing::debug!(error = %err, "place in line unavailable");
            Ok(None)
        }
    }
}

async fn with_estimate(bookings: &BookingCache, event_id: Uuid, position: i64, ahead: i64) -> Place {
    let rate = bookings.decided_rate(event_id).await.unwrap_or(0.0);
    let estimated_wait_seconds = (rate > 0.0).then(|| (ahead as f64 / rate * 10.0).round() / 10.0);
    Place { prequeue: false, draw_at: None, position: Some(position), ahead: Some(ahead), estimated_wait_seconds }
}
