//! Issue 31, webhooks: an organization's endpoints hear of bookings,
//! check-ins and events, signed as the Standard Webhooks specification says
//! (verified here by its reference library, `standardwebhooks`, not by our
//! own code), written with the change and sent at least once, with retries,
//! to receivers that are https on the internet (http and local addresses
//! only with `WEBHOOKS_ALLOW_HTTP=1`, as here for a receiver in the test).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, eventually, spawn_app_with, test_config};

/// What a receiver took: the `webhook-id` and the body, verified.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: Value,
}

/// A receiver on this machine: verifies each request with the endpoint's
/// secret through `standardwebhooks`, answers 503 while it is down.
#[derive(Clone)]
struct Receiver {
    url: String,
    secret: Arc<Mutex<String>>,
    up: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Received>>>,
    /// Requests refused: down, or a signature that did not verify.
    refused: Arc<AtomicUsize>,
    forged: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            secret: Arc::default(),
            up: Arc::new(AtomicBool::new(true)),
            got: Arc::default(),
            refused: Arc::default(),
            forged: Arc::default(),
        };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.take(&headers, &body) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn take(&self, headers: &HeaderMap, body: &[u8]) -> AxumStatus {
        if !self.up.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return AxumStatus::SERVICE_UNAVAILABLE;
        }
        let secret = self.secret.lock().unwrap().clone();
        let verifier = standardwebhooks::Webhook::new(&secret).expect("a whsec_ secret");
        if let Err(err) = verifier.verify(body, headers) {
            self.forged.fetch_add(1, Ordering::SeqCst);
            eprintln!("signature refused: {err:?}");
            return AxumStatus::BAD_REQUEST;
        }
        let id = headers["webhook-id"].to_str().unwrap().to_owned();
        let body: Value = serde_json::from_slice(body).expect("a JSON body");
        self.got.lock().unwrap().push(Received { id, body });
        AxumStatus::NO_CONTENT
    }

    fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.got.lock().unwrap().iter().filter(|r| r.body["type"] == event_type).cloned().collect()
    }

    /// The first `event_type` received whose data satisfies `which`, once it is.
    async fn wait_for(&self, event_type: &str, which: impl Fn(&Value) -> bool) -> Received {
        let what = format!("a {event_type} webhook");
        eventually(Duration::from_secs(30), &what, || {
            let found = self.of_type(event_type).into_iter().find(|r| which(&r.body["data"]));
            async move { found }
        })
        .await
    }
}

