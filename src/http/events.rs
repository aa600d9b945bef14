//! Events and their ticket types: create, read, list, change, publish, cancel, delete.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{CurrentUser, Json, MaybeUser, Path, Query};
use crate::app::AppState;
use crate::cache::read::ReadCache;
use crate::db;
use crate::db::events::{self as db_events, EventFields, EventRow, ListFilter, TicketTypeFields, TicketTypeRow};
use crate::domain::Violations;
use crate::domain::event::{self as rules, EventStatus, Schedule};
use crate::error::{ApiError, ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketType {
    pub id: Uuid,
    pub name: String,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i32,
    /// Seats not yet sold.
    pub remaining: i32,
    pub max_per_order: i32,
    /// Seats one buyer may own of this type across their bookings (null: no limit).
    pub max_per_buyer: Option<i32>,
}

impl From<TicketTypeRow> for TicketType {
    fn from(row: TicketTypeRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            price_cents: row.price_cents,
            currency: row.currency,
            capacity: row.capacity,
            remaining: row.remaining,
            max_per_order: row.max_per_order,
            max_per_buyer: row.max_per_buyer,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    pub organizer_id: Uuid,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// When sales open: as set, else when the event was published (null for an unpublished draft).
    pub sales_start: Option<DateTime<Utc>>,
    /// When sales close: as set, else `starts_at`.
    pub sales_end: DateTime<Utc>,
    /// Until when buyers may cancel their bookings: as set, else `starts_at`
    /// (the organizer may cancel at any time).
    pub cancellation_deadline: DateTime<Utc>,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ticket_types: Vec<TicketType>,
}

impl Event {
    fn new(row: EventRow, ticket_types: Vec<TicketTypeRow>) -> Self {
        let schedule = row.schedule();
        Self {
            id: row.id,
            organizer_id: row.organizer_id,
            title: row.title,
            description: row.description,
            venue: row.venue,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            sales_start: schedule.effective_sales_start(row.published_at),
            sales_end: schedule.effective_sales_end(),
            cancellation_deadline: rules::cancellation_closes(row.starts_at, row.cancellation_deadline),
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ticket_types: ticket_types.into_iter().map(TicketType::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The status a new event may start in.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InitialStatus {
    #[default]
    Draft,
    Published,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventRequest {
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Default: when the event is published.
    pub sales_start: Option<DateTime<Utc>>,
    /// Default: `starts_at`.
    pub sales_end: Option<DateTime<Utc>>,
    /// Until when buyers may cancel; not after `starts_at`. Default: `starts_at`.
    pub cancellation_deadline: Option<DateTime<Utc>>,
    /// Default: `draft`.
    #[serde(default)]
    pub status: InitialStatus,
    #[serde(default)]
    pub ticket_types: Vec<CreateTicketTypeRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketTypeRequest {
    pub name: String,
    pub price_cents: i64,
    /// ISO 4217, default `EUR`.
    pub currency: Option<String>,
    /// 1 to 1,000,000.
    pub capacity: i64,
    /// 1 to 100, default 10.
    pub max_per_order: Option<i64>,
    /// Seats one buyer may own of this type across their bookings, 1 to
    /// 1,000,000; default: no limit beyond `max_per_order`.
    pub max_per_buyer: Option<i64>,
}

/// Fields to change; absent fields stay as they are, `null` clears an optional time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub sales_start: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub sales_end: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub cancellation_deadline: Option<Option<DateTime<Utc>>>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketTypeRequest {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    /// Never below the seats already sold (409).
    pub capacity: Option<i64>,
    pub max_per_order: Option<i64>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_per_buyer: Option<Option<i64>>,
}

/// A present field, even when `null`: `Some(None)`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Text searched in title, venue and description (case-insensitive).
    pub q: Option<String>,
    /// Events starting at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Events starting before this time (RFC 3339).
    pub to: Option<String>,
}

const MAX_TICKET_TYPES: usize = 50;
const DEFAULT_LIMIT: i64 = 20;

/// Create an event (as a draft unless `status` is `published`); the caller organizes it.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = CreateEventRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Event),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two ticket types share a name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn create_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(req): Json<CreateEventRequest>,
) -> ApiResult<impl IntoResponse> {
    let mut v = Violations::new();
    let schedule = Schedule {
        starts_at: req.starts_at,
        ends_at: req.ends_at,
        sales_start: req.sales_start,
        sales_end: req.sales_end,
    };
    let fields = event_fields(
        &mut v,
        &req.title,
        &req.description,
        &req.venue,
        schedule,
        req.cancellation_deadline,
        Some(Utc::now()),
    );
    if req.ticket_types.len() > MAX_TICKET_TYPES {
        v.add("ticket_types", format!("at most {MAX_TICKET_TYPES} ticket types"));
    }
    if matches!(req.status, InitialStatus::Published) && req.ticket_types.is_empty() {
        v.add("ticket_types", "a published event needs at least one ticket type");
    }
    let ticket_types: Vec<_> = req
        .ticket_types
        .iter()
        .enumerate()
        .map(|(i, tt)| new_ticket_type_fields(&mut v, &format!("ticket_types[{i}]."), tt))
        .collect();
    let mut names = std::collections::HashSet::new();
    for (i, tt) in ticket_types.iter().enumerate() {
        if let Some(tt) = tt {
            if !names.insert(tt.name.to_lowercase()) {
                v.add(format!("ticket_types[{i}].name"), "another ticket type of this event has this name");
            }
        }
    }
    v.finish()?;
    let fields = fields.expect("validated");
    let status = match req.status {
        InitialStatus::Draft => EventStatus::Draft,
        InitialStatus::Published => EventStatus::Published,
    };

    let mut tx = state.db.begin().await?;
    let row = db_events::insert_event(&mut tx, user.id, &fields, status).await?;
    let mut rows = Vec::with_capacity(ticket_types.len());
    for tt in ticket_types.into_iter().flatten() {
        rows.push(db_events::insert_ticket_type(&mut tx, row.id, &tt).await.map_err(ticket_type_conflict)?);
    }
    tx.commit().await?;
    if status == EventStatus::Published {
        event_changed(&state, row.id).await;
    }
    tracing::info!(event.id = %row.id, "event created");
    let location = format!("/api/v1/events/{}", row.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(Event::new(row, rows))))
}

/// One event with its ticket types. A draft is visible to its organizer only.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The event", body = Event),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent but is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event, or a draft of someone else", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_event(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    // Through the cache: only what everyone may see is loaded (and shared).
    let db = state.db.clone();
    let public = state
        .read_cache
        .get_or_load(&ReadCache::event_key(id), || async move {
            let mut conn = db.acquire().await?;
            let Some(row) = db_events::find_event(&mut conn, id).await?.filter(|row| visible_to(row, None)) else {
                return Ok(None);
            };
            let ticket_types = db_events::ticket_types_of(&mut conn, &[row.id]).await?;
            Ok(Some((json_bytes(&Event::new(row, ticket_types))?, true)))
        })
        .await?;
    if let Some(bytes) = public {
        return Ok(json_response(bytes));
    }
    // A draft, for its organizer only: never cached.
    let Some(viewer) = viewer else { return Err(ApiError::NotFound("event")) };
    let mut conn = state.db.acquire().await?;
    let row = db_events::find_event(&mut conn, id)
        .await?
        .filter(|row| visible_to(row, Some(viewer.id)))
        .ok_or(ApiError::NotFound("event"))?;
    let ticket_types = db_events::ticket_types_of(&mut conn, &[row.id]).await?;
    Ok(axum::Json(Event::new(row, ticket_types)).into_response())
}

fn json_bytes<T: Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|err| ApiError::Internal(err.into()))
}

fn json_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// After a change to an event: forget it in every cache of this process
/// and in the shared read cache.
async fn event_changed(state: &AppState, id: Uuid) {
    state.catalog.forget_event(id);
    state.read_cache.invalidate_event(id).await;
}

/// Published events, by start time.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(ListParams),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "Unreadable query string", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(State(state): State<AppState>, Query(params): Query<ListParams>) -> ApiResult<Response> {
    let filter = list_filter(&params, None)?;
    let first_page =
        filter.after.is_none() && filter.text_pattern.is_none() && filter.from.is_none() && filter.to.is_none();
    if !first_page {
        return Ok(list(&state, filter).await?.into_response());
    }
    // The first page is what a crowd opens: through the cache.
    let key = ReadCache::first_page_key(filter.limit as u32);
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
        (status = 400, description = "Unreadable query string", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn my_events(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> ApiResult<axum::Json<EventList>> {
    let filter = list_filter(&params, Some(user.id))?;
    list(&state, filter).await
}

/// Change an event's details (not its status: see publish and cancel).
#[utoipa::path(patch, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    request_body = UpdateEventRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed event", body = Event),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn update_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateEventRequest>,
) -> ApiResult<axum::Json<Event>> {
    let mut tx = state.db.begin().await?;
    let current = lock_as_organizer(&mut tx, id, user).await?;
    refuse_if_cancelled(&current)?;
    let mut v = Violations::new();
    let schedule = Schedule {
        starts_at: req.starts_at.unwrap_or(current.starts_at),
        ends_at: req.ends_at.unwrap_or(current.ends_at),
        sales_start: req.sales_start.unwrap_or(current.sales_start),
        sales_end: req.sales_end.unwrap_or(current.sales_end),
    };
    // Only a start being moved must lie in the future; editing the text of a
    // running event is fine.
    let now = req.starts_at.filter(|s| *s != current.starts_at).map(|_| Utc::now());
    let fields = event_fields(
        &mut v,
        req.title.as_deref().unwrap_or(&current.title),
        req.description.as_deref().unwrap_or(&current.description),
        req.venue.as_deref().unwrap_or(&current.venue),
        schedule,
        req.cancellation_deadline.unwrap_or(current.cancellation_deadline),
        now,
    );
    v.finish()?;
    let row = db_events::update_event(&mut tx, id, &fields.expect("validated")).await?;
    let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
    tx.commit().await?;
    event_changed(&state, id).await;
    Ok(axum::Json(Event::new(row, ticket_types)))
}

/// Publish a draft: it appears in the list and its sales open (at `sales_start` if set).
#[utoipa::path(post, path = "/api/v1/events/{id}/publish", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The published event", body = Event),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled, already started, or without ticket types", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn publish_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    let mut tx = state.db.begin().await?;
    let current = lock_as_organizer(&mut tx, id, user).await?;
    refuse_if_cancelled(&current)?;
    let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
    let row = match current.status {
        EventStatus::Published => current,
        _ if ticket_types.is_empty() => {
            return Err(ApiError::conflict("add at least one ticket type before publishing"));
        }
        _ if current.starts_at <= Utc::now() => {
            return Err(ApiError::conflict("the event has already started"));
        }
        _ => db_events::set_status(&mut tx, id, EventStatus::Published).await?,
    };
    tx.commit().await?;
    event_changed(&state, id).await;
    Ok(axum::Json(Event::new(row, ticket_types)))
}

/// Cancel an event: it stays visible as cancelled and sells nothing more.
#[utoipa::path(post, path = "/api/v1/events/{id}/cancel", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled event", body = Event),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn cancel_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    let mut tx = state.db.begin().await?;
    let current = lock_as_organizer(&mut tx, id, user).await?;
    let (row, cancelled) = match current.status {
        EventStatus::Cancelled => (current, Vec::new()),
        _ => {
            let row = db_events::set_status(&mut tx, id, EventStatus::Cancelled).await?;
            let cancelled = db::bookings::cancel_all_of_event(&mut tx, id).await?;
            db::outbox::enqueue(&mut tx, db::outbox::Kind::EventCancelled, &cancelled).await?;
            (row, cancelled)
        }
    };
    let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
    tx.commit().await?;
    event_changed(&state, id).await;
    tracing::info!(bookings.cancelled = cancelled.len(), "event cancelled");
    Ok(axum::Json(Event::new(row, ticket_types)))
}

