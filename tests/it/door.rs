//! Tickets at the door: details, QR codes, check-in, attendee list, stats.

use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, accepted_ids, spawn_app};

const FINAL_WITHIN: Duration = Duration::from_secs(30);

/// Books `quantity` seats as `token` and waits for the confirmation: the ticket codes.
async fn confirmed_codes(app: &TestApp, token: &str, tt: &str, quantity: i64) -> (String, Vec<String>) {
    let reply = app.book(token, tt, quantity, None).await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
    let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(token)).await.body;
    assert_eq!(booking["status"], "confirmed");
    (id, booking["tickets"].as_array().unwrap().iter().map(|t| t["code"].as_str().unwrap().to_owned()).collect())
}

/// `count` more tickets on `booking`, written directly, with codes starting
/// with `prefix` (so several bookings can have their own).
async fn add_tickets(app: &TestApp, booking: &str, prefix: &str, count: i32) {
    sqlx::query(
        "INSERT INTO tickets (code, booking_id, event_id, ticket_type_id, position)
         SELECT $2 || lpad(i::text, 25, '0'), b.id, b.event_id, b.ticket_type_id,
                -- Once (not per row: each would scan the index entries this insert adds).
                (SELECT coalesce(max(position), -1) FROM tickets WHERE booking_id = $1::uuid) + i
         FROM bookings b, generate_series(1, $3) AS i WHERE b.id = $1::uuid",
    )
    .bind(booking)
    .bind(prefix)
    .bind(count)
    .execute(app.db())
    .await
    .unwrap();
}

/// An organizer, a buyer, and one confirmed ticket of the organizer's event:
/// (organizer, buyer, event id, ticket code).
async fn one_sold_ticket(app: &TestApp) -> (String, String, String, String) {
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let (_, codes) = confirmed_codes(app, &buyer, &tt, 1).await;
    (organizer, buyer, event["id"].as_str().unwrap().to_owned(), codes[0].clone())
}