/// An app that may call a receiver on this machine, an owner and their
/// personal organization's endpoint for every event.
async fn with_endpoint() -> (TestApp, Receiver, String, String, Value) {
    let app = spawn_app_with(test_config(&["--webhooks-allow-http", "1"])).await;
    let owner = app.users(1).await.remove(0);
    let org = app.get("/api/v1/me", Some(&owner)).await.body["id"].as_str().unwrap().to_owned();
    let receiver = Receiver::start().await;
    let all = [
        "booking.confirmed",
        "booking.cancelled",
        "booking.refunded",
        "ticket.checked_in",
        "waiting_list.offered",
        "event.published",
        "event.cancelled",
    ];
    let made = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks"),
            Some(&owner),
            json!({"url": receiver.url, "events": all}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    *receiver.secret.lock().unwrap() = secret;
    (app, receiver, owner, org, made.body)
}

async fn deliveries(app: &TestApp, owner: &str, org: &str, endpoint: &str) -> Vec<Value> {
    let page =
        app.get(&format!("/api/v1/organizations/{org}/webhooks/{endpoint}/deliveries?limit=100"), Some(owner)).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    page.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_reaches_the_endpoint_signed_as_standard_webhooks_say() {
    let (app, receiver, owner, org, endpoint) = with_endpoint().await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let buyers = app.users(2).await;

    // Published (event.published), booked (booking.confirmed), admitted (ticket.checked_in).
    let (event, free) = app.on_sale(&owner, 10, 4).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let published = receiver.wait_for("event.published", |d| d["event"]["id"] == event_id.as_str()).await;
    assert_eq!(published.body["data"]["event"]["status"], "published");
    let booked = app.book_final(&buyers[0], &free, 2).await.to_string();
    let confirmed = receiver.wait_for("booking.confirmed", |d| d["booking"]["id"] == booked.as_str()).await;
    let booking = app.get(&format!("/api/v1/bookings/{booked}"), Some(&buyers[0])).await.body;
    assert_eq!(confirmed.body["data"]["booking"]["reference"], booking["reference"], "{}", confirmed.body);
    assert_eq!(confirmed.body["data"]["booking"]["quantity"], 2);
    assert_eq!(confirmed.body["data"]["event"]["id"], event_id.as_str());
    let code = booking["tickets"][0]["code"].as_str().unwrap();
    let admitted = app.post(&format!("/api/v1/events/{event_id}/check-ins"), Some(&owner), json!({"code": code})).await;
    assert_eq!(admitted.status, StatusCode::OK, "{admitted:?}");
    let scan = receiver.wait_for("ticket.checked_in", |d| d["ticket"]["booking_id"] == booked.as_str()).await;
    assert_eq!(scan.body["data"]["ticket"]["position"], 1);
    assert!(!scan.body.to_string().contains(code), "the code is the ticket: never told");

    // Cancelled by the buyer (booking.cancelled); seats of a sold-out type
    // offered to the waiting list (waiting_list.offered).
    let (_, scarce) = app.on_sale(&owner, 1, 1).await;
    let taken = app.book_final(&buyers[0], &scarce, 1).await.to_string();
    let waiting = app
        .post(&format!("/api/v1/ticket-types/{scarce}/waiting-list"), Some(&buyers[1]), json!({"quantity": 1}))
        .await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{waiting:?}");
    let cancelled = app.post(&format!("/api/v1/bookings/{taken}/cancel"), Some(&buyers[0]), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    receiver.wait_for("booking.cancelled", |d| d["booking"]["id"] == taken.as_str()).await;
    let offer = receiver.wait_for("waiting_list.offered", |_| true).await;
    assert_eq!(offer.body["data"]["booking"]["status"], "held");

    // Paid offline, cancelled by the organizer, paid back (booking.refunded).
    let (priced_event, priced) = app.on_sale_priced(&owner, 10, 2, 1500).await;
    let priced_event = priced_event["id"].as_str().unwrap().to_owned();
    let paid = app.book_final(&buyers[1], &priced, 1).await.to_string();
    assert_eq!(app.mark_paid(&owner, &priced_event, &paid).await.status, StatusCode::OK);
    let path = format!("/api/v1/events/{priced_event}/bookings/{paid}");
    assert_eq!(app.post(&format!("{path}/cancel"), Some(&owner), json!({})).await.status, StatusCode::OK);
    assert_eq!(app.post(&format!("{path}/refund/paid-out"), Some(&owner), json!({})).await.status, StatusCode::OK);
    let refunded = receiver.wait_for("booking.refunded", |d| d["booking"]["id"] == paid.as_str()).await;
    assert_eq!(refunded.body["data"]["booking"]["total_cents"], 1500);

    // The whole event called off (event.cancelled, and each booking cancelled).
    assert_eq!(
        app.post(&format!("/api/v1/events/{event_id}/cancel"), Some(&owner), json!({})).await.status,
        StatusCode::OK
    );
    receiver.wait_for("event.cancelled", |d| d["event"]["id"] == event_id.as_str()).await;
    receiver.wait_for("booking.cancelled", |d| d["booking"]["id"] == booked.as_str()).await;
    assert_eq!(receiver.forged.load(Ordering::SeqCst), 0, "every signature verified");

    // The log says each was delivered, with the receiver's answer and how long it took.
    let log = deliveries(&app, &owner, &org, &endpoint_id).await;
    assert!(log.len() >= 8, "{log:?}");
    eventually(Duration::from_secs(10), "every delivery recorded delivered", || {
        let app = &app;
        let (owner, org, endpoint_id) = (&owner, &org, &endpoint_id);
        async move {
            let log = deliveries(app, owner, org, endpoint_id).await;
            log.iter().all(|d| d["status"] == "delivered").then_some(())
        }
    })
    .await;
    let first = &deliveries(&app, &owner, &org, &endpoint_id).await[0];
    assert_eq!((first["response_status"].as_i64(), first["attempts"].as_i64()), (Some(204), Some(1)), "{first}");
    assert!(first["latency_ms"].as_i64().is_some(), "{first}");

    // A test event, on demand.
    let test =
        app.post(&format!("/api/v1/organizations/{org}/webhooks/{endpoint_id}/test"), Some(&owner), json!({})).await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{test:?}");
    let sent = test.body["webhook_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), "the test event", || {
        let found = receiver.of_type("webhook.test").into_iter().any(|r| r.id == sent);
        async move { found.then_some(()) }
    })
    .await;

    // A rotated secret: the old one still verifies for a day, the new one at once.
    let rotated =
        app.post(&format!("/api/v1/organizations/{org}/webhooks/{endpoint_id}/rotate"), Some(&owner), json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    assert!(rotated.body["previous_secret_valid_until"].is_string(), "{rotated:?}");
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, endpoint["secret"].as_str().unwrap());
    for secret in [None, Some(new_secret)] {
        if let Some(secret) = secret {
            *receiver.secret.lock().unwrap() = secret;
        }
        let before = receiver.of_type("webhook.test").len();
        let test = app
            .post(&format!("/api/v1/organizations/{org}/webhooks/{endpoint_id}/test"), Some(&owner), json!({}))
            .await;
        assert_eq!(test.status, StatusCode::ACCEPTED);
        eventually(Duration::from_secs(30), "a test event after the rotation", || {
            let now = receiver.of_type("webhook.test").len();
            async move { (now > before).then_some(()) }
        })
        .await;
    }
    assert_eq!(receiver.forged.load(Ordering::SeqCst), 0, "both secrets verified during the overlap");

    // A replay is the same event again: its webhook-id unchanged.
    let one = &deliveries(&app, &owner, &org, &endpoint_id)
        .await
        .into_iter()
        .find(|d| d["event_type"] == "booking.confirmed")
        .unwrap();
    let again = app
        .post(
            &format!(
                "/api/v1/organizations/{org}/webhooks/{endpoint_id}/deliveries/{}/replay",
                one["id"].as_str().unwrap()
            ),
            Some(&owner),
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{again:?}");
    assert_eq!(again.body["webhook_id"], one["webhook_id"]);
    let id = one["webhook_id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), "the replayed event", || {
        let copies = receiver.got.lock().unwrap().iter().filter(|r| r.id == id).count();
        async move { (copies >= 2).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_event_once_it_answers() {
    let (app, receiver, owner, org, endpoint) = with_endpoint().await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let (_, tt) = app.on_sale(&owner, 20, 4).await;
    receiver.wait_for("event.published", |_| true).await;
    receiver.up.store(false, Ordering::SeqCst);
    let buyers = app.users(3).await;
    let mut booked = Vec::new();
    for buyer in &buyers {
        booked.push(app.book_final(buyer, &tt, 1).await.to_string());
    }
    // Each tried, refused, tried again 5 s later, refused again: now each
    // waits out its backoff (5 minutes).
    eventually(Duration::from_secs(60), "each confirmation refused twice", || {
        let app = &app;
        let (owner, org, endpoint_id) = (&owner, &org, &endpoint_id);
        async move {
            let log = deliveries(app, owner, org, endpoint_id).await;
            let waiting: Vec<&Value> = log.iter().filter(|d| d["event_type"] == "booking.confirmed").collect();
            (waiting.len() == 3
                && waiting.iter().all(|d| {
                    d["status"] == "pending" && d["attempts"].as_i64() >= Some(2) && d["response_status"] == 503
                }))
            .then_some(())
        }
    })
    .await;
    assert!(receiver.refused.load(Ordering::SeqCst) >= 6);
    let log = deliveries(&app, &owner, &org, &endpoint_id).await;
    let ids: HashMap<String, String> = log
        .iter()
        .filter(|d| d["event_type"] == "booking.confirmed")
        .map(|d| (d["webhook_id"].as_str().unwrap().to_owned(), d["next_attempt_at"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(ids.len(), 3, "one webhook-id per event: {log:?}");

    // Back: the next delivery that gets through (here a new booking) brings
    // the waiting ones forward; every event arrives, each under its id.
    receiver.up.store(true, Ordering::SeqCst);
    let late = app.users(1).await.remove(0);
    app.book_final(&late, &tt, 1).await;
    for id in ids.keys() {
        eventually(Duration::from_secs(30), "a waiting event delivered", || {
            let found = receiver.got.lock().unwrap().iter().any(|r| &r.id == id);
            async move { found.then_some(()) }
        })
        .await;
    }
    let confirmed: Vec<String> = receiver
        .of_type("booking.confirmed")
        .iter()
        .map(|r| r.body["data"]["booking"]["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &booked {
        assert!(confirmed.contains(id), "{id} never told: {confirmed:?}");
    }
    assert_eq!(receiver.forged.load(Ordering::SeqCst), 0);
    // Once it answered, the endpoint is well: nothing failing.
    let now = app.get(&format!("/api/v1/organizations/{org}/webhooks/{endpoint_id}"), Some(&owner)).await.body;
    assert!(now["failing_since"].is_null() && now["enabled"] == true, "{now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_https_on_the_internet_for_owners_and_at_most_twenty() {
    // As in production: no WEBHOOKS_ALLOW_HTTP.
    let sink = crate::smtp::SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(3).await;
    let [owner, manager, stranger] = [&people[0], &people[1], &people[2]];
    let org = app.post("/api/v1/organizations", Some(owner), json!({"name": "Hooked GmbH"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::teams::join(&app, &sink, owner, &org, manager, "manager").await;
    let hooks = format!("/api/v1/organizations/{org}/webhooks");
    let register = |url: &str| json!({"url": url, "events": ["booking.confirmed"]});
    for url in [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.0.0.7/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://localhost:8443/in",
        "not a url",
    ] {
        let refused = app.post(&hooks, Some(owner), register(url)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {refused:?}");
        assert_eq!(refused.fields(), ["url"], "{url}");
    }
    let unknown =
        app.post(&hooks, Some(owner), json!({"url": "https://hooks.example.com/in", "events": ["booking.sold"]})).await;
    assert_eq!((unknown.status, unknown.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["events".to_owned()]));
    let none = app.post(&hooks, Some(owner), json!({"url": "https://hooks.example.com/in", "events": []})).await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Owners only: a manager is refused, a stranger learns nothing.
    assert_eq!(
        app.post(&hooks, Some(manager), register("https://hooks.example.com/m")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get(&hooks, Some(manager)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&hooks, Some(stranger)).await.status, StatusCode::NOT_FOUND);
    // Changed to a private address: refused too.
    let made = app.post(&hooks, Some(owner), register("https://hooks.example.com/one")).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let one = format!("{hooks}/{}", made.body["id"].as_str().unwrap());
    let moved = app.patch(&one, Some(owner), json!({"url": "https://192.168.0.10/in"})).await;
    assert_eq!((moved.status, moved.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["url".to_owned()]));

    // Thirty at once for the nineteen places left: nineteen get one.
    let attempts = (0..30).map(|i| {
        let (app, hooks, owner) = (&app, &hooks, owner);
        async move { app.post(hooks, Some(owner), register(&format!("https://hooks.example.com/{i}"))).await.status }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, refused), (19, 11), "{statuses:?}");
    assert_eq!(app.get(&hooks, Some(owner)).await.body.as_array().unwrap().len(), 20);
    let audit = app.get(&format!("/api/v1/organizations/{org}/audit"), Some(owner)).await.body.to_string();
    assert!(audit.contains("webhook.created"), "{audit}");
    // Turned off: nothing to test or replay until it is on again.
    let off = app.patch(&one, Some(owner), json!({"enabled": false})).await;
    assert_eq!((off.status, off.body["enabled"].as_bool()), (StatusCode::OK, Some(false)), "{off:?}");
    let test = app.post(&format!("{one}/test"), Some(owner), json!({})).await;
    assert_eq!((test.status, test.code()), (StatusCode::CONFLICT, "webhook_disabled"), "{test:?}");
    let on = app.patch(&one, Some(owner), json!({"enabled": true})).await;
    assert_eq!(on.body["enabled"], true);
    assert_eq!(app.post(&format!("{one}/test"), Some(owner), json!({})).await.status, StatusCode::ACCEPTED);
    // The log names the host, never the whole URL (a receiver's path may be its password).
    let log = app.get(&format!("/api/v1/organizations/{org}/audit"), Some(owner)).await.body.to_string();
    assert!(log.contains("hooks.example.com") && !log.contains("hooks.example.com/one"), "{log}");
    // Removed: gone with its log.
    assert_eq!(app.call(Method::DELETE, &one, Some(owner), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&one, Some(owner)).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_runs_the_webhooks_from_the_back_office() {
    let sink = crate::smtp::SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--webhooks-allow-http", "1", "--smtp-url", &sink.url()])).await;
    let people = app.users(2).await;
    let [owner, manager] = [&people[0], &people[1]];
    let org = app.post("/api/v1/organizations", Some(owner), json!({"name": "Hook Hall"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::teams::join(&app, &sink, owner, &org, manager, "manager").await;
    let receiver = Receiver::start().await;
    let email = app.get("/api/v1/me", Some(owner)).await.body["email"].as_str().unwrap().to_owned();
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let team = visit.get(&format!("/manage/organizations/{org}")).await;
    let list = format!("/manage/organizations/{org}/webhooks");
    assert!(team.body.contains(&format!("href=\"{list}\"")), "{}", team.body);
    let page = visit.get(&list).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No endpoints yet"), "{}", page.body);
    let csrf = page.hidden("csrf");

    // No event chosen and a URL that is none: each said next to its field, the input kept.
    let bad = visit.post(&list, &[("csrf", &csrf), ("url", "hooks"), ("description", "CRM")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("url-error") && bad.body.contains("events-error"), "{}", bad.body);
    assert!(bad.body.contains("value=\"CRM\""), "{}", bad.body);
    let made = visit
        .post(
            &list,
            &[("csrf", &csrf), ("url", &receiver.url), ("event:event.published", "on"), ("description", "CRM")],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let endpoint_page = made.location().split('?').next().unwrap().to_owned();
    let shown = visit.get(made.location()).await;
    assert!(shown.body.contains("Endpoint added") && shown.body.contains("whsec_"), "{}", shown.body);
    let endpoint = endpoint_page.rsplit('/').next().unwrap().to_owned();
    let secret = app.get(&format!("/api/v1/organizations/{org}/webhooks/{endpoint}"), Some(owner)).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // As the page writes it (HTML escapes the slashes of base64).
    assert!(shown.body.contains(&secret.replace('/', "&#x2f;")), "{}", shown.body);
    *receiver.secret.lock().unwrap() = secret;

    // "Send test event": it arrives, and the log says so.
    let tested = visit.post(&format!("{endpoint_page}/test"), &[("csrf", &csrf)]).await;
    assert_eq!(tested.location(), format!("{endpoint_page}?done=tested"));
    receiver.wait_for("webhook.test", |_| true).await;
    let logged = eventually(Duration::from_secs(10), "the test delivered in the log", || {
        let visit_page = endpoint_page.clone();
        let (app, email) = (&app, email.clone());
        async move {
            let mut v = crate::pages::Visit::new(app);
            v.sign_in(&email).await;
            let page = v.get(&visit_page).await;
            (page.body.contains("Delivered") && page.body.contains("204")).then_some(page.body)
        }
    })
    .await;
    assert!(logged.contains("webhook.test"), "{logged}");
    // A time that is none: said next to its field.
    let bad = visit.post(&format!("{endpoint_page}/replay"), &[("csrf", &csrf), ("since", "soon")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("since-error"), "{}", bad.body);
    let replayed =
        visit.post(&format!("{endpoint_page}/replay"), &[("csrf", &csrf), ("since", "2020-01-01T00:00")]).await;
    assert_eq!(replayed.location(), format!("{endpoint_page}?done=replayed_all"));
    eventually(Duration::from_secs(30), "the test event sent again", || {
        let n = receiver.of_type("webhook.test").len();
        async move { (n >= 2).then_some(()) }
    })
    .await;
    let off = visit.post(&format!("{endpoint_page}/disable"), &[("csrf", &csrf)]).await;
    assert!(visit.get(off.location()).await.body.contains("Turned off"));
    // A manager has no webhook pages; their own forms are refused.
    let manager_email = app.get("/api/v1/me", Some(manager)).await.body["email"].as_str().unwrap().to_owned();
    let mut as_manager = crate::pages::Visit::new(&app);
    as_manager.sign_in(&manager_email).await;
    assert_eq!(as_manager.get(&list).await.status, StatusCode::NOT_FOUND);
    assert_eq!(as_manager.get(&endpoint_page).await.status, StatusCode::NOT_FOUND);
    let theirs = as_manager.get(&format!("/manage/organizations/{org}")).await;
    assert!(!theirs.body.contains(&list), "{}", theirs.body);
    let csrf = theirs.hidden("csrf");
    assert_eq!(
        as_manager.post(&format!("{endpoint_page}/remove"), &[("csrf", &csrf)]).await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = visit.get(&list).await.hidden("csrf");
    let removed = visit.post(&format!("{endpoint_page}/remove"), &[("csrf", &csrf)]).await;
    assert_eq!(removed.location(), format!("{list}?done=removed"));
    assert!(visit.get(removed.location()).await.body.contains("Endpoint removed"));
}
