//! Issue 30, invoices: a paid booking's confirmation issues an invoice with
//! tax in the same transaction, numbered `{prefix}-{year}-{n}` without gaps
//! per organizer; a refund issues a credit note; the papers are PDFs read
//! back with `pdftotext`; free bookings get none.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

async fn invoices(app: &TestApp, token: &str, booking: Uuid) -> crate::helpers::Reply {
    app.get(&format!("/api/v1/bookings/{booking}/invoices"), Some(token)).await
}

/// The text of the PDF at `path`, as `pdftotext` (poppler) reads it.
pub(crate) async fn pdf_text(app: &TestApp, token: &str, path: &str) -> String {
    let response = reqwest::Client::new().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("invoice-{}.pdf", Uuid::new_v4()));
    std::fs::write(&file, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", file.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils, installed by .ci/run)");
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// An organizer with billing details, and a priced event with 19 % VAT.
async fn taxed_event(app: &TestApp, prefix: &str) -> (String, String, String) {
    let (organizer, _) = app.user().await;
    let billing = app
        .call(
            Method::PUT,
            "/api/v1/me/billing",
            Some(&organizer),
            Some(json!({"legal_name": "Konzert GmbH", "address": "Hauptstraße 1\n10115 Berlin",
                        "tax_id": "DE123456789", "invoice_footer": "IBAN DE02 1203 0000 0000 2020 51",
                        "invoice_prefix": prefix})),
        )
        .await;
    assert_eq!(billing.status, StatusCode::OK, "{billing:?}");
    let (event, tt) = app.on_sale_priced(&organizer, 100, 4, 2500).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    let taxed = app
        .patch(&format!("/api/v1/events/{event_id}/ticket-types/{tt}"), Some(&organizer), json!({"tax_rate": 1900}))
        .await;
    assert_eq!((taxed.status, &taxed.body["tax_rate"]), (StatusCode::OK, &json!(1900)), "{taxed:?}");
    (organizer, event_id, tt)
}

