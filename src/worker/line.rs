//! Moving the line in PostgreSQL (`db::line`): the draw when an event's sales
//! open, then the line decided in order, a chunk per transaction, without
//! waiting for a message of the event to arrive.
//!
//! The draw waits until every request accepted before `sales_start` has
//! reached PostgreSQL: Redis counts the event's pending requests accepted
//! before then, and the draw is made once the line holds as many (or
//! [`DRAW_GRACE`] after the start, should Redis be away or have lost a record).
//! A request that still arrives from before then is decided behind the drawn
//! pre-queue.

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
    for (event_id, sales_start, ticket_types) in waiting {
        if !ready_to_draw(state, event_id, sales_start).await? {
            continue;
        }
        // The draw in a transaction of its own, so the places it gives are
        // visible before the first chunk is decided.
        crate::booking::allocate::draw(&state.db, event_id).await?;
        loop {
            let outcome = allocate_batch(&state.db, &[], &ticket_types, LINE_CHUNK, state.provider).await?;
            let decided = outcome.decided.len();
            super::settled(state, &outcome).await;
            if (decided as i64) < LINE_CHUNK {
                break;
            }
        }
    }
    Ok(())
}

/// Whether the event's draw may be made now (or was made).
async fn ready_to_draw(
    state: &WorkerContext,
    event_id: uuid::Uuid,
    sales_start: chrono::DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut conn = state.db.acquire().await?;
    let (undrawn, _) = crate::db::line::counts(&mut conn, event_id).await?;
    if undrawn == 0 || Utc::now() >= sales_start + DRAW_GRACE {
        return Ok(true);
    }
    // Every request accepted before the start is parked: the line is whole.
    match state.bookings.pending_before(event_id, sales_start).await {
        Ok(accepted) => Ok(accepted as i64 <= undrawn),
        Err(err) => {
            tracing::debug!(error = %err, "Redis cannot say what is still in the queue; waiting for the grace");
            Ok(false)
        }
    }
}
