//! The organizer's pages: a new event through the form (a mistake shown
//! next to its field), publishing, live sales, orders (mark paid, refund),
//! attendees with the CSV, and the door; another person sees none of it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp, eventually, spawn_app};
use crate::pages::Visit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_creates_publishes_and_runs_an_event_from_the_browser() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let browser = Browser::start("back-office").await;
    browser.sign_in(&app.base, &email).await;

    // A new event with two ticket types; a capacity of 0 comes back with its message.
    browser.goto(&format!("{}/manage", app.base)).await;
    browser.wait_for_text("My events").await;
    browser.accessibility().await;
    browser.click("New event").await;
    browser.wait_for_text("Ticket type 2").await;
    browser.accessibility().await;
    let title = format!("Harbour Gala {}", Uuid::new_v4().simple());
    browser.fill("Title", &title).await;
    browser.fill("Venue", "Harbour Hall").await;
    // A date picker is typed into differently per locale: set as the form sends it.
    browser.execute("document.getElementById('starts_at').value = '2031-12-31T19:30'", json!([])).await;
    browser.fill("Time zone", "Europe/Berlin").await;
    for (field, value) in [("tt0-name", "Standing"), ("tt0-price", "25.00"), ("tt0-capacity", "0"), ("tt0-max", "4")] {
        browser.type_into(&format!("#{field}"), value).await;
    }
    for (field, value) in [("tt1-name", "Balcony"), ("tt1-price", "40"), ("tt1-capacity", "2"), ("tt1-max", "2")] {
        browser.type_into(&format!("#{field}"), value).await;
    }
    browser.click("Publish").await;
    browser.wait_for_text("must be between 1 and 1000000").await;
    let kept = browser.execute("return [document.getElementById('tt0-name').value, document.getElementById('title').value, document.getElementById('tt0-capacity').getAttribute('aria-invalid')]", json!([])).await;
    assert_eq!(kept, json!(["Standing", title, "true"]), "input kept, the field marked");
    browser.accessibility().await;
    browser.type_into("#tt0-capacity", "100").await;
    browser.click("Publish").await;
    browser.wait_for_text("Live sales").await;
    browser.wait_for_text("Published").await;
    browser.wait_for_text("CET (Europe/Berlin)").await;
    browser.accessibility().await;
    let event_id = browser.wait_for_path("/manage/events/").await.trim_start_matches("/manage/events/").to_owned();
    for page in ["edit", "cancel"] {
        browser.goto(&format!("{}/manage/events/{event_id}/{page}", app.base)).await;
        browser.wait_for_text(if page == "edit" { "Edit event" } else { "Cancel this event?" }).await;
        browser.accessibility().await;
    }
    browser.goto(&format!("{}/manage/events/{event_id}", app.base)).await;

    // A buyer books two seats (offline): the live sales show them held, without a reload.
    let event = app.get(&format!("/api/v1/events/{event_id}"), None).await.body;
    let standing = event["ticket_types"].as_array().unwrap().iter().find(|t| t["name"] == "Standing").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &standing, 2).await;
    browser.wait_for_text("Standing\t0\t2").await;
    browser.screenshot("live-sales").await; // the README's picture

    // Orders: mark the transfer paid.
    browser.click("Orders").await;
    browser.wait_for_text("Mark paid").await;
    browser.accessibility().await;
    browser.click("Mark paid").await;
    browser.wait_for_text("offline: succeeded").await;
    let tickets = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body["tickets"].clone();
    let code = tickets[0]["code"].as_str().unwrap().to_owned();

    // Attendees, and the CSV behind "Download CSV".
    browser.goto(&format!("{}/manage/events/{event_id}/attendees", app.base)).await;
    browser.wait_for_text(&code).await;
    browser.accessibility().await;
    let csv = browser
        .execute_async("fetch(document.querySelector('a[download]').href).then(r => r.text()).then(arguments[0])")
        .await;
    assert!(csv.as_str().unwrap().starts_with("ticket_code,"), "{csv}");
    assert!(csv.as_str().unwrap().contains(&code));

    // The door: Admitted, Already checked in, Not valid, Undo.
    browser.goto(&format!("{}/manage/events/{event_id}/door", app.base)).await;
    browser.wait_for_text("0 checked in of 2 sold").await;
    browser.accessibility().await;
    browser.fill("Ticket code", &code).await;
    browser.click("Check in").await;
    browser.wait_for_text("Admitted").await;
    browser.wait_for_text("Standing").await;
    browser.screenshot("door").await; // the README's picture
    browser.accessibility().await;
    browser.fill("Ticket code", &code).await;
    browser.click("Check in").await;
    browser.wait_for_text("Already checked in at").await;
    // A real ticket, of another event.
    let (elsewhere, other_tt) = app.on_sale(&user_token(&app, &email).await, 5, 1).await;
    assert_ne!(elsewhere["id"].as_str(), Some(event_id.as_str()));
    let other_booking = app.book_final(&buyer, &other_tt, 1).await;
    let other_code =
        app.get(&format!("/api/v1/bookings/{other_booking}"), Some(&buyer)).await.body["tickets"][0]["code"]
            .as_str()
            .unwrap()
            .to_owned();
    browser.fill("Ticket code", &other_code).await;
    browser.click("Check in").await;
    browser.wait_for_text("Not valid").await;
    browser.goto(&format!("{}/manage/events/{event_id}/door", app.base)).await;
    browser.fill("Ticket code", tickets[1]["code"].as_str().unwrap()).await;
    browser.click("Check in").await;
    browser.wait_for_text("Admitted").await;
    browser.click("Undo").await;
    browser.wait_for_text("Check-in undone").await;
    browser.wait_for_text("1 checked in of 2 sold").await;

    // Refund a paid booking from Orders, with a confirmation step (not the
    // one just let in: a booking whose ticket was used is not refunded).
    let balcony = event["ticket_types"].as_array().unwrap().iter().find(|t| t["name"] == "Balcony").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (other, _) = app.user().await;
    let second = app.book_final(&other, &balcony, 2).await;
    assert_eq!(
        app.mark_paid(&user_token(&app, &email).await, &event_id, &second.to_string()).await.status,
        StatusCode::OK
    );
    browser.goto(&format!("{}/manage/events/{event_id}/orders?status=confirmed", app.base)).await;
    browser.wait_for_text("80.00 EUR").await;
    browser
        .execute(&format!("document.querySelector('a[href$=\"/orders/{second}/refund\"]').click()"), json!([]))
        .await;
    browser.wait_for_text("Refund this booking?").await;
    browser.accessibility().await;
    browser.click("Refund").await;
    browser.wait_for_text("Cancelled").await;
    browser.wait_for_text("80.00 EUR:").await;
}

