//! Issue 31, the door offline (server side): a device keeps the check-in
//! list (codes as SHA-256 hashes), uploads its scans later; each scan is
//! applied once (its nonce), earliest first: the first scan of a ticket
//! admits it, later ones are duplicates told with who admitted it, where
//! and when; a check-in list admits its ticket types only.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{TestApp, spawn_app};

async fn codes(app: &TestApp, buyer: &str, booking: uuid::Uuid) -> Vec<String> {
    let booking = app.get(&format!("/api/v1/bookings/{booking}"), Some(buyer)).await.body;
    booking["tickets"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect()
}

fn scan(nonce: &str, code: &str, minutes_ago: i64) -> Value {
    json!({"nonce": nonce, "code": code, "scanned_at": (Utc::now() - Duration::minutes(minutes_ago)).to_rfc3339()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_made_offline_apply_once_in_the_order_they_were_made() {
    let app = spawn_app().await;
    let people = app.users(3).await;
    let [owner, buyer, stranger] = [&people[0], &people[1], &people[2]];
    let event = app
        .published_event(
            owner,
            json!({"ticket_types": [
                {"name": "Standard", "price_cents": 0, "capacity": 20, "max_per_order": 4},
                {"name": "VIP", "price_cents": 0, "capacity": 5}]}),
        )
        .await;
    let id = event["id"].as_str().unwrap().to_owned();
    let tt = |i: usize| event["ticket_types"][i]["id"].as_str().unwrap().to_owned();
    let standard = codes(&app, buyer, app.book_final(buyer, &tt(0), 3).await).await;
    let vip = codes(&app, buyer, app.book_final(buyer, &tt(1), 1).await).await;
    let spare = app.book_final(buyer, &tt(0), 1).await;
    let void = codes(&app, buyer, spare).await;
    assert_eq!(
        app.post(&format!("/api/v1/bookings/{spare}/cancel"), Some(buyer), json!({})).await.status,
        StatusCode::OK
    );

    // The list a device keeps: hashes, never the codes.
    let offline = app.get(&format!("/api/v1/events/{id}/check-ins/offline"), Some(owner)).await;
    assert_eq!(offline.status, StatusCode::OK, "{offline:?}");
    let text = offline.body.to_string();
    assert!(standard.iter().all(|c| !text.contains(c.as_str())), "a code in the offline list");
    let hash =
        |code: &str| sha2::Sha256::digest(code.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let tickets = offline.body["tickets"].as_array().unwrap();
    let entry = tickets.iter().find(|t| t["hash"] == hash(&standard[0]).as_str()).expect("each ticket by its hash");
    assert_eq!((entry["status"].as_str(), entry["ticket_type"].as_str()), (Some("valid"), Some("Standard")));
    let voided = tickets.iter().find(|t| t["hash"] == hash(&void[0]).as_str()).unwrap();
    assert_eq!(voided["status"], "void");
    assert_eq!(
        app.get(&format!("/api/v1/events/{id}/check-ins/offline"), Some(stranger)).await.status,
        StatusCode::FORBIDDEN
    );

    // Device A, Gate A: two tickets, one of them twice, a code that is none, a void one.
    let sync = format!("/api/v1/events/{id}/check-ins/sync");
    let upload = json!({"device_id": "device-a", "gate": "Gate A", "scans": [
        scan("a1", &standard[0], 30), scan("a2", &standard[1], 29), scan("a3", &standard[0], 27),
        scan("a4", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ", 26), scan("a5", &void[0], 25)]});
    let first = app.post(&sync, Some(owner), upload.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let outcomes = |reply: &Value| -> Vec<String> {
        reply["scans"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(outcomes(&first.body), ["admitted", "admitted", "duplicate", "unknown", "void"], "{first:?}");
    assert_eq!(first.body["scans"][2]["admitted_gate"], "Gate A");
    // The same upload again (the answer was lost): nothing applied twice.
    let again = app.post(&sync, Some(owner), upload).await;
    assert_eq!(outcomes(&again.body), outcomes(&first.body));
    let (scans,): (i64,) = sqlx::query_as("SELECT count(*) FROM door_scans WHERE event_id = $1::uuid")
        .bind(&id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(scans, 5);

    // Device B, Gate B, uploads later: its scan of the second ticket was
    // made before A's, so it admitted it and A's is the duplicate; its scan
    // of the first ticket came after A's: a duplicate, told where and when.
    let b = app
        .post(
            &sync,
            Some(owner),
            json!({"device_id": "device-b", "gate": "Gate B", "scans": [
            scan("b1", &standard[1], 40), scan("b2", &standard[0], 5), scan("b3", &standard[2], 4)]}),
        )
        .await;
    assert_eq!(outcomes(&b.body), ["admitted", "duplicate", "admitted"], "{b:?}");
    assert_eq!(b.body["scans"][1]["admitted_gate"], "Gate A", "{b:?}");
    assert!(b.body["scans"][1]["admitted_at"].is_string());
    let second: Vec<(String, String)> =
        sqlx::query_as("SELECT device_id, outcome FROM door_scans WHERE ticket_code = $1 ORDER BY scanned_at")
            .bind(&standard[1])
            .fetch_all(app.db())
            .await
            .unwrap();
    assert_eq!(second, [("device-b".into(), "admitted".into()), ("device-a".into(), "duplicate".into())]);
    // The server, the ticket and the attendee list agree.
    let ticket = app.get(&format!("/api/v1/tickets/{}", standard[1]), Some(owner)).await.body;
    assert_eq!(ticket["status"], "checked_in", "{ticket}");
    let csv = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/events/{id}/attendees.csv")))
        .bearer_auth(owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().filter(|l| l.contains(",checked_in,")).count(), 3, "{csv}");
    // The online door sees the offline admissions.
    let online = app.post(&format!("/api/v1/events/{id}/check-ins"), Some(owner), json!({"code": standard[2]})).await;
    assert_eq!(online.status, StatusCode::CONFLICT, "{online:?}");

    // A check-in list: the VIP entrance admits VIP tickets only.
    let lists = format!("/api/v1/events/{id}/check-in-lists");
    let bad = app.post(&lists, Some(owner), json!({"name": "VIP entrance", "ticket_type_ids": []})).await;
    assert_eq!(bad.fields(), ["ticket_type_ids"], "{bad:?}");
    let made = app.post(&lists, Some(owner), json!({"name": "VIP entrance", "ticket_type_ids": [tt(1)]})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let taken = app.post(&lists, Some(owner), json!({"name": "VIP entrance", "ticket_type_ids": [tt(1)]})).await;
    assert_eq!(taken.fields(), ["name"]);
    let list = made.body["id"].as_str().unwrap();
    let vip_door = app
        .post(
            &sync,
            Some(owner),
            json!({"device_id": "device-c", "gate": "VIP", "list_id": list, "scans": [
            scan("c1", &standard[2], 3), scan("c2", &vip[0], 2)]}),
        )
        .await;
    assert_eq!(outcomes(&vip_door.body), ["not_valid_here", "admitted"], "{vip_door:?}");
    let offline = app.get(&format!("/api/v1/events/{id}/check-ins/offline"), Some(owner)).await.body;
    assert_eq!(offline["lists"][0]["name"], "VIP entrance");

    // A person the device turned away (its list was older) is not let in
    // later by the upload: the door's word at the time stands.
    let late = codes(&app, buyer, app.book_final(buyer, &tt(0), 1).await).await;
    let mut turned_away = scan("d1", &late[0], 1);
    turned_away["admitted"] = json!(false);
    let refused = app.post(&sync, Some(owner), json!({"device_id": "device-d", "scans": [turned_away]})).await;
    assert_eq!(outcomes(&refused.body), ["refused"], "{refused:?}");
    let still = app.get(&format!("/api/v1/tickets/{}", late[0]), Some(owner)).await.body;
    assert_eq!(still["status"], "valid", "{still}");

    // What an upload may not be.
    let nobody = app.post(&sync, Some(owner), json!({"device_id": "", "scans": []})).await;
    assert_eq!(nobody.fields(), ["device_id"]);
    let many: Vec<Value> = (0..501).map(|i| scan(&format!("m{i}"), &standard[0], 1)).collect();
    let too_many = app.post(&sync, Some(owner), json!({"device_id": "device-d", "scans": many})).await;
    assert_eq!(too_many.fields(), ["scans"]);
    let unknown_list = app
        .post(&sync, Some(owner), json!({"device_id": "device-d", "list_id": uuid::Uuid::now_v7(), "scans": []}))
        .await;
    assert_eq!(unknown_list.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post(&sync, Some(stranger), json!({"device_id": "x", "scans": []})).await.status,
        StatusCode::FORBIDDEN
    );
}

/// Scans `code` on the offline door page (typed, then Enter).
async fn scan_in(browser: &crate::browser::Browser, code: &str) {
    browser.type_into("#code", &format!("{code}\u{E007}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_door_page_works_offline_and_two_devices_agree_once_back() {
    let sink = crate::smtp::SmtpSink::start().await;
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(4).await;
    let [owner, buyer, door_a, door_b] = [&people[0], &people[1], &people[2], &people[3]];
    let org = app.get("/api/v1/me", Some(owner)).await.body["id"].as_str().unwrap().to_owned();
    for door in [door_a, door_b] {
        crate::teams::join(&app, &sink, owner, &org, door, "door").await;
    }
    let (event, tt) = app.on_sale(owner, 20, 4).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let tickets = codes(&app, buyer, app.book_final(buyer, &tt, 4).await).await;
    let email = |token: &str| {
        let (app, token) = (&app, token.to_owned());
        async move { app.get("/api/v1/me", Some(&token)).await.body["email"].as_str().unwrap().to_owned() }
    };
    let page = app.url(&format!("/manage/events/{id}/door/offline"));

    // Two door devices open the page online: each keeps the list.
    let mut devices = Vec::new();
    for (name, token, gate) in [("door-a", door_a, "Gate A"), ("door-b", door_b, "Gate B")] {
        // Device B is a phone.
        let size = if name == "door-b" { "375,812" } else { "1280,900" };
        let browser = crate::browser::Browser::start_with(name, &[format!("--window-size={size}")]).await;
        browser.sign_in(&app.url(""), &email(token).await).await;
        browser.goto(&page).await;
        browser.wait_for_text("4 tickets on this device").await;
        browser
            .execute(
                "var g = document.getElementById('gate'); g.value = arguments[0]; g.dispatchEvent(new Event('change'));",
                json!([gate]),
            )
            .await;
        devices.push(browser);
    }
    devices[0].accessibility().await;

    // The venue's connection goes: device A admits three tickets, one of them twice.
    for device in &devices {
        device.network(false).await;
        device.wait_for_text("Offline").await;
    }
    let a = &devices[0];
    for code in &tickets[..3] {
        scan_in(a, code).await;
        a.wait_for_text("Admitted").await;
    }
    scan_in(a, &tickets[0]).await;
    a.wait_for_text("Already admitted").await;
    a.wait_for_text("4 scans waiting").await;
    // Device B, offline too, admits the first ticket again (it cannot know).
    let b = &devices[1];
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    scan_in(b, &tickets[0]).await;
    b.wait_for_text("Admitted").await;
    b.wait_for_text("1 scan waiting").await;
    let (none,): (i64,) = sqlx::query_as("SELECT count(*) FROM door_scans WHERE event_id = $1::uuid")
        .bind(&id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(none, 0, "nothing reached the server while offline");

    // Back online: the scans go up; the server, the attendee list and the
    // second device agree; B is told A admitted the ticket first.
    a.network(true).await;
    a.wait_for_text("All scans sent").await;
    b.network(true).await;
    b.wait_for_text("All scans sent").await;
    b.wait_for_text("already admitted at Gate A").await;
    b.accessibility().await;
    b.screenshot("door-offline-375").await;
    a.screenshot("door-offline-1280").await;
    let outcomes: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT ticket_code, device_id, outcome FROM door_scans WHERE event_id = $1::uuid ORDER BY scanned_at",
    )
    .bind(&id)
    .fetch_all(app.db())
    .await
    .unwrap();
    let admitted: Vec<&String> = outcomes.iter().filter(|o| o.2 == "admitted").map(|o| &o.0).collect();
    assert_eq!(admitted.len(), 3, "{outcomes:?}");
    let first: Vec<&(String, String, String)> = outcomes.iter().filter(|o| o.0 == tickets[0]).collect();
    assert_eq!(first.iter().filter(|o| o.2 == "admitted").count(), 1, "{first:?}");
    // A's second scan it turned away itself ("Already admitted"); B's, which
    // let the person in, is the conflict.
    let outcomes_of_first: Vec<&str> = first.iter().map(|o| o.2.as_str()).collect();
    assert_eq!(outcomes_of_first, ["admitted", "refused", "duplicate"], "{first:?}");
    let ticket = app.get(&format!("/api/v1/tickets/{}", tickets[0]), Some(owner)).await.body;
    assert_eq!(ticket["status"], "checked_in");
    let untouched = app.get(&format!("/api/v1/tickets/{}", tickets[3]), Some(owner)).await.body;
    assert_eq!(untouched["status"], "valid");
    // Device B's list, refreshed, knows A's admissions.
    b.goto(&page).await;
    b.wait_for_text("All scans sent").await;
    scan_in(b, &tickets[1]).await;
    b.wait_for_text("Already admitted").await;
    b.wait_for_text("At Gate A").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_makes_a_check_in_list_in_the_back_office() {
    let app = spawn_app().await;
    let owner = app.users(1).await.remove(0);
    let event = app
        .published_event(
            &owner,
            json!({"ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 20},
                                    {"name": "VIP", "price_cents": 0, "capacity": 5}]}),
        )
        .await;
    let id = event["id"].as_str().unwrap().to_owned();
    let vip = event["ticket_types"][1]["id"].as_str().unwrap().to_owned();
    let email = app.get("/api/v1/me", Some(&owner)).await.body["email"].as_str().unwrap().to_owned();
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let door = visit.get(&format!("/manage/events/{id}/door")).await;
    let lists = format!("/manage/events/{id}/door/lists");
    assert!(door.body.contains(&format!("href=\"{lists}\"")), "{}", door.body);
    let page = visit.get(&lists).await;
    assert!(page.body.contains("No lists yet"), "{}", page.body);
    let csrf = page.hidden("csrf");
    // No type chosen: said next to the choice, the name kept.
    let bad = visit.post(&lists, &[("csrf", &csrf), ("name", "VIP entrance")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("types-error") && bad.body.contains("value=\"VIP entrance\""), "{}", bad.body);
    let field = format!("type:{vip}");
    let made = visit.post(&lists, &[("csrf", &csrf), ("name", "VIP entrance"), (&field, "on")]).await;
    assert_eq!((made.status, made.location()), (StatusCode::SEE_OTHER, lists.as_str()));
    let shown = visit.get(&lists).await;
    assert!(shown.body.contains("<strong>VIP entrance</strong>: VIP"), "{}", shown.body);
    let api = app.get(&format!("/api/v1/events/{id}/check-in-lists"), Some(&owner)).await.body;
    assert_eq!(api[0]["ticket_type_ids"][0], vip.as_str(), "{api}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_door_reads_a_ticket_with_the_camera_without_a_connection() {
    let app = spawn_app().await;
    let people = app.users(2).await;
    let [owner, buyer] = [&people[0], &people[1]];
    let (event, tt) = app.on_sale(owner, 10, 2).await;
    let id = event["id"].as_str().unwrap().to_owned();
    let code = codes(&app, buyer, app.book_final(buyer, &tt, 1).await).await.remove(0);
    let email = app.get("/api/v1/me", Some(owner)).await.body["email"].as_str().unwrap().to_owned();
    let video = crate::browser::camera_showing(&code);
    let switches = [
        "--use-fake-device-for-media-stream".to_owned(),
        "--use-fake-ui-for-media-stream".to_owned(),
        format!("--use-file-for-fake-video-capture={}", video.display()),
    ];
    let browser = crate::browser::Browser::start_with("door-offline-camera", &switches).await;
    browser.sign_in(&app.url(""), &email).await;
    browser.goto(&app.url(&format!("/manage/events/{id}/door/offline"))).await;
    browser.wait_for_text("1 ticket on this device").await;
    browser.network(false).await;
    browser.wait_for_text("Offline").await;
    browser.click("Scan with camera").await;
    browser.wait_for_text("Admitted").await;
    // Still reading: the same ticket, seen again, is turned away here.
    browser.wait_for_text("Already admitted").await;
    browser.click("Stop camera").await;
    browser.network(true).await;
    browser.wait_for_text("All scans sent").await;
    let ticket = app.get(&format!("/api/v1/tickets/{code}"), Some(owner)).await.body;
    assert_eq!(ticket["status"], "checked_in", "{ticket}");
    let _ = std::fs::remove_file(video);
}
