//! The queue and the worker: deliveries twice, several workers, retries,
//! the dead-letter queue, outages of the broker and the database, a worker
//! killed mid-sale, the quorum topology.

use std::time::Duration;

use boxoffice::domain::booking::AcceptedRequest;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{accepted_ids, eventually, spawn_api_with, spawn_app, spawn_app_with, test_config};
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
        code_id: None,
        presale_at: None,
        tax: None,
        details: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_on_one_queue_still_confirm_exactly_the_capacity() {
    let app = spawn_app().await;
    for _ in 0..3 {
        // Each extra worker with its own connections, like a separate process.
        app.start_worker((*app.state.config).clone()).await;
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
    app.start_worker(worker_config).await;

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
    let parked = eventually(Duration::from_secs(15), "the message in the dead-letter queue", || async {
        let parked = boxoffice::worker::dlq::list(&connection, topology, 10).await.unwrap();
        (!parked.is_empty()).then_some(parked)
    })
    .await;
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
    eventually(Duration::from_secs(10), "the worker under way", || async {
        let done: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(app.db()).await.unwrap();
        (done > 0).then_some(())
    })
    .await;
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
async fn a_worker_whose_consumer_the_broker_cancels_subscribes_again() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 1).await;
    app.book_final(&buyer, &tt, 1).await;
    // Deleting the queue under its consumer makes the broker cancel it (as
    // when a quorum queue's node leaves): the worker declares the queue
    // again and consumes from it.
    let connection = app.state.broker.connection().unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = app.state.broker.topology().queue();
    channel.queue_delete(&queue, lapin::options::QueueDeleteOptions::default()).await.unwrap();
    let (other, _) = app.user().await;
    eventually(Duration::from_secs(30), "a booking decided after the cancel", || async {
        let reply = app.book(&other, &tt, 1, None).await;
        if reply.status != StatusCode::ACCEPTED {
            return Err(format!("{}: {}", reply.status, reply.body));
        }
        app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
        Ok(())
    })
    .await;
    assert_eq!(app.check_invariants(&tt).await, 2);
}

/// A queue that refuses a message (a quorum queue between leaders; here a
/// second queue bound to the booking key that takes nothing) does not end
/// the request: the API publishes again, on a new channel, until the
/// broker takes it, and the booking is decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_the_broker_refused_is_published_again_until_it_is_taken() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 1).await;

    let connection = app.state.broker.connection().unwrap();
    let channel = connection.create_channel().await.unwrap();
    let topology = app.state.broker.topology();
    let refuser = format!("{}refuser", topology.queue());
    let mut nothing = lapin::types::FieldTable::default();
    nothing.insert("x-max-length".into(), lapin::types::AMQPValue::LongUInt(0));
    nothing.insert("x-overflow".into(), lapin::types::AMQPValue::LongString("reject-publish".into()));
    let options = lapin::options::QueueDeclareOptions { exclusive: true, ..Default::default() };
    channel.queue_declare(&refuser, options, nothing).await.unwrap();
    let (exchange, key) = (topology.exchange(), topology.routing_key());
    let no_args = lapin::types::FieldTable::default;
    let options = lapin::options::QueueBindOptions::default();
    channel.queue_bind(&refuser, &exchange, key, options, no_args()).await.unwrap();

    // The booking is sent while the refuser is bound; it is unbound once the
    // broker has refused the booking's message at least once.
    let unbind_after_a_refusal = async {
        eventually(Duration::from_secs(30), "the broker refused the booking's message", || async {
            (app.state.broker.messages_refused() > 0).then_some(())
        })
        .await;
        channel.queue_unbind(&refuser, &exchange, key, no_args()).await.unwrap();
    };
    let (reply, ()) = tokio::join!(app.book(&buyer, &tt, 1, None), unbind_after_a_refusal);
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
    assert_eq!(app.check_invariants(&tt).await, 1, "the seat confirmed once");
}
