//! Issue 29, shared quotas: a capacity several ticket types draw from, taken
//! in the worker's transaction with their own seats, given back with them,
//! and never oversold however many race for it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, accepted_ids, spawn_app, spawn_app_with, test_config};

/// A published event with two free types of 100 seats each; (event id, the
/// two types).
async fn two_types(app: &TestApp, organizer: &str) -> (String, [String; 2]) {
    let event = app
        .published_event(
            organizer,
            json!({"ticket_types": [
                {"name": "Standing", "price_cents": 0, "capacity": 100, "max_per_order": 2},
                {"name": "Standing, early", "price_cents": 0, "capacity": 100, "max_per_order": 2}
            ]}),
        )
        .await;
    let id = |i: usize| event["ticket_types"][i]["id"].as_str().unwrap().to_owned();
    (event["id"].as_str().unwrap().to_owned(), [id(0), id(1)])
}

async fn quota(app: &TestApp, organizer: &str, event: &str, capacity: i64, types: &[String]) -> crate::helpers::Reply {
    app.post(
        &format!("/api/v1/events/{event}/quotas"),
        Some(organizer),
        json!({"name": "Standing", "capacity": capacity, "ticket_type_ids": types}),
    )
    .await
}

/// 160 buyers race for two types of 100 seats that share 60: 60 are sold
/// between them, with two workers deciding; the types say so; a
/// cancellation gives the quota its seat back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_types_sharing_a_quota_never_sell_more_than_it_between_them() {
    let config = test_config(&[]);
    let app = spawn_app_with(config.clone()).await;
    app.start_worker(config).await;
    let (organizer, _) = app.user().await;
    let (event, types) = two_types(&app, &organizer).await;
    let made = quota(&app, &organizer, &event, 60, &types).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!((made.body["capacity"].as_i64(), made.body["remaining"].as_i64()), (Some(60), Some(60)));

    let tokens = app.users(161).await;
    let replies =
        futures::future::join_all(tokens[..160].iter().enumerate().map(|(i, t)| app.book(t, &types[i % 2], 1, None)))
            .await;
    let ids = accepted_ids(&replies);
    app.wait_final(&ids, Duration::from_secs(60)).await;
    let sold = app.check_invariants(&types[0]).await + app.check_invariants(&types[1]).await;
    assert_eq!(sold, 60, "the quota's 60, however the types split them");
    let listed = app.get(&format!("/api/v1/events/{event}/quotas"), Some(&organizer)).await;
    assert_eq!(listed.body["items"][0]["remaining"], 0);
    let public = app.get(&format!("/api/v1/events/{event}"), None).await.body;
    let available: Vec<i64> =
        public["ticket_types"].as_array().unwrap().iter().map(|t| t["available"].as_i64().unwrap()).collect();
    assert_eq!(available, [0, 0], "both sold out with their quota: {public}");
    // The organizer's figures show the quota whole, and the event's card
    // counts its seats once.
    let stats = app.get(&format!("/api/v1/events/{event}/stats"), Some(&organizer)).await.body;
    let shared = &stats["quotas"][0];
    assert_eq!(
        (shared["capacity"].as_i64(), shared["sold"].as_i64(), shared["held"].as_i64(), shared["remaining"].as_i64()),
        (Some(60), Some(60), Some(0), Some(0)),
        "{stats}"
    );

    // One cancelled: its seat goes back to the quota, and the next buyer gets it.
    let (winner, owner): (Uuid, Uuid) =
        sqlx::query_as("SELECT id, user_id FROM bookings WHERE id = ANY($1) AND status = 'confirmed' LIMIT 1")
            .bind(&ids)
            .fetch_one(app.db())
            .await
            .unwrap();
    let users = app.user_ids(&tokens).await;
    let token = tokens[users.iter().position(|u| *u == owner).unwrap()].clone();
    assert_eq!(
        app.post(&format!("/api/v1/bookings/{winner}/cancel"), Some(&token), json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/events/{event}/quotas"), Some(&organizer)).await.body["items"][0]["remaining"],
        1
    );
    let last = app.book_final(&tokens[160], &types[1], 1).await;
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM bookings WHERE id = $1").bind(last).fetch_one(app.db()).await.unwrap();
    assert_eq!(status, "confirmed");
    app.check_invariants(&types[0]).await;
    app.check_invariants(&types[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_is_refused_when_it_names_no_types_others_or_less_than_is_sold() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, types) = two_types(&app, &organizer).await;
    let (_, elsewhere) = app.on_sale(&organizer, 10, 2).await;
    let field = |r: &crate::helpers::Reply| r.body["errors"][0]["field"].as_str().unwrap_or("").to_owned();
    let none = quota(&app, &organizer, &event, 10, &[]).await;
    assert_eq!((none.status, field(&none)), (StatusCode::UNPROCESSABLE_ENTITY, "ticket_type_ids".into()));
    let foreign = quota(&app, &organizer, &event, 10, &[types[0].clone(), elsewhere]).await;
    assert_eq!((foreign.status, field(&foreign)), (StatusCode::UNPROCESSABLE_ENTITY, "ticket_type_ids".into()));
    let zero = quota(&app, &organizer, &event, 0, &types).await;
    assert_eq!((zero.status, field(&zero)), (StatusCode::UNPROCESSABLE_ENTITY, "capacity".into()));
    assert_eq!(quota(&app, &buyer, &event, 10, &types).await.status, StatusCode::FORBIDDEN);

    app.book_final(&buyer, &types[0], 2).await;
    let below = quota(&app, &organizer, &event, 1, &types).await;
    assert_eq!(below.status, StatusCode::CONFLICT, "2 seats are sold already: {below:?}");
    let made = quota(&app, &organizer, &event, 5, &types).await;
    assert_eq!((made.status, made.body["remaining"].as_i64()), (StatusCode::CREATED, Some(3)), "5 less the 2 sold");
    let twice = quota(&app, &organizer, &event, 5, &types).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "the name is taken");
    app.check_invariants(&types[0]).await;
}

/// A type whose quota is used up is sold out for the waiting list too: a
/// buyer may join it, and a seat coming back is offered to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_list_follows_the_quota() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (first, _) = app.user().await;
    let (waiting, _) = app.user().await;
    let (event, types) = two_types(&app, &organizer).await;
    quota(&app, &organizer, &event, 2, &types).await;
    let joined_early = app
        .post(&format!("/api/v1/ticket-types/{}/waiting-list", types[0]), Some(&waiting), json!({"quantity": 1}))
        .await;
    assert_eq!(joined_early.code(), "not_sold_out");
    let sold = app.book_final(&first, &types[1], 2).await;
    let joined = app
        .post(&format!("/api/v1/ticket-types/{}/waiting-list", types[0]), Some(&waiting), json!({"quantity": 1}))
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "its own 100 seats are there, its quota's are not: {joined:?}");
    assert_eq!(
        app.post(&format!("/api/v1/bookings/{sold}/cancel"), Some(&first), json!({})).await.status,
        StatusCode::OK
    );
    let offered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE ticket_type_id = $1::uuid AND reason = 'waiting_list_offer'",
    )
    .bind(&types[0])
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!(offered, 1, "the seats back were offered to the list");
    app.check_invariants(&types[0]).await;
    app.check_invariants(&types[1]).await;
}
