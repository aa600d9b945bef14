//! The back office's event form (new and edit): its fields read into the
//! event room's inputs, and an event turned back into the form's values.
//! Times are typed in the event's time zone; what cannot even be read (a date
//! that is not one, a price that is not a number) is said next to its field
//! here, everything else by the event room's validation.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use uuid::Uuid;

use super::form::{FieldErrors, Form};
use crate::domain::checkout::AskedHoldTimes;
use crate::domain::money;
use crate::event::Event;
use crate::event::lifecycle::{EventChanges, EventInput};
use crate::event::ticket_types::{TicketTypeChanges, TicketTypeInput};

/// What `datetime-local` inputs send.
const LOCAL: &str = "%Y-%m-%dT%H:%M";

/// The form as read: the event's fields, then one entry per ticket type row filled in.
pub struct EventForm {
    title: String,
    venue: String,
    description: String,
    timezone: String,
    starts_at: Option<DateTime<Utc>>,
    sales_start: Option<DateTime<Utc>>,
    cancellation_deadline: Option<DateTime<Utc>>,
    prequeue_minutes: Option<i64>,
    hold_seconds: Option<i64>,
    offline_hold_hours: Option<i64>,
    offer_hours: Option<i64>,
    publish: bool,
    types: Vec<TypeRow>,
    /// Time fields typed differently from what the form first showed (all of
    /// them for a new event): only those are sent, so an unchanged default
    /// (a deadline that is the start, a sales start that is the publication)
    /// never becomes a fixed time, and an unchanged start is not "moved".
    changed: std::collections::HashSet<&'static str>,
}

struct TypeRow {
    row: usize,
    /// The ticket type this row shows (edit), or none (a new one).
    id: Option<Uuid>,
    name: String,
    price_cents: i64,
    currency: Option<String>,
    capacity: i64,
    max_per_order: Option<i64>,
    max_per_buyer: Option<i64>,
    /// The "Hidden" box was ticked.
    hidden: bool,
    /// "Names on tickets" (off when the form does not say).
    attendee_names: Option<crate::domain::question::AttendeeNames>,
    /// "Tax rate" in basis points.
    tax_rate: i64,
}

impl TypeRow {
    /// The row as a ticket type to create.
    fn new_type(self) -> TicketTypeInput {
        TicketTypeInput {
            name: self.name,
            price_cents: self.price_cents,
            currency: self.currency,
            capacity: self.capacity,
            max_per_order: self.max_per_order,
            max_per_buyer: self.max_per_buyer,
            hidden: Some(self.hidden),
            attendee_names: self.attendee_names,
            tax_rate: Some(self.tax_rate),
        }
    }
}

/// One ticket type to change or add, from form row `row`.
pub struct Change {
    pub row: usize,
    pub apply: TypeChange,
}

pub enum TypeChange {
    Update(Uuid, TicketTypeChanges),
    Add(TicketTypeInput),
}

