//! What the accept path needs to know about a ticket type, cached in the
//! process for a second so a stampede on one ticket type costs PostgreSQL one
//! query, not one per request.
//!
//! A stale entry is harmless: the worker re-checks everything inside its
//! transaction (the event may have been cancelled meanwhile). Writes in this
//! process drop the event's entries at once; other replicas see the change
//! within [`TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::domain::event::{EventStatus, Schedule};

pub const TTL: Duration = Duration::from_secs(1);
/// Past this many entries the cache starts over (it refills in a second).
const MAX_ENTRIES: usize = 100_000;

/// A ticket type as offered for sale.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Offer {
    pub ticket_type_id: Uuid,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    /// The price as the buyer sees it now (carried in the queue message).
    pub price_cents: i64,
    pub currency: String,
}

impl Offer {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
        }
    }
}

type Slot = Arc<OnceCell<Option<Arc<Offer>>>>;

#[derive(Clone)]
pub struct Catalog {
    db: PgPool,
    slots: Arc<Mutex<HashMap<Uuid, (Instant, Slot)>>>,
    /// PostgreSQL reads made for offers: the accept path's only queries
    /// (`boxoffice_offer_loads_total` in /metrics).
    pub loads: Arc<std::sync::atomic::AtomicU64>,
}

impl Catalog {
    pub fn new(db: PgPool) -> Self {
        Self { db, slots: Arc::default(), loads: Arc::default() }
    }

    /// The offer of a ticket type (`None`: no such ticket type). Concurrent
    /// callers for the same cold entry share one query.
    pub async fn offer(&self, ticket_type_id: Uuid) -> Result<Option<Arc<Offer>>, sqlx::Error> {
        let slot = {
            let mut slots = self.slots.lock().expect("catalog poisoned");
            if slots.len() > MAX_ENTRIES {
                slots.clear();
            }
            let fresh = |(loaded, _): &(Instant, Slot)| loaded.elapsed() < TTL;
            match slots.get(&ticket_type_id).filter(|entry| fresh(entry)) {
                Some((_, slot)) => slot.clone(),
                None => {
                    let slot = Slot::default();
                    slots.insert(ticket_type_id, (Instant::now(), slot.clone()));
                    slot
                }
            }
        };
        let result = slot.get_or_try_init(|| self.load(ticket_type_id)).await.cloned();
        if result.is_err() {
            // Do not cache a failure.
            self.slots.lock().expect("catalog poisoned").remove(&ticket_type_id);
        }
        result
    }

    /// Drops the entries of an event after a change to it in this process.
    pub fn forget_event(&self, event_id: Uuid) {
        self.slots
            .lock()
            .expect("catalog poisoned")
            .retain(|_, (_, slot)| !matches!(slot.get(), Some(Some(offer)) if offer.event_id == event_id));
    }

    async fn load(&self, ticket_type_id: Uuid) -> Result<Option<Arc<Offer>>, sqlx::Error> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let offer: Option<Offer> = sqlx::query_as(
            "SELECT t.id AS ticket_type_id, t.event_id, e.organizer_id, e.status AS event_status, e.starts_at,
                    e.ends_at, e.sales_start, e.sales_end, e.published_at, t.max_per_order, t.max_per_buyer, t.price_cents,
                    t.currency
             FROM ticket_types t JOIN events e ON e.id = t.event_id WHERE t.id = $1",
        )
        .bind(ticket_type_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(offer.map(Arc::new))
    }
}
