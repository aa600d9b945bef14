//! Whether the booking path is busy: the worker deciding batches one after
//! another, as during a sale. Background work sharing the process's cores
//! (the mailer: QR images, PNGs, files or SMTP, two queries per email) slows
//! down while it is, and catches up once the sale is over.
//!
//! One per process: the worker records its batches, the mailer beside it
//! asks. A mailer in another process yields to its own worker only — the
//! cores it would take are that process's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long after the worker's last batch the booking path counts as busy.
const QUIET_AFTER: Duration = Duration::from_millis(500);

/// The worker's last batch, shared with whatever yields to it; cheap to clone.
#[derive(Clone, Debug)]
pub struct BookingActivity {
    origin: Instant,
    /// Milliseconds after `origin` of the last batch decided, plus one (0: none yet).
    last_batch: Arc<AtomicU64>,
}

impl Default for BookingActivity {
    fn default() -> Self {
        Self { origin: Instant::now(), last_batch: Arc::default() }
    }
}

impl BookingActivity {
    /// The worker decided a batch just now.
    pub fn batch_decided(&self) {
        self.batch_decided_at(Instant::now());
    }

    /// Whether the worker decided a batch within the last half second.
    pub fn busy(&self) -> bool {
        self.busy_at(Instant::now())
    }

    fn batch_decided_at(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.origin).as_millis() as u64 + 1;
        self.last_batch.fetch_max(ms, Ordering::Relaxed);
    }

    fn busy_at(&self, now: Instant) -> bool {
        match self.last_batch.load(Ordering::Relaxed) {
            0 => false,
            ms => {
                let last = self.origin + Duration::from_millis(ms - 1);
                now.saturating_duration_since(last) < QUIET_AFTER
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_for_half_a_second_after_each_batch_and_never_before_the_first() {
        let activity = BookingActivity::default();
        let start = activity.origin;
        assert!(!activity.busy_at(start + Duration::from_secs(5)), "no batch yet");
        activity.batch_decided_at(start + Duration::from_secs(1));
        assert!(activity.busy_at(start + Duration::from_millis(1_100)));
        assert!(activity.busy_at(start + Duration::from_millis(1_499)));
        assert!(!activity.busy_at(start + Duration::from_millis(1_500)));
        // A clone is the same signal; an older batch recorded late changes nothing.
        let worker = activity.clone();
        worker.batch_decided_at(start + Duration::from_secs(3));
        worker.batch_decided_at(start + Duration::from_secs(2));
        assert!(activity.busy_at(start + Duration::from_millis(3_200)));
        assert!(!activity.busy_at(start + Duration::from_millis(3_600)));
    }
}
