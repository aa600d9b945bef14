//! Card payments against localstripe (the Stripe emulator, a real process
//! started by `.ci/run` or `helpers::stripe_emulator`): a card that pays, one
//! that is declined, 3-D Secure, the signed webhook, refunds sent exactly
//! once, and Stripe out of reach. The emulator sends no `payment_intent.*`
//! webhooks, so webhook tests sign events exactly as Stripe signs them.

use std::time::Duration;

use boxoffice::payments::stripe::Stripe;
use boxoffice::payments::webhook;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, TestApp, card, eventually, spawn_api_with, spawn_app_with, stripe_config,
    stripe_emulator,
};

const WITHIN: Duration = Duration::from_secs(30);
const PAYS: &str = "4242424242424242";
/// Declined when charged.
const DECLINED: &str = "4000000000000341";
/// Needs 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

async fn pay(app: &TestApp, token: &str, booking: &str, method: Option<&str>) -> crate::helpers::Reply {
    let body = method.map(|m| json!({"payment_method": m}));
    app.call(Method::POST, &format!("/api/v1/bookings/{booking}/payment"), Some(token), body).await
}

async fn booking(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await.body
}

/// The emulator's view of an intent, or of the refunds of one.
async fn emulator(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .basic_auth(STRIPE_SECRET_KEY, Some(""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn intent_of(app: &TestApp, booking: &str) -> String {
    sqlx::query_scalar(
        "SELECT intent_id FROM payments WHERE booking_id = $1::uuid AND intent_id IS NOT NULL ORDER BY created_at DESC LIMIT 1",
    )
    .bind(booking)
    .fetch_one(app.db())
    .await
    .unwrap()
}

/// Finishes 3-D Secure at the emulator, as the buyer would in Stripe.js's dialog.
async fn authenticate(base: &str, intent: &str, client_secret: &str) {
    let reply = reqwest::Client::new()
        .post(format!("{base}/v1/payment_intents/{intent}/_authenticate"))
        .basic_auth(STRIPE_SECRET_KEY, Some(""))
        .form(&[("client_secret", client_secret), ("success", "true")])
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{:?}", reply.text().await);
}

async fn refunds_at_stripe(base: &str, intent: &str) -> usize {
    emulator(base, &format!("/v1/refunds?payment_intent={intent}&limit=100")).await["data"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pays_at_once_and_a_declined_one_keeps_the_hold() {
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &[])).await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 1800).await;
    let id = app.book_final(&buyer, &tt, 2).await.to_string();
    let held = booking(&app, &buyer, &id).await;
    assert_eq!(
        (held["status"].as_str(), &held["payment"]),
        (Some("held"), &json!({"provider": "stripe", "status": "unpaid"}))
    );
    let expires: chrono::DateTime<chrono::Utc> = held["expires_at"].as_str().unwrap().parse().unwrap();
    let secs = (expires - chrono::Utc::now()).num_seconds();
    assert!((590..=600).contains(&secs), "a card hold lasts hold_seconds: {secs}");

    let how = pay(&app, &buyer, &id, None).await;
    assert_eq!(how.status, StatusCode::OK, "{how:?}");
    assert_eq!(how.body["status"], "requires_payment_method");
    assert_eq!((&how.body["amount_cents"], &how.body["currency"]), (&json!(3600), &json!("EUR")));
    assert_eq!(how.body["publishable_key"], "pk_test_boxoffice");

    let declined = pay(&app, &buyer, &id, Some(&card(&base, DECLINED).await)).await;
    assert_eq!((declined.status, declined.code()), (StatusCode::PAYMENT_REQUIRED, "payment_failed"), "{declined:?}");
    let after = booking(&app, &buyer, &id).await;
    assert_eq!((after["status"].as_str(), &after["payment"]["status"]), (Some("held"), &json!("failed")));
    assert_eq!(app.check_invariants(&tt).await, 0);

    let paid = pay(&app, &buyer, &id, Some(&card(&base, PAYS).await)).await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("succeeded")), "{paid:?}");
    let sold = booking(&app, &buyer, &id).await;
    assert_eq!(sold["status"], "confirmed", "confirmed when the call returns");
    assert_eq!(sold["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(sold["payment"], json!({"provider": "stripe", "status": "succeeded"}));
    let intent = emulator(&base, &format!("/v1/payment_intents/{}", intent_of(&app, &id).await)).await;
    assert_eq!((intent["amount"].as_i64(), intent["metadata"]["booking_id"].as_str()), (Some(3600), Some(id.as_str())));
    assert_eq!(app.check_invariants(&tt).await, 2);
    let again = pay(&app, &buyer, &id, Some(&card(&base, PAYS).await)).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "not_payable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_d_secure_is_finished_in_the_browser_and_confirmed_by_asking_stripe() {
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &[])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(2).await;
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 900).await;
    let id = app.book_final(&tokens[0], &tt, 1).await.to_string();
    let action = pay(&app, &tokens[0], &id, Some(&card(&base, THREE_D_SECURE).await)).await;
    assert_eq!(action.body["status"], "requires_action", "{action:?}");
    let secret = action.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(pay(&app, &tokens[0], &id, None).await.body["client_secret"], json!(secret), "asked again: the same");
    let check = app.call(Method::POST, &format!("/api/v1/bookings/{id}/payment/confirm"), Some(&tokens[0]), None).await;
    assert_eq!(check.body["status"], "held", "not paid yet: {check:?}");

    authenticate(&base, &intent_of(&app, &id).await, &secret).await;
    let check = app.call(Method::POST, &format!("/api/v1/bookings/{id}/payment/confirm"), Some(&tokens[0]), None).await;
    assert_eq!(check.body["status"], "confirmed", "{check:?}");
    assert_eq!(app.check_invariants(&tt).await, 1);

    // Abandoning 3-D Secure for another card: the first intent is cancelled, never charged.
    let other = app.book_final(&tokens[1], &tt, 1).await.to_string();
    pay(&app, &tokens[1], &other, Some(&card(&base, THREE_D_SECURE).await)).await;
    let first_intent = intent_of(&app, &other).await;
    let paid = pay(&app, &tokens[1], &other, Some(&card(&base, PAYS).await)).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    let abandoned = emulator(&base, &format!("/v1/payment_intents/{first_intent}")).await;
    assert_eq!(abandoned["status"], "canceled");
    assert_eq!(app.check_invariants(&tt).await, 2);
}

