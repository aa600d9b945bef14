//! The booking pipeline: accept, queue, worker, tickets, cancellation.

use std::collections::HashSet;
use std::time::Duration;

use boxoffice::app::AppState;
use boxoffice::domain::booking::AcceptedRequest;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    TestApp, accepted_ids, eventually, in_days, spawn_api_with, spawn_app, spawn_app_with, test_config,
};
use crate::proxy::Proxy;

const FINAL_WITHIN: Duration = Duration::from_secs(30);

/// A request for two seats, as the API would publish it.
fn request_of_two(event: &serde_json::Value, tt: &str, user: Uuid, key: Option<&str>) -> AcceptedRequest {
    AcceptedRequest {
        booking_id: Uuid::now_v7(),
        user_id: user,
        event_id: event["id"].as_str().unwrap().parse().unwrap(),
        ticket_type_id: tt.parse().unwrap(),
        quantity: 2,
        idempotency_key: key.map(str::to_owned),
        accepted_at: chrono::Utc::now(),
        unit_price_cents: event["ticket_types"][0]["price_cents"].as_i64(),
        currency: event["ticket_types"][0]["currency"].as_str().map(str::to_owned),
    }
}

async fn follow_until_final(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    for _ in 0..600 {
        let reply = app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        if reply.body["status"] != "pending" {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("booking {id} stayed pending");
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
    let mut pending = json!(null);
    for _ in 0..100 {
        pending =
            app.get(&format!("/api/v1/events/{}/queue", event["id"].as_str().unwrap()), None).await.body["pending"]
                .clone();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0);
    // The sold-out flag now answers at the door, without the queue.
    let late = app.book(&tokens[0], &tt, 1, None).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "sold_out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_on_one_queue_still_confirm_exactly_the_capacity() {
    let app = spawn_app().await;
    for _ in 0..3 {
        // Each extra worker with its own connections, like a separate process.
        let state = AppState::connect((*app.state.config).clone()).await.unwrap();
        app.spawn_worker(state);
    }
    let (organizer, _) = app.user().await;
    let tokens = app.users(600).await;
    let (_, tt) = app.on_sale(&organizer, 50, 3).await;
    let replies =
        join_all(tokens.iter().enumerate().map(|(i, token)| app.book(token, &tt, 1 + (i % 3) as i64, None))).await;
    let accepted = accepted_ids(&replies);
    app.wait_final(&accepted, FINAL_WITHIN).await;
    let confirmed = app.check_invariants(&tt).await;
    assert_eq!(confirmed, 50, "exactly the capacity");
    let remaining: i32 = sqlx::query_scalar("SELECT remaining FROM ticket_types WHERE id = $1::uuid")
        .bind(&tt)
        .fetch_one(app.db())
        .await
        .unwrap();
    // A request of 1 seat fits whatever is left, and requests keep coming long
    // after the sale ends, so nothing can be left over.
    assert_eq!(remaining, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_twice_makes_one_booking() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 5).await;
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(app.db()).await.unwrap();
    let message = request_of_two(&event, &tt, user, None);
    app.state.broker.publish_booking(&message).await.unwrap();
    app.state.broker.publish_booking(&message).await.unwrap();
    // A third request behind them: once it is decided, both copies have been
    // (one queue, one worker, batches committed in order).
    let behind = request_of_two(&event, &tt, user, None);
    app.state.broker.publish_booking(&behind).await.unwrap();
    app.wait_final(&[message.booking_id, behind.booking_id], FINAL_WITHIN).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 2);
    // The copy took no seats: four, two per request, not six.
    assert_eq!(app.check_invariants(&tt).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_unreachable_bookings_get_503_and_nothing_is_recorded() {
    let config = test_config(&["--amqp-url", "amqp://guest:guest@127.0.0.1:1/%2f"]);
    let app = spawn_app_with(config).await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 5).await;
    let reply = app.book(&organizer, &tt, 1, Some("key-1")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.code(), "unavailable");
    assert!(reply.headers.contains_key("retry-after"));

    let mine = app.get("/api/v1/me/bookings", Some(&organizer)).await;
    assert_eq!(mine.body["items"], json!([]), "nothing pending");
    let queue = app.get(&format!("/api/v1/events/{}/queue", event["id"].as_str().unwrap()), None).await;
    assert_eq!(queue.body["pending"], 0);
    // The key was released: a retry is a fresh attempt, not a 409.
    let again = app.book(&organizer, &tt, 1, Some("key-1")).await;
    assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_unreachable_the_worker_retries_and_finishes_once_it_is_back() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    // One attempt only: tries against an unreachable database must not count.
    let api_config = test_config(&["--booking-max-attempts", "1"]);
    let app = spawn_api_with(api_config.clone()).await;
    let mut worker_config = api_config.clone();
    worker_config.database_url = api_config.database_url.replace(":5432/", &format!(":{}/", proxy.port));
    let worker_state = AppState::connect(worker_config).await.unwrap();
    app.spawn_worker(worker_state);

    let (organizer, _) = app.user().await;
    let tokens = app.users(8).await;
    let (_, tt) = app.on_sale(&organizer, 5, 5).await;
    proxy.cut();
    let replies = join_all(tokens.iter().map(|token| app.book(token, &tt, 1, None))).await;
    let accepted = accepted_ids(&replies);
    assert_eq!(accepted.len(), 8);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(done, 0, "nothing can be written while the database is away");

    proxy.restore();
    app.wait_final(&accepted, FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dead_letter_queue_and_the_others_still_pass() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    let connection = app.state.broker.connection().unwrap();
    let channel = boxoffice::queue::confirm_channel(&connection).await.unwrap();
    let topology = app.state.broker.topology();
    let properties = boxoffice::queue::persistent_json("poison", Default::default());
    boxoffice::queue::publish_confirmed(
        &channel,
        &topology.exchange(),
        topology.routing_key(),
        b"{not json",
        properties,
    )
    .await
    .unwrap();
    let tokens = app.users(3).await;
    let replies = join_all(tokens.iter().map(|token| app.book(token, &tt, 1, None))).await;
    app.wait_final(&accepted_ids(&replies), FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 3);

    let letters = boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].message_id, "poison");
    assert!(letters[0].error.as_deref().unwrap().contains("unparseable"));
    // Listing leaves it in place.
    assert_eq!(boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_parked_and_dlq_replay_brings_it_back_once_fixed() {
    let app = spawn_app_with(test_config(&["--booking-max-attempts", "2"])).await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 5, 5).await;
    // A request whose user does not exist (yet): the insert fails every time.
    let ghost = Uuid::now_v7();
    let message = request_of_two(&event, &tt, ghost, None);
    app.state.broker.publish_booking(&message).await.unwrap();
    let connection = app.state.broker.connection().unwrap();
    let topology = app.state.broker.topology();
    let mut parked = Vec::new();
    for _ in 0..150 {
        parked = boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap();
        if !parked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(parked.len(), 1, "the message went to the dead-letter queue after its attempts");
    assert_eq!(parked[0].message_id, message.booking_id.to_string());
    assert_eq!(parked[0].attempts, Some(2));
    assert!(parked[0].error.as_deref().unwrap().contains("foreign key"), "{:?}", parked[0].error);
    assert_eq!(app.check_invariants(&tt).await, 0, "nothing taken meanwhile");

    // The cause is fixed; the replay brings it back and it goes through.
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'ghost@example.org', 'Ghost', 'x')")
        .bind(ghost)
        .execute(app.db())
        .await
        .unwrap();
    let selection = boxoffice::worker::dlq::Selection::Booking(message.booking_id);
    assert_eq!(boxoffice::worker::dlq::replay(&connection, topology, selection).await.unwrap(), 1);
    app.wait_final(&[message.booking_id], FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 2);
    assert!(boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap().is_empty());
}

/// Requests published at the same moment share messages, and every one of
/// them is in the queue once its caller hears Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_share_messages_and_each_is_in_the_queue_when_confirmed() {
    // No worker: the queue keeps what was published.
    let app = crate::helpers::spawn_api_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 5).await;
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(app.db()).await.unwrap();
    let requests: Vec<AcceptedRequest> = (0..200).map(|_| request_of_two(&event, &tt, user, None)).collect();
    let published = join_all(requests.iter().map(|r| app.state.broker.publish_booking(r))).await;
    assert!(published.iter().all(Result::is_ok), "{:?}", published.iter().find(|r| r.is_err()));

    let connection = app.state.broker.connection().unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = app.state.broker.topology().queue();
    let (mut messages, mut carried) = (0, Vec::new());
    while let Some(message) = channel.basic_get(&queue, lapin::options::BasicGetOptions { no_ack: true }).await.unwrap()
    {
        messages += 1;
        carried.extend(
            boxoffice::queue::message::decode(&message.delivery.data).unwrap().into_iter().map(|r| r.booking_id),
        );
    }
    carried.sort();
    let mut expected: Vec<Uuid> = requests.iter().map(|r| r.booking_id).collect();
    expected.sort();
    assert_eq!(carried, expected, "each request exactly once");
    assert!(messages < 200, "{messages} messages for 200 requests");
}

