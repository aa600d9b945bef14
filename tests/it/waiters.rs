//! Waiting on a booking (`?wait=`): answered as soon as it is decided,
//! reading only when woken, bounded, and hearing the decision after the
//! listening connection drops.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{eventually, spawn_api_with, test_config};

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
        app.start_worker(config.clone()).await;
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
        app.start_worker(config.clone()).await;
    };
    let (replies, ()) = tokio::join!(waiting, meanwhile);
    let statuses: Vec<&str> = replies.iter().map(|r| r.body["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "pending").count(), 6, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "confirmed").count(), 4, "woken by the decision: {statuses:?}");
    assert!(rereads() <= 4, "one read per announcement: {}", rereads());
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
        app.start_worker(config.clone()).await;
    };
    let (decided, ()) = tokio::join!(waiting, meanwhile);
    assert_eq!(decided.body["status"], "confirmed");
}
