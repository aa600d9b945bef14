//! Events and ticket types.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, in_days, spawn_app};

#[tokio::test]
async fn an_organizer_creates_an_event_with_ticket_types_and_defaults() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let starts_at = in_days(10);
    let reply = app
        .create_event(
            &token,
            json!({"starts_at": starts_at, "ticket_types": [
                {"name": "Standard", "price_cents": 2500, "capacity": 100},
                {"name": "VIP", "price_cents": 9900, "currency": "usd", "capacity": 5, "max_per_order": 2}
            ]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let event = &reply.body;
    assert_eq!(reply.headers["location"], format!("/api/v1/events/{}", event["id"].as_str().unwrap()));
    assert_eq!(event["status"], "draft");
    assert_eq!(event["sales_start"], Value::Null, "a draft has no sales start yet");
    assert_eq!(event["sales_end"], event["starts_at"], "sales close at the start by default");
    let standard = &event["ticket_types"][0];
    assert_eq!((standard["currency"].as_str(), standard["max_per_order"].as_i64()), (Some("EUR"), Some(10)));
    assert_eq!(standard["remaining"], 100);
    assert_eq!(event["ticket_types"][1]["currency"], "USD");

    let read = app.get(&format!("/api/v1/events/{}", event["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, *event);
}

#[tokio::test]
async fn invalid_events_name_each_field() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let reply = app
        .create_event(
            &token,
            json!({
                "title": "",
                "starts_at": in_days(-1),
                "status": "published",
                "ticket_types": [{"name": "A", "price_cents": -1, "capacity": 0, "currency": "EURO", "max_per_order": 0}]
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.fields(),
        [
            "title",
            "starts_at",
            "ticket_types[0].price_cents",
            "ticket_types[0].currency",
            "ticket_types[0].capacity",
            "ticket_types[0].max_per_order"
        ]
    );
    let too_big = app
        .create_event(&token, json!({"ticket_types": [{"name": "A", "price_cents": 1, "capacity": 1_000_001}]}))
        .await;
    assert_eq!(too_big.fields(), ["ticket_types[0].capacity"]);
    let schedule = app
        .create_event(&token, json!({"starts_at": in_days(5), "ends_at": in_days(4), "sales_start": in_days(6)}))
        .await;
    assert_eq!(schedule.fields(), ["ends_at", "sales_start"]);
    let cancelled = app.create_event(&token, json!({"status": "cancelled"})).await;
    assert_eq!(cancelled.fields(), ["status"]);
    let empty = app.create_event(&token, json!({"status": "published", "ticket_types": []})).await;
    assert_eq!(empty.fields(), ["ticket_types"]);
    let duplicate = app
        .create_event(
            &token,
            json!({"ticket_types": [{"name": "A", "price_cents": 1, "capacity": 1}, {"name": "A", "price_cents": 1, "capacity": 1}]}),
        )
        .await;
    assert_eq!(duplicate.fields(), ["ticket_types[1].name"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(app.db()).await.unwrap();
    assert_eq!(count, 0, "a refused event leaves nothing behind");
}

#[tokio::test]
async fn a_draft_is_visible_to_its_organizer_only() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let draft = app.create_event(&organizer, json!({})).await.body;
    let path = format!("/api/v1/events/{}", draft["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&organizer)).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, Some(&stranger)).await.code(), "not_found");
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    // And a stranger cannot learn it exists by trying to change it.
    let patch = app.patch(&path, Some(&stranger), json!({"title": "Mine now"})).await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_organizer_changes_a_published_event() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let event = app.published_event(&organizer, json!({})).await;
    let id = event["id"].as_str().unwrap();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/events/{id}");

    let attempts = [
        (Method::PATCH, path.clone(), Some(json!({"title": "Hijacked"}))),
        (Method::POST, format!("{path}/publish"), None),
        (Method::POST, format!("{path}/cancel"), None),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/ticket-types"), Some(json!({"name": "B", "price_cents": 1, "capacity": 1}))),
        (Method::PATCH, format!("{path}/ticket-types/{tt}"), Some(json!({"capacity": 1000}))),
    ];
    for (method, path, body) in attempts {
        let reply = app.call(method.clone(), &path, Some(&stranger), body.clone()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(reply.code(), "forbidden");
        let anonymous = app.call(method.clone(), &path, None, body).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let unchanged = app.get(&path, None).await.body;
    assert_eq!(unchanged, event);
}

#[tokio::test]
async fn an_organizer_edits_publishes_and_cancels_an_event() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.create_event(&token, json!({})).await.body;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());

    let new_start = in_days(20);
    let edited = app
        .patch(&path, Some(&token), json!({"title": "Renamed", "starts_at": new_start, "sales_end": in_days(19)}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{edited:?}");
    assert_eq!(edited.body["title"], "Renamed");
    assert_eq!(edited.body["description"], event["description"], "absent fields stay");
    let cleared = app.patch(&path, Some(&token), json!({"sales_end": null})).await;
    assert_eq!(cleared.body["sales_end"], cleared.body["starts_at"], "null clears back to the default");
    let bad = app.patch(&path, Some(&token), json!({"ends_at": in_days(1)})).await;
    assert_eq!(bad.fields(), ["ends_at"]);

    let published = app.post(&format!("{path}/publish"), Some(&token), json!({})).await;
    assert_eq!(published.status, StatusCode::OK);
    assert_eq!(published.body["status"], "published");
    assert!(published.body["sales_start"].is_string(), "sales open at publication");
    let again = app.post(&format!("{path}/publish"), Some(&token), json!({})).await;
    assert_eq!(again.body, published.body, "publishing twice changes nothing");

    let cancelled = app.post(&format!("{path}/cancel"), Some(&token), json!({})).await;
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(app.get(&path, None).await.body["status"], "cancelled", "a cancelled event stays readable");
    let edit = app.patch(&path, Some(&token), json!({"title": "Back"})).await;
    assert_eq!((edit.status, edit.code()), (StatusCode::CONFLICT, "conflict"));
    let republish = app.post(&format!("{path}/publish"), Some(&token), json!({})).await;
    assert_eq!(republish.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_draft_without_ticket_types_cannot_be_published() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.create_event(&token, json!({"ticket_types": []})).await.body;
    let reply =
        app.post(&format!("/api/v1/events/{}/publish", event["id"].as_str().unwrap()), Some(&token), json!({})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn deleting_an_event_removes_it() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ticket_types_are_added_and_changed_but_never_below_what_is_sold() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let id = event["id"].as_str().unwrap();
    let added = app
        .post(
            &format!("/api/v1/events/{id}/ticket-types"),
            Some(&token),
            json!({"name": "VIP", "price_cents": 9000, "capacity": 10}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let taken = app
        .post(
            &format!("/api/v1/events/{id}/ticket-types"),
            Some(&token),
            json!({"name": "VIP", "price_cents": 1, "capacity": 1}),
        )
        .await;
    assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "conflict"));

    // 7 of 10 seats sold (the booking pipeline does this for real).
    let tt = added.body["id"].as_str().unwrap();
    sqlx::query("UPDATE ticket_types SET remaining = 3 WHERE id = $1::uuid").bind(tt).execute(app.db()).await.unwrap();
    let path = format!("/api/v1/events/{id}/ticket-types/{tt}");
    let below = app.patch(&path, Some(&token), json!({"capacity": 6})).await;
    assert_eq!(below.status, StatusCode::CONFLICT);
    let exactly = app.patch(&path, Some(&token), json!({"capacity": 7})).await;
    assert_eq!((exactly.body["capacity"].as_i64(), exactly.body["remaining"].as_i64()), (Some(7), Some(0)));
    let grown = app.patch(&path, Some(&token), json!({"capacity": 50})).await;
    assert_eq!((grown.body["capacity"].as_i64(), grown.body["remaining"].as_i64()), (Some(50), Some(43)));
    let repriced = app.patch(&path, Some(&token), json!({"price_cents": 8000})).await;
    assert_eq!((repriced.status, repriced.code()), (StatusCode::CONFLICT, "price_locked"), "seats are sold");
    let invalid = app.patch(&path, Some(&token), json!({"max_per_order": 0, "capacity": -5})).await;
    assert_eq!(invalid.fields(), ["capacity", "max_per_order"]);
    let unknown =
        app.patch(&format!("/api/v1/events/{id}/ticket-types/{}", uuid::Uuid::now_v7()), Some(&token), json!({})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let read = app.get(&format!("/api/v1/events/{id}"), None).await;
    assert_eq!(read.body["ticket_types"][1]["remaining"], 43, "remaining is shown per ticket type");
}

async fn list_all(app: &TestApp, query: &str, token: Option<&str>, base: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{base}?limit=3{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.get(&path, token).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        ids.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn the_list_pages_through_published_events_without_duplicates_or_gaps() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let same_start = in_days(7);
    let mut expected = Vec::new();
    for i in 0..8 {
        // Several events share a start time: the id breaks the tie.
        let starts_at = if i % 2 == 0 { same_start.clone() } else { in_days(3.0 + i as f64) };
        let event = app.published_event(&token, json!({"title": format!("Event {i}"), "starts_at": starts_at})).await;
        expected.push((event["starts_at"].as_str().unwrap().to_owned(), event["id"].as_str().unwrap().to_owned()));
    }
    app.create_event(&token, json!({"title": "A draft"})).await;
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let listed = list_all(&app, "", None, "/api/v1/events").await;
    assert_eq!(listed, expected, "ascending by start, then id, drafts excluded");
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 8);

    let mine = list_all(&app, "", Some(&token), "/api/v1/me/events").await;
    assert_eq!(mine.len(), 9, "the organizer's own list includes the draft");
}

#[tokio::test]
async fn the_list_searches_text_and_filters_by_date() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let jazz = app.published_event(&token, json!({"title": "Jazz Night", "starts_at": in_days(2)})).await;
    let venue = app
        .published_event(&token, json!({"title": "Quartet", "venue": "The JAZZ Cellar", "starts_at": in_days(4)}))
        .await;
    let text = app
        .published_event(&token, json!({"title": "Rock", "description": "50% off_jazz", "starts_at": in_days(6)}))
        .await;
    app.published_event(&token, json!({"title": "Opera", "starts_at": in_days(8)})).await;

    let ids = |reply: &crate::helpers::Reply| -> Vec<Value> {
        reply.body["items"].as_array().unwrap().iter().map(|e| e["id"].clone()).collect()
    };
    let found = app.get("/api/v1/events?q=jazz", None).await;
    assert_eq!(ids(&found), [jazz["id"].clone(), venue["id"].clone(), text["id"].clone()]);
    let literal = app.get("/api/v1/events?q=50%25%20off_", None).await;
    assert_eq!(ids(&literal), [text["id"].clone()], "% and _ match literally");
    let none = app.get("/api/v1/events?q=%25%25", None).await;
    assert!(ids(&none).is_empty());

    let from = urlencode(venue["starts_at"].as_str().unwrap());
    let to = urlencode(&in_days(7));
    let window = app.get(&format!("/api/v1/events?from={from}&to={to}"), None).await;
    assert_eq!(ids(&window), [venue["id"].clone(), text["id"].clone()], "from is inclusive, to exclusive");
    let injected = app.get("/api/v1/events?q=%27%3B%20DROP%20TABLE%20events%3B--", None).await;
    assert_eq!(injected.status, StatusCode::OK);
    assert!(ids(&injected).is_empty());
}

#[tokio::test]
async fn bad_list_parameters_are_named() {
    let app = spawn_app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("from=yesterday", "from"),
        ("to=2027-13-01", "to"),
        ("q=%00", "q"),
    ] {
        let reply = app.get(&format!("/api/v1/events?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.fields(), [field], "{query}");
    }
}

fn urlencode(raw: &str) -> String {
    raw.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn times_outside_years_1_to_9999_are_refused_not_a_server_error() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    for (field, value) in [("sales_end", "-5000-01-01T00:00:00Z"), ("ends_at", "+10000-01-01T00:00:00Z")] {
        let reply = app.create_event(&token, json!({field: value})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {reply:?}");
        assert_eq!(reply.fields(), [field]);
    }
    let cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("-300000000000000000|{}", uuid::Uuid::now_v7()),
    );
    let reply = app.get(&format!("/api/v1/events?cursor={cursor}"), None).await;
    assert_eq!(reply.fields(), ["cursor"]);
    let reply = app.get("/api/v1/events?from=%2B10000-01-01T00%3A00%3A00Z", None).await;
    assert_eq!(reply.fields(), ["from"]);
}

#[tokio::test]
async fn a_cancelled_draft_stays_invisible_and_a_cancelled_event_takes_no_changes() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let draft = app.create_event(&organizer, json!({})).await.body;
    let path = format!("/api/v1/events/{}", draft["id"].as_str().unwrap());
    app.post(&format!("{path}/cancel"), Some(&organizer), json!({})).await;
    assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, Some(&organizer)).await.body["status"], "cancelled");
    let add = app
        .post(
            &format!("{path}/ticket-types"),
            Some(&organizer),
            json!({"name": "Late", "price_cents": 1, "capacity": 1}),
        )
        .await;
    assert_eq!(add.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn moving_the_start_into_the_past_is_refused_but_editing_text_is_not() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    let past = app.patch(&path, Some(&token), json!({"starts_at": in_days(-1)})).await;
    assert_eq!(past.fields(), ["starts_at"]);
    let text = app.patch(&path, Some(&token), json!({"description": "Doors at 7"})).await;
    assert_eq!(text.status, StatusCode::OK);
    let renamed = app
        .post(&format!("{path}/ticket-types"), Some(&token), json!({"name": "VIP", "price_cents": 1, "capacity": 1}))
        .await;
    let taken = app
        .patch(
            &format!("{path}/ticket-types/{}", renamed.body["id"].as_str().unwrap()),
            Some(&token),
            json!({"name": "Standard"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "renaming to a taken name");
}

#[tokio::test]
async fn reads_with_a_bad_token_are_401_and_my_events_needs_one() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let event = app.published_event(&token, json!({})).await;
    let path = format!("/api/v1/events/{}", event["id"].as_str().unwrap());
    assert_eq!(app.get(&path, Some("garbage")).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me/events", None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_event_has_a_time_zone_by_its_iana_name_and_its_pages_show_times_there() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let bad = app.create_event(&organizer, json!({"timezone": "Mars/Olympus_Mons"})).await;
    assert_eq!((bad.status, bad.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["timezone".to_owned()]));
    let event = app
        .published_event(&organizer, json!({"starts_at": "2031-12-24T18:30:00Z", "timezone": "Europe/Berlin"}))
        .await;
    assert_eq!(event["timezone"], "Europe/Berlin");
    let id = event["id"].as_str().unwrap();
    let page = app.client.get(format!("{}/events/{id}", app.base)).send().await.unwrap().text().await.unwrap();
    let page = page.replace("&#x2f;", "/"); // as a browser reads it
    assert!(page.contains("Wednesday, 24 December 2031, 19:30 CET (Europe/Berlin)"), "{page}");
    let moved = app.patch(&format!("/api/v1/events/{id}"), Some(&organizer), json!({"timezone": "UTC"})).await;
    assert_eq!(moved.body["timezone"], "UTC");
    let unset = app.create_event(&organizer, json!({})).await;
    assert_eq!(unset.body["timezone"], "UTC", "the default");
}

/// Every list checks its query the same way (one typed checker per list):
/// each bad parameter named, never a 500.
#[tokio::test]
async fn bad_parameters_of_the_booking_and_order_lists_are_named() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, _) = app.on_sale(&organizer, 10, 4).await;
    let orders = format!("/api/v1/events/{}/bookings", event["id"].as_str().unwrap());
    for (path, query, field) in [
        ("/api/v1/me/bookings", "limit=0", "limit"),
        ("/api/v1/me/bookings", "limit=ten", "limit"),
        ("/api/v1/me/bookings", "cursor=not-a-cursor", "cursor"),
        (orders.as_str(), "limit=101", "limit"),
        (orders.as_str(), "cursor=not-a-cursor", "cursor"),
        (orders.as_str(), "status=paid", "status"),
    ] {
        let reply = app.get(&format!("{path}?{query}"), Some(&organizer)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}?{query}");
        assert_eq!(reply.fields(), [field], "{path}?{query}");
    }
    assert_eq!(app.get("/api/v1/me/bookings?limit=100", Some(&organizer)).await.status, StatusCode::OK);
}
