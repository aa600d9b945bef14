//! The shop in a real browser (Chromium headless, through `browser.rs`): a
//! person signs up, follows the emailed link, finds an event, books, pays
//! (offline: the organizer marks it paid), sees the tickets with their QR
//! codes, cancels, and signs out in another tab.

use serde_json::json;
use uuid::Uuid;

use crate::browser::Browser;
use crate::helpers::{TestApp, in_days, spawn_app_with, test_config};
use crate::smtp::SmtpSink;

/// The path and query of the verification link in the newest email to `to`.
async fn verification_link(sink: &SmtpSink, to: &str) -> String {
    for _ in 0..400 {
        if let Some(message) = sink.messages().into_iter().rev().find(|m| m.to == [to]) {
            let data = message.data.replace("=\r\n", "").replace("=3D", "=");
            let start = data.find("/verify?token=").expect("a verification link");
            return data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/?=-_".contains(*c)).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no email reached {to}");
}

/// The ticket codes a QR image on the page carries, read from its pixels.
async fn qr_codes_on_page(browser: &Browser, count: usize) -> Vec<String> {
    let mut codes = Vec::new();
    for n in 1..=count {
        let png = browser.element_png(&format!(".tickets li:nth-child({n}) img")).await;
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        let channels = info.color_type.samples();
        let (w, h) = (info.width as usize, info.height as usize);
        let mut gray = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[(y * w + x) * channels]);
        let grids = gray.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in image {n}");
        codes.push(grids[0].decode().expect("a readable QR code").1);
    }
    codes
}

