//! Events: create, read, list, change, publish, cancel, delete.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, MaybeUser, Path};
use super::organizer::{lock_as_organizer, refuse_if_cancelled, visible_to};
use super::ticket_types::{CreateTicketTypeRequest, TicketType, new_ticket_type_fields, ticket_type_conflict};
use crate::app::AppState;
use crate::cache::read as read_cache;
use crate::db;
use crate::db::events::{self as db_events, EventFields, EventRow, TicketTypeRow};
use crate::domain::Violations;
use crate::domain::checkout::{AskedHoldTimes, HoldTimes};
use crate::domain::event::{self as rules, EventStatus, Schedule};
use crate::error::{ApiError, ApiResult, Problem};

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
    /// How long a card payment may take: seats are held this many seconds.
    pub hold_seconds: i32,
    /// How long seats are held for an offline payment (bank transfer), in hours.
    pub offline_hold_hours: i32,
    /// After a buyer's hold ran out unpaid, seconds before they may hold the
    /// same ticket type again.
    pub hold_cooldown_seconds: i32,
    /// Minutes before `sales_start` from which requests join the pre-queue
    /// (drawn in random order when sales open).
    pub prequeue_minutes: i32,
    /// When booking requests are first taken (the pre-queue opens), if known.
    pub requests_open_at: Option<DateTime<Utc>>,
    /// Hours a waiting-list offer (seats that came back) stays open.
    pub offer_hours: i32,
    /// Where the event happens, as an IANA time zone (`Europe/Berlin`):
    /// pages show its times there. Times in this API are UTC.
    pub timezone: String,
    pub status: EventStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ticket_types: Vec<TicketType>,
}

impl Event {
    pub(super) fn new(row: EventRow, ticket_types: Vec<TicketTypeRow>) -> Self {
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
            hold_seconds: row.hold_seconds,
            offline_hold_hours: row.offline_hold_hours,
            hold_cooldown_seconds: row.hold_cooldown_seconds,
            prequeue_minutes: row.prequeue_minutes,
            requests_open_at: schedule.requests_open_at(row.published_at, row.prequeue_minutes),
            offer_hours: row.offer_hours,
            timezone: row.timezone,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
            ticket_types: ticket_types.into_iter().map(TicketType::from).collect(),
        }
    }
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
    /// Seconds a priced booking's seats are held for a card payment: 60 to 3600, default 600.
    pub hold_seconds: Option<i64>,
    /// Hours they are held for an offline payment: 1 to 336, default 24.
    pub offline_hold_hours: Option<i64>,
    /// Seconds a buyer whose hold ran out unpaid waits before holding the
    /// same ticket type again: 0 to 86400, default 600.
    pub hold_cooldown_seconds: Option<i64>,
    /// Minutes before `sales_start` from which requests join the pre-queue: 0 to 1440, default 30.
    pub prequeue_minutes: Option<i64>,
    /// Hours a waiting-list offer stays open: 1 to 168, default 24.
    pub offer_hours: Option<i64>,
    /// IANA time zone of the venue (`Europe/Berlin`), default `UTC`.
    pub timezone: Option<String>,
    /// Default: `draft`.
    #[serde(default)]
    pub status: InitialStatus,
    #[serde(default)]
    pub ticket_types: Vec<CreateTicketTypeRequest>,
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
    /// 60 to 3600; holds taken before keep their end.
    pub hold_seconds: Option<i64>,
    /// 1 to 336.
    pub offline_hold_hours: Option<i64>,
    /// 0 to 86400.
    pub hold_cooldown_seconds: Option<i64>,
    /// 0 to 1440.
    pub prequeue_minutes: Option<i64>,
    /// 1 to 168.
    pub offer_hours: Option<i64>,
    /// IANA time zone name.
    pub timezone: Option<String>,
}

/// A present field, even when `null`: `Some(None)`.
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// Ticket types one event may have.
pub(super) const MAX_TICKET_TYPES: usize = 50;

