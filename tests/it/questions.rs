//! Issue 29, a name and questions per ticket: asked by the organizer,
//! answered with the booking request (checked at the accept, written with
//! the worker's decision, kept while the request waits in the line),
//! changed by the buyer until `answers_until`, and shown in Orders, the
//! attendee list and its CSV, and at the door.

use std::time::Duration;

use crate::helpers::{TestApp, accepted_ids, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A free event whose one type requires a name per ticket, asking a meal
/// per ticket (required), the terms once (required) and a note (optional):
/// (event id, ticket type id, [meal, terms, note] ids).
async fn asking_event(app: &TestApp, organizer: &str) -> (String, String, [String; 3]) {
    let event = app
        .published_event(
            organizer,
            json!({"ticket_types": [{"name": "Standing", "price_cents": 0, "capacity": 20, "max_per_order": 4,
                                     "attendee_names": "required"}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(event["ticket_types"][0]["attendee_names"], "required");
    let ask = |body: Value| {
        let path = format!("/api/v1/events/{event_id}/questions");
        async move { app.post(&path, Some(organizer), body).await }
    };
    let meal =
        ask(json!({"label": "Meal", "kind": "choice", "options": ["Veggie", "Vegan", "Meat"], "required": true})).await;
    assert_eq!(meal.status, StatusCode::CREATED, "{meal:?}");
    let terms =
        ask(json!({"label": "I accept the terms", "kind": "checkbox", "required": true, "applies_to": "booking"}))
            .await;
    let note = ask(json!({"label": "A note", "kind": "long_text", "applies_to": "booking"})).await;
    let id = |r: &crate::helpers::Reply| r.body["id"].as_str().unwrap().to_owned();
    (event_id, tt, [id(&meal), id(&terms), id(&note)])
}

async fn book(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    app.post("/api/v1/bookings", Some(token), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_checked_at_the_accept_stored_with_the_decision_and_shown_to_the_organizer() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event_id, tt, [meal, terms, note]) = asking_event(&app, &organizer).await;

    // Anyone may read what is asked; only the organizer learns what was answered.
    let public = app.get(&format!("/api/v1/events/{event_id}/questions"), Some(&buyer)).await;
    let items = public.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!((items[0]["label"].as_str(), items[0].get("answered")), (Some("Meal"), None));

    let good = json!([
        {"question_id": meal, "ticket_index": 0, "value": "Vegan"},
        {"question_id": meal, "ticket_index": 1, "value": "Meat"},
        {"question_id": terms, "value": true},
        {"question_id": note, "value": "=HYPERLINK(\"x\")"},
    ]);
    let names = json!([{"name": "Ada Lovelace"}, {"name": "Σωκράτης"}]);
    let refusals = [
        (json!({"ticket_type_id": tt, "quantity": 2, "answers": good}), "attendee_name_required", None),
        (
            json!({"ticket_type_id": tt, "quantity": 2, "attendees": names,
                   "answers": [good[0], good[2]]}),
            "answer_required",
            Some(&meal),
        ),
        (
            json!({"ticket_type_id": tt, "quantity": 2, "attendees": names,
                   "answers": [good[0], {"question_id": meal, "ticket_index": 1, "value": "Fish"}, good[2]]}),
            "answer_invalid",
            Some(&meal),
        ),
        (
            json!({"ticket_type_id": tt, "quantity": 2, "attendees": names,
                   "answers": [good[0], good[1], {"question_id": terms, "value": false}]}),
            "answer_required",
            Some(&terms),
        ),
    ];
    for (body, code, question) in refusals {
        let refused = book(&app, &buyer, body).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, code), "{refused:?}");
        assert_eq!(refused.body["question_id"].as_str(), question.map(String::as_str), "{refused:?}");
        assert!(!refused.body["errors"].as_array().unwrap().is_empty());
    }

    let booked =
        book(&app, &buyer, json!({"ticket_type_id": tt, "quantity": 2, "attendees": names, "answers": good})).await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let details = app.get(&format!("/api/v1/bookings/{id}/details"), Some(&buyer)).await;
    assert_eq!(details.status, StatusCode::OK, "{details:?}");
    assert_eq!(details.body["attendees"][1]["name"], "Σωκράτης");
    assert_eq!(details.body["answers"].as_array().unwrap().len(), 4, "{details:?}");

    // The organizer sees them in Orders.
    let orders = app.get(&format!("/api/v1/events/{event_id}/bookings"), Some(&organizer)).await;
    let order = &orders.body["items"][0];
    assert_eq!(order["attendees"], json!(["Ada Lovelace", "Σωκράτης"]), "{order}");
    assert!(order["answers"].as_array().unwrap().iter().any(|a| a["value"] == "Meat"), "{order}");

    // At the door, each ticket's holder.
    let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await.body;
    let codes: Vec<String> =
        booking["tickets"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect();
    let scanned =
        app.post(&format!("/api/v1/events/{event_id}/check-ins"), Some(&organizer), json!({"code": codes[1]})).await;
    assert_eq!((scanned.status, scanned.body["attendee_name"].as_str()), (StatusCode::OK, Some("Σωκράτης")));

    // The attendee list: a column per question, a booking's answer on each of
    // its tickets, a formula made harmless.
    let csv = app.get(&format!("/api/v1/events/{event_id}/attendees.csv"), Some(&organizer)).await;
    let text = csv.body.as_str().unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "ticket_code,ticket_type,attendee_name,attendee_email,booking_id,status,checked_in_at,Meal,I accept the terms,A note"
        )
    );
    let ada = text.lines().find(|l| l.contains("Ada Lovelace")).expect("Ada's ticket");
    assert!(ada.ends_with(",Vegan,Yes,\"'=HYPERLINK(\"\"x\"\")\""), "{ada}");
    let socrates = text.lines().find(|l| l.contains("Σωκράτης")).expect("the second ticket");
    assert!(socrates.contains(",Meat,Yes,"), "{socrates}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_once_answered_keeps_its_meaning_and_cannot_be_deleted() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event_id, tt, [meal, terms, note]) = asking_event(&app, &organizer).await;
    let path = |q: &str| format!("/api/v1/events/{event_id}/questions/{q}");

    let stranger = app
        .post(&format!("/api/v1/events/{event_id}/questions"), Some(&buyer), json!({"label": "x", "kind": "text"}))
        .await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    let bad = app
        .post(
            &format!("/api/v1/events/{event_id}/questions"),
            Some(&organizer),
            json!({"label": "Meal", "kind": "choice"}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("options"))
    );
    let unused = app.call(Method::DELETE, &path(&note), Some(&organizer), None).await;
    assert_eq!(unused.status, StatusCode::NO_CONTENT, "nobody answered it yet");

    let booked = book(
        &app,
        &buyer,
        json!({"ticket_type_id": tt, "quantity": 1, "attendees": [{"name": "Ada"}],
               "answers": [{"question_id": meal, "value": "Veggie"}, {"question_id": terms, "value": true}]}),
    )
    .await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    app.wait_final(&accepted_ids(&[booked]), Duration::from_secs(30)).await;

    let changed = app.patch(&path(&meal), Some(&organizer), json!({"options": ["Fish"]})).await;
    assert_eq!((changed.status, changed.code()), (StatusCode::CONFLICT, "question_answered"));
    let deleted = app.call(Method::DELETE, &path(&meal), Some(&organizer), None).await;
    assert_eq!((deleted.status, deleted.code()), (StatusCode::CONFLICT, "question_answered"));
    let relabelled = app.patch(&path(&meal), Some(&organizer), json!({"label": "Dinner", "position": 1})).await;
    assert_eq!(relabelled.status, StatusCode::OK, "{relabelled:?}");
    let listed = app.get(&format!("/api/v1/events/{event_id}/questions"), Some(&organizer)).await;
    let labels: Vec<(&str, bool)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["label"].as_str().unwrap(), q["answered"].as_bool().unwrap()))
        .collect();
    assert_eq!(labels, [("I accept the terms", true), ("Dinner", true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buyer_changes_names_and_answers_until_the_organizers_deadline() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (other, _) = app.user().await;
    let (event_id, tt, [meal, terms, _]) = asking_event(&app, &organizer).await;
    let booked = book(
        &app,
        &buyer,
        json!({"ticket_type_id": tt, "quantity": 1, "attendees": [{"name": "Ada"}],
               "answers": [{"question_id": meal, "value": "Veggie"}, {"question_id": terms, "value": true}]}),
    )
    .await;
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let path = format!("/api/v1/bookings/{id}/details");

    let changed = app
        .call(
            Method::PUT,
            &path,
            Some(&buyer),
            Some(json!({"attendees": [{"name": "Пётр"}],
                        "answers": [{"question_id": meal, "ticket_index": 0, "value": "Meat"},
                                    {"question_id": terms, "value": true}]})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(changed.body["attendees"][0]["name"], "Пётр");
    let dropped =
        app.call(Method::PUT, &path, Some(&buyer), Some(json!({"attendees": [{"name": "Пётр"}], "answers": []}))).await;
    assert_eq!(dropped.code(), "answer_required", "a required answer stays required");
    let theirs = app.call(Method::PUT, &path, Some(&other), Some(json!({"answers": []}))).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "another person's booking");
    let read = app.get(&path, Some(&organizer)).await;
    assert_eq!((read.status, read.body["editable"].as_bool()), (StatusCode::OK, Some(false)), "the organizer reads");

    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    let moved = app
        .patch(&format!("/api/v1/events/{event_id}"), Some(&organizer), json!({"answers_until": past.to_rfc3339()}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    let closed =
        app.call(Method::PUT, &path, Some(&buyer), Some(json!({"attendees": [{"name": "Ada"}], "answers": []}))).await;
    assert_eq!((closed.status, closed.code()), (StatusCode::CONFLICT, "answers_closed"));
    let kept = app.get(&path, Some(&buyer)).await;
    assert_eq!(
        (kept.body["attendees"][0]["name"].as_str(), kept.body["editable"].as_bool()),
        (Some("Пётр"), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_given_in_the_pre_queue_wait_with_the_request_until_the_draw() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(3).await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(8);
    let event = app
        .published_event(
            &organizer,
            json!({"sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 10, "max_per_order": 2,
                                     "attendee_names": "optional"}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let event_id = event["id"].as_str().unwrap();
    let questions = format!("/api/v1/events/{event_id}/questions");
    let asked = |body: Value| app.post(&questions, Some(&organizer), body);
    let meal = asked(json!({"label": "Meal", "kind": "choice", "options": ["Veggie", "Vegan"]})).await;
    let meal = meal.body["id"].as_str().unwrap().to_owned();
    let city = asked(json!({"label": "City", "kind": "text", "applies_to": "booking"})).await;
    let city = city.body["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let names = json!([{"name": format!("Guest {i}")}, {"name": ""}]);
        let answers = json!([{"question_id": meal, "ticket_index": 0, "value": "Vegan"},
                             {"question_id": city, "value": "Lyon"}]);
        let body = json!({"ticket_type_id": tt, "quantity": 2, "attendees": names, "answers": answers});
        let reply = book(&app, token, body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        ids.push(accepted_ids(&[reply])[0]);
    }
    // Parked by the worker until the draw, the names with them.
    let parked = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'pending' AND pending_details IS NOT NULL",
        )
        .bind(&ids)
        .fetch_one(app.db())
        .await
        .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while parked().await < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(chrono::Utc::now() < sales_start, "looked before the draw");
    assert_eq!(parked().await, 3, "the pre-queue holds the names with its requests");
    // While they wait, "Vegan" stops being an option (nobody's answer is
    // stored yet, so the question may still change): it is not written
    // under a question it no longer answers; the city still is.
    let path = format!("/api/v1/events/{event_id}/questions/{meal}");
    let changed = app.patch(&path, Some(&organizer), json!({"options": ["Veggie", "Fish"]})).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    app.wait_final(&ids, Duration::from_secs(60)).await;
    for (i, (token, id)) in tokens.iter().zip(&ids).enumerate() {
        let details = app.get(&format!("/api/v1/bookings/{id}/details"), Some(token)).await;
        let expected = format!("Guest {i}");
        assert_eq!(details.body["attendees"][0]["name"].as_str(), Some(expected.as_str()), "{details:?}");
        assert_eq!(details.body["attendees"][1]["name"], Value::Null, "left blank: the buyer's own name");
        let answers = details.body["answers"].as_array().unwrap();
        assert_eq!(answers.len(), 1, "{details:?}");
        assert_eq!(
            (answers[0]["question_id"].as_str(), answers[0]["value"].as_str()),
            (Some(city.as_str()), Some("Lyon"))
        );
    }
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1) AND pending_details IS NOT NULL")
            .bind(&ids)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(left, 0, "decided: the names moved to their table");
}

/// In a browser: a code opens a hidden type at a discount; "Book" asks who
/// is coming (a name per ticket, a meal per ticket, the terms once), says
/// what is missing next to each field, then books; the buyer's booking
/// lists the names; the door admits the second ticket in its holder's name;
/// Orders and the attendee CSV show the answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_names_the_tickets_and_answers_in_a_browser_and_the_organizer_sees_it_at_the_door() {
    let app = spawn_app().await;
    let organizer_email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&organizer_email).await.status, StatusCode::CREATED);
    let organizer =
        app.login(&organizer_email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let event = app
        .published_event(
            &organizer,
            json!({"payment_methods": ["offline"], "ticket_types": [
                {"name": "Standard", "price_cents": 3000, "capacity": 50},
                {"name": "Members' balcony", "price_cents": 4000, "capacity": 10, "hidden": true,
                 "attendee_names": "required"}
            ]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let balcony = event["ticket_types"][1]["id"].as_str().unwrap().to_owned();
    let code = app
        .post(
            &format!("/api/v1/events/{event_id}/codes"),
            Some(&organizer),
            json!({"code": "MEMBERS", "kind": "percent", "value": 25, "ticket_type_ids": [balcony]}),
        )
        .await;
    assert_eq!(code.status, StatusCode::CREATED);
    let questions = format!("/api/v1/events/{event_id}/questions");
    let meal = app
        .post(
            &questions,
            Some(&organizer),
            json!({"label": "Meal", "kind": "choice", "options": ["Veggie", "Vegan"], "required": true}),
        )
        .await;
    let meal = meal.body["id"].as_str().unwrap().to_owned();
    let terms = app
        .post(
            &questions,
            Some(&organizer),
            json!({"label": "I accept the terms", "kind": "checkbox", "required": true, "applies_to": "booking"}),
        )
        .await;
    let terms = terms.body["id"].as_str().unwrap().to_owned();

    let browser = crate::browser::Browser::start("names-and-answers").await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/events/{event_id}?code=members", app.base)).await;
    browser.wait_for_text("Members' balcony").await;
    browser.type_into(&format!("#quantity-{balcony}"), "2").await;
    browser
        .execute(&format!("document.querySelector('#quantity-{balcony}').closest('form').requestSubmit()"), json!([]))
        .await;
    browser.wait_for_text("Who is coming?").await;
    browser.wait_for_text("2 × Members' balcony").await;
    browser.accessibility().await;

    // Only the first name given: each missing answer is said next to its field.
    browser.type_into("[id='name.0']", "Ada Lovelace").await;
    browser.click("Book").await;
    browser.wait_for_text("The name of the person this ticket is for").await;
    let next_to = |id: String| {
        let browser = &browser;
        async move {
            let script = format!("const e = document.getElementById('{id}'); return e ? e.textContent : null");
            browser.execute(&script, json!([])).await
        }
    };
    assert_eq!(next_to("name.1-error".into()).await, "The name of the person this ticket is for.");
    assert_eq!(next_to(format!("q.{meal}.0-error")).await, "This question must be answered.");
    assert_eq!(next_to(format!("q.{terms}-error")).await, "Must be ticked.");
    let kept = browser.execute("return document.getElementById('name.0').value", json!([])).await;
    assert_eq!(kept, "Ada Lovelace", "what was typed is kept");
    browser.accessibility().await;
    browser.screenshot("who-is-coming-errors").await;

    browser.type_into("[id='name.1']", "Пётр").await;
    for (i, meal_choice) in ["Vegan", "Veggie"].iter().enumerate() {
        let script = format!("document.getElementById('q.{meal}.{i}').value = '{meal_choice}'");
        browser.execute(&script, json!([])).await;
    }
    browser.execute(&format!("document.getElementById('q.{terms}').checked = true"), json!([])).await;
    browser.click("Book").await;
    let url = browser.wait_for_path("/bookings/").await;
    let booking_id = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    browser.reload_until("Names and answers").await;
    browser.wait_for_text("Пётр").await;
    browser.wait_for_text("60.00 EUR").await; // 2 × 40.00 less 25 %
    browser.accessibility().await;

    // A name changed afterwards, on the booking's own page.
    browser.click("Change names and answers").await;
    browser.wait_for_text("You can change these until").await;
    browser.accessibility().await;
    browser.type_into("[id='name.0']", "").await;
    browser.click("Save").await;
    browser.wait_for_text("The name of the person this ticket is for").await;
    browser.type_into("[id='name.0']", "Ada King").await;
    browser.click("Save").await;
    browser.wait_for_text("Saved.").await;
    browser.wait_for_text("Ada King").await;

    // Paid at the box office: tickets in the holders' names.
    let paid = app.mark_paid(&organizer, &event_id, &booking_id).await;
    assert_eq!(paid.status, StatusCode::OK, "{paid:?}");
    let tickets =
        sqlx::query_scalar::<_, String>("SELECT code FROM tickets WHERE booking_id = $1::uuid ORDER BY position")
            .bind(&booking_id)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(tickets.len(), 2);

    let door = crate::browser::Browser::start("names-at-the-door").await;
    door.sign_in(&app.base, &organizer_email).await;
    door.goto(&format!("{}/manage/events/{event_id}/door", app.base)).await;
    door.fill("Ticket code", &tickets[1]).await;
    door.click("Check in").await;
    door.wait_for_text("Admitted").await;
    door.wait_for_text("Пётр · Members' balcony").await;

    door.goto(&format!("{}/manage/events/{event_id}/orders", app.base)).await;
    door.wait_for_text("Ticket 1: Ada King").await;
    door.wait_for_text("Meal (ticket 2): Veggie").await;
    door.wait_for_text("I accept the terms: Yes").await;
    door.accessibility().await;
    let csv = door
        .execute_async(&format!(
            "const done = arguments[0]; fetch('/manage/events/{event_id}/attendees.csv').then(r => r.text()).then(done)"
        ))
        .await;
    let csv = csv.as_str().unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",Meal,I accept the terms"), "{csv}");
    assert!(csv.lines().any(|l| l.contains("Ada King") && l.ends_with(",Vegan,Yes")), "{csv}");

    // The organizer's questions page lists them, answered.
    door.goto(&format!("{}/manage/events/{event_id}/questions", app.base)).await;
    door.wait_for_text("I accept the terms").await;
    door.wait_for_text("answered").await;
    door.accessibility().await;
    door.screenshot("questions-1280").await;

    // On a 375-px phone: the form and the buyer's edit fit without scrolling sideways.
    let phone = crate::browser::Browser::start_with("names-phone", &["--window-size=375,812".to_owned()]).await;
    phone.sign_in(&app.base, &email).await;
    let no_sideways = "return document.documentElement.scrollWidth <= window.innerWidth";
    phone.goto(&format!("{}/events/{event_id}/details?ticket_type={balcony}&quantity=2&code=members", app.base)).await;
    phone.wait_for_text("Who is coming?").await;
    assert_eq!(phone.execute(no_sideways, json!([])).await, json!(true), "the form fits at 375 px");
    phone.screenshot("who-is-coming-375").await;
    phone.goto(&format!("{}/bookings/{booking_id}/details", app.base)).await;
    phone.wait_for_text("Names and answers").await;
    assert_eq!(phone.execute(no_sideways, json!([])).await, json!(true), "the edit fits at 375 px");
    phone.screenshot("names-and-answers-375").await;
}

/// A question of a hidden ticket type is not shown to whoever cannot see the
/// type; the "Who is coming?" page has no room for more tickets than an
/// order may have; nor does it open a hidden type without its code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_shows_no_hidden_type_and_no_more_tickets_than_an_order_may_have() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Standing", "price_cents": 0, "capacity": 50, "max_per_order": 4, "attendee_names": "optional"},
                {"name": "Backstage", "price_cents": 0, "capacity": 5, "hidden": true}
            ]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let standing = event["ticket_types"][0]["id"].as_str().unwrap();
    let backstage = event["ticket_types"][1]["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{event_id}/questions");
    let made = app
        .post(
            &path,
            Some(&organizer),
            json!({"label": "Band member's name", "kind": "text", "ticket_type_ids": [backstage]}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let public = app.get(&path, None).await;
    assert_eq!(public.body["items"], json!([]), "{public:?}");
    let own = app.get(&path, Some(&organizer)).await;
    assert_eq!(own.body["items"].as_array().map(Vec::len), Some(1));

    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let form = visit.get(&format!("/events/{event_id}/details?ticket_type={standing}&quantity=3")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.body.matches("Name on the ticket").count(), 3);
    let huge = visit.get(&format!("/events/{event_id}/details?ticket_type={standing}&quantity=60000")).await;
    assert_eq!((huge.status, huge.location()), (StatusCode::SEE_OTHER, format!("/events/{event_id}").as_str()));
    let hidden = visit.get(&format!("/events/{event_id}/details?ticket_type={backstage}&quantity=1")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "a hidden type without its code");
}

/// A question added after a booking was made (as a waiting-list offer is
/// made without the form): the booking's page says what is still needed and
/// leads to the form; given, the notice goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_missing_a_required_answer_says_so_on_its_page() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let buyer = app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let (event, tt) = app.on_sale(&organizer, 10, 2).await;
    let event_id = event["id"].as_str().unwrap();
    let id = app.book_final(&buyer, &tt, 1).await;
    let made = app
        .post(
            &format!("/api/v1/events/{event_id}/questions"),
            Some(&organizer),
            json!({"label": "Emergency contact", "kind": "phone", "required": true}),
        )
        .await;
    let question = made.body["id"].as_str().unwrap().to_owned();
    let details = format!("/api/v1/bookings/{id}/details");
    assert_eq!(app.get(&details, Some(&buyer)).await.body["complete"], false);

    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/bookings/{id}")).await;
    assert!(page.body.contains("The organizer still needs some names or answers"), "{}", page.body);
    assert!(page.body.contains("Give the names and answers"));
    let form = visit.get(&format!("/bookings/{id}/details")).await;
    assert!(form.body.contains("Emergency contact"), "{}", form.body);

    let given = json!({"answers": [{"question_id": question, "value": "+49 30 1234567"}]});
    let saved = app.call(Method::PUT, &details, Some(&buyer), Some(given)).await;
    assert_eq!((saved.status, saved.body["complete"].as_bool()), (StatusCode::OK, Some(true)), "{saved:?}");
    let page = visit.get(&format!("/bookings/{id}")).await;
    assert!(!page.body.contains("still needs"), "{}", page.body);
    assert!(page.body.contains("+49 30 1234567"));
}
