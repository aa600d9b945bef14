//! Webhooks and messages under a fault: buyers book while an endpoint
//! (slow, verifying every signature with the Standard Webhooks library)
//! hears each confirmation and the organizer writes to a few hundred
//! people; the worker (which runs the mailer and the webhook sender) is
//! killed (SIGKILL) while both are being sent and started again. After it:
//! every confirmation told at least once (a retry keeps its `webhook-id`),
//! none lost, every person written to once (one Message-ID each).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Rig;
use crate::checks::{ensure, wait_final};
use crate::load::Load;

/// People written to besides the buyers (written straight into the database).
const PEOPLE: i64 = 400;

pub struct OutboxRow {
    confirmed: usize,
    received: usize,
    again: usize,
    people: usize,
    copies: usize,
    recovery: Duration,
}

impl OutboxRow {
    pub const HEADER: &str = "| fault | bookings confirmed | `booking.confirmed` received (distinct) | received again (same `webhook-id`) | lost | people written to | emails received | twice to one person (distinct Message-IDs) | time to recover |\n\
                              | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

    pub fn markdown(&self) -> String {
        format!(
            "| worker (mailer and webhook sender) killed (SIGKILL) while confirmations were told to a slow endpoint and a message went to {} people, restarted 2 s later | {} | {} | {} | 0 | {} | {} | 0 | {:.2} s (every delivery and email out) |",
            self.people,
            self.confirmed,
            self.received,
            self.again,
            self.people,
            self.copies,
            self.recovery.as_secs_f64()
        )
    }
}

/// A receiver that takes its time (so deliveries are in flight when the
/// worker dies) and verifies each signature.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    got: Arc<Mutex<Vec<(String, Value)>>>,
    forged: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(self) -> Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = self.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    let secret = state.secret.lock().unwrap().clone();
                    let Ok(verifier) = standardwebhooks::Webhook::new(&secret) else {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    };
                    if verifier.verify(&body, &headers).is_err() {
                        *state.forged.lock().unwrap() += 1;
                        return StatusCode::BAD_REQUEST;
                    }
                    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    state.got.lock().unwrap().push((id, body));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(url)
    }
}

