//! Verified addresses (EMAIL_VERIFICATION=on): the link in the email, what an
//! unverified account may not do, and that only the verification email goes
//! to an address nobody confirmed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, accepted_ids, spawn_api_with, spawn_app_with, test_config};
use crate::smtp::{Captured, SmtpSink};

async fn app_verifying(sink: &SmtpSink) -> TestApp {
    spawn_app_with(test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"])).await
}

/// Registers `email` and logs in: the access token.
async fn account(app: &TestApp, email: &str) -> String {
    assert_eq!(app.register(email).await.status, StatusCode::CREATED);
    app.login(email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned()
}

/// The token of the verification link in `message`.
fn link_token(message: &Captured) -> String {
    let data = message.data.replace("=3D", "=");
    let start = data.find("/verify?token=").expect("a verification link") + "/verify?token=".len();
    data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn emails_to(sink: &SmtpSink, address: &str, count: usize) -> Vec<Captured> {
    for _ in 0..400 {
        let to: Vec<Captured> = sink.messages().into_iter().filter(|m| m.to == [address]).collect();
        if to.len() >= count {
            return to;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} emails reached {address}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_books_only_after_following_the_emailed_link() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let (organizer, _) = app.user().await; // organizing needs no verified address
    let (_, tt) = app.on_sale(&organizer, 10, 4).await;
    let email = format!("buyer-{}@example.org", Uuid::new_v4().simple());
    let token = account(&app, &email).await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.body["email_verified"], false);

    let refused = app.book(&token, &tt, 1, None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "email_unverified"));

    let mail = emails_to(&sink, &email, 1).await;
    assert_eq!(mail[0].header("Subject").unwrap(), "Confirm your email address");
    // Anyone can register anyone's address: no text a stranger wrote goes out.
    assert!(!mail[0].data.contains("Test User"), "the name given at registration is not in it");
    let link = link_token(&mail[0]);
    assert_eq!(link.len(), 43, "256 random bits: {link}");
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM email_verifications").fetch_all(app.db()).await.unwrap();
    assert!(stored.iter().all(|hash| hash.as_slice() != link.as_bytes()), "only the hash is kept");

    let verified = app.post("/api/v1/auth/verify", None, json!({"token": link})).await;
    assert_eq!((verified.status, verified.body["email_verified"].as_bool()), (StatusCode::OK, Some(true)));
    let again = app.post("/api/v1/auth/verify", None, json!({"token": link})).await;
    assert_eq!((again.status, again.code()), (StatusCode::BAD_REQUEST, "invalid_token"), "single use");
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE secret IS NOT NULL").fetch_one(app.db()).await.unwrap();
    assert_eq!(secrets, 0, "the link's token is not kept once sent");

    // The same access token books now.
    let booked = app.book(&token, &tt, 1, None).await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    app.wait_final(&accepted_ids(&[booked]), Duration::from_secs(30)).await;
    let mail = emails_to(&sink, &email, 2).await;
    assert!(mail[1].header("Subject").unwrap().starts_with("Your tickets for"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_expire_resends_are_limited_and_a_verified_address_needs_none() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let email = format!("late-{}@example.org", Uuid::new_v4().simple());
    let token = account(&app, &email).await;
    let first = link_token(&emails_to(&sink, &email, 1).await[0]);
    sqlx::query("UPDATE email_verifications SET expires_at = now() - interval '1 second'")
        .execute(app.db())
        .await
        .unwrap();
    let expired = app.post("/api/v1/auth/verify", None, json!({"token": first})).await;
    assert_eq!((expired.status, expired.code()), (StatusCode::BAD_REQUEST, "invalid_token"));

    let resend = || app.call(Method::POST, "/api/v1/auth/verify/resend", Some(&token), None);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(resend().await.status);
    }
    assert_eq!(
        statuses,
        [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS]
    );
    // An hour later: two more, then the day is full (six links in all).
    sqlx::query("UPDATE email_verifications SET created_at = now() - interval '2 hours'")
        .execute(app.db())
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(resend().await.status);
    }
    assert_eq!(statuses, [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS]);
    let mail = emails_to(&sink, &email, 6).await;
    let newest = link_token(&mail[5]);
    assert_ne!(newest, first);
    let verified = app.post("/api/v1/auth/verify", None, json!({"token": newest})).await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    let done = resend().await;
    assert_eq!((done.status, done.code()), (StatusCode::CONFLICT, "already_verified"));
    let unknown = app.post("/api/v1/auth/verify", None, json!({"token": "x".repeat(500)})).await;
    assert_eq!(unknown.code(), "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_email_to_an_address_no_longer_verified_is_not_sent() {
    // API and worker, no mailer yet: the confirmation waits in the outbox.
    let sink = SmtpSink::start().await;
    let config = test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"]);
    let app = spawn_api_with(config.clone()).await;
    app.spawn_worker(app.state.clone());
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 4).await;
    let email = format!("gone-{}@example.org", Uuid::new_v4().simple());
    let token = account(&app, &email).await;
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE email = $1")
        .bind(&email)
        .execute(app.db())
        .await
        .unwrap();
    app.book_final(&token, &tt, 1).await;
    // Say the address was handed back (an admin un-verified it): the
    // confirmation already queued must not go out.
    sqlx::query("UPDATE users SET email_verified_at = NULL WHERE email = $1")
        .bind(&email)
        .execute(app.db())
        .await
        .unwrap();
    app.spawn_mailer(app.state.clone());
    crate::helpers::eventually(Duration::from_secs(20), "the confirmation is skipped", || async {
        let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE kind = 'booking_confirmed'")
            .fetch_one(app.db())
            .await
            .unwrap();
        (status == "skipped").then_some(())
    })
    .await;
    assert!(sink.messages().iter().all(|m| m.header("Subject").unwrap() == "Confirm your email address"));
}

/// Mail scanners and link previews open every link in an email: opening the
/// verification link shows a button and verifies nothing; the button (a
/// form with its CSRF token) does, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_the_link_verifies_nothing_until_the_button_is_pressed() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let email = format!("buyer-{}@example.org", Uuid::new_v4().simple());
    let token = account(&app, &email).await;
    let link = link_token(&emails_to(&sink, &email, 1).await[0]);
    let mut scanner = crate::pages::Visit::new(&app);
    for _ in 0..3 {
        let page = scanner.get(&format!("/verify?token={link}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Verify my email"), "{}", page.body);
    }
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.body["email_verified"], false, "opened, not verified");

    let mut person = crate::pages::Visit::new(&app);
    let form = person.get(&format!("/verify?token={link}")).await;
    let forged = person.post("/verify", &[("csrf", "0".repeat(64).as_str()), ("token", &link)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "without the form's own CSRF token");
    let pressed = person.post("/verify", &[("csrf", &form.hidden("csrf")), ("token", &form.hidden("token"))]).await;
    assert_eq!(pressed.status, StatusCode::OK);
    assert!(pressed.body.contains("Email verified"), "{}", pressed.body);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.body["email_verified"], true);
    let again = person.post("/verify", &[("csrf", &form.hidden("csrf")), ("token", &link)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "used once: {}", again.body);
}
