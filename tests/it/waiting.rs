//! The waiting list: seats that come back are offered in list order before
//! open sale; an entry that does not fit keeps its place; offers run out to
//! the next entry.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app, spawn_app_with, test_config};

const WITHIN: Duration = Duration::from_secs(30);

async fn join(app: &TestApp, token: &str, tt: &str, quantity: i64) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/ticket-types/{tt}/waiting-list"), Some(token), json!({"quantity": quantity})).await
}

async fn my_entry(app: &TestApp, token: &str) -> Value {
    app.get("/api/v1/me/waiting-list", Some(token)).await.body["items"][0].clone()
}

/// A published event whose one ticket type (price 1000, at most 4 a order)
/// is sold out: one seat, held by a first buyer.
async fn sold_out(app: &TestApp, organizer: &str, buyer: &str, extra: Value) -> (String, String) {
    let mut tt = json!({"name": "Standard", "price_cents": 1000, "capacity": 1, "max_per_order": 4});
    if let Value::Object(more) = extra {
        tt.as_object_mut().unwrap().extend(more);
    }
    let event = app.published_event(organizer, json!({"ticket_types": [tt]})).await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    app.book_final(buyer, &tt, 1).await;
    (event["id"].as_str().unwrap().to_owned(), tt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_seats_go_to_the_list_in_order_and_a_larger_entry_keeps_its_place() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(4).await;
    let (event_id, tt) = sold_out(&app, &organizer, &tokens[0], json!({})).await;
    for (token, quantity) in tokens[1..].iter().zip([3, 4, 2]) {
        let joined = join(&app, token, &tt, quantity).await;
        assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
    }
    assert_eq!(my_entry(&app, &tokens[2]).await["position"], 2);

    // Capacity raised by 5 with 3, 4, 2 waiting: 3 and 2 are offered, 4 keeps first place.
    let path = format!("/api/v1/events/{event_id}/ticket-types/{tt}");
    let raised = app.patch(&path, Some(&organizer), json!({"capacity": 6})).await;
    assert_eq!(raised.body["remaining"], 0, "offered before open sale: {raised:?}");
    let three = my_entry(&app, &tokens[1]).await;
    let four = my_entry(&app, &tokens[2]).await;
    let two = my_entry(&app, &tokens[3]).await;
    assert_eq!((three["status"].as_str(), two["status"].as_str()), (Some("offered"), Some("offered")));
    assert_eq!((four["status"].as_str(), &four["position"]), (Some("waiting"), &json!(1)));
    let leave_offer = format!("/api/v1/waiting-list/{}", three["id"].as_str().unwrap());
    let left = app.call(Method::DELETE, &leave_offer, Some(&tokens[1]), None).await;
    assert_eq!(left.status, StatusCode::NOT_FOUND, "an entry holding an offer ends with the offer");
    let offer = app.get(&format!("/api/v1/bookings/{}", three["booking_id"].as_str().unwrap()), Some(&tokens[1])).await;
    assert_eq!(
        (offer.body["status"].as_str(), offer.body["reason"].as_str()),
        (Some("held"), Some("waiting_list_offer"))
    );
    let expires: chrono::DateTime<chrono::Utc> = offer.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(((expires - chrono::Utc::now()).num_minutes() - 24 * 60).abs() <= 1, "the event's offer_hours");
    // An offer is a hold: the door looks up its buyer's holds until it could
    // have run out, been released and cooled down (24 h + 600 s + 600 s).
    for token in [&tokens[1], &tokens[3]] {
        let ttl = app.holder_mark_ttl(&event_id, token).await;
        assert!((87_590..=87_600).contains(&ttl), "marked as a holder: {ttl}");
    }
    assert_eq!(app.holder_mark_ttl(&event_id, &tokens[2]).await, -2, "not offered, not marked");
    let emails: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'waiting_list_offer'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(emails, 2, "one email with a link per offer");
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!((&stats.body["totals"]["waiting"], &stats.body["totals"]["waiting_seats"]), (&json!(1), &json!(4)));
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty() && seats.held == 6, "{seats:?}");

    // The 3's offer runs out: 3 seats back, not enough for the 4 (it keeps its place).
    app.run_out(three["booking_id"].as_str().unwrap()).await;
    eventually(WITHIN, "the offer runs out", || async {
        let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
        (seats.remaining == 3).then_some(())
    })
    .await;
    assert_eq!(my_entry(&app, &tokens[2]).await["status"], "waiting");
    assert_eq!(app.get("/api/v1/me/waiting-list", Some(&tokens[1])).await.body["items"], json!([]), "done");
    // The 2 gives its offer back: 5 seats, and the 4 is offered at once.
    let cancel = app
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{}/cancel", two["booking_id"].as_str().unwrap()),
            Some(&tokens[3]),
            None,
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    let four = my_entry(&app, &tokens[2]).await;
    assert_eq!(four["status"], "offered");
    assert!(app.holder_mark_ttl(&event_id, &tokens[2]).await > 87_000, "an offer after a cancel marks its buyer too");
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty(), "{seats:?}");
    assert_eq!((seats.held, seats.remaining), (1 + 4, 1));
    // Taking the offer (paid offline) confirms it and closes the entry.
    let paid = app.mark_paid(&organizer, &event_id, four["booking_id"].as_str().unwrap()).await;
    assert_eq!(paid.body["status"], "confirmed");
    assert_eq!(app.get("/api/v1/me/waiting-list", Some(&tokens[2])).await.body["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_is_for_sold_out_types_once_per_buyer_and_verified_buyers() {
    let app = spawn_app_with(test_config(&["--email-verification", "on"])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(3).await; // verified in bulk
    let (_, tt) = sold_out(&app, &organizer, &tokens[0], json!({"max_per_order": 2})).await;
    let (_, open) = app.on_sale(&organizer, 10, 2).await;
    let on_sale = join(&app, &tokens[1], &open, 1).await;
    assert_eq!((on_sale.status, on_sale.code()), (StatusCode::CONFLICT, "not_sold_out"));
    assert_eq!(join(&app, &tokens[1], &tt, 3).await.fields(), ["quantity"]);
    assert_eq!(join(&app, &tokens[1], &tt, 1).await.status, StatusCode::CREATED);
    let twice = join(&app, &tokens[1], &tt, 2).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "already_waiting"));
    let (unverified, _) = app.user().await;
    let refused = join(&app, &unverified, &tt, 1).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "email_unverified"));
    let unknown = join(&app, &tokens[1], &uuid::Uuid::now_v7().to_string(), 1).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let entry = my_entry(&app, &tokens[1]).await;
    let path = format!("/api/v1/waiting-list/{}", entry["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&tokens[2]), None).await.status,
        StatusCode::NOT_FOUND,
        "not theirs"
    );
    assert_eq!(app.call(Method::DELETE, &path, Some(&tokens[1]), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &path, Some(&tokens[1]), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(join(&app, &tokens[1], &tt, 2).await.status, StatusCode::CREATED, "back after leaving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_at_their_limit_is_passed_over_and_keeps_their_place() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(3).await;
    // Two seats of at most two per buyer; the first buyer holds both.
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [{"name": "Limited", "price_cents": 1000, "capacity": 2, "max_per_order": 2, "max_per_buyer": 2}]}),
        )
        .await;
    let (event_id, tt) = (event["id"].as_str().unwrap(), event["ticket_types"][0]["id"].as_str().unwrap());
    let theirs = app.book_final(&tokens[0], tt, 2).await.to_string();
    // The same buyer waits for one more (a friend's seat), then another buyer.
    assert_eq!(join(&app, &tokens[0], tt, 1).await.status, StatusCode::CREATED);
    assert_eq!(join(&app, &tokens[1], tt, 1).await.status, StatusCode::CREATED);
    // One seat comes back: the first entry's buyer still holds two (the
    // limit), so the next entry gets it; the first keeps its place.
    let path = format!("/api/v1/events/{event_id}/ticket-types/{tt}");
    app.patch(&path, Some(&organizer), json!({"capacity": 3})).await;
    assert_eq!(my_entry(&app, &tokens[1]).await["status"], "offered");
    let first = my_entry(&app, &tokens[0]).await;
    assert_eq!((first["status"].as_str(), &first["position"]), (Some("waiting"), &json!(1)));
    // The buyer cancels their own booking: now under the limit, first in line for what comes back.
    app.call(Method::POST, &format!("/api/v1/bookings/{theirs}/cancel"), Some(&tokens[0]), None).await;
    assert_eq!(my_entry(&app, &tokens[0]).await["status"], "offered");
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty(), "{seats:?}");
}

