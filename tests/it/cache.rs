//! The Redis read cache, rate limits, and running without Redis.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, Reply, TestApp, accepted_ids, spawn_app, spawn_app_with, test_config};

const FINAL_WITHIN: Duration = Duration::from_secs(30);

fn loads(app: &TestApp) -> u64 {
    app.state.read_cache.loads.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_read_of_an_event_comes_from_the_cache() {
    // A minute's cache, not the default second: on a loaded machine the
    // second read came more than a second after the first (seen in CI).
    let app = spawn_app_with(test_config(&["--read-cache-ttl-ms", "60000"])).await;
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

/// A login from `ip` (the app trusts `X-Forwarded-For` in these tests).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Reply {
    let request = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}));
    app.send(request).await
}

/// An app that limits logins (as set) and trusts `X-Forwarded-For`.
async fn app_limiting_logins(failures: &str, per_account: &str) -> TestApp {
    spawn_app_with(test_config(&[
        "--rate-limits",
        "on",
        "--trust-proxy-headers",
        "--rate-limit-login-failures",
        failures,
        "--rate-limit-login-email",
        per_account,
        "--rate-limit-auth",
        "1000/60",
    ]))
    .await
}

fn password_checks(app: &TestApp) -> u64 {
    app.state.metrics.password_checks.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_guesses_from_one_address_never_lock_the_owner_out_from_another() {
    let app = app_limiting_logins("3/900", "100/900").await;
    app.register("target@example.org").await;
    let mut statuses = Vec::new();
    for _ in 0..50 {
        statuses.push(login_from(&app, "203.0.113.7", "target@example.org", "guess").await.status);
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert!(statuses[3..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert_eq!(password_checks(&app), 3, "a blocked attempt does no password check");
    let blocked = login_from(&app, "203.0.113.7", "Target@Example.org", PASSWORD).await;
    assert_eq!((blocked.status, blocked.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert!(blocked.headers.contains_key("retry-after"));

    // The owner, from elsewhere, signs in; and keeps doing so.
    for _ in 0..2 {
        let owner = login_from(&app, "198.51.100.20", "target@example.org", PASSWORD).await;
        assert_eq!(owner.status, StatusCode::OK, "{owner:?}");
    }
    // Other accounts are not touched by it.
    app.register("other@example.org").await;
    assert_eq!(login_from(&app, "203.0.113.7", "other@example.org", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_ceiling_for_an_account_only_networks_it_signed_in_from_are_heard() {
    let app = app_limiting_logins("3/900", "4/900").await;
    app.register("target@example.org").await;
    let home = login_from(&app, "198.51.100.20", "target@example.org", PASSWORD).await;
    assert_eq!(home.status, StatusCode::OK, "{home:?}");
    // Guesses spread over many addresses.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(login_from(&app, &format!("203.0.113.{i}"), "target@example.org", "guess").await.status);
    }
    assert_eq!(statuses[..4], [StatusCode::UNAUTHORIZED; 4], "{statuses:?}");
    assert_eq!(statuses[4..], [StatusCode::TOO_MANY_REQUESTS; 2], "{statuses:?}");
    assert_eq!(password_checks(&app), 1 + 4, "past the ceiling nothing is checked");
    // The owner, from where they signed in before, is heard; a network never
    // seen is not, until the ceiling's window passes (the price of a bound).
    let owner = login_from(&app, "198.51.100.20", "target@example.org", PASSWORD).await;
    assert_eq!(owner.status, StatusCode::OK, "{owner:?}");
    let elsewhere = login_from(&app, "192.0.2.99", "target@example.org", PASSWORD).await;
    assert_eq!(elsewhere.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_one_ipv6_64_count_as_one_address_and_parallel_ones_are_counted_too() {
    let app = app_limiting_logins("3/900", "100/900").await;
    app.register("target@example.org").await;
    let ips: Vec<String> = (1..=20).map(|i| format!("2001:db8:1:2::{i:x}")).collect();
    let guesses = ips.iter().map(|ip| login_from(&app, ip, "target@example.org", "guess"));
    let statuses: Vec<StatusCode> = join_all(guesses).await.into_iter().map(|r| r.status).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(checked, 3, "20 addresses of one /64, sent at once: {statuses:?}");
    assert_eq!(password_checks(&app), 3);
    let owner = login_from(&app, "2001:db8:9:9::1", "target@example.org", PASSWORD).await;
    assert_eq!(owner.status, StatusCode::OK, "another network is not blocked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_routes_are_limited_per_address() {
    let app = spawn_app_with(test_config(&["--rate-limits", "on", "--rate-limit-auth", "4/60"])).await;
    // A limit Redis could not answer in time fails open (a slow cache must not
    // stop sign-ups); on a loaded machine that happens, and the metric says so.
    let redis_failures = || app.state.metrics.redis_failures.load(Ordering::Relaxed);
    let mut statuses = Vec::new();
    let mut judged = Vec::new();
    for i in 0..6 {
        let before = redis_failures();
        statuses.push(app.register(&format!("more{i}@example.org")).await.status);
        judged.push(redis_failures() == before);
    }
    assert_eq!(statuses[..4], [StatusCode::CREATED; 4], "{statuses:?}");
    for (status, judged) in statuses[4..].iter().zip(&judged[4..]) {
        if *judged {
            assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
        }
    }
    assert!(judged[4..].iter().any(|j| *j), "Redis answered none of the two over the limit: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_token_counts_against_its_address_not_its_owner() {
    let app = spawn_app_with(test_config(&[
        "--rate-limits",
        "on",
        "--trust-proxy-headers",
        "--rate-limit-user",
        "3/60",
        "--rate-limit-anonymous",
        "1000/60",
    ]))
    .await;
    let email = "owner@example.org";
    app.register(email).await;
    let old = app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let logout = app.call(Method::POST, "/api/v1/auth/logout", Some(&old), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    // Someone replays the old token, over and over.
    for _ in 0..10 {
        let replay = app
            .send(app.client.get(app.url("/api/v1/me")).bearer_auth(&old).header("x-forwarded-for", "203.0.113.9"))
            .await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{replay:?}");
    }
    let new = app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/me", Some(&new)).await;
    assert_eq!(me.status, StatusCode::OK, "the owner's new session has its whole quota: {me:?}");
    // Of 3: the logout and this call.
    assert_eq!(me.headers["ratelimit-remaining"], "1");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_buyer_still_has_one_place_in_line_per_ticket_type() {
    // No worker: what is accepted stays in line (in PostgreSQL, Redis being away).
    let app = crate::helpers::spawn_api_with(test_config(&["--redis-url", "redis://127.0.0.1:1"])).await;
    let (token, _) = app.user().await;
    let (_, tt) = app.on_sale(&token, 5, 5).await;
    let first = app.book(&token, &tt, 1, None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    let replies = join_all((0..5).map(|_| app.book(&token, &tt, 1, None))).await;
    for reply in &replies {
        assert_eq!((reply.status, reply.code()), (StatusCode::CONFLICT, "already_in_line"), "{reply:?}");
        assert_eq!(reply.body["booking_id"], first.body["id"]);
    }
}

/// The accept script answers every verdict in the one shape the API reads
/// (a mismatch reads as "Redis unavailable" and quietly sends every request
/// through PostgreSQL's slower path: nothing else would show it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_script_answers_each_verdict_without_a_redis_failure() {
    use boxoffice::cache::bookings::{Admission, HoldMark, HolderMark};
    let app = spawn_app().await;
    let bookings = &app.state.bookings;
    let (event_id, user_id, other) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (stalls, circle) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let request = |user_id, ticket_type_id, key: Option<&str>| boxoffice::domain::booking::AcceptedRequest {
        booking_id: uuid::Uuid::now_v7(),
        user_id,
        event_id,
        ticket_type_id,
        quantity: 1,
        idempotency_key: key.map(str::to_owned),
        accepted_at: chrono::Utc::now(),
        unit_price_cents: Some(1000),
        currency: Some("EUR".into()),
        code_id: None,
        presale_at: None,
        tax: None,
        details: Default::default(),
    };
    let first = request(user_id, stalls, Some("k1"));
    let admitted = bookings.admit(&first, "fp").await.unwrap();
    assert!(matches!(admitted, Admission::Admitted { holder: HolderMark::Absent, .. }), "{admitted:?}");
    let again = bookings.admit(&request(user_id, stalls, Some("k1")), "fp").await.unwrap();
    assert!(matches!(again, Admission::KeyUsed(ref r) if r.booking_id == first.booking_id), "{again:?}");
    let in_line = bookings.admit(&request(user_id, stalls, None), "fp").await.unwrap();
    assert!(matches!(in_line, Admission::InLine(id) if id == first.booking_id), "{in_line:?}");

    // The worker gave a hold: the buyer's next request in the event says so.
    let mark = HoldMark { event_id, user_id, until: chrono::Utc::now() + chrono::Duration::minutes(5) };
    bookings.settle(&[], &[circle], &[], &[mark]).await.unwrap();
    let marked = bookings.admit(&request(user_id, uuid::Uuid::now_v7(), None), "fp").await.unwrap();
    assert!(matches!(marked, Admission::Admitted { holder: HolderMark::Present, .. }), "{marked:?}");
    let sold_out = bookings.admit(&request(other, circle, Some("k2")), "fp").await.unwrap();
    assert!(matches!(sold_out, Admission::SoldOut(_)), "{sold_out:?}");
    assert_eq!(app.state.metrics.redis_failures.load(Ordering::Relaxed), 0);
}

/// The event page reads the event room's rows through the same cache: one
/// database load for a crowd, and an organizer's change shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_page_is_read_through_the_cache_and_shows_a_change_at_once() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({"title": "First Title"})).await;
    let id = event["id"].as_str().unwrap();
    let page =
        || async { app.client.get(app.url(&format!("/events/{id}"))).send().await.unwrap().text().await.unwrap() };
    let before = loads(&app);
    let (first, second) = (page().await, page().await);
    assert!(first.contains("First Title") && second.contains("First Title"));
    assert_eq!(loads(&app) - before, 1, "one database load for two views");
    let home = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("First Title"), "listed on the home page");

    let renamed = app.patch(&format!("/api/v1/events/{id}"), Some(&token), json!({"title": "Second Title"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert!(page().await.contains("Second Title"), "the page shows the change at once");
    let home = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("Second Title") && !home.contains("First Title"), "and so does the list");
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
