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

/// A self-signed certificate and its key, made by `openssl` in `dir` as an
/// organizer would make a test Pass Type ID certificate; the flags that give
/// them to the server.
pub fn pass_signing(dir: &std::path::Path) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("pass.pem"), dir.join("pass.key"));
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Pass Type ID: pass.test.boxoffice/OU=TEAM123456/O=Boxoffice tests",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    [
        ("--apple-pass-certificate", cert.to_str().unwrap()),
        ("--apple-pass-key", key.to_str().unwrap()),
        // The test certificate stands in for Apple's WWDR intermediate too.
        ("--apple-pass-wwdr", cert.to_str().unwrap()),
        ("--apple-pass-type-id", "pass.test.boxoffice"),
        ("--apple-pass-team-id", "TEAM123456"),
    ]
    .iter()
    .flat_map(|(flag, value)| [(*flag).to_owned(), (*value).to_owned()])
    .collect()
}

/// The files of a ZIP.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().to_owned(), content)
        })
        .collect()
}

/// Checks one `.pkpass` as Apple's tools would: every file but the manifest
/// and the signature listed in `manifest.json` with its SHA-1, nothing
/// else listed; the signature a detached PKCS #7 over the manifest that
/// `openssl smime -verify` accepts with the certificate in `dir`. Returns
/// `pass.json`.
fn verified_pass(dir: &std::path::Path, pass: &[u8]) -> serde_json::Value {
    use sha1::Digest;
    let files = unzip(pass);
    let manifest: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&files["manifest.json"]).expect("manifest.json");
    let hashed: Vec<&String> = files.keys().filter(|n| *n != "manifest.json" && *n != "signature").collect();
    assert_eq!(manifest.keys().collect::<Vec<_>>(), hashed, "the manifest lists every file");
    for (name, sha1) in &manifest {
        let digest: String = sha1::Sha1::digest(&files[name]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&digest, sha1, "{name}'s SHA-1");
    }
    for icon in ["icon.png", "icon@2x.png"] {
        assert!(files[icon].starts_with(b"\x89PNG"), "{icon}");
    }
    let (manifest_file, signature_file) = (dir.join("manifest.json"), dir.join("signature"));
    std::fs::write(&manifest_file, &files["manifest.json"]).unwrap();
    std::fs::write(&signature_file, &files["signature"]).unwrap();
    let cert = dir.join("pass.pem");
    let verify = |content: &std::path::Path| {
        Command::new("openssl")
            .args(["smime", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in"])
            .arg(&signature_file)
            .arg("-content")
            .arg(content)
            .arg("-CAfile")
            .arg(&cert)
            .args(["-out", "/dev/null"])
            .output()
            .unwrap()
    };
    let verified = verify(&manifest_file);
    assert!(verified.status.success(), "openssl: {}", String::from_utf8_lossy(&verified.stderr));
    // The signature is over this manifest: one changed byte fails it.
    let mut forged = files["manifest.json"].clone();
    forged[2] ^= 1;
    let forged_file = dir.join("forged.json");
    std::fs::write(&forged_file, forged).unwrap();
    assert!(!verify(&forged_file).status.success(), "a changed manifest verifies");
    serde_json::from_slice(&files["pass.json"]).expect("pass.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_passes_are_signed_as_apple_specifies_one_per_ticket() {
    let dir = std::env::temp_dir().join(format!("boxoffice-pass-{}", uuid::Uuid::new_v4().simple()));
    let flags = pass_signing(&dir);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&flags)).await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"title": "Pass Night", "venue": "Dock 5", "timezone": "Europe/Berlin",
                   "ticket_types": [{"name": "Floor", "price_cents": 0, "capacity": 10, "max_per_order": 2, "max_per_buyer": 3,
                                     "attendee_names": "required"}]}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let book = |quantity: usize, names: &'static [&'static str]| {
        let attendees: Vec<_> = names.iter().map(|n| json!({"name": n})).collect();
        app.post(
            "/api/v1/bookings",
            Some(&buyer),
            json!({"ticket_type_id": tt, "quantity": quantity, "attendees": attendees}),
        )
    };
    // One after the other: a buyer has one request in line at a time.
    let mut ids = Vec::new();
    for (quantity, names) in [(1, &["Пётр"][..]), (2, &["Ada", "Grace"][..])] {
        let id = accepted_ids(&[book(quantity, names).await])[0];
        app.wait_final(&[id], Duration::from_secs(30)).await;
        ids.push(id);
    }
    let codes_of = |body: serde_json::Value| -> Vec<String> {
        body["tickets"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect()
    };

    // One ticket: one pass, its QR barcode the ticket's code.
    let path = format!("/api/v1/bookings/{}/tickets.pkpass", ids[0]);
    let (status, kind, pass) = fetch(&app, &path, &buyer).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/vnd.apple.pkpass"));
    let code = codes_of(app.get(&format!("/api/v1/bookings/{}", ids[0]), Some(&buyer)).await.body).remove(0);
    let json = verified_pass(&dir, &pass);
    assert_eq!(json["barcodes"][0]["format"], "PKBarcodeFormatQR");
    assert_eq!(json["barcodes"][0]["message"], code.as_str());
    assert_eq!(
        (json["passTypeIdentifier"].as_str(), json["teamIdentifier"].as_str()),
        (Some("pass.test.boxoffice"), Some("TEAM123456"))
    );
    assert_eq!(json["formatVersion"], 1);
    let shown = json["eventTicket"].to_string();
    assert!(shown.contains("Pass Night") && shown.contains("Пётр") && shown.contains("Dock 5"), "{shown}");

    // Two tickets: a bundle of two passes, each signed, each its own code.
    let path = format!("/api/v1/bookings/{}/tickets.pkpass", ids[1]);
    let (status, kind, bundle) = fetch(&app, &path, &buyer).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/vnd.apple.pkpasses"));
    let codes = codes_of(app.get(&format!("/api/v1/bookings/{}", ids[1]), Some(&buyer)).await.body);
    let passes = unzip(&bundle);
    assert_eq!(passes.len(), 2);
    let carried: Vec<String> = passes
        .values()
        .map(|pass| verified_pass(&dir, pass)["barcodes"][0]["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(carried, codes);
    let serials: std::collections::HashSet<String> =
        passes.values().map(|p| verified_pass(&dir, p)["serialNumber"].as_str().unwrap().to_owned()).collect();
    assert_eq!(serials.len(), 2, "each pass its own serial");

    // The door admits what the pass carries.
    let admitted =
        app.post(&format!("/api/v1/events/{event_id}/check-ins"), Some(&organizer), json!({"code": carried[1]})).await;
    assert_eq!((admitted.status, admitted.body["attendee_name"].as_str()), (StatusCode::OK, Some("Grace")));
    // The organizer may fetch them; a stranger learns nothing.
    assert_eq!(fetch(&app, &path, &organizer).await.0, StatusCode::OK);
    assert_eq!(fetch(&app, &path, &stranger).await.0, StatusCode::NOT_FOUND);

    // The booking page offers it; the page's link downloads the pass.
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(app.get("/api/v1/me", Some(&buyer)).await.body["email"].as_str().unwrap()).await;
    let page = visit.get(&format!("/bookings/{}", ids[0])).await;
    let link = format!("/bookings/{}/tickets.pkpass", ids[0]);
    assert!(page.body.contains("Add to Apple Wallet") && page.body.contains(&link), "{}", page.body);
    let download = visit.get(&link).await;
    let kind = download.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!((download.status, kind.as_str()), (StatusCode::OK, "application/vnd.apple.pkpass"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_pass_certificate_there_is_no_wallet_button_and_the_route_is_404() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"title": "No Pass", "ticket_types": [{"name": "Floor", "price_cents": 0, "capacity": 5}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let booked = app.post("/api/v1/bookings", Some(&buyer), json!({"ticket_type_id": tt, "quantity": 1})).await;
    let id = accepted_ids(&[booked])[0];
    app.wait_final(&[id], Duration::from_secs(30)).await;
    let (status, _, body) = fetch(&app, &format!("/api/v1/bookings/{id}/tickets.pkpass"), &buyer).await;
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, problem["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(app.get("/api/v1/me", Some(&buyer)).await.body["email"].as_str().unwrap()).await;
    let page = visit.get(&format!("/bookings/{id}")).await;
    assert!(page.body.contains("Download tickets (PDF)") && !page.body.contains("Apple Wallet"), "{}", page.body);
    let missing = visit.get(&format!("/bookings/{id}/tickets.pkpass")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<html"), "a page, not a problem: {}", missing.body);
}

#[test]
fn a_pass_key_that_is_not_the_certificates_is_refused_at_start() {
    let (a, b) = (
        std::env::temp_dir().join(format!("boxoffice-pass-{}", uuid::Uuid::new_v4().simple())),
        std::env::temp_dir().join(format!("boxoffice-pass-{}", uuid::Uuid::new_v4().simple())),
    );
    let (_, _) = (pass_signing(&a), pass_signing(&b));
    let read = |p: std::path::PathBuf| std::fs::read_to_string(p).unwrap();
    let (cert, other_key) = (read(a.join("pass.pem")), read(b.join("pass.key")));
    let refused =
        boxoffice::papers::wallet::PassSigner::from_pem(&cert, &other_key, "", "pass.x", "T", "B").unwrap_err();
    assert!(refused.contains("is not the key of"), "{refused}");
    let refused =
        boxoffice::papers::wallet::PassSigner::from_pem("junk", &other_key, "", "pass.x", "T", "B").unwrap_err();
    assert!(refused.contains("APPLE_PASS_CERTIFICATE"), "{refused}");
    assert!(
        boxoffice::papers::wallet::PassSigner::from_pem(&cert, &read(a.join("pass.key")), "", "pass.x", "T", "B")
            .is_ok()
    );
    // Some settings without the others: the process does not start half-configured.
    let config = crate::helpers::test_config(&["--apple-pass-type-id", "pass.x"]);
    let refused = boxoffice::papers::wallet::PassSigner::from_config(&config).unwrap_err();
    assert!(refused.contains("all of"), "{refused}");
    let _ = (std::fs::remove_dir_all(a), std::fs::remove_dir_all(b));
}