/// An offer is a hold: a buyer who already has two unpaid holds in the
/// event is passed over and keeps their place, and is offered the next seat
/// once they have paid for or let go of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_with_two_unpaid_holds_is_passed_over_by_an_offer_and_keeps_their_place() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(3).await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Box", "price_cents": 5000, "capacity": 1, "max_per_order": 1},
                {"name": "Stalls", "price_cents": 2000, "capacity": 10, "max_per_order": 1},
                {"name": "Circle", "price_cents": 1500, "capacity": 10, "max_per_order": 1}
            ]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let tt = |i: usize| event["ticket_types"][i]["id"].as_str().unwrap().to_owned();
    let stalls = app.book_final(&tokens[0], &tt(1), 1).await.to_string();
    app.book_final(&tokens[0], &tt(2), 1).await;
    app.book_final(&tokens[1], &tt(0), 1).await; // the box is gone
    assert_eq!(join(&app, &tokens[0], &tt(0), 1).await.status, StatusCode::CREATED);
    assert_eq!(join(&app, &tokens[2], &tt(0), 1).await.status, StatusCode::CREATED);

    let path = format!("/api/v1/events/{event_id}/ticket-types/{}", tt(0));
    app.patch(&path, Some(&organizer), json!({"capacity": 2})).await;
    assert_eq!(my_entry(&app, &tokens[2]).await["status"], "offered", "the next entry gets it");
    let first = my_entry(&app, &tokens[0]).await;
    assert_eq!((first["status"].as_str(), &first["position"]), (Some("waiting"), &json!(1)), "keeps the place");

    app.call(Method::POST, &format!("/api/v1/bookings/{stalls}/cancel"), Some(&tokens[0]), None).await;
    app.patch(&path, Some(&organizer), json!({"capacity": 3})).await;
    assert_eq!(my_entry(&app, &tokens[0]).await["status"], "offered", "one hold let go: offered the next seat");
    let seats = boxoffice::db::invariants::seats(app.db(), tt(0).parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty(), "{seats:?}");
}

