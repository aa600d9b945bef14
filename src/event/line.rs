//! The line of an event as anyone who may see the event sees it: how many
//! requests wait, how many of them were taken before the sales start for the
//! draw, the draw's seed once made, and how fast the line moves.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::EventError;
use super::access::visible_to;
use crate::booking::status;
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
    let event = db::events::find_event(&mut conn, event_id)
        .await?
        .filter(|row| visible_to(row, viewer))
        .ok_or(EventError::NotFound)?;
    let (stored, cached) = status::in_line(&mut conn, bookings, event_id).await?;
    let (undrawn, placed) = db::line::counts(&mut conn, event_id).await?;
    let draw = db::line::draw_of(&mut conn, event_id).await?;
    drop(conn);
    let rate = bookings.decided_rate(event_id).await.unwrap_or(0.0);
    // Redis counts every pending request (those parked in PostgreSQL too);
    // without it, PostgreSQL's own.
    let pending = cached.map_or(stored, |c| c as i64);
    let prequeue = match (draw.is_some(), event.sales_start) {
        (false, Some(start)) => bookings.pending_before(event_id, start).await.map_or(undrawn, |n| n as i64),
        _ => 0,
    };
    Ok(QueueStatus {
        event_id,
        pending: pending.max(undrawn + placed),
        prequeue,
        sales_start: event.sales_start,
        shuffled_at: draw.as_ref().map(|(_, at, _)| *at),
        shuffle_seed: draw.as_ref().and_then(|(seed, _, _)| seed.as_deref().map(crate::domain::draw::to_hex)),
        rate_per_second: rate,
    })
}