/// Delete an event that has no bookings.
#[utoipa::path(delete, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The event has bookings (cancel it instead)", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn delete_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    lock_as_organizer(&mut tx, id, user).await?;
    // Bookings still in the queue count too: the worker must find the event.
    let queued = state.bookings.pending_count(id).await.map_err(|_| ApiError::Unavailable("the booking state"))?;
    if queued > 0 || db::bookings::event_has_bookings(&mut tx, id).await? {
        return Err(ApiError::conflict("the event has bookings; cancel it instead"));
    }
    db_events::delete_event(&mut tx, id).await?;
    tx.commit().await?;
    event_changed(&state, id).await;
    tracing::info!("event deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Add a ticket type to an event.
#[utoipa::path(post, path = "/api/v1/events/{id}/ticket-types", tag = "events", params(("id" = Uuid, Path)),
    request_body = CreateTicketTypeRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = TicketType),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled event, or the name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn add_ticket_type(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CreateTicketTypeRequest>,
) -> ApiResult<impl IntoResponse> {
    let mut v = Violations::new();
    let fields = new_ticket_type_fields(&mut v, "", &req);
    v.finish()?;
    let mut tx = state.db.begin().await?;
    let event = lock_as_organizer(&mut tx, id, user).await?;
    refuse_if_cancelled(&event)?;
    if db_events::ticket_types_of(&mut tx, &[id]).await?.len() >= MAX_TICKET_TYPES {
        return Err(ApiError::conflict(format!("an event has at most {MAX_TICKET_TYPES} ticket types")));
    }
    let row =
        db_events::insert_ticket_type(&mut tx, id, &fields.expect("validated")).await.map_err(ticket_type_conflict)?;
    tx.commit().await?;
    event_changed(&state, id).await;
    let location = format!("/api/v1/events/{id}/ticket-types/{}", row.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(TicketType::from(row))))
}