async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    spawn_app_with(test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_books_pays_offline_sees_the_tickets_and_cancels_in_a_browser() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let (organizer, _) = app.user().await;
    let title = format!("Browser Gala {}", Uuid::new_v4().simple());
    let event = app
        .published_event(
            &organizer,
            json!({"title": title, "starts_at": in_days(20),
                   "ticket_types": [{"name": "Standard", "price_cents": 2500, "capacity": 5, "max_per_order": 4}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let browser = Browser::start("shop-offline").await;

    // Sign up, then the link from the email.
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    browser.goto(&format!("{}/register", app.base)).await;
    browser.accessibility().await;
    browser.fill("Name", "Grace Hopper").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", "a long enough password").await;
    browser.click("Create account").await;
    browser.wait_for_text("We sent you an email").await;
    browser.accessibility().await;
    browser.wait_for_text("Sign out").await;
    let link = verification_link(&sink, &email).await;
    browser.goto(&format!("{}{link}", app.base)).await;
    browser.wait_for_text("Verify your email").await;
    browser.accessibility().await;
    browser.click("Verify my email").await;
    browser.wait_for_text("Email verified").await;
    browser.accessibility().await;

    // Find the event, book two seats.
    browser.goto(&format!("{}/", app.base)).await;
    browser.fill("Search events", &title).await;
    browser.click("Search").await;
    browser.wait_for_text(&title).await;
    browser.accessibility().await;
    browser.execute("document.querySelector('.cards a').click()", json!([])).await;
    browser.wait_for_text("5 left").await;
    browser.wait_for_text("25.00 EUR").await;
    browser.accessibility().await;
    browser.fill("Quantity", "2").await;
    browser.click("Book").await;
    browser.wait_for_text("Pay within").await;
    browser.wait_for_text("50.00 EUR").await;
    browser.accessibility().await;
    let booking_path = browser.wait_for_path("/bookings/").await;
    let booking_id = booking_path.trim_start_matches("/bookings/").split(['?', '#']).next().unwrap().to_owned();

    // The organizer marks the transfer paid: the page turns to the tickets by itself.
    assert_eq!(app.mark_paid(&organizer, &event_id, &booking_id).await.status, reqwest::StatusCode::OK);
    browser.wait_for_text("Confirmed").await;
    let shown = browser
        .execute("return [...document.querySelectorAll('.tickets code')].map(c => c.textContent)", json!([]))
        .await;
    let mut shown: Vec<String> = serde_json::from_value(shown).unwrap();
    assert_eq!(shown.len(), 2);
    let mut decoded = qr_codes_on_page(&browser, 2).await;
    shown.sort();
    decoded.sort();
    assert_eq!(decoded, shown, "each QR code carries its ticket's code");
    browser.accessibility().await;

    // Cancel, with a confirmation step; the refund shows.
    browser.click("Cancel booking").await;
    browser.wait_for_text("Cancel this booking?").await;
    browser.wait_for_text("is refunded in full").await;
    browser.accessibility().await;
    browser.click("Cancel booking").await;
    browser.wait_for_text("Cancelled").await;
    browser.wait_for_text("Refund of 50.00 EUR").await;

    // Signing out in another tab ends the session in this one.
    let first = browser.new_tab().await;
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_text(&title).await;
    browser.accessibility().await;
    browser.click("Sign out").await;
    browser.wait_for_text("Upcoming events").await;
    browser.close_tab(&first).await;
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_path("/login").await;
}

/// A new account, signed in in `browser`.
async fn new_buyer(browser: &Browser, app: &TestApp) -> String {
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, reqwest::StatusCode::CREATED);
    browser.sign_in(&app.base, &email).await;
    email
}

/// Books `quantity` of the event's first ticket type from its page; the booking's id.
async fn book_from_the_page(browser: &Browser, app: &TestApp, event_id: &str, quantity: &str) -> String {
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    browser.fill("Quantity", quantity).await;
    browser.click("Book").await;
    let path = browser.wait_for_path("/bookings/").await;
    path.trim_start_matches("/bookings/").split(['?', '#']).next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_with_three_d_secure_confirms_the_booking_and_a_cancel_refunds_it() {
    let stripe = crate::helpers::stripe_emulator().await;
    let js = format!("{stripe}/js.stripe.com/v3/");
    let app = spawn_app_with(crate::helpers::stripe_config(&stripe, &["--stripe-js-url", &js])).await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20),
                   "ticket_types": [{"name": "Standard", "price_cents": 1200, "capacity": 3, "max_per_order": 2}]}),
        )
        .await;
    let browser = Browser::start("shop-card").await;
    new_buyer(&browser, &app).await;
    book_from_the_page(&browser, &app, event["id"].as_str().unwrap(), "1").await;
    browser.wait_for_text("Pay within").await;
    browser.accessibility().await;
    let card = |number: &'static str| {
        [("number", number), ("exp_month", "12"), ("exp_year", "34"), ("cvc", "123"), ("postal_code", "10115")]
    };

    // Issue 28, item 6: a declined card reads as one sentence, with the time the seats wait until.
    for (field, value) in card("4000000000000341") {
        browser.type_into(&format!("#card-element input[placeholder={field}]"), value).await;
    }
    browser.click("Pay").await;
    let booking = browser.wait_for_path("/bookings/").await.trim_start_matches("/bookings/").to_owned();
    let held: String = sqlx::query_scalar(
        "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'HH24:MI') FROM bookings WHERE id = $1::uuid",
    )
    .bind(&booking)
    .fetch_one(app.db())
    .await
    .unwrap();
    browser
        .wait_for_text(&format!("Your card was declined. Your seats are held until {held} — try another card."))
        .await;

    // The stand-in's card Element: a card that asks for 3-D Secure.
    for (field, value) in card("4000002500003155") {
        browser.type_into(&format!("#card-element input[placeholder={field}]"), value).await;
    }
    browser.click("Pay").await;
    browser.click("Complete authentication").await;
    browser.wait_for_text("Confirmed").await;

    browser.click("Cancel booking").await;
    browser.wait_for_text("is refunded in full").await;
    browser.click("Cancel booking").await;
    browser.wait_for_text("Refund of 12.00 EUR").await;
    // The worker sends the refund to Stripe; the page says so once it went through.
    browser.reload_until("paid back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiting_room_shows_the_place_in_line_going_down_and_then_the_decision() {
    // No worker yet: the test moves the line itself, two at a time.
    let app = crate::helpers::spawn_api_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 20, "max_per_order": 1}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let tokens = app.users(6).await;
    let ahead = crate::helpers::accepted_ids(
        &futures::future::join_all(tokens.iter().map(|t| app.book(t, &tt, 1, None))).await,
    );
    let worker = |app: &TestApp| {
        let stop = tokio_util::sync::CancellationToken::new();
        (stop.clone(), tokio::spawn(boxoffice::worker::run(app.state.worker(), stop)))
    };
    let (stop, task) = worker(&app);
    crate::helpers::eventually(std::time::Duration::from_secs(30), "the pre-queue is parked", || async {
        let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1)")
            .bind(&ahead)
            .fetch_one(app.db())
            .await
            .unwrap();
        (parked == 6).then_some(())
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    tokio::time::sleep((sales_start - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    boxoffice::booking::allocate::draw(app.db(), event_id.parse().unwrap(), boxoffice::domain::draw::Round::Main)
        .await
        .unwrap()
        .expect("drawn");

    let browser = Browser::start("shop-line").await;
    new_buyer(&browser, &app).await;
    book_from_the_page(&browser, &app, &event_id, "1").await;
    browser.wait_for_text("You are number 7 in line").await;
    browser.accessibility().await;
    let tt_id: Uuid = tt.parse().unwrap();
    let moved = boxoffice::booking::allocate::allocate_batch(
        app.db(),
        &[],
        &[tt_id],
        2,
        boxoffice::domain::checkout::Provider::Offline,
    )
    .await
    .unwrap();
    assert_eq!(moved.decided.len(), 2);
    // As the worker does after its commit: Redis forgets the decided requests.
    app.state.bookings.settle(&moved.settled, &moved.sold_out, &moved.codes_used_up, &moved.holders).await.unwrap();
    browser.wait_for_text("You are number 5 in line").await;
    let (stop, task) = worker(&app);
    browser.wait_for_text("Confirmed").await;
    stop.cancel();
    task.await.unwrap();
}

/// The booking path of the link in the newest email to `to` with `subject` in its subject.
async fn booking_link(sink: &SmtpSink, to: &str, subject: &str) -> String {
    for _ in 0..600 {
        let found = sink
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == [to] && m.header("Subject").is_some_and(|s| s.contains(subject)));
        if let Some(message) = found {
            let data = message.data.replace("=\r\n", "").replace("=3D", "=");
            let start = data.find("/bookings/").expect("a link to the booking");
            return data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/-".contains(*c)).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no email {subject:?} reached {to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_event_takes_a_waiting_list_entry_and_its_emailed_offer_is_paid() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20),
                   "ticket_types": [{"name": "Standard", "price_cents": 900, "capacity": 1, "max_per_order": 1}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let (first, _) = app.user().await;
    let taken = app.book_final(&first, &tt, 1).await;

    let browser = Browser::start("shop-waiting").await;
    let email = new_buyer(&browser, &app).await;
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    browser.wait_for_text("Sold out").await;
    browser.accessibility().await;
    browser.fill("Seats wanted", "1").await;
    browser.click("Join the waiting list").await;
    browser.wait_for_text("number 1 on the waiting list").await;
    browser.accessibility().await;

    // The seat comes back: offered to the list, by email with a link.
    let cancelled = app.post(&format!("/api/v1/bookings/{taken}/cancel"), Some(&first), json!({})).await;
    assert_eq!(cancelled.status, reqwest::StatusCode::OK, "{cancelled:?}");
    let link = booking_link(&sink, &email, "Seats for you").await;
    browser.goto(&format!("{}{link}", app.base)).await;
    browser.wait_for_text("Your seats are held").await;
    browser.wait_for_text("9.00 EUR").await;
    let offer = link.trim_start_matches("/bookings/");
    assert_eq!(app.mark_paid(&organizer, &event_id, offer).await.status, reqwest::StatusCode::OK);
    browser.wait_for_text("Confirmed").await;
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_text("Confirmed").await;
}

/// Issue 28, item 8: search finds words in any order (the last one as it is
/// being typed), not a phrase; the cards say what a ticket costs and how
/// many are left, or that none are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_the_words_and_the_cards_show_prices_and_seats_left() {
    let app = crate::helpers::spawn_app().await;
    let (organizer, _) = app.user().await;
    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let festival = app
        .published_event(
            &organizer,
            json!({"title": format!("Winter Lights Festival {tag}"), "venue": "Kulturbrauerei, Berlin",
                   "starts_at": in_days(20),
                   "ticket_types": [{"name": "Standing", "price_cents": 2500, "capacity": 100},
                                    {"name": "Seated", "price_cents": 4000, "capacity": 50}]}),
        )
        .await;
    for (title, venue) in
        [(format!("Summer Lights {tag}"), "Hamburg"), (format!("Berlin Jazz Festival {tag}"), "Tempodrom")]
    {
        app.published_event(&organizer, json!({"title": title, "venue": venue, "starts_at": in_days(21)})).await;
    }
    let sold_out = app
        .published_event(
            &organizer,
            json!({"title": format!("Tiny Lights Festival {tag}"), "venue": "Berlin", "starts_at": in_days(22),
                   "ticket_types": [{"name": "Free", "price_cents": 0, "capacity": 1}]}),
        )
        .await;
    let (buyer, _) = app.user().await;
    app.book_final(&buyer, sold_out["ticket_types"][0]["id"].as_str().unwrap(), 1).await;

    let browser = Browser::start("search").await;
    browser.goto(&format!("{}/", app.base)).await;
    browser.fill("Search events", &format!("{tag} lights festival berl")).await;
    browser.click("Search").await;
    browser.wait_for_text("Winter Lights Festival").await;
    let titles = browser
        .execute("return [...document.querySelectorAll('.cards h2')].map(h => h.textContent.trim())", json!([]))
        .await;
    assert_eq!(
        titles,
        json!([format!("Winter Lights Festival {tag}"), format!("Tiny Lights Festival {tag}")]),
        "every word, in any order, the last typed in part: {titles}"
    );
    browser.wait_for_text("25.00 EUR – 40.00 EUR · 150 left").await;
    browser.wait_for_text("Free · Sold out").await;
    browser.accessibility().await;
    let _ = festival;

    // The API finds the same, best matches first, on one page.
    let found = app.get(&format!("/api/v1/events?q=berlin%20{tag}"), None).await;
    let titles: Vec<&str> =
        found.body["items"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles[0], format!("Berlin Jazz Festival {tag}"), "a title match ranks first: {titles:?}");
    assert_eq!(titles.len(), 3, "{titles:?}");
    // A search is one page: a cursor (a real one, of the unsearched list) is refused by name.
    let cursor = app.get("/api/v1/events?limit=1", None).await.body["next_cursor"].as_str().unwrap().to_owned();
    let paged = app.get(&format!("/api/v1/events?q=berlin&cursor={cursor}"), None).await;
    assert_eq!((paged.status.as_u16(), paged.fields()), (422, vec!["cursor".to_owned()]), "{paged:?}");
    let or = app.get(&format!("/api/v1/events?q={tag}%20hamburg%20or%20tempodrom"), None).await;
    assert_eq!(or.body["items"].as_array().map(Vec::len), Some(2), "`or` still joins the last two words: {or:?}");
}

/// Issue 28, item 6: the pre-queue page counts down to the open and offers
/// "Leave the line".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_queue_page_counts_down_to_the_open() {
    let app = crate::helpers::spawn_app().await;
    let (organizer, _) = app.user().await;
    let sales_start = chrono::Utc::now() + chrono::Duration::minutes(50);
    let event = app
        .published_event(
            &organizer,
            json!({"starts_at": in_days(20), "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 120,
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 20, "max_per_order": 1}]}),
        )
        .await;
    let browser = Browser::start("shop-prequeue").await;
    new_buyer(&browser, &app).await;
    book_from_the_page(&browser, &app, event["id"].as_str().unwrap(), "1").await;
    browser.wait_for_text("You are in the pre-queue").await;
    browser.wait_for_text("Sales open in 49:").await;
    let shown =
        || async { browser.execute("return document.querySelector('.opens strong').textContent", json!([])).await };
    let first = shown().await;
    crate::helpers::eventually(std::time::Duration::from_secs(10), "the countdown moves", || async {
        let now = shown().await;
        (now != first).then_some(now)
    })
    .await;
    browser.accessibility().await;

    // Changed their mind: one press gives up the place, and the page says so.
    browser.click("Leave the line").await;
    browser.wait_for_text("You left the line before your turn came.").await;
    let status: String = sqlx::query_scalar("SELECT status FROM bookings WHERE event_id = $1")
        .bind(event["id"].as_str().unwrap().parse::<Uuid>().unwrap())
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(status, "cancelled");
    // And may join again, at the back.
    book_from_the_page(&browser, &app, event["id"].as_str().unwrap(), "1").await;
    browser.wait_for_text("You are in the pre-queue").await;
}

