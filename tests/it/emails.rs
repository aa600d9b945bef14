//! Confirmation and cancellation emails through the outbox, against a real
//! SMTP server (tests/it/smtp.rs).

use std::collections::HashSet;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, accepted_ids, eventually, spawn_app_with, test_config};
use crate::smtp::SmtpSink;

const FINAL_WITHIN: Duration = Duration::from_secs(30);

async fn app_with_smtp(sink: &SmtpSink) -> TestApp {
    spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await
}

/// A buyer with a known address: (email, token).
async fn buyer(app: &TestApp) -> (String, String) {
    let email = format!("buyer-{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    (email, token)
}

type OutboxRow = (String, String, i32, Option<String>);

/// The outbox rows once the first satisfies `ready`; fails with the rows it
/// last saw when that does not happen within 10 s.
async fn outbox_rows_when(app: &TestApp, ready: impl Fn(&OutboxRow) -> bool) -> Vec<OutboxRow> {
    eventually(Duration::from_secs(10), "the first outbox row ready", || async {
        let rows = outbox_rows(app).await;
        if rows.first().is_some_and(&ready) { Ok(rows) } else { Err(rows) }
    })
    .await
}

/// The outbox once the mailer is done with every row (none pending): the
/// rows are written in the transaction that decides what happened, so no
/// email can come that is not one of them, and each row is sent once.
/// Fails with the rows it last saw after 30 s.
async fn settled_outbox(app: &TestApp) -> Vec<OutboxRow> {
    eventually(Duration::from_secs(30), "every outbox row sent or skipped", || async {
        let rows = outbox_rows(app).await;
        if rows.iter().all(|r| r.1 != "pending") { Ok(rows) } else { Err(rows) }
    })
    .await
}

async fn outbox_rows(app: &TestApp) -> Vec<OutboxRow> {
    sqlx::query_as("SELECT kind, status, attempts, last_error FROM outbox ORDER BY created_at")
        .fetch_all(app.db())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_booking_sends_the_buyer_one_email_with_every_ticket() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (email, token) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    let reply = app.book(&token, &tt, 3, None).await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;

    let messages = sink.wait_for(1, 20).await;
    assert_eq!(settled_outbox(&app).await.len(), 1, "one email to send");
    assert_eq!(sink.messages().len(), 1, "exactly one email");
    let message = &messages[0];
    assert_eq!(message.to, [email]);
    assert_eq!(message.header("Subject").unwrap(), "Your tickets for Night of Rust");
    let message_id = message.header("Message-ID").unwrap();
    let outbox_id: Uuid = sqlx::query_scalar("SELECT id FROM outbox").fetch_one(app.db()).await.unwrap();
    assert_eq!(message_id, format!("<{outbox_id}@localhost>"), "the Message-ID comes from the outbox row");
    assert!(message.data.contains("multipart/alternative"));
    assert!(message.data.contains(&id), "the booking's link");
    let booking = app.get(&format!("/api/v1/bookings/{id}"), Some(&token)).await;
    let reference = booking.body["reference"].as_str().expect("a written booking has a reference").to_owned();
    let decoded = message.data.replace("=\r\n", ""); // quoted-printable's soft line breaks
    assert_eq!(decoded.matches(reference.as_str()).count(), 2, "the reference in the text and the HTML: {reference}");
    assert!(message.data.contains("Main Hall, Berlin"), "the venue");
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM tickets").fetch_all(app.db()).await.unwrap();
    assert_eq!(codes.len(), 3);
    for code in &codes {
        assert!(message.data.contains(code.as_str()), "ticket {code} in the email");
        assert!(message.data.contains(&format!("qr-{code}")), "the QR image of {code}");
    }
    assert_eq!(message.data.matches("Content-Type: image/png").count(), 3);
    // The tickets as a PDF too, one page each, as a viewer reads it.
    let pdf = attachment(&message.data, "tickets.pdf").expect("tickets.pdf attached");
    assert!(pdf.starts_with(b"%PDF-"));
    let file = std::env::temp_dir().join(format!("boxoffice-mail-{}.pdf", Uuid::new_v4().simple()));
    std::fs::write(&file, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext").arg(&file).arg("-").output().expect("pdftotext runs");
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&text.stdout);
    for code in &codes {
        assert!(text.contains(code.as_str()), "ticket {code} in the PDF: {text}");
    }
    assert_eq!(outbox_rows(&app).await[0].1, "sent");
}

/// The decoded body of the base64 MIME part named `filename` in `data` as
/// the test's SMTP sink keeps it (lines ended by LF, and "=" at a line's end
/// taken for quoted-printable's soft break: base64's padding goes with it,
/// so it is put back).
fn attachment(data: &str, filename: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let at = data.find(&format!("filename=\"{filename}\""))?;
    let rest = &data[at..];
    let body = &rest[rest.find("\n\n")? + 2..];
    let mut encoded: String = body
        .chars()
        .filter(|c| !c.is_whitespace())
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    while !encoded.len().is_multiple_of(4) {
        encoded.push('=');
    }
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_booking_sends_no_email() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, first) = buyer(&app).await;
    let (_, second) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 1, 1).await;
    let a = app.book(&first, &tt, 1, None).await;
    app.wait_final(&accepted_ids(&[a]), FINAL_WITHIN).await;
    let b = app.book(&second, &tt, 1, None).await;
    if b.status == StatusCode::ACCEPTED {
        app.wait_final(&accepted_ids(&[b]), FINAL_WITHIN).await;
    }
    sink.wait_for(1, 20).await;
    // Both decided: the rejection wrote no row in the transaction that decided it.
    assert_eq!(settled_outbox(&app).await.len(), 1);
    assert_eq!(sink.messages().len(), 1, "only the confirmed booking gets an email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_booking_or_its_event_sends_a_notice() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (email, token) = buyer(&app).await;
    let (event, tt) = app.on_sale(&organizer, 10, 5).await;
    // One request in line at a time: the second after the first is decided.
    let ids = [app.book_final(&token, &tt, 1).await, app.book_final(&token, &tt, 2).await];
    sink.wait_for(2, 20).await;

    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{}/cancel", ids[0]), Some(&token), None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    let messages = sink.wait_for(3, 20).await;
    assert_eq!(messages[2].header("Subject").unwrap(), "Booking cancelled: Night of Rust");
    assert!(messages[2].data.contains(&ids[0].to_string()));

    app.post(&format!("/api/v1/events/{}/cancel", event["id"].as_str().unwrap()), Some(&organizer), json!({})).await;
    let messages = sink.wait_for(4, 20).await;
    assert_eq!(messages[3].header("Subject").unwrap(), "Event cancelled: Night of Rust");
    assert_eq!(messages[3].to, [email]);
    assert!(messages[3].data.contains(&ids[1].to_string()), "only the booking still confirmed");
    assert_eq!(settled_outbox(&app).await.len(), 4);
    assert_eq!(sink.messages().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_mail_server_is_down_the_email_waits_in_the_outbox_and_goes_once_it_is_back() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    sink.stop();
    app.book_final(&token, &tt, 1).await;
    let rows = outbox_rows_when(&app, |r| r.3.is_some()).await;
    let (_, status, attempts, error) = &rows[0];
    assert_eq!(status, "pending", "kept for a retry");
    assert!(*attempts >= 1 && error.is_some(), "{rows:?}");

    sink.restart().await;
    sink.wait_for(1, 30).await;
    let rows = settled_outbox(&app).await;
    assert_eq!((rows.len(), rows[0].1.as_str()), (1, "sent"));
    assert_eq!(sink.messages().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_mail_server_takes_mail_again_waiting_emails_go_before_their_backoff_ends() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, first) = buyer(&app).await;
    let (_, second) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    sink.stop();
    app.book_final(&first, &tt, 1).await;
    // Three failed tries: the next waits about 8 s (2, 4, 8 s ... ± 25 %).
    let due = eventually(Duration::from_secs(30), "three failed tries", || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT next_attempt_at FROM outbox WHERE attempts >= 3 AND last_error IS NOT NULL",
        )
        .fetch_optional(app.db())
        .await
        .unwrap()
        .ok_or("the outbox row has not failed three times yet")
    })
    .await;

    sink.restart().await;
    // A new confirmation goes at once, finds the server back, and brings the
    // waiting one forward: it is sent before its own retry time.
    app.book_final(&second, &tt, 1).await;
    sink.wait_for(2, 30).await;
    // The server has them; the mailer records the sends just after.
    crate::helpers::eventually(Duration::from_secs(30), "both sends recorded", || async {
        let sent: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'sent'").fetch_one(app.db()).await.unwrap();
        (sent == 2).then_some(())
    })
    .await;
    let sent: Vec<(Option<chrono::DateTime<chrono::Utc>>, i32)> =
        sqlx::query_as("SELECT sent_at, attempts FROM outbox ORDER BY created_at").fetch_all(app.db()).await.unwrap();
    let (first_sent, first_attempts) = sent[0];
    assert!(first_sent.is_some_and(|at| at < due), "sent at {first_sent:?}, its retry was due at {due}");
    assert_eq!(first_attempts, 4, "one more try, the one that went");
    assert_eq!(sink.messages().len(), 2, "each sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_the_server_puts_off_keeps_its_backoff_when_other_mail_goes() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (greylisted, first) = buyer(&app).await;
    let (_, second) = buyer(&app).await;
    sink.defer(&greylisted);
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    app.book_final(&first, &tt, 1).await;
    // Two tries put off: the next waits about 4 s.
    let rows = outbox_rows_when(&app, |r| r.2 >= 2 && r.3.is_some()).await;
    let error = rows[0].3.clone().unwrap();
    assert!(error.contains("451") && !error.starts_with("mail server unreachable"), "{error}");
    let due: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT next_attempt_at FROM outbox").fetch_one(app.db()).await.unwrap();

    // Other mail goes through; the greylisted email is not tried again before
    // its own retry time (a catch-up after an outage would have).
    app.book_final(&second, &tt, 1).await;
    sink.wait_for(1, 30).await;
    // And once it is due, it is tried again (so the check below is about
    // something that happened, however fast or slow this run was).
    crate::helpers::eventually(Duration::from_secs(30), "a third try", || async {
        (sink.deferrals_of(&greylisted).len() >= 3).then_some(())
    })
    .await;
    let tries = sink.deferrals_of(&greylisted);
    assert!(tries[2] >= due, "the third try came at {}, before it was due at {due}", tries[2]);
    assert_eq!(outbox_rows(&app).await[1].1, "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_recorded_and_not_retried() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (email, token) = buyer(&app).await;
    sink.refuse(&email);
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    app.book_final(&token, &tt, 1).await;
    let rows = outbox_rows_when(&app, |r| r.1 == "failed").await;
    let (_, status, attempts, error) = &rows[0];
    assert_eq!((status.as_str(), *attempts), ("failed", 1), "{rows:?}");
    assert!(error.as_deref().unwrap().contains("550"), "{error:?}");
    assert!(sink.messages().is_empty());
    let metrics = app.scrape().await;
    assert!(metrics.contains("boxoffice_emails_failed_total 1"), "{metrics}");
    // The gauge is read in the background (every 15 s), not per scrape.
    crate::helpers::eventually(
        std::time::Duration::from_secs(40),
        "the outbox gauge shows the failed email",
        || async {
            let metrics = app.scrape().await;
            metrics.contains("boxoffice_outbox_failed 1").then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_mailers_at_once_send_every_email_exactly_once() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    for _ in 0..2 {
        app.start_mailer((*app.state.config).clone()).await;
    }
    let (organizer, _) = app.user().await;
    let tokens = app.users(40).await;
    let (_, tt) = app.on_sale(&organizer, 100, 2).await;
    let replies = join_all(tokens.iter().map(|token| app.book(token, &tt, 1, None))).await;
    app.wait_final(&accepted_ids(&replies), FINAL_WITHIN).await;
    let messages = sink.wait_for(40, 30).await;
    let rows = settled_outbox(&app).await;
    assert_eq!(rows.len(), 40);
    // A row is sent after a claim of it, and claimed only while pending:
    // one claim each, so no mailer can send one again later.
    assert!(rows.iter().all(|r| r.1 == "sent" && r.2 == 1), "{rows:?}");
    assert_eq!(sink.messages().len(), 40);
    let ids: HashSet<String> = messages.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), 40, "no row sent twice");
}

/// During a sale the mailer slows down to a claim a second, and still
/// sends everything: a sale that never ends must not starve the emails. A
/// verification link (someone waits on it to book) jumps the backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_worker_keeps_deciding_batches_emails_still_go_out_urgent_ones_first() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"])).await;
    let busy = tokio_util::sync::CancellationToken::new();
    let activity = app.state.activity.clone();
    let sale = tokio::spawn({
        let busy = busy.clone();
        async move {
            while !busy.is_cancelled() {
                activity.batch_decided();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let (organizer, _) = app.user().await;
    let tokens = app.users(85).await;
    let (_, tt) = app.on_sale(&organizer, 100, 2).await;
    let replies = join_all(tokens.iter().map(|token| app.book(token, &tt, 1, None))).await;
    app.wait_final(&accepted_ids(&replies), FINAL_WITHIN).await;
    // Someone signs up while 85 confirmations wait, 20 a second (over four seconds).
    let newcomer = format!("newcomer-{}@example.org", Uuid::new_v4().simple());
    assert_eq!(app.register(&newcomer).await.status, StatusCode::CREATED);
    assert!(app.state.activity.busy());
    // 85 confirmations, and the organizer's and the newcomer's verification links.
    let messages = sink.wait_for(87, 30).await;
    busy.cancel();
    sale.await.unwrap();
    let ids: HashSet<String> = messages.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!(ids.len(), 87, "every email, each once");
    let confirmations: Vec<usize> = (0..messages.len())
        .filter(|&i| messages[i].header("Subject").is_some_and(|s| s.starts_with("Your tickets")))
        .collect();
    assert_eq!(confirmations.len(), 85);
    let link = messages.iter().position(|m| m.to == [newcomer.clone()]).expect("the verification email");
    // Oldest first it would go with the last claim, after the 80th confirmation.
    assert!(link < confirmations[69], "the link jumped the backlog (number {} of 87)", link + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_url_emails_are_written_as_eml_files() {
    let app = spawn_app_with(test_config(&[])).await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    app.book_final(&organizer, &tt, 2).await;
    let dir = std::path::PathBuf::from(&app.state.config.mail_dir);
    let files: Vec<std::path::PathBuf> = eventually(Duration::from_secs(10), "an .eml file written", || async {
        let files: Vec<_> =
            std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        (!files.is_empty()).then_some(files)
    })
    .await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let content = std::fs::read_to_string(&files[0]).unwrap().replace("=\r\n", "");
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM tickets").fetch_all(app.db()).await.unwrap();
    for code in codes {
        assert!(content.contains(&code));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_is_not_about_the_recipient_is_retried_not_given_up() {
    let sink = SmtpSink::start().await;
    sink.refuse_sender(true); // a misconfigured login affects every email
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    app.book_final(&organizer, &tt, 1).await;
    let rows = outbox_rows_when(&app, |r| r.3.is_some()).await;
    assert_eq!(rows[0].1, "pending", "kept for a retry: {rows:?}");
    assert!(rows[0].3.as_deref().unwrap().contains("530"));
    sink.refuse_sender(false);
    sink.wait_for(1, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_cancelled_before_its_confirmation_went_out_gets_only_the_notice() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 10, 5).await;
    sink.stop();
    let reply = app.book(&token, &tt, 2, None).await;
    let id = reply.body["id"].as_str().unwrap().to_owned();
    app.wait_final(&accepted_ids(&[reply]), FINAL_WITHIN).await;
    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{id}/cancel"), Some(&token), None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    // A retry of the confirmation that read the booking just before the
    // cancellation committed would still be sent (the mailer's status check
    // is not atomic with the send, by nature): with the server still down for
    // a moment, such a try fails instead, and every later one sees the cancellation.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sink.restart().await;
    let messages = sink.wait_for(1, 30).await;
    assert_eq!(messages[0].header("Subject").unwrap(), "Booking cancelled: Night of Rust");
    // The confirmation comes due again after its backoff, and is skipped
    // then; the notice is recorded sent (a moment after the server took it).
    let statuses = eventually(Duration::from_secs(30), "both emails final", || async {
        let statuses: Vec<String> =
            sqlx::query_scalar("SELECT status FROM outbox ORDER BY created_at").fetch_all(app.db()).await.unwrap();
        if statuses.iter().all(|s| s != "pending") { Ok(statuses) } else { Err(statuses) }
    })
    .await;
    assert_eq!(statuses, ["skipped", "sent"]);
    // Both rows are final: nothing else will be sent.
    assert_eq!(sink.messages().len(), 1, "no confirmation with void tickets");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_booking_email_carries_every_code_but_at_most_ten_qr_images() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let (_, tt) = app.on_sale(&organizer, 50, 30).await;
    let booking = app.book_final(&token, &tt, 30).await;
    let message = &sink.wait_for(1, 20).await[0];
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM tickets").fetch_all(app.db()).await.unwrap();
    assert_eq!(codes.len(), 30);
    assert!(codes.iter().all(|code| message.data.contains(code.as_str())), "every code is in the text");
    let images = message.data.matches("Content-Type: image/png").count();
    assert_eq!(images, boxoffice::mail::render::INLINE_QR_MAX, "the other QR codes are on the booking page");
    assert!(message.data.contains(&format!("/bookings/{booking}")), "a link to the booking page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_booking_is_emailed_when_paid_not_when_held_and_its_refund_is_announced() {
    let sink = SmtpSink::start().await;
    let base = crate::helpers::stripe_emulator().await;
    let app = spawn_app_with(crate::helpers::stripe_config(&base, &["--smtp-url", &sink.url()])).await;
    let (organizer, _) = app.user().await;
    let (email, token) = buyer(&app).await;
    let (_, tt) = app.on_sale_priced(&organizer, 10, 5, 1250).await;
    let id = app.book_final(&token, &tt, 2).await;
    // The worker writes a booking's emails in the transaction that decides
    // it: decided and held, it has none.
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE booking_id = $1")
        .bind(id)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(written, 0, "nothing for a hold");
    assert!(sink.messages().is_empty(), "nothing for a hold");

    let method = crate::helpers::card(&base, "4242424242424242").await;
    let body = json!({"payment_method": method});
    let paid = app.call(Method::POST, &format!("/api/v1/bookings/{id}/payment"), Some(&token), Some(body)).await;
    assert_eq!(paid.body["status"], "succeeded", "{paid:?}");
    let messages = sink.wait_for(1, 20).await;
    assert_eq!(messages[0].header("Subject").unwrap(), "Your tickets for Night of Rust");

    let cancel = app.call(Method::POST, &format!("/api/v1/bookings/{id}/cancel"), Some(&token), None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    let messages = sink.wait_for(3, 30).await;
    let subjects: Vec<String> = messages.iter().filter_map(|m| m.header("Subject")).collect();
    assert!(subjects.contains(&"Booking cancelled: Night of Rust".to_owned()), "{subjects:?}");
    let refund = messages.iter().find(|m| m.header("Subject").as_deref() == Some("Your refund for Night of Rust"));
    let refund = refund.unwrap_or_else(|| panic!("no refund notice: {subjects:?}"));
    assert_eq!(refund.to, [email]);
    assert!(refund.data.contains("25.00 EUR"), "the amount, written for people");
}

/// Issue 28, item 4: an email says when the event is where it happens, the
/// zone named, as the pages do (not in UTC).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_gives_the_event_time_in_the_event_zone() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let event = app
        .published_event(
            &organizer,
            json!({"timezone": "America/New_York", "starts_at": "2031-01-10T00:30:00Z",
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 10}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    app.book_final(&token, tt, 1).await;
    let messages = sink.wait_for(1, 20).await;
    let data = messages[0].data.replace("=\r\n", ""); // quoted-printable's soft line breaks
    assert!(data.contains("Thursday, 9 January 2031, 19:30 EST (America/New_York)"), "{data}");
    assert!(!data.contains("00:30 UTC"), "{data}");
}

/// What a calendar program reads from `input` (an email or an `.ics`):
/// `tests/tools/read_ics.py`, Python's email parser and `icalendar`.
pub fn read_calendar(input: &str) -> serde_json::Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/read_ics.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "read_ics.py failed (needs `pip install icalendar`; .ci/run installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Issue 28, item 5: the confirmation carries the event for a calendar (in
/// the event's zone, where, a link to the booking), and the cancellation the
/// same entry's cancel: read by a calendar library, not by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirmation_adds_the_event_to_a_calendar_and_the_cancellation_takes_it_off() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let event = app
        .published_event(
            &organizer,
            json!({"title": "Winter Lights, live", "venue": "Große Halle; Berlin", "timezone": "Europe/Berlin",
                   "starts_at": "2031-12-18T18:30:00Z",
                   "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 10}]}),
        )
        .await;
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let booking = app.book_final(&token, tt, 1).await;
    let confirmation = sink.wait_for(1, 20).await;
    let added = read_calendar(&confirmation[0].data);
    assert_eq!(added["method"], "PUBLISH", "{added}");
    assert!(added["content_type"].as_str().unwrap().starts_with("text/calendar"), "{added}");
    assert_eq!(
        (&added["dtstart"], &added["tzid"], &added["timezones"]),
        (&json!("2031-12-18T19:30:00+01:00"), &json!("Europe/Berlin"), &json!(["Europe/Berlin"])),
        "{added}"
    );
    assert_eq!((&added["summary"], &added["location"]), (&json!("Winter Lights, live"), &json!("Große Halle; Berlin")));
    assert!(added["url"].as_str().unwrap().ends_with(&format!("/bookings/{booking}")), "{added}");
    assert_eq!(added["status"], "CONFIRMED");

    let cancelled = app.post(&format!("/api/v1/bookings/{booking}/cancel"), Some(&token), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{cancelled:?}");
    let notice = sink.wait_for(2, 20).await;
    let taken_off = read_calendar(&notice[1].data);
    assert_eq!((&taken_off["method"], &taken_off["status"]), (&json!("CANCEL"), &json!("CANCELLED")), "{taken_off}");
    assert_eq!(taken_off["uid"], added["uid"], "the same entry");
    assert!(taken_off["sequence"].as_i64() > added["sequence"].as_i64());
}

/// Issue 30: a paid booking's confirmation carries its invoice as a PDF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_bookings_confirmation_carries_its_invoice() {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, token) = buyer(&app).await;
    let (event, tt) = app.on_sale_priced(&organizer, 10, 2, 3000).await;
    let booking = app.book_final(&token, &tt, 1).await;
    let paid = app.mark_paid(&organizer, event["id"].as_str().unwrap(), &booking.to_string()).await;
    assert_eq!(paid.body["status"], "confirmed", "{paid:?}");
    let number: String = sqlx::query_scalar("SELECT number FROM invoices WHERE booking_id = $1")
        .bind(booking)
        .fetch_one(app.db())
        .await
        .unwrap();
    let filename = format!("{number}.pdf");
    let pdf = eventually(Duration::from_secs(30), "the confirmation with the invoice", || async {
        sink.messages().iter().find_map(|m| attachment(&m.data, &filename))
    })
    .await;
    let file = std::env::temp_dir().join(format!("boxoffice-invoice-{}.pdf", Uuid::new_v4().simple()));
    std::fs::write(&file, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext").arg(&file).arg("-").output().expect("pdftotext runs");
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("Invoice {number}")) && text.contains("30.00 EUR"), "{text}");
}
