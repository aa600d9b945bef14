//! Admission control: at most `IN_FLIGHT` requests are worked on at once per
//! process; the rest wait at the door, before authentication, so an
//! overloaded process queues connections, not half-done work. Without it,
//! 10,000 concurrent requests made every Redis call wait behind the others
//! past its timeout, and the fallbacks meant for "Redis is gone" made the
//! overload worse (docs/BENCHMARKS.md). Long-polls (`?wait=`) are let
//! through: they mostly sleep, and holding a slot for 30 s would starve the rest.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

/// Requests worked on at once; enough to keep two cores and the connection
/// pools busy, few enough that nothing inside queues for long.
pub const IN_FLIGHT: usize = 512;

#[derive(Clone)]
pub struct Admission(Arc<Semaphore>);

impl Default for Admission {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(IN_FLIGHT)))
    }
}

pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    if request.uri().query().is_some_and(|q| q.contains("wait=")) {
        return next.run(request).await;
    }
    let _permit = admission.0.acquire().await.expect("the semaphore is never closed");
    next.run(request).await
}
