//! The page templates (`templates/pages/`, compiled into the binary) and the
//! filters they use: money in the event's currency, times with their zone
//! named, a booking's reason in words.

use std::sync::{Arc, LazyLock};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::value::{Enumerator, Object};
use minijinja::{Environment, Value, context};

use super::session::{PageKeys, Visitor};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Debug builds (the tests, `cargo run`) refuse to print or walk into
    // anything undefined, so a misspelt or missing value fails a test instead
    // of showing an empty space; release builds forgive it, as a person
    // would rather see a page with a gap than an error page.
    env.set_undefined_behavior(if cfg!(debug_assertions) {
        minijinja::UndefinedBehavior::Strict
    } else {
        minijinja::UndefinedBehavior::Chainable
    });
    for (name, source) in [
        ("layout.html", include_str!("../../templates/pages/layout.html")),
        ("forms.html", include_str!("../../templates/pages/forms.html")),
        ("index.html", include_str!("../../templates/pages/index.html")),
        ("event.html", include_str!("../../templates/pages/event.html")),
        ("draw.html", include_str!("../../templates/pages/draw.html")),
        ("register.html", include_str!("../../templates/pages/register.html")),
        ("login.html", include_str!("../../templates/pages/login.html")),
        ("link.html", include_str!("../../templates/pages/link.html")),
        ("invitation.html", include_str!("../../templates/pages/invitation.html")),
        ("manage/organizations.html", include_str!("../../templates/pages/manage/organizations.html")),
        ("manage/organization.html", include_str!("../../templates/pages/manage/organization.html")),
        ("manage/webhooks.html", include_str!("../../templates/pages/manage/webhooks.html")),
        ("manage/messages.html", include_str!("../../templates/pages/manage/messages.html")),
        ("manage/door_offline.html", include_str!("../../templates/pages/manage/door_offline.html")),
        ("manage/checkin_lists.html", include_str!("../../templates/pages/manage/checkin_lists.html")),
        ("manage/webhook.html", include_str!("../../templates/pages/manage/webhook.html")),
        ("link_sent.html", include_str!("../../templates/pages/link_sent.html")),
        ("verify.html", include_str!("../../templates/pages/verify.html")),
        ("verified.html", include_str!("../../templates/pages/verified.html")),
        ("booking.html", include_str!("../../templates/pages/booking.html")),
        ("book_details.html", include_str!("../../templates/pages/book_details.html")),
        ("booking_details.html", include_str!("../../templates/pages/booking_details.html")),
        ("cancel.html", include_str!("../../templates/pages/cancel.html")),
        ("tickets.html", include_str!("../../templates/pages/tickets.html")),
        ("error.html", include_str!("../../templates/pages/error.html")),
        ("manage/events.html", include_str!("../../templates/pages/manage/events.html")),
        ("manage/event_form.html", include_str!("../../templates/pages/manage/event_form.html")),
        ("manage/cancel.html", include_str!("../../templates/pages/manage/cancel.html")),
        ("manage/event.html", include_str!("../../templates/pages/manage/event.html")),
        ("manage/orders.html", include_str!("../../templates/pages/manage/orders.html")),
        ("manage/refund.html", include_str!("../../templates/pages/manage/refund.html")),
        ("manage/codes.html", include_str!("../../templates/pages/manage/codes.html")),
        ("manage/questions.html", include_str!("../../templates/pages/manage/questions.html")),
        ("manage/billing.html", include_str!("../../templates/pages/manage/billing.html")),
        ("manage/attendees.html", include_str!("../../templates/pages/manage/attendees.html")),
        ("manage/door.html", include_str!("../../templates/pages/manage/door.html")),
    ] {
        env.add_template(name, source).expect("page templates parse");
    }
    env.add_function("asset", |name: &str| Value::from_safe_string(super::assets::url(name)));
    env.add_filter("money", |cents: i64, currency: &str| crate::domain::money::format(cents, currency));
    env.add_filter("price_example", |currency: &str| crate::domain::money::example(currency));
    env.add_filter("when", |at: &str, zone: Option<&str>| when(at, zone.unwrap_or("UTC")));
    env.add_filter("reason", |code: &str| reason(code).to_owned());
    env.add_filter("clock", clock);
    env
});

/// A page for `visitor`: the template with the layout's needs (who is signed
/// in, the CSRF token of its forms) added to `data`.
pub fn page(keys: &PageKeys, visitor: &Visitor, template: &str, data: Value) -> Response {
    let data = context! {
        signed_in => visitor.user.is_some(),
        csrf => visitor.csrf(keys),
        here => visitor.here.clone(),
        // A form's values and mistakes are looked up by field name, and a
        // field with neither is none (a form shown the first time has none).
        values => Fields::of(data.get_attr("values").ok()),
        errors => Fields::of(data.get_attr("errors").ok()),
        // The error page has no session to show (below).
        neutral => false,
        ..data
    };
    let mut response = html(StatusCode::OK, template, data);
    if let Some(cookie) = visitor.cookies(keys) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A form's values or mistakes by field name. Every other undefined value
/// fails a test (strict mode); a field name is asked of these whether or not
/// the field has a value or a mistake, so an unknown one is none.
#[derive(Debug)]
struct Fields(std::collections::BTreeMap<String, Value>);

/// Values by name where a missing one is none (quantities typed per ticket
/// type, say), like a form's values.
pub fn fields<T: serde::Serialize>(map: T) -> Value {
    Fields::of(Some(Value::from_serialize(map)))
}

impl Fields {
    fn of(given: Option<Value>) -> Value {
        let given = given.filter(|v| !v.is_undefined() && !v.is_none());
        let fields = given
            .iter()
            .flat_map(|map| map.try_iter().into_iter().flatten().map(move |key| (key.to_string(), map.get_item(&key))))
            .filter_map(|(key, value)| Some((key, value.ok()?)))
            .collect();
        Value::from_object(Fields(fields))
    }
}

impl Object for Fields {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(key.as_str().and_then(|key| self.0.get(key).cloned()).unwrap_or(Value::from(())))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|key| Value::from(key.as_str())).collect())
    }
}

