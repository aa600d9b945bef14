//! The booking as it is now, in one place: PostgreSQL once the worker has
//! written it, the pending record in Redis before (and PostgreSQL's pending
//! rows for what was accepted while Redis was down). Handlers ask here and
//! only turn the answer into JSON.

use std::collections::{HashMap, HashSet};

use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::BookingCache;
use crate::cache::bookings::PendingBooking;
use crate::db::bookings::{self as db, BookingRow, TicketRow};
use crate::db::payments::Money;

/// One booking as it is now.
#[derive(Debug)]
pub enum Current {
    /// Written by the worker (or accepted while Redis was down), with its
    /// tickets, payment and refund.
    Stored(Box<BookingRow>, Vec<TicketRow>, Money),
    /// Accepted, in the queue; only Redis knows it yet.
    Pending(PendingBooking),
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

/// Booking requests of the event accepted and not yet decided: PostgreSQL's
/// (accepted while Redis was down) and Redis's (`None` from Redis when it
/// cannot say).
pub async fn in_line(
    conn: &mut sqlx::PgConnection,
    bookings: &BookingCache,
    event_id: Uuid,
) -> Result<(i64, Option<u64>), sqlx::Error> {
    let stored = db::pending_count(conn, event_id).await?;
    let cached = match bookings.pending_count(event_id).await {
        Ok(count) => Some(count),
        Err(err) => {
            tracing::warn!(error = %err, "pending count from Redis unavailable");
            None
        }
    };
    Ok((stored, cached))
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
