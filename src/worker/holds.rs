//! Releasing holds that ran out, every second, in batches
//! (`booking::holds::release_expired`), and clearing the sold-out flags of
//! the ticket types that got seats back so the next request is heard.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::booking::holds;
use crate::cache::BookingCache;

const EVERY: Duration = Duration::from_secs(1);
/// Holds released per transaction.
const BATCH: i64 = 500;

pub async fn run(
    db: sqlx::PgPool,
    bookings: BookingCache,
    provider: crate::domain::checkout::Provider,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        loop {
            match holds::release_expired(&db, BATCH, provider).await {
                Ok(released) if released.bookings.is_empty() => break,
                Ok(released) => {
                    tracing::info!(holds = released.bookings.len(), "expired holds released");
                    let ticket_types: Vec<uuid::Uuid> = released.seats.keys().copied().collect();
                    crate::booking::cancel::seats_returned(&bookings, &ticket_types, &released.offered).await;
                    if (released.bookings.len() as i64) < BATCH || shutdown.is_cancelled() {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "releasing expired holds failed; trying again");
                    break;
                }
            }
        }
    }
}
