//! Issue 29, codes: made by the organizer (one, or many single-use), typed
//! by buyers in any case, priced at the accept, their uses counted in the
//! worker's transaction like seats, given back by a cancellation; hidden
//! ticket types sold only with a code that names them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, accepted_ids, spawn_app};

async fn make(app: &TestApp, organizer: &str, event: &str, body: Value) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/events/{event}/codes"), Some(organizer), body).await
}

async fn booking(app: &TestApp, token: &str, id: Uuid) -> Value {
    app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await.body
}

/// Books with `code`; the reply.
async fn book_with(app: &TestApp, token: &str, tt: &str, quantity: i64, code: &str) -> crate::helpers::Reply {
    app.post("/api/v1/bookings", Some(token), json!({"ticket_type_id": tt, "quantity": quantity, "code": code})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_typed_any_way_prices_the_booking_and_the_organizer_sees_its_uses() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 50, 4, 2500).await;
    let event_id = event["id"].as_str().unwrap();

    let made = make(
        &app,
        &organizer,
        event_id,
        json!({"code": "Summer-24", "kind": "percent", "value": 20, "note": "newsletter"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let code = &made.body["items"][0];
    assert_eq!((code["code"].as_str(), code["uses"].as_i64()), (Some("SUMME-R24"), Some(0)));
    let again = make(&app, &organizer, event_id, json!({"code": "summer 24", "kind": "fixed", "value": 100})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "code_taken"), "the same code spelled otherwise");

    let booked = book_with(&app, &buyer, &tt, 2, "  sUmMeR-24 ").await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let held = booking(&app, &buyer, id).await;
    assert_eq!((held["status"].as_str(), held["unit_price_cents"].as_i64()), (Some("held"), Some(2000)), "{held}");
    assert_eq!(held["total_cents"], 4000);

    let code_id = code["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{event_id}/codes/{code_id}");
    assert_eq!(app.get(&path, Some(&organizer)).await.body["uses"], 2, "two seats held with it");
    let listed = app.get(&format!("/api/v1/events/{event_id}/codes"), Some(&organizer)).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/events/{event_id}/codes.csv")))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("code,kind,value,max_uses,uses"), "{csv}");
    assert!(csv.contains("SUMME-R24,percent,20,,2,"), "{csv}");

    // Cancelled: its use comes back.
    assert_eq!(
        app.post(&format!("/api/v1/bookings/{id}/cancel"), Some(&buyer), json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get(&path, Some(&organizer)).await.body["uses"], 0);

    // Changed, then disabled: a booking with it is refused at once.
    let changed = app.patch(&path, Some(&organizer), json!({"max_uses": 10, "note": "for the newsletter"})).await;
    assert_eq!((changed.status, changed.body["max_uses"].as_i64()), (StatusCode::OK, Some(10)), "{changed:?}");
    let disabled = app.call(Method::DELETE, &path, Some(&organizer), None).await;
    assert_eq!((disabled.status, &disabled.body["disabled"]), (StatusCode::OK, &json!(true)));
    let refused = book_with(&app, &buyer, &tt, 1, "SUMMER24").await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "code_invalid"));
    assert_eq!(refused.body["errors"][0]["field"], "code");
    let enabled = app.patch(&path, Some(&organizer), json!({"disabled": false})).await;
    assert_eq!(enabled.body["disabled"], false);
    assert_eq!(book_with(&app, &buyer, &tt, 1, "SUMMER24").await.status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_say_why_they_cannot_be_made_or_used() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 50, 4, 2500).await;
    let event_id = event["id"].as_str().unwrap();
    let (_, elsewhere) = app.on_sale_priced(&organizer, 50, 4, 2500).await;
    let field_of = |reply: &crate::helpers::Reply| reply.body["errors"][0]["field"].as_str().unwrap_or("").to_owned();

    for (body, field) in [
        (json!({"kind": "percent", "value": 150}), "value"),
        (json!({"kind": "percent"}), "value"),
        (json!({"kind": "unlock"}), "ticket_type_ids"),
        (json!({"kind": "unlock", "value": 5, "ticket_type_ids": [tt]}), "value"),
        (json!({"kind": "fixed", "value": 100, "ticket_type_ids": [elsewhere]}), "ticket_type_ids"),
        (json!({"kind": "bogus", "value": 1}), "kind"),
        (json!({"code": "no/slashes", "kind": "price", "value": 100}), "code"),
        (json!({"code": "A", "count": 3, "kind": "price", "value": 100}), "count"),
        (json!({"count": 20000, "kind": "price", "value": 100}), "count"),
        (
            json!({"kind": "fixed", "value": 100, "valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}),
            "valid_until",
        ),
    ] {
        let refused = make(&app, &organizer, event_id, body.clone()).await;
        assert_eq!(
            (refused.status, field_of(&refused)),
            (StatusCode::UNPROCESSABLE_ENTITY, field.to_owned()),
            "{body}: {refused:?}"
        );
    }
    let stranger = make(&app, &buyer, event_id, json!({"kind": "fixed", "value": 100})).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);

    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    make(&app, &organizer, event_id, json!({"code": "LATER", "kind": "fixed", "value": 100, "valid_from": later}))
        .await;
    make(&app, &organizer, event_id, json!({"code": "OTHER", "kind": "fixed", "value": 100, "ticket_type_ids": [tt]}))
        .await;
    let (_, second) = {
        let added = app
            .post(
                &format!("/api/v1/events/{event_id}/ticket-types"),
                Some(&organizer),
                json!({"name": "Balcony", "price_cents": 3000, "capacity": 5}),
            )
            .await;
        (added.status, added.body["id"].as_str().unwrap().to_owned())
    };
    for (code, ticket_type, answer) in
        [("NOPE", &tt, "code_invalid"), ("LATER", &tt, "code_expired"), ("OTHER", &second, "code_not_for_type")]
    {
        let refused = book_with(&app, &buyer, ticket_type, 1, code).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, answer), "{code}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_type_is_listed_and_sold_only_with_a_code_that_names_it() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Standard", "price_cents": 2500, "capacity": 50},
                {"name": "Members", "price_cents": 2500, "capacity": 10, "hidden": true}
            ]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let members = event["ticket_types"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(event["ticket_types"][1]["hidden"], true, "the organizer sees it");
    let public = app.get(&format!("/api/v1/events/{event_id}"), None).await.body;
    assert_eq!(public["ticket_types"].as_array().map(Vec::len), Some(1), "not listed: {public}");
    let listed = app.get("/api/v1/events", None).await.body;
    let card = listed["items"].as_array().unwrap().iter().find(|e| e["id"] == event_id).unwrap();
    assert_eq!(card["ticket_types"].as_array().map(Vec::len), Some(1));

    let without = app.book(&buyer, &members, 1, None).await;
    assert_eq!(without.status, StatusCode::NOT_FOUND, "a hidden type does not exist without its code");
    make(&app, &organizer, event_id, json!({"code": "EVERYONE", "kind": "percent", "value": 10})).await;
    let general = book_with(&app, &buyer, &members, 1, "EVERYONE").await;
    assert_eq!(general.code(), "code_not_for_type", "a code for every type does not open hidden ones");
    make(
        &app,
        &organizer,
        event_id,
        json!({"code": "MEMBERS", "kind": "price", "value": 1500, "ticket_type_ids": [members]}),
    )
    .await;
    let booked = book_with(&app, &buyer, &members, 2, "members").await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let held = booking(&app, &buyer, id).await;
    assert_eq!((held["status"].as_str(), held["unit_price_cents"].as_i64()), (Some("held"), Some(1500)), "{held}");
}

/// 200 buyers type the one code of 30 uses at the same moment (two workers
/// deciding): exactly 30
/// seats go with it, the others are turned away `code_used_up`; one
/// cancellation gives one use back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_with_few_uses_goes_to_exactly_that_many_seats_when_many_book_at_once() {
    // Two workers, whose batches take turns on the code's lock.
    let config = crate::helpers::test_config(&[]);
    let app = crate::helpers::spawn_app_with(config.clone()).await;
    app.start_worker(config).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(201).await;
    let (event, tt) = app.on_sale(&organizer, 1000, 2).await;
    let event_id = event["id"].as_str().unwrap();
    let made = make(
        &app,
        &organizer,
        event_id,
        json!({"code": "FIRST30", "kind": "unlock", "ticket_type_ids": [tt], "max_uses": 30, "max_per_buyer": 1}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let replies = futures::future::join_all(tokens[..200].iter().map(|t| book_with(&app, t, &tt, 1, "first30"))).await;
    let ids = accepted_ids(&replies);
    assert_eq!(ids.len(), 200, "all accepted: the uses are the worker's to count");
    app.wait_final(&ids, Duration::from_secs(60)).await;
    let outcomes: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, reason FROM bookings WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(app.db())
            .await
            .unwrap();
    let confirmed = outcomes.iter().filter(|(s, _)| s == "confirmed").count();
    let used_up = outcomes.iter().filter(|(s, r)| s == "rejected" && r.as_deref() == Some("code_used_up")).count();
    assert_eq!((confirmed, used_up), (30, 170), "{outcomes:?}");
    assert_eq!(app.check_invariants(&tt).await, 30);

    // Per buyer: one seat each, even in a second request.
    let winner: (Uuid, Uuid) =
        sqlx::query_as("SELECT id, user_id FROM bookings WHERE id = ANY($1) AND status = 'confirmed' LIMIT 1")
            .bind(&ids)
            .fetch_one(app.db())
            .await
            .unwrap();
    let winner_token = &tokens[..200][ids.iter().position(|id| *id == winner.0).unwrap()];
    assert_eq!(
        app.post(&format!("/api/v1/bookings/{}/cancel", winner.0), Some(winner_token), json!({})).await.status,
        StatusCode::OK
    );
    let last = book_with(&app, &tokens[200], &tt, 1, "FIRST30").await;
    let last = accepted_ids(&[last]);
    app.wait_final(&last, Duration::from_secs(30)).await;
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM bookings WHERE id = $1").bind(last[0]).fetch_one(app.db()).await.unwrap();
    assert_eq!(status, "confirmed", "the cancelled booking's use came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_single_use_codes_are_made_at_once_and_each_goes_once() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (first, _) = app.user().await;
    let (second, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 100, 4, 4000).await;
    let event_id = event["id"].as_str().unwrap();
    let made =
        make(&app, &organizer, event_id, json!({"count": 50, "prefix": "vip", "kind": "fixed", "value": 1000})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let codes: Vec<String> =
        made.body["items"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 50);
    assert!(codes.iter().all(|c| c.starts_with("VIP") && c.replace('-', "").len() == 13), "{codes:?}");
    assert!(made.body["items"].as_array().unwrap().iter().all(|c| c["max_uses"] == 1), "single use");
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/events/{event_id}/codes.csv")))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.text().await.unwrap().lines().count(), 51);

    let used = book_with(&app, &first, &tt, 1, &codes[0]).await;
    let used = accepted_ids(&[used]);
    app.wait_final(&used, Duration::from_secs(30)).await;
    assert_eq!(booking(&app, &first, used[0]).await["unit_price_cents"], 3000);
    // Used: refused at the door once the worker's flag is up, else in line.
    let again = book_with(&app, &second, &tt, 1, &codes[0]).await;
    if again.status == StatusCode::CONFLICT {
        assert_eq!(again.code(), "code_used_up", "{again:?}");
        return;
    }
    let again = accepted_ids(&[again]);
    app.wait_final(&again, Duration::from_secs(30)).await;
    let refused = booking(&app, &second, again[0]).await;
    assert_eq!((refused["status"].as_str(), refused["reason"].as_str()), (Some("rejected"), Some("code_used_up")));
}

/// Two batches of two different ticket types, decided at the same moment,
/// share one code: they take turns on its lock, so its uses are counted
/// once between them (the ticket types' locks do not order them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_batches_of_different_types_sharing_a_code_use_it_no_more_than_it_allows() {
    use boxoffice::booking::allocate::allocate_batch;
    use boxoffice::domain::booking::AcceptedRequest;
    use boxoffice::domain::checkout::Provider;
    let app = crate::helpers::spawn_api_with(crate::helpers::test_config(&[])).await; // the test decides the batches
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Floor", "price_cents": 0, "capacity": 500},
                {"name": "Balcony", "price_cents": 0, "capacity": 500}
            ]}),
        )
        .await;
    let event_id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let types: Vec<Uuid> =
        event["ticket_types"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().parse().unwrap()).collect();
    let made = make(
        &app,
        &organizer,
        &event_id.to_string(),
        json!({"code": "SHARED", "kind": "unlock", "ticket_type_ids": types, "max_uses": 50}),
    )
    .await;
    let code: Uuid = made.body["items"][0]["id"].as_str().unwrap().parse().unwrap();
    let tokens = app.users(200).await;
    let buyers = app.user_ids(&tokens).await;
    let batch = |half: usize| -> Vec<AcceptedRequest> {
        buyers[half * 100..(half + 1) * 100]
            .iter()
            .map(|user| AcceptedRequest {
                booking_id: Uuid::now_v7(),
                user_id: *user,
                event_id,
                ticket_type_id: types[half],
                quantity: 1,
                idempotency_key: None,
                accepted_at: chrono::Utc::now(),
                unit_price_cents: Some(0),
                currency: Some("EUR".into()),
                code_id: Some(code),
                presale_at: None,
                tax: None,
                details: Default::default(),
            })
            .collect()
    };
    let (floor, balcony) = (batch(0), batch(1));
    let (one, other) = tokio::join!(
        allocate_batch(app.db(), &floor, &[], 1000, Provider::Offline),
        allocate_batch(app.db(), &balcony, &[], 1000, Provider::Offline)
    );
    let given = one.unwrap().seats_confirmed + other.unwrap().seats_confirmed;
    assert_eq!(given, 50, "fifty uses, across both types");
    let used: i64 =
        sqlx::query_scalar("SELECT sum(quantity)::bigint FROM bookings WHERE code_id = $1 AND status = 'confirmed'")
            .bind(code)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(used, 50);
}

