//! The on-sale: requests taken before `sales_start` wait in a pre-queue, are
//! drawn into a random order that anyone can recompute from the published
//! seed, and are decided in that order, ahead of everyone who came later.

use std::collections::HashMap;
use std::time::Duration;

use boxoffice::domain::checkout::Provider;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, in_days, spawn_api_with, test_config};

const WITHIN: Duration = Duration::from_secs(30);

/// Runs a worker of its own until the returned token is cancelled.
fn worker(app: &TestApp) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(boxoffice::worker::run(app.state.worker(), stop.clone()));
    (stop, task)
}

async fn statuses(app: &TestApp, ids: &[Uuid]) -> HashMap<Uuid, (String, Option<i32>)> {
    let rows: Vec<(Uuid, String, Option<i32>)> =
        sqlx::query_as("SELECT id, status, line_position FROM bookings WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(app.db())
            .await
            .unwrap();
    rows.into_iter().map(|(id, status, position)| (id, (status, position))).collect()
}

/// A published event whose sales open `seconds` from now, with a pre-queue
/// of half an hour and one free ticket type of `capacity` seats, one a
/// request: (event id, ticket type id, the open).
async fn prequeued_sale(
    app: &TestApp,
    organizer: &str,
    seconds: i64,
    capacity: i64,
) -> (Uuid, String, chrono::DateTime<chrono::Utc>) {
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    let event = app
        .published_event(
            organizer,
            json!({"sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": capacity, "max_per_order": 1}]}),
        )
        .await;
    let event_id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    (event_id, event["ticket_types"][0]["id"].as_str().unwrap().to_owned(), sales_start)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pre_queue_is_drawn_at_the_open_in_the_published_order_and_later_arrivals_come_after() {
    let app = spawn_api_with(test_config(&[])).await; // workers started and stopped by the test
    let (organizer, _) = app.user().await;
    let tokens = app.users(320).await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(8);
    let event = app
        .published_event(
            &organizer,
            json!({
                "starts_at": in_days(30), "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 250, "max_per_order": 1}]
            }),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();

    // 300 requests in the pre-queue; a replay of one is the same booking.
    let replies = futures::future::join_all(tokens[..300].iter().enumerate().map(|(i, t)| {
        let key = format!("pre-{i}");
        let (app, tt) = (&app, &tt);
        async move { app.book(t, tt, 1, Some(&key)).await }
    }))
    .await;
    let prequeued = crate::helpers::accepted_ids(&replies);
    assert_eq!(prequeued.len(), 300, "{:?}", replies.iter().find(|r| r.status != StatusCode::ACCEPTED));
    let replay = app.book(&tokens[0], &tt, 1, Some("pre-0")).await;
    assert_eq!((replay.status, &replay.body["id"]), (StatusCode::OK, &replies[0].body["id"]));
    let again = app.book(&tokens[0], &tt, 1, None).await;
    assert_eq!(again.code(), "already_in_line");

    // A worker parks them; nobody is decided before sales_start.
    let (stop, task) = worker(&app);
    eventually(WITHIN, "the pre-queue is parked in PostgreSQL", || async {
        (statuses(&app, &prequeued).await.len() == 300).then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    let parked = statuses(&app, &prequeued).await;
    assert!(parked.values().all(|(s, p)| s == "pending" && p.is_none()), "waiting, no place: {parked:?}");
    let first = app.get(&format!("/api/v1/bookings/{}", prequeued[0]), Some(&tokens[0])).await;
    assert_eq!(
        first.body["queue"],
        json!({"phase": "prequeue", "draw_at": event["sales_start"], "position": null, "ahead": null,
               "estimated_wait_seconds": null})
    );
    let line = app.get(&format!("/api/v1/events/{event_id}/queue"), None).await.body;
    assert_eq!((&line["prequeue"], &line["shuffle_seed"]), (&json!(300), &json!(null)), "{line}");

    // The open: the draw (its own transaction), then the places.
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let event_uuid: Uuid = event_id.parse().unwrap();
    let drawn = boxoffice::booking::allocate::draw(app.db(), event_uuid, boxoffice::domain::draw::Round::Main)
        .await
        .unwrap()
        .expect("drawn now");
    let seed = drawn.seed.expect("with the seed committed when the event was published");
    assert_eq!(
        boxoffice::booking::allocate::draw(app.db(), event_uuid, boxoffice::domain::draw::Round::Main).await.unwrap(),
        None,
        "exactly one draw"
    );
    let moved = app
        .patch(
            &format!("/api/v1/events/{event_id}"),
            Some(&organizer),
            json!({"sales_start": crate::helpers::in_days(1)}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT, "drawn: the open cannot move any more: {moved:?}");
    let line = app.get(&format!("/api/v1/events/{event_id}/queue"), None).await.body;
    let published = line["shuffle_seed"].as_str().unwrap();
    assert_eq!(published, boxoffice::domain::draw::to_hex(&seed));
    let mut seed_bytes = [0u8; 32];
    for (i, byte) in seed_bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&published[2 * i..2 * i + 2], 16).unwrap();
    }
    // Recomputed from what is published: the seed and the pre-queued ids.
    let order = boxoffice::domain::draw::order(seed_bytes, prequeued.clone());
    let placed = statuses(&app, &prequeued).await;
    for (rank, id) in order.iter().enumerate() {
        assert_eq!(placed[id].1, Some(rank as i32 + 1), "{id} is number {} of the draw", rank + 1);
    }

    // Later arrivals, after the open: behind the whole pre-queue.
    let later_replies = futures::future::join_all(tokens[300..].iter().map(|t| app.book(t, &tt, 1, None))).await;
    let later = crate::helpers::accepted_ids(&later_replies);
    assert_eq!(later.len(), 20);
    let tokens_by_id: HashMap<Uuid, &String> = prequeued.iter().zip(&tokens[..300]).map(|(id, t)| (*id, t)).collect();

    // The line moves 50 at a time; each buyer's place only goes down, and
    // the next to be decided is number 1.
    let mut last_seen: HashMap<Uuid, i64> = HashMap::new();
    let watch = [order[0], order[49], order[50], order[137], order[299]];
    for round in 0..6 {
        for id in &watch {
            let reply = app.get(&format!("/api/v1/bookings/{id}"), Some(tokens_by_id[id])).await;
            if reply.body["status"] != "pending" {
                continue;
            }
            let position = reply.body["queue"]["position"].as_i64().unwrap();
            let rank = order.iter().position(|o| o == id).unwrap() as i64;
            assert_eq!(position, rank - 50 * round + 1, "{id} in round {round}");
            assert_eq!(reply.body["queue"]["ahead"], position - 1);
            assert!(last_seen.get(id).is_none_or(|before| position < *before), "places only go down");
            last_seen.insert(*id, position);
        }
        let outcome =
            boxoffice::booking::allocate::allocate_batch(app.db(), &[], &[tt.parse().unwrap()], 50, Provider::Offline)
                .await
                .unwrap();
        assert_eq!(outcome.decided.len(), 50, "round {round}");
    }
    assert!(watch.iter().all(|id| last_seen.contains_key(id)));
    assert_eq!(last_seen[&order[0]], 1);
    assert_eq!(last_seen[&order[137]], 1 + 137 - 50 * 2, "seen last in the round before its decision");

    // Decided in the draw's order: the first 250 got the seats; the later
    // arrivals, all behind them, none.
    let (stop, task) = worker(&app);
    app.wait_final(&later, WITHIN).await;
    stop.cancel();
    task.await.unwrap();
    let decided = statuses(&app, &prequeued).await;
    for (rank, id) in order.iter().enumerate() {
        let expected = if rank < 250 { "confirmed" } else { "rejected" };
        assert_eq!(decided[id].0, expected, "number {} of the draw", rank + 1);
    }
    let after = statuses(&app, &later).await;
    assert!(after.values().all(|(s, _)| s == "rejected"), "{after:?}");
    assert_eq!(app.check_invariants(&tt).await, 250);
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT updated_at FROM bookings WHERE id = ANY($1)")
            .bind(&prequeued)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert!(times.iter().all(|t| *t >= sales_start), "nobody decided before sales_start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_pre_queue_opens_requests_are_refused_with_when_it_opens() {
    let app = crate::helpers::spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let sales_start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + 7200, 0).unwrap();
    let event =
        app.published_event(&organizer, json!({"sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 60})).await;
    let opens = sales_start - chrono::Duration::hours(1);
    assert_eq!(event["requests_open_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(), opens);
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let early = app.book(&buyer, tt, 1, None).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "sales_closed"));
    let at: chrono::DateTime<chrono::Utc> = early.body["opens_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, opens);
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let bad = app.patch(&path, Some(&organizer), json!({"prequeue_minutes": 1441})).await;
    assert_eq!(bad.fields(), ["prequeue_minutes"]);
    // The organizer opens the pre-queue wider: taken now, waiting for the draw.
    // The change reaches the booking door at once: the PATCH forgot the
    // event's offers in this process (the cache lives a second elsewhere).
    app.patch(&path, Some(&organizer), json!({"prequeue_minutes": 180})).await;
    let taken = app.book(&buyer, tt, 1, None).await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{taken:?}");
    let id = taken.body["id"].as_str().unwrap();
    let pending = crate::helpers::eventually(Duration::from_secs(10), "parked in the pre-queue", || async {
        let pending = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
        (pending.body["queue"]["phase"] == "prequeue").then_some(pending)
    })
    .await;
    assert_eq!(pending.body["status"], "pending");

    // Cancelled with a pre-queue: every request in it rejected.
    let cancel = app.post(&format!("{path}/cancel"), Some(&organizer), json!({})).await;
    assert_eq!(cancel.status, StatusCode::OK);
    app.wait_final(&[id.parse().unwrap()], WITHIN).await;
    let rejected = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
    assert_eq!(
        (rejected.body["status"].as_str(), rejected.body["reason"].as_str()),
        (Some("rejected"), Some("event_cancelled"))
    );
}

/// The events of a stream so far: each `data:` line of an `event: booking`.
async fn next_event<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    buffer: &mut String,
) -> Option<serde_json::Value> {
    use futures::StreamExt;
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                return Some(serde_json::from_str(data).unwrap());
            }
            continue; // a keep-alive comment
        }
        match tokio::time::timeout(WITHIN, body.next()).await.expect("an event in time") {
            Some(chunk) => buffer.push_str(&String::from_utf8_lossy(chunk.unwrap().as_ref())),
            None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_streams_its_place_then_its_decision_and_the_stream_ends() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 5, 5).await;
    let id = app.book(&buyer, &tt, 2, None).await.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/bookings/{id}/events");
    let stranger = app.user().await.0;
    assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    let response = app.client.get(app.url(&path)).bearer_auth(&buyer).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut body = Box::pin(response.bytes_stream());
    let mut buffer = String::new();
    let first = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(first["status"], "pending");
    assert_eq!((first["queue"]["phase"].as_str(), &first["queue"]["position"]), (Some("line"), &json!(1)));
    assert_eq!(app.state.waiters.waiting(), 1, "registered while open");

    app.start_worker(config).await;
    let decided = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(decided["status"], "confirmed", "{decided}");
    assert_eq!(decided["tickets"].as_array().unwrap().len(), 2);
    assert!(next_event(&mut body, &mut buffer).await.is_none(), "the stream ends once decided");
    eventually(WITHIN, "the watcher is gone", || async { (app.state.waiters.waiting() == 0).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_whose_clients_vanish_leave_nothing_behind() {
    let app = spawn_api_with(test_config(&[])).await; // no worker: the bookings stay pending
    let (organizer, _) = app.user().await;
    let tokens = app.users(500).await;
    let (_, tt) = app.on_sale(&organizer, 500, 1).await;
    let mut ids = Vec::new();
    for token in &tokens {
        ids.push(app.book(token, &tt, 1, None).await.body["id"].as_str().unwrap().to_owned());
    }
    // 1,000 streams (two per booking, as many as one may), each on its own
    // connection, then all cut at once.
    let mut open = Vec::new();
    for _ in 0..2 {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        for (token, id) in tokens.iter().zip(&ids) {
            let response = client.get(app.url(&format!("/api/v1/bookings/{id}/events"))).bearer_auth(token).send();
            open.push(response);
        }
    }
    let responses = futures::future::join_all(open).await;
    assert!(responses.iter().all(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK)));
    assert_eq!(app.state.waiters.waiting(), 1000);
    drop(responses); // the clients go away without a word
    eventually(Duration::from_secs(40), "every vanished watcher is dropped", || async {
        (app.state.waiters.waiting() == 0).then_some(())
    })
    .await;
}

/// One account's streams and waits cannot take everyone's: 3 a person, 2 a
/// booking; another buyer's stream and the API go on meanwhile; a stream
/// ends with its session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_cannot_take_everyones_streams_and_a_stream_ends_with_its_session() {
    let app = spawn_api_with(test_config(&["--long-poll-max-waiters", "30"])).await; // no worker: all stay pending
    let (organizer, _) = app.user().await;
    let (hog, _) = app.user().await;
    let (fan, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [{"name": "A", "price_cents": 0, "capacity": 10}, {"name": "B", "price_cents": 0, "capacity": 10}]}),
        )
        .await;
    let tt = |i: usize| event["ticket_types"][i]["id"].as_str().unwrap().to_owned();
    let book = |token: &str, tt: String| {
        let (app, token) = (&app, token.to_owned());
        async move { app.book(&token, &tt, 1, None).await.body["id"].as_str().unwrap().to_owned() }
    };
    let (a, b, fans) = (book(&hog, tt(0)).await, book(&hog, tt(1)).await, book(&fan, tt(0)).await);
    let open = |token: &str, id: &str| {
        let request = app.client.get(app.url(&format!("/api/v1/bookings/{id}/events"))).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let mut kept = Vec::new();
    for id in [&a, &a] {
        let stream = open(&hog, id).await;
        assert_eq!(stream.status(), StatusCode::OK);
        kept.push(stream);
    }
    let third = open(&hog, &a).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "two a booking");
    assert_eq!(third.headers()["content-type"], "application/problem+json");
    assert!(third.text().await.unwrap().contains("too_many_streams"));
    kept.push(open(&hog, &b).await);
    assert_eq!(kept[2].status(), StatusCode::OK);
    assert_eq!(open(&hog, &b).await.status(), StatusCode::TOO_MANY_REQUESTS, "three a person");
    let wait = app.get(&format!("/api/v1/bookings/{b}?wait=5"), Some(&hog)).await;
    assert_eq!((wait.status, wait.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"), "waits count too");
    assert!(wait.headers.contains_key("retry-after"));

    // Meanwhile another buyer's stream opens and the API answers.
    let theirs = open(&fan, &fans).await;
    assert_eq!(theirs.status(), StatusCode::OK);
    let mut body = Box::pin(theirs.bytes_stream());
    assert_eq!(next_event(&mut body, &mut String::new()).await.unwrap()["status"], "pending");
    assert_eq!(app.get("/api/v1/me", Some(&fan)).await.status, StatusCode::OK);
    assert_eq!(app.state.waiters.waiting(), 4);

    // Signed out: every stream of that session ends within a tick.
    let logout = app.client.post(app.url("/api/v1/auth/logout")).bearer_auth(&hog).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    for stream in kept {
        let mut body = Box::pin(stream.bytes_stream());
        let mut buffer = String::new();
        let _first = next_event(&mut body, &mut buffer).await.expect("the booking, first");
        assert!(next_event(&mut body, &mut buffer).await.is_none(), "the stream ends with its session");
    }
    eventually(WITHIN, "only the other buyer's stream is left", || async {
        (app.state.waiters.waiting() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draw_follows_sales_start_when_the_organizer_moves_it() {
    let app = crate::helpers::spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let soon = |secs: i64| (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339();
    let event = app
        .published_event(
            &organizer,
            json!({"sales_start": soon(4), "prequeue_minutes": 120,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 10}]}),
        )
        .await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let id = app.book(&buyer, tt, 1, None).await.body["id"].as_str().unwrap().to_owned();
    // Put off by an hour: the old time passes, and the request still waits.
    assert_eq!(app.patch(&path, Some(&organizer), json!({"sales_start": soon(3600)})).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let waiting = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
    assert_eq!(
        (waiting.body["status"].as_str(), waiting.body["queue"]["phase"].as_str()),
        (Some("pending"), Some("prequeue"))
    );
    // Brought forward: drawn and decided at the new time.
    assert_eq!(app.patch(&path, Some(&organizer), json!({"sales_start": soon(2)})).await.status, StatusCode::OK);
    app.wait_final(&[id.parse().unwrap()], WITHIN).await;
    let decided = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await;
    assert_eq!(decided.body["status"], "confirmed");
    let line = app.get(&format!("{path}/queue"), None).await.body;
    assert!(line["shuffle_seed"].is_string(), "{line}");
}

/// Three workers at the open (and a worker cut off in the middle of its
/// draw, which leaves nothing behind): one draw, every request decided once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_at_the_open_make_one_draw_and_decide_everyone_once() {
    let app = spawn_api_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(120).await;
    let (event_id, tt, sales_start) = prequeued_sale(&app, &organizer, 5, 100).await;
    let replies = futures::future::join_all(tokens.iter().map(|t| app.book(t, &tt, 1, None))).await;
    let ids = crate::helpers::accepted_ids(&replies);
    assert_eq!(ids.len(), 120);
    // A draw cut off before its commit (a worker killed mid-draw) leaves no draw.
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let cut = tokio::spawn({
        let db = app.db().clone();
        async move { boxoffice::booking::allocate::draw(&db, event_id, boxoffice::domain::draw::Round::Main).await }
    });
    cut.abort();
    let _ = cut.await;
    let workers: Vec<_> = (0..3).map(|_| worker(&app)).collect();
    app.wait_final(&ids, WITHIN).await;
    for (stop, task) in workers {
        stop.cancel();
        task.await.unwrap();
    }
    let draws: i64 = sqlx::query_scalar("SELECT count(*) FROM draws WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(draws, 1);
    let decided = statuses(&app, &ids).await;
    let confirmed = decided.values().filter(|(s, _)| s == "confirmed").count();
    assert_eq!((confirmed, decided.len()), (100, 120), "every request decided once, no seat twice");
    assert_eq!(app.check_invariants(&tt).await, 100);
}

/// An event whose pre-queue of `tokens.len()` buyers is parked and drawn,
/// nobody decided yet: (event, ticket type, the draw's order).
async fn drawn_line(app: &TestApp, tokens: &[String]) -> (Uuid, Uuid, Vec<Uuid>) {
    let (organizer, _) = app.user().await;
    let (event_id, tt, sales_start) = prequeued_sale(app, &organizer, 3, 10).await;
    let replies = futures::future::join_all(tokens.iter().map(|t| app.book(t, &tt, 1, None))).await;
    let ids = crate::helpers::accepted_ids(&replies);
    let (stop, task) = worker(app);
    let parked = || async { (statuses(app, &ids).await.len() == ids.len()).then_some(()) };
    eventually(WITHIN, "the pre-queue is parked", parked).await;
    stop.cancel();
    task.await.unwrap();
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let drawn = boxoffice::booking::allocate::draw(app.db(), event_id, boxoffice::domain::draw::Round::Main)
        .await
        .unwrap()
        .expect("drawn");
    (event_id, tt.parse().unwrap(), boxoffice::domain::draw::order(drawn.seed.expect("committed"), ids))
}

/// The booking as its owner's read finds it now.
async fn read(app: &TestApp, id: Uuid) -> boxoffice::booking::status::Current {
    let stored: Option<Uuid> = sqlx::query_scalar("SELECT user_id FROM bookings WHERE id = $1")
        .bind(id)
        .fetch_optional(app.db())
        .await
        .unwrap();
    let user = match stored {
        Some(user) => user,
        None => app.state.bookings.pending(id).await.unwrap().expect("in Redis").user_id, // still in the queue
    };
    boxoffice::booking::status::of_user(app.db(), &app.state.bookings, user, id).await.unwrap().unwrap()
}

async fn position(app: &TestApp, current: &boxoffice::booking::status::Current) -> Option<i64> {
    let place = boxoffice::booking::status::place_in_line(app.db(), &app.state.bookings, current).await.unwrap();
    place.and_then(|p| p.position)
}

/// The messages the worker would take from the queue for `ids` (accepted,
/// in Redis, not yet in PostgreSQL).
async fn queued_requests(
    app: &TestApp,
    event_id: Uuid,
    tt: Uuid,
    ids: &[Uuid],
) -> Vec<boxoffice::domain::booking::AcceptedRequest> {
    let mut requests = Vec::new();
    for id in ids {
        let p = app.state.bookings.pending(*id).await.unwrap().unwrap();
        requests.push(boxoffice::domain::booking::AcceptedRequest {
            booking_id: p.id,
            user_id: p.user_id,
            event_id,
            ticket_type_id: tt,
            quantity: p.quantity,
            idempotency_key: None,
            accepted_at: p.accepted_at,
            unit_price_cents: None,
            currency: None,
            code_id: None,
            presale_at: None,
            tax: None,
            details: Default::default(),
        });
    }
    requests
}

/// A place read just as the worker decides the booking: the read that found
/// the booking pending is a moment old, and the booking has no place any
/// more — not the back of the line (which once made places jump up at the
/// very end of a long on-sale).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_decided_while_its_place_is_read_has_no_place_rather_than_the_back_of_the_line() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(5).await;
    let (_, tt, order) = drawn_line(&app, &tokens).await;
    let first = read(&app, order[0]).await;
    assert_eq!(position(&app, &first).await, Some(1));
    // Decided now; its pending record in Redis is still there (the worker
    // clears it after the commit).
    let decided =
        boxoffice::booking::allocate::allocate_batch(app.db(), &[], &[tt], 1, Provider::Offline).await.unwrap();
    assert_eq!(decided.decided.iter().map(|d| d.0).collect::<Vec<_>>(), vec![order[0]]);
    assert_eq!(position(&app, &first).await, None, "decided: no place");
    assert_eq!(position(&app, &read(&app, order[1]).await).await, Some(1), "the next one is number 1");
}

/// A request read while still in the queue, parked behind the line with its
/// batch before its place is counted: its place in the line, not the line
/// plus its whole batch (a jump up that the watched on-sale run showed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_parked_while_its_place_is_read_keeps_its_place() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(8).await;
    let (event_id, tt, _) = drawn_line(&app, &tokens[..5]).await;
    let mut later = Vec::new();
    for token in &tokens[5..] {
        later.push(
            app.book(token, &tt.to_string(), 1, None).await.body["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
        );
    }
    let stale = read(&app, later[0]).await;
    assert!(matches!(stale, boxoffice::booking::status::Current::Pending(_)), "still in the queue");
    assert_eq!(position(&app, &stale).await, Some(6), "behind the five of the line");
    let mut conn = app.db().acquire().await.unwrap();
    let accepted_at = app.state.bookings.pending(later[0]).await.unwrap().unwrap().accepted_at;
    let line = boxoffice::db::line::queued(&mut conn, event_id, later[0], accepted_at).await;
    let line = line.unwrap().expect("still in the queue");
    assert_eq!((line.line, line.overtakers), (5, 0), "the line of five, all accepted before it: none overtook it");
    drop(conn);
    // The worker takes the three from the queue and parks them behind the line.
    let requests = queued_requests(&app, event_id, tt, &later).await;
    let parked =
        boxoffice::booking::allocate::allocate_batch(app.db(), &requests, &[], 0, Provider::Offline).await.unwrap();
    assert_eq!((parked.parked, parked.decided.len()), (3, 0));
    assert_eq!(position(&app, &stale).await, Some(6), "the same place, now in the line");
    // Parked between the two reads of a place (its own, then the line's):
    // the line's read says so rather than count its batch ahead of it.
    let mut conn = app.db().acquire().await.unwrap();
    let line = boxoffice::db::line::queued(&mut conn, event_id, later[0], requests[0].accepted_at).await;
    assert_eq!(line.unwrap(), None, "parked: the line counts it no more as in the queue");
    assert_eq!(position(&app, &read(&app, later[2]).await).await, Some(8));
}

/// A Redis that came back empty forgets who is in line, so a buyer already
/// in the PostgreSQL line may get a second request accepted. It must not go
/// into the line beside the first (the line's unique index would fail the
/// whole batch, again and again, then dead-letter it): it is decided at
/// once as a duplicate, and the first keeps its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_of_a_buyer_in_line_is_turned_down_without_failing_the_batch() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(5).await;
    let (event_id, tt, order) = drawn_line(&app, &tokens).await;
    let first: (Uuid, i32) = sqlx::query_as("SELECT user_id, line_position FROM bookings WHERE id = $1")
        .bind(order[0])
        .fetch_one(app.db())
        .await
        .unwrap();
    let request = |user_id| boxoffice::domain::booking::AcceptedRequest {
        booking_id: Uuid::now_v7(),
        user_id,
        event_id,
        ticket_type_id: tt,
        quantity: 1,
        idempotency_key: None,
        accepted_at: chrono::Utc::now(),
        unit_price_cents: None,
        currency: None,
        code_id: None,
        presale_at: None,
        tax: None,
        details: Default::default(),
    };
    let (newcomer, _) = app.user().await;
    let newcomer_id: Uuid = app.get("/api/v1/me", Some(&newcomer)).await.body["id"].as_str().unwrap().parse().unwrap();
    let (again, other) = (request(first.0), request(newcomer_id));
    let twice_in_batch = boxoffice::domain::booking::AcceptedRequest { booking_id: Uuid::now_v7(), ..other.clone() };
    let outcome = boxoffice::booking::allocate::allocate_batch(
        app.db(),
        &[again.clone(), other.clone(), twice_in_batch.clone()],
        &[],
        0,
        Provider::Offline,
    )
    .await
    .expect("the batch commits");
    let decided: HashMap<Uuid, Option<boxoffice::domain::booking::Reason>> =
        outcome.decided.iter().map(|(id, _, reason)| (*id, *reason)).collect();
    assert_eq!(decided.get(&again.booking_id), Some(&Some(boxoffice::domain::booking::Reason::DuplicateRequest)));
    assert_eq!(
        decided.get(&twice_in_batch.booking_id),
        Some(&Some(boxoffice::domain::booking::Reason::DuplicateRequest))
    );
    let now = statuses(&app, &[order[0], again.booking_id, other.booking_id]).await;
    assert_eq!(now[&order[0]], ("pending".to_owned(), Some(first.1)), "the first keeps its place");
    assert_eq!(now[&again.booking_id].0, "rejected");
    assert_eq!(now[&other.booking_id].0, "pending", "a newcomer queues behind the line");
}

/// The same, with the first request's message redelivered in the batch after
/// the second: the one already in line keeps its place, whatever the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_request_in_line_keeps_its_place_over_a_second_one_in_the_same_batch() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(3).await;
    let (event_id, tt, order) = drawn_line(&app, &tokens).await;
    let (user, accepted_at, position): (Uuid, chrono::DateTime<chrono::Utc>, i32) =
        sqlx::query_as("SELECT user_id, accepted_at, line_position FROM bookings WHERE id = $1")
            .bind(order[0])
            .fetch_one(app.db())
            .await
            .unwrap();
    let redelivered = boxoffice::domain::booking::AcceptedRequest {
        booking_id: order[0],
        user_id: user,
        event_id,
        ticket_type_id: tt,
        quantity: 1,
        idempotency_key: None,
        accepted_at,
        unit_price_cents: None,
        currency: None,
        code_id: None,
        presale_at: None,
        tax: None,
        details: Default::default(),
    };
    let second = boxoffice::domain::booking::AcceptedRequest {
        booking_id: Uuid::now_v7(),
        accepted_at: chrono::Utc::now(),
        ..redelivered.clone()
    };
    let outcome = boxoffice::booking::allocate::allocate_batch(
        app.db(),
        &[second.clone(), redelivered],
        &[],
        0,
        Provider::Offline,
    )
    .await
    .expect("the batch commits");
    assert_eq!(outcome.decided.len(), 1, "only the second is decided: {:?}", outcome.decided);
    assert_eq!(outcome.decided[0].0, second.booking_id);
    let now = statuses(&app, &[order[0], second.booking_id]).await;
    assert_eq!(now[&order[0]], ("pending".to_owned(), Some(position)));
    assert_eq!(now[&second.booking_id].0, "rejected");
}

/// An event of two ticket types whose pre-queue (`tokens`, split between the
/// two) is parked and drawn, nobody decided yet: (event, the two types, the
/// booking ids of each).
async fn drawn_line_of_two_types(app: &TestApp, tokens: &[String]) -> (Uuid, [Uuid; 2], [Vec<Uuid>; 2]) {
    let (organizer, _) = app.user().await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(3);
    let event = app
        .published_event(
            &organizer,
            json!({"sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standing", "price_cents": 0, "capacity": 100, "max_per_order": 1},
                                    {"name": "Seated", "price_cents": 0, "capacity": 100, "max_per_order": 1}]}),
        )
        .await;
    let event_id: Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let types: [String; 2] = [0, 1].map(|i| event["ticket_types"][i]["id"].as_str().unwrap().to_owned());
    let half = tokens.len() / 2;
    let replies = futures::future::join_all(
        tokens.iter().enumerate().map(|(i, t)| app.book(t, &types[usize::from(i >= half)], 1, None)),
    )
    .await;
    let ids = [crate::helpers::accepted_ids(&replies[..half]), crate::helpers::accepted_ids(&replies[half..])];
    let all: Vec<Uuid> = ids.concat();
    let (stop, task) = worker(app);
    let parked = || async { (statuses(app, &all).await.len() == all.len()).then_some(()) };
    eventually(WITHIN, "the pre-queue is parked", parked).await;
    stop.cancel();
    task.await.unwrap();
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    boxoffice::booking::allocate::draw(app.db(), event_id, boxoffice::domain::draw::Round::Main)
        .await
        .unwrap()
        .expect("drawn");
    (event_id, types.map(|t| t.parse().unwrap()), ids)
}

/// The requests of `event_id` pending ahead of `id`, counted row by row (what
/// a place found from the line's head must equal).
async fn counted_ahead(app: &TestApp, event_id: Uuid, id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM bookings o WHERE o.event_id = $1 AND o.status = 'pending'
            AND o.line_position < (SELECT line_position FROM bookings WHERE id = $2)",
    )
    .bind(event_id)
    .bind(id)
    .fetch_one(app.db())
    .await
    .unwrap()
}

/// A place is found from the line's head, without counting the line ahead
/// (at a million that count was a scan per read). Another ticket type's
/// share of the line decided on its own, out of turn, is not ahead any more:
/// each place equals the count of undecided requests ahead, row by row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_leaves_out_what_another_ticket_type_decided_out_of_turn() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(12).await;
    let (event_id, [standing, seated], [standing_ids, seated_ids]) = drawn_line_of_two_types(&app, &tokens).await;
    for id in standing_ids.iter().chain(&seated_ids) {
        let ahead = counted_ahead(&app, event_id, *id).await;
        assert_eq!(position(&app, &read(&app, *id).await).await, Some(ahead + 1), "before: {id}");
    }
    // The seated share of the line moves on alone (a batch that drains only
    // its ticket type), in the middle of the standing requests' places.
    let outcome =
        boxoffice::booking::allocate::allocate_batch(app.db(), &[], &[seated], 100, Provider::Offline).await.unwrap();
    assert_eq!(outcome.decided.len(), seated_ids.len(), "the seated requests decided");
    let mut places = Vec::new();
    for id in &standing_ids {
        let ahead = counted_ahead(&app, event_id, *id).await;
        let place = position(&app, &read(&app, *id).await).await;
        assert_eq!(place, Some(ahead + 1), "after the seated share moved: {id}");
        places.push(place.unwrap());
    }
    places.sort();
    assert_eq!(places, (1..=standing_ids.len() as i64).collect::<Vec<_>>(), "the standing requests are 1, 2, …");
    let _ = standing;
}

/// Two batches of two ticket types of one event, queued behind its line at
/// the same moment (two workers), give distinct places: the line is
/// numbered without gaps or twins (places are found from the head on that
/// promise).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_queueing_two_ticket_types_behind_a_line_number_it_without_twins() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(4).await;
    let (event_id, types, _) = drawn_line_of_two_types(&app, &tokens).await;
    // Buyers who never sign in: their rows are enough for requests in line.
    let emails: Vec<String> = (0..120).map(|_| format!("buyer-{}@example.org", Uuid::new_v4().simple())).collect();
    let mut conn = app.db().acquire().await.unwrap();
    let user_ids = boxoffice::db::users::insert_verified_many(&mut conn, &emails, "Buyer", "unused").await.unwrap();
    drop(conn);
    for round in 0..6 {
        let batches: Vec<Vec<boxoffice::domain::booking::AcceptedRequest>> = types
            .iter()
            .enumerate()
            .map(|(t, tt)| {
                (0..10)
                    .map(|i| boxoffice::domain::booking::AcceptedRequest {
                        booking_id: Uuid::now_v7(),
                        user_id: user_ids[round * 20 + t * 10 + i],
                        event_id,
                        ticket_type_id: *tt,
                        quantity: 1,
                        idempotency_key: None,
                        accepted_at: chrono::Utc::now(),
                        unit_price_cents: None,
                        currency: None,
                        code_id: None,
                        presale_at: None,
                        tax: None,
                        details: Default::default(),
                    })
                    .collect()
            })
            .collect();
        let parked = futures::future::join_all(batches.iter().map(|batch| {
            let db = app.db().clone();
            async move { boxoffice::booking::allocate::allocate_batch(&db, batch, &[], 0, Provider::Offline).await }
        }))
        .await;
        for outcome in parked {
            assert_eq!(outcome.unwrap().parked, 10, "round {round}");
        }
    }
    let places: Vec<i32> =
        sqlx::query_scalar("SELECT line_position FROM bookings WHERE event_id = $1 ORDER BY line_position")
            .bind(event_id)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(places, (1..=places.len() as i32).collect::<Vec<_>>(), "places 1, 2, … without twins or gaps");
    assert_eq!(places.len(), 4 + 6 * 20);
}

