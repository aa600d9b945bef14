//! The line of an event as anyone who may see the event sees it: how many
//! requests wait, how many of them were taken before the sales start for the
//! draw, the draw's seed once made, and how fast the line moves.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::EventError;
use super::access::find_visible;
use crate::cache::BookingCache;
use crate::db;

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatus {
    pub event_id: Uuid,
    /// Booking requests accepted and not yet processed.
    pub pending: i64,
    /// Of them, requests taken before `sales_start` still waiting for the draw.
    pub prequeue: i64,
    pub sales_start: Option<DateTime<Utc>>,
    /// When the pre-queue was drawn, and the seed (hex) that ordered it:
    /// `scripts/draw.py` recomputes the order from it.
    pub shuffled_at: Option<DateTime<Utc>>,
    pub shuffle_seed: Option<String>,
    /// Requests decided per second over the last 10 s.
    pub rate_per_second: f64,
}

/// The line of `event_id`, for `viewer` (anyone, once it is published).
pub async fn of_event(
    pool: &PgPool,
    bookings: &BookingCache,
    viewer: Option<Uuid>,
    event_id: Uuid,
) -> Result<QueueStatus, EventError> {
    let mut conn = pool.acquire().await?;
    let event = find_visible(&mut conn, event_id, viewer).await?.ok_or(EventError::NotFound)?;
    let draw = db::line::draw_of(&mut conn, event_id).await?;
    // Redis counts every pending request (those parked in PostgreSQL too)
    // and the pre-queue; only without it are PostgreSQL's rows counted (a
    // scan of the line: too dear for every reader of a million-buyer line).
    let prequeue_start = event.sales_start.filter(|_| draw.is_none());
    let cached = match bookings.pending_count(event_id).await {
        Ok(pending) => match prequeue_start {
            Some(start) => bookings.pending_before(event_id, start).await.ok().map(|pre| (pending as i64, pre as i64)),
            None => Some((pending as i64, 0)),
        },
        Err(err) => {
            tracing::warn!(error = %err, "pending count from Redis unavailable");
            None
        }
    };
    let (pending, prequeue) = match cached {
        // Never fewer than the line's undecided places (Redis forgets records
        // older than an hour), found from the line's ends.
        Some((pending, prequeue)) => (pending.max(db::line::placed(&mut conn, event_id).await?), prequeue),
        None => {
            let stored = db::bookings::pending_count(&mut conn, event_id).await?;
            let (undrawn, placed) = db::line::counts(&mut conn, event_id).await?;
            (stored.max(undrawn + placed), if prequeue_start.is_some() { undrawn } else { 0 })
        }
    };
    drop(conn);
    let rate = bookings.decided_rate(event_id).await.unwrap_or(0.0);
    Ok(QueueStatus {
        event_id,
        pending,
        prequeue,
        sales_start: event.sales_start,
        shuffled_at: draw.as_ref().map(|(_, at, _)| *at),
        shuffle_seed: draw.as_ref().and_then(|(seed, _, _)| seed.as_deref().map(crate::domain::draw::to_hex)),
        rate_per_second: rate,
    })
}
