//! Who may see and change an event: its organizer always, anyone else once
//! it was published. Every route about one event asks here.

use sqlx::PgConnection;
use uuid::Uuid;

use super::extract::CurrentUser;
use crate::db::events::{self as db_events, EventRow};
use crate::domain::event::EventStatus;
use crate::error::{ApiError, ApiResult};

/// Whether `viewer` may see the event: its organizer always; anyone else
/// once it was published (a cancelled event stays visible as cancelled, a
/// cancelled draft does not).
pub(crate) fn visible_to(row: &EventRow, viewer: Option<Uuid>) -> bool {
    viewer == Some(row.organizer_id) || row.published_at.is_some()
}

/// Locks the event for a change by `user`: 404 when they cannot see it,
/// 403 when they can but do not organize it.
pub(crate) async fn lock_as_organizer(conn: &mut PgConnection, id: Uuid, user: CurrentUser) -> ApiResult<EventRow> {
    as_organizer(db_events::lock_event(conn, id).await?, user)
}

/// The event for a read by its organizer (the attendee list, stats, the
/// door), with the same answers as [`lock_as_organizer`]. No lock: scans at
/// the door must not queue behind each other.
pub(crate) async fn organizer_event(conn: &mut PgConnection, id: Uuid, user: CurrentUser) -> ApiResult<EventRow> {
    as_organizer(db_events::find_event(conn, id).await?, user)
}

fn as_organizer(row: Option<EventRow>, user: CurrentUser) -> ApiResult<EventRow> {
    let row = row.filter(|row| visible_to(row, Some(user.id))).ok_or(ApiError::NotFound("event"))?;
    if row.organizer_id != user.id {
        return Err(ApiError::Forbidden);
    }
    Ok(row)
}

pub(crate) fn refuse_if_cancelled(row: &EventRow) -> ApiResult<()> {
    if row.status == EventStatus::Cancelled {
        return Err(ApiError::conflict("the event is cancelled and can no longer change"));
    }
    Ok(())
}