/// Change a ticket type. Capacity can shrink only down to what is sold.
#[utoipa::path(patch, path = "/api/v1/events/{id}/ticket-types/{ticket_type_id}", tag = "events",
    params(("id" = Uuid, Path), ("ticket_type_id" = Uuid, Path)),
    request_body = UpdateTicketTypeRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed ticket type", body = TicketType),
        (status = 400, description = "An id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event or ticket type", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Capacity below sold, `price_locked` (price or currency once seats are sold), name taken, or event cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id, ticket_type.id = %tt_id))]
pub async fn update_ticket_type(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, tt_id)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateTicketTypeRequest>,
) -> ApiResult<axum::Json<TicketType>> {
    let mut tx = state.db.begin().await?;
    let event = lock_as_organizer(&mut tx, id, user).await?;
    refuse_if_cancelled(&event)?;
    let current = db_events::lock_ticket_type(&mut tx, id, tt_id).await?.ok_or(ApiError::NotFound("ticket type"))?;
    let mut v = Violations::new();
    let raw = RawTicketType {
        name: req.name.as_deref().unwrap_or(&current.name),
        price_cents: req.price_cents.unwrap_or(current.price_cents),
        currency: req.currency.as_deref().unwrap_or(&current.currency),
        capacity: req.capacity.unwrap_or(current.capacity.into()),
        max_per_order: req.max_per_order.unwrap_or(current.max_per_order.into()),
        max_per_buyer: req.max_per_buyer.unwrap_or(current.max_per_buyer.map(i64::from)),
    };
    let fields = ticket_type_fields(&mut v, "", raw);
    v.finish()?;
    let fields = fields.expect("validated");
    let sold = current.capacity - current.remaining;
    if fields.capacity < sold {
        return Err(ApiError::conflict(format!("{sold} seats are already sold; capacity cannot go below that")));
    }
    // Buyers paid what they were shown; revenue must add up in one currency.
    if sold > 0 && (fields.price_cents != current.price_cents || fields.currency != current.currency) {
        return Err(ApiError::Conflict {
            code: "price_locked",
            detail: format!("{sold} seats are already sold; the price and currency can no longer change"),
        });
    }
    let row = db_events::update_ticket_type(&mut tx, tt_id, &fields).await.map_err(ticket_type_conflict)?;
    tx.commit().await?;
    event_changed(&state, id).await;
    if row.remaining > 0 {
        // More capacity than sold: sell again at once.
        crate::booking::cancel::seats_returned(&state, &[tt_id]).await;
    }
    Ok(axum::Json(row.into()))
}

