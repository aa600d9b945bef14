//! The checkout's faults: buyers pay held bookings by card through the
//! Stripe emulator (localstripe, reached through a relay the suite can cut)
//! while Stripe is out of reach, and while Stripe's webhook events are
//! delivered twice and replayed after the API was killed; the organizer
//! marks offline payments paid, 64 at a time, cancels and pays back every
//! seventh, while the worker and the API are killed at once. After each: every
//! seat confirmed or back on sale, no card charged without its booking
//! confirmed or refunded, no payment applied twice, no refund paid twice;
//! every paid confirmation with exactly one invoice, every refund of one
//! with exactly one credit note, their numbers without a gap or a repeat.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use boxoffice::payments::webhook;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::checks::ensure;
use crate::load::Load;
use crate::{Rig, STRIPE_EMULATOR, STRIPE_KEY, STRIPE_WEBHOOK_SECRET};

const PAYS: &str = "4242424242424242";
const THREE_D_SECURE: &str = "4000002500003155";
/// Every this many paid bookings, one is cancelled (and refunded).
const CANCEL_EVERY: usize = 7;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum CheckoutFault {
    StripeDown,
    WebhookReplayed,
    OfflineProcessesKilled,
}

impl CheckoutFault {
    pub const ALL: [CheckoutFault; 3] =
        [CheckoutFault::StripeDown, CheckoutFault::WebhookReplayed, CheckoutFault::OfflineProcessesKilled];

    pub fn name(self) -> &'static str {
        match self {
            Self::StripeDown => "stripe",
            Self::WebhookReplayed => "webhook",
            Self::OfflineProcessesKilled => "offline",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::StripeDown => {
                "Stripe emulator out of reach (connections refused) while cards pay and refunds go out, back 2 s later"
            }
            Self::WebhookReplayed => {
                "every webhook event delivered twice, the API killed (SIGKILL), all events replayed after its restart"
            }
            Self::OfflineProcessesKilled => {
                "offline payments marked paid 64 at a time, every 7th cancelled and paid back; the worker and the API killed (SIGKILL) at once, restarted 2 s later"
            }
        }
    }
}

/// What the payers saw.
#[derive(Debug, Default)]
struct Payments {
    /// Payment calls made, by status.
    statuses: HashMap<u16, usize>,
    unexpected: Vec<String>,
    /// Webhook deliveries made (retries included), and the events.
    deliveries: usize,
    events: Vec<(String, Vec<u8>)>,
    cancelled: HashSet<Uuid>,
    /// Offline: the held bookings the organizer saw.
    seen_held: HashSet<Uuid>,
}

pub struct CheckoutRow {
    fault: CheckoutFault,
    held: usize,
    confirmed: usize,
    cancelled_refunded: usize,
    statuses: HashMap<u16, usize>,
    deliveries: usize,
    events: usize,
    /// Invoices and credit notes issued, numbered 1 to n without a gap.
    invoices: i64,
    credit_notes: i64,
    recovery: Duration,
}

impl CheckoutRow {
    pub const HEADER: &str = "| fault | bookings held | paid and confirmed | cancelled and refunded | payment answers | webhook deliveries (events) | invoices + credit notes (numbered without a gap) | charged without tickets | refunded twice | time to recover |\n\
                              | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";

    pub fn markdown(&self) -> String {
        let mut statuses: Vec<_> = self.statuses.iter().collect();
        statuses.sort();
        // 0: no answer (the API was not there, or killed with the call in flight).
        let answers: Vec<String> = statuses
            .iter()
            .map(|(s, n)| if **s == 0 { format!("{n}× no answer") } else { format!("{n}× {s}") })
            .collect();
        format!(
            "| {} | {} | {} | {} | {} | {} | {} + {} | 0 | 0 | {:.2} s (no booking held, every refund sent) |",
            self.fault.description(),
            self.held,
            self.confirmed,
            self.cancelled_refunded,
            answers.join(", "),
            if self.events > 0 { format!("{} ({})", self.deliveries, self.events) } else { "–".into() },
            self.invoices,
            self.credit_notes,
            self.recovery.as_secs_f64(),
        )
    }
}