/// An access token of `email`'s account (for the organizer's API calls).
async fn user_token(app: &TestApp, email: &str) -> String {
    app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_back_office_pages_are_not_there() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 2).await;
    let id = event["id"].as_str().unwrap();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 1).await;

    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    for path in [
        format!("/manage/events/{id}"),
        format!("/manage/events/{id}/orders"),
        format!("/manage/events/{id}/orders/{booking}/refund"),
        format!("/manage/events/{id}/attendees"),
        format!("/manage/events/{id}/attendees.csv"),
        format!("/manage/events/{id}/door"),
        format!("/manage/events/{id}/edit"),
        format!("/manage/events/{id}/cancel"),
        format!("/manage/events/{id}/codes"),
        format!("/manage/events/{id}/codes.csv"),
        format!("/manage/events/{id}/questions"),
    ] {
        let page = visit.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    let csrf = visit.get("/manage").await.hidden("csrf");
    for path in [
        format!("/manage/events/{id}/publish"),
        format!("/manage/events/{id}/orders/{booking}/mark-paid"),
        format!("/manage/events/{id}/orders/{booking}/paid-back"),
        format!("/manage/events/{id}/orders/{booking}/refund"),
        format!("/manage/events/{id}/door"),
        format!("/manage/events/{id}/door/undo"),
        format!("/manage/events/{id}/edit"),
        format!("/manage/events/{id}/cancel"),
        format!("/manage/events/{id}/codes"),
        format!("/manage/events/{id}/codes/{}/disable", uuid::Uuid::new_v4()),
        format!("/manage/events/{id}/questions"),
        format!("/manage/events/{id}/questions/{}/delete", uuid::Uuid::new_v4()),
        format!("/manage/events/{id}/image"),
        format!("/manage/events/{id}/image/remove"),
    ] {
        let page = visit.post(&path, &[("csrf", &csrf), ("code", "AAAAAAAAAAAAAAAAAAAAAAAAAA")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "POST {path}");
    }
    let booked = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await;
    assert_eq!(booked.body["status"], "confirmed", "nothing was done to it");
    // Nor is another person's booking there to put in a calendar.
    let calendar = visit.get(&format!("/bookings/{booking}/calendar.ics")).await;
    assert_eq!(calendar.status, StatusCode::NOT_FOUND);
    // Signed out, a back-office page asks to sign in first.
    let mut anonymous = Visit::new(&app);
    let page = anonymous.get(&format!("/manage/events/{id}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login?next="));
}

/// The door's camera: Chromium's fake camera shows a real ticket's QR code;
/// the page reads it (BarcodeDetector, or the vendored decoder here) and
/// checks the ticket in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_checks_in_a_ticket_shown_to_the_camera() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let organizer = user_token(&app, &email).await;
    let (event, tt) = app.on_sale(&organizer, 10, 2).await;
    let event_id = event["id"].as_str().unwrap();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 1).await;
    let code = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body["tickets"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();

    let video = crate::browser::camera_showing(&code);
    let switches = [
        "--use-fake-device-for-media-stream".to_owned(),
        "--use-fake-ui-for-media-stream".to_owned(),
        format!("--use-file-for-fake-video-capture={}", video.display()),
    ];
    let browser = Browser::start_with("door-camera", &switches).await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/{event_id}/door", app.base)).await;
    browser.click("Scan with camera").await;
    browser.wait_for_text("Admitted").await;
    browser.wait_for_text("Test User").await;
    // Still scanning: the same ticket, read again, is refused.
    browser.wait_for_text("Already checked in at").await;
    browser.click("Stop camera").await;
    let _ = std::fs::remove_file(video);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_edited_a_ticket_type_added_and_the_event_cancelled_from_the_pages() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let organizer = user_token(&app, &email).await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 3).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;

    let form = visit.get(&format!("/manage/events/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.hidden("csrf");
    let value = |name: &str| {
        let marker = format!("name=\"{name}\" type=\"");
        let at = form.body.find(&marker).unwrap_or_else(|| panic!("no field {name}"));
        let rest = &form.body[at..];
        rest.split("value=\"").nth(1).map(|v| v.split('"').next().unwrap().replace("&#x2f;", "/")).unwrap_or_default()
    };
    let mut fields: Vec<(String, String)> = [
        "title",
        "venue",
        "starts_at",
        "timezone",
        "sales_start",
        "prequeue_minutes",
        "cancellation_deadline",
        "hold_seconds",
        "offline_hold_hours",
        "offer_hours",
        "currency",
        "ticket_types[0].name",
        "ticket_types[0].price",
        "ticket_types[0].max_per_order",
    ]
    .iter()
    .map(|f| ((*f).to_owned(), value(f)))
    .collect();
    assert_eq!(value("ticket_types[0].capacity"), "10", "the form shows the event as it is");
    fields.push(("csrf".into(), csrf.clone()));
    fields.push(("title".into(), "Renamed Gala".into()));
    // Below the three seats sold: refused next to the capacity, the input kept.
    fields.push(("ticket_types[0].capacity".into(), "2".into()));
    let refused = visit.post(&format!("/manage/events/{id}/edit"), &form_of(&fields)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("id=\"tt0-capacity-error\""), "{}", refused.body);
    assert!(refused.body.contains("value=\"2\""));

    fields.retain(|(k, _)| k != "ticket_types[0].capacity");
    fields.push(("ticket_types[0].capacity".into(), "20".into()));
    for (k, v) in
        [("ticket_types[1].name", "Balcony"), ("ticket_types[1].price", "0"), ("ticket_types[1].capacity", "5")]
    {
        fields.push((k.into(), v.into()));
    }
    let saved = visit.post(&format!("/manage/events/{id}/edit"), &form_of(&fields)).await;
    assert_eq!(
        (saved.status, saved.location()),
        (StatusCode::SEE_OTHER, format!("/manage/events/{id}").as_str()),
        "{}",
        saved.body
    );
    let now = app.get(&format!("/api/v1/events/{id}"), None).await.body;
    assert_eq!(now["title"], "Renamed Gala");
    let types = now["ticket_types"].as_array().unwrap();
    assert_eq!((types.len(), types[0]["capacity"].as_i64(), types[0]["remaining"].as_i64()), (2, Some(20), Some(17)));
    // A third type named like the second: refused next to that row's name.
    let mut again = fields.clone();
    for (k, v) in
        [("ticket_types[2].name", "Balcony"), ("ticket_types[2].price", "0"), ("ticket_types[2].capacity", "1")]
    {
        again.push((k.into(), v.into()));
    }
    let taken = visit.post(&format!("/manage/events/{id}/edit"), &form_of(&again)).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", taken.body);
    assert!(taken.body.contains("id=\"tt2-name-error\""), "{}", taken.body);
    assert!(taken.body.contains("already has a ticket type with that name"), "{}", taken.body);

    // Cancel, after a page that says what happens.
    let confirm = visit.get(&format!("/manage/events/{id}/cancel")).await;
    assert!(confirm.body.contains("3 seats sold"), "{}", confirm.body);
    let cancelled = visit.post(&format!("/manage/events/{id}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&format!("/api/v1/events/{id}"), None).await.body["status"], "cancelled");
    let theirs = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await;
    assert_eq!(
        (theirs.body["status"].as_str(), theirs.body["reason"].as_str()),
        (Some("cancelled"), Some("event_cancelled"))
    );
}

fn form_of(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// "Refund" from Orders on a booking paid by card: the refund reaches Stripe
/// (the emulator) once, for the whole amount, and the order shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_refunded_from_orders_reaches_stripe() {
    let base = crate::helpers::stripe_emulator().await;
    let app = crate::helpers::spawn_app_with(crate::helpers::stripe_config(&base, &[])).await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let organizer = user_token(&app, &email).await;
    let (event, tt) = app.on_sale_priced(&organizer, 5, 2, 3100).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 1).await;
    let card = crate::helpers::card(&base, "4242424242424242").await;
    let paid =
        app.post(&format!("/api/v1/bookings/{booking}/payment"), Some(&buyer), json!({"payment_method": card})).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    let intent: String =
        sqlx::query_scalar("SELECT intent_id FROM payments WHERE booking_id = $1 AND intent_id IS NOT NULL")
            .bind(booking)
            .fetch_one(app.db())
            .await
            .unwrap();

    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let orders = visit.get(&format!("/manage/events/{id}/orders")).await;
    assert!(orders.body.contains("stripe: succeeded"), "{}", orders.body);
    let csrf = orders.hidden("csrf");
    let refunded = visit.post(&format!("/manage/events/{id}/orders/{booking}/refund"), &[("csrf", &csrf)]).await;
    assert_eq!(refunded.status, StatusCode::SEE_OTHER, "{}", refunded.body);
    let at_stripe = || async {
        let refunds: serde_json::Value = reqwest::Client::new()
            .get(format!("{base}/v1/refunds?payment_intent={intent}&limit=100"))
            .basic_auth(crate::helpers::STRIPE_SECRET_KEY, Some(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = refunds["data"].as_array().cloned().unwrap_or_default();
        (!data.is_empty()).then_some(data)
    };
    let refunds =
        crate::helpers::eventually(std::time::Duration::from_secs(30), "the refund reaches Stripe", at_stripe).await;
    assert_eq!((refunds.len(), refunds[0]["amount"].as_i64()), (1, Some(3100)));
    crate::helpers::eventually(std::time::Duration::from_secs(30), "the order shows the refund done", || async {
        visit_orders_show(&app, &email, &id, "31.00 EUR: succeeded").await.then_some(())
    })
    .await;
    // Stripe paid it back itself: there is nothing to mark paid back by hand.
    let by_hand =
        app.post(&format!("/api/v1/events/{id}/bookings/{booking}/refund/paid-out"), Some(&organizer), json!({})).await;
    assert_eq!((by_hand.status, by_hand.code()), (StatusCode::CONFLICT, "no_refund_owed"), "{by_hand:?}");
}

async fn visit_orders_show(app: &TestApp, email: &str, event: &str, text: &str) -> bool {
    let mut visit = Visit::new(app);
    visit.sign_in(email).await;
    visit.get(&format!("/manage/events/{event}/orders")).await.body.contains(text)
}

/// Yen have no minor units: a ticket type of 500 JPY is created as 500 (not
/// 50,000), shown as "500 JPY", edited as "500" (not "5.00"), and saved
/// unchanged stays 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_type_in_yen_is_priced_shown_and_edited_in_whole_yen() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let browser = Browser::start("back-office-yen").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/new", app.base)).await;
    browser.wait_for_text("Ticket type 2").await;
    browser.fill("Title", "Tokyo Night").await;
    browser.fill("Venue", "Shibuya Hall").await;
    browser.execute("document.getElementById('starts_at').value = '2031-12-31T19:30'", json!([])).await;
    browser.fill("Time zone", "Asia/Tokyo").await;
    browser.type_into("#currency", "JPY").await;
    for (field, value) in [("tt0-name", "Standing"), ("tt0-price", "500"), ("tt0-capacity", "50"), ("tt0-max", "4")] {
        browser.type_into(&format!("#{field}"), value).await;
    }
    browser.click("Publish").await;
    browser.wait_for_text("Live sales").await;
    let event_id = browser.wait_for_path("/manage/events/").await.trim_start_matches("/manage/events/").to_owned();
    let path = format!("/api/v1/events/{event_id}");
    let price = || async { app.get(&path, None).await.body["ticket_types"][0].clone() };
    let stored = price().await;
    assert_eq!((stored["price_cents"].as_i64(), stored["currency"].as_str()), (Some(500), Some("JPY")));
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    browser.wait_for_text("500 JPY").await;

    browser.goto(&format!("{}/manage/events/{event_id}/edit", app.base)).await;
    browser.wait_for_text("Edit event").await;
    let shown = browser.execute("return document.getElementById('tt0-price').value", json!([])).await;
    assert_eq!(shown, json!("500"), "in whole yen, as typed");
    browser.type_into("#tt0-price", "500.5").await;
    browser.click("Save").await;
    browser.wait_for_text("Enter a price like 500").await;
    browser.type_into("#tt0-price", "500").await;
    browser.click("Save").await;
    browser.wait_for_text("Live sales").await;
    assert_eq!(price().await["price_cents"].as_i64(), Some(500), "saved unchanged: still 500");
}

/// Issue 28, item 7: requests in the pre-queue are in PostgreSQL (parked by
/// the worker) and in Redis (not decided yet); the organizer's "In line"
/// counts each once, on the page and in the stats, and once the open has
/// decided them the figure is back to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_line_counts_each_pre_queued_request_once() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let organizer = user_token(&app, &email).await;
    // An hour away; moved to now once the pre-queue was seen.
    let sales_start = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = app
        .published_event(
            &organizer,
            json!({"sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 120,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 50, "max_per_order": 1}]}),
        )
        .await;
    let (event_id, tt) = (event["id"].as_str().unwrap(), event["ticket_types"][0]["id"].as_str().unwrap());
    let buyers = app.users(5).await;
    for buyer in &buyers {
        assert_eq!(app.book(buyer, tt, 1, None).await.status, StatusCode::ACCEPTED);
    }
    let parked = || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE ticket_type_id = $1::uuid AND status = 'pending'")
                .bind(tt)
                .fetch_one(app.db())
                .await
                .unwrap();
        (n == 5).then_some(())
    };
    eventually(Duration::from_secs(30), "the worker parked the five requests", parked).await;

    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(
        (&stats.body["ticket_types"][0]["pending"], &stats.body["totals"]["pending"]),
        (&json!(5), &json!(5)),
        "{stats:?}"
    );
    let browser = Browser::start("in-line-once").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/{event_id}", app.base)).await;
    // Ticket type, sold, held, in line.
    browser.wait_for_text("Standard\t0\t0\t5\t").await;
    browser.wait_for_text("5 requests in line, 5 of them in the pre-queue").await;

    // The open decides them: five sold, nobody in line, without a reload.
    let open_now = json!({"sales_start": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()});
    let moved = app.patch(&format!("/api/v1/events/{event_id}"), Some(&organizer), open_now).await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    browser.wait_for_text("Standard\t5\t0\t0\t").await;
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(stats.body["totals"]["pending"], json!(0), "{stats:?}");

    // Item 9: free orders say so in the payment column.
    browser.click("Orders").await;
    browser.wait_for_text("Standard").await;
    let payments = browser
        .execute(
            "return [...document.querySelectorAll('tbody tr')].map(r => r.children[7].textContent.trim())",
            json!([]),
        )
        .await;
    assert_eq!(payments, json!(vec!["free"; 5]), "{payments}");
}

/// Issue 28, item 3: a booking's short reference, as the buyer sees it on
/// the booking page (and quotes with an offline payment), and as the
/// organizer finds the order by it in Orders, typed the way people type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_found_by_the_reference_the_buyer_reads_out() {
    let app = spawn_app().await;
    let organizer_email = format!("{}@example.org", Uuid::new_v4().simple());
    let buyer_email = format!("{}@example.org", Uuid::new_v4().simple());
    for email in [&organizer_email, &buyer_email] {
        assert_eq!(app.register(email).await.status, StatusCode::CREATED);
    }
    let organizer = user_token(&app, &organizer_email).await;
    let buyer = user_token(&app, &buyer_email).await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 2, 2500).await;
    let event_id = event["id"].as_str().unwrap();
    let (other, _) = app.user().await;
    app.book_final(&other, &tt, 1).await; // another order, which the search must leave out
    let booking = app.book_final(&buyer, &tt, 2).await;
    let reference = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(crate::helpers::is_reference(&reference), "{reference}");

    let browser = Browser::start("reference").await;
    browser.sign_in(&app.base, &buyer_email).await;
    browser.goto(&format!("{}/bookings/{booking}", app.base)).await;
    browser.wait_for_text(&format!("Booking reference {reference}")).await;
    browser.wait_for_text(&format!("Quote your booking reference {reference} with your payment")).await;
    browser.wait_for_text("Main Hall, Berlin").await; // item 4: the venue beside the date
    // Item 5: "Add to calendar" gives the event as a calendar program reads it.
    browser.wait_for_text("Add to calendar").await;
    let ics = browser
        .execute_async(
            "fetch(document.querySelector('a[href$=\"calendar.ics\"]').href).then(r => r.text()).then(arguments[0])",
        )
        .await;
    let entry = crate::emails::read_calendar(ics.as_str().unwrap());
    assert_eq!((&entry["method"], &entry["location"]), (&json!("PUBLISH"), &json!("Main Hall, Berlin")), "{entry}");
    assert!(entry["uid"].as_str().unwrap().contains(&booking.to_string()), "{entry}");
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_text(&reference).await;
    // Item 4: My tickets says what, when (in the event's zone) and where, not only when it was booked.
    let starts =
        app.get(&format!("/api/v1/events/{event_id}"), None).await.body["starts_at"].as_str().unwrap().to_owned();
    let when = boxoffice::domain::event::local_time(starts.parse().unwrap(), "UTC");
    browser.wait_for_text(&format!("{when} · Main Hall, Berlin")).await;
    browser.wait_for_text(&format!("{reference} · 2 × Standard · Held")).await;
    browser.click("Sign out").await;
    browser.wait_for_text("Sign in").await;

    browser.sign_in(&app.base, &organizer_email).await;
    browser.goto(&format!("{}/manage/events/{event_id}/orders", app.base)).await;
    browser.wait_for_text(&reference).await;
    // Item 9: at 1280 px every action is on screen and the table needs no sideways scrolling.
    let fits = "return [...document.querySelectorAll('td.actions button, td.actions a')]
                    .every(e => e.getBoundingClientRect().right <= window.innerWidth)
                && document.querySelector('.scroll').scrollWidth <= document.querySelector('.scroll').clientWidth";
    assert_eq!(browser.execute(fits, json!([])).await, json!(true), "Orders fit at 1280 px");
    browser.screenshot("orders-1280").await;
    // And "My events" on a 375-px phone does not scroll sideways.
    let phone = Browser::start_with("reference-phone", &["--window-size=375,812".to_owned()]).await;
    phone.sign_in(&app.base, &organizer_email).await;
    phone.goto(&format!("{}/manage", app.base)).await;
    phone.wait_for_text("Night of Rust").await;
    let no_sideways = "return document.documentElement.scrollWidth <= window.innerWidth";
    assert_eq!(phone.execute(no_sideways, json!([])).await, json!(true), "My events fit at 375 px");
    phone.screenshot("my-events-375").await;
    drop(phone);
    let orders_shown = || async {
        browser.execute("return document.querySelectorAll('tbody tr').length", json!([])).await.as_u64().unwrap()
    };
    assert_eq!(orders_shown().await, 2);
    // Read out on the phone and typed in lower case without the dash.
    let typed = reference.replace('-', "").to_lowercase();
    browser.fill("Search orders", &typed).await;
    browser.click("Search").await;
    browser.wait_for_path(&format!("/manage/events/{event_id}/orders?q={typed}")).await;
    browser.wait_for_text(&buyer_email).await;
    assert_eq!(orders_shown().await, 1, "only the order with that reference");
    browser.accessibility().await;
    // By the buyer's email, and a search that finds nothing says so.
    browser.goto(&format!("{}/manage/events/{event_id}/orders?q={}", app.base, &buyer_email[..8])).await;
    browser.wait_for_text(&reference).await;
    assert_eq!(orders_shown().await, 1);
    browser.fill("Search orders", "nobody-here").await;
    browser.click("Search").await;
    browser.wait_for_text("No orders found for “nobody-here”").await;

    let api = |q: String| {
        let (app, organizer) = (&app, &organizer);
        async move { app.get(&format!("/api/v1/events/{event_id}/bookings?q={q}"), Some(organizer)).await }
    };
    let found = api(typed).await;
    assert_eq!(found.body["items"].as_array().map(Vec::len), Some(1), "{found:?}");
    assert_eq!(found.body["items"][0]["reference"], json!(reference));
    let too_long = api("x".repeat(201)).await;
    assert_eq!((too_long.status.as_u16(), too_long.fields()), (422, vec!["q".to_owned()]), "{too_long:?}");
}

/// Issue 28, item 10: an offline refund is paid out by the organizer, who
/// marks it paid back in Orders; the buyer's refund email goes then, once,
/// however often (and however many at once) it is marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_refund_is_marked_paid_back_and_the_buyer_hears_of_it_once() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let organizer = user_token(&app, &email).await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 2, 4000).await;
    let event_id = event["id"].as_str().unwrap();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 2).await;
    let paid = app.mark_paid(&organizer, event_id, &booking.to_string()).await;
    assert_eq!(paid.body["status"], "confirmed", "{paid:?}");
    let refund_mails = || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'refund_succeeded' AND booking_id = $1")
                .bind(booking)
                .fetch_one(app.db())
                .await
                .unwrap();
        n
    };

    let browser = Browser::start("paid-back").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/{event_id}/orders", app.base)).await;
    browser.click("Refund").await;
    browser.wait_for_text("Refund this booking?").await;
    browser.click("Refund").await;
    browser.wait_for_text("80.00 EUR: to pay back").await;
    assert_eq!(refund_mails().await, 0, "no refund email before the money went back");
    browser.accessibility().await;
    browser.click("Mark paid back").await;
    browser.wait_for_text("80.00 EUR: paid back by").await;
    assert!(!browser.text().await.contains("Mark paid back"));
    let shown = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await;
    assert_eq!(shown.body["refund"]["status"], "succeeded", "{shown:?}");
    assert!(shown.body["refund"]["paid_back_at"].is_string(), "{shown:?}");
    assert_eq!(refund_mails().await, 1, "the buyer hears of it once it is paid back");

    // Pressed again: the same answer, no second email.
    let path = format!("/api/v1/events/{event_id}/bookings/{booking}/refund/paid-out");
    assert_eq!(app.post(&path, Some(&organizer), json!({})).await.status, StatusCode::OK);
    assert_eq!(refund_mails().await, 1);
    // Another refund still owed, marked eight times at once: one email.
    let second = app.book_final(&buyer, &tt, 1).await;
    app.mark_paid(&organizer, event_id, &second.to_string()).await;
    let cancel = format!("/api/v1/events/{event_id}/bookings/{second}/cancel");
    assert_eq!(app.post(&cancel, Some(&organizer), json!({})).await.body["refund"]["status"], "pending");
    let path = format!("/api/v1/events/{event_id}/bookings/{second}/refund/paid-out");
    let at_once = futures::future::join_all((0..8).map(|_| app.post(&path, Some(&organizer), json!({})))).await;
    assert!(at_once.iter().all(|r| r.status == StatusCode::OK), "{at_once:?}");
    let mails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'refund_succeeded' AND booking_id = $1")
            .bind(second)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(mails, 1, "one refund email for eight presses at once");
    // A booking without a refund has nothing to pay back.
    let other = app.book_final(&buyer, &tt, 1).await;
    let nothing = app
        .post(&format!("/api/v1/events/{event_id}/bookings/{other}/refund/paid-out"), Some(&organizer), json!({}))
        .await;
    assert_eq!((nothing.status, nothing.code()), (StatusCode::CONFLICT, "no_refund_owed"), "{nothing:?}");
}
