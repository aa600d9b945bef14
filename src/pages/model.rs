//! What the pages show of an event: typed page models built from the event
//! room's answers (templates read these fields, in strict
//! mode in tests, so a renamed field fails a test instead of rendering blank).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::event::EventStatus;
use crate::event::Event;

/// An event as the pages show it.
#[derive(Debug, Serialize)]
pub struct EventModel {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub status: EventStatus,
    pub starts_at: DateTime<Utc>,
    /// When sales open: as set, else when it was published.
    pub sales_start: Option<DateTime<Utc>>,
    /// When requests are first taken (the pre-queue opens), if known: a
    /// presale code's earlier, with one.
    pub requests_open_at: Option<DateTime<Utc>>,
    /// The presale the code shown opens, before the sales start.
    pub presale_at: Option<DateTime<Utc>>,
    /// Until when buyers may cancel: as set, else the start.
    pub cancellation_deadline: DateTime<Utc>,
    pub prequeue_minutes: i32,
    /// IANA name: times are shown there.
    pub timezone: String,
    pub ticket_types: Vec<TicketTypeModel>,
    /// The cheapest and dearest ticket, in the cheapest's currency (a card
    /// says "from … to …"); none without ticket types.
    pub price_range: Option<PriceRange>,
    /// Seats neither sold nor held, over every ticket type.
    pub seats_left: i64,
    /// The event's image, when it has one.
    pub image: Option<ImageModel>,
    /// What an offline payer reads, when the event says (else the server's).
    pub offline_payment_instructions: Option<String>,
    /// `card`, `offline` or both; `None`: the server's.
    pub payment_methods: Option<Vec<String>>,
}

/// Where an event's image's renditions are.
#[derive(Debug, Serialize)]
pub struct ImageModel {
    /// 1600 px wide at most.
    pub url: String,
    /// 400 px wide at most.
    pub small_url: String,
}

#[derive(Debug, Serialize)]
pub struct PriceRange {
    pub low_cents: i64,
    pub high_cents: i64,
    pub currency: String,
}

#[derive(Debug, Serialize)]
pub struct TicketTypeModel {
    pub id: Uuid,
    pub name: String,
    /// In minor units of `currency` (the `money` filter shows it).
    pub price_cents: i64,
    pub currency: String,
    /// Seats neither sold nor held.
    pub remaining: i32,
    pub max_per_order: i32,
    /// The price with the code the buyer gave, when it is for this type.
    pub code_price_cents: Option<i64>,
    /// Shown only because the code names it.
    pub unlocked: bool,
    /// "19 %" when the event's prices leave this tax out (added at checkout).
    pub tax_added: Option<String>,
}

impl From<&Event> for EventModel {
    /// The event as anyone sees it: its hidden types left out.
    fn from(event: &Event) -> Self {
        Self::with_code(event, None)
    }
}

impl EventModel {
    /// The event as a buyer with `code` sees it: the hidden types it names
    /// shown, and its price on the types it is for.
    pub fn with_code(event: &Event, code: Option<&crate::domain::code::CodeRule>) -> Self {
        Self::build(event, code, false)
    }

    /// The event as its organizer sees it: every type, hidden ones too.
    pub fn whole(event: &Event) -> Self {
        Self::build(event, None, true)
    }