impl Rig {
    pub async fn checkout_case(&mut self, fault: CheckoutFault) -> Result<CheckoutRow> {
        let tt = self.sale(&format!("Checkout fault: {}", fault.name()), 1500, 400).await?;
        let event_id: Uuid =
            sqlx::query_scalar("SELECT event_id FROM ticket_types WHERE id = $1").bind(tt).fetch_one(&self.db).await?;
        if fault == CheckoutFault::OfflineProcessesKilled {
            let path = format!("/api/v1/events/{event_id}");
            let body = json!({"payment_methods": ["offline"]});
            let answer =
                self.client.patch(format!("{}{path}", self.app.base())).bearer_auth(&self.organizer).json(&body);
            let answer = answer.send().await?;
            if !answer.status().is_success() {
                bail!("PATCH {path}: {}", answer.status());
            }
        }
        let load = Load::start(&self.client, &self.app.base(), &tt.to_string(), &self.buyers);
        let stop = Arc::new(AtomicBool::new(false));
        let payments = Arc::new(Mutex::new(Payments::default()));
        let payer = self.payer(fault, tt, event_id, stop.clone(), payments.clone());
        let payer = match fault {
            CheckoutFault::OfflineProcessesKilled => tokio::spawn(pay_offline_all(payer)),
            _ => tokio::spawn(pay_all(payer)),
        };
        tokio::time::sleep(Duration::from_millis(2500)).await;
        match fault {
            CheckoutFault::StripeDown => {
                self.stripe.cut();
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.stripe.restore();
            }
            CheckoutFault::WebhookReplayed => {
                self.app.api.kill9();
                tokio::time::sleep(Duration::from_secs(2)).await;
                tokio::task::block_in_place(|| self.app.start_api())?;
            }
            CheckoutFault::OfflineProcessesKilled => {
                self.app.worker.kill9();
                self.app.api.kill9();
                tokio::time::sleep(Duration::from_secs(2)).await;
                self.app.worker.start()?;
                tokio::task::block_in_place(|| self.app.start_api())?;
            }
        }
        let back = Instant::now();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let tally = load.stop().await;
        let pending = crate::checks::wait_final(&self.db, &tally.accepted_ids(None), Duration::from_secs(60)).await;
        if pending > 0 {
            bail!("{pending} accepted bookings never decided");
        }
        // The payers finish what is held, then stop.
        let recovered = self.settled(tt, back).await;
        stop.store(true, Ordering::SeqCst);
        payer.await?;
        let recovery = recovered?;
        let mut payments = std::mem::take(&mut *payments.lock().unwrap());
        // Every event once more, now that the API is back.
        for (_, body) in &payments.events {
            payments.deliveries += deliver(&self.client, &self.app.base(), body).await;
        }
        self.checkout_verdict(fault, tt, payments, recovery).await
    }

    fn payer(
        &self,
        fault: CheckoutFault,
        tt: Uuid,
        event_id: Uuid,
        stop: Arc<AtomicBool>,
        payments: Arc<Mutex<Payments>>,
    ) -> Payer {
        Payer {
            fault,
            tt,
            event_id,
            organizer: self.organizer.clone(),
            stop,
            payments,
            client: self.client.clone(),
            base: self.app.base(),
            db: self.db.clone(),
            tokens: self.buyer_tokens.clone(),
        }
    }

