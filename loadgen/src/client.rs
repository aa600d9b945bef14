//! The Boxoffice API as the load generator uses it.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Booking {
    pub id: String,
    pub status: String,
    pub quantity: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tickets: Vec<Value>,
}

/// How held bookings are paid in a run.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pay {
    /// The organizer marks them paid (the offline provider).
    Offline,
    /// By card: a payment method from the Stripe emulator, then the API charges it.
    Card,
    /// Nobody pays: every hold runs out.
    None,
}

pub const PASSWORD: &str = "load-generator-password";

impl Api {
    /// A client keeping up to `connections` keep-alive connections open.
    pub fn new(base: &str, connections: usize) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            // Below the server's idle limit (HEADER_READ_TIMEOUT_MS, 10 s by
            // default): a connection it has closed is never picked from the pool.
            .pool_idle_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { base: base.trim_end_matches('/').to_owned(), http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Registers `email` and logs in: the access token.
    pub async fn user(&self, email: &str) -> anyhow::Result<String> {
        let body = json!({"email": email, "password": PASSWORD, "name": "Load Test"});
        let reply = self.http.post(self.url("/api/v1/auth/register")).json(&body).send().await?;
        if reply.status() != StatusCode::CREATED {
            bail!("register answered {}: {}", reply.status(), reply.text().await.unwrap_or_default());
        }
        let login = json!({"email": email, "password": PASSWORD});
        let reply = self.http.post(self.url("/api/v1/auth/login")).json(&login).send().await?;
        if reply.status() != StatusCode::OK {
            bail!("login answered {}", reply.status());
        }
        let tokens: Value = reply.json().await?;
        tokens["access_token"].as_str().map(str::to_owned).context("no access token")
    }

    /// A published event with one ticket type (19 % tax in its prices;
    /// paid bookings invoiced unless `invoices` is false): (event id, ticket type id).
    pub async fn flash_sale_event(
        &self,
        token: &str,
        capacity: i64,
        max_per_order: i64,
        price_cents: i64,
        hold_seconds: i64,
        invoices: bool,
    ) -> anyhow::Result<(String, String)> {
        let starts_at = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let body = json!({
            "title": "Flash sale", "description": "Load test", "venue": "Stadium",
            "starts_at": starts_at, "status": "published", "hold_seconds": hold_seconds, "issue_invoices": invoices,
            "ticket_types": [{"name": "General", "price_cents": price_cents, "capacity": capacity,
                              "max_per_order": max_per_order, "tax_rate": 1900}]
        });
        let reply = self.http.post(self.url("/api/v1/events")).bearer_auth(token).json(&body).send().await?;
        if reply.status() != StatusCode::CREATED {
            bail!("creating the event answered {}: {}", reply.status(), reply.text().await.unwrap_or_default());
        }
        let event: Value = reply.json().await?;
        let id = event["id"].as_str().context("event id")?.to_owned();
        let tt = event["ticket_types"][0]["id"].as_str().context("ticket type id")?.to_owned();
        Ok((id, tt))
    }

    /// A second ticket type of `event`, like the first (`capacity` seats,
    /// `price_cents`): its id.
    pub async fn add_ticket_type(
        &self,
        token: &str,
        event: &str,
        capacity: i64,
        max_per_order: i64,
        price_cents: i64,
    ) -> anyhow::Result<String> {
        let body = json!({"name": "General, second", "price_cents": price_cents, "capacity": capacity,
                          "max_per_order": max_per_order});
        let created: Value = self.created(token, &format!("/api/v1/events/{event}/ticket-types"), &body).await?;
        created["id"].as_str().map(str::to_owned).context("ticket type id")
    }

    /// A quota of `capacity` seats shared by `types`: its id.
    pub async fn quota(&self, token: &str, event: &str, capacity: i64, types: &[String]) -> anyhow::Result<String> {
        let body = json!({"name": "Shared", "capacity": capacity, "ticket_type_ids": types});
        let created: Value = self.created(token, &format!("/api/v1/events/{event}/quotas"), &body).await?;
        created["id"].as_str().map(str::to_owned).context("quota id")
    }

    /// A 10 % code of `max_uses` seats: (its id, the code as typed).
    pub async fn code(&self, token: &str, event: &str, max_uses: i64) -> anyhow::Result<(String, String)> {
        let body = json!({"kind": "percent", "value": 10, "max_uses": max_uses, "note": "load generator"});
        let created: Value = self.created(token, &format!("/api/v1/events/{event}/codes"), &body).await?;
        let code = &created["items"][0];
        Ok((code["id"].as_str().context("code id")?.to_owned(), code["code"].as_str().context("code")?.to_owned()))
    }

    /// A code's seats of held and confirmed bookings, as its organizer reads them.
    pub async fn code_uses(&self, token: &str, event: &str, code_id: &str) -> anyhow::Result<i64> {
        let path = format!("/api/v1/events/{event}/codes/{code_id}");
        let reply = self.http.get(self.url(&path)).bearer_auth(token).send().await?;
        let code: Value = reply.json().await?;
        code["uses"].as_i64().context("uses")
    }

    async fn created(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let reply = self.http.post(self.url(path)).bearer_auth(token).json(body).send().await?;
        if reply.status() != StatusCode::CREATED {
            bail!("POST {path} answered {}: {}", reply.status(), reply.text().await.unwrap_or_default());
        }
        Ok(reply.json().await?)
    }

    /// One booking request (with `code`, if given): the status, and the booking when 202/200.
    pub async fn book(
        &self,
        token: &str,
        tt: &str,
        quantity: i64,
        key: &str,
        code: Option<&str>,
    ) -> anyhow::Result<(u16, Option<Booking>)> {
        let mut body = json!({"ticket_type_id": tt, "quantity": quantity});
        if let Some(code) = code {
            body["code"] = json!(code);
        }
        let reply = self
            .http
            .post(self.url("/api/v1/bookings"))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
            .await?;
        let status = reply.status().as_u16();
        let booking = if matches!(status, 200 | 202) { Some(reply.json().await?) } else { None };
        Ok((status, booking))
    }

    /// The booking, waiting up to 30 s on the server for it to be decided.
    pub async fn booking(&self, token: &str, id: &str) -> anyhow::Result<Booking> {
        let reply =
            self.http.get(self.url(&format!("/api/v1/bookings/{id}?wait=30"))).bearer_auth(token).send().await?;
        if reply.status() != StatusCode::OK {
            bail!("reading booking {id} answered {}", reply.status());
        }
        Ok(reply.json().await?)
    }

    /// Pays held booking `id`: the organizer marks it paid, or its buyer pays
    /// with a fresh card from the emulator at `stripe` (as Stripe.js would).
    /// Whether it is confirmed now.
    pub async fn pay(
        &self,
        how: Pay,
        ids: (&str, &str),
        tokens: (&str, &str),
        stripe: &boxoffice::payments::stripe::Stripe,
    ) -> anyhow::Result<bool> {
        let ((event, id), (organizer, buyer)) = (ids, tokens);
        let reply = match how {
            Pay::None => return Ok(false),
            Pay::Offline => {
                let path = format!("/api/v1/events/{event}/bookings/{id}/mark-paid");
                self.http.post(self.url(&path)).bearer_auth(organizer).send().await?
            }
            Pay::Card => {
                let method = stripe.test_card("4242424242424242").await?;
                let body = json!({"payment_method": method});
                let path = format!("/api/v1/bookings/{id}/payment");
                self.http.post(self.url(&path)).bearer_auth(buyer).json(&body).send().await?
            }
        };
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or_default();
        if status != StatusCode::OK {
            bail!("paying {id} answered {status}: {body}");
        }
        Ok(body["status"] == "confirmed" || body["status"] == "succeeded")
    }

    pub async fn event(&self, id: &str) -> anyhow::Result<Value> {
        let reply = self.http.get(self.url(&format!("/api/v1/events/{id}"))).send().await?;
        if reply.status() != StatusCode::OK {
            bail!("reading event {id} answered {}", reply.status());
        }
        Ok(reply.json().await?)
    }
}