/// Whether `viewer` may see the event: its organizer always; anyone else
/// once it was published (a cancelled event stays visible as cancelled, a
/// cancelled draft does not).
pub(crate) fn visible_to(row: &EventRow, viewer: Option<Uuid>) -> bool {
    viewer == Some(row.organizer_id) || row.published_at.is_some()
}

/// Locks the event for a change by `user`: 404 when they cannot see it,
/// 403 when they can but do not organize it.
async fn lock_as_organizer(conn: &mut PgConnection, id: Uuid, user: CurrentUser) -> ApiResult<EventRow> {
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

fn refuse_if_cancelled(row: &EventRow) -> ApiResult<()> {
    if row.status == EventStatus::Cancelled {
        return Err(ApiError::conflict("the event is cancelled and can no longer change"));
    }
    Ok(())
}

fn ticket_type_conflict(err: sqlx::Error) -> ApiError {
    if db::violated_constraint(&err) == Some(db_events::TICKET_TYPE_NAME_TAKEN) {
        ApiError::conflict("this event already has a ticket type with that name")
    } else {
        err.into()
    }
}

fn event_fields(
    v: &mut Violations,
    title: &str,
    description: &str,
    venue: &str,
    schedule: Schedule,
    cancellation_deadline: Option<DateTime<Utc>>,
    now: Option<DateTime<Utc>>,
) -> Option<EventFields> {
    let title = v.line("title", title, 1, rules::TITLE_MAX);
    let description = v.paragraph("description", description, 0, rules::DESCRIPTION_MAX);
    let venue = v.line("venue", venue, 1, rules::VENUE_MAX);
    schedule.check(now, v);
    rules::check_cancellation_deadline(cancellation_deadline, schedule.starts_at, v);
    Some(EventFields { title: title?, description: description?, venue: venue?, schedule, cancellation_deadline })
}

fn new_ticket_type_fields(v: &mut Violations, prefix: &str, req: &CreateTicketTypeRequest) -> Option<TicketTypeFields> {
    let raw = RawTicketType {
        name: &req.name,
        price_cents: req.price_cents,
        currency: req.currency.as_deref().unwrap_or(rules::DEFAULT_CURRENCY),
        capacity: req.capacity,
        max_per_order: req.max_per_order.unwrap_or(rules::DEFAULT_MAX_PER_ORDER),
        max_per_buyer: req.max_per_buyer,
    };
    ticket_type_fields(v, prefix, raw)
}

/// A ticket type's fields as sent (defaults and current values filled in).
struct RawTicketType<'a> {
    name: &'a str,
    price_cents: i64,
    currency: &'a str,
    capacity: i64,
    max_per_order: i64,
    max_per_buyer: Option<i64>,
}