impl Rig {
    pub async fn outbox_case(&mut self) -> Result<OutboxRow> {
        let me = self.client.get(format!("{}/api/v1/me", self.app.base())).bearer_auth(&self.organizer).send().await?;
        let org = me.json::<Value>().await?["id"].as_str().context("organizer id")?.to_owned();
        let receiver = Receiver::default();
        let url = receiver.clone().start().await?;
        let endpoint = self
            .call(
                &format!("/api/v1/organizations/{org}/webhooks"),
                Some(&self.organizer),
                json!({"url": url, "events": ["booking.confirmed"]}),
            )
            .await?;
        *receiver.secret.lock().unwrap() = endpoint["secret"].as_str().context("a secret")?.to_owned();
        let endpoint_id: Uuid = endpoint["id"].as_str().context("endpoint id")?.parse()?;

        let tt = self.sale("Fault: webhooks and messages", 0, crate::CAPACITY).await?;
        let event_id: Uuid =
            sqlx::query_scalar("SELECT event_id FROM ticket_types WHERE id = $1").bind(tt).fetch_one(&self.db).await?;
        sqlx::query(
            "WITH u AS (INSERT INTO users (id, email, name, password_hash, email_verified_at)
                        SELECT gen_random_uuid(), 'person-' || n || '-' || $3 || '@example.org', 'Person ' || n, 'x', now()
                        FROM generate_series(1, $4::int) AS n RETURNING id)
             INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, accepted_at)
             SELECT gen_random_uuid(), u.id, $1, $2, 1, 'confirmed', now() FROM u",
        )
        .bind(event_id)
        .bind(tt)
        .bind(Uuid::new_v4().simple().to_string())
        .bind(PEOPLE as i32)
        .execute(&self.db)
        .await?;

        // Buyers book for a while (each confirmation a webhook to the slow
        // endpoint) and the message is queued; once the sale stops the
        // mailer starts on the message (it waits while a sale decides), and
        // the worker dies while both go out.
        let load = Load::start(&self.client, &self.app.base(), &tt.to_string(), &self.buyers);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sent = self
            .call(
                &format!("/api/v1/events/{event_id}/messages"),
                Some(&self.organizer),
                json!({"audience": "all", "subject": "Fault suite: doors at 7", "body": "Dear {name}, doors at 7."}),
            )
            .await?;
        let message: Uuid = sent["id"].as_str().context("message id")?.parse()?;
        let tally = load.stop().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        let (hooks, emails) = loop {
            let (hooks, sent, emails): (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending'),
                        (SELECT count(*) FROM outbox WHERE message_id = $2 AND status = 'sent'),
                        (SELECT count(*) FROM outbox WHERE message_id = $2 AND status = 'pending')",
            )
            .bind(endpoint_id)
            .bind(message)
            .fetch_one(&self.db)
            .await?;
            if sent > 0 || Instant::now() > deadline {
                break (hooks, emails);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::task::block_in_place(|| self.app.worker.kill9());
        if hooks == 0 || emails == 0 {
            bail!(
                "{hooks} deliveries and {emails} emails were out when the worker was killed: the case proves nothing"
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.app.worker.start()?;
        let back = Instant::now();

        let mut problems = Vec::new();
        let ids = tally.accepted_ids(None);
        let not_final = wait_final(&self.db, &ids, Duration::from_secs(90)).await;
        if not_final > 0 {
            problems.push(format!("{not_final} accepted bookings never became final"));
        }
        // Everything out: each delivery delivered, each email sent (a
        // delivery claimed when the worker died comes due with its lease).
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let (deliveries, emails): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status <> 'delivered'),
                        (SELECT count(*) FROM outbox WHERE message_id = $2 AND status <> 'sent')",
            )
            .bind(endpoint_id)
            .bind(message)
            .fetch_one(&self.db)
            .await?;
            if deliveries == 0 && emails == 0 {
                break;
            }
            if Instant::now() > deadline {
                bail!("{deliveries} deliveries and {emails} emails still out 180 s after the restart");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let recovery = back.elapsed();
        // Let a delivery in flight at the check land before counting.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let confirmed: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed' AND id = ANY($2)",
        )
        .bind(tt)
        .bind(&ids)
        .fetch_all(&self.db)
        .await?;
        let got = receiver.got.lock().unwrap().clone();
        let told: HashSet<String> =
            got.iter().filter_map(|(_, b)| b["data"]["booking"]["id"].as_str().map(str::to_owned)).collect();
        let lost = confirmed.iter().filter(|id| !told.contains(&id.to_string())).count();
        if lost > 0 {
            problems.push(format!("{lost} of {} confirmations never reached the endpoint", confirmed.len()));
        }
        let mut per_id: HashMap<&str, usize> = HashMap::new();
        for (id, _) in &got {
            *per_id.entry(id.as_str()).or_default() += 1;
        }
        let again = per_id.values().map(|n| n - 1).sum();
        if per_id.len() != told.len() {
            problems.push(format!("{} webhook-ids for {} bookings: a retry changed its id", per_id.len(), told.len()));
        }
        let forged = *receiver.forged.lock().unwrap();
        if forged > 0 {
            problems.push(format!("{forged} deliveries failed the signature check"));
        }

        let people: i64 = sqlx::query_scalar("SELECT recipients::bigint FROM messages WHERE id = $1")
            .bind(message)
            .fetch_one(&self.db)
            .await?;
        let copies: Vec<_> =
            self.sink.messages().into_iter().filter(|m| m.data.contains("Fault suite: doors at 7")).collect();
        let mut ids_per_person: HashMap<String, HashSet<String>> = HashMap::new();
        for copy in &copies {
            let id = copy.header("Message-ID").unwrap_or_default();
            for to in &copy.to {
                ids_per_person.entry(to.clone()).or_default().insert(id.clone());
            }
        }
        if ids_per_person.len() as i64 != people {
            problems.push(format!("{} of {people} people got the message", ids_per_person.len()));
        }
        let twice = ids_per_person.values().filter(|ids| ids.len() > 1).count();
        if twice > 0 {
            problems.push(format!("{twice} people got the message as two emails"));
        }
        if tally.unexpected_server_errors() > 0 || !tally.unexpected.is_empty() {
            problems.push(format!("unexpected answers: {:?} {:?}", tally.statuses, tally.unexpected.first()));
        }
        let row = OutboxRow {
            confirmed: confirmed.len(),
            received: told.len(),
            again,
            people: people as usize,
            copies: copies.len(),
            recovery,
        };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }
}