async fn scan(app: &TestApp, token: &str, event: &str, code: &str) -> crate::helpers::Reply {
    app.post(&format!("/api/v1/events/{event}/check-ins"), Some(token), json!({"code": code})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_and_its_qr_code_are_for_its_owner_and_the_organizer_only() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (stranger, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let (booking, codes) = confirmed_codes(&app, &buyer, &tt, 1).await;
    let path = format!("/api/v1/tickets/{}", codes[0]);

    for token in [&buyer, &organizer] {
        let ticket = app.get(&path, Some(token)).await;
        assert_eq!(ticket.status, StatusCode::OK);
        assert_eq!(ticket.body["status"], "valid");
        assert_eq!(ticket.body["booking_id"], booking);
        assert_eq!(ticket.body["event"]["id"], event["id"]);
        assert_eq!(ticket.body["ticket_type"]["name"], "Standard");
        let qr = app.client.get(app.url(&format!("{path}/qr.svg"))).bearer_auth(token).send().await.unwrap();
        assert_eq!(qr.status(), StatusCode::OK);
        assert_eq!(qr.headers()["content-type"], "image/svg+xml");
        let svg = qr.text().await.unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg, boxoffice::qr::svg(&codes[0]), "the QR code carries the ticket code");
    }
    assert_eq!(app.get(&path, Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("{path}/qr.svg"), Some(&stranger)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    for garbage in ["nope", "%00", "0123456789ABCDEFGHJKMNPQRS"] {
        assert_eq!(app.get(&format!("/api/v1/tickets/{garbage}"), Some(&buyer)).await.status, StatusCode::NOT_FOUND);
    }
}

#[test]
fn the_qr_image_decodes_to_the_ticket_code() {
    let code = boxoffice::domain::booking::new_ticket_code();
    let png = boxoffice::qr::png(&code);
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND); // one bit a pixel to grey levels
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_concurrent_scans_of_one_ticket_exactly_one_admits() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let event_id = event["id"].as_str().unwrap();
    let (booking, codes) = confirmed_codes(&app, &organizer, &tt, 1).await;
    let replies = join_all((0..20).map(|_| scan(&app, &organizer, event_id, &codes[0]))).await;
    let admitted: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(admitted.len(), 1, "{replies:?}");
    let first = &admitted[0].body;
    assert_eq!((first["status"].as_str(), first["booking_id"].as_str()), (Some("checked_in"), Some(booking.as_str())));
    assert_eq!(first["attendee_name"], "Test User");
    for refused in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "already_checked_in"));
        let (a, b): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) = (
            refused.body["checked_in_at"].as_str().unwrap().parse().unwrap(),
            first["checked_in_at"].as_str().unwrap().parse().unwrap(),
        );
        assert_eq!(a, b, "the time of the first scan");
    }
    // A mistaken scan can be undone (then the ticket admits again).
    let undo = app
        .call(Method::DELETE, &format!("/api/v1/events/{event_id}/check-ins/{}", codes[0]), Some(&organizer), None)
        .await;
    assert_eq!(undo.status, StatusCode::NO_CONTENT);
    assert_eq!(scan(&app, &organizer, event_id, &codes[0]).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn void_foreign_and_unknown_tickets_are_refused_and_only_the_organizer_scans() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let (_, other_tt) = app.on_sale(&organizer, 10, 4).await;
    let event_id = event["id"].as_str().unwrap();
    let (booking, codes) = confirmed_codes(&app, &buyer, &tt, 2).await;
    let (_, foreign) = confirmed_codes(&app, &buyer, &other_tt, 1).await;

    let stranger = scan(&app, &buyer, event_id, &codes[0]).await;
    assert_eq!((stranger.status, stranger.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(
        scan(&app, &organizer, event_id, &foreign[0]).await.status,
        StatusCode::NOT_FOUND,
        "another event's ticket"
    );
    assert_eq!(scan(&app, &organizer, event_id, "not-a-code").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        scan(&app, &organizer, event_id, &boxoffice::domain::booking::new_ticket_code()).await.status,
        StatusCode::NOT_FOUND
    );
    // Scanners send lower case sometimes.
    assert_eq!(scan(&app, &organizer, event_id, &codes[1].to_lowercase()).await.status, StatusCode::OK);

    let cancelled = app.call(Method::POST, &format!("/api/v1/bookings/{booking}/cancel"), Some(&buyer), None).await;
    assert_eq!(cancelled.status, StatusCode::CONFLICT, "a booking with a used ticket cannot be cancelled");
    let (booking, codes) = confirmed_codes(&app, &buyer, &tt, 1).await;
    app.call(Method::POST, &format!("/api/v1/bookings/{booking}/cancel"), Some(&buyer), None).await;
    let void = scan(&app, &organizer, event_id, &codes[0]).await;
    assert_eq!((void.status, void.code()), (StatusCode::CONFLICT, "ticket_void"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attendee_list_survives_hostile_names_and_parses_back() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 50, 4).await;
    let names = [
        "Lovelace, Ada",
        "Grace \"Amazing\" Hopper",
        "=HYPERLINK(\"http://evil\",\"click\")",
        "+1 (555) 0100",
        "-Dash",
        "@handle",
        "Zoë Ünicode",
    ];
    let mut expected = Vec::new();
    for name in names {
        let email = format!("{}@example.org", Uuid::new_v4().simple());
        let reply =
            app.post("/api/v1/auth/register", None, json!({"email": email, "password": PASSWORD, "name": name})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {reply:?}");
        let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let (booking, codes) = confirmed_codes(&app, &token, &tt, 1).await;
        expected.push((codes[0].clone(), name.to_owned(), email, booking));
    }
    let event_id = event["id"].as_str().unwrap();
    scan(&app, &organizer, event_id, &expected[0].0).await;
    let reply = app
        .client
        .get(app.url(&format!("/api/v1/events/{event_id}/attendees.csv")))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["content-type"], "text/csv; charset=utf-8");
    let body = reply.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["ticket_code", "ticket_type", "attendee_name", "attendee_email", "booking_id", "status", "checked_in_at"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), names.len());
    for (code, name, email, booking) in &expected {
        let row = rows.iter().find(|r| &r[0] == code).unwrap();
        let shown = if name.starts_with(['=', '+', '-', '@']) { format!("'{name}") } else { name.clone() };
        assert_eq!(&row[2], shown, "no formula reaches the spreadsheet");
        assert_eq!((&row[1], &row[3], &row[4]), ("Standard", email.as_str(), booking.as_str()));
    }
    let scanned = rows.iter().find(|r| r[0] == expected[0].0).unwrap();
    assert_eq!(&scanned[5], "checked_in");
    assert!(!scanned[6].is_empty());

    let (stranger, _) = app.user().await;
    let refused = app.get(&format!("/api/v1/events/{event_id}/attendees.csv"), Some(&stranger)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_attendee_list_is_streamed_whole() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let (booking, _) = confirmed_codes(&app, &organizer, &tt, 1).await;
    add_tickets(&app, &booking, "T", 20_000).await;
    let event_id = event["id"].as_str().unwrap();
    let reply = app
        .client
        .get(app.url(&format!("/api/v1/events/{event_id}/attendees.csv")))
        .bearer_auth(&organizer)
        .send()
        .await
        .unwrap();
    assert!(reply.headers().get("content-length").is_none(), "streamed, not built in memory first");
    let body = reply.text().await.unwrap();
    assert_eq!(body.lines().count(), 1 + 20_001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stats_agree_with_the_bookings_after_a_stampede_and_cancellations() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let tokens = app.users(8).await;
    let (event, tt) = app.on_sale_priced(&organizer, 40, 2, 1000).await;
    let event_id = event["id"].as_str().unwrap();
    let replies = join_all((0..200).map(|i| app.book(&tokens[i % 8], &tt, 1 + (i % 2) as i64, None))).await;
    app.wait_final(&accepted_ids(&replies), FINAL_WITHIN).await;

    // Every hold but the newest is paid (offline, marked by the organizer).
    let held: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT b.id::text, u.email, b.quantity FROM bookings b JOIN users u ON u.id = b.user_id
         WHERE b.status = 'held' ORDER BY b.id",
    )
    .fetch_all(app.db())
    .await
    .unwrap();
    let (still_held, to_pay) = held.split_last().unwrap();
    for (id, _, _) in to_pay {
        let paid = app.mark_paid(&organizer, event_id, id).await;
        assert_eq!(paid.body["status"], "confirmed", "{paid:?}");
    }
    // Cancel two paid bookings (refunded), check one ticket in.
    let mut cancelled_seats = 0;
    for (id, email, quantity) in &to_pay[..2] {
        let token = app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let reply = app.call(Method::POST, &format!("/api/v1/bookings/{id}/cancel"), Some(&token), None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.body["refund"],
            json!({"status": "pending", "amount_cents": quantity * 1000, "paid_back_at": null}),
            "offline: for the organizer to pay out"
        );
        cancelled_seats += i64::from(*quantity);
    }
    let code: String = sqlx::query_scalar("SELECT code FROM tickets WHERE booking_id = $1::uuid LIMIT 1")
        .bind(&to_pay[2].0)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(scan(&app, &organizer, event_id, &code).await.status, StatusCode::OK);

    // The worker forgets a decided request in Redis just after its
    // transaction commits: until then the stats may still count it in line.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stats = loop {
        let stats = app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&organizer)).await;
        assert_eq!(stats.status, StatusCode::OK, "{stats:?}");
        if stats.body["totals"]["pending"] == 0 || std::time::Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let sold = app.check_invariants(&tt).await;
    let tt_stats: &Value = &stats.body["ticket_types"][0];
    assert_eq!(tt_stats["capacity"], 40);
    assert_eq!(tt_stats["sold"], sold);
    assert_eq!(tt_stats["held"], still_held.2);
    assert_eq!(tt_stats["remaining"], 40 - sold - i64::from(still_held.2));
    assert_eq!(tt_stats["cancelled"], cancelled_seats);
    assert_eq!(tt_stats["checked_in"], 1);
    assert_eq!(tt_stats["pending"], 0);
    assert_eq!(tt_stats["revenue_cents"], sold * 1000, "paid minus refunded; a hold is not revenue");
    assert_eq!(tt_stats["currency"], "EUR");
    assert_eq!(stats.body["totals"]["sold"], sold);
    assert_eq!(stats.body["totals"]["held"], still_held.2);
    assert_eq!(stats.body["totals"]["revenue_cents"], sold * 1000);

    let (stranger, _) = app.user().await;
    assert_eq!(
        app.get(&format!("/api/v1/events/{event_id}/stats"), Some(&stranger)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undoing_a_check_in_never_revives_a_ticket_of_a_cancelled_event() {
    let app = spawn_app().await;
    let (organizer, buyer, event_id, code) = one_sold_ticket(&app).await;
    let event_id = event_id.as_str();
    let codes = [code];
    assert_eq!(scan(&app, &organizer, event_id, &codes[0]).await.status, StatusCode::OK);

    let cancel = app.call(Method::POST, &format!("/api/v1/events/{event_id}/cancel"), Some(&organizer), None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{cancel:?}");
    let ticket = app.get(&format!("/api/v1/tickets/{}", codes[0]), Some(&buyer)).await;
    assert_eq!(ticket.body["status"], "void", "the event is off: a used ticket is void too");

    let undo = app
        .call(Method::DELETE, &format!("/api/v1/events/{event_id}/check-ins/{}", codes[0]), Some(&organizer), None)
        .await;
    assert_eq!(undo.status, StatusCode::NOT_FOUND, "{undo:?}");
    let rescan = scan(&app, &organizer, event_id, &codes[0]).await;
    assert_eq!((rescan.status, rescan.code()), (StatusCode::CONFLICT, "ticket_void"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_code_in_lower_case_or_with_spaces_names_the_same_ticket_everywhere() {
    let app = spawn_app().await;
    let (organizer, buyer, event_id, code) = one_sold_ticket(&app).await;
    let event_id = event_id.as_str();
    let codes = [code];
    let lower = codes[0].to_lowercase();

    let ticket = app.get(&format!("/api/v1/tickets/{lower}"), Some(&buyer)).await;
    assert_eq!((ticket.status, ticket.body["code"].as_str()), (StatusCode::OK, Some(codes[0].as_str())));
    let qr = app.get(&format!("/api/v1/tickets/{lower}/qr.svg"), Some(&buyer)).await;
    assert_eq!(qr.status, StatusCode::OK);
    assert_eq!(scan(&app, &organizer, event_id, &format!(" {lower} ")).await.status, StatusCode::OK);
    let undo =
        app.call(Method::DELETE, &format!("/api/v1/events/{event_id}/check-ins/{lower}"), Some(&organizer), None).await;
    assert_eq!(undo.status, StatusCode::NO_CONTENT, "{undo:?}");
}

/// A request for the attendee list whose answer is never read, on a socket
/// with a small receive buffer (Linux would otherwise take megabytes in).
async fn unread_download(app: &TestApp, token: &str, event_id: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = socket.connect(app.base.trim_start_matches("http://").parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /api/v1/events/{event_id}/attendees.csv HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n"
    );
    let mut written = 0;
    while written < request.len() {
        stream.writable().await.unwrap();
        match stream.try_write(&request.as_bytes()[written..]) {
            Ok(n) => written += n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("{err}"),
        }
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attendee_lists_nobody_reads_leave_the_database_to_everyone_else() {
    // The pool has 5 connections (the test default); 10 downloads stall.
    let app = spawn_app().await;
    let mut organizers = Vec::new();
    for prefix in ["A", "B", "C", "D", "E"] {
        let (organizer, _) = app.user().await;
        let (event, tt) = app.on_sale(&organizer, 10, 4).await;
        let (booking, _) = confirmed_codes(&app, &organizer, &tt, 1).await;
        // Far more CSV than the sockets' buffers hold (about 14 MB).
        add_tickets(&app, &booking, prefix, 100_000).await;
        organizers.push((organizer, event["id"].as_str().unwrap().to_owned()));
    }
    let mut stalled = Vec::new();
    for (organizer, event_id) in &organizers {
        for _ in 0..2 {
            stalled.push(unread_download(&app, organizer, event_id).await);
        }
    }
    // Give the downloads time to fill the sockets and block.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (someone, _) = app.user().await;
    for _ in 0..3 {
        let me = app.get("/api/v1/me", Some(&someone)).await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
    }
    // A third download of one organizer waits its turn.
    let (organizer, event_id) = &organizers[0];
    let third = app.client.get(app.url(&format!("/api/v1/events/{event_id}/attendees.csv"))).bearer_auth(organizer);
    let third = third.send().await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attendee_list_cut_off_by_its_deadline_ends_with_an_error_not_as_if_complete() {
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&["--export-deadline-secs", "1"])).await;
    let (organizer, _) = app.user().await;
    let (event, tt) = app.on_sale(&organizer, 10, 4).await;
    let (booking, _) = confirmed_codes(&app, &organizer, &tt, 1).await;
    // Far more than the sockets' buffers hold (about 20 MB): it cannot all
    // be sent before the deadline.
    add_tickets(&app, &booking, "T", 150_000).await;
    let stream = unread_download(&app, &organizer, event["id"].as_str().unwrap()).await;
    // The client reads nothing until the deadline has passed, then everything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut stream = stream.into_std().unwrap();
    let received = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        received
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{}", &text[..text.len().min(200)]);
    assert!(!text.contains("T0000000000000000000150000"), "cut off before the end");
    assert!(!text.ends_with("\r\n0\r\n\r\n"), "no closing chunk: the client can tell the list is incomplete");
}

/// Issue 28, item 6: a booking whose ticket was used at the door cannot be
/// cancelled from its page (the seat was used; its money is not a refund).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_with_a_used_ticket_offers_no_cancel() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
    let buyer = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let (event, tt) = app.on_sale(&organizer, 10, 2).await;
    let booking = app.book_final(&buyer, &tt, 2).await;
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let before = visit.get(&format!("/bookings/{booking}")).await;
    assert!(before.body.contains("Cancel booking"), "{}", before.body);

    let tickets = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body["tickets"].clone();
    let code = tickets[0]["code"].as_str().unwrap();
    let event_id = event["id"].as_str().unwrap();
    assert_eq!(scan(&app, &organizer, event_id, code).await.status, StatusCode::OK);
    let after = visit.get(&format!("/bookings/{booking}")).await;
    assert!(after.body.contains("checked in"), "{}", after.body);
    assert!(!after.body.contains("Cancel booking"), "{}", after.body);
}
