//! Checkout without a card: priced bookings held until the organizer marks
//! them paid (the offline provider, the default), holds that run out, late
//! payments, refunds recorded once, and every way of paying wrongly.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, eventually, spawn_api_with, spawn_app, test_config};

const WITHIN: Duration = Duration::from_secs(30);

/// Outbox rows of `kind` about the booking.
async fn emails(app: &TestApp, booking: &str, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE booking_id = $1::uuid AND kind = $2")
        .bind(booking)
        .bind(kind)
        .fetch_one(app.db())
        .await
        .unwrap()
}

async fn status_of(app: &TestApp, token: &str, booking: &str) -> serde_json::Value {
    app.get(&format!("/api/v1/bookings/{booking}"), Some(token)).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priced_booking_is_held_until_the_organizer_marks_it_paid() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 4, 2500).await;
    let event_id = event["id"].as_str().unwrap();
    assert_eq!(
        (&event["hold_seconds"], &event["offline_hold_hours"], &event["hold_cooldown_seconds"]),
        (&json!(600), &json!(24), &json!(600))
    );
    assert_eq!(event["ticket_types"][0]["max_per_buyer"], 4, "one order's worth unless the organizer says more");

    let id = app.book_final(&buyer, &tt, 2).await.to_string();
    let held = status_of(&app, &buyer, &id).await;
    assert_eq!(held["status"], "held");
    assert_eq!(
        (&held["unit_price_cents"], &held["total_cents"], &held["currency"]),
        (&json!(2500), &json!(5000), &json!("EUR"))
    );
    assert_eq!(held["payment"], json!({"provider": "offline", "status": "unpaid"}));
    assert_eq!(held["tickets"], json!([]), "no tickets before the money");
    let expires: chrono::DateTime<chrono::Utc> = held["expires_at"].as_str().unwrap().parse().unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.5..=24.0).contains(&hours), "held for the offline hold time: {hours} h");
    assert_eq!(emails(&app, &id, "booking_confirmed").await, 0, "no confirmation for a hold");
    assert_eq!(app.check_invariants(&tt).await, 0);

    let how = app.call(Method::POST, &format!("/api/v1/bookings/{id}/payment"), Some(&buyer), None).await;
    assert_eq!(how.status, StatusCode::OK, "{how:?}");
    assert_eq!((how.body["provider"].as_str(), how.body["status"].as_str()), (Some("offline"), Some("pending")));
    assert_eq!(how.body["amount_cents"], 5000);
    assert!(how.body["instructions"].as_str().unwrap().contains("bank transfer"));
    let card = app
        .call(
            Method::POST,
            &format!("/api/v1/bookings/{id}/payment"),
            Some(&buyer),
            Some(json!({"payment_method": "pm_x"})),
        )
        .await;
    assert_eq!((card.status, card.code()), (StatusCode::CONFLICT, "not_payable"), "no card for an offline booking");
    let free = app.call(Method::POST, &format!("/api/v1/bookings/{id}/confirm"), Some(&buyer), None).await;
    assert_eq!((free.status, free.code()), (StatusCode::CONFLICT, "payment_required"));

    let paid = app.mark_paid(&organizer, event_id, &id).await;
    assert_eq!(paid.status, StatusCode::OK, "{paid:?}");
    assert_eq!(paid.body["status"], "confirmed");
    assert_eq!(paid.body["payment"], json!({"provider": "offline", "status": "succeeded"}));
    assert_eq!(paid.body["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(paid.body["expires_at"], json!(null));
    assert_eq!(emails(&app, &id, "booking_confirmed").await, 1, "confirmed: now the email");
    assert_eq!(app.check_invariants(&tt).await, 2);

    let again = app.mark_paid(&organizer, event_id, &id).await;
    assert_eq!((again.status, &again.body), (StatusCode::OK, &paid.body), "a second press answers the first");
    assert_eq!(emails(&app, &id, "booking_confirmed").await, 1, "and sends nothing");
    let orders = app.get(&format!("/api/v1/events/{event_id}/bookings?status=confirmed"), Some(&organizer)).await;
    assert_eq!(orders.body["items"][0]["id"], json!(id));
    assert_eq!(orders.body["items"][0]["total_cents"], 5000);
    assert!(orders.body["items"][0]["buyer_email"].as_str().unwrap().contains('@'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_that_runs_out_goes_back_on_sale_and_a_late_payment_gets_seats_or_its_money_back() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(3).await;
    let (event, tt) = app.on_sale_priced(&organizer, 2, 2, 1000).await;
    let event_id = event["id"].as_str().unwrap();

    // Seats still there when the late payment comes: sold after all.
    let early = app.book_final(&tokens[0], &tt, 1).await.to_string();
    app.run_out(&early).await;
    eventually(WITHIN, "the worker releases the hold", || async {
        (status_of(&app, &tokens[0], &early).await["status"] == "expired").then_some(())
    })
    .await;
    let after = status_of(&app, &tokens[0], &early).await;
    assert_eq!((after["reason"].as_str(), &after["expires_at"]), (Some("hold_expired"), &json!(null)));
    assert_eq!(app.check_invariants(&tt).await, 0);
    let seats: i32 = sqlx::query_scalar("SELECT remaining FROM ticket_types WHERE id = $1::uuid")
        .bind(&tt)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(seats, 2, "the seat is back on sale");
    assert_eq!(emails(&app, &early, "booking_confirmed").await, 0, "nothing is sent for an expired hold");
    let pay = app.call(Method::POST, &format!("/api/v1/bookings/{early}/payment"), Some(&tokens[0]), None).await;
    assert_eq!((pay.status, pay.code()), (StatusCode::CONFLICT, "not_payable"));
    let late = app.mark_paid(&organizer, event_id, &early).await;
    assert_eq!(late.body["status"], "confirmed", "{late:?}");
    assert_eq!(app.check_invariants(&tt).await, 1);

    // Gone when it comes: refunded in full, recorded for the organizer.
    let second = app.book_final(&tokens[1], &tt, 1).await.to_string();
    app.run_out(&second).await;
    eventually(WITHIN, "the worker releases the hold", || async {
        (status_of(&app, &tokens[1], &second).await["status"] == "expired").then_some(())
    })
    .await;
    let taker = app.book_final(&tokens[2], &tt, 1).await.to_string();
    app.mark_paid(&organizer, event_id, &taker).await;
    let late = app.mark_paid(&organizer, event_id, &second).await;
    assert_eq!(late.status, StatusCode::OK, "{late:?}");
    assert_eq!(
        (late.body["status"].as_str(), late.body["reason"].as_str()),
        (Some("expired"), Some("paid_after_expiry"))
    );
    assert_eq!(late.body["refund"], json!({"status": "pending", "amount_cents": 1000, "paid_back_at": null}));
    assert_eq!(app.check_invariants(&tt).await, 2, "never oversold; no money kept without tickets");

    // Pressed again (a double click, a second person at the desk): the same
    // answer, and no second payment or refund owed.
    let again = app.mark_paid(&organizer, event_id, &second).await;
    assert_eq!((again.status, &again.body), (StatusCode::OK, &late.body));
    let (payments, refunds): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM payments WHERE booking_id = $1::uuid), \
                (SELECT count(*) FROM refunds WHERE booking_id = $1::uuid)",
    )
    .bind(&second)
    .fetch_one(app.db())
    .await
    .unwrap();
    assert_eq!((payments, refunds), (1, 1), "one payment recorded, one refund owed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_what_is_not_payable_or_not_yours_is_refused() {
    let config = test_config(&[]);
    let app = spawn_api_with(config.clone()).await; // no worker yet: requests stay pending
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let (event, tt) = app.on_sale_priced(&organizer, 5, 2, 1000).await;
    let (other_event, _) = app.on_sale_priced(&organizer, 5, 2, 1000).await;
    let event_id = event["id"].as_str().unwrap();
    let pending = app.book(&buyer, &tt, 1, None).await.body["id"].as_str().unwrap().to_owned();
    let pay = |token: &str, id: &str, body: Option<serde_json::Value>| {
        let (token, path) = (token.to_owned(), format!("/api/v1/bookings/{id}/payment"));
        let app = &app;
        async move { app.call(Method::POST, &path, Some(&token), body).await }
    };
    let still_pending = pay(&buyer, &pending, None).await;
    assert_eq!((still_pending.status, still_pending.code()), (StatusCode::CONFLICT, "not_payable"));
    assert!(still_pending.body["detail"].as_str().unwrap().contains("in line"));

    app.start_worker(config).await;
    app.wait_final(&[pending.parse().unwrap()], WITHIN).await;
    let held = pending;
    assert_eq!(pay(&stranger, &held, None).await.status, StatusCode::NOT_FOUND, "someone else's booking");
    let path = format!("/api/v1/bookings/{held}/payment/confirm");
    assert_eq!(app.call(Method::POST, &path, Some(&stranger), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(pay(&buyer, &Uuid::now_v7().to_string(), None).await.status, StatusCode::NOT_FOUND);
    for bad in ["4242424242424242", "pm_", "pm_a b", "x_123"] {
        let reply = pay(&buyer, &held, Some(json!({"payment_method": bad}))).await;
        assert_eq!(reply.fields(), ["payment_method"], "{bad}: {reply:?}");
    }
    let unknown = pay(&buyer, &held, Some(json!({"payment": "cash"}))).await;
    assert_eq!(unknown.fields(), ["payment"]);
    // The organizer of another event, or the wrong event in the path.
    let other_id = other_event["id"].as_str().unwrap();
    assert_eq!(app.mark_paid(&organizer, other_id, &held).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.mark_paid(&stranger, event_id, &held).await.status, StatusCode::FORBIDDEN);

    // Cancelled: nothing to pay, nothing to mark paid.
    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{held}/cancel"), Some(&buyer), None).await;
    assert_eq!((cancel.status, cancel.body["status"].as_str()), (StatusCode::OK, Some("cancelled")));
    assert_eq!(cancel.body["refund"], json!(null), "nothing was paid, nothing is refunded");
    assert_eq!(pay(&buyer, &held, None).await.code(), "not_payable");
    // A transfer that arrives for it anyway is recorded, and goes back.
    let late = app.mark_paid(&organizer, event_id, &held).await;
    assert_eq!((late.status, late.body["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{late:?}");
    assert_eq!(late.body["refund"], json!({"status": "pending", "amount_cents": 1000, "paid_back_at": null}));
    let again = app.mark_paid(&organizer, event_id, &held).await;
    assert_eq!((again.status, &again.body), (StatusCode::OK, &late.body), "recorded once");
    assert_eq!(app.check_invariants(&tt).await, 0);
    let seats: i32 = sqlx::query_scalar("SELECT remaining FROM ticket_types WHERE id = $1::uuid")
        .bind(&tt)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(seats, 5, "a cancelled hold gives its seats back");

    // Confirmed (free): nothing to pay either.
    let (_, free) = app.on_sale(&organizer, 5, 2).await;
    let confirmed = app.book_final(&buyer, &free, 1).await.to_string();
    assert_eq!(status_of(&app, &buyer, &confirmed).await["payment"], json!(null));
    assert_eq!(pay(&buyer, &confirmed, None).await.code(), "not_payable");
    let bad_status = app.get(&format!("/api/v1/events/{event_id}/bookings?status=paid"), Some(&organizer)).await;
    assert_eq!(bad_status.fields(), ["status"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_paid_booking_refunds_it_exactly_once_whoever_cancels() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(4).await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 2, 1200).await;
    let event_id = event["id"].as_str().unwrap();
    let mut paid = Vec::new();
    for token in &tokens[..3] {
        let id = app.book_final(token, &tt, 2).await.to_string();
        app.mark_paid(&organizer, event_id, &id).await;
        paid.push(id);
    }
    let held = app.book_final(&tokens[3], &tt, 1).await.to_string();

    // The buyer cancels: a refund of the whole amount, once.
    let by_buyer =
        app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", paid[0]), Some(&tokens[0]), None).await;
    assert_eq!(by_buyer.body["refund"], json!({"status": "pending", "amount_cents": 2400, "paid_back_at": null}));
    let twice = app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", paid[0]), Some(&tokens[0]), None).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    // The organizer cancels another, after the buyers' deadline too.
    sqlx::query("UPDATE events SET cancellation_deadline = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(event_id)
        .execute(app.db())
        .await
        .unwrap();
    let late = app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", paid[1]), Some(&tokens[1]), None).await;
    assert_eq!(late.code(), "cancellation_closed");
    let path = format!("/api/v1/events/{event_id}/bookings/{}/cancel", paid[1]);
    let by_organizer = app.call(Method::POST, &path, Some(&organizer), None).await;
    assert_eq!(by_organizer.status, StatusCode::OK, "{by_organizer:?}");
    assert_eq!(by_organizer.body["reason"], "cancelled_by_organizer");
    assert_eq!(by_organizer.body["refund"]["amount_cents"], 2400);
    assert_eq!(app.call(Method::POST, &path, Some(&organizer), None).await.status, StatusCode::CONFLICT);

    // The event is cancelled: the paid one left is refunded, the hold let go.
    let cancel = app.call(Method::POST, &format!("/api/v1/events/{event_id}/cancel"), Some(&organizer), None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    let last = status_of(&app, &tokens[2], &paid[2]).await;
    assert_eq!((last["status"].as_str(), &last["refund"]["amount_cents"]), (Some("cancelled"), &json!(2400)));
    let hold = status_of(&app, &tokens[3], &held).await;
    assert_eq!((hold["status"].as_str(), &hold["refund"]), (Some("cancelled"), &json!(null)));
    let refunds: Vec<(String, i64)> =
        sqlx::query_as("SELECT booking_id::text, count(*) FROM refunds WHERE booking_id::text = ANY($1) GROUP BY 1")
            .bind(&paid)
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(refunds.len(), 3);
    assert!(refunds.iter().all(|(_, n)| *n == 1), "one refund per payment: {refunds:?}");
    assert_eq!(app.check_invariants(&tt).await, 0);
    let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
    assert_eq!(stats.body["totals"]["revenue_cents"], 0, "all paid, all refunded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_seats_count_toward_the_buyer_limit_and_a_free_hold_is_confirmed_by_its_owner() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"ticket_types": [{"name": "Limited", "price_cents": 500, "capacity": 10, "max_per_order": 2, "max_per_buyer": 2}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let held = app.book_final(&buyer, tt, 2).await.to_string();
    let over = app.book_final(&buyer, tt, 1).await.to_string();
    let refused = status_of(&app, &buyer, &over).await;
    assert_eq!((refused["status"].as_str(), refused["reason"].as_str()), (Some("rejected"), Some("buyer_limit")));

    // A hold of nothing to pay (as the waiting list will offer): its owner confirms it.
    sqlx::query("UPDATE bookings SET unit_price_cents = 0 WHERE id = $1::uuid")
        .bind(&held)
        .execute(app.db())
        .await
        .unwrap();
    let (stranger, _) = app.user().await;
    let path = format!("/api/v1/bookings/{held}/confirm");
    assert_eq!(app.call(Method::POST, &path, Some(&stranger), None).await.status, StatusCode::NOT_FOUND);
    let confirmed = app.call(Method::POST, &path, Some(&buyer), None).await;
    assert_eq!(confirmed.body["status"], "confirmed", "{confirmed:?}");
    assert_eq!(confirmed.body["tickets"].as_array().unwrap().len(), 2);
    let again = app.call(Method::POST, &path, Some(&buyer), None).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "not_payable"));
    assert_eq!(app.check_invariants(tt).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_settings_for_holds_are_validated_and_kept() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let bad = app.create_event(&organizer, json!({"hold_seconds": 59, "offline_hold_hours": 337})).await;
    assert_eq!(bad.fields(), ["hold_seconds", "offline_hold_hours"]);
    let created = app.create_event(&organizer, json!({"hold_seconds": 120, "offline_hold_hours": 1})).await;
    assert_eq!((&created.body["hold_seconds"], &created.body["offline_hold_hours"]), (&json!(120), &json!(1)));
    let path = format!("/api/v1/events/{}", created.body["id"].as_str().unwrap());
    let changed = app.patch(&path, Some(&organizer), json!({"hold_seconds": 3600})).await;
    assert_eq!((&changed.body["hold_seconds"], &changed.body["offline_hold_hours"]), (&json!(3600), &json!(1)));
    assert_eq!(
        app.patch(&path, Some(&organizer), json!({"offline_hold_hours": 0})).await.fields(),
        ["offline_hold_hours"]
    );
}

/// A payment arriving in the instant its hold runs out: exactly one of
/// confirmed (the payment won, or the seats were still there) or refunded,
/// never both, never money kept, never a seat twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_racing_its_hold_expiry_ends_confirmed_or_refunded_never_both() {
    let app = spawn_api_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(20).await;
    let (event, tt) = app.on_sale_priced(&organizer, 20, 1, 700).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    app.spawn_worker(app.state.clone());
    let mut ids = Vec::new();
    for token in &tokens {
        ids.push(app.book_final(token, &tt, 1).await.to_string());
    }
    for id in &ids {
        app.run_out(id).await;
    }
    // The organizer marks them all paid while the worker releases them.
    let db = app.db().clone();
    let release = tokio::spawn(async move {
        while boxoffice::booking::holds::release_expired(&db, 3, boxoffice::domain::checkout::Provider::Offline)
            .await
            .unwrap()
            .bookings
            .len()
            == 3
        {}
    });
    let marks = futures::future::join_all(ids.iter().map(|id| app.mark_paid(&organizer, &event_id, id))).await;
    release.await.unwrap();
    for (id, mark) in ids.iter().zip(&marks) {
        assert_eq!(mark.status, StatusCode::OK, "{mark:?}");
        let refunds: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE booking_id = $1::uuid")
            .bind(id)
            .fetch_one(app.db())
            .await
            .unwrap();
        match mark.body["status"].as_str() {
            Some("confirmed") => assert_eq!(refunds, 0, "{id}"),
            Some("expired") => assert_eq!(refunds, 1, "{id}"),
            other => panic!("{id}: {other:?}"),
        }
    }
    // The seats were there for everyone: every payment got its seat back.
    assert_eq!(app.check_invariants(&tt).await, 20);
}

/// The on-sale of a priced type: some holds are paid, the others run out;
/// at the end every seat is sold or back on sale, and sells again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_priced_flash_sale_ends_with_every_seat_paid_or_back_on_sale() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(40).await;
    let (event, tt) = app.on_sale_priced(&organizer, 12, 2, 3000).await;
    let event_id = event["id"].as_str().unwrap();
    let replies = futures::future::join_all(tokens[..30].iter().map(|t| app.book(t, &tt, 1, None))).await;
    let accepted = crate::helpers::accepted_ids(&replies);
    app.wait_final(&accepted, WITHIN).await;
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM bookings WHERE ticket_type_id = $1::uuid AND status = 'held' ORDER BY id",
    )
    .bind(&tt)
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(held.len(), 12, "every seat held, the rest sold out");
    for id in &held[..7] {
        assert_eq!(app.mark_paid(&organizer, event_id, id).await.body["status"], "confirmed");
    }
    for id in &held[7..] {
        app.run_out(id).await;
    }
    eventually(WITHIN, "the unpaid holds run out", || async {
        let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
        (seats.held == 0).then_some(seats)
    })
    .await;
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(seats.violations().is_empty(), "{seats:?}");
    assert_eq!((seats.confirmed, seats.remaining), (7, 5), "every seat sold or back on sale");
    // And they sell again (the sold-out flag was cleared).
    for token in &tokens[30..35] {
        app.book_final(token, &tt, 1).await;
    }
    let seats = boxoffice::db::invariants::seats(app.db(), tt.parse().unwrap()).await.unwrap();
    assert_eq!((seats.held, seats.remaining), (5, 0));
}
