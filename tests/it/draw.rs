//! The draw, checkable by anyone: the commitment (`sha256(seed)`) is
//! published when the event is, before anyone can enter the pre-queue; once
//! drawn, the seed, the entries and the order are published, and the order
//! is recomputed from them alone, by `scripts/draw.py` (Python's own
//! ChaCha20 and SHA-256) and by the draw page's script in Chromium.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::{TestApp, accepted_ids, eventually, in_days, spawn_app};
use crate::pages::Visit;

const WITHIN: Duration = Duration::from_secs(30);

/// A published event whose sales open in a few seconds, and `buyers` in its
/// pre-queue: (event id, the commitment as published before the open, the
/// pre-queued booking ids).
async fn prequeued(app: &TestApp, buyers: usize) -> (String, Value, Vec<Uuid>) {
    let (organizer, _) = app.user().await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(5);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 500, "max_per_order": 1}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let before = app.get(&format!("/api/v1/events/{event_id}/draw"), None).await;
    assert_eq!(before.status, StatusCode::OK);
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let tokens = app.users(buyers).await;
    let replies = futures::future::join_all(tokens.iter().map(|t| app.book(t, &tt, 1, None))).await;
    let ids = accepted_ids(&replies);
    assert_eq!(ids.len(), buyers);
    (event_id, before.body, ids)
}

/// The whole draw, page by page: (first page, entries, order).
async fn published_draw(app: &TestApp, event_id: &str, limit: usize) -> (Value, Vec<String>, Vec<String>) {
    let first = eventually(WITHIN, "the pre-queue is drawn at the open", || async {
        let page = app.get(&format!("/api/v1/events/{event_id}/draw?limit={limit}"), None).await.body;
        page["seed"].is_string().then_some(page)
    })
    .await;
    let (mut entries, mut order, mut page) = (Vec::new(), Vec::new(), first.clone());
    loop {
        let ids = |field: &str| -> Vec<String> {
            page[field].as_array().unwrap().iter().map(|id| id.as_str().unwrap().to_owned()).collect()
        };
        assert!(ids("entries").len() <= limit && ids("order").len() <= limit, "pages of at most `limit`");
        entries.extend(ids("entries"));
        order.extend(ids("order"));
        let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) else { break };
        page = app.get(&format!("/api/v1/events/{event_id}/draw?limit={limit}&cursor={cursor}"), None).await.body;
    }
    (first, entries, order)
}

fn python(args: &[&str]) -> String {
    let output = std::process::Command::new("python3").args(args).output().expect("python3 runs");
    assert!(
        output.status.success(),
        "python3 {args:?} failed (scripts/draw.py needs `pip install cryptography`; .ci/run installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anyone_recomputes_the_order_from_the_published_draw_and_its_seed_is_the_one_committed_before_the_open() {
    let app = spawn_app().await;
    let (event_id, before, ids) = prequeued(&app, 40).await;
    // Before the open: the commitment, nothing that could tell the order.
    let commitment = before["commitment"].as_str().expect("a commitment from the start").to_owned();
    assert!(commitment.len() == 64 && commitment.bytes().all(|b| b.is_ascii_hexdigit()), "{before}");
    assert!(before["committed_at"].is_string());
    assert_eq!(
        (&before["seed"], &before["entries"], &before["order"], &before["drawn_at"]),
        (&json!(null), &json!([]), &json!([]), &json!(null))
    );

    let (first, entries, order) = published_draw(&app, &event_id, 15).await;
    assert_eq!(first["commitment"], commitment.as_str(), "the same commitment after the draw");
    assert_eq!(first["total"], 40);
    let seed = first["seed"].as_str().unwrap();
    let hashed =
        python(&["-c", "import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1])).hexdigest())", seed]);
    assert_eq!(hashed.trim(), commitment, "sha256(seed) is what was published before the open");

    let mut expected: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(entries, expected, "the entries are the pre-queued bookings, sorted");
    let mut args = vec!["scripts/draw.py", seed];
    args.extend(entries.iter().map(String::as_str));
    let recomputed: Vec<String> = python(&args).lines().map(str::to_owned).collect();
    assert_eq!(recomputed, order, "scripts/draw.py gives the published order from the seed and the entries");

    // And it is the order the line was served in; each buyer's page says
    // their number and links to the check.
    let positions: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT id, line_position FROM bookings WHERE id = ANY($1) ORDER BY line_position")
            .bind(&ids)
            .fetch_all(app.db())
            .await
            .unwrap();
    let served: Vec<String> = positions.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(served, order);
    let mine = ids[7];
    let place = order.iter().position(|id| *id == mine.to_string()).unwrap() + 1;
    let email: String =
        sqlx::query_scalar("SELECT u.email FROM users u JOIN bookings b ON b.user_id = u.id WHERE b.id = $1")
            .bind(mine)
            .fetch_one(app.db())
            .await
            .unwrap();
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/bookings/{mine}")).await;
    assert!(page.body.contains(&format!("You were number {place} of 40 in the draw")), "{}", page.body);
    let link = format!("/events/{event_id}/draw?booking={mine}");
    assert!(page.body.contains(&link.replace('&', "&amp;")) || page.body.contains(&link), "{}", page.body);
    let draw_page = visit.get(&link).await;
    assert_eq!(draw_page.status, StatusCode::OK);
    assert!(draw_page.body.contains(&commitment) && draw_page.body.contains(seed));

    // Pages that are not one of its pages are refused, and the limit is bounded.
    let bad = app.get(&format!("/api/v1/events/{event_id}/draw?cursor=nope"), None).await;
    assert_eq!(bad.fields(), ["cursor"]);
    let bad = app.get(&format!("/api/v1/events/{event_id}/draw?limit=10001"), None).await;
    assert_eq!(bad.fields(), ["limit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draw_page_recomputes_the_order_in_the_browser_and_finds_the_buyers_place() {
    let app = spawn_app().await;
    let (event_id, _, ids) = prequeued(&app, 25).await;
    let (_, _, order) = published_draw(&app, &event_id, 10_000).await;
    let mine = ids[3].to_string();
    let place = order.iter().position(|id| *id == mine).unwrap() + 1;

    let browser = Browser::start("draw-check").await;
    browser.goto(&app.url(&format!("/events/{event_id}/draw?booking={mine}"))).await;
    browser
        .wait_for_text(&format!(
            "Checked in your browser: the seed matches the commitment, and the order recomputed from the seed and \
             the 25 entries is the published order. Your booking is number {place} of 25."
        ))
        .await;
    let highlighted = browser
        .execute("const li = document.querySelector('#draw-order li.mine'); return li ? li.value : null;", json!([]))
        .await;
    assert_eq!(highlighted, json!(place), "the buyer's own place is marked in the list");
    browser.accessibility().await;
    browser.screenshot("draw-1280").await;
    // On a phone: the long seed and ids wrap instead of widening the page.
    let phone = Browser::start_with("draw-phone", &["--window-size=375,812".to_owned()]).await;
    phone.goto(&app.url(&format!("/events/{event_id}/draw?booking={mine}"))).await;
    phone.wait_for_text("Checked in your browser").await;
    let fits = phone.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
    assert_eq!(fits, json!(true), "no sideways scrolling at 375 px");
    phone.screenshot("draw-375").await;

    // A seed that does not match what was committed is caught.
    sqlx::query("UPDATE draws SET seed = $2 WHERE event_id = $1::uuid")
        .bind(&event_id)
        .bind(vec![7u8; 32])
        .execute(app.db())
        .await
        .unwrap();
    browser.click("Check the draw").await;
    browser.wait_for_text("The seed does not match the commitment.").await;
}
