//! Who may book: with `EMAIL_VERIFICATION=on`, only accounts whose address is
//! verified. A verified account stays verified, so each process remembers
//! them (one primary-key read per buyer, not per booking).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use uuid::Uuid;

/// Why an account may not book.
#[derive(Debug, thiserror::Error)]
pub enum NotAllowed {
    #[error("the address is not verified")]
    Unverified,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Accounts remembered at most (then the memory starts over).
const REMEMBERED_MAX: usize = 1_000_000;

#[derive(Clone)]
pub struct VerifiedBuyers {
    required: bool,
    db: PgPool,
    known: Arc<Mutex<HashSet<Uuid>>>,
}

impl VerifiedBuyers {
    pub fn new(required: bool, db: PgPool) -> Self {
        Self { required, db, known: Arc::default() }
    }

    /// Whether `user_id` may book.
    pub async fn require(&self, user_id: Uuid) -> Result<(), NotAllowed> {
        if !self.required || self.known.lock().expect("poisoned").contains(&user_id) {
            return Ok(());
        }
        let mut conn = self.db.acquire().await?;
        if crate::db::users::is_verified(&mut conn, user_id).await? != Some(true) {
            return Err(NotAllowed::Unverified);
        }
        let mut known = self.known.lock().expect("poisoned");
        if known.len() >= REMEMBERED_MAX {
            known.clear();
        }
        known.insert(user_id);
        Ok(())
    }
}
