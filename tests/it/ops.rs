//! Health, readiness, start-up and degraded operation.

use boxoffice::app::{AppState, StartError};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn healthz_and_readyz_answer_when_everything_is_up() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    for part in ["postgres", "redis", "rabbitmq"] {
        assert_eq!(ready.body[part], "ok");
    }
}

#[tokio::test]
async fn without_redis_and_rabbitmq_the_api_still_works_and_readyz_says_which_is_down() {
    let config =
        test_config(&["--redis-url", "redis://127.0.0.1:1", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/%2f"]);
    let app = spawn_app_with(config).await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "degraded");
    assert_eq!(ready.body["postgres"], "ok");
    assert!(ready.body["redis"].as_str().unwrap().starts_with("error"), "{ready:?}");
    assert!(ready.body["rabbitmq"].as_str().unwrap().starts_with("error"), "{ready:?}");

    // Accounts and logout work from PostgreSQL alone.
    let (token, _) = app.user().await;
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK);
    let logout = app.call(reqwest::Method::POST, "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unreachable_database_stops_start_up_with_one_clear_line() {
    let mut config = test_config(&[]);
    config.database_url = "postgres://postgres:secret@127.0.0.1:1/boxoffice".into();
    let err = AppState::connect(config).await.err().expect("start-up fails");
    assert!(matches!(err, StartError::Database { .. }));
    let line = err.to_string();
    assert!(line.contains("PostgreSQL") && line.contains("127.0.0.1:1"), "{line}");
    assert!(line.contains("pg_ctlcluster"), "says how to start it: {line}");
    assert!(!line.contains("secret"), "the password is redacted: {line}");
    assert!(!line.contains('\n'));
}

#[tokio::test]
async fn a_short_jwt_secret_is_refused_at_start() {
    let mut config = test_config(&[]);
    config.jwt_secret = Some("too-short".into());
    assert!(matches!(AppState::connect(config).await, Err(StartError::Config(_))));
}

#[tokio::test]
async fn a_broken_mailer_setting_is_refused_at_start_with_one_clear_line() {
    for (flag, value, named) in [
        ("--smtp-url", "notaurl", "SMTP_URL"),
        ("--smtp-url", "http://", "SMTP_URL"),
        ("--mail-from", "nobody", "MAIL_FROM"),
    ] {
        let err = AppState::connect(test_config(&[flag, value])).await.err().expect("start-up fails");
        let StartError::Config(line) = err else { panic!("{flag} {value}: {err}") };
        assert!(line.contains(named) && !line.contains('\n'), "{line}");
    }
}
