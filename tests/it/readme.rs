//! The README's screenshots: a real-looking organizer's events (no test ids
//! in their titles), looked at as a buyer and as the organizer would, at
//! 1280 and 375 px. Every page is checked (its words, axe, nothing wider
//! than a phone); with `UPDATE_SCREENSHOTS=1` the pictures are written to
//! `docs/screenshots/` too.

use std::io::Cursor;

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// A night-blue picture with warm lights out of focus: an event photo
/// stand-in, drawn here so the repository carries no one's photograph.
fn lights(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        f64::from(seed) / f64::from(u32::MAX)
    };
    let blobs: Vec<(f64, f64, f64, [f64; 3])> = (0..28)
        .map(|_| {
            let warm = [[255.0, 196.0, 90.0], [255.0, 140.0, 60.0], [250.0, 230.0, 160.0], [120.0, 200.0, 255.0]];
            let colour = warm[(next() * 3.999) as usize];
            (next() * f64::from(width), next() * f64::from(height) * 0.8, 20.0 + next() * 70.0, colour)
        })
        .collect();
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let t = fy / f64::from(height);
        let mut rgb = [10.0 + 30.0 * t, 16.0 + 30.0 * t, 48.0 + 40.0 * t];
        for (bx, by, r, colour) in &blobs {
            let d2 = (fx - bx).powi(2) + (fy - by).powi(2);
            let glow = (-d2 / (2.0 * r * r)).exp() * 0.8;
            for c in 0..3 {
                rgb[c] += colour[c] * glow;
            }
        }
        image::Rgb(rgb.map(|v| v.min(255.0) as u8))
    });
    let mut out = Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

async fn account(app: &TestApp, email: &str, name: &str) -> String {
    let made =
        app.post("/api/v1/auth/register", None, json!({"email": email, "password": PASSWORD, "name": name})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned()
}

/// Checks the page, and keeps it as `docs/screenshots/{name}.png` when asked.
async fn shot(browser: &Browser, name: &str, shows: &str) {
    browser.wait_for_text(shows).await;
    browser.accessibility().await;
    let wider = browser.execute("return document.documentElement.scrollWidth > window.innerWidth", json!([])).await;
    assert_eq!(wider, json!(false), "{name}: nothing wider than the window");
    let taken = browser.screenshot(name).await;
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let to = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/screenshots/{name}.png"));
        std::fs::copy(&taken, &to).unwrap();
    }
}

