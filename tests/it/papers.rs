//! Issue 30, papers: a booking's tickets as a PDF, read as a person's viewer
//! reads it (`pdftotext`), its QR codes decoded from the rendered page by a
//! real decoder (`zbarimg`), and the decoded code admitted at the door.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, accepted_ids, spawn_app};

/// The PDF at `path` for `token`: its status and bytes.
async fn fetch(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let reply = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = reply.status();
    let kind = reply.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, kind, reply.bytes().await.unwrap().to_vec())
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tickets_pdf_names_each_holder_and_its_qr_codes_scan_at_the_door() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"title": "Nuit du Rust à Łódź", "venue": "Hala Stulecia", "timezone": "Europe/Warsaw",
                   "ticket_types": [{"name": "Parter", "price_cents": 0, "capacity": 10, "max_per_order": 3,
                                     "attendee_names": "required"}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    // With the event's image, drawn beside each QR code.
    let (put, _) =
        crate::images::put_image(&app, &organizer, event_id, "image/png", crate::images::png(640, 360)).await;
    assert_eq!(put, StatusCode::OK);
    let names = ["Łukasz Żółć", "Σωκράτης", "Пётр"];
    let attendees: Vec<_> = names.iter().map(|n| json!({"name": n})).collect();
    let booked = app
        .post("/api/v1/bookings", Some(&buyer), json!({"ticket_type_id": tt, "quantity": 3, "attendees": attendees}))
        .await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await.body;
    let codes: Vec<String> =
        booking["tickets"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect();
    let reference = booking["reference"].as_str().unwrap().to_owned();

    let path = format!("/api/v1/bookings/{id}/tickets.pdf");
    let (status, kind, pdf) = fetch(&app, &path, &buyer).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/pdf"));
    let dir = std::env::temp_dir().join(format!("boxoffice-papers-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tickets.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let file = file.to_str().unwrap();

    // Every font embedded (a viewer without DejaVu shows the same glyphs).
    let fonts = run("pdffonts", &[file]);
    let listed: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!listed.is_empty() && listed.iter().all(|l| l.contains(" yes ")), "{fonts}");

    // The event's image, once in the file (every page shows it).
    let images = run("pdfimages", &["-list", file]);
    let drawn: Vec<&str> = images.lines().skip(2).filter(|l| l.split_whitespace().nth(2) == Some("image")).collect();
    assert_eq!(drawn.len(), 3, "one image a page: {images}");
    assert!(drawn.iter().all(|l| l.split_whitespace().nth(3) == Some("640")), "the large rendition: {images}");
    let objects: std::collections::HashSet<&str> = drawn.iter().filter_map(|l| l.split_whitespace().nth(10)).collect();
    assert_eq!(objects.len(), 1, "stored once: {images}");

    // The text a viewer shows: the title, each holder in their own script,
    // the reference and each code, once per page.
    let text = run("pdftotext", &["-layout", file, "-"]);
    assert_eq!(text.matches("Nuit du Rust à Łódź").count(), 3, "{text}");
    for name in names {
        assert!(text.contains(name), "{name} in {text}");
    }
    for code in &codes {
        assert!(text.contains(code.as_str()), "{code} in {text}");
    }
    assert!(text.contains(&reference) && text.contains("Hala Stulecia") && text.contains("Europe/Warsaw"), "{text}");
    assert!(text.contains("Ticket 2 of 3"), "{text}");

    // The second page as a printer draws it, read by a real QR decoder.
    let prefix = dir.join("page");
    run("pdftoppm", &["-r", "100", "-f", "2", "-l", "2", "-png", file, prefix.to_str().unwrap()]);
    let png = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "png"))
        .expect("the page rendered");
    let decoded = run("zbarimg", &["--raw", "-q", png.to_str().unwrap()]);
    assert_eq!(decoded.trim(), codes[1], "the second page carries the second ticket");
    // Kept beside the browser screenshots, to look at.
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let _ = std::fs::create_dir_all(&shots);
    let _ = std::fs::copy(&png, shots.join("tickets-page-2.png"));
    let _ = std::fs::remove_dir_all(&dir);
    let admitted = app
        .post(&format!("/api/v1/events/{event_id}/check-ins"), Some(&organizer), json!({"code": decoded.trim()}))
        .await;
    assert_eq!((admitted.status, admitted.body["attendee_name"].as_str()), (StatusCode::OK, Some("Σωκράτης")));

    // The organizer may print them; nobody else learns they exist.
    assert_eq!(fetch(&app, &path, &organizer).await.0, StatusCode::OK);
    assert_eq!(fetch(&app, &path, &stranger).await.0, StatusCode::NOT_FOUND);
    let anonymous = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // A cancelled booking has nothing to print (the door's scan undone
    // first: a booking with a used ticket cannot be cancelled).
    let undo = format!("/api/v1/events/{event_id}/check-ins/{}", decoded.trim());
    let undone = app.call(reqwest::Method::DELETE, &undo, Some(&organizer), None).await;
    assert_eq!(undone.status, StatusCode::NO_CONTENT);
    let cancelled = app.post(&format!("/api/v1/bookings/{id}/cancel"), Some(&buyer), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let (status, _, body) = fetch(&app, &path, &buyer).await;
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("no_tickets")));
}