/// The same with another status (a form sent back with its mistakes: 422).
pub fn page_with_status(
    keys: &PageKeys,
    visitor: &Visitor,
    status: StatusCode,
    template: &str,
    data: Value,
) -> Response {
    let mut response = page(keys, visitor, template, data);
    // A page that could not be drawn stays the 500 it is.
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        *response.status_mut() = status;
    }
    response
}

fn html(status: StatusCode, template: &str, data: Value) -> Response {
    match TEMPLATES.get_template(template).and_then(|t| t.render(data)) {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), template, "page template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                error_page(StatusCode::INTERNAL_SERVER_ERROR, "Sorry", "Something went wrong on our side."),
            )
                .into_response()
        }
    }
}

/// An error page. It does not know who is looking (an error can come before
/// the session is read), so its header offers what works either way.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> String {
    let data = context! { status => status.as_u16(), title, message, neutral => true };
    TEMPLATES.get_template("error.html").and_then(|t| t.render(data)).unwrap_or_else(|_| {
        format!("<!doctype html><title>{}</title><p>{}</p>", status.as_u16(), status.canonical_reason().unwrap_or(""))
    })
}

/// Seconds as a clock: "09:59", "1:00:00", "2 days 03:00:00".
pub fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    let (days, h, m, x) = (s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
    match (days, h) {
        (0, 0) => format!("{m:02}:{x:02}"),
        (0, h) => format!("{h}:{m:02}:{x:02}"),
        (1, h) => format!("1 day {h:02}:{m:02}:{x:02}"),
        (d, h) => format!("{d} days {h:02}:{m:02}:{x:02}"),
    }
}

/// "Friday, 18 December 2026, 19:30 CET (Europe/Berlin)": the time where
/// the event happens, its zone named; "…, 19:30 UTC" for UTC.
pub fn when(at: &str, zone: &str) -> String {
    let Ok(at) = DateTime::parse_from_rfc3339(at) else { return at.to_owned() };
    crate::domain::event::local_time(at.with_timezone(&Utc), zone)
}

/// A booking's reason code, in words for its buyer.
pub fn reason(code: &str) -> &'static str {
    match code {
        "sold_out" => "All seats were taken before your turn came.",
        "not_enough_seats" => "Fewer seats were left than you asked for.",
        "sales_closed" => "Sales were not open when you asked.",
        "event_cancelled" => "The event was cancelled.",
        "cancelled_by_user" => "You cancelled it.",
        "left_line" => "You left the line before your turn came.",
        "cancelled_by_organizer" => "The organizer cancelled it.",
        "hold_expired" => "It was not paid in time, so the seats went back on sale.",
        "paid_after_expiry" => "The payment came after the hold ran out; it is being refunded.",
        "duplicate_request" => "You had already sent the same request; the first one counts.",
        "price_changed" => "The price changed after you asked; please book again at the new price.",
        "buyer_limit" => "You already have as many seats of this type as one buyer may.",
        "too_many_seats" => "That is more seats than one order may have.",
        "ticket_type_gone" => "This ticket type is no longer sold.",
        "duplicate_payment" => "It was paid twice; the second payment is being refunded.",
        "not_payable" => "It could not be paid any more.",
        "waiting_list_offer" => "Seats that came back, offered to you from the waiting list.",
        "too_many_holds" => "You already have two bookings of this event waiting for payment; pay or cancel one first.",
        "hold_cooldown" => "Your last booking of this type was not paid in time; you can book it again a little later.",
        _ => "It could not go ahead.",
    }
}

/// "See other" to `path` (after a form: the page that shows its outcome).
pub fn see_other(path: &str) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let location = HeaderValue::from_str(path).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clocks_read_like_clocks() {
        assert_eq!(super::clock(599), "09:59");
        assert_eq!(super::clock(-5), "00:00");
        assert_eq!(super::clock(3600), "1:00:00");
        assert_eq!(super::clock(86400 + 61), "1 day 00:01:01");
        assert_eq!(super::clock(3 * 86400), "3 days 00:00:00");
    }

    #[test]
    fn times_name_their_zone_and_unknown_reasons_still_read_as_words() {
        assert_eq!(super::when("2026-12-24T18:30:00Z", "UTC"), "Thursday, 24 December 2026, 18:30 UTC");
        assert_eq!(super::when("2026-12-24T18:30:00+01:00", "UTC"), "Thursday, 24 December 2026, 17:30 UTC");
        assert_eq!(
            super::when("2026-12-24T18:30:00Z", "Europe/Berlin"),
            "Thursday, 24 December 2026, 19:30 CET (Europe/Berlin)"
        );
        assert_eq!(
            super::when("2026-07-01T18:30:00Z", "America/New_York"),
            "Wednesday, 1 July 2026, 14:30 EDT (America/New_York)"
        );
        assert_eq!(super::reason("something_new"), "It could not go ahead.");
    }
}
