//! The waiting list: joining, leaving, and offering seats that come back.
//!
//! [`offer_returned_seats`] runs inside the transaction that frees seats (a
//! cancellation, an expired hold, a raised capacity), under the ticket
//! type's lock, before the seats show on open sale: in list order, each
//! entry that fits gets a held booking (reason `waiting_list_offer`, the
//! event's `offer_hours` to take it) and an email with a link; one that does
//! not fit keeps its place while smaller ones behind it are served (the rule
//! is `domain::waiting::offers`). An offer not taken runs out like any hold,
//! and its seats go to the next entry the same way.

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::cache::bookings::HoldMark;
use crate::db::allocation::{self, Outcomes};
use crate::db::waiting::{self as db, EntryRow};
use crate::domain::booking::{BookingStatus, Reason};
use crate::domain::checkout::Provider;
use crate::domain::event::EventStatus;
use crate::domain::waiting::{Entry, offers};

#[derive(Debug, thiserror::Error)]
pub enum WaitingError {
    #[error("no such ticket type")]
    UnknownTicketType,
    #[error("must be between 1 and {0} for this ticket type")]
    Quantity(i32),
    #[error("seats of this ticket type are on sale: book them instead")]
    NotSoldOut,
    #[error("tickets for this event are not on sale")]
    SalesClosed,
    #[error("you are on the waiting list for this ticket type already")]
    AlreadyWaiting,
    #[error("no such entry of yours on a waiting list")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Joins `user_id` to the waiting list of a sold-out ticket type.
pub async fn join(pool: &PgPool, user_id: Uuid, ticket_type_id: Uuid, quantity: i64) -> Result<EntryRow, WaitingError> {
    let mut tx = pool.begin().await?;
    let tt = allocation::lock_ticket_types(&mut tx, &[ticket_type_id])
        .await?
        .pop()
        .filter(|tt| tt.event_status != EventStatus::Draft)
        .ok_or(WaitingError::UnknownTicketType)?;
    let max = tt.max_per_order.min(tt.max_per_buyer.unwrap_or(i32::MAX));
    if !(1..=i64::from(max)).contains(&quantity) {
        return Err(WaitingError::Quantity(max));
    }
    if tt.event_status == EventStatus::Cancelled
        || !tt.schedule().requests_open(Utc::now(), tt.published_at, tt.prequeue_minutes)
    {
        return Err(WaitingError::SalesClosed);
    }
    // Sold out: no seat of its own, or none left in a quota it draws from.
    let shared = allocation::lock_quotas(&mut tx, &[ticket_type_id]).await?.iter().map(|q| q.remaining).min();
    if shared.map_or(tt.remaining, |left| left.min(tt.remaining)) > 0 {
        return Err(WaitingError::NotSoldOut);
    }
    let entry = db::join(&mut tx, ticket_type_id, tt.event_id, user_id, quantity as i32).await.map_err(|err| {
        match crate::db::violated_constraint(&err) {
            Some(db::ONE_PER_USER) => WaitingError::AlreadyWaiting,
            _ => WaitingError::Database(err),
        }
    })?;
    tx.commit().await?;
    Ok(entry)
}

pub async fn leave(pool: &PgPool, user_id: Uuid, id: Uuid) -> Result<(), WaitingError> {
    let mut conn = pool.acquire().await?;
    if db::leave(&mut conn, id, user_id).await? { Ok(()) } else { Err(WaitingError::NotFound) }
}

/// `user_id`'s entries, newest first, each with its place in its list while
/// it waits.
pub async fn of_user(pool: &PgPool, user_id: Uuid) -> Result<Vec<(EntryRow, Option<i64>)>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows = db::of_user(&mut conn, user_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let positions = db::positions(&mut conn, &ids).await?;
    Ok(rows.into_iter().map(|row| (row.clone(), positions.get(&row.id).copied())).collect())
}

/// Offers the seats now remaining on `ticket_type_id` to its waiting list;
/// returns the buyers given an offer (a hold), for the caller to mark as
/// holders once it committed (`booking::cancel::seats_returned`). The caller
/// holds the ticket type's lock and commits.
pub async fn offer_returned_seats(
    conn: &mut PgConnection,
    ticket_type_id: Uuid,
    provider: Provider,
) -> Result<Vec<HoldMark>, sqlx::Error> {
    let Some(tt) = allocation::lock_ticket_types(conn, &[ticket_type_id]).await?.pop() else {
        return Ok(Vec::new());
    };
    // What may be offered: the type's seats, within what its quotas have
    // left (locked now, before the event's hold lock, as a batch takes them).
    let shared = allocation::lock_quotas(conn, &[ticket_type_id]).await?.iter().map(|q| q.remaining).min();
    let free = shared.map_or(tt.remaining, |left| left.min(tt.remaining));
    let now = Utc::now();
    let selling = tt.event_status == EventStatus::Published
        && tt.schedule().requests_open(now, tt.published_at, tt.prequeue_minutes);
    if free <= 0 || !selling {
        return Ok(Vec::new());
    }
    let waiting = db::waiting_locked(conn, ticket_type_id).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let mut owned = std::collections::HashMap::new();
    if let Some(_limit) = tt.max_per_buyer {
        let users: Vec<Uuid> = waiting.iter().map(|w| w.user_id).collect();
        for (_, user, seats) in allocation::seats_owned(conn, &[ticket_type_id], &users).await? {
            owned.insert(user, seats as i32);
        }
    }
    // An offer is a hold: a buyer with as many unpaid holds in the event as
    // one may, or whose hold of this type ran out a moment ago, is passed
    // over for now and keeps their place. Counted under the event's hold
    // lock, as batches count, taken after the ticket type's lock as they
    // take it (a caller offering several types takes all their events'
    // hold locks first, in order: `holds::seats_back`).
    allocation::lock_holds_of_events(conn, &[tt.event_id]).await?;
    let pairs: Vec<(Uuid, Uuid)> = waiting.iter().map(|w| (tt.event_id, w.user_id)).collect();
    let (holds, lapses) = allocation::spinning(conn, &pairs, &[ticket_type_id]).await?;
    let at_most_holds: std::collections::HashSet<Uuid> = holds
        .into_iter()
        .filter(|(_, _, n)| *n >= crate::domain::checkout::MAX_UNPAID_HOLDS)
        .map(|(_, user, _)| user)
        .collect();
    let cooling: std::collections::HashSet<Uuid> = lapses
        .into_iter()
        .filter(|(_, _, lapsed)| tt.hold_times().cooldown_until(*lapsed, now).is_some())
        .map(|(_, user, _)| user)
        .collect();
    let entries: Vec<Entry> = waiting
        .iter()
        .map(|w| Entry {
            id: w.id,
            quantity: w.quantity,
            may_own: if at_most_holds.contains(&w.user_id) || cooling.contains(&w.user_id) {
                Some(0)
            } else {
                tt.max_per_buyer.map(|limit| limit - owned.get(&w.user_id).copied().unwrap_or(0))
            },
        })
        .collect();
    let chosen = offers(free, &entries);
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let expires_at = now + chrono::Duration::hours(i64::from(tt.offer_hours));
    let mut outcomes = Outcomes::default();
    let mut offered = Vec::new();
    let mut holders = Vec::new();
    let mut seats = 0;
    for entry in waiting.iter().filter(|w| chosen.contains(&w.id)) {
        let booking_id = Uuid::now_v7();
        offered.push(booking_id);
        let until = tt.hold_times().watch_until(expires_at);
        holders.push(HoldMark { event_id: entry.event_id, user_id: entry.user_id, until });
        seats += entry.quantity;
        outcomes.ids.push(booking_id);
        outcomes.user_ids.push(entry.user_id);
        outcomes.event_ids.push(entry.event_id);
        outcomes.ticket_type_ids.push(ticket_type_id);
        outcomes.quantities.push(entry.quantity);
        outcomes.statuses.push(BookingStatus::Held.as_str());
        outcomes.reasons.push(Some(Reason::WaitingListOffer.as_str()));
        outcomes.unit_prices.push(Some(tt.price_cents));
        outcomes.currencies.push(Some(tt.currency.clone()));
        outcomes.keys.push(None);
        outcomes.accepted_at.push(now);
        outcomes.expires_at.push(Some(expires_at));
        outcomes.providers.push(Some(tt.provider(provider).as_str()));
        outcomes.code_ids.push(None);
        outcomes.push_tax(Some(&tt));
    }
    allocation::write_outcomes(conn, &outcomes).await?;
    allocation::take_seats(conn, &[ticket_type_id], &[seats]).await?;
    db::mark_offered(conn, &chosen, &offered).await?;
    crate::db::outbox::enqueue(conn, crate::db::outbox::Kind::WaitingListOffer, &offered).await?;
    crate::webhooks::events::bookings(conn, "waiting_list.offered", &offered).await?;
    tracing::info!(ticket_type.id = %ticket_type_id, offers = offered.len(), seats, "seats offered to the waiting list");
    Ok(holders)
}
