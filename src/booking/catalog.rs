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

use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub use crate::db::events::Offer;
use crate::domain::code::CodeRule;
use crate::domain::question::Question;

pub const TTL: Duration = Duration::from_secs(1);
/// Past this many entries the cache starts over (it refills in a second).
const MAX_ENTRIES: usize = 100_000;

type Slot = Arc<OnceCell<Option<Arc<Offer>>>>;
type RulesSlot = Arc<OnceCell<Arc<EventRules>>>;

/// What an event asks of a request beyond its ticket type: the codes it
/// takes and the questions it asks.
#[derive(Debug, Default)]
pub struct EventRules {
    pub codes: Vec<CodeRule>,
    pub questions: Vec<Question>,
}

#[derive(Clone)]
pub struct Catalog {
    db: PgPool,
    slots: Arc<Mutex<HashMap<Uuid, (Instant, Slot)>>>,
    /// The codes and questions of each event, kept like offers: a sale
    /// where every buyer types the one code costs PostgreSQL a query a second.
    rules: Arc<Mutex<HashMap<Uuid, (Instant, RulesSlot)>>>,
    /// PostgreSQL reads made for offers: the accept path's only queries
    /// (`boxoffice_offer_loads_total` in /metrics).
    pub loads: Arc<std::sync::atomic::AtomicU64>,
}

impl Catalog {
    pub fn new(db: PgPool) -> Self {
        Self { db, slots: Arc::default(), rules: Arc::default(), loads: Arc::default() }
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

    /// The code of `event_id` spelled `code` (normalized), if there is one.
    pub async fn code(&self, event_id: Uuid, code: &str) -> Result<Option<CodeRule>, sqlx::Error> {
        Ok(self.rules(event_id).await?.codes.iter().find(|rule| rule.code == code).cloned())
    }

    /// The codes and questions of `event_id`.
    pub async fn rules(&self, event_id: Uuid) -> Result<Arc<EventRules>, sqlx::Error> {
        let slot = {
            let mut slots = self.rules.lock().expect("catalog poisoned");
            if slots.len() > MAX_ENTRIES {
                slots.clear();
            }
            match slots.get(&event_id).filter(|(loaded, _)| loaded.elapsed() < TTL) {
                Some((_, slot)) => slot.clone(),
                None => {
                    let slot = RulesSlot::default();
                    slots.insert(event_id, (Instant::now(), slot.clone()));
                    slot
                }
            }
        };
        let load = || async {
            self.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut conn = self.db.acquire().await?;
            let codes = crate::db::codes::rules_of_event(&mut conn, event_id).await?;
            let questions = crate::db::questions::of_event(&mut conn, event_id).await?;
            Ok::<_, sqlx::Error>(Arc::new(EventRules { codes, questions }))
        };
        match slot.get_or_try_init(load).await {
            Ok(rules) => Ok(rules.clone()),
            Err(err) => {
                self.rules.lock().expect("catalog poisoned").remove(&event_id);
                Err(err)
            }
        }
    }

    /// Drops the entries of an event after a change to it in this process.
    pub fn forget_event(&self, event_id: Uuid) {
        self.rules.lock().expect("catalog poisoned").remove(&event_id);
        self.slots
            .lock()
            .expect("catalog poisoned")
            .retain(|_, (_, slot)| !matches!(slot.get(), Some(Some(offer)) if offer.event_id == event_id));
    }

    async fn load(&self, ticket_type_id: Uuid) -> Result<Option<Arc<Offer>>, sqlx::Error> {
        self.loads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(crate::db::events::offer(&self.db, ticket_type_id).await?.map(Arc::new))
    }
}
