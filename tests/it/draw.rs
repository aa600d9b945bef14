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
    published_draw_of(app, event_id, "", limit).await
}

/// The same for the draw `round` names (`&presale_at=…`, or "" for the event's own).
async fn published_draw_of(
    app: &TestApp,
    event_id: &str,
    round: &str,
    limit: usize,
) -> (Value, Vec<String>, Vec<String>) {
    let first = eventually(WITHIN, "the pre-queue is drawn at the open", || async {
        let page = app.get(&format!("/api/v1/events/{event_id}/draw?limit={limit}{round}"), None).await.body;
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
        page =
            app.get(&format!("/api/v1/events/{event_id}/draw?limit={limit}&cursor={cursor}{round}"), None).await.body;
    }
    (first, entries, order)
}

/// The booking's page as its buyer sees it, signed in.
async fn booking_page(app: &TestApp, booking: Uuid) -> (Visit, crate::pages::Page) {
    let email: String =
        sqlx::query_scalar("SELECT u.email FROM users u JOIN bookings b ON b.user_id = u.id WHERE b.id = $1")
            .bind(booking)
            .fetch_one(app.db())
            .await
            .unwrap();
    let mut visit = Visit::new(app);
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/bookings/{booking}")).await;
    (visit, page)
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
    let (mut visit, page) = booking_page(&app, mine).await;
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

async fn statuses(app: &TestApp, ids: &[Uuid]) -> Vec<String> {
    sqlx::query_scalar("SELECT status FROM bookings WHERE id = ANY($1)").bind(ids).fetch_all(app.db()).await.unwrap()
}

/// The time `seconds` from now, in whole seconds (as stored and compared).
fn whole_seconds_from_now(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    let at = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    chrono::DateTime::from_timestamp(at.timestamp(), 0).unwrap()
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presales_holders_are_drawn_when_it_opens_and_served_before_the_events_own_pre_queue() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let presale_at = whole_seconds_from_now(5);
    let sales_start = whole_seconds_from_now(25);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": rfc3339(sales_start), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 500, "max_per_order": 1}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let made = app
        .post(
            &format!("/api/v1/events/{event_id}/codes"),
            Some(&organizer),
            json!({"code": "FANCLUB", "kind": "percent", "value": 10, "presale_from": rfc3339(presale_at)}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!(made.body["items"][0]["presale_from"], rfc3339(presale_at), "{made:?}");
    let round = format!("&presale_at={}", rfc3339(presale_at));
    // Its commitment is public from the code's making, before anyone entered.
    let before = app.get(&format!("/api/v1/events/{event_id}/draw?limit=10{round}"), None).await;
    assert_eq!(before.status, StatusCode::OK, "{before:?}");
    let commitment = before.body["commitment"].as_str().expect("a presale's commitment").to_owned();
    assert_eq!((&before.body["seed"], &before.body["presale_at"]), (&json!(null), &json!(rfc3339(presale_at))));
    let unknown = app.get(&format!("/api/v1/events/{event_id}/draw?presale_at={}", rfc3339(sales_start)), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "no presale then");

    // The event's own pre-queue, and the presale's, fill at once.
    let everyone = app.users(10).await;
    let fans = app.users(20).await;
    let booked = |token: String, code: Option<&'static str>| {
        let (app, tt) = (&app, tt.clone());
        async move {
            let mut body = json!({"ticket_type_id": tt, "quantity": 1});
            if let Some(code) = code {
                body["code"] = json!(code);
            }
            app.post("/api/v1/bookings", Some(&token), body).await
        }
    };
    let (general, presale) = futures::future::join(
        futures::future::join_all(everyone.iter().cloned().map(|t| booked(t, None))),
        futures::future::join_all(fans.iter().cloned().map(|t| booked(t, Some("fan-club")))),
    )
    .await;
    let (general, presale) = (accepted_ids(&general), accepted_ids(&presale));
    assert_eq!((general.len(), presale.len()), (10, 20));
    let waiting = app.get(&format!("/api/v1/bookings/{}", presale[0]), Some(&fans[0])).await.body;
    assert_eq!(waiting["queue"]["phase"], "prequeue", "{waiting}");

    // The presale is drawn when it opens, and its buyers served, while the
    // event's own pre-queue still waits for the sales start.
    let (first, entries, order) = published_draw_of(&app, &event_id, &round, 7).await;
    assert_eq!((first["commitment"].as_str(), first["total"].as_i64()), (Some(commitment.as_str()), Some(20)));
    let seed = first["seed"].as_str().unwrap().to_owned();
    let hashed =
        python(&["-c", "import hashlib,sys; print(hashlib.sha256(bytes.fromhex(sys.argv[1])).hexdigest())", &seed]);
    assert_eq!(hashed.trim(), commitment, "sha256(seed) is what was published when the code was made");
    let mut expected: Vec<String> = presale.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(entries, expected, "the presale's entries are its holders' requests, and only theirs");
    let mut args = vec!["scripts/draw.py", seed.as_str()];
    args.extend(entries.iter().map(String::as_str));
    let recomputed: Vec<String> = python(&args).lines().map(str::to_owned).collect();
    assert_eq!(recomputed, order, "scripts/draw.py gives the presale's published order");
    eventually(WITHIN, "the presale's buyers are served", || async {
        let rows = statuses(&app, &presale).await;
        (rows.len() == 20 && rows.iter().all(|s| s == "confirmed")).then_some(())
    })
    .await;
    let general_now = statuses(&app, &general).await;
    assert!(general_now.iter().all(|s| s == "pending"), "the sales start has not come: {general_now:?}");
    let plain = app.get(&format!("/api/v1/bookings/{}", general[0]), Some(&everyone[0])).await.body;
    assert_eq!(plain["queue"]["phase"], "prequeue", "{plain}");
    assert_eq!(plain["queue"]["draw_at"], rfc3339(sales_start), "{plain}");

    // A fan booking after the presale opened goes straight into the line.
    let (late_fan, _) = app.user().await;
    let late = accepted_ids(&[booked(late_fan.clone(), Some("FANCLUB")).await])[0];
    eventually(WITHIN, "a fan in the open presale is served at once", || async {
        (statuses(&app, &[late]).await == ["confirmed"]).then_some(())
    })
    .await;

    // At the sales start the event's own pre-queue is drawn, behind the presale.
    let (main, main_entries, main_order) = published_draw(&app, &event_id, 100).await;
    assert_eq!(main["total"], 10);
    let mut expected: Vec<String> = general.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(main_entries, expected, "the event's draw has only its own pre-queue");
    let main_seed = main["seed"].as_str().unwrap();
    let mut args = vec!["scripts/draw.py", main_seed];
    args.extend(main_entries.iter().map(String::as_str));
    let recomputed: Vec<String> = python(&args).lines().map(str::to_owned).collect();
    assert_eq!(recomputed, main_order);
    let line: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM bookings WHERE event_id = $1::uuid AND line_position IS NOT NULL ORDER BY line_position",
    )
    .bind(&event_id)
    .fetch_all(app.db())
    .await
    .unwrap();
    let line: Vec<String> = line.iter().map(Uuid::to_string).collect();
    assert_eq!(line.len(), 31, "{line:?}");
    assert_eq!(line[..20], order[..], "the presale's draw first");
    assert_eq!(line[20], late.to_string(), "then the presale's later buyer");
    assert_eq!(line[21..], main_order[..], "then the event's own draw");

    // A fan's page says their place in the presale's draw and links to its check.
    let mine = presale[4];
    let place = order.iter().position(|id| *id == mine.to_string()).unwrap() + 1;
    let (mut visit, page) = booking_page(&app, mine).await;
    assert!(page.body.contains(&format!("You were number {place} of 20 in the presale's draw")), "{}", page.body);
    let link =
        format!("/events/{event_id}/draw?booking={mine}&amp;presale_at={}", rfc3339(presale_at).replace(':', "%3A"));
    assert!(page.body.contains(&link), "{link} in {}", page.body);
    let draw_page = visit.get(&link.replace("&amp;", "&")).await;
    assert_eq!(draw_page.status, StatusCode::OK);
    assert!(draw_page.body.contains("The presale&#x27;s draw") || draw_page.body.contains("The presale's draw"));
    assert!(draw_page.body.contains(&commitment) && draw_page.body.contains(&seed), "{}", draw_page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presale_opens_its_holders_pre_queue_early_and_keeps_its_time_once_open() {
    let app = spawn_app().await;
    let organizer_email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&organizer_email).await.status, StatusCode::CREATED);
    let reply = app.login(&organizer_email, crate::helpers::PASSWORD).await;
    let organizer = reply.body["access_token"].as_str().unwrap().to_owned();
    let (buyer, _) = app.user().await;
    let sales_start = whole_seconds_from_now(3 * 3600);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": rfc3339(sales_start), "prequeue_minutes": 30,
                   "timezone": "UTC",
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 50, "max_per_order": 2}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let codes = format!("/api/v1/events/{event_id}/codes");
    let code = |name: &str, presale: chrono::DateTime<chrono::Utc>| json!({"code": name, "kind": "percent", "value": 10, "presale_from": rfc3339(presale)});
    // A presale comes before the sales start.
    let late = app.post(&codes, Some(&organizer), code("LATE", sales_start)).await;
    assert_eq!((late.status, late.fields()), (StatusCode::UNPROCESSABLE_ENTITY, vec!["presale_from".to_owned()]));
    let soon = whole_seconds_from_now(3600);
    let later = app.post(&codes, Some(&organizer), code("LATER", soon)).await;
    assert_eq!(later.status, StatusCode::CREATED, "{later:?}");
    let near = app.post(&codes, Some(&organizer), code("NEAR", whole_seconds_from_now(600))).await;
    assert_eq!(near.status, StatusCode::CREATED, "{near:?}");

    let book = |code: Option<&str>| {
        let mut body = json!({"ticket_type_id": tt, "quantity": 1});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        app.post("/api/v1/bookings", Some(&buyer), body)
    };
    // Without a code: from the event's own pre-queue, 30 minutes before the sales start.
    let plain = book(None).await;
    assert_eq!((plain.status, plain.code()), (StatusCode::CONFLICT, "sales_closed"), "{plain:?}");
    assert_eq!(plain.body["opens_at"], rfc3339(sales_start - chrono::Duration::minutes(30)), "{plain:?}");
    // A presale an hour away: its pre-queue opens 30 minutes before it.
    let early = book(Some("later")).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "sales_closed"), "{early:?}");
    assert_eq!(early.body["opens_at"], rfc3339(soon - chrono::Duration::minutes(30)), "{early:?}");
    // One ten minutes away takes requests into its pre-queue now.
    let taken = book(Some("NEAR")).await;
    assert_eq!(taken.status, StatusCode::ACCEPTED, "{taken:?}");
    let id = taken.body["id"].as_str().unwrap();
    let waiting = crate::helpers::eventually(WITHIN, "the request waits for the presale's draw", || async {
        let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await.body;
        (booking["queue"]["phase"] == "prequeue" && booking["queue"]["draw_at"].is_string()).then_some(booking)
    })
    .await;
    let draw_at: chrono::DateTime<chrono::Utc> = waiting["queue"]["draw_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        draw_at,
        chrono::DateTime::parse_from_rfc3339(near.body["items"][0]["presale_from"].as_str().unwrap()).unwrap()
    );
    let parked = crate::helpers::eventually(WITHIN, "the worker parks it", || async {
        let parked: Option<Option<chrono::DateTime<chrono::Utc>>> =
            sqlx::query_scalar("SELECT presale_at FROM bookings WHERE id = $1::uuid AND prequeued")
                .bind(id)
                .fetch_optional(app.db())
                .await
                .unwrap();
        parked
    })
    .await;
    assert_eq!(parked, Some(draw_at), "parked for the presale's draw, not the event's");

    // Its time no longer moves once its pre-queue is open; the other's still does.
    let near_id = near.body["items"][0]["id"].as_str().unwrap();
    let moved = app
        .patch(
            &format!("{codes}/{near_id}"),
            Some(&organizer),
            json!({"presale_from": rfc3339(whole_seconds_from_now(1200))}),
        )
        .await;
    assert_eq!((moved.status, moved.code()), (StatusCode::CONFLICT, "presale_open"), "{moved:?}");
    let later_id = later.body["items"][0]["id"].as_str().unwrap();
    let moved = app
        .patch(
            &format!("{codes}/{later_id}"),
            Some(&organizer),
            json!({"presale_from": rfc3339(soon + chrono::Duration::minutes(5))}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{moved:?}");
    assert_eq!(moved.body["presale_from"], rfc3339(soon + chrono::Duration::minutes(5)));
    let committed = app
        .get(
            &format!("/api/v1/events/{event_id}/draw?presale_at={}", rfc3339(soon + chrono::Duration::minutes(5))),
            None,
        )
        .await;
    assert!(committed.body["commitment"].is_string(), "the moved presale is committed too: {committed:?}");
    let bad = app.get(&format!("/api/v1/events/{event_id}/draw?presale_at=tomorrow"), None).await;
    assert_eq!(bad.fields(), ["presale_at"]);

    // The buyer's event page with the code says when its presale opens, and
    // links to its draw, which has its own page.
    let mut visit = Visit::new(&app);
    let page = visit.get(&format!("/events/{event_id}?code=near")).await;
    assert!(page.body.contains("Your code opens a presale on"), "{}", page.body);
    let link = format!("/events/{event_id}/draw?presale_at=");
    let at = page.body.find(&link).expect("a link to the presale's draw");
    let href = page.body[at..].split('"').next().unwrap().to_owned();
    let draw_page = visit.get(&href).await;
    assert_eq!(draw_page.status, StatusCode::OK, "{href}");
    assert!(draw_page.body.contains("presale"), "{}", draw_page.body);
    assert!(draw_page.body.contains("kept secret until the draw"), "{}", draw_page.body);
    let plain_page = visit.get(&format!("/events/{event_id}")).await;
    assert!(!plain_page.body.contains("opens a presale"), "only with the code");

    // The organizer makes one on the codes page; one after the sales start is
    // refused next to its field.
    let mut office = Visit::new(&app);
    office.sign_in(&organizer_email).await;
    let codes_page = office.get(&format!("/manage/events/{event_id}/codes")).await;
    let csrf = codes_page.hidden("csrf");
    let local = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M").to_string();
    let (fine, too_late) =
        (local(soon + chrono::Duration::minutes(20)), local(sales_start + chrono::Duration::minutes(1)));
    let form = |code: &'static str, presale: &str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "percent".to_owned()),
            ("value", "10".to_owned()),
            ("code", code.to_owned()),
            ("presale_from", presale.to_owned()),
        ]
    };
    let refused = form("TOOLATE", &too_late);
    let refused: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = office.post(&format!("/manage/events/{event_id}/codes"), &refused).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.body);
    assert!(answer.body.contains("must be before the sales start"), "{}", answer.body);
    let made = form("MEMBERS", &fine);
    let made: Vec<(&str, &str)> = made.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = office.post(&format!("/manage/events/{event_id}/codes"), &made).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let listed = office.get(&format!("/manage/events/{event_id}/codes")).await;
    assert!(listed.body.contains("MEMBE-RS") && listed.body.contains("presale from"), "{}", listed.body);

    // The schedule keeps its promises: the sales start stays after every
    // presale, and a pre-queue's length is fixed once one opened.
    let event_path = format!("/api/v1/events/{event_id}");
    let before_presale = rfc3339(soon - chrono::Duration::minutes(1));
    let moved = app.patch(&event_path, Some(&organizer), json!({"sales_start": before_presale})).await;
    assert_eq!((moved.status, moved.code()), (StatusCode::CONFLICT, "presale_after_start"), "{moved:?}");
    let shorter = app.patch(&event_path, Some(&organizer), json!({"prequeue_minutes": 20})).await;
    assert_eq!((shorter.status, shorter.code()), (StatusCode::CONFLICT, "prequeue_open"), "{shorter:?}");
    let later_start = rfc3339(sales_start + chrono::Duration::hours(1));
    let fine = app.patch(&event_path, Some(&organizer), json!({"sales_start": later_start})).await;
    assert_eq!(fine.status, StatusCode::OK, "a start moved later keeps every presale before it: {fine:?}");
    let far = app
        .post(&codes, Some(&organizer), json!({"kind": "percent", "value": 5, "presale_from": "-5000-01-01T00:00:00Z"}))
        .await;
    assert_eq!(far.fields(), ["presale_from"], "{far:?}");

    // A cancelled event's presale pre-queue is not left waiting for its time.
    let cancelled = app.post(&format!("/api/v1/events/{event_id}/cancel"), Some(&organizer), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    crate::helpers::eventually(WITHIN, "the waiting request is decided", || async {
        let status: String = sqlx::query_scalar("SELECT status FROM bookings WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(app.db())
            .await
            .unwrap();
        (status != "pending").then_some(status)
    })
    .await;

    // An event that opens its sales when published has no presale.
    let open = app.on_sale(&organizer, 10, 2).await;
    let open_id = open.0["id"].as_str().unwrap();
    let refused = app.post(&format!("/api/v1/events/{open_id}/codes"), Some(&organizer), code("EARLY", soon)).await;
    assert_eq!(refused.fields(), ["presale_from"], "{refused:?}");
}