/// An event as Stripe sends it, for `intent` (as the emulator has it).
fn stripe_event(id: &str, kind: &str, intent: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "event", "type": kind, "data": {"object": intent}})).unwrap()
}

async fn deliver(app: &TestApp, body: &[u8], signature: Option<String>) -> crate::helpers::Reply {
    let mut request = app
        .client
        .post(app.url("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    app.send(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_confirms_once_and_a_bad_old_or_mismatched_one_changes_nothing() {
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &[])).await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(2).await;
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 1100).await;
    let id = app.book_final(&tokens[0], &tt, 1).await.to_string();
    let action = pay(&app, &tokens[0], &id, Some(&card(&base, THREE_D_SECURE).await)).await;
    let intent_id = intent_of(&app, &id).await;
    authenticate(&base, &intent_id, action.body["client_secret"].as_str().unwrap()).await;
    let intent = emulator(&base, &format!("/v1/payment_intents/{intent_id}")).await;
    assert_eq!(intent["status"], "succeeded");
    let event_id = format!("evt_{}", uuid::Uuid::new_v4().simple());
    let body = stripe_event(&event_id, "payment_intent.succeeded", &intent);
    let now = chrono::Utc::now().timestamp();

    for (signature, why) in [
        (None, "no signature"),
        (Some(webhook::sign(&body, "whsec_someone_else", now)), "another secret"),
        (Some(webhook::sign(&body, STRIPE_WEBHOOK_SECRET, now - 301)), "older than 300 s"),
        (Some(webhook::sign(b"{}", STRIPE_WEBHOOK_SECRET, now)), "another body"),
    ] {
        let refused = deliver(&app, &body, signature).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "invalid_signature"), "{why}");
        assert_eq!(booking(&app, &tokens[0], &id).await["status"], "held", "{why}: nothing changes");
    }
    let signed = webhook::sign(&body, STRIPE_WEBHOOK_SECRET, now);
    let first = deliver(&app, &body, Some(signed.clone())).await;
    assert_eq!((first.status, &first.body["duplicate"]), (StatusCode::OK, &json!(false)), "{first:?}");
    let sold = booking(&app, &tokens[0], &id).await;
    assert_eq!(sold["status"], "confirmed");
    let replay = deliver(&app, &body, Some(signed)).await;
    assert_eq!((replay.status, &replay.body["duplicate"]), (StatusCode::OK, &json!(true)));
    let confirmations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE booking_id = $1::uuid AND kind = 'booking_confirmed'")
            .bind(&id)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((confirmations, booking(&app, &tokens[0], &id).await["tickets"].as_array().unwrap().len()), (1, 1));

    // An intent for another amount naming a held booking: not confirmed.
    let other = app.book_final(&tokens[1], &tt, 1).await.to_string();
    let mut forged = intent.clone();
    forged["id"] = json!(format!("pi_{}", uuid::Uuid::new_v4().simple()));
    forged["amount"] = json!(1);
    forged["metadata"]["booking_id"] = json!(other);
    let body = stripe_event(&format!("evt_{}", uuid::Uuid::new_v4().simple()), "payment_intent.succeeded", &forged);
    let reply = deliver(&app, &body, Some(webhook::sign(&body, STRIPE_WEBHOOK_SECRET, now))).await;
    assert_eq!(reply.status, StatusCode::OK, "received, logged, not applied");
    assert_eq!(booking(&app, &tokens[1], &other).await["status"], "held");
    assert_eq!(app.check_invariants(&tt).await, 1);
}