fn year() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().year()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_booking_is_invoiced_with_its_tax_and_its_refund_credited() {
    let app = spawn_app().await;
    let (organizer, event_id, tt) = taxed_event(&app, "KG").await;
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 2).await;
    assert_eq!(invoices(&app, &buyer, booking).await.body, json!([]), "held: nothing invoiced yet");

    // The buyer's name and address for the invoice, before it is issued.
    let path = format!("/api/v1/bookings/{booking}/billing");
    let address = json!({"name": "Ada Lovelace Ltd", "address": "1 Analytical Row\nLondon"});
    let billed = app.call(Method::PUT, &path, Some(&buyer), Some(address.clone())).await;
    assert_eq!(billed.status, StatusCode::NO_CONTENT, "{billed:?}");
    let (stranger, _) = app.user().await;
    assert_eq!(
        app.call(Method::PUT, &path, Some(&stranger), Some(address.clone())).await.status,
        StatusCode::NOT_FOUND
    );
    let long = app.call(Method::PUT, &path, Some(&buyer), Some(json!({"name": "x".repeat(201)}))).await;
    assert_eq!(long.fields(), ["name"]);

    let paid = app.mark_paid(&organizer, &event_id, &booking.to_string()).await;
    assert_eq!(paid.body["status"], "confirmed", "{paid:?}");
    let listed = invoices(&app, &buyer, booking).await;
    assert_eq!(listed.status, StatusCode::OK);
    let number = format!("KG-{}-00001", year());
    assert_eq!(
        listed.body,
        json!([{"number": number, "kind": "invoice", "issued_at": listed.body[0]["issued_at"],
                "gross_cents": 5000, "net_cents": 4202, "tax_cents": 798, "currency": "EUR", "credits": null,
                "pdf_url": format!("/api/v1/bookings/{booking}/invoices/{number}.pdf")}]),
    );
    // The organizer sees it too; nobody else does.
    assert_eq!(invoices(&app, &organizer, booking).await.body, listed.body);
    assert_eq!(invoices(&app, &stranger, booking).await.status, StatusCode::NOT_FOUND);
    let pdf_path = format!("/api/v1/bookings/{booking}/invoices/{number}.pdf");
    let text = pdf_text(&app, &buyer, &pdf_path).await;
    for expected in [
        format!("Invoice {number}"),
        "Konzert GmbH".into(),
        "Hauptstraße 1".into(),
        "Tax ID: DE123456789".into(),
        "Ada Lovelace Ltd".into(),
        "1 Analytical Row".into(),
        "2 × Standard".into(),
        "25.00 EUR each, incl. 19 % tax".into(),
        "Tax 19 % on 42.02 EUR".into(),
        "7.98 EUR".into(),
        "50.00 EUR".into(),
        "IBAN DE02 1203 0000 0000 2020 51".into(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in:\n{text}");
    }
    let missing = app.get(&format!("/api/v1/bookings/{booking}/invoices/KG-1999-00001.pdf"), Some(&buyer)).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "not_found"));
    let stranger_pdf = app.get(&pdf_path, Some(&stranger)).await;
    assert_eq!(stranger_pdf.status, StatusCode::NOT_FOUND);

    // Issued: what it names no longer changes.
    let late = app.call(Method::PUT, &path, Some(&buyer), Some(address)).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "invoice_issued"));

    // The refund of a cancellation is credited, against the invoice.
    let cancelled = app.call(Method::POST, &format!("/api/v1/bookings/{booking}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    let listed = invoices(&app, &buyer, booking).await.body;
    let credit = format!("KG-{}-00002", year());
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(
        (&listed[1]["number"], &listed[1]["kind"], &listed[1]["credits"], &listed[1]["gross_cents"]),
        (&json!(credit), &json!("credit_note"), &json!(number), &json!(-5000))
    );
    assert_eq!((&listed[1]["net_cents"], &listed[1]["tax_cents"]), (&json!(-4202), &json!(-798)));
    let text = pdf_text(&app, &organizer, &format!("/api/v1/bookings/{booking}/invoices/{credit}.pdf")).await;
    for expected in [format!("Credit note {credit}"), format!("Corrects invoice {number}"), "-50.00 EUR".into()] {
        assert!(text.contains(&expected), "{expected:?} in:\n{text}");
    }
    // And the invoice itself is as it was.
    assert!(pdf_text(&app, &buyer, &pdf_path).await.contains(&format!("Invoice {number}")));

    // This year's series keeps its prefix: an auditor reads it for gaps.
    let renamed = app
        .call(
            Method::PUT,
            "/api/v1/me/billing",
            Some(&organizer),
            Some(json!({"legal_name": "Konzert GmbH", "address": "Hauptstraße 1", "invoice_prefix": "NEW"})),
        )
        .await;
    assert_eq!(renamed.fields(), ["invoice_prefix"], "{renamed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_that_leave_tax_out_add_it_at_checkout_and_free_bookings_get_no_invoice() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"prices_include_tax": false, "ticket_types": [
                {"name": "Business", "price_cents": 2000, "capacity": 10, "max_per_order": 2, "tax_rate": 700},
                {"name": "Guest", "price_cents": 0, "capacity": 10, "max_per_order": 2, "tax_rate": 700}]}),
        )
        .await;
    assert_eq!(event["prices_include_tax"], false, "{event}");
    let event_id = event["id"].as_str().unwrap();
    let (business, guest) =
        (event["ticket_types"][0]["id"].as_str().unwrap(), event["ticket_types"][1]["id"].as_str().unwrap());
    let page = crate::pages::Visit::new(&app).get(&format!("/events/{event_id}")).await;
    assert!(page.body.contains("plus 7 % tax, added at checkout"), "{}", page.body);
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, business, 1).await;
    let held = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body;
    assert_eq!(held["total_cents"], 2140, "7 % on top: {held}");
    // A rate changed after the hold does not change what it costs.
    let changed = app
        .patch(
            &format!("/api/v1/events/{event_id}/ticket-types/{business}"),
            Some(&organizer),
            json!({"tax_rate": 1900}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(app.mark_paid(&organizer, event_id, &booking.to_string()).await.body["status"], "confirmed");
    let listed = invoices(&app, &buyer, booking).await.body;
    assert_eq!(
        (&listed[0]["net_cents"], &listed[0]["tax_cents"], &listed[0]["gross_cents"]),
        (&json!(2000), &json!(140), &json!(2140)),
        "{listed}"
    );
    let paid: i64 = sqlx::query_scalar("SELECT amount_cents FROM payments WHERE booking_id = $1")
        .bind(booking)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(paid, 2140, "the payment is the invoice's gross");
    let number = listed[0]["number"].as_str().unwrap();
    assert!(number.starts_with(&format!("INV-{}-", year())), "no billing details: the default series");
    let text = pdf_text(&app, &buyer, listed[0]["pdf_url"].as_str().unwrap()).await;
    assert!(text.contains("20.00 EUR each, plus 7 % tax"), "{text}");

    let free = app.book_final(&buyer, guest, 1).await;
    assert_eq!(app.get(&format!("/api/v1/bookings/{free}"), Some(&buyer)).await.body["status"], "confirmed");
    assert_eq!(invoices(&app, &buyer, free).await.body, json!([]), "a free booking has no invoice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_numbers_have_no_gap_and_no_repeat_when_many_are_paid_at_once() {
    let app = spawn_app().await;
    let (organizer, event_id, tt) = taxed_event(&app, "RACE").await;
    let buyers = app.users(40).await;
    let bookings: Vec<Uuid> = futures::future::join_all(buyers.iter().map(|token| app.book_final(token, &tt, 1))).await;
    let marked = futures::future::join_all(bookings.iter().map(|booking| {
        let (app, organizer, event_id) = (&app, &organizer, &event_id);
        async move { app.mark_paid(organizer, event_id, &booking.to_string()).await }
    }))
    .await;
    assert!(marked.iter().all(|r| r.body["status"] == "confirmed"), "{marked:?}");
    // And some are cancelled at once too: their credit notes share the series.
    let cancels = futures::future::join_all(bookings.iter().zip(&buyers).take(10).map(|(booking, token)| {
        let app = &app;
        async move {
            // A 503 ("try again shortly") changed nothing: sent again, as a client does.
            let mut tries = 0;
            loop {
                let reply =
                    app.call(Method::POST, &format!("/api/v1/bookings/{booking}/cancel"), Some(token), None).await;
                tries += 1;
                if reply.status != StatusCode::SERVICE_UNAVAILABLE || tries == 5 {
                    return reply;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
            }
        }
    }))
    .await;
    assert!(cancels.iter().all(|r| r.status == StatusCode::OK), "{cancels:?}");
    let numbers: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT i.number, i.kind, i.seq FROM invoices i JOIN bookings b ON b.id = i.booking_id
         WHERE b.event_id = $1::uuid ORDER BY i.seq",
    )
    .bind(&event_id)
    .fetch_all(app.db())
    .await
    .unwrap();
    assert_eq!(numbers.len(), 50);
    for (i, (number, _, seq)) in numbers.iter().enumerate() {
        assert_eq!(*seq, i as i32 + 1, "gapless: {numbers:?}");
        assert_eq!(*number, format!("RACE-{}-{:05}", year(), i + 1));
    }
    let kinds = |kind: &str| numbers.iter().filter(|(_, k, _)| k == kind).count();
    assert_eq!((kinds("invoice"), kinds("credit_note")), (40, 10));
    app.check_invariants(&tt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_details_and_tax_rates_say_what_is_wrong_with_them() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let none = app.get("/api/v1/me/billing", Some(&organizer)).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    let put = |body: Value| app.call(Method::PUT, "/api/v1/me/billing", Some(&organizer), Some(body));
    let bad = put(json!({"legal_name": "", "address": "Somewhere", "invoice_prefix": "inv-1"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(fields, ["invoice_prefix", "legal_name"]);
    let unknown = put(json!({"legal_name": "A", "address": "B", "iban": "x"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{unknown:?}");
    // What a paper prints whole: a name on a line, six lines of address.
    let long = put(json!({"legal_name": "N".repeat(71), "address": "1\n2\n3\n4\n5\n6\n7"})).await;
    let mut fields = long.fields();
    fields.sort();
    assert_eq!(fields, ["address", "legal_name"], "{long:?}");
    let fine = put(json!({"legal_name": "A GmbH", "address": "B"})).await;
    assert_eq!((fine.status, &fine.body["invoice_prefix"]), (StatusCode::OK, &json!("INV")));
    assert_eq!(app.get("/api/v1/me/billing", Some(&organizer)).await.body, fine.body);
    assert_eq!(app.get("/api/v1/me/billing", None).await.status, StatusCode::UNAUTHORIZED);

    let (_, tt) = app.on_sale_priced(&organizer, 10, 2, 1000).await;
    let event_id: Uuid = sqlx::query_scalar("SELECT event_id FROM ticket_types WHERE id = $1::uuid")
        .bind(&tt)
        .fetch_one(app.db())
        .await
        .unwrap();
    let path = format!("/api/v1/events/{event_id}/ticket-types/{tt}");
    for rate in [-1, 10_001] {
        let refused = app.patch(&path, Some(&organizer), json!({"tax_rate": rate})).await;
        assert_eq!(refused.fields(), ["tax_rate"], "{rate}");
    }
}

/// The text `pdftotext` reads in `pdf`.
fn text_of(pdf: &[u8]) -> String {
    let file = std::env::temp_dir().join(format!("papers-{}.pdf", Uuid::new_v4()));
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").args(["-layout", file.to_str().unwrap(), "-"]).output().unwrap();
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What following the page's link named `text` downloads, read in the page
/// itself (its session's cookie): (status, content type, body).
async fn download(browser: &crate::browser::Browser, text: &str) -> (u64, String, Vec<u8>) {
    use base64::Engine;
    let script = format!(
        "const done = arguments[arguments.length - 1];
         const link = [...document.querySelectorAll('main a')].find(a => a.textContent.trim() === {text:?});
         if (!link) {{ done(null); return; }}
         fetch(link.href, {{credentials: 'same-origin'}}).then(async r => {{
           const bytes = new Uint8Array(await r.arrayBuffer());
           let raw = ''; for (const b of bytes) raw += String.fromCharCode(b);
           done([r.status, r.headers.get('content-type'), btoa(raw)]);
         }}).catch(e => done([0, String(e), '']));"
    );
    let got = browser.execute_async(&script).await;
    assert!(got.is_array(), "a link {text:?} on {}", browser.url().await);
    let body = base64::engine::general_purpose::STANDARD.decode(got[2].as_str().unwrap()).unwrap();
    (got[0].as_u64().unwrap(), got[1].as_str().unwrap_or_default().to_owned(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_names_the_invoice_and_downloads_tickets_and_invoice_from_the_booking_page() {
    let app = spawn_app().await;
    let (organizer, event_id, tt) = taxed_event(&app, "WEB").await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let buyer = app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let booking = app.book_final(&buyer, &tt, 1).await;

    let browser = crate::browser::Browser::start("invoice-download").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&app.url(&format!("/bookings/{booking}"))).await;
    browser.wait_for_text("Invoice to").await;
    browser.fill("Name", "Byron & Co").await;
    browser.type_into("#billing_address", "12 Piccadilly\nLondon").await;
    browser.click("Save for the invoice").await;
    browser.wait_for_text("Saved.").await;
    browser.accessibility().await;

    assert_eq!(app.mark_paid(&organizer, &event_id, &booking.to_string()).await.body["status"], "confirmed");
    browser.goto(&app.url(&format!("/bookings/{booking}"))).await;
    let number = format!("WEB-{}-00001", year());
    browser.wait_for_text(&format!("Invoice {number} (PDF)")).await;
    browser.accessibility().await;
    browser.screenshot("booking-invoice-1280").await;
    let phone = crate::browser::Browser::start_with("invoice-phone", &["--window-size=375,812".to_owned()]).await;
    phone.sign_in(&app.base, &email).await;
    phone.goto(&app.url(&format!("/bookings/{booking}"))).await;
    phone.wait_for_text(&format!("Invoice {number} (PDF)")).await;
    let fits = phone.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
    assert_eq!(fits, json!(true), "no sideways scrolling at 375 px");
    phone.screenshot("booking-invoice-375").await;

    let (status, kind, tickets) = download(&browser, "Download tickets (PDF)").await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    let code: String = sqlx::query_scalar("SELECT code FROM tickets WHERE booking_id = $1")
        .bind(booking)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(text_of(&tickets).contains(&code), "the ticket's code in its PDF");
    let (status, kind, invoice) = download(&browser, &format!("Invoice {number} (PDF)")).await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    // Kept as an image beside the screenshots, to look at.
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    let _ = std::fs::create_dir_all(&shots);
    std::fs::write(shots.join("invoice.pdf"), &invoice).unwrap();
    let drawn = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-singlefile"])
        .arg(shots.join("invoice.pdf"))
        .arg(shots.join("invoice"))
        .status()
        .unwrap();
    assert!(drawn.success(), "pdftoppm draws the invoice");
    let text = text_of(&invoice);
    for expected in [format!("Invoice {number}"), "Byron & Co".into(), "12 Piccadilly".into(), "25.00 EUR".into()] {
        assert!(text.contains(&expected), "{expected:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_takes_a_periods_invoices_as_pdfs_and_a_ledger() {
    let app = spawn_app().await;
    let (organizer, event_id, tt) = taxed_event(&app, "BOOK").await;
    let (buyer, _) = app.user().await;
    let first = app.book_final(&buyer, &tt, 2).await;
    app.mark_paid(&organizer, &event_id, &first.to_string()).await;
    let (other, _) = app.user().await;
    let second = app.book_final(&other, &tt, 1).await;
    app.mark_paid(&organizer, &event_id, &second.to_string()).await;
    let cancelled = app.call(Method::POST, &format!("/api/v1/bookings/{second}/cancel"), Some(&other), None).await;
    assert_eq!(cancelled.status, StatusCode::OK);

    let today = chrono::Utc::now().date_naive();
    let path = format!("/api/v1/me/invoices.zip?from={}&to={today}", today.pred_opt().unwrap());
    let response = reqwest::Client::new().get(app.url(&path)).bearer_auth(&organizer).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let zip = response.bytes().await.unwrap();
    let file = std::env::temp_dir().join(format!("invoices-{}.zip", Uuid::new_v4()));
    std::fs::write(&file, &zip).unwrap();
    // Read back by Python's own zipfile: the names, and the ledger.
    let listing = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
             print('\\n'.join(sorted(z.namelist()))); print('---'); print(z.read('ledger.csv').decode())",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
    let listing = String::from_utf8(listing.stdout).unwrap();
    let (names, ledger) = listing.split_once("---\n").unwrap();
    let y = year();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            format!("BOOK-{y}-00001.pdf"),
            format!("BOOK-{y}-00002.pdf"),
            format!("BOOK-{y}-00003.pdf"),
            "ledger.csv".into()
        ]
    );
    let lines: Vec<&str> = ledger.lines().collect();
    assert_eq!(lines[0], "number,kind,issued_at,booking,buyer,currency,net,tax,gross,credits,tax 19 %");
    assert!(
        lines[1].starts_with(&format!("BOOK-{y}-00001,invoice,")) && lines[1].ends_with(",EUR,42.02,7.98,50.00,,7.98"),
        "{ledger}"
    );
    assert!(lines[3].starts_with(&format!("BOOK-{y}-00003,credit_note,")), "{ledger}");
    assert!(lines[3].ends_with(&format!(",EUR,-21.01,-3.99,-25.00,BOOK-{y}-00002,-3.99")), "{ledger}");

    // Another organizer's period is theirs alone; days that are not days are named.
    let (stranger, _) = app.user().await;
    let theirs = reqwest::Client::new().get(app.url(&path)).bearer_auth(&stranger).send().await.unwrap();
    let bytes = theirs.bytes().await.unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("BOOK-"), "none of this organizer's papers");
    let bad = app.get("/api/v1/me/invoices.zip?from=2026-13-01&to=2026-01-01", Some(&organizer)).await;
    assert_eq!(bad.fields(), ["from"]);
    let reversed = app.get("/api/v1/me/invoices.zip?from=2026-02-01&to=2026-01-01", Some(&organizer)).await;
    assert_eq!(reversed.fields(), ["to"]);
    let far = app.get("/api/v1/me/invoices.zip?from=-100000-01-01&to=9999-12-31", Some(&organizer)).await;
    assert_eq!(far.fields(), ["from", "to"], "{far:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_raised_while_a_request_waits_refuses_it_as_a_changed_price() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let sales_start = chrono::Utc::now() + chrono::Duration::seconds(4);
    let event = app
        .published_event(
            &organizer,
            json!({"prices_include_tax": false, "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                   "ticket_types": [{"name": "Business", "price_cents": 2000, "capacity": 10, "max_per_order": 2,
                                     "tax_rate": 700}]}),
        )
        .await;
    let (event_id, tt) = (event["id"].as_str().unwrap(), event["ticket_types"][0]["id"].as_str().unwrap());
    let (buyer, _) = app.user().await;
    let (other, _) = app.user().await;
    let waiting = app.book(&buyer, tt, 1, None).await;
    assert_eq!(waiting.status, StatusCode::ACCEPTED, "{waiting:?}");
    let id = crate::helpers::accepted_ids(&[waiting])[0];
    // Shown 20.00 + 7 %; by its turn, 19 % is added.
    let raised = app
        .patch(&format!("/api/v1/events/{event_id}/ticket-types/{tt}"), Some(&organizer), json!({"tax_rate": 1900}))
        .await;
    assert_eq!(raised.status, StatusCode::OK);
    let after = app.book(&other, tt, 1, None).await;
    let later = crate::helpers::accepted_ids(&[after])[0];
    app.wait_final(&[id, later], std::time::Duration::from_secs(30)).await;
    let decided = app.get(&format!("/api/v1/bookings/{id}"), Some(&buyer)).await.body;
    assert_eq!((&decided["status"], &decided["reason"]), (&json!("rejected"), &json!("price_changed")), "{decided}");
    let shown_now = app.get(&format!("/api/v1/bookings/{later}"), Some(&other)).await.body;
    assert_eq!((&shown_now["status"], &shown_now["total_cents"]), (&json!("held"), &json!(2380)), "{shown_now}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organizer_sets_billing_details_in_the_back_office_and_downloads_a_period() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let organizer = app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let (event, tt) = app.on_sale_priced(&organizer, 10, 2, 1200).await;
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, &tt, 1).await;

    let browser = crate::browser::Browser::start("billing-back-office").await;
    browser.sign_in(&app.base, &email).await;
    browser.goto(&app.url("/manage")).await;
    browser.click("Billing details").await;
    browser.wait_for_path("/manage/billing").await;
    browser.fill("Legal name", &"L".repeat(71)).await;
    browser.type_into("#address", "Rue de la Paix 1\n75002 Paris").await;
    browser.click("Save").await;
    browser.wait_for_text("at most 70 characters").await;
    browser.accessibility().await;
    browser.fill("Legal name", "Salle Pleyel SAS").await;
    browser.fill("Tax ID", "FR12345678901").await;
    browser.fill("Number prefix", "PLY").await;
    browser.click("Save").await;
    browser.wait_for_text("Saved.").await;
    browser.accessibility().await;
    browser.screenshot("billing-1280").await;

    let paid = app.mark_paid(&organizer, event["id"].as_str().unwrap(), &booking.to_string()).await;
    assert_eq!(paid.body["status"], "confirmed");
    let today = chrono::Utc::now().date_naive().to_string();
    // (A date field takes its value in the browser's locale when typed: set it.)
    browser
        .execute(
            "document.querySelector('#period_from').value = arguments[0];
             document.querySelector('#period_to').value = arguments[0];",
            json!([today]),
        )
        .await;
    // The form's own address, as the button would ask it, fetched in the page.
    let got = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const form = document.querySelector('form[action=\"/manage/invoices.zip\"]');
             const query = new URLSearchParams(new FormData(form)).toString();
             fetch(form.action + '?' + query, {credentials: 'same-origin'})
               .then(r => done([r.status, r.headers.get('content-type')])).catch(e => done([0, String(e)]));",
        )
        .await;
    assert_eq!(got, json!([200, "application/zip"]), "the period's ZIP");
    // Days that are not a period are said next to their fields.
    browser.goto(&app.url("/manage/invoices.zip?from=2026-02-01&to=2026-01-01")).await;
    browser.wait_for_text("must not be before from").await;
    browser.accessibility().await;

    // On a phone: the form fits without sideways scrolling.
    let phone = crate::browser::Browser::start_with("billing-phone", &["--window-size=375,812".to_owned()]).await;
    phone.sign_in(&app.base, &email).await;
    phone.goto(&app.url("/manage/billing")).await;
    phone.wait_for_text("Invoices of a period").await;
    let fits = phone.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
    assert_eq!(fits, json!(true), "no sideways scrolling at 375 px");
    phone.screenshot("billing-375").await;

    // Another person's invoice and billing form are not there.
    let number: String = sqlx::query_scalar("SELECT number FROM invoices WHERE booking_id = $1")
        .bind(booking)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert!(number.starts_with("PLY-"), "{number}");
    let mut stranger = crate::pages::Visit::new(&app);
    let stranger_email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&stranger_email).await.status, StatusCode::CREATED);
    stranger.sign_in(&stranger_email).await;
    let theirs = stranger.get(&format!("/bookings/{booking}/invoices/{number}.pdf")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let anonymous = crate::pages::Visit::new(&app).get("/manage/billing").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER, "to sign in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_issues_no_invoices_confirms_and_refunds_without_papers_and_stays_so() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"issue_invoices": false, "ticket_types": [
                {"name": "Own books", "price_cents": 3000, "capacity": 10, "max_per_order": 2, "tax_rate": 1900}]}),
        )
        .await;
    assert_eq!(event["issue_invoices"], false, "{event}");
    let event_id = event["id"].as_str().unwrap();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let (buyer, _) = app.user().await;
    let booking = app.book_final(&buyer, tt, 1).await;
    assert_eq!(app.mark_paid(&organizer, event_id, &booking.to_string()).await.body["status"], "confirmed");
    assert_eq!(invoices(&app, &buyer, booking).await.body, json!([]), "no invoice");
    let cancelled = app.post(&format!("/api/v1/bookings/{booking}/cancel"), Some(&buyer), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    assert_eq!(invoices(&app, &buyer, booking).await.body, json!([]), "no credit note");
    let violations = boxoffice::db::invariants::invoice_violations(app.db(), tt.parse().unwrap()).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");

    // Published: fixed either way, so every paid booking is invoiced alike.
    let path = format!("/api/v1/events/{event_id}");
    let refused = app.patch(&path, Some(&organizer), json!({"issue_invoices": true})).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::CONFLICT, Some("invoicing_fixed")));
    let same = app.patch(&path, Some(&organizer), json!({"issue_invoices": false})).await;
    assert_eq!(same.status, StatusCode::OK, "asking for what it is changes nothing: {same:?}");
    // The back office shows it fixed, and saving the form keeps it.
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(app.get("/api/v1/me", Some(&organizer)).await.body["email"].as_str().unwrap()).await;
    let form = visit.get(&format!("/manage/events/{event_id}/edit")).await;
    assert!(form.body.contains("Fixed since the event was published"), "{}", form.body);
    assert!(!form.body.contains("name=\"invoices_field\""), "{}", form.body);

    // A draft may change it; its default is to issue them.
    let draft = app.create_event(&organizer, json!({})).await.body;
    assert_eq!(draft["issue_invoices"], true, "{draft}");
    let path = format!("/api/v1/events/{}", draft["id"].as_str().unwrap());
    let off = app.patch(&path, Some(&organizer), json!({"issue_invoices": false})).await;
    assert_eq!((off.status, &off.body["issue_invoices"]), (StatusCode::OK, &json!(false)), "{off:?}");
    let form = visit.get(&format!("/manage/events/{}/edit", draft["id"].as_str().unwrap())).await;
    assert!(form.body.contains("name=\"invoices_field\"") && !form.body.contains("Fixed since"), "{}", form.body);
}
