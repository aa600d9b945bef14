//! Issue 28, item 6: "Leave the line". A buyer gives up a request not
//! decided yet: in the queue the worker has not read, in the pre-queue, or
//! in line. It ends `cancelled` (`left_line`) holding no seat, the draw goes
//! on without it, and the buyer may queue again. Decided under the ticket
//! type's lock the worker's batch holds, so a request is either left in time
//! or decided, never both.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, accepted_ids, eventually, in_days, spawn_api_with, spawn_app, test_config};

/// Leaves (or cancels) as a client does: a 503 ("try again shortly": the
/// server's connections all busy, as when 150 buyers at once wait on one
/// ticket type's lock on a loaded machine) changed nothing and is tried again.
async fn leave(app: &TestApp, token: &str, id: Uuid) -> crate::helpers::Reply {
    let mut tries = 0;
    loop {
        let reply = app.post(&format!("/api/v1/bookings/{id}/cancel"), Some(token), json!({})).await;
        tries += 1;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE || tries == 5 {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(200 * tries)).await;
    }
}

async fn status_of(app: &TestApp, id: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, reason FROM bookings WHERE id = $1").bind(id).fetch_one(app.db()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_leaves_the_queue_or_the_pre_queue_and_the_draw_goes_on_without_them() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // the worker comes later
    let (organizer, _) = app.user().await;
    let tokens = app.users(4).await;
    // Room for the worker to start and park before the open, on a busy machine.
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(15);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 3, "max_per_order": 1}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for token in &tokens {
        let reply = app.book(token, &tt, 1, None).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
        ids.extend(accepted_ids(&[reply]));
    }

    // Still in the queue (no worker has read it): only Redis knows it.
    let someone_else = leave(&app, &tokens[1], ids[0]).await;
    assert_eq!(someone_else.status, StatusCode::NOT_FOUND, "another buyer's request does not exist for them");
    let left = leave(&app, &tokens[0], ids[0]).await;
    assert_eq!(left.status, StatusCode::OK, "{left:?}");
    assert_eq!((&left.body["status"], &left.body["reason"]), (&json!("cancelled"), &json!("left_line")));
    let again = leave(&app, &tokens[0], ids[0]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "left once");

    // The worker parks the rest in the pre-queue and skips the one that left.
    app.start_worker(config).await;
    eventually(Duration::from_secs(30), "the pre-queue is parked", || async {
        let parked: i64 =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1) AND status = 'pending' AND prequeued")
                .bind(&ids[1..])
                .fetch_one(app.db())
                .await
                .unwrap();
        (parked == 3).then_some(())
    })
    .await;
    let left = leave(&app, &tokens[1], ids[1]).await;
    assert_eq!((left.status, &left.body["reason"]), (StatusCode::OK, &json!("left_line")), "{left:?}");

    // The one who left the queue may queue again, at the back.
    let back = app.book(&tokens[0], &tt, 1, None).await;
    assert_eq!(back.status, StatusCode::ACCEPTED, "no longer in line: {back:?}");
    let back = accepted_ids(&[back]);

    let all: Vec<Uuid> = ids.iter().chain(&back).copied().collect();
    app.wait_final(&all[2..], Duration::from_secs(60)).await;
    assert_eq!(status_of(&app, ids[0]).await, ("cancelled".into(), Some("left_line".into())), "skipped by the worker");
    assert_eq!(status_of(&app, ids[1]).await, ("cancelled".into(), Some("left_line".into())));
    for id in ids[2..].iter().chain(&back) {
        assert_eq!(status_of(&app, *id).await.0, "confirmed", "{id}");
    }
    assert_eq!(app.check_invariants(&tt).await, 3, "three seats sold, none held by those who left");
    let draw = app.get(&format!("/api/v1/events/{event_id}/draw"), None).await.body;
    let mut drawn: Vec<Uuid> = serde_json::from_value(draw["entries"].clone()).unwrap();
    drawn.sort();
    // Those who stayed, and the one who queued again (before the open too).
    let mut stayed: Vec<Uuid> = ids[2..].iter().chain(&back).copied().collect();
    stayed.sort();
    assert_eq!(drawn, stayed, "the draw ordered those in the pre-queue at the open: {draw}");
}

/// Buyers press "Leave the line" (cancel while pending) as the worker
/// decides their requests: each is either left in time (cancelled, reason
/// `left_line`, never a seat or a ticket) or decided first and then
/// cancelled as a booking (its tickets void, its seat back), never both; the
/// seats add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_while_the_worker_decides_is_either_in_time_or_a_cancellation_never_both() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(150).await;
    let (_, tt) = app.on_sale(&organizer, 100, 1).await;
    let runs = tokens.iter().map(|token| {
        let (app, tt) = (&app, &tt);
        async move {
            let booked = app.book(token, tt, 1, None).await;
            // Sold out already at the door: nothing to leave.
            let id = accepted_ids(&[booked]).first().copied()?;
            let answer = leave(app, token, id).await;
            Some((id, answer))
        }
    });
    let outcomes: Vec<(Uuid, crate::helpers::Reply)> =
        futures::future::join_all(runs).await.into_iter().flatten().collect();
    let turned_away_at_the_door = 150 - outcomes.len();
    let ids: Vec<Uuid> = outcomes.iter().map(|(id, _)| *id).collect();
    app.wait_final(&ids, Duration::from_secs(60)).await;
    let (mut in_time, mut after, mut rejected) = (0, 0, 0);
    for (id, answer) in &outcomes {
        let (status, reason) = status_of(&app, *id).await;
        let (tickets, valid): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE status <> 'void') FROM tickets WHERE booking_id = $1",
        )
        .bind(id)
        .fetch_one(app.db())
        .await
        .unwrap();
        match (answer.status, answer.body["reason"].as_str()) {
            (StatusCode::OK, Some("left_line")) => {
                assert_eq!((status.as_str(), reason.as_deref()), ("cancelled", Some("left_line")), "{id}");
                assert_eq!(tickets, 0, "{id} left the line yet has tickets");
                in_time += 1;
            }
            (StatusCode::OK, Some("cancelled_by_user")) => {
                assert_eq!((status.as_str(), tickets, valid), ("cancelled", 1, 0), "{id}");
                after += 1;
            }
            // Rejected by the worker first: nothing to leave or cancel.
            (StatusCode::CONFLICT, _) => {
                assert_eq!(status, "rejected", "{id}");
                rejected += 1;
            }
            other => panic!("{id}: leaving answered {other:?}: {}", answer.body),
        }
    }
    assert_eq!(app.check_invariants(&tt).await, 0, "every seat came back or was never taken");
    assert_eq!(in_time + after + rejected + turned_away_at_the_door, 150);
    eprintln!("{in_time} left in time, {after} decided first and cancelled, {rejected} turned away");
}