/// A buyer types a code on the event page: it opens the hidden type at its
/// price, the price shows struck through, and Book charges the code's price;
/// a code that is wrong says so next to its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_opens_a_hidden_type_with_a_code_and_books_it_at_the_codes_price_in_a_browser() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Standard", "price_cents": 3000, "capacity": 50},
                {"name": "Members' balcony", "price_cents": 4000, "capacity": 10, "hidden": true}
            ]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let balcony = event["ticket_types"][1]["id"].as_str().unwrap();
    make(
        &app,
        &organizer,
        event_id,
        json!({"code": "MEMBER-2027", "kind": "percent", "value": 25, "ticket_type_ids": [balcony]}),
    )
    .await;

    let browser = crate::browser::Browser::start("code-hidden-type").await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    assert!(!browser.text().await.contains("Members' balcony"), "hidden without the code");
    browser.fill("Have a code?", "member2O27").await; // O for 0: not the same code
    browser.click("Apply code").await;
    browser.wait_for_text("We do not know this code for this event").await;
    browser.accessibility().await;

    browser.fill("Have a code?", "member-2027").await;
    browser.click("Apply code").await;
    browser.wait_for_text("Code MEMBE-R2027 applied: 25 % off").await;
    browser.wait_for_text("Members' balcony").await;
    let price = browser
        .execute(
            &format!(
                "return document.querySelector('#quantity-{balcony}').closest('li').querySelector('.price').textContent"
            ),
            json!([]),
        )
        .await;
    assert!(price.as_str().is_some_and(|p| p.contains("40.00") && p.contains("30.00")), "{price}");
    browser.accessibility().await;
    browser.screenshot("event-with-code-1280").await;
    browser.type_into(&format!("#quantity-{balcony}"), "2").await;
    browser
        .execute(&format!("document.querySelector('#quantity-{balcony}').closest('form').requestSubmit()"), json!([]))
        .await;
    browser.wait_for_path("/bookings/").await;
    browser.wait_for_text("2 × Members' balcony").await;
    browser.wait_for_text("60.00 EUR").await;
}