/// A request still in the queue while two accepted after it were parked
/// first (they overtook it: another consumer, a redelivery): they are ahead
/// of it, and its place when it is parked behind them is the one it was shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_overtook_one_in_the_queue_are_counted_ahead_of_it() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(8).await;
    let (event_id, tt, _) = drawn_line(&app, &tokens[..5]).await;
    let mut later = Vec::new();
    for token in &tokens[5..] {
        later.push(
            app.book(token, &tt.to_string(), 1, None).await.body["id"].as_str().unwrap().parse::<Uuid>().unwrap(),
        );
    }
    let requests = queued_requests(&app, event_id, tt, &later).await;
    let first = read(&app, later[0]).await;
    assert_eq!(position(&app, &first).await, Some(6), "behind the line of five");
    // The two accepted after it reach the line first.
    let parked = boxoffice::booking::allocate::allocate_batch(app.db(), &requests[1..], &[], 0, Provider::Offline)
        .await
        .unwrap();
    assert_eq!(parked.parked, 2);
    assert_eq!(position(&app, &first).await, Some(8), "still in the queue, behind the two that overtook it");
    boxoffice::booking::allocate::allocate_batch(app.db(), &requests[..1], &[], 0, Provider::Offline).await.unwrap();
    assert_eq!(position(&app, &read(&app, later[0]).await).await, Some(8), "parked behind them: the same place");
}