    /// Waits until no booking of the sale is held and every refund is sent.
    async fn settled(&self, tt: Uuid, back: Instant) -> Result<Duration> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (held, refunds): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM bookings WHERE ticket_type_id = $1 AND status = 'held'),
                        (SELECT count(*) FROM refunds r JOIN bookings b ON b.id = r.booking_id
                          WHERE b.ticket_type_id = $1 AND r.status <> 'succeeded')",
            )
            .bind(tt)
            .fetch_one(&self.db)
            .await?;
            if held == 0 && refunds == 0 {
                return Ok(back.elapsed());
            }
            if Instant::now() > deadline {
                bail!("not settled within 120 s: {held} bookings still held, {refunds} refunds not sent");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn checkout_verdict(
        &mut self,
        fault: CheckoutFault,
        tt: Uuid,
        payments: Payments,
        recovery: Duration,
    ) -> Result<CheckoutRow> {
        let mut problems = Vec::new();
        let seats = boxoffice::db::invariants::seats(&self.db, tt).await?;
        problems.extend(seats.violations());
        if seats.remaining + seats.confirmed != seats.capacity {
            problems.push(format!("seats neither sold nor back on sale: {seats:?}"));
        }
        // Charged at Stripe: each intent of this sale is recorded as what it is.
        let intents: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT p.booking_id, p.intent_id, p.status FROM payments p JOIN bookings b ON b.id = p.booking_id
              WHERE b.ticket_type_id = $1 AND p.intent_id IS NOT NULL",
        )
        .bind(tt)
        .fetch_all(&self.db)
        .await?;
        let mut refunded_intents = 0;
        for (booking, intent, ours) in &intents {
            let at_stripe = stripe_get(&self.client, &format!("/v1/payment_intents/{intent}")).await?;
            if at_stripe["status"] == "succeeded" && ours != "succeeded" {
                problems.push(format!("booking {booking}: charged by {intent}, recorded as {ours}"));
            }
            // An intent that never reached a charge (its confirmation was cut
            // off with Stripe) has nothing to refund; the emulator answers 500
            // when asked for the refunds of one, as it has no charge to match.
            let charged = at_stripe["charges"]["data"].as_array().is_some_and(|c| !c.is_empty());
            let count = if charged {
                let refunds =
                    stripe_get(&self.client, &format!("/v1/refunds?payment_intent={intent}&limit=100")).await?;
                refunds["data"].as_array().map_or(0, Vec::len)
            } else {
                0
            };
            if count > 1 {
                problems.push(format!("intent {intent} refunded {count} times"));
            }
            refunded_intents += count;
        }
        let doubled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT p.booking_id FROM payments p JOIN bookings b ON b.id = p.booking_id
               WHERE b.ticket_type_id = $1 AND p.status = 'succeeded' GROUP BY p.booking_id HAVING count(*) > 1) d",
        )
        .bind(tt)
        .fetch_one(&self.db)
        .await?;
        if doubled > 0 {
            problems.push(format!("{doubled} bookings paid twice"));
        }
        let (refunded_twice, offline_refunds): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM (SELECT r.payment_id FROM refunds r JOIN bookings b ON b.id = r.booking_id
                      WHERE b.ticket_type_id = $1 GROUP BY r.payment_id HAVING sum(r.amount_cents) >
                            (SELECT p.amount_cents FROM payments p WHERE p.id = r.payment_id)) d),
                    (SELECT count(*) FROM refunds r JOIN bookings b ON b.id = r.booking_id
                      WHERE b.ticket_type_id = $1 AND r.provider = 'offline' AND r.status = 'succeeded')",
        )
        .bind(tt)
        .fetch_one(&self.db)
        .await?;
        if refunded_twice > 0 {
            problems.push(format!("{refunded_twice} payments refunded more than they paid"));
        }
        if fault == CheckoutFault::OfflineProcessesKilled && offline_refunds == 0 {
            problems.push("no offline refund was paid back: the case tested nothing".into());
        }
        if fault == CheckoutFault::OfflineProcessesKilled && !payments.statuses.contains_key(&0) {
            problems.push("no call met the killed API: the case tested nothing".into());
        }
        let confirmed: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'")
                .bind(tt)
                .fetch_all(&self.db)
                .await?;
        // One confirmation email per confirmed booking, however often its payment was announced.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.emails.read(&self.sink);
            let missing = confirmed.iter().filter(|id| !self.emails.by_booking.contains_key(id)).count();
            if missing == 0 || Instant::now() > deadline {
                if missing > 0 {
                    problems.push(format!("{missing} confirmed bookings got no email"));
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for id in &confirmed {
            if self.emails.by_booking.get(id).is_some_and(|c| c.message_ids.len() > 1) {
                problems.push(format!("booking {id} got more than one confirmation"));
            }
        }
        let unexpected_5xx: usize =
            payments.statuses.iter().filter(|(s, _)| **s >= 500 && **s != 503).map(|(_, n)| n).sum();
        if unexpected_5xx > 0 {
            problems.push(format!("5xx other than 503: {:?}", payments.statuses));
        }
        if !payments.unexpected.is_empty() {
            problems.push(format!("{} unexpected answers, e.g. {}", payments.unexpected.len(), payments.unexpected[0]));
        }
        if confirmed.is_empty() {
            problems.push("nothing was paid".into());
        }
        if fault == CheckoutFault::StripeDown && !payments.statuses.contains_key(&503) {
            problems.push("no payment met the outage (no 503): the case tested nothing".into());
        }
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM stripe_events").fetch_one(&self.db).await?;
        if fault == CheckoutFault::WebhookReplayed && (applied as usize) < payments.events.len() {
            problems.push(format!("{} events delivered, {applied} recorded", payments.events.len()));
        }
        // The papers: one invoice per paid confirmation, one credit note per
        // refund of one, and the series without a gap (`db::invariants`).
        problems.extend(boxoffice::db::invariants::invoice_violations(&self.db, tt).await?);
        let (invoices, credit_notes): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE i.kind = 'invoice'), count(*) FILTER (WHERE i.kind = 'credit_note')
               FROM invoices i JOIN bookings b ON b.id = i.booking_id WHERE b.ticket_type_id = $1",
        )
        .bind(tt)
        .fetch_one(&self.db)
        .await?;
        let row = CheckoutRow {
            invoices,
            credit_notes,
            fault,
            held: match fault {
                CheckoutFault::OfflineProcessesKilled => payments.seen_held.len(),
                _ => intents.iter().map(|(b, _, _)| b).collect::<HashSet<_>>().len(),
            },
            confirmed: confirmed.len(),
            cancelled_refunded: match fault {
                CheckoutFault::OfflineProcessesKilled => offline_refunds as usize,
                _ => refunded_intents,
            },
            statuses: payments.statuses,
            deliveries: payments.deliveries,
            events: payments.events.len(),
            recovery,
        };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }
}

