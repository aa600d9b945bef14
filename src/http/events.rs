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
use super::ticket_types::{CreateTicketTypeRequest, TicketType};
use crate::cache::read as read_cache;
use crate::db::events::{self as db_events, EventRow, TicketTypeRow};
use crate::domain::checkout::AskedHoldTimes;
use crate::domain::event::{self as rules, EventStatus};
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::access::{find_visible, public};
use crate::event::lifecycle::{EventChanges, EventInput};
use crate::event::payment::PaymentChanges;
use crate::event::ticket_types::TicketTypeInput;
use crate::event::{self};
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    pub id: Uuid,
    pub organizer_id: Uuid,
    /// The organization that owns it.
    pub organization_id: Uuid,
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
    /// The event's image, when it has one (`PUT /api/v1/events/{id}/image`).
    pub image: Option<EventImage>,
    /// `card`, `offline` or both; null: what the server has.
    pub payment_methods: Option<Vec<String>>,
    /// What an offline payer reads; null: the server's.
    pub offline_payment_instructions: Option<String>,
    /// Until when buyers may change their tickets' names and answers: as
    /// set, else `starts_at`.
    pub answers_until: DateTime<Utc>,
    /// Whether prices include tax (each type's `tax_rate`); false: tax is
    /// added on top at checkout.
    pub prices_include_tax: bool,
    /// Whether each paid booking gets an invoice (and each refund a credit
    /// note) from Boxoffice; fixed once the event is published.
    pub issue_invoices: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ticket_types: Vec<TicketType>,
}

/// Where an event's image is: WebP renditions whose URLs change when the
/// image does (each may be cached for a year).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventImage {
    /// At most 1600 px wide.
    pub url: String,
    /// At most 400 px wide (cards, lists).
    pub small_url: String,
}

impl EventImage {
    pub fn of(hash: &str) -> Self {
        use crate::event::image::url;
        Self { url: url(hash, false), small_url: url(hash, true) }
    }
}

impl From<event::Event> for Event {
    fn from(event: event::Event) -> Self {
        Self::new(event.details, event.ticket_types)
    }
}

impl Event {
    /// The event as anyone may see it: its hidden ticket types left out.
    pub(super) fn public(row: EventRow, mut ticket_types: Vec<TicketTypeRow>) -> Self {
        ticket_types.retain(|tt| !tt.hidden);
        Self::new(row, ticket_types)
    }

