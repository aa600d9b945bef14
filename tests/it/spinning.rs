//! Seat spinning: one account must not keep a sale's priced seats out of
//! everyone's reach by holding them unpaid, again and again. One buyer owns
//! at most `max_per_buyer` of a type (by default one order's worth), has at
//! most two unpaid holds across an event, and after a hold of theirs ran out
//! waits the event's `hold_cooldown_seconds` before holding that type again.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, accepted_ids, spawn_api_with, spawn_app, test_config};

const WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// An event with three priced types and a free one (`max_per_buyer` left unset).
async fn event(app: &TestApp, organizer: &str, extra: Value) -> (Value, Vec<String>) {
    let mut body = json!({"ticket_types": [
        {"name": "Stalls", "price_cents": 4000, "capacity": 100, "max_per_order": 4},
        {"name": "Circle", "price_cents": 3000, "capacity": 100, "max_per_order": 4},
        {"name": "Gallery", "price_cents": 2000, "capacity": 100, "max_per_order": 4},
        {"name": "Foyer", "price_cents": 0, "capacity": 100, "max_per_order": 4}
    ]});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let event = app.published_event(organizer, body).await;
    let types =
        event["ticket_types"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    (event, types)
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_buyer_holds_no_whole_type_and_at_most_two_unpaid_bookings_of_an_event() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let buyer = app.users(1).await.remove(0);
    let (event, tt) = event(&app, &organizer, json!({})).await;

    // One order's worth of Stalls, held; no second order of it.
    let first = app.book_final(&buyer, &tt[0], 4).await.to_string();
    assert_eq!(booking(&app, &buyer, &first).await["status"], "held");
    let more = app.book_final(&buyer, &tt[0], 1).await.to_string();
    let more = booking(&app, &buyer, &more).await;
    assert_eq!((more["status"].as_str(), more["reason"].as_str()), (Some("rejected"), Some("buyer_limit")));

    // A second hold, of another type: fine. A third: refused at once.
    app.book_final(&buyer, &tt[1], 1).await;
    let third = app.book(&buyer, &tt[2], 1, None).await;
    assert_eq!((third.status, third.code()), (StatusCode::CONFLICT, "too_many_holds"), "{third:?}");
    // The door asks PostgreSQL only about buyers the worker marked as holders
    // in Redis: with the mark forgotten, the request is taken and the worker,
    // which decides, refuses it.
    let (event_id, buyer_id) =
        (event["id"].as_str().unwrap(), app.get("/api/v1/me", Some(&buyer)).await.body["id"].clone());
    let buyer_id = buyer_id.as_str().unwrap();
    let mark = format!("{}holder:{event_id}:{buyer_id}", app.state.config.redis_key_prefix);
    let mut redis = app.redis_conn().await;
    let ttl: i64 = redis::cmd("TTL").arg(&mark).query_async(&mut redis).await.unwrap();
    // A bank transfer's 24 h hold, the release's lag of 600 s and the cool-down's 600 s.
    assert!((87_590..=87_600).contains(&ttl), "the holder mark lasts until the hold could have cooled down: {ttl}");
    let _: () = redis::cmd("DEL").arg(&mark).query_async(&mut redis).await.unwrap();
    let unmarked = app.book_final(&buyer, &tt[2], 1).await.to_string();
    let unmarked = booking(&app, &buyer, &unmarked).await;
    assert_eq!((unmarked["status"].as_str(), unmarked["reason"].as_str()), (Some("rejected"), Some("too_many_holds")));
    // Free seats hold nothing: they are not limited by it.
    let free = app.book_final(&buyer, &tt[3], 1).await.to_string();
    assert_eq!(booking(&app, &buyer, &free).await["status"], "confirmed");

    // Cancelling one hold makes room for another.
    let cancel = app.post(&format!("/api/v1/bookings/{first}/cancel"), Some(&buyer), json!({})).await;
    assert_eq!(cancel.status, StatusCode::OK, "{cancel:?}");
    let now = app.book_final(&buyer, &tt[2], 1).await.to_string();
    assert_eq!(booking(&app, &buyer, &now).await["status"], "held");
    for t in &tt {
        app.check_invariants(t).await;
    }
}

/// The limit is the worker's: requests accepted together (before any hold
/// existed to refuse them at the door) are decided in its transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_for_holds_of_one_event_get_two_and_no_more() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet: all are accepted
    let (organizer, _) = app.user().await;
    let buyers = app.users(20).await;
    let (_, tt) = event(&app, &organizer, json!({})).await;
    let requests = buyers.iter().flat_map(|b| tt[..3].iter().map(move |t| (b, t)));
    let replies = futures::future::join_all(requests.map(|(b, t)| app.book(b, t, 1, None))).await;
    let ids = accepted_ids(&replies);
    assert_eq!(ids.len(), 60, "each buyer's three requests are accepted: {replies:?}");
    app.start_worker(config).await;
    app.wait_final(&ids, WITHIN).await;
    for buyer in &buyers {
        let mine = app.get("/api/v1/me/bookings?limit=10", Some(buyer)).await.body["items"].clone();
        let statuses: Vec<(String, String)> = mine
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["status"].as_str().unwrap().to_owned(), b["reason"].as_str().unwrap_or("").to_owned()))
            .collect();
        let held = statuses.iter().filter(|(s, _)| s == "held").count();
        let refused = statuses.iter().filter(|(s, r)| s == "rejected" && r == "too_many_holds").count();
        assert_eq!((held, refused), (2, 1), "{statuses:?}");
    }
    for t in &tt {
        app.check_invariants(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_hold_runs_out_unpaid_the_buyer_waits_before_holding_that_type_again() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let buyers = app.users(2).await;
    let (event, tt) = event(&app, &organizer, json!({})).await;
    let lapsed = app.book_final(&buyers[0], &tt[0], 2).await.to_string();
    app.run_out(&lapsed).await;
    crate::helpers::eventually(WITHIN, "the worker releases the hold", || async {
        (booking(&app, &buyers[0], &lapsed).await["status"] == "expired").then_some(())
    })
    .await;
    let again = app.book(&buyers[0], &tt[0], 2, None).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "hold_cooldown"), "{again:?}");
    let wait: u64 = again.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((590..=600).contains(&wait), "about the event's 600 s: {wait}");
    // Another type, or another buyer, is not held back.
    let other_type = app.book_final(&buyers[0], &tt[1], 1).await.to_string();
    assert_eq!(booking(&app, &buyers[0], &other_type).await["status"], "held");
    let other_buyer = app.book_final(&buyers[1], &tt[0], 2).await.to_string();
    assert_eq!(booking(&app, &buyers[1], &other_buyer).await["status"], "held");

    // The organizer sets the wait: none at all here.
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let patched = app.patch(&path, Some(&organizer), json!({"hold_cooldown_seconds": 0})).await;
    assert_eq!(patched.body["hold_cooldown_seconds"], 0, "{patched:?}");
    let bad = app.patch(&path, Some(&organizer), json!({"hold_cooldown_seconds": 86_401})).await;
    assert_eq!(bad.fields(), ["hold_cooldown_seconds"]);
    app.state.catalog.forget_event(event["id"].as_str().unwrap().parse().unwrap());
    let now = app.book_final(&buyers[0], &tt[0], 2).await.to_string();
    assert_eq!(booking(&app, &buyers[0], &now).await["status"], "held");
}