impl EventForm {
    /// Reads `rows` ticket type rows, the first `existing.len()` of them
    /// showing those types; an empty new row is left out (the first row of a
    /// new event is not: an event needs a ticket type).
    /// `shown`: the values the form was first shown with (edit), if any.
    pub fn read(
        form: &Form,
        existing: &[Uuid],
        rows: usize,
        shown: Option<&HashMap<String, String>>,
        errors: &mut FieldErrors,
    ) -> Option<Self> {
        let changed = ["starts_at", "sales_start", "cancellation_deadline"]
            .into_iter()
            .filter(|f| shown.is_none_or(|s| s.get(*f).map_or("", String::as_str) != form.get(f)))
            .collect();
        let timezone = form.get("timezone").to_owned();
        let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        let mut time = |field: &str| local_time(form, field, tz, errors);
        let starts_at = time("starts_at");
        let sales_start = time("sales_start");
        let cancellation_deadline = time("cancellation_deadline");
        if form.get("starts_at").is_empty() {
            errors.insert("starts_at".into(), "Enter a date and time.".into());
        }
        let mut number = |field: &str| whole(form, field, errors);
        let prequeue_minutes = number("prequeue_minutes");
        let hold_seconds = number("hold_seconds");
        let offline_hold_hours = number("offline_hold_hours");
        let offer_hours = number("offer_hours");
        let currency = Some(form.get("currency").to_uppercase()).filter(|c| !c.is_empty());
        let mut types = Vec::new();
        for row in 0..rows {
            let field = |name: &str| format!("ticket_types[{row}].{name}");
            let id = existing.get(row).copied();
            let blank = ["name", "price", "capacity"].iter().all(|f| form.get(&field(f)).is_empty());
            if blank && id.is_none() && (row > 0 || !existing.is_empty()) {
                continue;
            }
            // An existing type keeps its own currency; a new one takes the form's.
            let own = shown.and_then(|s| s.get(&field("currency"))).filter(|_| id.is_some()).cloned();
            let priced_in = own.or_else(|| currency.clone()).unwrap_or_else(|| "EUR".into());
            let price_cents = money::parse(form.get(&field("price")), &priced_in).unwrap_or_else(|| {
                let example = money::example(&priced_in);
                errors.insert(field("price_cents"), format!("Enter a price like {example} (0 for free)."));
                0
            });
            types.push(TypeRow {
                row,
                id,
                name: form.get(&field("name")).to_owned(),
                price_cents,
                currency: currency.clone(),
                capacity: whole(form, &field("capacity"), errors).unwrap_or(0),
                max_per_order: whole(form, &field("max_per_order"), errors),
                max_per_buyer: whole(form, &field("max_per_buyer"), errors),
                hidden: form.get(&field("hidden")) == "on",
                attendee_names: crate::domain::question::AttendeeNames::try_from(
                    form.get(&field("attendee_names")).to_owned(),
                )
                .ok(),
                tax_rate: match crate::domain::tax::parse_percent(form.get(&field("tax_rate"))) {
                    Some(rate) => i64::from(rate),
                    None => {
                        errors.insert(field("tax_rate"), "Enter a percentage from 0 to 100, such as 19 or 7.5.".into());
                        0
                    }
                },
            });
        }
        Some(Self {
            title: form.get("title").to_owned(),
            venue: form.get("venue").to_owned(),
            description: form.get("description").to_owned(),
            timezone,
            starts_at,
            sales_start,
            cancellation_deadline,
            prequeue_minutes,
            hold_seconds,
            offline_hold_hours,
            offer_hours,
            publish: form.get("action") == "publish",
            types,
            changed,
        })
    }

    /// The form row of each ticket type sent, in the API's order (its
    /// `ticket_types[i]` is form row `rows_used()[i]`: blank rows are left out).
    pub fn rows_used(&self) -> Vec<usize> {
        self.types.iter().map(|t| t.row).collect()
    }

    /// The event to create ("Publish" opens it at once).
    pub fn create(self) -> Option<EventInput> {
        Some(EventInput {
            title: self.title,
            description: self.description,
            venue: self.venue,
            starts_at: self.starts_at?,
            ends_at: None,
            sales_start: self.sales_start,
            sales_end: None,
            cancellation_deadline: self.cancellation_deadline,
            hold_times: AskedHoldTimes {
                hold_seconds: self.hold_seconds,
                offline_hold_hours: self.offline_hold_hours,
                hold_cooldown_seconds: None,
            },
            prequeue_minutes: self.prequeue_minutes,
            offer_hours: self.offer_hours,
            timezone: Some(self.timezone),
            publish: self.publish,
            ticket_types: self.types.into_iter().map(TypeRow::new_type).collect(),
        })
    }

