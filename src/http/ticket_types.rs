//! Ticket types of an event over HTTP: the requests and the answer's shape;
//! the rules are the event room's (`event::ticket_types`).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::nullable;
use super::extract::{CurrentUser, Json, Path};
use crate::db::events::TicketTypeRow;
use crate::error::{ApiResult, Problem};
use crate::event::ticket_types::{TicketTypeChanges, TicketTypeInput};
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketType {
    pub id: Uuid,
    pub name: String,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i32,
    /// Seats of its own neither sold nor held for a payment.
    pub remaining: i32,
    /// What a buyer may still book: `remaining`, or less when a shared
    /// quota the type draws from has less left.
    pub available: i32,
    pub max_per_order: i32,
    /// Seats one buyer may own of this type across their bookings (null: no limit).
    pub max_per_buyer: Option<i32>,
    /// Listed and sold only with a code that names it (the public event
    /// leaves it out).
    pub hidden: bool,
    /// `off` (the buyer's name on every ticket), `optional` or `required`: a
    /// holder's name per ticket, given with the booking (`attendees`).
    pub attendee_names: crate::domain::question::AttendeeNames,
    /// Tax in basis points (1900 = 19 %); in the price unless the event's
    /// `prices_include_tax` is false.
    pub tax_rate: i32,
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
            available: row.available,
            max_per_order: row.max_per_order,
            max_per_buyer: row.max_per_buyer,
            hidden: row.hidden,
            attendee_names: row.attendee_names,
            tax_rate: row.tax_rate,
        }
    }
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
    /// Seats one buyer may hold or own of this type across their bookings,
    /// 1 to 1,000,000; default: `max_per_order`.
    pub max_per_buyer: Option<i64>,
    /// Listed and sold only with a code that names it; default false.
    pub hidden: Option<bool>,
    /// `off` (default), `optional` or `required`.
    pub attendee_names: Option<crate::domain::question::AttendeeNames>,
    /// Tax in basis points, 0 (default) to 10,000: 1900 is 19 %.
    pub tax_rate: Option<i64>,
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
    /// `null`: back to the default, `max_per_order`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_per_buyer: Option<Option<i64>>,
    pub hidden: Option<bool>,
    pub attendee_names: Option<crate::domain::question::AttendeeNames>,
    /// Applies to bookings from now on (a booking keeps the rate it was sold at).
    pub tax_rate: Option<i64>,
}

impl From<CreateTicketTypeRequest> for TicketTypeInput {
    fn from(req: CreateTicketTypeRequest) -> Self {
        Self {
            name: req.name,
            price_cents: req.price_cents,
            currency: req.currency,
            capacity: req.capacity,
            max_per_order: req.max_per_order,
            max_per_buyer: req.max_per_buyer,
            hidden: req.hidden,
            attendee_names: req.attendee_names,
            tax_rate: req.tax_rate,
        }
    }
}

impl From<UpdateTicketTypeRequest> for TicketTypeChanges {
    fn from(req: UpdateTicketTypeRequest) -> Self {
        Self {
            name: req.name,
            price_cents: req.price_cents,
            currency: req.currency,
            capacity: req.capacity,
            max_per_order: req.max_per_order,
            max_per_buyer: req.max_per_buyer,
            hidden: req.hidden,
            attendee_names: req.attendee_names,
            tax_rate: req.tax_rate,
        }
    }
}

/// Add a ticket type to an event.
#[utoipa::path(post, path = "/api/v1/events/{id}/ticket-types", tag = "events", params(("id" = Uuid, Path)),
    request_body = CreateTicketTypeRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = TicketType),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "Cancelled event, or the name is taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn add_ticket_type(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CreateTicketTypeRequest>,
) -> ApiResult<impl IntoResponse> {
    let row = state.events().add_ticket_type(user.id, id, &req.into()).await?;
    let location = format!("/api/v1/events/{id}/ticket-types/{}", row.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(TicketType::from(row))))
}

/// Change a ticket type. Capacity can shrink only down to what is sold.
#[utoipa::path(patch, path = "/api/v1/events/{id}/ticket-types/{ticket_type_id}", tag = "events",
    params(("id" = Uuid, Path), ("ticket_type_id" = Uuid, Path)),
    request_body = UpdateTicketTypeRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed ticket type", body = TicketType),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or ticket type", body = Problem),
        (status = 409, description = "Capacity below sold and held, `price_locked` (price or currency once seats are held or sold), name taken, or event cancelled", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id, ticket_type.id = %tt_id))]
pub async fn update_ticket_type(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, tt_id)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateTicketTypeRequest>,
) -> ApiResult<axum::Json<TicketType>> {
    Ok(axum::Json(state.events().update_ticket_type(user.id, id, tt_id, req.into()).await?.into()))
}