/// Offers that run out with several workers releasing at once: each entry
/// is offered once, no seat twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiring_offers_released_by_several_workers_offer_each_seat_once() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(13).await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [{"name": "Standard", "price_cents": 1000, "capacity": 6, "max_per_order": 1}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let mut holds = Vec::new();
    for token in &tokens[..6] {
        holds.push(app.book_final(token, &tt, 1).await.to_string());
    }
    for token in &tokens[6..] {
        assert_eq!(join(&app, token, &tt, 1).await.status, StatusCode::CREATED);
    }
    for id in &holds {
        app.run_out(id).await;
    }
    let releases = (0..3).map(|_| {
        let db = app.db().clone();
        tokio::spawn(async move {
            boxoffice::booking::holds::release_expired(&db, 2, boxoffice::domain::checkout::Provider::Offline).await
        })
    });
    for release in futures::future::join_all(releases).await {
        release.unwrap().unwrap();
    }
    eventually(WITHIN, "every hold released", || async {
        let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
        let expired: i64 =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id::text = ANY($1) AND status = 'expired'")
                .bind(&holds)
                .fetch_one(app.db())
                .await
                .unwrap();
        (expired == 6).then_some(seats)
    })
    .await;
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty(), "{seats:?}");
    assert_eq!((seats.held, seats.remaining), (6, 0), "the six seats went to six entries");
    let offers: Vec<(i64,)> = sqlx::query_as(
        "SELECT count(*) FROM bookings WHERE ticket_type_id = $1::uuid AND reason = 'waiting_list_offer' GROUP BY user_id",
    )
    .bind(&tt)
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(offers.len(), 6, "six buyers got an offer");
    assert!(offers.iter().all(|(n,)| *n == 1), "each once: {offers:?}");
    let still_waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM waiting_list WHERE ticket_type_id = $1::uuid AND status = 'waiting'")
            .bind(&tt)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(still_waiting, 1, "the seventh keeps waiting");
}

