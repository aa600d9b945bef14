//! Holds that ran out: the worker releases them in batches, each in one
//! transaction that takes the ticket types' locks in id order first (the
//! allocation's lock order), so it never deadlocks with a batch, a payment or
//! a cancellation, and a payment arriving in the same instant finds the
//! booking either still held (and confirms it) or expired (and takes the
//! late-payment path): exactly one of the two. Freed seats go to the waiting
//! list first (`booking::waiting`).

use std::collections::BTreeMap;

use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::bookings::HoldMark;
use crate::db::allocation;
use crate::domain::checkout::Provider;

/// Holds released by one pass, per ticket type (seats returned), and the
/// buyers their seats were offered to (new holds).
#[derive(Debug, Default)]
pub struct Released {
    pub bookings: Vec<Uuid>,
    pub seats: BTreeMap<Uuid, i32>,
    pub offered: Vec<HoldMark>,
}

/// Releases up to `limit` holds that are due, oldest first; their seats are
/// offered to the waiting list (new holds for `provider`), the rest go back on sale.
pub async fn release_expired(db: &PgPool, limit: i64, provider: Provider) -> Result<Released, sqlx::Error> {
    let mut tx = db.begin().await?;
    let due = crate::db::bookings::due_holds(&mut tx, limit).await?;
    if due.is_empty() {
        return Ok(Released::default());
    }
    let mut due_types: Vec<Uuid> = due.iter().map(|(_, tt)| *tt).collect();
    due_types.sort();
    due_types.dedup();
    // With the types sharing a quota with them: the seats coming back are
    // theirs to sell and to offer too.
    let ticket_types = crate::db::quotas::sharing(&mut tx, &due_types).await?;
    allocation::lock_rows(&mut tx, &ticket_types).await?;
    // Under the locks: a hold paid (or cancelled) meanwhile is no longer `held`.
    let ids: Vec<Uuid> = due.iter().map(|(id, _)| *id).collect();
    let expired = crate::db::bookings::expire_holds(&mut tx, &ids).await?;
    let mut released = Released::default();
    for (id, tt, quantity) in expired {
        released.bookings.push(id);
        *released.seats.entry(tt).or_default() += quantity;
    }
    if !released.bookings.is_empty() {
        for tt in &ticket_types {
            released.seats.entry(*tt).or_default();
        }
    }
    // An offer that ran out is over; its seats go to the next entry.
    crate::db::waiting::close_offers(&mut tx, &released.bookings).await?;
    released.offered = seats_back(&mut tx, &released.seats, provider).await?;
    tx.commit().await?;
    Ok(released)
}

/// Seats that come back (an expired hold): offered to the waiting list first,
/// in this transaction, then on open sale. Returns the buyers offered seats.
pub async fn seats_back(
    conn: &mut sqlx::PgConnection,
    seats: &BTreeMap<Uuid, i32>,
    provider: Provider,
) -> Result<Vec<HoldMark>, sqlx::Error> {
    let (ids, taken): (Vec<Uuid>, Vec<i32>) = seats.iter().map(|(tt, n)| (*tt, -n)).unzip();
    allocation::take_seats(&mut *conn, &ids, &taken).await?;
    // The offers below take their events' hold locks: all of them first, in
    // the one order every transaction takes them, never one event after another.
    let mut events: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT event_id FROM ticket_types WHERE id = ANY($1) ORDER BY event_id")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
    events.dedup();
    allocation::lock_holds_of_events(&mut *conn, &events).await?;
    let mut offered = Vec::new();
    for tt in seats.keys() {
        offered.extend(crate::booking::waiting::offer_returned_seats(&mut *conn, *tt, provider).await?);
    }
    Ok(offered)
}
