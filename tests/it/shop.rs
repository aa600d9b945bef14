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
    browser.fill("Name", "Grace Hopper").await;
    browser.fill("Email", &email).await;
    browser.fill("Password", "a long enough password").await;
    browser.click("Create account").await;
    browser.wait_for_text("We sent you an email").await;
    browser.wait_for_text("Sign out").await;
    let link = verification_link(&sink, &email).await;
    browser.goto(&format!("{}{link}", app.base)).await;
    browser.wait_for_text("Email verified").await;

    // Find the event, book two seats.
    browser.goto(&format!("{}/", app.base)).await;
    browser.fill("Search events", &title).await;
    browser.click("Search").await;
    browser.wait_for_text(&title).await;
    browser.execute("document.querySelector('.cards a').click()", json!([])).await;
    browser.wait_for_text("5 left").await;
    browser.wait_for_text("25.00 EUR").await;
    browser.fill("Quantity", "2").await;
    browser.click("Book").await;
    browser.wait_for_text("Pay within").await;
    browser.wait_for_text("50.00 EUR").await;
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

    // Cancel, with a confirmation step; the refund shows.
    browser.click("Cancel booking").await;
    browser.wait_for_text("Cancel this booking?").await;
    browser.wait_for_text("is refunded in full").await;
    browser.click("Cancel booking").await;
    browser.wait_for_text("Cancelled").await;
    browser.wait_for_text("Refund of 50.00 EUR").await;

    // Signing out in another tab ends the session in this one.
    let first = browser.new_tab().await;
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_text(&title).await;
    browser.click("Sign out").await;
    browser.wait_for_text("Upcoming events").await;
    browser.close_tab(&first).await;
    browser.goto(&format!("{}/me/tickets", app.base)).await;
    browser.wait_for_path("/login").await;
}