    /// The event's changes (an empty time clears it), and each ticket type's.
    pub fn update(self) -> (EventChanges, Vec<Change>) {
        let changed = |field: &str| self.changed.contains(field);
        let request = EventChanges {
            title: Some(self.title),
            description: Some(self.description),
            venue: Some(self.venue),
            starts_at: self.starts_at.filter(|_| changed("starts_at")),
            ends_at: None,
            sales_start: changed("sales_start").then_some(self.sales_start),
            sales_end: None,
            cancellation_deadline: changed("cancellation_deadline").then_some(self.cancellation_deadline),
            hold_times: AskedHoldTimes {
                hold_seconds: self.hold_seconds,
                offline_hold_hours: self.offline_hold_hours,
                hold_cooldown_seconds: None,
            },
            prequeue_minutes: self.prequeue_minutes,
            offer_hours: self.offer_hours,
            timezone: Some(self.timezone),
        };
        let changes = self
            .types
            .into_iter()
            .map(|t| Change {
                row: t.row,
                apply: match t.id {
                    Some(id) => TypeChange::Update(
                        id,
                        TicketTypeChanges {
                            name: Some(t.name),
                            price_cents: Some(t.price_cents),
                            // The form's currency is for new types; a type's
                            // own stays (types may differ, a sold one is locked).
                            currency: None,
                            capacity: Some(t.capacity),
                            max_per_order: t.max_per_order,
                            max_per_buyer: Some(t.max_per_buyer),
                            hidden: Some(t.hidden),
                            attendee_names: t.attendee_names,
                            tax_rate: Some(t.tax_rate),
                        },
                    ),
                    None => TypeChange::Add(t.new_type()),
                },
            })
            .collect();
        (request, changes)
    }
}

/// The form's field names that show a message; any other the API names (a
/// field the form does not have) goes to the form's own message.
pub fn place_errors(errors: FieldErrors, rows: usize) -> FieldErrors {
    const EVENT: [&str; 14] = [
        "organization_id",
        "title",
        "venue",
        "starts_at",
        "timezone",
        "description",
        "sales_start",
        "prequeue_minutes",
        "cancellation_deadline",
        "hold_seconds",
        "offline_hold_hours",
        "offer_hours",
        "currency",
        "ticket_types",
    ];
    const TYPE: [&str; 5] = ["name", "price_cents", "capacity", "max_per_order", "max_per_buyer"];
    let shown = |field: &str| {
        EVENT.contains(&field)
            || (0..rows)
                .any(|i| field.strip_prefix(&format!("ticket_types[{i}].")).is_some_and(|rest| TYPE.contains(&rest)))
    };
    let mut placed = FieldErrors::new();
    let mut elsewhere = Vec::new();
    for (field, message) in errors {
        if shown(&field) {
            placed.insert(field, message);
        } else {
            elsewhere.push(format!("{}: {message}", field.replace('_', " ")));
        }
    }
    if !elsewhere.is_empty() {
        elsewhere.sort();
        placed.insert("form".into(), elsewhere.join("; "));
    }
    placed
}

/// The API's `ticket_types[i]` of a request built from `rows_used`, as the form's row.
pub fn to_form_rows(errors: FieldErrors, rows_used: &[usize]) -> FieldErrors {
    errors
        .into_iter()
        .map(|(field, message)| {
            let row = field
                .strip_prefix("ticket_types[")
                .and_then(|rest| rest.split_once("]."))
                .and_then(|(i, rest)| Some((rows_used.get(i.parse::<usize>().ok()?)?, rest)));
            match row {
                Some((row, rest)) => (format!("ticket_types[{row}].{rest}"), message),
                None => (field, message),
            }
        })
        .collect()
}

/// A `datetime-local` field in zone `tz`; empty is none.
pub(super) fn local_time(
    form: &Form,
    field: &str,
    tz: chrono_tz::Tz,
    errors: &mut FieldErrors,
) -> Option<DateTime<Utc>> {
    let raw = form.get(field);
    if raw.is_empty() {
        return None;
    }
    let local = NaiveDateTime::parse_from_str(raw, LOCAL).ok().and_then(|n| tz.from_local_datetime(&n).earliest());
    if local.is_none() {
        errors.insert(field.into(), "Enter a date and time like 2027-05-01T19:30.".into());
    }
    local.map(|t| t.with_timezone(&Utc))
}

/// A whole number field; empty is none.
pub(super) fn whole(form: &Form, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    let raw = form.get(field);
    if raw.is_empty() {
        return None;
    }
    raw.parse().map_err(|_| errors.insert(field.into(), "Enter a whole number.".into())).ok()
}

/// The ids of the event's ticket types, in the order the form shows them.
pub fn existing_types(event: &Event) -> Vec<Uuid> {
    event.ticket_types.iter().map(|t| t.id).collect()
}

/// The form's ticket type rows: `count` of them, the first showing `existing` types.
pub fn rows(existing: &[Uuid], count: usize) -> Vec<minijinja::Value> {
    (0..count)
        .map(|i| minijinja::context! { index => i, existing => i < existing.len(), optional => i >= existing.len().max(1) })
        .collect()
}

