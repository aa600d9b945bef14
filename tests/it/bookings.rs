//! The booking pipeline as a buyer and an organizer meet it: accepted,
//! decided, cancelled, refused at the door, one place in line.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, accepted_ids, eventually, in_days, spawn_api_with, spawn_app, test_config};

const FINAL_WITHIN: Duration = Duration::from_secs(30);

async fn follow_until_final(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    eventually(Duration::from_secs(30), &format!("booking {id} decided"), || async {
        let reply = app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        if reply.body["status"] != "pending" { Ok(reply.body) } else { Err(reply.body) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_accepted_as_pending_then_confirmed_with_one_ticket_per_seat() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;

    let reply = app.book(&buyer, &tt, 3, None).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    assert_eq!(reply.body["status"], "pending");
    assert_eq!(reply.body["event_id"], event["id"]);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(reply.headers["location"], format!("/api/v1/bookings/{id}"));

    let booking = follow_until_final(&app, &buyer, id).await;
    assert_eq!(booking["status"], "confirmed");
    assert_eq!(booking["reason"], serde_json::Value::Null);
    let tickets = booking["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 3);
    let codes: HashSet<&str> = tickets.iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 3);
    assert!(codes.iter().all(|c| c.len() == 26));
    assert!(tickets.iter().all(|t| t["status"] == "valid"));

    let event = app.get(&format!("/api/v1/events/{}", event["id"].as_str().unwrap()), None).await;
    assert_eq!(event.body["ticket_types"][0]["remaining"], 7);
    assert_eq!(app.check_invariants(&tt).await, 3);

    let mine = app.get("/api/v1/me/bookings", Some(&buyer)).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["items"][0]["id"], id);
}

/// Fires one booking of one seat from each of `tokens` at once (a user has
/// one request in line per ticket type at most).
async fn stampede(app: &TestApp, tokens: &[String], tt: &str) -> Vec<crate::helpers::Reply> {
    join_all(tokens.iter().map(|token| app.book(token, tt, 1, None))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stampede_of_1000_requests_on_100_seats_confirms_exactly_100() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(1000).await;
    let (event, tt) = app.on_sale(&organizer, 100, 10).await;

    let replies = stampede(&app, &tokens, &tt).await;
    for reply in &replies {
        match reply.status {
            StatusCode::ACCEPTED => {}
            StatusCode::CONFLICT => assert_eq!(reply.code(), "sold_out"),
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
    let accepted = accepted_ids(&replies);
    assert!(accepted.len() >= 100, "only {} accepted", accepted.len());
    app.wait_final(&accepted, FINAL_WITHIN).await;

    assert_eq!(app.check_invariants(&tt).await, 100);
    let reasons: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT status, reason, count(*) FROM bookings WHERE ticket_type_id = $1::uuid GROUP BY 1, 2 ORDER BY 1",
    )
    .bind(&tt)
    .fetch_all(app.db())
    .await
    .unwrap();
    for (status, reason, _) in &reasons {
        assert!(status == "confirmed" || reason.as_deref() == Some("sold_out"), "{reasons:?}");
    }
    let total: i64 = reasons.iter().map(|(_, _, n)| n).sum();
    assert_eq!(total, accepted.len() as i64, "every 202 has exactly one booking row");

    // The pending records are cleared just after each batch commits.
    eventually(Duration::from_secs(5), "nothing pending in the queue", || async {
        let queue = app.get(&format!("/api/v1/events/{}/queue", event["id"].as_str().unwrap()), None).await;
        if queue.body["pending"] == 0 { Ok(()) } else { Err(queue.body) }
    })
    .await;
    // The sold-out flag now answers at the door, without the queue.
    let late = app.book(&tokens[0], &tt, 1, None).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "sold_out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_gives_the_same_booking_never_a_second() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;

    let first = app.book(&buyer, &tt, 2, Some("order-42")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let again = app.book(&buyer, &tt, 2, Some("order-42")).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["id"], first.body["id"]);
    let other_body = app.book(&buyer, &tt, 3, Some("order-42")).await;
    assert_eq!((other_body.status, other_body.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    let other_user = app.book(&organizer, &tt, 2, Some("order-42")).await;
    assert_eq!(other_user.status, StatusCode::ACCEPTED, "keys are per user");
    assert_ne!(other_user.body["id"], first.body["id"]);

    // Concurrently (another buyer: this one is in line already): one
    // booking, whatever the interleaving.
    let (burster, _) = app.user().await;
    let replies = join_all((0..10).map(|_| app.book(&burster, &tt, 1, Some("burst")))).await;
    let ids: HashSet<String> =
        replies.iter().filter(|r| r.status.is_success()).map(|r| r.body["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1, "{replies:?}");
    for reply in &replies {
        assert!(matches!(reply.status, StatusCode::ACCEPTED | StatusCode::OK | StatusCode::CONFLICT), "{reply:?}");
    }
    assert_eq!(replies.iter().filter(|r| r.status == StatusCode::ACCEPTED).count(), 1);

    let burst_id: Uuid = ids.into_iter().next().unwrap().parse().unwrap();
    let mut all = accepted_ids(&[first, other_user]);
    all.push(burst_id);
    app.wait_final(&all, FINAL_WITHIN).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 3, "one booking per (user, key)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_returns_the_seat_for_the_next_buyer() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 1, 1).await;

    let first = app.book(&buyer, &tt, 1, None).await;
    let id = first.body["id"].as_str().unwrap().to_owned();
    assert_eq!(follow_until_final(&app, &buyer, &id).await["status"], "confirmed");
    let second = app.book(&organizer, &tt, 1, None).await;
    if second.status == StatusCode::ACCEPTED {
        let second = follow_until_final(&app, &organizer, second.body["id"].as_str().unwrap()).await;
        assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("rejected"), Some("sold_out")));
    } else {
        assert_eq!(second.code(), "sold_out");
    }

    let path = format!("/api/v1/bookings/{id}");
    assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    let theirs = app.call(Method::POST, &format!("{path}/cancel"), Some(&stranger), None).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    let cancelled = app.call(Method::POST, &format!("{path}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["reason"], "cancelled_by_user");
    assert!(cancelled.body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "void"));
    assert_eq!(app.check_invariants(&tt).await, 0);
    let twice = app.call(Method::POST, &format!("{path}/cancel"), Some(&buyer), None).await;
    assert_eq!((twice.status, twice.code()), (StatusCode::CONFLICT, "conflict"));

    // The seat is back on sale at once (the sold-out flag was cleared).
    let next = app.book(&organizer, &tt, 1, None).await;
    assert_eq!(next.status, StatusCode::ACCEPTED, "{next:?}");
    let next = follow_until_final(&app, &organizer, next.body["id"].as_str().unwrap()).await;
    assert_eq!(next["status"], "confirmed");
    assert_eq!(app.check_invariants(&tt).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_booking_requests_are_refused_at_the_door() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;

    for quantity in [0, 5, -1] {
        let reply = app.book(&buyer, &tt, quantity, None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{quantity}");
        assert_eq!(reply.fields(), ["quantity"]);
    }
    let unknown = app.book(&buyer, &Uuid::now_v7().to_string(), 1, None).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::NOT_FOUND, "not_found"));
    let anonymous = app.post("/api/v1/bookings", None, json!({"ticket_type_id": tt, "quantity": 1})).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    for key in ["", "tab\tkey", &"k".repeat(256), "ünïcode"] {
        let reply = app
            .send(
                app.client
                    .post(app.url("/api/v1/bookings"))
                    .bearer_auth(&buyer)
                    .header("idempotency-key", reqwest::header::HeaderValue::from_bytes(key.as_bytes()).unwrap())
                    .json(&json!({"ticket_type_id": tt, "quantity": 1})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{key:?}");
        assert_eq!(reply.fields(), ["Idempotency-Key"]);
    }

    let draft = app.create_event(&organizer, json!({})).await.body;
    let draft_tt = draft["ticket_types"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.book(&buyer, draft_tt, 1, None).await.status,
        StatusCode::NOT_FOUND,
        "a stranger cannot see a draft"
    );
    let own = app.book(&organizer, draft_tt, 1, None).await;
    assert_eq!((own.status, own.code()), (StatusCode::CONFLICT, "sales_closed"));

    let later = app.published_event(&organizer, json!({"sales_start": in_days(1)})).await;
    let later_tt = later["ticket_types"][0]["id"].as_str().unwrap();
    let early = app.book(&buyer, later_tt, 1, None).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "sales_closed"));

    let cancel = app
        .post(&format!("/api/v1/events/{}/cancel", event["id"].as_str().unwrap()), Some(&organizer), json!({}))
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    let gone = app.book(&buyer, &tt, 1, None).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::CONFLICT, "event_cancelled"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 0, "nothing refused at the door reaches the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_event_cancels_its_bookings_and_it_can_no_longer_be_deleted() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let reply = app.book(&buyer, &tt, 2, None).await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    follow_until_final(&app, &buyer, &id).await;

    let delete = app.call(Method::DELETE, &path, Some(&organizer), None).await;
    assert_eq!((delete.status, delete.code()), (StatusCode::CONFLICT, "conflict"));
    let cancelled = app.post(&format!("{path}/cancel"), Some(&organizer), json!({})).await;
    assert_eq!(cancelled.body["ticket_types"][0]["remaining"], 10, "the seats came back");
    let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
    assert_eq!(
        (booking.body["status"].as_str(), booking.body["reason"].as_str()),
        (Some("cancelled"), Some("event_cancelled"))
    );
    assert!(booking.body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "void"));
    assert_eq!(app.check_invariants(&tt).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepting_bookings_reads_postgresql_at_most_once_a_second_per_ticket_type() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(300).await;
    let (_, tt) = app.on_sale(&organizer, 10_000, 5).await;
    let loads = || app.state.catalog.loads.load(std::sync::atomic::Ordering::Relaxed);
    let before = loads();
    let start = std::time::Instant::now();
    let replies = join_all(tokens.iter().map(|token| app.book(token, &tt, 1, None))).await;
    let seconds = start.elapsed().as_secs() + 1;
    assert!(replies.iter().all(|r| r.status == StatusCode::ACCEPTED));
    let read = loads() - before;
    assert!(read >= 1 && read <= seconds + 1, "{read} offer reads for 300 bookings in about {seconds} s");
    let metrics = app.scrape().await;
    assert!(metrics.contains("boxoffice_offer_loads_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_cancel_until_the_deadline_which_defaults_to_the_start() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let late =
        app.create_event(&organizer, json!({"starts_at": in_days(30), "cancellation_deadline": in_days(31)})).await;
    assert_eq!(late.fields(), ["cancellation_deadline"], "not after the start: {late:?}");

    let deadline = in_days(20);
    let with_deadline =
        app.published_event(&organizer, json!({"starts_at": in_days(30), "cancellation_deadline": deadline})).await;
    assert_eq!(with_deadline["cancellation_deadline"], json!(deadline));
    let by_default = app.published_event(&organizer, json!({})).await;
    assert_eq!(by_default["cancellation_deadline"], by_default["starts_at"]);

    for (event, past) in [(&with_deadline, "cancellation_deadline"), (&by_default, "starts_at")] {
        let tt = event["ticket_types"][0]["id"].as_str().unwrap();
        let booking = app.book_final(&buyer, tt, 1).await;
        // Time passes: the deadline (or the start) is behind us.
        sqlx::query(&format!("UPDATE events SET {past} = now() - interval '1 minute' WHERE id = $1::uuid"))
            .bind(event["id"].as_str().unwrap())
            .execute(app.db())
            .await
            .unwrap();
        let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{booking}/cancel"), Some(&buyer), None).await;
        assert_eq!((cancel.status, cancel.code()), (StatusCode::CONFLICT, "cancellation_closed"), "{past}");
        let still = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await;
        assert_eq!(still.body["status"], "held", "a priced booking, held until paid, stays so");
    }
    // The organizer still can.
    let id = with_deadline["id"].as_str().unwrap();
    let cancel = app.call(Method::POST, &format!("/api/v1/events/{id}/cancel"), Some(&organizer), None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{cancel:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_changed_while_the_request_waited_is_refused_and_a_sold_price_is_locked() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 4, 1000).await;
    let event_id = event["id"].as_str().unwrap();
    let tt_path = format!("/api/v1/events/{event_id}/ticket-types/{tt}");
    let shown_at_1000 = app.book(&buyer, &tt, 2, None).await;
    assert_eq!(shown_at_1000.status, StatusCode::ACCEPTED);
    let repriced = app.patch(&tt_path, Some(&organizer), json!({"price_cents": 99999})).await;
    assert_eq!(repriced.status, StatusCode::OK, "nothing sold yet: {repriced:?}");

    app.start_worker(config.clone()).await;
    app.wait_final(&accepted_ids(std::slice::from_ref(&shown_at_1000)), FINAL_WITHIN).await;
    let id = shown_at_1000.body["id"].as_str().unwrap();
    let refused = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
    assert_eq!(
        (refused.body["status"].as_str(), refused.body["reason"].as_str()),
        (Some("rejected"), Some("price_changed"))
    );
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(stats.body["totals"]["revenue_cents"], 0, "{stats:?}");

    // At the new price, shown, held and charged.
    let held = app.book_final(&buyer, &tt, 1).await;
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(stats.body["totals"]["revenue_cents"], 0, "held, not paid yet");
    let paid = app.mark_paid(&organizer, event_id, &held.to_string()).await;
    assert_eq!((paid.body["status"].as_str(), &paid.body["total_cents"]), (Some("confirmed"), &json!(99999)));
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(stats.body["totals"]["revenue_cents"], 99999);
    for change in [json!({"price_cents": 2500}), json!({"currency": "JPY"})] {
        let locked = app.patch(&tt_path, Some(&organizer), change.clone()).await;
        assert_eq!((locked.status, locked.code()), (StatusCode::CONFLICT, "price_locked"), "{change}");
    }
    let same =
        app.patch(&tt_path, Some(&organizer), json!({"price_cents": 99999, "currency": "eur", "capacity": 20})).await;
    assert_eq!(same.status, StatusCode::OK, "the same price, and other fields, still change: {same:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_has_one_place_in_line_per_ticket_type_and_no_more_seats_than_the_limit() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet: requests stay in line
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [
                {"name": "Limited", "price_cents": 0, "capacity": 10, "max_per_order": 2, "max_per_buyer": 3},
                {"name": "One each", "price_cents": 0, "capacity": 10, "max_per_order": 4, "max_per_buyer": 1}
            ]}),
        )
        .await;
    let limited = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let one_each = event["ticket_types"][1]["id"].as_str().unwrap();
    assert_eq!(event["ticket_types"][0]["max_per_buyer"], 3);

    // Six parallel orders of two from one account: one is in line, five are not.
    let keys: Vec<String> = (0..6).map(|i| format!("order-{i}")).collect();
    let replies = join_all(keys.iter().map(|key| app.book(&buyer, &limited, 2, Some(key)))).await;
    let first = accepted_ids(&replies);
    assert_eq!(first.len(), 1, "{replies:?}");
    for reply in replies.iter().filter(|r| r.status != StatusCode::ACCEPTED) {
        assert_eq!((reply.status, reply.code()), (StatusCode::CONFLICT, "already_in_line"));
        assert_eq!(reply.body["booking_id"], json!(first[0]), "names the booking in line");
    }
    let replay_key = replies.iter().position(|r| r.status == StatusCode::ACCEPTED).unwrap();
    let replay = app.book(&buyer, &limited, 2, Some(&keys[replay_key])).await;
    assert_eq!(replay.status, StatusCode::OK, "a replay is still a replay: {replay:?}");
    let keyless = app.book(&buyer, &limited, 1, None).await;
    assert_eq!(keyless.code(), "already_in_line");
    // In line for another type is fine; more than one buyer may own at once is not.
    let too_many = app.book(&buyer, one_each, 2, None).await;
    assert_eq!(too_many.fields(), ["quantity"]);

    app.start_worker(config.clone()).await;
    app.wait_final(&first, FINAL_WITHIN).await;
    // Owns 2 of at most 3: another 2 is refused by the worker, 1 fits.
    let over = app.book(&buyer, &limited, 2, None).await;
    app.wait_final(&accepted_ids(std::slice::from_ref(&over)), FINAL_WITHIN).await;
    let over_id = over.body["id"].as_str().unwrap();
    let refused = app.get(&format!("/api/v1/bookings/{over_id}"), Some(&buyer)).await;
    assert_eq!(
        (refused.body["status"].as_str(), refused.body["reason"].as_str()),
        (Some("rejected"), Some("buyer_limit"))
    );
    app.book_final(&buyer, &limited, 1).await;
    assert_eq!(app.check_invariants(&limited).await, 3);

    let path = format!("/api/v1/events/{}/ticket-types/{limited}", event["id"].as_str().unwrap());
    let invalid = app.patch(&path, Some(&organizer), json!({"max_per_buyer": 0})).await;
    assert_eq!(invalid.fields(), ["max_per_buyer"]);
    let reset = app.patch(&path, Some(&organizer), json!({"max_per_buyer": null})).await;
    assert_eq!(reset.body["max_per_buyer"], json!(2), "null: back to one order's worth");
    let raised = app.patch(&path, Some(&organizer), json!({"max_per_buyer": 10})).await;
    assert_eq!(raised.body["max_per_buyer"], json!(10));
    app.book_final(&buyer, &limited, 2).await;
    assert_eq!(app.check_invariants(&limited).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_in_line_left_behind_does_not_lock_a_buyer_out() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 2).await;
    let user = app.get("/api/v1/me", Some(&buyer)).await.body["id"].as_str().unwrap().to_owned();
    let decided = app.book_final(&buyer, &tt, 1).await;
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let place = format!("{}in-line:{user}:{tt}", app.state.config.redis_key_prefix);
    // As if the worker died between its commit and giving the place up, or
    // the booking holding it vanished: neither may keep the buyer out.
    for holder in [decided, Uuid::now_v7()] {
        let _: () = redis::cmd("SET").arg(&place).arg(holder.to_string()).query_async(&mut redis).await.unwrap();
        let reply = app.book(&buyer, &tt, 1, None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
    }
}
