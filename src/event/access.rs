//! Who may see and change an event: the members of its organization, each
//! as their role allows (`domain::team`); anyone else once it was
//! published. Every route and page about one event asks here, and every
//! question of a person against an organization goes through [`authorize`].

use sqlx::PgConnection;
use uuid::Uuid;

use super::EventError;
use crate::db::events::{self as db_events, EventRow};
use crate::db::teams;
use crate::domain::event::EventStatus;
use crate::domain::team::{Action, Role};

/// Why a person may not do something to an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a member.
    NotMember,
    /// A member whose role does not allow it.
    NotAllowed(Role),
}

/// The one authorization check: whether `person` may do `action` in
/// `organization_id`; their role when they may.
pub async fn authorize(
    conn: &mut PgConnection,
    person: Uuid,
    organization_id: Uuid,
    action: Action,
) -> Result<Result<Role, Refusal>, sqlx::Error> {
    Ok(match teams::role_of(conn, organization_id, person).await? {
        None => Err(Refusal::NotMember),
        Some(role) if role.allows(action) => Ok(role),
        Some(role) => Err(Refusal::NotAllowed(role)),
    })
}

/// Whether `person` may do `action` in `organization_id`.
pub async fn may(
    conn: &mut PgConnection,
    person: Uuid,
    organization_id: Uuid,
    action: Action,
) -> Result<bool, sqlx::Error> {
    Ok(authorize(conn, person, organization_id, action).await?.is_ok())
}

/// Whether the public may see the event: once it was published (a
/// cancelled event stays visible as cancelled, a cancelled draft does not).
pub fn public(row: &EventRow) -> bool {
    row.published_at.is_some()
}

/// Whether `viewer` may see the event: a member of its organization always,
/// anyone else once it was published.
pub async fn visible_to(conn: &mut PgConnection, row: &EventRow, viewer: Option<Uuid>) -> Result<bool, sqlx::Error> {
    if public(row) {
        return Ok(true);
    }
    match viewer {
        Some(viewer) => Ok(teams::role_of(conn, row.organization_id, viewer).await?.is_some()),
        None => Ok(false),
    }
}

/// Event `id`, if `viewer` may see it.
pub async fn find_visible(
    conn: &mut PgConnection,
    id: Uuid,
    viewer: Option<Uuid>,
) -> Result<Option<EventRow>, sqlx::Error> {
    let Some(row) = db_events::find_event(conn, id).await? else { return Ok(None) };
    Ok(visible_to(conn, &row, viewer).await?.then_some(row))
}

/// Locks the event for `action` by `user_id`: not found when they cannot
/// see it, not theirs when they can but may not do it.
pub async fn lock_for(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
    action: Action,
) -> Result<EventRow, EventError> {
    let row = db_events::lock_event(conn, id).await?;
    allowed(conn, row, user_id, action).await
}

/// The event for `action` by `user_id` (the attendee list, stats, the door),
/// with the same answers as [`lock_for`]. No lock: scans at the door must
/// not queue behind each other.
pub async fn event_for(
    conn: &mut PgConnection,
    id: Uuid,
    user_id: Uuid,
    action: Action,
) -> Result<EventRow, EventError> {
    let row = db_events::find_event(conn, id).await?;
    allowed(conn, row, user_id, action).await
}

async fn allowed(
    conn: &mut PgConnection,
    row: Option<EventRow>,
    user_id: Uuid,
    action: Action,
) -> Result<EventRow, EventError> {
    let row = row.ok_or(EventError::NotFound)?;
    match authorize(conn, user_id, row.organization_id, action).await? {
        Ok(_) => Ok(row),
        // A draft is nobody's business outside its organization.
        Err(Refusal::NotMember) if !public(&row) => Err(EventError::NotFound),
        Err(_) => Err(EventError::NotOrganizer),
    }
}

pub fn refuse_if_cancelled(row: &EventRow) -> Result<(), EventError> {
    if row.status == EventStatus::Cancelled {
        return Err(EventError::Cancelled);
    }
    Ok(())
}
