//! The line's statistics in Redis, for the waiting room and the organizer:
//! how fast the event's requests are decided, and a pending request's place.
//!
//! Keys (after the prefix):
//! - `decided:{event}:{unix second}`: requests of the event decided in that
//!   second (kept a minute);
//! - `pending:{event}` (`cache::bookings`): read here for places and counts.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{BookingCache, CacheError};

/// Seconds over which the line's rate is measured.
pub const RATE_WINDOW_SECS: i64 = 10;

impl BookingCache {
    /// Counts decisions per event in one-second buckets (kept a minute), for
    /// the line's rate.
    pub async fn record_decided(&self, per_event: &std::collections::HashMap<Uuid, u64>) -> Result<(), CacheError> {
        if per_event.is_empty() {
            return Ok(());
        }
        let second = chrono::Utc::now().timestamp();
        let mut pipe = redis::pipe();
        for (event, n) in per_event {
            let key = self.redis.key(&format!("decided:{event}:{second}"));
            pipe.cmd("INCRBY").arg(&key).arg(*n).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(60).ignore();
        }
        self.redis.query::<()>(&pipe).await
    }

    /// Decisions per second for the event over the last `RATE_WINDOW_SECS` whole seconds.
    pub async fn decided_rate(&self, event_id: Uuid) -> Result<f64, CacheError> {
        let now = chrono::Utc::now().timestamp();
        let mut pipe = redis::pipe();
        let keys: Vec<String> =
            (1..=RATE_WINDOW_SECS).map(|ago| self.redis.key(&format!("decided:{event_id}:{}", now - ago))).collect();
        pipe.cmd("MGET").arg(&keys);
        let (counts,): (Vec<Option<u64>>,) = self.redis.query(&pipe).await?;
        Ok(counts.into_iter().flatten().sum::<u64>() as f64 / RATE_WINDOW_SECS as f64)
    }

    /// Requests of the event accepted before `at` and still pending (in the
    /// queue, or waiting in the line in PostgreSQL).
    pub async fn pending_before(&self, event_id: Uuid, at: DateTime<Utc>) -> Result<u64, CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZCOUNT").arg(self.event_pending_key(event_id)).arg("-inf").arg(format!("({}", at.timestamp_millis()));
        let (count,): (u64,) = self.redis.query(&pipe).await?;
        Ok(count)
    }

    /// The booking's place among the event's pending requests, by acceptance
    /// (0 = first), and how many there are; `None` when it is not pending.
    pub async fn rank(&self, event_id: Uuid, booking_id: Uuid) -> Result<Option<(u64, u64)>, CacheError> {
        let key = self.event_pending_key(event_id);
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANK").arg(&key).arg(booking_id.to_string());
        pipe.cmd("ZCARD").arg(&key);
        let (rank, total): (Option<u64>, u64) = self.redis.query(&pipe).await?;
        Ok(rank.map(|r| (r, total)))
    }
}