    fn build(event: &Event, code: Option<&crate::domain::code::CodeRule>, all: bool) -> Self {
        let e = &event.details;
        let schedule = e.schedule();
        let shown: Vec<&crate::db::events::TicketTypeRow> =
            event.ticket_types.iter().filter(|t| all || !t.hidden || code.is_some_and(|c| c.unlocks(t.id))).collect();
        let cheapest = shown.iter().min_by_key(|t| t.price_cents);
        let price_range = cheapest.map(|low| PriceRange {
            low_cents: low.price_cents,
            high_cents: shown
                .iter()
                .filter(|t| t.currency == low.currency)
                .map(|t| t.price_cents)
                .max()
                .unwrap_or(low.price_cents),
            currency: low.currency.clone(),
        });
        let image = e.image_hash.as_deref().map(|hash| ImageModel {
            url: crate::event::image::url(hash, false),
            small_url: crate::event::image::url(hash, true),
        });
        Self {
            image,
            offline_payment_instructions: e.offline_payment_instructions.clone(),
            payment_methods: e.payment_methods.clone(),
            price_range,
            seats_left: seats_left(&shown),
            id: e.id,
            title: e.title.clone(),
            description: e.description.clone(),
            venue: e.venue.clone(),
            status: e.status,
            starts_at: e.starts_at,
            sales_start: schedule.effective_sales_start(e.published_at),
            requests_open_at: schedule.requests_open_at_with(
                e.published_at,
                e.prequeue_minutes,
                code.and_then(|c| c.presale_from),
            ),
            presale_at: schedule.presale(code.and_then(|c| c.presale_from)),
            cancellation_deadline: crate::domain::event::cancellation_closes(e.starts_at, e.cancellation_deadline),
            prequeue_minutes: e.prequeue_minutes,
            timezone: e.timezone.clone(),
            ticket_types: shown
                .iter()
                .map(|t| TicketTypeModel {
                    id: t.id,
                    name: t.name.clone(),
                    price_cents: t.price_cents,
                    currency: t.currency.clone(),
                    // What a buyer may get (a shared quota may have less).
                    remaining: t.available,
                    max_per_order: t.max_per_order,
                    code_price_cents: code.filter(|c| c.covers(t.id, t.hidden)).map(|c| c.unit_price(t.price_cents)),
                    unlocked: t.hidden,
                    tax_added: (!e.prices_include_tax && t.tax_rate > 0)
                        .then(|| crate::domain::tax::rate_label(t.tax_rate)),
                })
                .collect(),
        }
    }

    /// The event's zone (UTC if its name is unknown, which validation prevents).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    pub fn ticket_type_name(&self, id: Uuid) -> Option<&str> {
        self.ticket_types.iter().find(|t| t.id == id).map(|t| t.name.as_str())
    }
}

/// What a page shows of an event gone from view (its bookings still show).
pub fn gone(id: Uuid) -> minijinja::Value {
    let none = minijinja::Value::from(());
    minijinja::context! { id, title => "An event no longer shown", starts_at => none.clone(), sales_start => none.clone(),
    venue => none.clone(), timezone => none }
}

/// Seats a buyer may still get of `types` together: types that share a
/// quota count it once (each type's `available` is bounded by the quota, so
/// summing them would count the quota once per type).
fn seats_left(types: &[&crate::db::events::TicketTypeRow]) -> i64 {
    let mut shared: std::collections::HashMap<&[Uuid], (i64, i64)> = std::collections::HashMap::new();
    let mut left = 0;
    for t in types {
        match t.quota_remaining {
            Some(quota) if !t.quota_ids.is_empty() => {
                let entry = shared.entry(t.quota_ids.as_slice()).or_insert((i64::from(quota), 0));
                entry.1 += i64::from(t.remaining);
            }
            _ => left += i64::from(t.available),
        }
    }
    left + shared.values().map(|(quota, own)| (*quota).min(*own)).sum::<i64>()
}

#[cfg(test)]
mod seats_tests {
    use super::*;

    fn row(remaining: i32, quota: Option<(Uuid, i32)>) -> crate::db::events::TicketTypeRow {
        crate::db::events::TicketTypeRow {
            id: Uuid::new_v4(),
            event_id: Uuid::nil(),
            name: "t".into(),
            price_cents: 0,
            currency: "EUR".into(),
            capacity: 500,
            remaining,
            max_per_order: 4,
            max_per_buyer: None,
            hidden: false,
            available: quota.map_or(remaining, |(_, left)| remaining.min(left)),
            attendee_names: Default::default(),
            quota_ids: quota.map(|(id, _)| vec![id]).unwrap_or_default(),
            quota_remaining: quota.map(|(_, left)| left),
            tax_rate: 0,
        }
    }

    #[test]
    fn types_sharing_a_quota_count_it_once() {
        let standing = Uuid::new_v4();
        let types = [row(400, Some((standing, 300))), row(200, Some((standing, 300))), row(50, None)];
        let refs: Vec<&_> = types.iter().collect();
        assert_eq!(seats_left(&refs), 300 + 50, "not 300 + 200 + 50");
        let nearly = [row(10, Some((standing, 300))), row(5, Some((standing, 300)))];
        let refs: Vec<&_> = nearly.iter().collect();
        assert_eq!(seats_left(&refs), 15, "their own seats, when fewer than the quota's");
    }
}
