//! The authorization matrix: every route, as anonymous, as another user, as
//! each role of the organizer's organization and as the owner, against the
//! documented status. The table must name every route of the OpenAPI
//! document, so a new route without a row fails here, and every route names
//! the least role it lets in (`members_of`), so a route checking a laxer or
//! stricter action than its row says fails too.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Who gets which status.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The same for everyone (public routes, and routes about the caller's own session).
    Public(u16),
    /// (anonymous, another user, the owner).
    Matrix(u16, u16, u16),
}

/// The least role of the organizer's organization a route lets in; the
/// roles are ordered door < box office < manager < owner, each allowing what
/// the one before it does and more (issue 31's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Least {
    Door,
    BoxOffice,
    Manager,
    Owner,
}

/// What members of the organizer's organization get on a route.
#[derive(Debug, Clone, Copy)]
enum Members {
    /// Nothing of the organization's: they are people like any other (their
    /// own account, their own bookings, their personal organization).
    Outsiders,
    /// The route lets this role and those above it in. On the organizer's
    /// routes a role below it is refused with 403 (it sees the event or
    /// the organization) and the least role makes the owner's call; on a
    /// buyer's route (their tickets and papers) a role below it gets what
    /// another user gets and the roles it lets in what the buyer gets.
    From(Least),
}

