//! Issue 28, item 11: an event's image. The organizer uploads a JPEG, PNG or
//! WebP; the server keeps WebP renditions 1600 and 400 px wide (turned as
//! the camera said, EXIF dropped) under content-hashed names cached for a
//! year; the event page and the cards show them. What is not an image, too
//! large, or a decompression bomb gets a clear answer, next to the field in
//! the page.

use std::io::Cursor;

use image::{GenericImageView, ImageFormat};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// A `width` × `height` JPEG of a gradient, carrying EXIF that says
/// "rotate 90° clockwise to show" (orientation 6), as phones write it, and a
/// maker note standing in for what must not travel on (a GPS position, say).
fn photo(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, if x < width / 2 { 30 } else { 220 }])
    });
    let mut jpeg = Cursor::new(Vec::new());
    picture.write_to(&mut jpeg, ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    // APP1 "Exif": a little-endian TIFF header and one IFD entry, 0x0112
    // (orientation) = 6; then a comment that must not survive.
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend(1u16.to_le_bytes());
    tiff.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(b"SECRET-MAKER-NOTE 52.5200N 13.4050E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

pub(crate) async fn put_image(
    app: &TestApp,
    token: &str,
    event: &str,
    kind: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/events/{event}/image")))
        .bearer_auth(token)
        .header("content-type", kind)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(status.as_u16() < 500, "{status}");
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizers_image_is_kept_upright_as_webp_without_its_exif_and_served_for_a_year() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let event = app.published_event(&organizer, json!({})).await;
    let id = event["id"].as_str().unwrap();
    assert_eq!(event["image"], Value::Null);

    let sent = photo(3200, 1800);
    assert!(sent.windows(6).any(|w| w == b"SECRET"), "the test's file carries the note");
    let (status, changed) = put_image(&app, &organizer, id, "image/jpeg", sent).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let url = changed["image"]["url"].as_str().unwrap().to_owned();
    let small_url = changed["image"]["small_url"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/events/{id}"), None).await.body["image"]["url"], url.as_str());

    let large = fetch(&app, &url).await;
    assert_eq!(large.status(), StatusCode::OK);
    assert_eq!(large.headers()["content-type"], "image/webp");
    assert_eq!(large.headers()["cache-control"], "public, max-age=31536000, immutable");
    let large = large.bytes().await.unwrap();
    assert!(!large.windows(6).any(|w| w == b"SECRET" || w == b"Exif\0\0"), "nothing of the file as sent");
    let drawn = image::load_from_memory_with_format(&large, ImageFormat::WebP).unwrap();
    // 3200 × 1800 turned upright is 1800 × 3200; 1600 wide keeps the shape.
    assert_eq!(drawn.dimensions(), (1600, 2844));
    // The left of the sent picture (dark blue channel) is its top now.
    assert!(drawn.get_pixel(800, 100)[2] < 100 && drawn.get_pixel(800, 2700)[2] > 150, "turned as the EXIF said");
    let small =
        image::load_from_memory_with_format(&fetch(&app, &small_url).await.bytes().await.unwrap(), ImageFormat::WebP)
            .unwrap();
    assert_eq!(small.width(), 400);
    eprintln!("sent a 3200 × 1800 JPEG; kept {} bytes at 1600 px", large.len());

    // A new image has a new name; the old one is gone.
    let (status, replaced) = put_image(&app, &organizer, id, "image/png", png(800, 600)).await;
    assert_eq!(status, StatusCode::OK);
    let new_url = replaced["image"]["url"].as_str().unwrap();
    assert_ne!(new_url, url);
    assert_eq!(fetch(&app, &url).await.status(), StatusCode::NOT_FOUND);
    let kept = image::load_from_memory(&fetch(&app, new_url).await.bytes().await.unwrap()).unwrap();
    assert_eq!(kept.dimensions(), (800, 600), "not enlarged");

    let removed =
        app.call(reqwest::Method::DELETE, &format!("/api/v1/events/{id}/image"), Some(&organizer), None).await;
    assert_eq!((removed.status, &removed.body["image"]), (StatusCode::OK, &Value::Null));
    assert_eq!(fetch(&app, new_url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, "/images/not-a-hash.webp").await.status(), StatusCode::NOT_FOUND);
}

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(width, height, |x, _| image::Rgba([200, 40, 40, (x % 256) as u8]));
    let mut out = Cursor::new(Vec::new());
    picture.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG whose header claims `side` × `side` pixels, and nothing behind it.
fn bomb(side: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut crc = 0xffff_ffffu32;
    for &byte in &ihdr {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend((!crc).to_be_bytes());
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_an_image_too_large_a_bomb_or_not_ones_own_is_refused_clearly() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let event = app.published_event(&organizer, json!({})).await;
    let id = event["id"].as_str().unwrap();
    let refused =
        |(status, body): (StatusCode, Value)| (status.as_u16(), body["code"].as_str().unwrap_or("").to_owned());

    let text = put_image(&app, &organizer, id, "image/png", b"this is a letter, not a picture".to_vec()).await;
    assert_eq!(refused(text.clone()), (422, "image_invalid".into()));
    assert_eq!(text.1["errors"][0]["field"], "image");
    let gif = put_image(&app, &organizer, id, "image/png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()).await;
    assert_eq!(refused(gif), (422, "image_invalid".into()), "GIF is not taken");
    let wrong_kind = put_image(&app, &organizer, id, "text/plain", png(10, 10)).await;
    assert_eq!(refused(wrong_kind), (415, "unsupported_media_type".into()));
    let mut huge = photo(64, 64);
    huge.resize(5 * 1024 * 1024 + 1, 0);
    assert_eq!(refused(put_image(&app, &organizer, id, "image/jpeg", huge).await), (413, "image_too_large".into()));
    // Past the body limit too (refused as it is read; a little past it, so
    // the client's last bytes fit the socket's buffers and it reads the answer).
    let way_too_huge = vec![0u8; 5 * 1024 * 1024 + 100 * 1024];
    assert_eq!(
        refused(put_image(&app, &organizer, id, "image/jpeg", way_too_huge).await),
        (413, "image_too_large".into())
    );
    assert_eq!(
        refused(put_image(&app, &organizer, id, "image/png", bomb(60_000)).await),
        (422, "image_too_many_pixels".into()),
        "a few bytes claiming 3.6 gigapixels are refused from the header"
    );
    assert_eq!(refused(put_image(&app, &stranger, id, "image/png", png(10, 10)).await).0, 403);
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(refused(put_image(&app, &organizer, &unknown.to_string(), "image/png", png(10, 10)).await).0, 404);
    assert_eq!(app.get(&format!("/api/v1/events/{id}"), None).await.body["image"], Value::Null, "nothing kept");

    let cancelled = app.post(&format!("/api/v1/events/{id}/cancel"), Some(&organizer), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    assert_eq!(refused(put_image(&app, &organizer, id, "image/png", png(10, 10)).await).0, 409);
}

/// The organizer uploads from the edit page: a file that is not an image is
/// refused next to the field; a photo shows on the edit page, across the
/// event page and on its card, at 1280 and 375 px.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_uploads_an_image_from_the_edit_page_and_buyers_see_it() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", uuid::Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let title = format!("Lantern Parade {}", uuid::Uuid::new_v4().simple());
    let event = app.published_event(&token, json!({"title": title})).await;
    let id = event["id"].as_str().unwrap();
    let dir = std::env::temp_dir().join(format!("boxoffice-images-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (letter, picture) = (dir.join("letter.jpg"), dir.join("parade.jpg"));
    std::fs::write(&letter, b"Dear organizer, this is not a picture.").unwrap();
    std::fs::write(&picture, photo(2400, 1350)).unwrap();

    let browser = Browser::start("event-image").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&format!("{}/manage/events/{id}/edit", app.base)).await;
    browser.choose_file("#image", &letter).await;
    browser.click("Upload image").await;
    browser.wait_for_text("this file is not a JPEG, PNG or WebP image").await;
    let described =
        browser.execute("return document.querySelector('#image').getAttribute('aria-describedby')", json!([])).await;
    assert_eq!(described, "image-error", "the message belongs to the field");
    browser.accessibility().await;

    browser.choose_file("#image", &picture).await;
    browser.click("Upload image").await;
    browser.wait_for_text("Remove image").await;
    assert_eq!(natural_on(&browser, "img.preview").await, 400);

    browser.goto(&format!("{}/events/{id}", app.base)).await;
    // 2400 × 1350 turned upright: 1350 wide, not enlarged.
    assert_eq!(natural_on(&browser, "img.hero").await, 1350);
    browser.accessibility().await;
    browser.screenshot("event-1280").await;
    browser.goto(&format!("{}/?q={}", app.base, title.split(' ').next_back().unwrap())).await;
    assert_eq!(natural_on(&browser, "img.card-image").await, 400);

    let phone = Browser::start_with("event-image-phone", &["--window-size=375,812".to_owned()]).await;
    phone.goto(&format!("{}/events/{id}", app.base)).await;
    natural_on(&phone, "img.hero").await;
    let shot = phone.screenshot("event-375").await;
    let overflow = phone.execute("return document.documentElement.scrollWidth > window.innerWidth", json!([])).await;
    assert_eq!(overflow, json!(false), "the page fits a phone's width (screenshot {shot})");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn natural_on(browser: &Browser, css: &str) -> u64 {
    crate::helpers::eventually(std::time::Duration::from_secs(10), "the image loads", || async {
        let width = browser
            .execute(
                &format!("const i = document.querySelector('{css}'); return i && i.complete ? i.naturalWidth : 0"),
                json!([]),
            )
            .await;
        width.as_u64().filter(|w| *w > 0)
    })
    .await
}
