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
//! rejected, expired, cancelled), when its session ends (signed out, or a
//! logout anywhere: checked every tick), or after 10 minutes (the browser's
//! EventSource reconnects by itself).
//!
//! Nobody takes the streams for everyone (`booking::waiters`): at most 3
//! streams and waits a person and 2 a booking (429 `too_many_streams`, and
//! the page refreshes itself instead); the streams of one booking share one
//! read per tick; their reads take at most a quarter of the pool.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use uuid::Uuid;

use super::bookings::find_booking;
use super::extract::{CurrentUser, Path};
use crate::booking::waiters::{Refused, Waiting};
use crate::domain::booking::BookingStatus;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;

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
        (status = 404, description = "No such booking of the caller", body = Problem),
        (status = 429, description = "Rate limited (`rate_limited`), or as many streams and waits open as one may: 3 a person, 2 a booking (`too_many_streams`)", body = Problem),
    ))]
pub async fn booking_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // The place first: a stream refused costs no read.
    let waiting = state.waiters.wait_for(id, user.id).map_err(|refused| match refused {
        Refused::TooMany => ApiError::TooManyStreams,
        Refused::Full => ApiError::Unavailable("booking event streams (too many open)"),
    })?;
    let first = find_booking(&state, user.id, id).await?.ok_or(ApiError::NotFound("booking"))?;
    let first = Read { status: first.status, json: serde_json::to_string(&first).unwrap_or_default().into() };
    let watch = Watch { state, user, id, waiting, last: None, next: Some(first), started: Instant::now() };
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        let read = match watch.next.take() {
            Some(read) => read,
            None => watch.changed().await?,
        };
        if !still_moving(read.status) {
            watch.started = Instant::now() - LONGEST; // send this one, then end
        }
        let event = Event::default().event("booking").data(&*read.json);
        watch.last = Some(read.json);
        Some((Ok(event), watch))
    });
    // A comment every few seconds keeps proxies from closing an idle stream,
    // and finds a client that went away (the write fails, the stream is dropped).
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A booking still changes while pending, or held (until paid or run out).
fn still_moving(status: BookingStatus) -> bool {
    matches!(status, BookingStatus::Pending | BookingStatus::Held)
}

/// The booking as read: what decides whether the stream goes on, and what it sends.
struct Read {
    status: BookingStatus,
    json: Arc<str>,
}

struct Watch {
    state: AppState,
    user: CurrentUser,
    id: Uuid,
    /// Registered with the waiters while the stream is open (dropped with it).
    waiting: Waiting,
    /// The last booking sent, as JSON.
    last: Option<Arc<str>>,
    next: Option<Read>,
    started: Instant,
}

impl Watch {
    /// Waits until the booking differs from the last one sent; `None` ends the stream.
    async fn changed(&mut self) -> Option<Read> {
        loop {
            if self.started.elapsed() >= LONGEST {
                return None;
            }
            let notified = self.waiting.signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let streams = self.state.waiters.waiting();
            let tick = TICK + Duration::from_secs((streams / STREAMS_PER_TICK_SECOND) as u64);
            let woken = tokio::time::timeout(tick, notified).await.is_ok();
            // Signed out, or a logout anywhere: the stream ends with its session.
            // The checks and reads are boxed: held inline, their futures would
            // make every idle stream as large as its largest read.
            if Box::pin(self.state.revocations.is_revoked(self.user.session_id)).await.unwrap_or(false) {
                return None;
            }
            // Another stream of this booking read it this tick: the same
            // answer, without a read of its own (an announcement always reads).
            let shared = self.waiting.recent_read(tick / 2).filter(|_| !woken);
            let read = match shared {
                Some((status, json)) => Read { status, json },
                None => match Box::pin(self.read()).await {
                    Ok(Some(read)) => read,
                    Ok(None) => return None,
                    Err(err) => {
                        tracing::debug!(error = ?err, "booking stream read failed; trying at the next tick");
                        continue;
                    }
                },
            };
            if self.last.as_deref() != Some(&*read.json) {
                return Some(read);
            }
        }
    }

    /// Reads the booking, within the streams' share of the pool, and keeps
    /// the read for the booking's other stream.
    async fn read(&self) -> Result<Option<Read>, ApiError> {
        let _turn = self.state.waiters.read_permit().await;
        let Some(booking) = find_booking(&self.state, self.user.id, self.id).await? else { return Ok(None) };
        let json: Arc<str> = serde_json::to_string(&booking).unwrap_or_default().into();
        self.waiting.keep_read((booking.status, json.clone()));
        Ok(Some(Read { status: booking.status, json }))
    }
}
