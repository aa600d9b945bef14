//! Lists of events: the public list (searchable, by start time, keyset
//! pages, its first pages cached) and the caller's own.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::events::{Event, json_bytes, json_response};
use super::extract::CurrentUser;
use super::pagination::{Checked, FromQuery, Limit, decode_cursor, encode_cursor, given};
use crate::cache::read as read_cache;
use crate::db::events::{self as db_events, ListFilter, Search};
use crate::domain::event as rules;
use crate::domain::{FieldError, Violations};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Words searched in title, venue and description: each must be there,
    /// in any order, the last also as the start of a word ("lights festival
    /// berl"); "quoted phrases", `-word` and `or` work as in a web search.
    /// The best matches come first, on one page (no `cursor` with `q`).
    pub q: Option<String>,
    /// Events starting at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Events starting before this time (RFC 3339).
    pub to: Option<String>,
}

/// Published events, by start time.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(ListParams),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "Unreadable query string", body = Problem),
        (status = 422, description = "Invalid parameters", body = Problem),
    ))]
pub async fn list_events(State(state): State<AppState>, Checked(query): Checked<EventQuery>) -> ApiResult<Response> {
    let filter = query.filter(None);
    let first_page = filter.after.is_none() && filter.search.is_none() && filter.from.is_none() && filter.to.is_none();
    if !first_page {
        return Ok(list(&state, filter).await?.into_response());
    }
    // The first page is what a crowd opens: through the cache.
    let key = read_cache::first_page_key(filter.limit as u32);
    let loader_state = state.clone();
    let bytes = state
        .read_cache
        .get_or_load(&key, || async move {
            let axum::Json(page) = list(&loader_state, filter).await?;
            Ok(Some((json_bytes(&page)?, true)))
        })
        .await?
        .ok_or(ApiError::NotFound("event list"))?;
    Ok(json_response(bytes))
}

/// The caller's own events, in every status, by start time.
#[utoipa::path(get, path = "/api/v1/me/events", tag = "events", params(ListParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "Unreadable query string", body = Problem),
        (status = 422, description = "Invalid parameters", body = Problem),
    ))]
pub async fn my_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Checked(query): Checked<EventQuery>,
) -> ApiResult<axum::Json<EventList>> {
    list(&state, query.filter(Some(user.id))).await
}

/// A page of a list of events, checked: at most `limit`, after the
/// `cursor`'s, matching `q`, starting between `from` and `to`.
#[derive(Debug, Default)]
pub struct EventQuery {
    pub limit: Limit,
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// The words of `q`.
    pub search: Option<Search>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl EventQuery {
    /// The query of the list: all published events, or one organizer's.
    fn filter(self, organizer_id: Option<Uuid>) -> ListFilter {
        let Self { limit, after, search, from, to } = self;
        ListFilter { organizer_id, search, from, to, after, limit: limit.get() }
    }
}

impl FromQuery for EventQuery {
    type Raw = ListParams;

    fn check(params: ListParams) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let limit = Limit::parse(&mut v, params.limit.as_deref());
        let after = given(&params.cursor).and_then(|raw| v.check("cursor", decode_cursor(raw)));
        let search = given(&params.q).and_then(|q| v.line("q", q, 1, 200)).map(|q| Search::new(&q));
        if search.is_some() && after.is_some() {
            // Ranked results have no order a cursor could continue.
            v.add("cursor", "a search has one page, its best matches first (raise `limit` for more)");
        }
        let mut time = |field: &str, raw: &Option<String>| {
            given(raw).and_then(|raw| {
                let parsed = DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .ok()
                    .filter(|t| rules::in_supported_range(*t));
                v.check(field, parsed.ok_or_else(|| "must be an RFC 3339 time like 2027-05-01T19:00:00Z".to_owned()))
            })
        };
        let from = time("from", &params.from);
        let to = time("to", &params.to);
        let limit = v.finish_with(limit)?;
        Ok(Self { limit, after, search, from, to })
    }
}

async fn list(state: &AppState, mut filter: ListFilter) -> ApiResult<axum::Json<EventList>> {
    let page_size = filter.limit as usize;
    filter.limit += 1; // one more row tells whether a next page exists
    let mut conn = state.db.acquire().await?;
    let mut rows = db_events::list(&mut conn, &filter).await?;
    let more = rows.len() > page_size;
    rows.truncate(page_size);
    // A search is ranked: one page, no cursor to continue it.
    let next_cursor = (more && filter.search.is_none())
        .then(|| rows.last().map(|last| encode_cursor(last.starts_at, last.id)))
        .flatten();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut ticket_types = db_events::ticket_types_of(&mut conn, &ids).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let mine = ticket_types.extract_if(.., |tt| tt.event_id == row.id).collect();
            Event::public(row, mine)
        })
        .collect();
    Ok(axum::Json(EventList { items, next_cursor }))
}
