//! The Redis read cache, rate limits, and running without Redis.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, accepted_ids, spawn_app, spawn_app_with, test_config};

fn loads(app: &TestApp) -> u64 {
    app.state.read_cache.loads.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_read_of_an_event_comes_from_the_cache() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let before = loads(&app);
    let first = app.get(&path, None).await;
    let second = app.get(&path, None).await;
    assert_eq!(first.body, second.body);
    assert_eq!(first.body, event);
    assert_eq!(second.headers["content-type"], "application/json");
    assert_eq!(loads(&app) - before, 1, "one database load for two reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_shows_at_once_through_the_cache() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let id = event["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{id}");
    let read = || app.get(&path, None);
    read().await; // cached now

    app.patch(&path, Some(&token), json!({"title": "Renamed"})).await;
    assert_eq!(read().await.body["title"], "Renamed");
    let added = app
        .post(&format!("{path}/ticket-types"), Some(&token), json!({"name": "VIP", "price_cents": 1, "capacity": 5}))
        .await;
    assert_eq!(read().await.body["ticket_types"].as_array().unwrap().len(), 2);
    app.patch(
        &format!("{path}/ticket-types/{}", added.body["id"].as_str().unwrap()),
        Some(&token),
        json!({"capacity": 9}),
    )
    .await;
    assert_eq!(read().await.body["ticket_types"][1]["capacity"], 9);

    let list = app.get("/api/v1/events", None).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let other = app.published_event(&token, json!({"title": "Second"})).await;
    assert_eq!(
        app.get("/api/v1/events", None).await.body["items"].as_array().unwrap().len(),
        2,
        "a new event is listed at once"
    );

    app.post(&format!("{path}/cancel"), Some(&token), json!({})).await;
    assert_eq!(read().await.body["status"], "cancelled");
    let other_path = format!("/api/v1/events/{}", other["id"].as_str().unwrap());
    app.get(&other_path, None).await;
    assert_eq!(app.call(Method::DELETE, &other_path, Some(&token), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&other_path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/events", None).await.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_cold_reads_load_the_event_once() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let before = loads(&app);
    let replies = join_all((0..50).map(|_| app.get(&path, None))).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK && r.body == event));
    assert_eq!(loads(&app) - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_never_cached_for_strangers() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let draft = app.create_event(&organizer, json!({})).await.body;
    let path = format!("/api/v1/events/{}", draft["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&organizer)).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_stops_at_the_configured_count_says_so_and_resets() {
    let app = spawn_app_with(test_config(&["--rate-limits", "on", "--rate-limit-user", "3/2"])).await;
    let (token, _) = app.user().await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let reply = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["ratelimit-limit"], "3");
        remaining.push(reply.headers["ratelimit-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let limited = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!((limited.status, limited.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers["ratelimit-remaining"], "0");
    assert!(limited.headers.contains_key("ratelimit-reset"));
    // Another user has a quota of their own.
    let (other, _) = app.user().await;
    assert_eq!(app.get("/api/v1/me", Some(&other)).await.status, StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(retry_after * 1000)).await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK, "the quota comes back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_email_and_per_address() {
    let app = spawn_app_with(test_config(&[
        "--rate-limits",
        "on",
        "--rate-limit-login-email",
        "3/900",
        "--rate-limit-auth",
        "8/60",
    ]))
    .await;
    app.register("target@example.org").await;
    for _ in 0..3 {
        assert_eq!(app.login("target@example.org", "guess").await.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = app.login("Target@Example.org", PASSWORD).await;
    assert_eq!((blocked.status, blocked.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(blocked.headers.contains_key("retry-after"));
    // Other accounts are not locked by it...
    app.register("other@example.org").await;
    assert_eq!(app.login("other@example.org", PASSWORD).await.status, StatusCode::OK);
    // ...until the address itself runs out (8 auth requests per minute from one IP).
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(app.register(&format!("more{i}@example.org")).await.status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_reads_logins_and_bookings_still_work() {
    let app = spawn_app_with(test_config(&["--redis-url", "redis://127.0.0.1:1", "--rate-limits", "on"])).await;
    let (token, _) = app.user().await; // register + login, limits failing open
    let (event, tt) = app.on_sale(&token, 5, 5).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    for _ in 0..2 {
        let read = app.get(&path, None).await;
        assert_eq!(read.status, StatusCode::OK);
        assert!(!read.headers.contains_key("ratelimit-limit"), "no limits without Redis");
    }
    assert_eq!(app.get("/api/v1/events", None).await.body["items"].as_array().unwrap().len(), 1);

    let reply = app.book(&token, &tt, 2, Some("no-redis")).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    let pending = app.get(&format!("/api/v1/bookings/{}", reply.body["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(pending.status, StatusCode::OK, "visible from PostgreSQL while pending");
    let again = app.book(&token, &tt, 2, Some("no-redis")).await;
    assert_eq!(again.body["id"], reply.body["id"], "idempotency holds through PostgreSQL");
    app.wait_final(&accepted_ids(&[reply]), Duration::from_secs(30)).await;
    assert_eq!(app.check_invariants(&tt).await, 2);

    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.body["redis"].as_str().unwrap().starts_with("error"));
    assert_eq!(ready.body["postgres"], "ok");
}