/// Redis drops pending records older than an hour from its ranking (and a
/// Redis that came back empty knows none): a request still in the queue is
/// never shown a place ahead of the line in PostgreSQL, so its place does not
/// jump up when it is parked behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_the_queue_is_never_shown_ahead_of_the_line_whatever_redis_forgot() {
    let app = spawn_api_with(test_config(&[])).await;
    let tokens = app.users(6).await;
    let (event_id, tt, order) = drawn_line(&app, &tokens[..5]).await;
    let later: Uuid =
        app.book(&tokens[5], &tt.to_string(), 1, None).await.body["id"].as_str().unwrap().parse().unwrap();
    // The line's five fall out of Redis's ranking of the event.
    let key = format!("{}pending:{event_id}", app.state.config.redis_key_prefix);
    let members: Vec<String> = order.iter().map(Uuid::to_string).collect();
    let _: () = redis::cmd("ZREM").arg(&key).arg(&members).query_async(&mut app.redis_conn().await).await.unwrap();
    let queued = read(&app, later).await;
    assert_eq!(position(&app, &queued).await, Some(6), "behind the line of five all the same");
    let requests = queued_requests(&app, event_id, tt, &[later]).await;
    boxoffice::booking::allocate::allocate_batch(app.db(), &requests, &[], 0, Provider::Offline).await.unwrap();
    assert_eq!(position(&app, &read(&app, later).await).await, Some(6), "parked behind it: the same place");
}