/// Pays every held booking of the sale, as their buyers would.
struct Payer {
    fault: CheckoutFault,
    tt: Uuid,
    event_id: Uuid,
    /// The organizer's token (offline: marks paid, cancels, pays back).
    organizer: String,
    stop: Arc<AtomicBool>,
    payments: Arc<Mutex<Payments>>,
    client: reqwest::Client,
    base: String,
    db: sqlx::PgPool,
    /// Buyer token by user id.
    tokens: HashMap<Uuid, String>,
}

async fn pay_all(payer: Payer) {
    let mut paid = 0usize;
    loop {
        let stopping = payer.stop.load(Ordering::SeqCst);
        let held: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, user_id FROM bookings WHERE ticket_type_id = $1 AND status = 'held' ORDER BY id LIMIT 20",
        )
        .bind(payer.tt)
        .fetch_all(&payer.db)
        .await
        .unwrap_or_default();
        for (booking, user) in held {
            let Some(token) = payer.tokens.get(&user) else { continue };
            if payer.pay(booking, token).await {
                paid += 1;
                if paid.is_multiple_of(CANCEL_EVERY) {
                    payer.cancel(booking, token).await;
                }
            }
        }
        if stopping {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The organizer at the box office: marks what is held paid, 64 at a time
/// (as a bank statement's lines are gone through), cancels every seventh
/// paid booking and pays its refund back; a refund whose paying back was
/// cut off is found again on the next round.
async fn pay_offline_all(payer: Payer) {
    let mut paid = 0usize;
    loop {
        let stopping = payer.stop.load(Ordering::SeqCst);
        let held: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'held' ORDER BY id LIMIT 64",
        )
        .bind(payer.tt)
        .fetch_all(&payer.db)
        .await
        .unwrap_or_default();
        payer.payments.lock().unwrap().seen_held.extend(held.iter().copied());
        let marked = futures::future::join_all(held.iter().map(|b| payer.organizer_call(*b, "mark-paid"))).await;
        for (booking, answer) in held.iter().zip(marked) {
            if answer.is_some_and(|status| status == StatusCode::OK) {
                paid += 1;
                if paid.is_multiple_of(CANCEL_EVERY) {
                    payer.organizer_call(*booking, "cancel").await;
                }
            }
        }
        let owed: Vec<Uuid> = sqlx::query_scalar(
            "SELECT r.booking_id FROM refunds r JOIN bookings b ON b.id = r.booking_id
              WHERE b.ticket_type_id = $1 AND r.provider = 'offline' AND r.status = 'pending'",
        )
        .bind(payer.tt)
        .fetch_all(&payer.db)
        .await
        .unwrap_or_default();
        for booking in owed {
            payer.organizer_call(booking, "refund/paid-out").await;
        }
        if stopping {
            return;
        }
        // A round every quarter second: holds pile up faster than they are
        // paid, so calls are on their way when the processes are killed.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Payer {
    /// The organizer's `action` on `booking` (`mark-paid`, `cancel`,
    /// `refund/paid-out`): its status, `None` when the API was not there.
    async fn organizer_call(&self, booking: Uuid, action: &str) -> Option<StatusCode> {
        let answer = self
            .client
            .post(format!("{}/api/v1/events/{}/bookings/{booking}/{action}", self.base, self.event_id))
            .bearer_auth(&self.organizer)
            .json(&json!({}))
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let Ok(answer) = answer else {
            *self.payments.lock().unwrap().statuses.entry(0).or_default() += 1;
            return None;
        };
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        let mut payments = self.payments.lock().unwrap();
        *payments.statuses.entry(status.as_u16()).or_default() += 1;
        // 409: done already (an answer lost when the API was killed, tried
        // again); 503: the database busy or away.
        if !matches!(status, StatusCode::OK | StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE) {
            payments.unexpected.push(format!("{action}: {status} {body}"));
        }
        Some(status)
    }

    /// One payment of `booking`; whether it is paid now.
    async fn pay(&self, booking: Uuid, token: &str) -> bool {
        let number = if self.fault == CheckoutFault::WebhookReplayed { THREE_D_SECURE } else { PAYS };
        let Ok(method) = card(number).await else { return false };
        let answer = self
            .client
            .post(format!("{}/api/v1/bookings/{booking}/payment", self.base))
            .bearer_auth(token)
            .json(&json!({"payment_method": method}))
            .timeout(Duration::from_secs(15))
            .send()
            .await;
        let Ok(response) = answer else { return false };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        {
            let mut payments = self.payments.lock().unwrap();
            *payments.statuses.entry(status.as_u16()).or_default() += 1;
            // 409: paid or in flight meanwhile (a retry after a lost answer); 503: Stripe away.
            let expected = matches!(status, StatusCode::OK | StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE);
            if !expected {
                payments.unexpected.push(format!("{status} {body}"));
            }
        }
        match body["status"].as_str() {
            Some("succeeded") => true,
            Some("requires_action") => self.finish_3ds(&body).await,
            _ => false,
        }
    }

    /// 3-D Secure done at Stripe, then the news by webhook only, twice.
    async fn finish_3ds(&self, body: &Value) -> bool {
        let Some(secret) = body["client_secret"].as_str() else { return false };
        let intent = secret.split("_secret_").next().unwrap_or_default().to_owned();
        let authenticated = self
            .client
            .post(format!("{STRIPE_EMULATOR}/v1/payment_intents/{intent}/_authenticate"))
            .basic_auth(STRIPE_KEY, Some(""))
            .form(&[("client_secret", secret), ("success", "true")])
            .send()
            .await;
        if !authenticated.is_ok_and(|r| r.status().is_success()) {
            return false;
        }
        let Ok(object) = stripe_get(&self.client, &format!("/v1/payment_intents/{intent}")).await else { return false };
        let event_id = format!("evt_{}", Uuid::new_v4().simple());
        let event =
            json!({"id": event_id, "object": "event", "type": "payment_intent.succeeded", "data": {"object": object}});
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let mut deliveries = 0;
        for _ in 0..2 {
            deliveries += deliver(&self.client, &self.base, &body).await;
        }
        let mut payments = self.payments.lock().unwrap();
        payments.deliveries += deliveries;
        payments.events.push((event_id, body));
        true
    }

    async fn cancel(&self, booking: Uuid, token: &str) {
        let answer =
            self.client.post(format!("{}/api/v1/bookings/{booking}/cancel", self.base)).bearer_auth(token).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            self.payments.lock().unwrap().cancelled.insert(booking);
        }
    }
}

/// Delivers a signed event until the API answers 200; the number of tries.
async fn deliver(client: &reqwest::Client, base: &str, body: &[u8]) -> usize {
    for tries in 1..=200 {
        let signature = webhook::sign(body, STRIPE_WEBHOOK_SECRET, chrono::Utc::now().timestamp());
        let answer = client
            .post(format!("{base}/api/v1/payments/stripe/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_vec())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status() == StatusCode::OK) {
            return tries;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    200
}

async fn card(number: &str) -> Result<String> {
    let stripe = boxoffice::payments::stripe::Stripe::new(STRIPE_EMULATOR, STRIPE_KEY.into());
    Ok(stripe.test_card(number).await?)
}

/// A read from the emulator, tried again when it answers with something not
/// JSON (it can fail a read while it writes its store to disk).
async fn stripe_get(client: &reqwest::Client, path: &str) -> Result<Value> {
    let mut last = None;
    for _ in 0..5 {
        let answer = client.get(format!("{STRIPE_EMULATOR}{path}")).basic_auth(STRIPE_KEY, Some("")).send().await;
        match answer {
            Ok(response) => match response.json::<Value>().await {
                Ok(value) => return Ok(value),
                Err(err) => last = Some(anyhow::Error::from(err)),
            },
            Err(err) => last = Some(err.into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no answer")).context(format!("GET {path} at the emulator")))
}