fn ticket_type_fields(v: &mut Violations, prefix: &str, raw: RawTicketType<'_>) -> Option<TicketTypeFields> {
    let RawTicketType { name, price_cents, currency, capacity, max_per_order, max_per_buyer } = raw;
    let name = v.line(&format!("{prefix}name"), name, 1, rules::TICKET_TYPE_NAME_MAX);
    let price_cents = v.range(&format!("{prefix}price_cents"), price_cents, 0, rules::PRICE_CENTS_MAX);
    let currency = v.check(&format!("{prefix}currency"), rules::parse_currency(currency));
    let capacity = v.range(&format!("{prefix}capacity"), capacity, 1, rules::CAPACITY_MAX);
    let max_per_order = v.range(&format!("{prefix}max_per_order"), max_per_order, 1, rules::MAX_PER_ORDER_MAX);
    let max_per_buyer = match max_per_buyer {
        Some(limit) => Some(v.range(&format!("{prefix}max_per_buyer"), limit, 1, rules::CAPACITY_MAX)? as i32),
        None => None,
    };
    Some(TicketTypeFields {
        name: name?,
        price_cents: price_cents?,
        currency: currency?,
        // Both ranges are far inside i32.
        capacity: capacity? as i32,
        max_per_order: max_per_order? as i32,
        max_per_buyer,
    })
}

