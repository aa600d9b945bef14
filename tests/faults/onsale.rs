//! The on-sale's faults: the worker killed (SIGKILL) again and again around
//! an event's open, while it draws the pre-queue and decides the line; then
//! the API killed while buyers cancel and their seats are offered to the
//! waiting list. After it: exactly one draw, the seats went in the order
//! recomputed from the published seed, every request decided once, no
//! waiting entry offered twice, no seat offered that did not come back.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use uuid::Uuid;

use crate::Rig;
use crate::checks::ensure;

/// Pre-queued buyers, and the seats they compete for.
const BUYERS: usize = 30;
const SEATS: i64 = 15;
/// Confirmed buyers who cancel while the API is killed.
const CANCELLING: usize = 6;
/// The worker is killed this many times from just before the open.
const KILLS: usize = 3;

pub struct OnSaleRow {
    prequeued: usize,
    killed: usize,
    cancels_answered: usize,
    cancelled: usize,
    offered_entries: usize,
    waiting: usize,
    recovery: Duration,
}

impl OnSaleRow {
    pub const HEADER: &str = "| fault | pre-queued (seats) | draws | order as recomputed | cancels answered / committed | waiting entries offered (of) | offered twice | time to recover |\n\
                              | --- | --- | --- | --- | --- | --- | --- | --- |";

    pub fn markdown(&self) -> String {
        format!(
            "| worker killed (SIGKILL) {}× around the open, restarted 1 s later each time; then the API killed while buyers cancel one by one (offers made) | {} ({SEATS}) | 1 | yes | {} / {} | {} ({}) | 0 | {:.2} s from the open (every request decided) |",
            self.killed,
            self.prequeued,
            self.cancels_answered,
            self.cancelled,
            self.offered_entries,
            self.waiting,
            self.recovery.as_secs_f64()
        )
    }
}