/// Each organizer and booking route's least role. Every row of the table
/// with an owner names one here (a missing one fails the test).
fn members_of(method: &str, path: &str) -> Option<Members> {
    use Least::*;
    use Members::*;
    Some(match (method, path) {
        ("get", "/api/v1/events/{id}") => From(Door),
        ("post", "/api/v1/events/{id}/check-ins") | ("delete", "/api/v1/events/{id}/check-ins/{code}") => From(Door),
        ("post", "/api/v1/events/{id}/check-ins/sync")
        | ("get", "/api/v1/events/{id}/check-ins/offline")
        | ("get", "/api/v1/events/{id}/check-in-lists") => From(Door),
        ("post", "/api/v1/events/{id}/check-in-lists") => From(Manager),
        ("get", "/api/v1/tickets/{code}") | ("get", "/api/v1/tickets/{code}/qr.svg") => From(Door),
        ("get", "/api/v1/events/{id}/attendees.csv")
        | ("get", "/api/v1/events/{id}/stats")
        | ("get", "/api/v1/events/{id}/bookings")
        | ("get", "/api/v1/events/{id}/quotas")
        | ("get", "/api/v1/bookings/{id}/details")
        | ("get", "/api/v1/bookings/{id}/tickets.pdf")
        | ("get", "/api/v1/bookings/{id}/tickets.pkpass")
        | ("get", "/api/v1/bookings/{id}/invoices")
        | ("get", "/api/v1/bookings/{id}/invoices/{file}") => From(BoxOffice),
        ("post", "/api/v1/events/{id}/bookings/{booking_id}/mark-paid") => From(BoxOffice),
        ("post", "/api/v1/events/{id}/bookings/{booking_id}/refund/paid-out")
        | ("post", "/api/v1/events/{id}/bookings/{booking_id}/cancel") => From(Manager),
        ("patch", "/api/v1/events/{id}")
        | ("delete", "/api/v1/events/{id}")
        | ("post", "/api/v1/events/{id}/publish")
        | ("post", "/api/v1/events/{id}/cancel")
        | ("post", "/api/v1/events/{id}/ticket-types")
        | ("patch", "/api/v1/events/{id}/ticket-types/{ticket_type_id}")
        | ("post", "/api/v1/events/{id}/quotas")
        | ("post", "/api/v1/events/{id}/codes")
        | ("get", "/api/v1/events/{id}/codes")
        | ("get", "/api/v1/events/{id}/codes.csv")
        | ("get", "/api/v1/events/{id}/codes/{code_id}")
        | ("patch", "/api/v1/events/{id}/codes/{code_id}")
        | ("delete", "/api/v1/events/{id}/codes/{code_id}")
        | ("post", "/api/v1/events/{id}/questions")
        | ("patch", "/api/v1/events/{id}/questions/{question_id}")
        | ("delete", "/api/v1/events/{id}/questions/{question_id}")
        | ("put", "/api/v1/events/{id}/image")
        | ("delete", "/api/v1/events/{id}/image") => From(Manager),
        ("get", "/api/v1/organizations/{id}/audit") => From(Manager),
        ("post", "/api/v1/events/{id}/messages")
        | ("get", "/api/v1/events/{id}/messages")
        | ("post", "/api/v1/events/{id}/messages/preview") => From(Manager),
        ("get", "/api/v1/organizations/{id}/members")
        | ("post", "/api/v1/organizations/{id}/invitations")
        | ("delete", "/api/v1/organizations/{id}/invitations/{invitation_id}")
        | ("patch", "/api/v1/organizations/{id}/members/{user_id}")
        | ("delete", "/api/v1/organizations/{id}/members/{user_id}")
        | ("get", "/api/v1/organizations/{id}/billing")
        | ("put", "/api/v1/organizations/{id}/billing")
        | ("get", "/api/v1/organizations/{id}/invoices.zip")
        | ("get", "/api/v1/organizations/{id}/webhooks")
        | ("post", "/api/v1/organizations/{id}/webhooks")
        | ("get", "/api/v1/organizations/{id}/webhooks/{webhook_id}")
        | ("patch", "/api/v1/organizations/{id}/webhooks/{webhook_id}")
        | ("delete", "/api/v1/organizations/{id}/webhooks/{webhook_id}")
        | ("post", "/api/v1/organizations/{id}/webhooks/{webhook_id}/rotate")
        | ("get", "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries")
        | ("post", "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
        | ("post", "/api/v1/organizations/{id}/webhooks/{webhook_id}/replay")
        | ("post", "/api/v1/organizations/{id}/webhooks/{webhook_id}/test") => From(Owner),
        ("get", "/api/v1/me")
        | ("get", "/api/v1/me/events")
        | ("get", "/api/v1/me/bookings")
        | ("get", "/api/v1/me/waiting-list")
        | ("post", "/api/v1/events")
        | ("post", "/api/v1/bookings")
        | ("get", "/api/v1/bookings/{id}")
        | ("put", "/api/v1/bookings/{id}/details")
        | ("get", "/api/v1/bookings/{id}/events")
        | ("post", "/api/v1/bookings/{id}/cancel")
        | ("post", "/api/v1/bookings/{id}/payment")
        | ("post", "/api/v1/bookings/{id}/payment/confirm")
        | ("post", "/api/v1/bookings/{id}/confirm")
        | ("put", "/api/v1/bookings/{id}/billing")
        | ("post", "/api/v1/ticket-types/{id}/waiting-list")
        | ("delete", "/api/v1/waiting-list/{id}")
        | ("post", "/api/v1/auth/verify/resend")
        | ("get", "/api/v1/me/billing")
        | ("put", "/api/v1/me/billing")
        | ("get", "/api/v1/me/invoices.zip")
        | ("get", "/api/v1/organizations")
        | ("post", "/api/v1/organizations")
        | ("post", "/api/v1/invitations/{token}/accept")
        | ("post", "/api/v1/auth/logout") => Outsiders,
        _ => return None,
    })
}

/// (method, documented path, the path used, body, owner, expected).
type Row<'a> = (&'a str, &'a str, String, Option<Value>, &'a String, Expect);

struct World {
    organizer: String,
    /// Members of the organizer's personal organization, least role first.
    members: Vec<(Least, String)>,
    buyer: String,
    stranger: String,
    event: String,
    draft: String,
    disposable: String,
    ticket_type: String,
    booking: String,
    spare_booking: String,
    /// Cancelled by the organizer.
    third_booking: String,
    code: String,
    /// An event with a priced ticket type, and two held bookings of it.
    priced_event: String,
    held: String,
    held_to_mark: String,
    /// The buyer's entry on the waiting list of a sold-out ticket type.
    waiting_entry: String,
    /// A code of `event`.
    voucher: String,
    /// Questions of `event`: one to change, one to delete.
    question: String,
    spare_question: String,
    /// A priced booking paid, and its invoice's number.
    invoiced: String,
    invoice: String,
    /// Webhook endpoints of the organizer's personal organization (one to
    /// remove), and a delivery of the first (a test event).
    webhook: String,
    spare_webhook: String,
    delivery: String,
}

fn fill(path: &str, w: &World, event: &str) -> String {
    path.replace("{id}", event)
        .replace("{ticket_type_id}", &w.ticket_type)
        .replace("{code}", &w.code)
        .replace("{booking}", &w.booking)
        .replace("{spare}", &w.spare_booking)
}