    pub(super) fn new(row: EventRow, ticket_types: Vec<TicketTypeRow>) -> Self {
        let schedule = row.schedule();
        Self {
            id: row.id,
            organizer_id: row.organizer_id,
            organization_id: row.organization_id,
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
            image: row.image_hash.as_deref().map(EventImage::of),
            payment_methods: row.payment_methods,
            offline_payment_instructions: row.offline_payment_instructions,
            answers_until: row.answers_until.unwrap_or(row.starts_at),
            prices_include_tax: row.prices_include_tax,
            issue_invoices: row.issue_invoices,
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
    /// `card`, `offline` or both (card only where the server has Stripe);
    /// left out: what the server has.
    pub payment_methods: Option<Vec<String>>,
    /// What an offline payer reads (at most 2000 characters); left out: the server's.
    pub offline_payment_instructions: Option<String>,
    /// Until when buyers may change names and answers; left out: the start.
    pub answers_until: Option<DateTime<Utc>>,
    /// Whether prices include tax (default true, as for consumers in the EU).
    pub prices_include_tax: Option<bool>,
    /// Whether each paid booking gets an invoice (default true).
    pub issue_invoices: Option<bool>,
    /// The organization it belongs to (one the caller may create events
    /// in); left out: the caller's personal organization.
    pub organization_id: Option<Uuid>,
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
    /// `card`, `offline` or both; `null`: back to what the server has.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub payment_methods: Option<Option<Vec<String>>>,
    /// `null` or empty: back to the server's.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub offline_payment_instructions: Option<Option<String>>,
    /// `null`: back to the event's start.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub answers_until: Option<Option<DateTime<Utc>>>,
    /// Applies to bookings from now on (a booking keeps what it was sold with).
    pub prices_include_tax: Option<bool>,
    /// Only while the event is a draft (409 `invoicing_fixed` after).
    pub issue_invoices: Option<bool>,
}

/// A present field, even when `null`: `Some(None)`.
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

impl From<CreateEventRequest> for EventInput {
    fn from(req: CreateEventRequest) -> Self {
        Self {
            title: req.title,
            description: req.description,
            venue: req.venue,
            starts_at: req.starts_at,
            ends_at: req.ends_at,
            sales_start: req.sales_start,
            sales_end: req.sales_end,
            cancellation_deadline: req.cancellation_deadline,
            hold_times: AskedHoldTimes {
                hold_seconds: req.hold_seconds,
                offline_hold_hours: req.offline_hold_hours,
                hold_cooldown_seconds: req.hold_cooldown_seconds,
            },
            prequeue_minutes: req.prequeue_minutes,
            offer_hours: req.offer_hours,
            timezone: req.timezone,
            publish: matches!(req.status, InitialStatus::Published),
            ticket_types: req.ticket_types.into_iter().map(TicketTypeInput::from).collect(),
        }
    }
}

impl From<UpdateEventRequest> for EventChanges {
    fn from(req: UpdateEventRequest) -> Self {
        Self {
            title: req.title,
            description: req.description,
            venue: req.venue,
            starts_at: req.starts_at,
            ends_at: req.ends_at,
            sales_start: req.sales_start,
            sales_end: req.sales_end,
            cancellation_deadline: req.cancellation_deadline,
            hold_times: AskedHoldTimes {
                hold_seconds: req.hold_seconds,
                offline_hold_hours: req.offline_hold_hours,
                hold_cooldown_seconds: req.hold_cooldown_seconds,
            },
            prequeue_minutes: req.prequeue_minutes,
            offer_hours: req.offer_hours,
            timezone: req.timezone,
        }
    }
}

/// Create an event (as a draft unless `status` is `published`); the caller organizes it.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = CreateEventRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Event),
        (status = 409, description = "Two ticket types share a name", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn create_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(req): Json<CreateEventRequest>,
) -> ApiResult<impl IntoResponse> {
    let payment = PaymentChanges {
        methods: req.payment_methods.clone().map(Some),
        instructions: req.offline_payment_instructions.clone().map(Some),
        prices_include_tax: req.prices_include_tax,
        issue_invoices: req.issue_invoices,
    };
    // Refused before anything is written.
    crate::event::payment::check(&payment, state.config.payment_provider())?;
    let req_organization = req.organization_id;
    let answers_until = req.answers_until;
    let new = EventInput::from(req).parse(Utc::now())?;
    let mut event = state.events().create(user.id, req_organization, new, payment).await?;
    if let Some(until) = answers_until {
        event = state.events().set_answers_until(user.id, event.details.id, Some(until)).await?;
    }
    let location = format!("/api/v1/events/{}", event.details.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(Event::from(event))))
}

/// One event with its ticket types. A draft is visible to its organizer only.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The event", body = Event),
        (status = 401, description = "A token was sent but is not valid", body = Problem),
        (status = 404, description = "No such event, or a draft of someone else", body = Problem),
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
            let Some(row) = db_events::find_event(&mut conn, id).await?.filter(public) else {
                return Ok(None);
            };
            let ticket_types = db_events::ticket_types_of(&mut conn, &[row.id]).await?;
            Ok(Some((json_bytes(&Event::public(row, ticket_types))?, true)))
        })
        .await?;
    if let Some(bytes) = public {
        return Ok(json_response(bytes));
    }
    // A draft, for its organizer only: never cached.
    let Some(viewer) = viewer else { return Err(ApiError::NotFound("event")) };
    let mut conn = state.db.acquire().await?;
    let row = find_visible(&mut conn, id, Some(viewer.id)).await?.ok_or(ApiError::NotFound("event"))?;
    let ticket_types = db_events::ticket_types_of(&mut conn, &[row.id]).await?;
    Ok(axum::Json(Event::new(row, ticket_types)).into_response())
}

pub(super) fn json_bytes<T: Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|err| ApiError::Internal(err.into()))
}

pub(super) fn json_response(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// Change an event's details (not its status: see publish and cancel).
#[utoipa::path(patch, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    request_body = UpdateEventRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed event", body = Event),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event is cancelled; `sales_start` moved after its draw, or to or before a presale (`presale_after_start`); `prequeue_minutes` changed once a pre-queue opened (`prequeue_open`)", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn update_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<UpdateEventRequest>,
) -> ApiResult<axum::Json<Event>> {
    let payment = PaymentChanges {
        methods: req.payment_methods.clone(),
        instructions: req.offline_payment_instructions.clone(),
        prices_include_tax: req.prices_include_tax,
        issue_invoices: req.issue_invoices,
    };
    crate::event::payment::check(&payment, state.config.payment_provider())?;
    let answers_until = req.answers_until;
    let mut event = state.events().update(user.id, id, req.into()).await?;
    if !payment.is_empty() {
        event = state.events().set_payment(user.id, id, payment).await?;
    }
    if let Some(until) = answers_until {
        event = state.events().set_answers_until(user.id, id, until).await?;
    }
    Ok(axum::Json(event.into()))
}

/// Publish a draft: it appears in the list and its sales open (at `sales_start` if set).
#[utoipa::path(post, path = "/api/v1/events/{id}/publish", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The published event", body = Event),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "Cancelled, already started, or without ticket types", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn publish_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(state.events().publish(user.id, id).await?.into()))
}

/// Cancel an event: it stays visible as cancelled and sells nothing more.
#[utoipa::path(post, path = "/api/v1/events/{id}/cancel", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled event", body = Event),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn cancel_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(state.events().cancel(user.id, id).await?.into()))
}

/// Delete an event that has no bookings.
#[utoipa::path(delete, path = "/api/v1/events/{id}", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event has bookings (cancel it instead)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn delete_event(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.events().delete(user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