/// The event as the form's values (times in its own zone; a sales start
/// not set shows the publication it defaults to, a deadline not set the start).
pub fn values_of(event: &Event, card_possible: bool) -> HashMap<String, String> {
    let e = &event.details;
    let tz: chrono_tz::Tz = e.timezone.parse().unwrap_or(chrono_tz::UTC);
    let local =
        |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&tz).format(LOCAL).to_string()).unwrap_or_default();
    let schedule = e.schedule();
    let mut values: HashMap<String, String> = HashMap::new();
    let mut put = |k: &str, v: String| values.insert(k.to_owned(), v);
    put("title", e.title.clone());
    put("venue", e.venue.clone());
    put("description", e.description.clone());
    put("timezone", e.timezone.clone());
    put("prequeue_minutes", e.prequeue_minutes.to_string());
    put("hold_seconds", e.hold_seconds.to_string());
    put("offline_hold_hours", e.offline_hold_hours.to_string());
    put("offer_hours", e.offer_hours.to_string());
    put("starts_at", local(Some(e.starts_at)));
    put("sales_start", local(schedule.effective_sales_start(e.published_at)));
    put(
        "cancellation_deadline",
        local(Some(crate::domain::event::cancellation_closes(e.starts_at, e.cancellation_deadline))),
    );
    let currency = event.ticket_types.first().map_or_else(|| "EUR".to_owned(), |t| t.currency.clone());
    put("currency", currency);
    // The methods the event takes; not set: what the server has.
    let takes = |method: &str| match &e.payment_methods {
        Some(methods) => methods.iter().any(|m| m == method),
        None => method == "offline" || card_possible,
    };
    if takes("card") && card_possible {
        put("pay_card", "on".to_owned());
    }
    if takes("offline") {
        put("pay_offline", "on".to_owned());
    }
    put("offline_payment_instructions", e.offline_payment_instructions.clone().unwrap_or_default());
    for (i, t) in event.ticket_types.iter().enumerate() {
        let field = |name: &str| format!("ticket_types[{i}].{name}");
        put(&field("name"), t.name.clone());
        put(&field("price"), money::plain(t.price_cents, &t.currency));
        put(&field("currency"), t.currency.clone());
        put(&field("capacity"), t.capacity.to_string());
        put(&field("max_per_order"), t.max_per_order.to_string());
        // Blank while it is the default (one order's worth): it then follows
        // a change of "Max per order".
        let per_buyer = t.max_per_buyer.filter(|n| *n != t.max_per_order).map(|n| n.to_string()).unwrap_or_default();
        put(&field("max_per_buyer"), per_buyer);
        if t.hidden {
            put(&field("hidden"), "on".to_owned());
        }
        put(&field("attendee_names"), t.attendee_names.as_str().to_owned());
        put(&field("tax_rate"), crate::domain::tax::percent_plain(t.tax_rate));
    }
    if !e.prices_include_tax {
        put("prices_exclude_tax", "on".to_owned());
    }
    if e.issue_invoices {
        put("issue_invoices", "on".to_owned());
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn times_are_read_in_the_events_zone_and_mistakes_named_by_field() {
        let mut errors = FieldErrors::new();
        let read = EventForm::read(
            &form(&[
                ("title", "Gala"),
                ("timezone", "Europe/Berlin"),
                ("starts_at", "2031-12-24T19:30"),
                ("sales_start", "tomorrow"),
                ("ticket_types[0].name", "Standing"),
                ("ticket_types[0].price", "25.50"),
                ("ticket_types[0].capacity", "many"),
            ]),
            &[],
            3,
            None,
            &mut errors,
        )
        .unwrap();
        assert_eq!(read.starts_at.unwrap().to_rfc3339(), "2031-12-24T18:30:00+00:00");
        assert_eq!(
            errors.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(),
            ["sales_start", "ticket_types[0].capacity"].into()
        );
        let request = read.create().unwrap();
        assert_eq!(request.ticket_types.len(), 1, "empty rows are left out");
        assert_eq!(request.ticket_types[0].price_cents, 2550);
    }

    #[test]
    fn api_errors_land_on_the_row_they_are_about_or_on_the_form() {
        let errors: FieldErrors = [
            ("ticket_types[1].capacity".to_owned(), "must be between 1 and 1000000".to_owned()),
            ("ticket_types[0].currency".to_owned(), "must be an ISO 4217 code".to_owned()),
            ("ends_at".to_owned(), "must be after starts_at".to_owned()),
        ]
        .into();
        let placed = place_errors(to_form_rows(errors, &[0, 2]), 3);
        assert_eq!(
            placed["ticket_types[2].capacity"], "must be between 1 and 1000000",
            "the API's second type is row 3"
        );
        assert_eq!(
            placed["form"],
            "ends at: must be after starts_at; ticket types[0].currency: must be an ISO 4217 code"
        );
        assert_eq!(placed.len(), 2);
    }

    #[test]
    fn an_unchanged_default_time_is_not_sent_back_as_a_fixed_one() {
        let shown: HashMap<String, String> = [
            ("starts_at", "2031-12-24T19:30"),
            ("sales_start", "2031-01-01T10:00"),
            ("cancellation_deadline", "2031-12-24T19:30"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let typed = form(&[
            ("title", "Gala"),
            ("timezone", "UTC"),
            ("starts_at", "2031-12-24T19:30"),
            ("sales_start", "2031-01-01T10:00"),
            ("cancellation_deadline", "2031-12-20T12:00"),
        ]);
        let mut errors = FieldErrors::new();
        let (request, _) = EventForm::read(&typed, &[], 0, Some(&shown), &mut errors).unwrap().update();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((request.starts_at, request.sales_start), (None, None), "unchanged: not sent");
        assert_eq!(request.cancellation_deadline.flatten().unwrap().to_rfc3339(), "2031-12-20T12:00:00+00:00");
    }

    #[test]
    fn an_event_becomes_the_forms_values_again_in_its_own_zone() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().unwrap();
        let details = crate::db::events::EventRow {
            id: Uuid::nil(),
            organizer_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            title: "Gala".into(),
            description: String::new(),
            venue: "Hall".into(),
            starts_at: at("2031-12-24T18:30:00Z"),
            ends_at: None,
            sales_start: None,
            sales_end: None,
            cancellation_deadline: None,
            hold_seconds: 600,
            offline_hold_hours: 24,
            hold_cooldown_seconds: 600,
            prequeue_minutes: 30,
            offer_hours: 24,
            timezone: "Europe/Berlin".into(),
            status: crate::domain::event::EventStatus::Published,
            published_at: Some(at("2031-12-01T09:00:00Z")),
            image_hash: None,
            payment_methods: None,
            offline_payment_instructions: None,
            answers_until: None,
            prices_include_tax: true,
            issue_invoices: true,
            created_at: at("2031-12-01T08:00:00Z"),
            updated_at: at("2031-12-01T09:00:00Z"),
        };
        let ticket_type = |name: &str, price_cents, max_per_buyer| crate::db::events::TicketTypeRow {
            id: Uuid::nil(),
            event_id: Uuid::nil(),
            name: name.into(),
            price_cents,
            currency: "EUR".into(),
            capacity: 10,
            remaining: 10,
            max_per_order: 4,
            max_per_buyer,
            hidden: false,
            available: 10,
            attendee_names: Default::default(),
            quota_ids: Vec::new(),
            quota_remaining: None,
            tax_rate: 0,
        };
        let event = Event {
            details,
            ticket_types: vec![ticket_type("Standing", 2505, Some(4)), ticket_type("Seated", 5000, Some(8))],
        };
        let values = values_of(&event, false);
        assert_eq!(values["starts_at"], "2031-12-24T19:30");
        assert_eq!(values["ticket_types[0].price"], "25.05");
        assert_eq!(values["ticket_types[0].max_per_buyer"], "", "the default shows blank");
        assert_eq!(values["ticket_types[1].max_per_buyer"], "8");
        assert_eq!(values["prequeue_minutes"], "30");
        // Not set: the sales start shows the publication, the deadline the start.
        assert_eq!(values["sales_start"], "2031-12-01T10:00");
        assert_eq!(values["cancellation_deadline"], "2031-12-24T19:30");
        assert_eq!(existing_types(&event), vec![Uuid::nil(), Uuid::nil()]);
    }
}
