//! An event's shared quotas, as its organizer makes them: a capacity that
//! several of its ticket types draw from, on top of their own.

use uuid::Uuid;

use super::access::{event_for, lock_for, refuse_if_cancelled};
use super::{EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::quotas::QuotaRow;
use crate::domain::Violations;
use crate::domain::team::Action;

/// A quota to make, as asked.
#[derive(Debug, Clone, Default)]
pub struct QuotaInput {
    pub name: String,
    pub capacity: i64,
    pub ticket_type_ids: Vec<Uuid>,
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Makes a quota over ticket types of the event. Seats its types have
    /// held or sold already count against it (409 when they are more).
    pub async fn create_quota(&self, user_id: Uuid, event_id: Uuid, input: QuotaInput) -> Result<QuotaRow, EventError> {
        let mut tx = self.db.begin().await?;
        refuse_if_cancelled(&lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?)?;
        let types: Vec<Uuid> =
            db::events::ticket_types_of(&mut tx, &[event_id]).await?.into_iter().map(|t| t.id).collect();
        let mut v = Violations::new();
        let name = v.line("name", &input.name, 1, crate::domain::event::TICKET_TYPE_NAME_MAX);
        let capacity = v.range("capacity", input.capacity, 1, crate::domain::event::CAPACITY_MAX);
        let mut ids = input.ticket_type_ids.clone();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            v.add("ticket_type_ids", "name the ticket types that share it");
        } else if let Some(other) = ids.iter().find(|id| !types.contains(id)) {
            v.add("ticket_type_ids", format!("{other} is not a ticket type of this event"));
        }
        let (name, capacity) = v.finish_with(name.zip(capacity))?;
        // The types' locks, as a batch takes them: nothing is sold meanwhile.
        crate::db::allocation::lock_rows(&mut tx, &ids).await?;
        let taken = db::quotas::taken(&mut tx, &ids).await?;
        if taken > capacity {
            return Err(EventError::CapacityBelowSold(taken as i32));
        }
        let row = db::quotas::insert(&mut tx, event_id, &name, capacity as i32, (capacity - taken) as i32, &ids)
            .await
            .map_err(|err| {
                if db::violated_constraint(&err) == Some(db::quotas::NAME_TAKEN) {
                    EventError::NameTaken
                } else {
                    err.into()
                }
            })?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(row)
    }

    /// The event's quotas, with what each has left.
    pub async fn quotas(&self, user_id: Uuid, event_id: Uuid) -> Result<Vec<QuotaRow>, EventError> {
        let mut conn = self.db.acquire().await?;
        // What is left of each is sales, as the orders are.
        event_for(&mut conn, event_id, user_id, Action::ViewOrders).await?;
        Ok(db::quotas::of_event(&mut conn, event_id).await?)
    }
}
