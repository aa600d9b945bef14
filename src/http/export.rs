//! Downloads that last as long as the client reads (the attendee list),
//! bounded so that slow or stalled clients cannot hold what every other
//! request needs: no pool connection is held while a client is waited on
//! (pages are read whole, a few at once across the process), each user has
//! at most [`PER_USER`] downloads running and the process [`RUNNING_MAX`],
//! and each ends after its deadline (`EXPORT_DEADLINE_SECS`). A download cut
//! short ends with an error, never as if the list were complete.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::error::ApiError;

/// Downloads one user may have running at once.
pub const PER_USER: usize = 2;
/// Downloads running at once in this process.
pub const RUNNING_MAX: usize = 32;
/// Pages read from PostgreSQL at once by all downloads of this process.
const READS_AT_ONCE: usize = 2;
/// Rows read per page (a few hundred KiB of CSV).
pub const PAGE_ROWS: i64 = 2000;
/// A client that takes no chunk for this long is dropped.
pub const STALLED_CLIENT: Duration = Duration::from_secs(30);

pub struct Exports {
    running: Mutex<HashMap<Uuid, usize>>,
    reads: Semaphore,
    /// A download still running after this is cut off.
    pub deadline: Duration,
}

impl Exports {
    pub fn new(deadline: Duration) -> Self {
        Self { running: Mutex::default(), reads: Semaphore::new(READS_AT_ONCE), deadline }
    }
}

impl Exports {
    /// A place for one more download of `user`; 429 when they have
    /// [`PER_USER`] running, 503 when the process has [`RUNNING_MAX`]. The
    /// place is freed when the slot drops.
    pub fn start(self: &Arc<Self>, user: Uuid) -> Result<ExportSlot, ApiError> {
        let mut running = self.running.lock().expect("exports poisoned");
        if running.values().sum::<usize>() >= RUNNING_MAX {
            return Err(ApiError::Unavailable("attendee downloads (too many at once)"));
        }
        let count = running.entry(user).or_default();
        if *count >= PER_USER {
            return Err(ApiError::RateLimited { retry_after: 10 });
        }
        *count += 1;
        Ok(ExportSlot { exports: self.clone(), user })
    }

    /// Waits for a turn to read one page.
    pub async fn read_turn(&self) -> SemaphorePermit<'_> {
        self.reads.acquire().await.expect("the semaphore is never closed")
    }
}

pub struct ExportSlot {
    exports: Arc<Exports>,
    user: Uuid,
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut running = self.exports.running.lock().expect("exports poisoned");
        if let Some(count) = running.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                running.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_has_at_most_two_downloads_and_a_finished_one_frees_its_place() {
        let exports = Arc::new(Exports::new(Duration::from_secs(60)));
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let first = exports.start(ada).unwrap();
        let _second = exports.start(ada).unwrap();
        assert!(matches!(exports.start(ada), Err(ApiError::RateLimited { .. })));
        assert!(exports.start(bob).is_ok(), "others are not affected");
        drop(first);
        assert!(exports.start(ada).is_ok());
    }

    #[test]
    fn past_the_process_limit_a_download_waits_whoever_asks() {
        let exports = Arc::new(Exports::new(Duration::from_secs(60)));
        let running: Vec<ExportSlot> = (0..RUNNING_MAX).map(|_| exports.start(Uuid::new_v4()).unwrap()).collect();
        assert!(matches!(exports.start(Uuid::new_v4()), Err(ApiError::Unavailable(_))));
        drop(running);
        assert!(exports.start(Uuid::new_v4()).is_ok());
    }
}
