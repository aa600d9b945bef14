//! `GET /api/v1/bookings/{id}/events`: the booking as it changes, as a
//! stream of server-sent events, for pages (the waiting room).
//!
//! A stream holds no database connection while it waits: it sleeps on the
//! booking's decision announcement (`booking::waiters`, woken by the
//! worker's `NOTIFY`) or a tick, then reads the booking once (a connection
//! for the read only) and sends it if anything changed (status, place). The
//! tick stretches with the number of open streams (every 2 s up to 2,000
//! streams, then one more second per 2,000) so 10,000 watchers cost the
//! database about 2,000 reads a second, not 10,000; decisions still arrive
//! at once. A stream ends when the booking is decided for good (confirmed,
//! rejected, expired, cancelled) or after 10 minutes (the browser's
//! EventSource reconnects by itself).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use uuid::Uuid;

use super::bookings::{Booking, find_booking};
use super::extract::{CurrentUser, Path};
use crate::app::AppState;
use crate::booking::waiters::Waiting;
use crate::domain::booking::BookingStatus;
use crate::error::{ApiError, ApiResult, Problem};

const TICK: Duration = Duration::from_secs(2);
const STREAMS_PER_TICK_SECOND: usize = 2_000;
const LONGEST: Duration = Duration::from_secs(600);
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The booking as it changes: an `event: booking` with the Booking (JSON)
/// first, then again on every change of status or place; ends once decided.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/events", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`text/event-stream` of `booking` events, each a Booking", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such booking of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn booking_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let first = find_booking(&state, user.id, id).await?.ok_or(ApiError::NotFound("booking"))?;
    let waiting = state.waiters.wait_for(id).ok_or(ApiError::Unavailable("booking event streams (too many open)"))?;
    let watch =
        Watch { state, user_id: user.id, id, waiting, last: String::new(), next: Some(first), started: Instant::now() };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        let booking = match watch.next.take() {
            Some(booking) => booking,
            None => watch.changed().await?,
        };
        let json = serde_json::to_string(&booking).unwrap_or_default();
        watch.last.clone_from(&json);
        if !still_moving(booking.status) {
            watch.started = Instant::now() - LONGEST; // send this one, then end
        }
        Some((Ok(Event::default().event("booking").data(json)), watch))
    });
    // A comment every few seconds keeps proxies from closing an idle stream,
    // and finds a client that went away (the write fails, the stream is dropped).
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A booking still changes while pending, or held (until paid or run out).
fn still_moving(status: BookingStatus) -> bool {
    matches!(status, BookingStatus::Pending | BookingStatus::Held)
}

struct Watch {
    state: AppState,
    user_id: Uuid,
    id: Uuid,
    /// Registered with the waiters while the stream is open (dropped with it).
    waiting: Waiting,
    /// The last booking sent, as JSON.
    last: String,
    next: Option<Booking>,
    started: Instant,
}

impl Watch {
    /// Waits until the booking differs from the last one sent; `None` ends the stream.
    async fn changed(&mut self) -> Option<Booking> {
        loop {
            if self.started.elapsed() >= LONGEST {
                return None;
            }
            let notified = self.waiting.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let streams = self.state.waiters.waiting();
            let tick = TICK + Duration::from_secs((streams / STREAMS_PER_TICK_SECOND) as u64);
            let _ = tokio::time::timeout(tick, notified).await;
            let booking = match find_booking(&self.state, self.user_id, self.id).await {
                Ok(Some(booking)) => booking,
                Ok(None) => return None,
                Err(err) => {
                    tracing::debug!(error = ?err, "booking stream read failed; trying at the next tick");
                    continue;
                }
            };
            if serde_json::to_string(&booking).unwrap_or_default() != self.last {
                return Some(booking);
            }
        }
    }
}