/// The `limit` of a list: 1 to 100, default 20.
pub(crate) fn parse_limit(v: &mut Violations, raw: Option<&str>) -> Option<i64> {
    match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
        None => Some(DEFAULT_LIMIT),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) => v.range("limit", n, 1, 100),
            Err(_) => {
                v.add("limit", "must be a whole number between 1 and 100");
                None
            }
        },
    }
}

/// A query parameter given with a value (`?q=` counts as absent).
fn given(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|raw| !raw.trim().is_empty())
}

fn list_filter(params: &ListParams, organizer_id: Option<Uuid>) -> ApiResult<ListFilter> {
    let mut v = Violations::new();
    let limit = parse_limit(&mut v, params.limit.as_deref());
    let after = given(&params.cursor).and_then(|raw| v.check("cursor", decode_cursor(raw)));
    let text_pattern = given(&params.q).and_then(|q| v.line("q", q, 1, 200)).map(|q| like_pattern(&q));
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
    v.finish()?;
    Ok(ListFilter { organizer_id, text_pattern, from, to, after, limit: limit.unwrap_or(DEFAULT_LIMIT) })
}

async fn list(state: &AppState, mut filter: ListFilter) -> ApiResult<axum::Json<EventList>> {
    let page_size = filter.limit as usize;
    filter.limit += 1; // one more row tells whether a next page exists
    let mut conn = state.db.acquire().await?;
    let mut rows = db_events::list(&mut conn, &filter).await?;
    let next_cursor = if rows.len() > page_size {
        rows.truncate(page_size);
        rows.last().map(|last| encode_cursor(last.starts_at, last.id))
    } else {
        None
    };
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut ticket_types = db_events::ticket_types_of(&mut conn, &ids).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let mine = ticket_types.extract_if(.., |tt| tt.event_id == row.id).collect();
            Event::new(row, mine)
        })
        .collect();
    Ok(axum::Json(EventList { items, next_cursor }))
}

/// `%text%` with the text's own `%`, `_` and `\` matched literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn encode_cursor(starts_at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", starts_at.timestamp_micros()))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), String> {
    const BAD: &str = "is not a cursor returned by this list";
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BAD.to_owned())?;
    let text = String::from_utf8(bytes).map_err(|_| BAD.to_owned())?;
    let (micros, id) = text.split_once('|').ok_or(BAD)?;
    let micros: i64 = micros.parse().map_err(|_| BAD.to_owned())?;
    let starts_at = DateTime::from_timestamp_micros(micros).filter(|t| rules::in_supported_range(*t)).ok_or(BAD)?;
    let id = Uuid::parse_str(id).map_err(|_| BAD.to_owned())?;
    Ok((starts_at, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_900_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        for bad in ["", "!!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("99999999999999999999|x")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