impl Rig {
    pub async fn onsale_case(&mut self) -> Result<OnSaleRow> {
        let mut buyers = Vec::with_capacity(BUYERS);
        for _ in 0..BUYERS {
            buyers.push(self.user().await?);
        }
        let sales_start = chrono::Utc::now() + chrono::Duration::seconds(8);
        let event = self
            .call(
                "/api/v1/events",
                Some(&self.organizer),
                json!({
                    "title": "Fault: on-sale", "venue": "Loopback Hall", "status": "published",
                    "starts_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
                    "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                    "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": SEATS, "max_per_order": 1}]
                }),
            )
            .await?;
        let event_id: Uuid = event["id"].as_str().context("event id")?.parse()?;
        let tt: Uuid = event["ticket_types"][0]["id"].as_str().context("ticket type id")?.parse()?;
        let mut ids = Vec::with_capacity(BUYERS);
        for buyer in &buyers {
            let booking =
                self.call("/api/v1/bookings", Some(buyer), json!({"ticket_type_id": tt, "quantity": 1})).await?;
            ids.push(booking["id"].as_str().context("booking id")?.parse::<Uuid>()?);
        }

        // Killed just before the open, then twice more while it draws and decides.
        let wait = (sales_start - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait.saturating_sub(Duration::from_millis(300))).await;
        for _ in 0..KILLS {
            self.app.worker.kill9();
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.app.worker.start()?;
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        let pending = crate::checks::wait_final(&self.db, &ids, Duration::from_secs(90)).await;
        if pending > 0 {
            bail!("{pending} pre-queued requests never decided");
        }
        let recovery = (chrono::Utc::now() - sales_start).to_std().unwrap_or_default();

        let mut problems = Vec::new();
        let draws: Vec<(Vec<u8>, i32)> = sqlx::query_as("SELECT seed, entries FROM draws WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(&self.db)
            .await?;
        if draws.len() != 1 || draws[0].1 as usize != BUYERS {
            problems.push(format!("{} draws (entries {:?}), expected one of {BUYERS}", draws.len(), draws.first()));
        }
        let confirmed: HashSet<Uuid> =
            sqlx::query_scalar("SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'")
                .bind(tt)
                .fetch_all(&self.db)
                .await?
                .into_iter()
                .collect();
        if let Some((seed, _)) = draws.first() {
            let seed: [u8; 32] = seed.as_slice().try_into().context("a 32-byte seed")?;
            let order = boxoffice::domain::draw::order(seed, ids.clone());
            let winners: HashSet<Uuid> = order[..SEATS as usize].iter().copied().collect();
            if winners != confirmed {
                problems.push("the seats did not go to the first of the recomputed order".into());
            }
        }

        // The waiting list, then cancellations while the API is killed.
        let losers: Vec<&String> =
            buyers.iter().zip(&ids).filter(|(_, id)| !confirmed.contains(id)).map(|(b, _)| b).collect();
        for buyer in &losers {
            self.call(&format!("/api/v1/ticket-types/{tt}/waiting-list"), Some(buyer), json!({"quantity": 1})).await?;
        }
        let cancelling: Vec<(Uuid, String)> = buyers
            .iter()
            .zip(&ids)
            .filter(|(_, id)| confirmed.contains(id))
            .take(CANCELLING)
            .map(|(b, id)| (*id, b.clone()))
            .collect();
        // One by one; the API is killed a few milliseconds into the middle
        // one (its cancel and offer commit together or not at all), the rest
        // go to the restarted API.
        let mut answered = 0;
        for (i, (id, buyer)) in cancelling.iter().enumerate() {
            let request = self
                .client
                .post(format!("{}/api/v1/bookings/{id}/cancel", self.app.base()))
                .bearer_auth(buyer)
                .json(&json!({}))
                .send();
            let reply = if i == CANCELLING / 2 {
                let reply = tokio::spawn(request);
                tokio::time::sleep(Duration::from_millis(3)).await;
                self.app.api.kill9();
                let reply = reply.await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                tokio::task::block_in_place(|| self.app.start_api())?;
                reply
            } else {
                request.await
            };
            answered += usize::from(reply.is_ok_and(|r| r.status().is_success()));
        }

        let cancelled: i64 =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE ticket_type_id = $1 AND status = 'cancelled'")
                .bind(tt)
                .fetch_one(&self.db)
                .await?;
        if (cancelled as usize) < answered {
            problems.push(format!("{answered} cancels answered, {cancelled} committed"));
        }
        let (offered_entries, offered_bookings, twice): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE booking_id IS NOT NULL),
                    (SELECT count(*) FROM bookings WHERE ticket_type_id = $1 AND reason = 'waiting_list_offer'),
                    (SELECT count(*) FROM (SELECT user_id FROM bookings WHERE ticket_type_id = $1
                                             AND reason = 'waiting_list_offer' GROUP BY user_id HAVING count(*) > 1) d)
               FROM waiting_list WHERE ticket_type_id = $1",
        )
        .bind(tt)
        .fetch_one(&self.db)
        .await?;
        if twice > 0 || offered_bookings != offered_entries {
            problems.push(format!(
                "{offered_bookings} offers for {offered_entries} entries, {twice} entries offered twice"
            ));
        }
        // Every seat that came back went to the list (it is longer than the
        // cancellations), and no more.
        if offered_entries != cancelled {
            problems.push(format!("{cancelled} seats came back, {offered_entries} offered"));
        }
        let seats = boxoffice::db::invariants::seats(&self.db, tt).await?;
        problems.extend(seats.violations());
        if seats.remaining != 0 {
            problems.push(format!("{} seats on open sale though the waiting list wanted them", seats.remaining));
        }
        let row = OnSaleRow {
            prequeued: BUYERS,
            killed: KILLS,
            cancels_answered: answered,
            cancelled: cancelled as usize,
            offered_entries: offered_entries as usize,
            waiting: losers.len(),
            recovery,
        };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }
}
