//! Events: creating, changing, publishing, cancelling and deleting one, its
//! ticket types, and who may see or manage it. The API's handlers and the
//! back office's pages both call here and get typed values back: an event
//! with its ticket types, or an [`EventError`] that says what was refused
//! (and, for a form, which field it is about).
//!
//! What is asked comes in as plain inputs ([`lifecycle::EventInput`],
//! [`ticket_types::TicketTypeInput`], their `…Changes`) and is parsed here
//! into validated fields before anything is written.

pub mod access;
pub mod codes;
pub mod door;
pub mod door_sync;
mod error;
pub mod image;
pub mod lifecycle;
pub mod line;
pub mod messages;
pub mod orders;
pub mod payment;
pub mod questions;
pub mod quotas;
pub mod read;
pub mod ticket_types;

use sqlx::PgPool;
use uuid::Uuid;

use crate::booking::catalog::Catalog;
use crate::cache::BookingCache;
use crate::cache::read::{ReadCache, SharedFailure};
use crate::db::events::{EventRow, TicketTypeRow};
use crate::domain::checkout::Provider;

pub use error::EventError;

/// Ticket types one event may have.
pub const MAX_TICKET_TYPES: usize = 50;

/// An event with its ticket types, as the room answers it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub details: EventRow,
    pub ticket_types: Vec<TicketTypeRow>,
}

/// The parts changing an event uses (borrowed from the process's state):
/// PostgreSQL decides, and the caches that show events are told after.
pub struct EventRoom<'a, E> {
    pub db: &'a PgPool,
    pub catalog: &'a Catalog,
    pub read_cache: &'a ReadCache<E>,
    pub bookings: &'a BookingCache,
    /// Who waiting-list offers (seats added to a type) are paid through.
    pub provider: Provider,
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// After a change to an event: forget it in every cache of this process
    /// and in the shared read cache.
    pub async fn changed(&self, id: Uuid) {
        self.catalog.forget_event(id);
        self.read_cache.invalidate_event(id).await;
    }
}
