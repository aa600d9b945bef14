//! Secrets never reach the logs: a walk-through against the real binary with
//! debug logging, then the log is searched for every secret it handled.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_walk_through_logs_no_password_token_or_secret() {
    let config = crate::helpers::test_config(&[]);
    let secret = "log-test-secret-that-must-never-be-printed-0123456789";
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log_path = std::env::temp_dir().join(format!("boxoffice-log-test-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    // Killed however the test ends (a failed assertion must not leave it running).
    let mut server = KillOnDrop(
        crate::helpers::binary("serve", &config)
            .env("JWT_SECRET", secret)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    crate::helpers::eventually(Duration::from_secs(10), "the server answers /healthz", || async {
        client.get(format!("{base}/healthz")).send().await.map(|_| ())
    })
    .await;

    let email = format!("secret-keeper-{port}@example.org");
    let password = "correct horse battery staple 42";
    let post = |path: &str, token: Option<&str>, body: Value| {
        let mut request = client.post(format!("{base}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    post("/api/v1/auth/register", None, json!({"email": email, "password": password, "name": "Keeper"})).await.unwrap();
    let wrong =
        post("/api/v1/auth/login", None, json!({"email": email, "password": "the wrong one 123"})).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let tokens: Value = post("/api/v1/auth/login", None, json!({"email": email, "password": password}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed: Value = post("/api/v1/auth/refresh", None, json!({"refresh_token": tokens["refresh_token"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    // The link of the verification email, as written to the mail folder.
    let link = crate::helpers::eventually(Duration::from_secs(30), "the verification email", || async {
        let files = std::fs::read_dir(&config.mail_dir).ok()?;
        let text =
            files.flatten().find_map(|f| std::fs::read_to_string(f.path()).ok().filter(|t| t.contains("token=")))?;
        // Quoted-printable: soft line breaks and "=" written as "=3D".
        let text = text.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
        let token = text.split("token=").nth(1)?;
        Some(token.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect::<String>())
    })
    .await;
    let verified = post("/api/v1/auth/verify", None, json!({"token": link})).await.unwrap();
    assert_eq!(verified.status(), 200);
    let event: Value = post("/api/v1/events", Some(access), {
        let mut body = crate::helpers::event_body();
        body["status"] = json!("published");
        body
    })
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let booking: Value = post("/api/v1/bookings", Some(access), json!({"ticket_type_id": tt, "quantity": 1}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The worker's part of the walk-through is in the log once it decided.
    let path = format!("{base}/api/v1/bookings/{}", booking["id"].as_str().unwrap());
    crate::helpers::eventually(Duration::from_secs(30), "the booking decided", || async {
        let now: Value = client.get(&path).bearer_auth(access).send().await.ok()?.json().await.ok()?;
        (now["status"] != "pending").then_some(())
    })
    .await;
    post("/api/v1/auth/logout", Some(access), json!({})).await.unwrap();

    let _ = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status();
    let _ = server.0.wait();
    let mut logs = String::new();
    std::fs::File::open(&log_path).unwrap().read_to_string(&mut logs).unwrap();
    let _ = std::fs::remove_file(&log_path);
    crate::helpers::drop_database(&config.database_url);
    assert!(logs.contains("logged in"), "the walk-through was logged at all");
    for (what, value) in [
        ("password", password),
        ("wrong password", "the wrong one 123"),
        ("first access token", tokens["access_token"].as_str().unwrap()),
        ("first refresh token", tokens["refresh_token"].as_str().unwrap()),
        ("second access token", access),
        ("second refresh token", refreshed["refresh_token"].as_str().unwrap()),
        ("JWT secret", secret),
        ("verification token", link.as_str()),
        ("full email address", email.as_str()),
    ] {
        assert!(!logs.contains(value), "the log contains the {what}");
    }
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
