//! Ticket types of an event: adding and changing them (the organizer's),
//! and the fields they are made of.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::{MAX_TICKET_TYPES, event_changed, nullable};
use super::extract::{CurrentUser, Json, Path};
use super::organizer::{lock_as_organizer, refuse_if_cancelled};
use crate::app::AppState;
use crate::db;
use crate::db::events::{self as db_events, TicketTypeFields, TicketTypeRow};
use crate::domain::Violations;
use crate::domain::event as rules;
use crate::error::{ApiError, ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketType {
    pub id: Uuid,
    pub name: String,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i32,
    /// Seats neither sold nor held for a payment.
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
}

/// Add a ticket type to an event.
#[utoipa::path(post, path = "/api/v1/events/{id}/ticket-types", tag = "events", params(("id" = Uuid, Path)),
    request_body = CreateTicketTypeRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = TicketType),
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
    let fields = v.finish_with(fields)?;
    let mut tx = state.db.begin().await?;
    let event = lock_as_organizer(&mut tx, id, user).await?;
    refuse_if_cancelled(&event)?;
    if db_events::ticket_types_of(&mut tx, &[id]).await?.len() >= MAX_TICKET_TYPES {
        return Err(ApiError::conflict(format!("an event has at most {MAX_TICKET_TYPES} ticket types")));
    }
    let row = db_events::insert_ticket_type(&mut tx, id, &fields).await.map_err(ticket_type_conflict)?;
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
        (status = 403, description = "Not the organizer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event or ticket type", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Capacity below sold and held, `price_locked` (price or currency once seats are held or sold), name taken, or event cancelled", body = Problem, content_type = "application/problem+json"),
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
        max_per_buyer: match req.max_per_buyer {
            Some(asked) => asked,
            // Left as it was: while it is the default (one order's worth), it
            // follows a change of `max_per_order`.
            None if current.max_per_buyer == Some(current.max_per_order) => None,
            None => current.max_per_buyer.map(i64::from),
        },
    };
    let fields = ticket_type_fields(&mut v, "", raw);
    let fields = v.finish_with(fields)?;
    let sold = current.capacity - current.remaining;
    if fields.capacity < sold {
        return Err(ApiError::conflict(format!(
            "{sold} seats are already sold or held; capacity cannot go below that"
        )));
    }
    // Buyers paid what they were shown; revenue must add up in one currency.
    if sold > 0 && (fields.price_cents != current.price_cents || fields.currency != current.currency) {
        return Err(ApiError::Conflict {
            code: "price_locked",
            detail: format!("{sold} seats are already sold or held; the price and currency can no longer change"),
        });
    }
    let mut row = db_events::update_ticket_type(&mut tx, tt_id, &fields).await.map_err(ticket_type_conflict)?;
    if row.remaining > current.remaining {
        // More seats: the waiting list is offered them first.
        let offered =
            crate::booking::waiting::offer_returned_seats(&mut tx, tt_id, state.config.payment_provider()).await?;
        if !offered.is_empty() {
            row = db_events::lock_ticket_type(&mut tx, id, tt_id).await?.ok_or(ApiError::NotFound("ticket type"))?;
        }
    }
    tx.commit().await?;
    event_changed(&state, id).await;
    if row.remaining > 0 {
        // More capacity than sold: sell again at once.
        crate::booking::cancel::seats_returned(&state.bookings, &[tt_id]).await;
    }
    Ok(axum::Json(row.into()))
}

pub(super) fn ticket_type_conflict(err: sqlx::Error) -> ApiError {
    if db::violated_constraint(&err) == Some(db_events::TICKET_TYPE_NAME_TAKEN) {
        ApiError::conflict("this event already has a ticket type with that name")
    } else {
        err.into()
    }
}

pub(super) fn new_ticket_type_fields(
    v: &mut Violations,
    prefix: &str,
    req: &CreateTicketTypeRequest,
) -> Option<TicketTypeFields> {
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
    // Unset: one order's worth. Unlimited let one account hold a whole type.
    let max_per_buyer = match max_per_buyer {
        Some(limit) => Some(v.range(&format!("{prefix}max_per_buyer"), limit, 1, rules::CAPACITY_MAX)? as i32),
        None => max_per_order.map(|m| m as i32),
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