/// Concurrent accepts share messages. One bad request in such a message
/// must not take the others down with it: they are decided, it alone is
/// retried and parked in the dead-letter queue under its own booking id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_in_a_shared_message_is_parked_alone_and_the_others_are_decided() {
    let app = spawn_app_with(test_config(&["--booking-max-attempts", "2"])).await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 5).await;
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(app.db()).await.unwrap();
    let (mut first, ghost, mut last) = (
        request_of_two(&event, &tt, user, Some("first")),
        request_of_two(&event, &tt, Uuid::now_v7(), None),
        request_of_two(&event, &tt, user, Some("last")),
    );
    (first.quantity, last.quantity) = (1, 1);
    app.state.broker.publish_bookings(&[first.clone(), ghost.clone(), last.clone()]).await.unwrap();
    app.wait_final(&[first.booking_id, last.booking_id], FINAL_WITHIN).await;
    let connection = app.state.broker.connection().unwrap();
    let topology = app.state.broker.topology();
    let parked = crate::helpers::eventually(FINAL_WITHIN, "the bad request is parked", || async {
        let letters = boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(parked.len(), 1, "only the bad request, not the message");
    assert_eq!(parked[0].message_id, ghost.booking_id.to_string());
    assert_eq!(parked[0].attempts, Some(2));
    let body = boxoffice::queue::message::decode(parked[0].body.as_bytes()).unwrap();
    assert_eq!(body.iter().map(|r| r.booking_id).collect::<Vec<_>>(), [ghost.booking_id], "its request alone");
    assert_eq!(app.check_invariants(&tt).await, 2, "the two good requests took their seat each");
    let decided: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE status = 'confirmed'")
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(decided, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_503_after_an_unconfirmed_publish_never_takes_a_seat() {
    // The confirm timed out: the message may still arrive. The API writes a
    // tombstone; when the message does arrive, the worker finds it decided.
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 5, 5).await;
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users LIMIT 1").fetch_one(app.db()).await.unwrap();
    let message = request_of_two(&event, &tt, user, Some("timed-out"));
    let mut conn = app.db().acquire().await.unwrap();
    boxoffice::db::bookings::tombstone(&mut conn, &message).await.unwrap();
    let row = || async {
        sqlx::query_as::<_, (String, String, chrono::DateTime<chrono::Utc>)>(
            "SELECT status, reason, updated_at FROM bookings WHERE id = $1",
        )
        .bind(message.booking_id)
        .fetch_one(app.db())
        .await
        .unwrap()
    };
    let tombstoned = row().await;
    app.state.broker.publish_booking(&message).await.unwrap();
    // Published after it on the same queue: decided once the worker has
    // taken the tombstoned message too (one consumer, in order).
    let later = app.book(&organizer, &tt, 1, None).await;
    app.wait_final(&accepted_ids(&[later]), FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 1, "the tombstoned request took no seat");
    assert_eq!(row().await, tombstoned, "the worker found it decided and left it as it was");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_killed_mid_sale_loses_nothing_and_applies_nothing_twice() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(400).await;
    let (_, tt) = app.on_sale(&organizer, 150, 2).await;

    let start_worker = || {
        crate::helpers::binary("worker", &config)
            .env("WORKER_BATCH_SIZE", "20")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the worker starts")
    };
    let mut worker = start_worker();
    let replies =
        join_all(tokens.iter().enumerate().map(|(i, token)| app.book(token, &tt, 1 + (i % 2) as i64, None))).await;
    let accepted = accepted_ids(&replies);
    // Kill it (SIGKILL: no shutdown, no final acks) once it is under way.
    for _ in 0..200 {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
        if done > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill().unwrap();
    worker.wait().unwrap();
    let mut restarted = start_worker();
    app.wait_final(&accepted, FINAL_WITHIN).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
    assert_eq!(rows, accepted.len() as i64, "one row per accepted request: none lost, none doubled");
    let confirmed = app.check_invariants(&tt).await;
    assert_eq!(confirmed, 150, "all seats sold once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_booking_and_dead_letter_queues_are_quorum_queues() {
    let mut config = test_config(&[]);
    config.amqp_queue_type = boxoffice::config::QueueType::Quorum;
    let app = spawn_app_with(config).await;
    let connection = app.state.broker.connection().unwrap();
    let topology = app.state.broker.topology();
    for queue in [topology.queue(), topology.dead_queue()] {
        // Redeclaring with another type fails only if the queue is of a different type.
        let channel = connection.create_channel().await.unwrap();
        let mut classic = lapin::types::FieldTable::default();
        classic.insert("x-queue-type".into(), lapin::types::AMQPValue::LongString("classic".into()));
        let options = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
        let err = channel.queue_declare(&queue, options, classic).await.expect_err("the queue is not classic");
        assert!(err.to_string().contains("PRECONDITION_FAILED") || err.to_string().contains("inequivalent"), "{err}");
    }
    // And the pipeline works on them.
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 3, 3).await;
    let reply = app.book(&organizer, &tt, 2, None).await;
    app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_a_booking_answers_as_soon_as_it_is_decided() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 5, 5).await;
    let reply = app.book(&organizer, &tt, 1, None).await;
    let path = format!("/api/v1/bookings/{}", reply.body["id"].as_str().unwrap());

    let still = app.get(&format!("{path}?wait=1"), Some(&organizer)).await;
    assert_eq!(still.body["status"], "pending", "nobody decided it within the wait");
    for bad in ["0", "31", "soon"] {
        assert_eq!(app.get(&format!("{path}?wait={bad}"), Some(&organizer)).await.fields(), ["wait"]);
    }

    let long_poll = format!("{path}?wait=30");
    let waiting = app.get(&long_poll, Some(&organizer));
    let worker = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.spawn_worker(AppState::connect(config.clone()).await.unwrap());
    };
    let (decided, ()) = tokio::join!(waiting, worker);
    assert_eq!(decided.body["status"], "confirmed");
    assert_eq!(decided.body["tickets"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_read_only_when_woken_hold_no_connection_and_are_bounded() {
    let config = test_config(&["--long-poll-max-waiters", "4"]);
    let app = spawn_api_with(config.clone()).await; // no worker yet
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 50, 5).await;
    let tokens = app.users(10).await;
    let mut polls = Vec::new();
    for token in &tokens {
        let reply = app.book(token, &tt, 1, None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        polls.push((token.clone(), format!("/api/v1/bookings/{}?wait=30", reply.body["id"].as_str().unwrap())));
    }
    eventually(Duration::from_secs(10), "the API listens for decisions", || async {
        app.state.waiters.is_listening().then_some(())
    })
    .await;
    let rereads = || app.state.waiters.rereads.load(std::sync::atomic::Ordering::Relaxed);
    let waiting = join_all(polls.iter().map(|(token, path)| app.get(path, Some(token))));
    let meanwhile = async {
        eventually(Duration::from_secs(10), "four wait, six were answered at once", || async {
            (app.state.waiters.waiting() == 4).then_some(())
        })
        .await;
        // Waiting, they read nothing and hold no connection: the pool (5) serves others.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(rereads(), 0, "no polling while announcements arrive");
        assert_eq!(app.get("/api/v1/me", Some(&organizer)).await.status, StatusCode::OK);
        app.spawn_worker(AppState::connect(config.clone()).await.unwrap());
    };
    let (replies, ()) = tokio::join!(waiting, meanwhile);
    let statuses: Vec<&str> = replies.iter().map(|r| r.body["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "pending").count(), 6, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "confirmed").count(), 4, "woken by the decision: {statuses:?}");
    assert!(rereads() <= 4, "one read per announcement: {}", rereads());
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

#[tokio::test]
async fn a_replay_after_redis_came_back_empty_answers_with_the_first_booking() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 2).await;
    let first = app.book(&buyer, &tt, 1, Some("key-redis-forgets")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    app.wait_final(&accepted_ids(&[first]), FINAL_WITHIN).await;
    let first_id = app.db_booking_ids(&tt).await;
    assert_eq!(first_id.len(), 1);

    assert!(app.forget_redis().await > 0);
    let replay = app.book(&buyer, &tt, 1, Some("key-redis-forgets")).await;
    assert_eq!(replay.status, StatusCode::OK, "{replay:?}");
    assert_eq!(replay.body["id"], json!(first_id[0]));
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    // Another body under the same key is still refused, and the key is
    // remembered again: the next replay is answered by Redis alone.
    let other = app.book(&buyer, &tt, 2, Some("key-redis-forgets")).await;
    assert_eq!((other.status.as_u16(), other.code()), (422, "idempotency_key_reused"), "{other:?}");
    let again = app.book(&buyer, &tt, 1, Some("key-redis-forgets")).await;
    assert_eq!((again.status, &again.body["id"]), (StatusCode::OK, &json!(first_id[0])));

    // A new key books as usual; one seat each, nothing doubled.
    let fresh = app.book(&buyer, &tt, 1, Some("a-new-key")).await;
    assert_eq!(fresh.status, StatusCode::ACCEPTED, "{fresh:?}");
    app.wait_final(&accepted_ids(&[fresh]), FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 2);
    assert_eq!(app.db_booking_ids(&tt).await.len(), 2);
}

#[tokio::test]
async fn a_replay_after_redis_came_back_empty_is_a_replay_even_once_sold_out() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 1, 1).await;
    let first = app.book(&buyer, &tt, 1, Some("key-of-the-last-seat")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    let first_id = first.body["id"].clone();
    app.wait_final(&accepted_ids(&[first]), FINAL_WITHIN).await;

    assert!(app.forget_redis().await > 0);
    // The worker flags the type sold out again with its next batch; here at once.
    let client = redis::Client::open(app.state.config.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let flag = format!("{}sold-out:{tt}", app.state.config.redis_key_prefix);
    let _: () = redis::cmd("SET").arg(flag).arg(1).arg("EX").arg(60).query_async(&mut conn).await.unwrap();

    let replay = app.book(&buyer, &tt, 1, Some("key-of-the-last-seat")).await;
    assert_eq!((replay.status, &replay.body["id"]), (StatusCode::OK, &first_id), "{replay:?}");
    let (other, _) = app.user().await;
    let late = app.book(&other, &tt, 1, Some("another-key")).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "sold_out"));
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

    app.spawn_worker(AppState::connect(config.clone()).await.unwrap());
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

    app.spawn_worker(AppState::connect(config.clone()).await.unwrap());
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
async fn when_the_listening_connection_drops_waiters_read_again_and_still_hear_the_decision() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 5, 5).await;
    let reply = app.book(&buyer, &tt, 1, None).await;
    let path = format!("/api/v1/bookings/{}?wait=30", reply.body["id"].as_str().unwrap());
    eventually(Duration::from_secs(10), "the API listens for decisions", || async {
        app.state.waiters.is_listening().then_some(())
    })
    .await;
    let rereads = || app.state.waiters.rereads.load(std::sync::atomic::Ordering::Relaxed);
    let waiting = app.get(&path, Some(&buyer));
    let meanwhile = async {
        eventually(Duration::from_secs(10), "one waiter", || async {
            (app.state.waiters.waiting() == 1).then_some(())
        })
        .await;
        // The listening connection is cut (a restart, a pooler, an operator):
        // announcements made meanwhile are lost, so the waiter must look again.
        let ended: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND query LIKE 'LISTEN%') AS t",
        )
        .fetch_one(app.db())
        .await
        .unwrap();
        assert_eq!(ended, 1, "the listener's connection");
        // Well before its 30 s (and the 10 s safety net): woken by the reconnect.
        eventually(Duration::from_secs(8), "the waiter read again after the drop", || async {
            (rereads() >= 1).then_some(())
        })
        .await;
        app.spawn_worker(AppState::connect(config.clone()).await.unwrap());
    };
    let (decided, ()) = tokio::join!(waiting, meanwhile);
    assert_eq!(decided.body["status"], "confirmed");
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
