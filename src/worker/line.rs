//! Moving the line in PostgreSQL (`db::line`): the draw when an event's sales
//! open, then the line decided in order, a chunk per transaction, without
//! waiting for a message of the event to arrive.
//!
//! The draw waits until every request accepted before `sales_start` has
//! reached PostgreSQL: Redis counts the event's pending requests accepted
//! before then, and the draw is made once PostgreSQL holds as many (or
//! [`DRAW_GRACE`] after the start, should Redis be away or have lost a record).
//! A request that still arrives from before then is decided behind the drawn
//! pre-queue. A presale's draw, at its time, the same way.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::WorkerContext;
use crate::booking::allocate::{LINE_CHUNK, allocate_batch};

const EVERY: Duration = Duration::from_millis(200);
pub const DRAW_GRACE: Duration = Duration::from_secs(10);

pub async fn run(state: WorkerContext, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(err) = move_lines(&state).await {
            tracing::warn!(error = %err, "moving the line failed; trying again");
        }
    }
}

async fn move_lines(state: &WorkerContext) -> Result<(), sqlx::Error> {
    let waiting = crate::db::line::waiting(&mut *state.db.acquire().await?).await?;
    'events: for line in waiting {
        let rounds = crate::db::line::due_rounds(&mut *state.db.acquire().await?, &line).await?;
        for (round, at) in rounds {
            // A cancelled event's requests are all refused: no order to wait for.
            if !line.cancelled && !ready_to_draw(state, line.event_id, round, at).await? {
                continue 'events;
            }
            // The draw in a transaction of its own, so the places it gives are
            // visible before the first chunk is decided.
            crate::booking::allocate::draw(&state.db, line.event_id, round).await?;
        }
        loop {
            let outcome = allocate_batch(&state.db, &[], &line.ticket_types, LINE_CHUNK, state.provider).await?;
            let decided = outcome.decided.len();
            super::settled(state, &outcome).await;
            if (decided as i64) < LINE_CHUNK {
                break;
            }
        }
    }
    Ok(())
}

/// Whether the draw `round` (due at `at`) may be made now: nothing waits
/// for it, or every request accepted before `at` has reached PostgreSQL,
/// or the grace is over.
async fn ready_to_draw(
    state: &WorkerContext,
    event_id: uuid::Uuid,
    round: crate::domain::draw::Round,
    at: chrono::DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut conn = state.db.acquire().await?;
    if Utc::now() >= at + DRAW_GRACE || crate::db::line::undrawn(&mut conn, event_id, round).await? == 0 {
        return Ok(true);
    }
    // Every request accepted before then is in PostgreSQL: the line is whole.
    match state.bookings.pending_before(event_id, at).await {
        Ok(accepted) => Ok(accepted as i64 <= crate::db::line::pending_before(&mut conn, event_id, at).await?),
        Err(err) => {
            tracing::debug!(error = %err, "Redis cannot say what is still in the queue; waiting for the grace");
            Ok(false)
        }
    }
}