async fn world(app: &TestApp, sink: &crate::smtp::SmtpSink) -> World {
    let (organizer, _) = app.user().await;
    // The organizer's personal organization (made on first use): its id is theirs.
    let org = app.get("/api/v1/me", Some(&organizer)).await.body["id"].as_str().unwrap().to_owned();
    let mut members = Vec::new();
    for (least, role) in [(Least::Door, "door"), (Least::BoxOffice, "box_office"), (Least::Manager, "manager")] {
        let (member, _) = app.user().await;
        crate::teams::join(app, sink, &organizer, &org, &member, role).await;
        members.push((least, member));
    }
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 20, 5).await;
    let draft = app.create_event(&organizer, json!({})).await.body["id"].as_str().unwrap().to_owned();
    let disposable =
        app.published_event(&organizer, json!({"title": "Disposable"})).await["id"].as_str().unwrap().to_owned();
    // One after the other: a buyer has one request in line per ticket type.
    let ids = [
        app.book_final(&buyer, &tt, 1).await,
        app.book_final(&buyer, &tt, 1).await,
        app.book_final(&buyer, &tt, 1).await,
    ];
    let (priced_event, priced) = app.on_sale_priced(&organizer, 20, 5, 1500).await;
    // Paid first: a buyer holds at most two unpaid bookings of an event.
    let invoiced = app.book_final(&buyer, &priced, 1).await;
    app.mark_paid(&organizer, priced_event["id"].as_str().unwrap(), &invoiced.to_string()).await;
    let held = [app.book_final(&buyer, &priced, 1).await, app.book_final(&buyer, &priced, 1).await];
    let invoices = app.get(&format!("/api/v1/bookings/{invoiced}/invoices"), Some(&buyer)).await;
    let invoice = invoices.body[0]["number"].as_str().unwrap_or_else(|| panic!("{invoices:?}")).to_owned();
    let billing = json!({"legal_name": "Organizer GmbH", "address": "Street 1"});
    app.call(Method::PUT, "/api/v1/me/billing", Some(&organizer), Some(billing)).await;
    let (_, scarce) = app.on_sale(&organizer, 1, 1).await;
    app.book_final(&organizer, &scarce, 1).await;
    let entry =
        app.post(&format!("/api/v1/ticket-types/{scarce}/waiting-list"), Some(&buyer), json!({"quantity": 1})).await;
    let waiting_entry = entry.body["id"].as_str().unwrap_or_else(|| panic!("{entry:?}")).to_owned();
    let booking = ids[0].to_string();
    let code = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body["tickets"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = app
        .post(
            &format!("/api/v1/events/{}/codes", event["id"].as_str().unwrap()),
            Some(&organizer),
            json!({"kind": "percent", "value": 10}),
        )
        .await;
    let voucher = made.body["items"][0]["id"].as_str().unwrap_or_else(|| panic!("{made:?}")).to_owned();
    let questions = format!("/api/v1/events/{}/questions", event["id"].as_str().unwrap());
    let mut asked = Vec::new();
    for label in ["Company", "Spare"] {
        let made = app.post(&questions, Some(&organizer), json!({"label": label, "kind": "text"})).await;
        asked.push(made.body["id"].as_str().unwrap_or_else(|| panic!("{made:?}")).to_owned());
    }
    let hooks = format!("/api/v1/organizations/{org}/webhooks");
    let mut endpoints = Vec::new();
    for n in 0..2 {
        let body = json!({"url": format!("https://hooks.example.com/{n}"), "events": ["booking.confirmed"]});
        let made = app.post(&hooks, Some(&organizer), body).await;
        endpoints.push(made.body["id"].as_str().unwrap_or_else(|| panic!("{made:?}")).to_owned());
    }
    app.post(&format!("{hooks}/{}/test", endpoints[0]), Some(&organizer), json!({})).await;
    let log = app.get(&format!("{hooks}/{}/deliveries", endpoints[0]), Some(&organizer)).await;
    let delivery = log.body["items"][0]["id"].as_str().unwrap_or_else(|| panic!("{log:?}")).to_owned();
    World {
        webhook: endpoints[0].clone(),
        spare_webhook: endpoints[1].clone(),
        delivery,
        members,
        voucher,
        question: asked[0].clone(),
        spare_question: asked[1].clone(),
        organizer,
        buyer,
        stranger,
        event: event["id"].as_str().unwrap().to_owned(),
        draft,
        disposable,
        ticket_type: tt,
        booking,
        spare_booking: ids[1].to_string(),
        third_booking: ids[2].to_string(),
        code,
        priced_event: priced_event["id"].as_str().unwrap().to_owned(),
        held: held[0].to_string(),
        held_to_mark: held[1].to_string(),
        waiting_entry,
        invoiced: invoiced.to_string(),
        invoice,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_anonymous_strangers_and_owners_as_documented() {
    // With Wallet passes configured, so their route answers as the others.
    let passes = std::env::temp_dir().join(format!("boxoffice-pass-{}", uuid::Uuid::new_v4().simple()));
    let flags = crate::papers::pass_signing(&passes);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let sink = crate::smtp::SmtpSink::start().await;
    let smtp = sink.url();
    let flags: Vec<&str> = flags.into_iter().chain(["--smtp-url", smtp.as_str()]).collect();
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&flags)).await;
    let w = world(&app, &sink).await;
    let unique = || format!("{}@example.org", uuid::Uuid::new_v4().simple());
    let booking_body = json!({"ticket_type_id": w.ticket_type, "quantity": 1});
    // (method, documented path, the path used, body, owner, expected). The owner
    // is the organizer for event routes and the buyer for booking and ticket routes.
    // The organizer's personal organization: its id is theirs.
    let org = app.get("/api/v1/me", Some(&w.organizer)).await.body["id"].as_str().unwrap().to_owned();
    let rows: Vec<Row> = vec![
        (
            "post",
            "/api/v1/auth/register",
            "/api/v1/auth/register".into(),
            Some(json!({"email": unique(), "password": "long enough", "name": "N"})),
            &w.organizer,
            Expect::Public(201),
        ),
        (
            "post",
            "/api/v1/auth/login",
            "/api/v1/auth/login".into(),
            Some(json!({"email": "nobody@example.org", "password": "wrong password"})),
            &w.organizer,
            Expect::Public(401),
        ),
        (
            "post",
            "/api/v1/auth/refresh",
            "/api/v1/auth/refresh".into(),
            Some(json!({"refresh_token": "made-up"})),
            &w.organizer,
            Expect::Public(401),
        ),
        ("get", "/api/v1/me", "/api/v1/me".into(), None, &w.buyer, Expect::Matrix(401, 200, 200)),
        ("get", "/api/v1/me/events", "/api/v1/me/events".into(), None, &w.organizer, Expect::Matrix(401, 200, 200)),
        ("get", "/api/v1/me/bookings", "/api/v1/me/bookings".into(), None, &w.buyer, Expect::Matrix(401, 200, 200)),
        ("get", "/api/v1/events", "/api/v1/events".into(), None, &w.organizer, Expect::Public(200)),
        (
            "post",
            "/api/v1/events",
            "/api/v1/events".into(),
            Some(crate::helpers::event_body()),
            &w.organizer,
            Expect::Matrix(401, 201, 201),
        ),
        (
            "get",
            "/api/v1/events/{id}",
            fill("/api/v1/events/{id}", &w, &w.draft),
            None,
            &w.organizer,
            Expect::Matrix(404, 404, 200),
        ),
        (
            "patch",
            "/api/v1/events/{id}",
            fill("/api/v1/events/{id}", &w, &w.event),
            Some(json!({"description": "Doors at 7"})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "delete",
            "/api/v1/events/{id}",
            fill("/api/v1/events/{id}", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 409),
        ),
        (
            "post",
            "/api/v1/events/{id}/publish",
            fill("/api/v1/events/{id}/publish", &w, &w.draft),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/ticket-types",
            fill("/api/v1/events/{id}/ticket-types", &w, &w.event),
            Some(json!({"name": "Late", "price_cents": 100, "capacity": 5})),
            &w.organizer,
            Expect::Matrix(401, 403, 201),
        ),
        (
            "patch",
            "/api/v1/events/{id}/ticket-types/{ticket_type_id}",
            fill("/api/v1/events/{id}/ticket-types/{ticket_type_id}", &w, &w.event),
            Some(json!({"capacity": 30})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/draw",
            fill("/api/v1/events/{id}/draw", &w, &w.event),
            None,
            &w.organizer,
            Expect::Public(200),
        ),
        (
            "get",
            "/api/v1/events/{id}/queue",
            fill("/api/v1/events/{id}/queue", &w, &w.event),
            None,
            &w.organizer,
            Expect::Public(200),
        ),
        (
            "post",
            "/api/v1/bookings",
            "/api/v1/bookings".into(),
            Some(booking_body),
            &w.buyer,
            Expect::Matrix(401, 202, 202),
        ),
        (
            "get",
            "/api/v1/bookings/{id}",
            fill("/api/v1/bookings/{booking}", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/bookings/{id}/details",
            fill("/api/v1/bookings/{booking}/details", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "put",
            "/api/v1/bookings/{id}/details",
            fill("/api/v1/bookings/{booking}/details", &w, ""),
            Some(json!({"answers": [{"question_id": w.question, "ticket_index": 0, "value": "Ferrous Ltd"}]})),
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/bookings/{id}/tickets.pdf",
            fill("/api/v1/bookings/{booking}/tickets.pdf", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/bookings/{id}/tickets.pkpass",
            fill("/api/v1/bookings/{booking}/tickets.pkpass", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        // Decided already: one event, then the stream ends.
        (
            "get",
            "/api/v1/bookings/{id}/events",
            fill("/api/v1/bookings/{booking}/events", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/bookings/{id}/cancel",
            fill("/api/v1/bookings/{spare}/cancel", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/tickets/{code}",
            fill("/api/v1/tickets/{code}", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/tickets/{code}/qr.svg",
            fill("/api/v1/tickets/{code}/qr.svg", &w, ""),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/check-ins",
            fill("/api/v1/events/{id}/check-ins", &w, &w.event),
            Some(json!({"code": w.code})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "delete",
            "/api/v1/events/{id}/check-ins/{code}",
            fill("/api/v1/events/{id}/check-ins/{code}", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 204),
        ),
        (
            "get",
            "/api/v1/events/{id}/attendees.csv",
            fill("/api/v1/events/{id}/attendees.csv", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/stats",
            fill("/api/v1/events/{id}/stats", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/cancel",
            fill("/api/v1/events/{id}/cancel", &w, &w.disposable),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/auth/verify",
            "/api/v1/auth/verify".into(),
            Some(json!({"token": "not-a-token"})),
            &w.organizer,
            Expect::Public(400),
        ),
        // Anyone may ask for a sign-in link (the answer tells nothing)...
        (
            "post",
            "/api/v1/auth/email-link",
            "/api/v1/auth/email-link".into(),
            Some(json!({"email": "anyone@example.org"})),
            &w.organizer,
            Expect::Public(202),
        ),
        // ...and only the link's token signs in.
        (
            "post",
            "/api/v1/auth/email-link/redeem",
            "/api/v1/auth/email-link/redeem".into(),
            Some(json!({"token": "not-a-token"})),
            &w.organizer,
            Expect::Public(400),
        ),
        // Verification is off in this world: nothing to resend, for anyone.
        (
            "post",
            "/api/v1/auth/verify/resend",
            "/api/v1/auth/verify/resend".into(),
            None,
            &w.organizer,
            Expect::Matrix(401, 409, 409),
        ),
        (
            "post",
            "/api/v1/bookings/{id}/payment",
            format!("/api/v1/bookings/{}/payment", w.held),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/bookings/{id}/payment/confirm",
            format!("/api/v1/bookings/{}/payment/confirm", w.held),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        // A priced hold: the owner is told to pay.
        (
            "post",
            "/api/v1/bookings/{id}/confirm",
            format!("/api/v1/bookings/{}/confirm", w.held),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 409),
        ),
        (
            "get",
            "/api/v1/events/{id}/bookings",
            format!("/api/v1/events/{}/bookings", w.priced_event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/bookings/{booking_id}/mark-paid",
            format!("/api/v1/events/{}/bookings/{}/mark-paid", w.priced_event, w.held_to_mark),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/bookings/{booking_id}/refund/paid-out",
            // Paid or not, this booking has no refund: its organizer hears so.
            format!("/api/v1/events/{}/bookings/{}/refund/paid-out", w.priced_event, w.held_to_mark),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 409),
        ),
        (
            "post",
            "/api/v1/events/{id}/bookings/{booking_id}/cancel",
            format!("/api/v1/events/{}/bookings/{}/cancel", w.event, w.third_booking),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        // Card payments are not configured in this world: there is no webhook to call.
        (
            "post",
            "/api/v1/payments/stripe/webhook",
            "/api/v1/payments/stripe/webhook".into(),
            Some(json!({})),
            &w.organizer,
            Expect::Public(404),
        ),
        // Seats of this type are on sale: nobody waits for them.
        (
            "post",
            "/api/v1/ticket-types/{id}/waiting-list",
            format!("/api/v1/ticket-types/{}/waiting-list", w.ticket_type),
            Some(json!({"quantity": 1})),
            &w.buyer,
            Expect::Matrix(401, 409, 409),
        ),
        (
            "post",
            "/api/v1/events/{id}/quotas",
            fill("/api/v1/events/{id}/quotas", &w, &w.event),
            Some(json!({"name": "Shared", "capacity": 50, "ticket_type_ids": [w.ticket_type]})),
            &w.organizer,
            Expect::Matrix(401, 403, 201),
        ),
        (
            "get",
            "/api/v1/events/{id}/quotas",
            fill("/api/v1/events/{id}/quotas", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/codes",
            fill("/api/v1/events/{id}/codes", &w, &w.event),
            Some(json!({"kind": "percent", "value": 10})),
            &w.organizer,
            Expect::Matrix(401, 403, 201),
        ),
        (
            "get",
            "/api/v1/events/{id}/codes",
            fill("/api/v1/events/{id}/codes", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/codes.csv",
            fill("/api/v1/events/{id}/codes.csv", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/codes/{code_id}",
            format!("/api/v1/events/{}/codes/{}", w.event, w.voucher),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "patch",
            "/api/v1/events/{id}/codes/{code_id}",
            format!("/api/v1/events/{}/codes/{}", w.event, w.voucher),
            Some(json!({"note": "for the press"})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "delete",
            "/api/v1/events/{id}/codes/{code_id}",
            format!("/api/v1/events/{}/codes/{}", w.event, w.voucher),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/questions",
            fill("/api/v1/events/{id}/questions", &w, &w.event),
            Some(json!({"label": "Dietary needs", "kind": "long_text"})),
            &w.organizer,
            Expect::Matrix(401, 403, 201),
        ),
        // Anyone who can see the event reads what it asks.
        (
            "get",
            "/api/v1/events/{id}/questions",
            fill("/api/v1/events/{id}/questions", &w, &w.event),
            None,
            &w.organizer,
            Expect::Public(200),
        ),
        (
            "patch",
            "/api/v1/events/{id}/questions/{question_id}",
            format!("/api/v1/events/{}/questions/{}", w.event, w.question),
            Some(json!({"label": "Company or school"})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "delete",
            "/api/v1/events/{id}/questions/{question_id}",
            format!("/api/v1/events/{}/questions/{}", w.event, w.spare_question),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 204),
        ),
        // Who may comes before the body's kind: a JSON body is 415 for the owner only.
        (
            "put",
            "/api/v1/events/{id}/image",
            fill("/api/v1/events/{id}/image", &w, &w.event),
            Some(json!({})),
            &w.organizer,
            Expect::Matrix(401, 403, 415),
        ),
        (
            "delete",
            "/api/v1/events/{id}/image",
            fill("/api/v1/events/{id}/image", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "delete",
            "/api/v1/waiting-list/{id}",
            format!("/api/v1/waiting-list/{}", w.waiting_entry),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 204),
        ),
        (
            "get",
            "/api/v1/me/waiting-list",
            "/api/v1/me/waiting-list".into(),
            None,
            &w.buyer,
            Expect::Matrix(401, 200, 200),
        ),
        (
            "get",
            "/api/v1/bookings/{id}/invoices",
            format!("/api/v1/bookings/{}/invoices", w.invoiced),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/bookings/{id}/invoices/{file}",
            format!("/api/v1/bookings/{}/invoices/{}.pdf", w.invoiced, w.invoice),
            None,
            &w.buyer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "put",
            "/api/v1/bookings/{id}/billing",
            format!("/api/v1/bookings/{}/billing", w.held),
            Some(json!({"name": "Acme Ltd", "address": "1 Road"})),
            &w.buyer,
            Expect::Matrix(401, 404, 204),
        ),
        ("get", "/api/v1/me/billing", "/api/v1/me/billing".into(), None, &w.organizer, Expect::Matrix(401, 404, 200)),
        (
            "put",
            "/api/v1/me/billing",
            "/api/v1/me/billing".into(),
            Some(json!({"legal_name": "Organizer GmbH", "address": "Street 1"})),
            &w.organizer,
            Expect::Matrix(401, 200, 200),
        ),
        (
            "get",
            "/api/v1/me/invoices.zip",
            "/api/v1/me/invoices.zip?from=2020-01-01&to=2030-12-31".into(),
            None,
            &w.organizer,
            Expect::Matrix(401, 200, 200),
        ),
        (
            "get",
            "/api/v1/organizations",
            "/api/v1/organizations".into(),
            None,
            &w.organizer,
            Expect::Matrix(401, 200, 200),
        ),
        (
            "post",
            "/api/v1/organizations",
            "/api/v1/organizations".into(),
            Some(json!({"name": "Matrix Club"})),
            &w.organizer,
            Expect::Matrix(401, 201, 201),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/members",
            format!("/api/v1/organizations/{org}/members"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/invitations",
            format!("/api/v1/organizations/{org}/invitations"),
            Some(json!({"email": unique(), "role": "door"})),
            &w.organizer,
            Expect::Matrix(401, 404, 201),
        ),
        // No such invitation: nothing to withdraw.
        (
            "delete",
            "/api/v1/organizations/{id}/invitations/{invitation_id}",
            format!("/api/v1/organizations/{org}/invitations/{org}"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 404),
        ),
        // The owner keeps their own role: nothing changes.
        (
            "patch",
            "/api/v1/organizations/{id}/members/{user_id}",
            format!("/api/v1/organizations/{org}/members/{org}"),
            Some(json!({"role": "owner"})),
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        // The last owner cannot leave.
        (
            "delete",
            "/api/v1/organizations/{id}/members/{user_id}",
            format!("/api/v1/organizations/{org}/members/{org}"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 409),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/webhooks",
            format!("/api/v1/organizations/{org}/webhooks"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/webhooks",
            format!("/api/v1/organizations/{org}/webhooks"),
            Some(json!({"url": "https://hooks.example.com/new", "events": ["event.published"]})),
            &w.organizer,
            Expect::Matrix(401, 404, 201),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}",
            format!("/api/v1/organizations/{org}/webhooks/{}", w.webhook),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "patch",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}",
            format!("/api/v1/organizations/{org}/webhooks/{}", w.webhook),
            Some(json!({"description": "The box office's CRM"})),
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "delete",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}",
            format!("/api/v1/organizations/{org}/webhooks/{}", w.spare_webhook),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 204),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}/rotate",
            format!("/api/v1/organizations/{org}/webhooks/{}/rotate", w.webhook),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries",
            format!("/api/v1/organizations/{org}/webhooks/{}/deliveries", w.webhook),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
            format!("/api/v1/organizations/{org}/webhooks/{}/deliveries/{}/replay", w.webhook, w.delivery),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 202),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}/replay",
            format!("/api/v1/organizations/{org}/webhooks/{}/replay", w.webhook),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
            &w.organizer,
            Expect::Matrix(401, 404, 202),
        ),
        (
            "post",
            "/api/v1/organizations/{id}/webhooks/{webhook_id}/test",
            format!("/api/v1/organizations/{org}/webhooks/{}/test", w.webhook),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 202),
        ),
        (
            "post",
            "/api/v1/events/{id}/messages/preview",
            fill("/api/v1/events/{id}/messages/preview", &w, &w.event),
            Some(json!({"audience": "all", "subject": "Doors at 7", "body": "Hello {name}"})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/messages",
            fill("/api/v1/events/{id}/messages", &w, &w.event),
            Some(json!({"audience": "all", "subject": "Doors at 7", "body": "Hello {name}"})),
            &w.organizer,
            Expect::Matrix(401, 403, 202),
        ),
        (
            "get",
            "/api/v1/events/{id}/messages",
            fill("/api/v1/events/{id}/messages", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/check-ins/sync",
            fill("/api/v1/events/{id}/check-ins/sync", &w, &w.event),
            Some(json!({"device_id": "matrix", "gate": "Gate A", "scans": []})),
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/check-ins/offline",
            fill("/api/v1/events/{id}/check-ins/offline", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "get",
            "/api/v1/events/{id}/check-in-lists",
            fill("/api/v1/events/{id}/check-in-lists", &w, &w.event),
            None,
            &w.organizer,
            Expect::Matrix(401, 403, 200),
        ),
        (
            "post",
            "/api/v1/events/{id}/check-in-lists",
            fill("/api/v1/events/{id}/check-in-lists", &w, &w.event),
            Some(json!({"name": "Main entrance", "ticket_type_ids": [w.ticket_type]})),
            &w.organizer,
            Expect::Matrix(401, 403, 201),
        ),
        // The personal organization's details, set in the world.
        (
            "get",
            "/api/v1/organizations/{id}/billing",
            format!("/api/v1/organizations/{org}/billing"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "put",
            "/api/v1/organizations/{id}/billing",
            format!("/api/v1/organizations/{org}/billing"),
            Some(json!({"legal_name": "Organizer GmbH", "address": "Street 1"})),
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/invoices.zip",
            format!("/api/v1/organizations/{org}/invoices.zip?from=2020-01-01&to=2030-12-31"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/organizations/{id}/audit",
            format!("/api/v1/organizations/{org}/audit"),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 200),
        ),
        (
            "get",
            "/api/v1/invitations/{token}",
            "/api/v1/invitations/no-such-token".into(),
            None,
            &w.organizer,
            Expect::Public(404),
        ),
        (
            "post",
            "/api/v1/invitations/{token}/accept",
            "/api/v1/invitations/no-such-token/accept".into(),
            None,
            &w.organizer,
            Expect::Matrix(401, 404, 404),
        ),
        ("get", "/healthz", "/healthz".into(), None, &w.organizer, Expect::Public(200)),
        ("get", "/readyz", "/readyz".into(), None, &w.organizer, Expect::Public(200)),
        // Last: it ends the owner's session.
        ("post", "/api/v1/auth/logout", "/api/v1/auth/logout".into(), None, &w.stranger, Expect::Matrix(401, 204, 204)),
    ];

    let doc = app.get("/openapi.json", None).await.body;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    let covered: BTreeSet<(String, String)> = rows.iter().map(|r| (r.0.to_owned(), r.1.to_owned())).collect();
    assert_eq!(covered, documented, "every documented route needs a row in this table");

    for (method, documented_path, path, body, owner, expect) in rows {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let call = |token: Option<String>| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let app = &app;
            async move { app.call(method, &path, token.as_deref(), body).await.status }
        };
        match expect {
            Expect::Public(status) => {
                assert_eq!(
                    call(None).await,
                    StatusCode::from_u16(status).unwrap(),
                    "{method} {documented_path} anonymous"
                );
            }
            Expect::Matrix(anonymous, other, own) => {
                let other_user = if owner == &w.stranger { w.buyer.clone() } else { w.stranger.clone() };
                assert_eq!(call(None).await.as_u16(), anonymous, "{method} {documented_path} anonymous");
                assert_eq!(call(Some(other_user)).await.as_u16(), other, "{method} {documented_path} another user");
                let members = members_of(method.as_str().to_lowercase().as_str(), documented_path)
                    .unwrap_or_else(|| panic!("{method} {documented_path} names no least role in members_of"));
                let organizers = owner == &w.organizer;
                // Who makes the owner's call: on the organizer's routes the
                // least role let in (the owner when only they are).
                let mut owner_call = owner.clone();
                for (role, token) in &w.members {
                    let expected = match members {
                        Members::Outsiders => other,
                        Members::From(least) if *role < least => {
                            if organizers {
                                403
                            } else {
                                other
                            }
                        }
                        Members::From(_) if organizers => {
                            owner_call = token.clone();
                            break;
                        }
                        Members::From(_) => {
                            assert_eq!(
                                method,
                                Method::GET,
                                "{documented_path}: a buyer's route lets members read only"
                            );
                            own
                        }
                    };
                    assert_eq!(
                        call(Some(token.clone())).await.as_u16(),
                        expected,
                        "{method} {documented_path} as {role:?}"
                    );
                }
                let who = if &owner_call == owner { "owner" } else { "the least role let in" };
                assert_eq!(call(Some(owner_call)).await.as_u16(), own, "{method} {documented_path} {who}");
            }
        }
    }
}
