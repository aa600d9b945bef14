//! Accounts and sessions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, PASSWORD, spawn_app};

#[tokio::test]
async fn a_registered_user_logs_in_and_sees_their_account() {
    let app = spawn_app().await;
    let reply = app.register("Ada.Lovelace@Example.org").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["email"], "ada.lovelace@example.org");
    assert_eq!(reply.body["name"], "Test User");
    assert!(reply.body.get("password_hash").is_none());

    // Emails compare case-insensitively.
    let login = app.login("ADA.lovelace@example.ORG", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    assert_eq!(login.body["token_type"], "Bearer");
    assert_eq!(login.body["expires_in"], 900);
    let token = login.body["access_token"].as_str().unwrap();

    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], reply.body["id"]);

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users").fetch_one(app.db()).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "stored {hash}");
}

#[tokio::test]
async fn registering_an_email_twice_in_another_case_is_email_taken() {
    let app = spawn_app().await;
    assert_eq!(app.register("grace@example.org").await.status, StatusCode::CREATED);
    let again = app.register("Grace@EXAMPLE.org").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "email_taken");
}

#[tokio::test]
async fn registration_names_every_invalid_field() {
    let app = spawn_app().await;
    let reply = app
        .post("/api/v1/auth/register", None, json!({"email": "not-an-email", "password": "short", "name": "  "}))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.code(), "validation_failed");
    assert_eq!(reply.fields(), ["email", "password", "name"]);

    let long = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "x@example.org", "password": "p".repeat(129), "name": "n".repeat(201)}),
        )
        .await;
    assert_eq!(long.fields(), ["password", "name"]);

    let header_injection = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "y@example.org", "password": PASSWORD, "name": "Eve\r\nBcc: all@example.org"}),
        )
        .await;
    assert_eq!(header_injection.fields(), ["name"]);

    let spoofed = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "z@example.org", "password": PASSWORD, "name": "Security Team\u{202E}gnp.exe"}),
        )
        .await;
    assert_eq!(spoofed.fields(), ["name"], "a direction override");

    for undeliverable in ["x@y@example.org", "a,b@example.org", "a<b>@example.org", "@@example.org"] {
        let reply = app
            .post("/api/v1/auth/register", None, json!({"email": undeliverable, "password": PASSWORD, "name": "X"}))
            .await;
        assert_eq!(reply.fields(), ["email"], "{undeliverable}");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("known@example.org").await;
    let wrong = app.login("known@example.org", "not the password").await;
    let unknown = app.login("unknown@example.org", PASSWORD).await;
    let malformed = app.login("not an email", PASSWORD).await;
    for reply in [&wrong, &unknown, &malformed] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.code(), "invalid_credentials");
        assert_eq!(reply.body["detail"], wrong.body["detail"]);
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = spawn_app().await;
    let (_, refresh) = app.user().await;
    let first = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(first.status, StatusCode::OK);
    let new_refresh = first.body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, refresh);
    let new_access = first.body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(new_access)).await.status, StatusCode::OK);

    let unknown = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": "made-up"})).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.code(), "unauthorized");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_ends_the_whole_session() {
    let app = spawn_app().await;
    let (access, stolen) = app.user().await;
    let rotated = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": stolen})).await;
    let (new_access, new_refresh) =
        (rotated.body["access_token"].as_str().unwrap(), rotated.body["refresh_token"].as_str().unwrap());

    let reuse = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": stolen})).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);

    // Every token of the family is dead: the legitimate holder must log in again.
    let after = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": new_refresh})).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", Some(new_access)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/api/v1/me", Some(&access)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn of_two_concurrent_refreshes_of_one_token_exactly_one_goes_through() {
    let app = spawn_app().await;
    let (_, refresh) = app.user().await;
    let body = json!({"refresh_token": refresh});
    let (a, b) = tokio::join!(
        app.post("/api/v1/auth/refresh", None, body.clone()),
        app.post("/api/v1/auth/refresh", None, body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED], "exactly one goes through: {a:?} {b:?}");
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = spawn_app().await;
    let (access, refresh) = app.user().await;
    let (other_access, _) = app.user().await;
    let reply = app.call(Method::POST, "/api/v1/auth/logout", Some(&access), None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);

    let me = app.get("/api/v1/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "unauthorized");
    let refreshed = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    // Other sessions are untouched.
    assert_eq!(app.get("/api/v1/me", Some(&other_access)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_logout_survives_redis_forgetting_it() {
    let app = spawn_app().await;
    let (access, _) = app.user().await;
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // Let the first copy of revocations into Redis finish (the first check starts it).
    app.get("/api/v1/me", Some(&access)).await;
    let marker = format!("{}revoked:complete", app.state.config.redis_key_prefix);
    crate::helpers::eventually(std::time::Duration::from_secs(10), "revocations copied into Redis", || {
        let (conn, marker) = (conn.clone(), marker.clone());
        async move {
            let mut conn = conn;
            let exists: bool = redis::cmd("EXISTS").arg(&marker).query_async(&mut conn).await.unwrap();
            exists.then_some(())
        }
    })
    .await;
    app.call(Method::POST, "/api/v1/auth/logout", Some(&access), None).await;
    // This session's revocation itself was in Redis (not merely some key)...
    let session = app.state.tokens.verify(&access).expect("our own token").sid;
    let revoked = format!("{}revoked:{session}", app.state.config.redis_key_prefix);
    let written: bool = redis::cmd("EXISTS").arg(&revoked).query_async(&mut conn).await.unwrap();
    assert!(written, "the logout was written to Redis");
    // ...and Redis forgetting it does not bring the session back.
    app.forget_redis().await;
    let gone: bool = redis::cmd("EXISTS").arg(&revoked).query_async(&mut conn).await.unwrap();
    assert!(!gone, "forgotten");

    assert_eq!(app.get("/api/v1/me", Some(&access)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_expired_and_malformed_access_tokens_are_401() {
    let app = spawn_app().await;
    let (access, refresh) = app.user().await;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let sign = |claims: &serde_json::Value, key: &[u8]| {
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &jsonwebtoken::EncodingKey::from_secret(key))
            .unwrap()
    };

    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    expired["nbf"] = json!(chrono::Utc::now().timestamp() - 1000);
    let mut not_yet = claims.clone();
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 600);
    let mut other_user = claims.clone();
    other_user["sub"] = json!(Uuid::now_v7());
    let parts: Vec<&str> = access.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(other_user.to_string()), parts[2]);
    let alg_none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);

    assert_eq!(app.get("/api/v1/me", Some(&sign(&claims, JWT_SECRET.as_bytes()))).await.status, StatusCode::OK);
    for token in [
        sign(&claims, b"another-key-another-key-another-key"),
        sign(&expired, JWT_SECRET.as_bytes()),
        sign(&not_yet, JWT_SECRET.as_bytes()),
        tampered,
        alg_none,
        refresh,
        "garbage".to_owned(),
    ] {
        let reply = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(reply.code(), "unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
    }
    let basic = app.send(app.client.get(app.url("/api/v1/me")).header("authorization", "Basic dTpw")).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    let missing = app.get("/api/v1/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logging_out_twice_or_without_a_token_is_401() {
    let app = spawn_app().await;
    let (access, _) = app.user().await;
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", Some(&access), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(Method::POST, "/api/v1/auth/logout", Some(&access), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", None, None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_and_refresh_name_missing_fields_and_survive_huge_passwords() {
    let app = spawn_app().await;
    let login = app.post("/api/v1/auth/login", None, json!({"email": "a@example.org"})).await;
    assert_eq!(login.fields(), ["password"]);
    let refresh = app.post("/api/v1/auth/refresh", None, json!({})).await;
    assert_eq!(refresh.fields(), ["refresh_token"]);
    app.register("big@example.org").await;
    let huge = app.login("big@example.org", &"p".repeat(60_000)).await;
    assert_eq!(huge.status, StatusCode::UNAUTHORIZED);
    let as_array = app.post("/api/v1/auth/login", None, json!(["big@example.org", PASSWORD])).await;
    assert_eq!(as_array.fields(), ["body"], "fields are never bound by position");
}

#[tokio::test]
async fn an_expired_refresh_token_is_401() {
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&["--refresh-token-ttl-secs", "1"])).await;
    let (_, refresh) = app.user().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let reply = app.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
}