/// Two workers deciding one buyer's requests for two types of an event at
/// the same moment, each in its own transaction: they count each other's
/// holds (the event's hold lock), so every buyer ends with two, not three.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_batches_deciding_a_buyers_types_at_once_give_two_holds_and_no_more() {
    use boxoffice::booking::allocate::allocate_batch;
    use boxoffice::domain::booking::AcceptedRequest;
    use boxoffice::domain::checkout::Provider;
    let app = spawn_api_with(test_config(&[])).await; // no worker: the test decides the batches itself
    let (organizer, _) = app.user().await;
    let tokens = app.users(40).await;
    let buyers = app.user_ids(&tokens).await;
    let (event, tt) = event(&app, &organizer, json!({})).await;
    let event_id: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let prices = [4000, 3000, 2000];
    let requests = |i: usize| -> Vec<AcceptedRequest> {
        buyers
            .iter()
            .map(|user| AcceptedRequest {
                booking_id: uuid::Uuid::now_v7(),
                user_id: *user,
                event_id,
                ticket_type_id: tt[i].parse().unwrap(),
                quantity: 1,
                idempotency_key: None,
                accepted_at: chrono::Utc::now(),
                unit_price_cents: Some(prices[i]),
                currency: Some("EUR".into()),
                code_id: None,
                presale_at: None,
                tax: None,
                details: Default::default(),
            })
            .collect()
    };
    // Everyone holds one already.
    let first = allocate_batch(app.db(), &requests(0), &[], 1000, Provider::Offline).await.unwrap();
    assert_eq!(first.seats_held, 40);
    let (b, c) = (requests(1), requests(2));
    let (one, other) = tokio::join!(
        allocate_batch(app.db(), &b, &[], 1000, Provider::Offline),
        allocate_batch(app.db(), &c, &[], 1000, Provider::Offline)
    );
    let held = one.unwrap().seats_held + other.unwrap().seats_held;
    assert_eq!(held, 40, "one more hold each, whichever batch gave it");
    let most: i64 = sqlx::query_scalar(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM bookings WHERE status = 'held' GROUP BY user_id) holds",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(most, 2, "nobody holds three");
    for t in &tt {
        app.check_invariants(t).await;
    }
}