/// A request decided before the draw while it had a place behind the
/// pre-queue (its publish was given up, say) moves back with the others: the
/// draw's places and the later ones never share a number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draw_moves_back_every_later_place_including_one_already_decided() {
    let app = spawn_api_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(6).await;
    let (event_id, tt, sales_start) = prequeued_sale(&app, &organizer, 3, 10).await;
    let replies = futures::future::join_all(tokens[..4].iter().map(|t| app.book(t, &tt, 1, None))).await;
    let pre = crate::helpers::accepted_ids(&replies);
    let (stop, task) = worker(&app);
    let parked = || async { (statuses(&app, &pre).await.len() == pre.len()).then_some(()) };
    eventually(WITHIN, "the pre-queue is parked", parked).await;
    stop.cancel();
    task.await.unwrap();
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    // Two arrive after the open, before the draw: they queue behind it.
    let mut later = Vec::new();
    for token in &tokens[4..] {
        later.push(app.book(token, &tt, 1, None).await.body["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let requests = queued_requests(&app, event_id, tt.parse().unwrap(), &later).await;
    let outcome =
        boxoffice::booking::allocate::allocate_batch(app.db(), &requests, &[], 0, Provider::Offline).await.unwrap();
    assert_eq!(outcome.parked, 2);
    // The first of them is decided before the draw.
    sqlx::query("UPDATE bookings SET status = 'rejected', reason = 'sold_out' WHERE id = $1")
        .bind(later[0])
        .execute(app.db())
        .await
        .unwrap();
    boxoffice::booking::allocate::draw(app.db(), event_id, boxoffice::domain::draw::Round::Main)
        .await
        .unwrap()
        .expect("drawn");
    let places: Vec<i32> =
        sqlx::query_scalar("SELECT line_position FROM bookings WHERE event_id = $1 ORDER BY line_position")
            .bind(event_id)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(places, vec![1, 2, 3, 4, 5, 6], "places 1 to 6, none twice");
    assert_eq!(position(&app, &read(&app, later[1]).await).await, Some(5), "behind the four drawn");
}
