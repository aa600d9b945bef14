//! Who may see and change an event: its organizer always, anyone else once
//! it was published. Every route and page about one event asks here.

use sqlx::PgConnection;
use uuid::Uuid;

use super::EventError;
use crate::db::events::{self as db_events, EventRow};
use crate::domain::event::EventStatus;

/// Whether `viewer` may see the event: its organizer always; anyone else
/// once it was published (a cancelled event stays visible as cancelled, a
/// cancelled draft does not).
pub fn visible_to(row: &EventRow, viewer: Option<Uuid>) -> bool {
    viewer == Some(row.organizer_id) || row.published_at.is_some()
}

/// Locks the event for a change by `user_id`: not found when they cannot
/// see it, not theirs when they can but do not organize it.
pub async fn lock_as_organizer(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> Result<EventRow, EventError> {
    as_organizer(db_events::lock_event(conn, id).await?, user_id)
}

/// The event for a read by its organizer (the attendee list, stats, the
/// door), with the same answers as [`lock_as_organizer`]. No lock: scans at
/// the door must not queue behind each other.
pub async fn organizer_event(conn: &mut PgConnection, id: Uuid, user_id: Uuid) -> Result<EventRow, EventError> {
    as_organizer(db_events::find_event(conn, id).await?, user_id)
}

fn as_organizer(row: Option<EventRow>, user_id: Uuid) -> Result<EventRow, EventError> {
    let row = row.filter(|row| visible_to(row, Some(user_id))).ok_or(EventError::NotFound)?;
    if row.organizer_id != user_id {
        return Err(EventError::NotOrganizer);
    }
    Ok(row)
}

pub fn refuse_if_cancelled(row: &EventRow) -> Result<(), EventError> {
    if row.status == EventStatus::Cancelled {
        return Err(EventError::Cancelled);
    }
    Ok(())
}