/// Whoever holds the webhook secret (leaked, or weak as an empty one was
/// allowed to be) signs a success for an intent Stripe never made, naming
/// their own held booking and its exact total: the service asks Stripe, and
/// Stripe knows no such intent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_webhook_for_an_intent_nobody_paid_confirms_nothing() {
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &[])).await;
    let (organizer, _) = app.user().await;
    let buyer = app.users(1).await.remove(0);
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 6000).await;
    let id = app.book_final(&buyer, &tt, 2).await.to_string();
    let invented = json!({
        "id": format!("pi_{}", uuid::Uuid::new_v4().simple()), "object": "payment_intent",
        "status": "succeeded", "amount": 12000, "currency": "eur", "metadata": {"booking_id": id},
        "client_secret": null
    });
    let body = stripe_event(&format!("evt_{}", uuid::Uuid::new_v4().simple()), "payment_intent.succeeded", &invented);
    let now = chrono::Utc::now().timestamp();
    let reply = deliver(&app, &body, Some(webhook::sign(&body, STRIPE_WEBHOOK_SECRET, now))).await;
    assert_eq!(reply.status, StatusCode::OK, "received, and ignored: {reply:?}");
    let after = booking(&app, &buyer, &id).await;
    assert_eq!((after["status"].as_str(), after["tickets"].as_array().map(Vec::len)), (Some("held"), Some(0)));
    let succeeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM payments WHERE booking_id = $1::uuid AND status = 'succeeded'")
            .bind(&id)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(succeeded, 0, "no payment recorded");

    // Nor for an intent this service made and recorded, but nobody paid
    // (its card was declined).
    let declined = pay(&app, &buyer, &id, Some(&card(&base, DECLINED).await)).await;
    assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED, "{declined:?}");
    let recorded = intent_of(&app, &id).await;
    let unpaid = json!({
        "id": recorded, "object": "payment_intent", "status": "succeeded", "amount": 12000, "currency": "eur",
        "metadata": {"booking_id": id}, "client_secret": null
    });
    let body = stripe_event(&format!("evt_{}", uuid::Uuid::new_v4().simple()), "payment_intent.succeeded", &unpaid);
    let reply = deliver(&app, &body, Some(webhook::sign(&body, STRIPE_WEBHOOK_SECRET, now))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(booking(&app, &buyer, &id).await["status"], "held", "Stripe says it is not paid");
    assert_eq!(app.check_invariants(&tt).await, 0);
}

/// Stripe delivers from a few addresses: the per-address limit that stops a
/// stranger's flood must not turn its deliveries away (it would back off for
/// hours while holds last minutes). A bad signature is answered without the
/// database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripes_webhook_is_not_held_back_by_the_per_address_limit() {
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &["--rate-limits", "on", "--rate-limit-anonymous", "3/60"])).await;
    let body = stripe_event("evt_unsigned", "payment_intent.succeeded", &json!({}));
    for _ in 0..20 {
        let reply = deliver(&app, &body, Some("t=1,v1=00".into())).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_signature"));
    }
    let now = chrono::Utc::now().timestamp();
    let ping = stripe_event(&format!("evt_{}", uuid::Uuid::new_v4().simple()), "charge.updated", &json!({}));
    let signed = deliver(&app, &ping, Some(webhook::sign(&ping, STRIPE_WEBHOOK_SECRET, now))).await;
    assert_eq!(signed.status, StatusCode::OK, "{signed:?}");
    // The limit itself is on: the same address's anonymous reads are held back.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/api/v1/events", None).await.status);
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
}

