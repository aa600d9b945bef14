//! Events as their readers see them, for the web pages: one event (a draft
//! only to its organizer) and the list of coming events, through the read
//! cache like the API's own reads (a crowd opens these pages at an on-sale),
//! but as the room's typed rows, never the API's JSON.

use axum::body::Bytes;
use uuid::Uuid;

use super::access::{find_visible, public};
use super::{Event, EventError, EventRoom};
use crate::cache::read::{SharedFailure, event_rows_key, listed_rows_key};
use crate::db::events::{self as db_events, ListFilter};
use crate::domain::Violations;

/// Events the pages list at most.
pub const LISTED: i64 = 50;

impl<E: SharedFailure + From<sqlx::Error>> EventRoom<'_, E> {
    /// The event as `viewer` may see it, or `None` (no such event, or a
    /// draft of someone else). What everyone may see is cached and shared.
    pub async fn visible(&self, viewer: Option<Uuid>, id: Uuid) -> Result<Option<Event>, E> {
        let db = self.db.clone();
        let public = self
            .read_cache
            .get_or_load(&event_rows_key(id), || async move {
                let mut conn = db.acquire().await?;
                let found = db_events::find_event(&mut conn, id).await?;
                let Some(details) = found.filter(public) else { return Ok(None) };
                let ticket_types = db_events::ticket_types_of(&mut conn, &[id]).await?;
                Ok(encoded(&Event { details, ticket_types }).map(|bytes| (bytes, true)))
            })
            .await?;
        match public.map(|bytes| serde_json::from_slice(&bytes)) {
            Some(Ok(event)) => return Ok(Some(event)),
            // Nothing everyone may see, and nobody who could see a draft.
            None if viewer.is_none() => return Ok(None),
            _ => {}
        }
        // A draft for its organizer (never cached), or a cache entry this
        // version cannot read: from PostgreSQL.
        let mut conn = self.db.acquire().await?;
        let Some(details) = find_visible(&mut conn, id, viewer).await? else { return Ok(None) };
        let ticket_types = db_events::ticket_types_of(&mut conn, &[id]).await?;
        Ok(Some(Event { details, ticket_types }))
    }

    /// Published events by start time, the first [`LISTED`]; with `text`,
    /// those whose title, venue or description has its words, the best
    /// matches first (not cached). A search is a line of 1 to 200
    /// characters, as the API's `q`.
    pub async fn listed(&self, text: Option<&str>) -> Result<Vec<Event>, E>
    where
        E: From<EventError>,
    {
        let text = match text {
            Some(text) => {
                let mut v = Violations::new();
                let checked = v.line("q", text, 1, 200);
                Some(v.finish_with(checked).map_err(|errors| E::from(EventError::Invalid(errors)))?)
            }
            None => None,
        };
        let filter = ListFilter {
            organizer_id: None,
            search: text.as_deref().map(db_events::Search::new),
            from: None,
            to: None,
            after: None,
            limit: LISTED,
        };
        if filter.search.is_some() {
            return list(self.db, &filter).await.map_err(E::from);
        }
        let db = self.db.clone();
        let cached = self
            .read_cache
            .get_or_load(&listed_rows_key(), || async move {
                let events = list(&db, &filter).await?;
                Ok(encoded(&events).map(|bytes| (bytes, true)))
            })
            .await?;
        match cached.and_then(|bytes| serde_json::from_slice(&bytes).ok()) {
            Some(events) => Ok(events),
            None => list(self.db, &filter_all()).await.map_err(E::from),
        }
    }
}

/// An organizer's own events in any status, by start time, the first
/// `limit` (never cached: drafts are among them).
pub async fn organized_by(db: &sqlx::PgPool, organizer: Uuid, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    let filter = ListFilter { organizer_id: Some(organizer), limit, ..filter_all() };
    list(db, &filter).await
}

fn filter_all() -> ListFilter {
    ListFilter { organizer_id: None, search: None, from: None, to: None, after: None, limit: LISTED }
}

async fn list(db: &sqlx::PgPool, filter: &ListFilter) -> Result<Vec<Event>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let rows = db_events::list(&mut conn, filter).await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut ticket_types = db_events::ticket_types_of(&mut conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|details| {
            let mine = ticket_types.extract_if(.., |tt| tt.event_id == details.id).collect();
            Event { details, ticket_types: mine }
        })
        .collect())
}

/// The rows as cached; `None` (not cached, read again next time) if they
/// cannot be written, which rows of plain fields always can.
fn encoded<T: serde::Serialize>(value: &T) -> Option<Bytes> {
    serde_json::to_vec(value).ok().map(Bytes::from)
}