/// The organizer makes a code and a bulk of single-use ones from the codes
/// page, sees each one's uses, downloads the CSV and disables one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_makes_codes_and_follows_their_uses_in_the_back_office() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let organizer = app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 50, 4, 2500).await;
    let event_id = event["id"].as_str().unwrap();
    let browser = crate::browser::Browser::start("codes-back-office").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/{event_id}", app.base)).await;
    browser.click("Codes").await;
    browser.wait_for_text("No codes yet").await;
    browser.accessibility().await;

    browser.fill("Percent, amount or price", "150").await;
    browser.fill("Code", "FRIENDS").await;
    browser.click("Create").await;
    browser.wait_for_text("must be between 1 and 100").await;
    browser.fill("Percent, amount or price", "10").await;
    browser.click("Create").await;
    browser.wait_for_text("FRIEN-DS").await;
    let booked = book_with(&app, &buyer, &tt, 3, "friends").await;
    app.wait_final(&accepted_ids(&[booked]), Duration::from_secs(30)).await;

    browser.execute("document.querySelector('#kind').value = 'fixed'", json!([])).await;
    browser.fill("Percent, amount or price", "5.00").await;
    browser.execute("document.querySelector('#bulk').checked = true", json!([])).await;
    browser.fill("How many", "25").await;
    browser.fill("They start with", "team").await;
    browser.click("Create").await;
    browser.wait_for_text("TEAM").await;
    let rows = browser.execute("return document.querySelectorAll('table.grid tbody tr').length", json!([])).await;
    assert_eq!(rows, 26, "one code and twenty-five");
    let friends_used = browser
        .execute("return [...document.querySelectorAll('table.grid tbody tr')].find(r => r.textContent.includes('FRIEN-DS')).children[3].textContent.trim()", json!([]))
        .await;
    assert_eq!(friends_used, "3", "three seats held with it");
    browser.screenshot("codes-page").await;
    browser.accessibility().await;
    let csv = browser
        .execute_async(&format!(
            "const done = arguments[0]; fetch('/manage/events/{event_id}/codes.csv').then(r => r.text()).then(done)"
        ))
        .await;
    assert_eq!(csv.as_str().unwrap().lines().count(), 27, "{csv}");
    browser.click("Disable").await;
    browser.wait_for_text("disabled").await;
}

