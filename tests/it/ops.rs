//! Health, readiness, start-up and degraded operation.

use boxoffice::app::{AppState, StartError};
use reqwest::StatusCode;
use uuid::Uuid;

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
    // Part names and words only: no error text of a library or a server.
    assert_eq!(
        (ready.body["redis"].as_str(), ready.body["rabbitmq"].as_str()),
        (Some("error"), Some("error")),
        "{ready:?}"
    );

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

#[tokio::test]
async fn with_a_metrics_token_set_metrics_answer_only_to_it() {
    let app = spawn_app_with(test_config(&["--metrics-token", "scrape-me-0123456789"])).await;
    let scrape = |token: Option<&'static str>| {
        let mut request = app.client.get(format!("{}/metrics", app.metrics_base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        app.send(request)
    };
    let anonymous = scrape(None).await;
    assert_eq!((anonymous.status, anonymous.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert_eq!(scrape(Some("scrape-me-0123456788")).await.status, StatusCode::UNAUTHORIZED);
    let scraped = scrape(Some("scrape-me-0123456789")).await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(scraped.body.as_str().unwrap().contains("boxoffice_outbox_pending"));
    // Without the setting, /metrics is open (as the other tests scrape it).
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

/// `/metrics` is the operator's: served on `METRICS_ADDR` (loopback by
/// default), never on the public listener, whatever `METRICS_TOKEN` says.
#[tokio::test]
async fn metrics_are_served_apart_from_the_public_listener() {
    let app = spawn_app().await;
    assert!(app.scrape().await.contains("boxoffice_outbox_pending"));
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    assert!(!public.text().await.unwrap().contains("boxoffice_"), "nothing of them on the public listener");
    assert_eq!(
        test_config(&[]).metrics_addr.0,
        Some("127.0.0.1:9090".parse().unwrap()),
        "Prometheus's port, on loopback"
    );
    assert_eq!(test_config(&["--metrics-addr", "off"]).metrics_addr.0, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_sent_emails_expired_refresh_tokens_and_ended_sessions_are_pruned() {
    let app = spawn_app().await;
    let (token, _) = app.user().await;
    let (_, tt) = app.on_sale(&token, 10, 4).await;
    let booking = app.book_final(&token, &tt, 1).await;
    let db = app.db();
    let ago = |days: i32| format!("now() - interval '{days} days'");
    // Emails: (status, age in days, kept?)
    let emails =
        [("sent", 40, false), ("skipped", 40, false), ("sent", 5, true), ("failed", 40, true), ("pending", 40, true)];
    for (status, age, _) in emails {
        let sent_at = if status == "sent" { ago(age) } else { "NULL".into() };
        sqlx::query(&format!(
            "INSERT INTO outbox (id, kind, booking_id, status, created_at, sent_at)
             VALUES ($1, 'booking_confirmed', $2, $3, {}, {sent_at})",
            ago(age)
        ))
        .bind(Uuid::new_v4())
        .bind(booking)
        .bind(status)
        .execute(db)
        .await
        .unwrap();
    }
    let user: Uuid =
        sqlx::query_scalar("SELECT user_id FROM bookings WHERE id = $1").bind(booking).fetch_one(db).await.unwrap();
    // Sessions: revoked long ago; every refresh token long expired; alive.
    let (revoked, expired, alive) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (session, revoked_at, expires) in
        [(revoked, ago(40), ago(-10)), (expired, "NULL".into(), ago(35)), (alive, "NULL".into(), ago(-10))]
    {
        sqlx::query(&format!(
            "INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES ($1, $2, {}, {revoked_at})",
            ago(60)
        ))
        .bind(session)
        .bind(user)
        .execute(db)
        .await
        .unwrap();
        sqlx::query(&format!(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, {expires})"
        ))
        .bind(Uuid::new_v4().as_bytes().to_vec())
        .bind(session)
        .execute(db)
        .await
        .unwrap();
    }
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(db).await.unwrap();

    let pruned = boxoffice::db::prune::prune(db, app.state.config.retention()).await.unwrap();
    assert_eq!((pruned.emails, pruned.sessions), (2, 2), "{pruned:?}");
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(db).await.unwrap();
    assert_eq!(after, before - 2, "recent, failed and pending emails stay");
    let sessions: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM sessions WHERE id = ANY($1)")
        .bind([revoked, expired, alive])
        .fetch_all(db)
        .await
        .unwrap();
    assert_eq!(sessions, [alive]);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK, "the user's own session is alive");
    assert_eq!(boxoffice::db::prune::prune(db, app.state.config.retention()).await.unwrap(), Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_role_builds_nothing_of_the_http_api() {
    let config = test_config(&[]);
    let log_path = std::env::temp_dir().join(format!("boxoffice-worker-role-{}.log", uuid::Uuid::new_v4().simple()));
    /// Killed however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let worker = crate::helpers::binary("worker", &config)
        .env_remove("JWT_SECRET")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .map(Killed)
        .unwrap();
    let log = crate::helpers::eventually(std::time::Duration::from_secs(30), "worker and mailer started", || async {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        (log.contains("worker started") && log.contains("mailer started")).then_some(log)
    })
    .await;
    drop(worker);
    crate::helpers::drop_database(&config.database_url);
    // No token keys were made: the warning about a missing JWT_SECRET is the API's.
    assert!(!log.contains("JWT_SECRET"), "{log}");
}

/// Without JWT_SECRET: `serve` (the README's first command) makes a key, keeps
/// it in JWT_SECRET_FILE with a line saying so, and finds it again at the next
/// start, so a token outlives a restart; `api`, which runs as replicas that
/// must share one key, refuses to start unless BOXOFFICE_DEV=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jwt_secret_serve_keeps_a_key_of_its_own_and_api_refuses_to_start() {
    use std::process::Stdio;
    let config = test_config(&[]);
    let dir = std::env::temp_dir().join(format!("boxoffice-jwt-{}", Uuid::new_v4().simple()));
    let key_file = dir.join("var/jwt-secret");
    let start = |role: &str, port: u16, dev: bool| {
        let mut command = crate::helpers::binary(role, &config);
        command
            .env_remove("JWT_SECRET")
            .env("JWT_SECRET_FILE", &key_file)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("EMAIL_VERIFICATION", "off")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if dev {
            command.env("BOXOFFICE_DEV", "1");
        }
        command.spawn().unwrap()
    };
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    let refused = start("api", free_port(), false).wait_with_output().unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("JWT_SECRET is not set") && said.contains("BOXOFFICE_DEV"), "{said}");
    assert!(!key_file.exists(), "nothing made for a refused start");

    let client = reqwest::Client::new();
    let ready = |base: String| {
        let client = client.clone();
        async move {
            crate::helpers::eventually(std::time::Duration::from_secs(60), "the server answers", || async {
                client.get(format!("{base}/readyz")).send().await.ok().filter(|r| r.status().is_success()).map(|_| ())
            })
            .await
        }
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = start("serve", port, false);
    ready(base.clone()).await;
    let key = std::fs::read_to_string(&key_file).expect("the key was kept");
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600, "its owner's only");
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    let body = serde_json::json!({"email": email, "password": crate::helpers::PASSWORD, "name": "Key Keeper"});
    client.post(format!("{base}/api/v1/auth/register")).json(&body).send().await.unwrap();
    let credentials = serde_json::json!({"email": email, "password": crate::helpers::PASSWORD});
    let login: serde_json::Value =
        client.post(format!("{base}/api/v1/auth/login")).json(&credentials).send().await.unwrap().json().await.unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    first.kill().unwrap();
    let output = first.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("made a random key") && said.contains("jwt-secret"), "one line says so: {said}");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut second = start("api", port, true);
    ready(base.clone()).await;
    let me = client.get(format!("{base}/api/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "the kept key: a token outlives the restart");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "found again, not made anew");
    second.kill().unwrap();
    let _ = second.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
