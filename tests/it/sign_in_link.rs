//! Issue 28, item 2: signing in with an emailed link. One link, once, within
//! 15 minutes; an address with no account gets one, verified; an account a
//! stranger registered with the address but never verified is its owner's
//! from then on; the links one address gets are counted where they are sent.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, accepted_ids, spawn_app_with, test_config};
use crate::smtp::{Captured, SmtpSink};

async fn app_verifying(sink: &SmtpSink) -> TestApp {
    spawn_app_with(test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"])).await
}

/// The `n`-th (from 1) sign-in link email to `address`, once it is there.
async fn email_to(sink: &SmtpSink, address: &str, n: usize) -> Captured {
    let link =
        |m: &Captured| m.to == [address] && m.header("Subject").as_deref() == Some("Your Boxoffice sign-in link");
    for _ in 0..400 {
        let to: Vec<Captured> = sink.messages().into_iter().filter(link).collect();
        if to.len() >= n {
            return to[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} emails reached {address}");
}

/// The token of the sign-in link in `message`.
fn token_in(message: &Captured) -> String {
    let data = message.data.replace("=3D", "=");
    let start = data.find("/login/link?token=").expect("a sign-in link") + "/login/link?token=".len();
    data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

fn address(what: &str) -> String {
    format!("{what}-{}@example.org", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_signs_in_once_and_makes_a_verified_account_for_a_new_address() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 2).await;
    let email = address("Newcomer");

    let asked = app.post("/api/v1/auth/email-link", None, json!({"email": email, "next": "/events/x"})).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{asked:?}");
    let mail = email_to(&sink, &email.to_lowercase(), 1).await;
    assert!(mail.data.contains("the link makes one for you"), "no account yet: {}", mail.data);
    let token = token_in(&mail);
    assert_eq!(token.len(), 43, "256 random bits: {token}");
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT token_hash FROM sign_in_links").fetch_all(app.db()).await.unwrap();
    assert_eq!(stored, [boxoffice::auth::sign_in_link::hash(&token)], "its SHA-256 is kept, not the token");

    let redeemed = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": token})).await;
    assert_eq!(redeemed.status, StatusCode::OK, "{redeemed:?}");
    let access = redeemed.body["access_token"].as_str().unwrap().to_owned();
    assert!(redeemed.body["refresh_token"].is_string());
    let me = app.get("/api/v1/me", Some(&access)).await;
    assert_eq!(me.body["email"], email.to_lowercase());
    assert_eq!(me.body["email_verified"], true, "the link proved the address");
    assert_eq!(me.body["name"], email.split('@').next().unwrap().to_lowercase());
    let again = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": token})).await;
    assert_eq!((again.status, again.code()), (StatusCode::BAD_REQUEST, "invalid_token"), "single use");
    let secrets: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE secret IS NOT NULL").fetch_one(app.db()).await.unwrap();
    assert_eq!(secrets, 0, "the link's token is not kept once sent");

    // Verified, so it books.
    let booked = app.book(&access, &tt, 1, None).await;
    assert_eq!(booked.status, StatusCode::ACCEPTED, "{booked:?}");
    app.wait_final(&accepted_ids(&[booked]), Duration::from_secs(30)).await;

    // The next link finds the account: same person, no second account.
    assert_eq!(app.post("/api/v1/auth/email-link", None, json!({"email": email})).await.status, StatusCode::ACCEPTED);
    let mail = email_to(&sink, &email.to_lowercase(), 2).await;
    assert!(!mail.data.contains("the link makes one for you"), "{}", mail.data);
    let second = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": token_in(&mail)})).await;
    let me_again = app.get("/api/v1/me", Some(second.body["access_token"].as_str().unwrap())).await;
    assert_eq!(me_again.body["id"], me.body["id"]);

    // A link that ran out, and one never sent.
    assert_eq!(app.post("/api/v1/auth/email-link", None, json!({"email": email})).await.status, StatusCode::ACCEPTED);
    let late = token_in(&email_to(&sink, &email.to_lowercase(), 3).await);
    sqlx::query("UPDATE sign_in_links SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(app.db())
        .await
        .unwrap();
    let expired = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": late})).await;
    assert_eq!((expired.status, expired.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    let forged = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": "x".repeat(500)})).await;
    assert_eq!((forged.status, forged.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_field_errors_and_the_answer_never_tells_who_has_an_account() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let bad = app.post("/api/v1/auth/email-link", None, json!({"email": "not an address"})).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad:?}");
    assert_eq!(bad.body["errors"][0]["field"], "email");
    let elsewhere =
        app.post("/api/v1/auth/email-link", None, json!({"email": address("x"), "next": "//evil.example"})).await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(elsewhere.body["errors"][0]["field"], "next");
    let extra = app.post("/api/v1/auth/email-link", None, json!({"email": address("x"), "password": "x"})).await;
    assert_eq!(extra.status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");

    let known = address("known");
    assert_eq!(app.register(&known).await.status, StatusCode::CREATED);
    let for_known = app.post("/api/v1/auth/email-link", None, json!({"email": known})).await;
    let for_unknown = app.post("/api/v1/auth/email-link", None, json!({"email": address("unknown")})).await;
    assert_eq!((for_known.status, &for_known.body), (for_unknown.status, &for_unknown.body));
}

/// Someone registered the victim's address (never verified) with a password
/// of their own. The owner's sign-in link makes the account theirs: the
/// squatter's password and sessions stop working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_takes_an_unverified_account_back_from_whoever_registered_the_address() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let victim = address("owner");
    assert_eq!(app.register(&victim).await.status, StatusCode::CREATED);
    let squatter = app.login(&victim, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", Some(&squatter)).await.status, StatusCode::OK);

    assert_eq!(app.post("/api/v1/auth/email-link", None, json!({"email": victim})).await.status, StatusCode::ACCEPTED);
    let token = token_in(&email_to(&sink, &victim, 1).await);
    let owner = app.post("/api/v1/auth/email-link/redeem", None, json!({"token": token})).await;
    assert_eq!(owner.status, StatusCode::OK);
    let owner = owner.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", Some(&owner)).await.body["email_verified"], true);

    assert_eq!(app.get("/api/v1/me", Some(&squatter)).await.status, StatusCode::UNAUTHORIZED, "session ended");
    assert_eq!(app.login(&victim, PASSWORD).await.status, StatusCode::UNAUTHORIZED, "the password no longer counts");
}

/// The limit is decided under the address's lock: 200 requests at once for
/// one address send four links, not more; one link redeemed 20 times at
/// once signs in once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_counted_per_address_when_many_ask_at_once_and_used_once_when_many_redeem() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let email = address("busy");
    let asks = (0..200).map(|_| app.post("/api/v1/auth/email-link", None, json!({"email": email})));
    let statuses: Vec<StatusCode> = futures::future::join_all(asks).await.into_iter().map(|r| r.status).collect();
    let sent = statuses.iter().filter(|s| **s == StatusCode::ACCEPTED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((sent, limited), (4, 196), "{statuses:?}");
    // An hour on, two more make the day's six.
    sqlx::query("UPDATE sign_in_links SET created_at = now() - interval '2 hours'").execute(app.db()).await.unwrap();
    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(app.post("/api/v1/auth/email-link", None, json!({"email": email})).await.status);
    }
    assert_eq!(later, [StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::TOO_MANY_REQUESTS]);
    let limited = app.post("/api/v1/auth/email-link", None, json!({"email": email})).await;
    assert_eq!(limited.code(), "rate_limited");
    // Those six asked from another network: this one (the owner's, say) is
    // not locked out by them; twenty a day from everywhere is the ceiling.
    sqlx::query("UPDATE sign_in_links SET network = 'elsewhere'").execute(app.db()).await.unwrap();
    let owner = app.post("/api/v1/auth/email-link", None, json!({"email": email})).await;
    assert_eq!(owner.status, StatusCode::ACCEPTED, "{owner:?}");
    sqlx::query(
        "INSERT INTO sign_in_links (token_hash, email, network, expires_at)
         SELECT sha256(g::text::bytea), $1, 'elsewhere', now() FROM generate_series(1, 13) AS g",
    )
    .bind(&email)
    .execute(app.db())
    .await
    .unwrap();
    let ceiling = app.post("/api/v1/auth/email-link", None, json!({"email": email})).await;
    assert_eq!(ceiling.code(), "rate_limited", "twenty in a day from all networks");

    // Two different links of an address with no account yet, redeemed at
    // once: one account, both signed in to it.
    let other = token_in(&email_to(&sink, &email, 2).await);
    let third = token_in(&email_to(&sink, &email, 3).await);
    let (a, b) = tokio::join!(
        app.post("/api/v1/auth/email-link/redeem", None, json!({"token": other})),
        app.post("/api/v1/auth/email-link/redeem", None, json!({"token": third})),
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(app.db())
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    // One link redeemed 20 times at once signs in once.
    let token = token_in(&email_to(&sink, &email, 1).await);
    let redeems = (0..20).map(|_| app.post("/api/v1/auth/email-link/redeem", None, json!({"token": token})));
    let answers = futures::future::join_all(redeems).await;
    let signed_in = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(signed_in, 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
}

/// The path a person takes: signed out, Book leads to sign-in; "Email me a
/// sign-in link"; the link's page; its button; back on the event with the
/// quantity kept, signed in and verified, one press from the booking. A used
/// link says so next to the field where a new one is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_books_after_signing_in_with_an_emailed_link_in_a_browser() {
    let sink = SmtpSink::start().await;
    let app = app_verifying(&sink).await;
    let title = format!("Riverside Nights {}", Uuid::new_v4().simple());
    let (browser, event_id) = crate::shop::book_signed_out(&app, "sign-in-link", &title, "2").await;

    // A mistyped address first: said next to the field.
    browser.fill("Email for a sign-in link", "ada at example").await;
    browser.click("Email me a sign-in link").await;
    browser.wait_for_text("Sign in").await;
    let error = browser.execute("return document.querySelector('#link-email-error').textContent", json!([])).await;
    assert!(error.as_str().is_some_and(|e| !e.is_empty()), "{error}");
    browser.accessibility().await;
    browser.screenshot("login-with-link-form").await;

    let email = address("ada");
    browser.fill("Email for a sign-in link", &email).await;
    browser.click("Email me a sign-in link").await;
    browser.wait_for_text("Check your email").await;
    browser.wait_for_text(&email).await;
    let token = token_in(&email_to(&sink, &email, 1).await);
    browser.goto(&format!("{}/login/link?token={token}", app.base)).await;
    browser.wait_for_text(&format!("sign in as {}", email.to_lowercase())).await;
    browser.accessibility().await;
    browser.click("Sign in").await;
    browser.wait_for_path(&format!("/events/{event_id}")).await;
    let kept = browser.execute("return document.querySelector('input[name=quantity]').value", json!([])).await;
    assert_eq!(kept, json!("2"), "the quantity chosen before signing in");
    browser.click("Book").await;
    browser.wait_for_path("/bookings/").await;
    browser.wait_for_text("2 × Standard").await;
    // Decided, so the waiting room's own reload cannot race the next page.
    browser.wait_for_text("Confirmed").await;

    // The same link again: it is spent, and the page says where to get another.
    browser.goto(&format!("{}/login/link?token={token}", app.base)).await;
    browser.wait_for_text("This sign-in link was used already or has run out").await;
    browser.accessibility().await;
    browser.click("Ask for a new one").await;
    browser.wait_for_path("/login").await;
}