/// Images loaded (a screenshot must not catch them half drawn).
async fn images_loaded(browser: &Browser) {
    crate::helpers::eventually(std::time::Duration::from_secs(10), "the images load", || async {
        let done = browser
            .execute("return [...document.images].every(i => i.complete && i.naturalWidth > 0)", json!([]))
            .await;
        (done == json!(true)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_screenshots_show_a_real_looking_sale_to_buyers_and_its_organizer() {
    let app = spawn_app().await;
    // The test's database and Redis keys are its own: the addresses can be plain.
    let organizer_email = "events@kulturbrauerei.example".to_owned();
    let organizer = account(&app, &organizer_email, "Kulturbrauerei Events").await;
    let in_days = |days: i64, hour: u32| {
        let day = (Utc::now() + Duration::days(days)).date_naive();
        let local = day.and_hms_opt(hour, 0, 0).unwrap();
        // Berlin in winter: UTC+1.
        (local - Duration::hours(1)).and_utc().to_rfc3339()
    };
    let festival = app
        .published_event(
            &organizer,
            json!({
                "title": "Winter Lights Festival", "venue": "Kulturbrauerei, Berlin", "timezone": "Europe/Berlin",
                "starts_at": in_days(12, 18),
                "description": "Three evenings of light installations, live music and mulled wine in the courtyards of the old brewery. Your ticket is good for one evening; children under 12 go free with an adult.",
                "ticket_types": [
                    {"name": "Early bird", "price_cents": 1900, "capacity": 200, "max_per_order": 6},
                    {"name": "Evening ticket", "price_cents": 2900, "capacity": 800, "max_per_order": 6},
                    {"name": "Lantern walk + ticket", "price_cents": 4900, "capacity": 60, "max_per_order": 4}
                ]
            }),
        )
        .await;
    let festival_id = festival["id"].as_str().unwrap().to_owned();
    let uploaded = app
        .client
        .put(app.url(&format!("/api/v1/events/{festival_id}/image")))
        .bearer_auth(&organizer)
        .header("content-type", "image/jpeg")
        .body(lights(1600, 900))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::OK);
    for (title, venue, days, price) in [
        ("Jazz im Hof: Late Set", "A-Trane, Berlin", 20, 2400),
        ("Harbour Sessions: Opening Night", "Kesselhaus, Berlin", 34, 3500),
    ] {
        app.published_event(
            &organizer,
            json!({"title": title, "venue": venue, "timezone": "Europe/Berlin", "starts_at": in_days(days, 20),
                   "ticket_types": [{"name": "Standard", "price_cents": price, "capacity": 150, "max_per_order": 4}]}),
        )
        .await;
    }
    // A sale that opens later: its pre-queue is the waiting room to show.
    let opening = app
        .published_event(
            &organizer,
            json!({"title": "New Year's Eve at the Brewery", "venue": "Kulturbrauerei, Berlin",
                   "timezone": "Europe/Berlin", "starts_at": in_days(25, 21),
                   "sales_start": (Utc::now() + Duration::minutes(42)).to_rfc3339(), "prequeue_minutes": 120,
                   "ticket_types": [{"name": "Standard", "price_cents": 3900, "capacity": 500, "max_per_order": 4}]}),
        )
        .await;

    // Buyers with names, paying offline and by card (marked paid here).
    let early = festival["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    let evening = festival["ticket_types"][1]["id"].as_str().unwrap().to_owned();
    let mut codes = Vec::new();
    for (name, tt, quantity, paid) in [
        ("Ada Lovelace", &early, 2, true),
        ("Grace Hopper", &evening, 4, true),
        ("Alan Turing", &early, 1, false),
        ("Katherine Johnson", &evening, 2, true),
        ("Tim Berners-Lee", &evening, 3, false),
    ] {
        let email = format!("{}@example.org", name.to_lowercase().replace(' ', "."));
        let buyer = account(&app, &email, name).await;
        let booking = app.book_final(&buyer, tt, quantity).await;
        let payment = app.post(&format!("/api/v1/bookings/{booking}/payment"), Some(&buyer), json!({})).await;
        assert!(payment.status.is_success(), "{payment:?}");
        if paid {
            app.mark_paid(&organizer, &festival_id, &booking.to_string()).await;
            let read = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body;
            codes.push(read["tickets"][0]["code"].as_str().unwrap().to_owned());
        }
    }

    let desktop = Browser::start_with("readme-desktop", &["--window-size=1280,900".to_owned()]).await;
    desktop.goto(&format!("{}/", app.base)).await;
    images_loaded(&desktop).await;
    shot(&desktop, "shop-home", "Winter Lights Festival").await;
    desktop.goto(&format!("{}/events/{festival_id}", app.base)).await;
    images_loaded(&desktop).await;
    shot(&desktop, "shop-event", "Lantern walk + ticket").await;

    let phone = Browser::start_with("readme-phone", &["--window-size=375,812".to_owned()]).await;
    phone.goto(&format!("{}/events/{festival_id}", app.base)).await;
    images_loaded(&phone).await;
    shot(&phone, "shop-event-phone", "Early bird").await;
    let buyer_email = "lin.wei@example.org".to_owned();
    account(&app, &buyer_email, "Lin Wei").await;
    phone.sign_in(&app.base, &buyer_email).await;
    phone.goto(&format!("{}/events/{}", app.base, opening["id"].as_str().unwrap())).await;
    phone.fill("Quantity", "2").await;
    phone.click("Book").await;
    phone.wait_for_path("/bookings/").await;
    shot(&phone, "shop-waiting-room-phone", "You are in the pre-queue").await;

    desktop.sign_in(&app.base, &organizer_email).await;
    desktop.goto(&format!("{}/manage/events/{festival_id}/orders", app.base)).await;
    shot(&desktop, "manage-orders", "Katherine Johnson").await;
    desktop.goto(&format!("{}/manage/events/{festival_id}", app.base)).await;
    shot(&desktop, "manage-live-sales", "Evening ticket").await;
    desktop.goto(&format!("{}/manage/events/{festival_id}/door", app.base)).await;
    desktop.fill("Ticket code", &codes[0]).await;
    desktop.click("Check in").await;
    shot(&desktop, "manage-door", "Ada Lovelace").await;
}
