//! The few API calls the cases make themselves (the load is `load.rs`).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use uuid::Uuid;

/// `POST base + path` with `body`; the answer's JSON, or an error with it.
pub async fn call(client: &reqwest::Client, base: &str, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
    let mut request = client.post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {path}: {status} {body}");
    }
    Ok(body)
}

/// A new account, signed in: its access token.
pub async fn user(client: &reqwest::Client, base: &str) -> Result<String> {
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    let password = "fault suite password";
    call(client, base, "/api/v1/auth/register", None, json!({"email": email, "password": password, "name": "Buyer"}))
        .await?;
    let login = call(client, base, "/api/v1/auth/login", None, json!({"email": email, "password": password})).await?;
    Ok(login["access_token"].as_str().context("access_token")?.to_owned())
}