/// Issue 28, items 6 and 9: a free waiting-list offer asks the buyer to
/// confirm (not to pay 0.00), and once confirmed the organizer's Orders read
/// "free", never "offline: unpaid".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_offer_is_confirmed_not_paid_and_its_order_reads_free() {
    let app = spawn_app().await;
    let emails: Vec<String> = (0..3).map(|_| format!("{}@example.org", uuid::Uuid::new_v4().simple())).collect();
    let mut tokens = Vec::new();
    for email in &emails {
        assert_eq!(app.register(email).await.status, StatusCode::CREATED);
        tokens.push(app.login(email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned());
    }
    let (organizer, first, waiting) = (&tokens[0], &tokens[1], &tokens[2]);
    let (event_id, tt) = sold_out(&app, organizer, first, json!({"price_cents": 0})).await;
    assert_eq!(join(&app, waiting, &tt, 1).await.status, StatusCode::CREATED);
    let path = format!("/api/v1/events/{event_id}/ticket-types/{tt}");
    assert_eq!(app.patch(&path, Some(organizer), json!({"capacity": 2})).await.status, StatusCode::OK);
    let offer = my_entry(&app, waiting).await;
    assert_eq!(offer["status"], "offered", "{offer}");
    let booking = offer["booking_id"].as_str().unwrap().to_owned();

    let browser = crate::browser::Browser::start("free-offer").await;
    browser.goto(&format!("{}/login", app.base)).await;
    browser.fill("Email", &emails[2]).await;
    browser.fill("Password", crate::helpers::PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_text("Sign out").await;
    browser.goto(&format!("{}/bookings/{booking}", app.base)).await;
    browser.wait_for_text("Confirm within").await;
    let text = browser.text().await;
    assert!(!text.contains("Pay within") && !text.contains("0.00"), "{text}");
    browser.click("Confirm").await;
    browser.wait_for_text("Confirmed").await;

    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&emails[0]).await;
    let orders = visit.get(&format!("/manage/events/{event_id}/orders")).await;
    assert!(!orders.body.contains("unpaid"), "{}", orders.body);
    assert_eq!(orders.body.matches(">free<").count(), 2, "both free orders read free");
    let api = app.get(&format!("/api/v1/bookings/{booking}"), Some(waiting)).await;
    assert_eq!((api.body["status"].as_str(), &api.body["payment"]), (Some("confirmed"), &Value::Null), "{api:?}");
}

/// Issue 28, item 6: "Not booked — all seats were taken" offers the waiting
/// list in one press, for the seats asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_refused_as_sold_out_joins_the_waiting_list_in_one_press() {
    // No worker until both requests are in: one gets the last seat, the
    // other is refused by the worker (not at the door) as sold out.
    let config = test_config(&[]);
    let app = crate::helpers::spawn_api_with(config.clone()).await;
    let (organizer, _) = app.user().await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let buyer = app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let first = app.users(1).await.remove(0);
    let (_, tt) = app.on_sale(&organizer, 1, 1).await;
    let taken = app.book(&first, &tt, 1, None).await;
    let refused = app.book(&buyer, &tt, 1, None).await;
    assert_eq!((taken.status, refused.status), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    app.start_worker(config).await;
    let ids = crate::helpers::accepted_ids(&[taken, refused]);
    app.wait_final(&ids, WITHIN).await;
    let refused = ids[1];
    let shown = app.get(&format!("/api/v1/bookings/{refused}"), Some(&buyer)).await;
    assert_eq!(shown.body["reason"], "sold_out", "{shown:?}");

    let browser = crate::browser::Browser::start("join-from-refusal").await;
    browser.goto(&format!("{}/login", app.base)).await;
    browser.fill("Email", &email).await;
    browser.fill("Password", crate::helpers::PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_text("Sign out").await;
    browser.goto(&format!("{}/bookings/{refused}", app.base)).await;
    browser.wait_for_text("All seats were taken").await;
    browser.accessibility().await;
    browser.click("Join the waiting list for 1 seat").await;
    browser.wait_for_path("/me/tickets").await;
    browser.wait_for_text("1 seat · number 1 on the waiting list").await;
    let entry = my_entry(&app, &buyer).await;
    assert_eq!((entry["quantity"].as_i64(), entry["status"].as_str()), (Some(1), Some("waiting")), "{entry}");
}