/// A code the worker found used up is refused at the door (409
/// `code_used_up`) instead of after a wait in line; a cancellation gives its
/// use back and the door takes it again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_code_is_refused_at_the_door_until_a_use_comes_back() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (first, _) = app.user().await;
    let (second, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 50, 2).await;
    let event_id = event["id"].as_str().unwrap();
    let made =
        make(&app, &organizer, event_id, json!({"code": "LASTTWO", "kind": "percent", "value": 50, "max_uses": 2}))
            .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let booked = book_with(&app, &first, &tt, 2, "lasttwo").await;
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    assert_eq!(booking(&app, &first, id).await["status"], "confirmed");

    // The worker sets the flag just after its commit: until then a request
    // gets in line and is refused there; then the door refuses it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = book_with(&app, &second, &tt, 1, "lasttwo").await;
        if reply.status == StatusCode::CONFLICT {
            assert_eq!(reply.code(), "code_used_up", "{reply:?}");
            break;
        }
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        let late = accepted_ids(&[reply])[0];
        app.wait_final(&[late], Duration::from_secs(30)).await;
        let refused = booking(&app, &second, late).await;
        assert_eq!((refused["status"].as_str(), refused["reason"].as_str()), (Some("rejected"), Some("code_used_up")));
        assert!(std::time::Instant::now() < deadline, "the door never learned the code was used up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let cancelled = app.post(&format!("/api/v1/bookings/{id}/cancel"), Some(&first), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let again = book_with(&app, &second, &tt, 1, "lasttwo").await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "a use came back: taken at once {again:?}");
    let again = accepted_ids(&[again])[0];
    app.wait_final(&[again], Duration::from_secs(30)).await;
    assert_eq!(booking(&app, &second, again).await["status"], "confirmed");
}