/// Create an event (as a draft unless `status` is `published`); the caller organizes it.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = CreateEventRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Event),
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
        Rules {
            cancellation_deadline: req.cancellation_deadline,
            hold_times: AskedHoldTimes {
                hold_seconds: req.hold_seconds,
                offline_hold_hours: req.offline_hold_hours,
                hold_cooldown_seconds: req.hold_cooldown_seconds,
            },
            current: HoldTimes::default(),
            prequeue_minutes: req.prequeue_minutes,
            current_prequeue: rules::PREQUEUE_MINUTES_DEFAULT as i32,
            offer_hours: req.offer_hours,
            current_offer_hours: rules::OFFER_HOURS_DEFAULT as i32,
            timezone: req.timezone.as_deref().unwrap_or("UTC"),
        },
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
    let fields = v.finish_with(fields)?;
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
    if status == EventStatus::Published {
        db::line::commit_draw(&mut tx, row.id).await?;
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
        .get_or_load(&read_cache::event_key(id), || async move {
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

pub(super) fn json_bytes<T: Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|err| ApiError::Internal(err.into()))
}

pub(super) fn json_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// After a change to an event: forget it in every cache of this process
/// and in the shared read cache.
pub(super) async fn event_changed(state: &AppState, id: Uuid) {
    state.catalog.forget_event(id);
    state.read_cache.invalidate_event(id).await;
}

/// Change an event's details (not its status: see publish and cancel).
#[utoipa::path(patch, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    request_body = UpdateEventRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed event", body = Event),
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
        Rules {
            cancellation_deadline: req.cancellation_deadline.unwrap_or(current.cancellation_deadline),
            hold_times: AskedHoldTimes {
                hold_seconds: req.hold_seconds,
                offline_hold_hours: req.offline_hold_hours,
                hold_cooldown_seconds: req.hold_cooldown_seconds,
            },
            current: current.hold_times(),
            prequeue_minutes: req.prequeue_minutes,
            current_prequeue: current.prequeue_minutes,
            offer_hours: req.offer_hours,
            current_offer_hours: current.offer_hours,
            timezone: req.timezone.as_deref().unwrap_or(&current.timezone),
        },
        now,
    );
    let fields = v.finish_with(fields)?;
    if fields.schedule.sales_start != current.sales_start && db::line::draw_of(&mut tx, id).await?.is_some() {
        return Err(ApiError::conflict("the pre-queue was drawn at the sales start; it can no longer move"));
    }
    let row = db_events::update_event(&mut tx, id, &fields).await?;
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
        _ => {
            let row = db_events::set_status(&mut tx, id, EventStatus::Published).await?;
            db::line::commit_draw(&mut tx, id).await?;
            row
        }
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
            db::waiting::close_event(&mut tx, id).await?;
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
    // (Redis's count: the transaction's own connection counts PostgreSQL's below.)
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

/// The event's settings for buyers besides its schedule, as asked (`None`:
/// keep) and as they are.
struct Rules<'a> {
    cancellation_deadline: Option<DateTime<Utc>>,
    hold_times: AskedHoldTimes,
    current: HoldTimes,
    prequeue_minutes: Option<i64>,
    current_prequeue: i32,
    offer_hours: Option<i64>,
    current_offer_hours: i32,
    timezone: &'a str,
}

fn event_fields(
    v: &mut Violations,
    title: &str,
    description: &str,
    venue: &str,
    schedule: Schedule,
    asked: Rules<'_>,
    now: Option<DateTime<Utc>>,
) -> Option<EventFields> {
    let title = v.line("title", title, 1, rules::TITLE_MAX);
    let description = v.paragraph("description", description, 0, rules::DESCRIPTION_MAX);
    let venue = v.line("venue", venue, 1, rules::VENUE_MAX);
    schedule.check(now, v);
    let cancellation_deadline = asked.cancellation_deadline;
    rules::check_cancellation_deadline(cancellation_deadline, schedule.starts_at, v);
    let hold_times = HoldTimes::check(v, asked.hold_times, asked.current);
    let prequeue_minutes = match asked.prequeue_minutes {
        Some(m) => v.range("prequeue_minutes", m, 0, rules::PREQUEUE_MINUTES_MAX).map(|m| m as i32),
        None => Some(asked.current_prequeue),
    };
    let offer_hours = match asked.offer_hours {
        Some(h) => v.range("offer_hours", h, 1, rules::OFFER_HOURS_MAX).map(|h| h as i32),
        None => Some(asked.current_offer_hours),
    };
    let timezone = rules::check_timezone(v, asked.timezone);
    Some(EventFields {
        title: title?,
        description: description?,
        venue: venue?,
        schedule,
        cancellation_deadline,
        hold_times: hold_times?,
        prequeue_minutes: prequeue_minutes?,
        offer_hours: offer_hours?,
        timezone: timezone?,
    })
}
