//! Buyers booking steadily, as careful clients do: each request carries an
//! `Idempotency-Key`, and a request that got no answer or a 503 is sent again
//! with the same key, so a server that applied it once must not apply it twice.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use uuid::Uuid;

/// Every answer the buyers got.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// HTTP requests sent, retries included.
    pub sent: usize,
    /// `(Idempotency-Key, booking id, when)` of every 202 (and 200 replay).
    pub accepted: Vec<(String, Uuid, Instant)>,
    /// Every key sent: a booking with any other key was never asked for.
    pub keys: Vec<String>,
    /// Answers no buyer should get (401, 404, 422 ...), with the body.
    pub unexpected: Vec<String>,
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no answer at all (connection refused or cut).
    pub no_answer: usize,
    /// When each decided answer (202, its 200 replay, or 409 `sold_out`) arrived.
    pub decided_at: Vec<Instant>,
}

impl Tally {
    pub fn server_errors(&self) -> usize {
        self.statuses.iter().filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()
    }

    /// 5xx other than the designed 503 `unavailable`.
    pub fn unexpected_server_errors(&self) -> usize {
        self.statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503).map(|(_, n)| n).sum()
    }

    pub fn first_decided_after(&self, at: Instant) -> Option<Duration> {
        self.decided_at.iter().filter(|t| **t >= at).min().map(|t| t.duration_since(at))
    }

    /// The distinct bookings accepted (at or after `since`).
    pub fn accepted_ids(&self, since: Option<Instant>) -> Vec<Uuid> {
        let ids: std::collections::HashSet<Uuid> =
            self.accepted.iter().filter(|(_, _, at)| since.is_none_or(|s| *at >= s)).map(|(_, id, _)| *id).collect();
        ids.into_iter().collect()
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    buyers: Vec<tokio::task::JoinHandle<()>>,
}

/// A case that failed half-way must not leave buyers booking into the next.
impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for buyer in &self.buyers {
            buyer.abort();
        }
    }
}

impl Load {
    /// Starts one task per buyer token, booking `ticket_type_id` one or two seats at a time.
    pub fn start(client: &reqwest::Client, base: &str, ticket_type_id: &str, tokens: &[String]) -> Self {
        Self::selling(client, base, &[ticket_type_id.to_owned()], None, tokens)
    }

    /// Like [`Self::start`], each request for the next of `ticket_type_ids`
    /// in turn; a request for the first carries `code` when given.
    pub fn selling(
        client: &reqwest::Client,
        base: &str,
        ticket_type_ids: &[String],
        code: Option<&str>,
        tokens: &[String],
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let buyers = tokens
            .iter()
            .enumerate()
            .map(|(n, token)| {
                let buyer = Buyer {
                    client: client.clone(),
                    url: format!("{base}/api/v1/bookings"),
                    token: token.clone(),
                    ticket_type_ids: ticket_type_ids.to_vec(),
                    code: code.map(str::to_owned),
                    stop: stop.clone(),
                    tally: tally.clone(),
                };
                tokio::spawn(buyer.run(n))
            })
            .collect();
        Self { stop, tally, buyers }
    }

    pub fn snapshot(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    pub async fn stop(mut self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for buyer in std::mem::take(&mut self.buyers) {
            let _ = buyer.await;
        }
        self.tally.lock().unwrap().clone()
    }
}

struct Buyer {
    client: reqwest::Client,
    url: String,
    token: String,
    ticket_type_ids: Vec<String>,
    code: Option<String>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
}

impl Buyer {
    async fn run(self, n: usize) {
        let mut round = n;
        // This buyer's answered requests: every eighth round sends one of them
        // again, as a client that lost the answer would, to check the replay.
        let mut answered: Vec<(String, usize, usize)> = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            round += 1;
            let (key, quantity, kind) = match answered.get(round % 64) {
                Some(earlier) if round.is_multiple_of(8) => earlier.clone(),
                _ => (Uuid::new_v4().to_string(), 1 + round % 2, (round / 2) % self.ticket_type_ids.len()),
            };
            self.tally.lock().unwrap().keys.push(key.clone());
            if self.request(&key, quantity, kind).await {
                answered.push((key, quantity, kind));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends one request until it is decided (or the load stops); whether it was accepted.
    async fn request(&self, key: &str, quantity: usize, kind: usize) -> bool {
        let mut body = serde_json::json!({"ticket_type_id": self.ticket_type_ids[kind], "quantity": quantity});
        if let Some(code) = self.code.as_deref().filter(|_| kind == 0) {
            body["code"] = serde_json::json!(code);
        }
        loop {
            self.tally.lock().unwrap().sent += 1;
            let answer = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .header("idempotency-key", key)
                .timeout(Duration::from_secs(5))
                .json(&body)
                .send()
                .await;
            let (retry, accepted) = match answer {
                Ok(response) => {
                    let status = response.status();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    let mut tally = self.tally.lock().unwrap();
                    *tally.statuses.entry(status.as_u16()).or_default() += 1;
                    match status {
                        // 200 is a replay of this key's booking (the first answer was lost).
                        StatusCode::ACCEPTED | StatusCode::OK => {
                            match body["id"].as_str().and_then(|id| id.parse().ok()) {
                                Some(id) => tally.accepted.push((key.to_owned(), id, Instant::now())),
                                None => tally.unexpected.push(format!("{status} without an id: {body}")),
                            }
                            tally.decided_at.push(Instant::now());
                            (false, true)
                        }
                        // `conflict`: the key's first request is still being accepted (or
                        // the API died while accepting it): ask again.
                        StatusCode::CONFLICT if body["code"] == "conflict" => (true, false),
                        // This buyer's previous booking is still in line (one per
                        // ticket type): ask again once it has been decided.
                        StatusCode::CONFLICT if body["code"] == "already_in_line" => (true, false),
                        // Sold out, or (a coded request) its code used up: refused at the door.
                        StatusCode::CONFLICT if body["code"] == "sold_out" || body["code"] == "code_used_up" => {
                            tally.decided_at.push(Instant::now());
                            (false, false)
                        }
                        StatusCode::SERVICE_UNAVAILABLE => (true, false),
                        _ => {
                            tally.unexpected.push(format!("{status} {body}"));
                            (false, false)
                        }
                    }
                }
                Err(_) => {
                    self.tally.lock().unwrap().no_answer += 1;
                    (true, false)
                }
            };
            if !retry || self.stop.load(Ordering::SeqCst) {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