/// A free event titled `title` on sale, and a browser of nobody signed in
/// that chose `quantity` on its page and pressed Book: now on the sign-in
/// page. The browser and the event's id.
pub(crate) async fn book_signed_out(app: &TestApp, name: &str, title: &str, quantity: &str) -> (Browser, String) {
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"title": title, "starts_at": in_days(20),
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 9, "max_per_order": 4}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let browser = Browser::start(name).await;
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    browser.fill("Quantity", quantity).await;
    browser.click("Book").await;
    browser.wait_for_path("/login").await;
    (browser, event_id)
}

/// Issue 28, item 1: signed out, "Book" leads through creating an account and
/// the emailed link back to the same event with the quantity kept, one press
/// from the booking; an unverified buyer who presses Book can have the link
/// sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_is_kept_on_the_path_from_book_through_sign_up_and_verification() {
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let title = format!("Harbour Lights {}", Uuid::new_v4().simple());
    let (browser, event_id) = book_signed_out(&app, "kept-on-path", &title, "3").await;
    browser.click("Create account").await;
    browser.wait_for_path("/register").await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    browser.fill("Name", "Ada Lovelace").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", "a long enough password").await;
    browser.click("Create account").await;
    browser.wait_for_text("We sent you an email").await;

    // Before verifying, Book says why not and offers the link again.
    browser.goto(&format!("{}/events/{event_id}", app.base)).await;
    browser.click("Book").await;
    browser.wait_for_text("Confirm your email address first").await;
    browser.accessibility().await;
    let before = sink.messages().len();
    browser.click("Resend the link").await;
    browser.wait_for_text("We sent you an email").await;
    sink.wait_for(before + 1, 20).await;

    let link = verification_link(&sink, &email).await;
    browser.goto(&format!("{}{link}", app.base)).await;
    browser.click("Verify my email").await;
    browser.wait_for_text("Email verified").await;
    browser.click(&format!("Continue to {title}")).await;
    browser.wait_for_path(&format!("/events/{event_id}")).await;
    let kept = browser.execute("return document.querySelector('input[name=quantity]').value", json!([])).await;
    assert_eq!(kept, json!("3"), "the quantity chosen before signing up");
    browser.click("Book").await;
    browser.wait_for_path("/bookings/").await;
    browser.wait_for_text("3 × Standard").await;
}