/// Someone trickles bodies at the webhook (outside the per-address limit):
/// they hold no place at its door, so Stripe's delivery still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_trickling_their_bodies_do_not_hold_the_webhooks_door() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&base, &[])).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut trickling = Vec::new();
    for _ in 0..(boxoffice::http::admission::WEBHOOK_IN_FLIGHT * 2) {
        let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // A health check first, the webhook's head and a little of its body
        // behind it on the same connection: once the health check is
        // answered, the server is at the webhook's request.
        let requests = format!(
            "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n\
             POST /api/v1/payments/stripe/webhook HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\n\
             stripe-signature: t=1,v1=00\r\ncontent-length: 5000\r\n\r\n{{\"id\":"
        );
        socket.write_all(requests.as_bytes()).await.unwrap();
        let mut answer = [0u8; 1024];
        let read = socket.read(&mut answer).await.unwrap();
        assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
        trickling.push(socket);
    }
    let now = chrono::Utc::now().timestamp();
    let ping = stripe_event(&format!("evt_{}", uuid::Uuid::new_v4().simple()), "charge.updated", &json!({}));
    let request = app
        .client
        .post(app.url("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", webhook::sign(&ping, STRIPE_WEBHOOK_SECRET, now))
        .timeout(Duration::from_secs(20)) // a bound so a regression fails instead of hanging
        .body(ping);
    let reply = request.send().await.expect("answered while the others trickle");
    assert_eq!(reply.status(), StatusCode::OK);
    drop(trickling);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_refund_reaches_stripe_once_even_after_a_crash_or_an_outage() {
    let base = stripe_emulator().await;
    let config = stripe_config(&base, &[]);
    let app = spawn_api_with(config.clone()).await; // the worker comes later
    let (organizer, _) = app.user().await;
    let tokens = app.users(2).await;
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 2000).await;
    let worker_stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(boxoffice::worker::run(app.state.worker(), worker_stop.clone()));
    let mut paid = Vec::new();
    for token in &tokens {
        let id = app.book_final(token, &tt, 1).await.to_string();
        assert_eq!(pay(&app, token, &id, Some(&card(&base, PAYS).await)).await.body["status"], "succeeded");
        paid.push(id);
    }

    // Cancelled with the worker running: refunded, the buyer told.
    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", paid[0]), Some(&tokens[0]), None).await;
    assert_eq!(cancel.body["refund"], json!({"status": "pending", "amount_cents": 2000, "paid_back_at": null}));
    eventually(WITHIN, "the worker sends the refund", || async {
        (booking(&app, &tokens[0], &paid[0]).await["refund"]["status"] == "succeeded").then_some(())
    })
    .await;
    assert_eq!(refunds_at_stripe(&base, &intent_of(&app, &paid[0]).await).await, 1);
    let notices: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE booking_id = $1::uuid AND kind = 'refund_succeeded'")
            .bind(&paid[0])
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!(notices, 1);

    // The worker stops here; the next refund is sent by hand, step by step.
    worker_stop.cancel();
    worker.await.unwrap();
    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", paid[1]), Some(&tokens[1]), None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{cancel:?}");
    let intent = intent_of(&app, &paid[1]).await;
    let refund_id: String = sqlx::query_scalar("SELECT id::text FROM refunds WHERE booking_id = $1::uuid")
        .bind(&paid[1])
        .fetch_one(app.db())
        .await
        .unwrap();
    let stripe = Stripe::from_config(&config).unwrap();
    let come_due = || async {
        sqlx::query("UPDATE refunds SET next_attempt_at = now() WHERE id = $1::uuid")
            .bind(&refund_id)
            .execute(app.db())
            .await
            .unwrap();
    };
    // Stripe out of reach: kept, tried again later.
    let unreachable = stripe_config("http://127.0.0.1:9", &[]);
    let sent = boxoffice::worker::refunds::send_due(app.db(), &Stripe::from_config(&unreachable).unwrap()).await;
    assert_eq!(sent.unwrap(), 0);
    let (status, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error FROM refunds WHERE id = $1::uuid")
            .bind(&refund_id)
            .fetch_one(app.db())
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 1), "{error:?}");
    assert!(error.unwrap().contains("unreachable"));
    // A worker that made the refund at Stripe and died before writing it down.
    stripe.refund(&intent, &refund_id).await.unwrap();
    come_due().await;
    assert_eq!(boxoffice::worker::refunds::send_due(app.db(), &stripe).await.unwrap(), 1);
    assert_eq!(refunds_at_stripe(&base, &intent).await, 1, "found, not made twice");
    assert_eq!(booking(&app, &tokens[1], &paid[1]).await["refund"]["status"], "succeeded");
    come_due().await;
    assert_eq!(boxoffice::worker::refunds::send_due(app.db(), &stripe).await.unwrap(), 0, "done is done");
    assert_eq!(refunds_at_stripe(&base, &intent).await, 1);
    assert_eq!(app.check_invariants(&tt).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_out_of_reach_is_a_503_and_the_hold_stays() {
    let app = spawn_app_with(stripe_config("http://127.0.0.1:9", &[])).await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (_, tt) = app.on_sale_priced(&organizer, 5, 2, 1000).await;
    let id = app.book_final(&buyer, &tt, 1).await.to_string();
    for _ in 0..2 {
        let reply = pay(&app, &buyer, &id, Some("pm_card_visa")).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"), "{reply:?}");
        assert!(reply.headers.contains_key("retry-after"));
    }
    let after = booking(&app, &buyer, &id).await;
    assert_eq!((after["status"].as_str(), &after["payment"]["status"]), (Some("held"), &json!("failed")));
    assert_eq!(app.check_invariants(&tt).await, 0);
}
