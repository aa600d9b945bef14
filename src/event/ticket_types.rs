//! A ticket type's rules: the fields it is made of, adding one to an event
//! and changing one (never below what is sold, never a new price once seats
//! are sold or held).

use uuid::Uuid;

use super::access::{lock_for, refuse_if_cancelled};
use super::{EventError, EventRoom, MAX_TICKET_TYPES};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::events::{self as db_events, TicketTypeFields, TicketTypeRow};
use crate::domain::Violations;
use crate::domain::event as rules;
use crate::domain::team::Action;

/// A ticket type to create, as asked (absent: the default).
#[derive(Debug, Clone)]
pub struct TicketTypeInput {
    pub name: String,
    pub price_cents: i64,
    /// ISO 4217, default `EUR`.
    pub currency: Option<String>,
    pub capacity: i64,
    /// Default 10.
    pub max_per_order: Option<i64>,
    /// Default: `max_per_order`.
    pub max_per_buyer: Option<i64>,
    /// Listed and sold only with a code that names it (default false).
    pub hidden: Option<bool>,
    /// A holder's name per ticket (default off: the buyer's).
    pub attendee_names: Option<crate::domain::question::AttendeeNames>,
    /// Basis points, 0 to 10,000 (default 0).
    pub tax_rate: Option<i64>,
}

/// Changes to a ticket type; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct TicketTypeChanges {
    pub name: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub capacity: Option<i64>,
    pub max_per_order: Option<i64>,
    /// `Some(None)`: back to the default, `max_per_order`.
    pub max_per_buyer: Option<Option<i64>>,
    pub hidden: Option<bool>,
    pub attendee_names: Option<crate::domain::question::AttendeeNames>,
    pub tax_rate: Option<i64>,
}

impl TicketTypeInput {
    /// The validated fields; problems are recorded in `v` under `prefix`
    /// (`ticket_types[2].` inside an event).
    pub fn parse(&self, v: &mut Violations, prefix: &str) -> Option<TicketTypeFields> {
        let raw = RawTicketType {
            name: &self.name,
            price_cents: self.price_cents,
            currency: self.currency.as_deref().unwrap_or(rules::DEFAULT_CURRENCY),
            capacity: self.capacity,
            max_per_order: self.max_per_order.unwrap_or(rules::DEFAULT_MAX_PER_ORDER),
            max_per_buyer: self.max_per_buyer,
            hidden: self.hidden.unwrap_or(false),
            attendee_names: self.attendee_names.unwrap_or_default(),
            tax_rate: self.tax_rate.unwrap_or(0),
        };
        ticket_type_fields(v, prefix, raw)
    }
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Adds a ticket type to an event `user_id` organizes.
    pub async fn add_ticket_type(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        input: &TicketTypeInput,
    ) -> Result<TicketTypeRow, EventError> {
        let mut v = Violations::new();
        let fields = input.parse(&mut v, "");
        let fields = v.finish_with(fields)?;
        let mut tx = self.db.begin().await?;
        let event = lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&event)?;
        if db_events::ticket_types_of(&mut tx, &[event_id]).await?.len() >= MAX_TICKET_TYPES {
            return Err(EventError::TooManyTicketTypes);
        }
        let row = db_events::insert_ticket_type(&mut tx, event_id, &fields).await.map_err(name_taken)?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(row)
    }

    /// Changes a ticket type. Capacity can shrink only down to what is sold
    /// or held; seats added go to the waiting list first.
    pub async fn update_ticket_type(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        id: Uuid,
        changes: TicketTypeChanges,
    ) -> Result<TicketTypeRow, EventError> {
        let mut tx = self.db.begin().await?;
        let event = lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&event)?;
        let current =
            db_events::lock_ticket_type(&mut tx, event_id, id).await?.ok_or(EventError::TicketTypeNotFound)?;
        let mut v = Violations::new();
        let raw = RawTicketType {
            name: changes.name.as_deref().unwrap_or(&current.name),
            price_cents: changes.price_cents.unwrap_or(current.price_cents),
            currency: changes.currency.as_deref().unwrap_or(&current.currency),
            capacity: changes.capacity.unwrap_or(current.capacity.into()),
            max_per_order: changes.max_per_order.unwrap_or(current.max_per_order.into()),
            max_per_buyer: match changes.max_per_buyer {
                Some(asked) => asked,
                // Left as it was: while it is the default (one order's worth), it
                // follows a change of `max_per_order`.
                None if current.max_per_buyer == Some(current.max_per_order) => None,
                None => current.max_per_buyer.map(i64::from),
            },
            hidden: changes.hidden.unwrap_or(current.hidden),
            attendee_names: changes.attendee_names.unwrap_or(current.attendee_names),
            tax_rate: changes.tax_rate.unwrap_or(current.tax_rate.into()),
        };
        let fields = ticket_type_fields(&mut v, "", raw);
        let fields = v.finish_with(fields)?;
        let sold = current.capacity - current.remaining;
        if fields.capacity < sold {
            return Err(EventError::CapacityBelowSold(sold));
        }
        // Buyers paid what they were shown; revenue must add up in one currency.
        if sold > 0 && (fields.price_cents != current.price_cents || fields.currency != current.currency) {
            return Err(EventError::PriceLocked(sold));
        }
        let mut row = db_events::update_ticket_type(&mut tx, id, &fields).await.map_err(name_taken)?;
        let mut offered = Vec::new();
        if row.remaining > current.remaining {
            // More seats: the waiting list is offered them first.
            offered = crate::booking::waiting::offer_returned_seats(&mut tx, id, self.provider).await?;
            if !offered.is_empty() {
                row =
                    db_events::lock_ticket_type(&mut tx, event_id, id).await?.ok_or(EventError::TicketTypeNotFound)?;
            }
        }
        tx.commit().await?;
        self.changed(event_id).await;
        // More capacity than sold: sell again at once (and mark whoever the
        // waiting list offered seats as holders).
        let selling: &[Uuid] = if row.remaining > 0 { &[id] } else { &[] };
        crate::booking::cancel::seats_returned(self.bookings, selling, &offered).await;
        Ok(row)
    }
}

/// The name constraint, as the refusal it is.
pub(super) fn name_taken(err: sqlx::Error) -> EventError {
    if db::violated_constraint(&err) == Some(db_events::TICKET_TYPE_NAME_TAKEN) {
        EventError::NameTaken
    } else {
        err.into()
    }
}

/// A ticket type's fields as sent (defaults and current values filled in).
struct RawTicketType<'a> {
    name: &'a str,
    price_cents: i64,
    currency: &'a str,
    capacity: i64,
    max_per_order: i64,
    max_per_buyer: Option<i64>,
    hidden: bool,
    attendee_names: crate::domain::question::AttendeeNames,
    tax_rate: i64,
}

fn ticket_type_fields(v: &mut Violations, prefix: &str, raw: RawTicketType<'_>) -> Option<TicketTypeFields> {
    let RawTicketType {
        name,
        price_cents,
        currency,
        capacity,
        max_per_order,
        max_per_buyer,
        hidden,
        attendee_names,
        tax_rate,
    } = raw;
    // A booking keeps the rate it was sold at: a change applies to later sales.
    let tax_rate = v.range(&format!("{prefix}tax_rate"), tax_rate, 0, i64::from(crate::domain::tax::RATE_MAX));
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
        hidden,
        attendee_names,
        tax_rate: tax_rate? as i32,
    })
}
