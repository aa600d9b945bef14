//! Codes and quotas under a fault: buyers book two ticket types that share
//! a quota, every request for the first carrying one code of few uses; the
//! worker is killed (SIGKILL) mid-sale and started again. After it: the code
//! went to exactly its uses, the quota to exactly its seats, every accepted
//! request decided once, the seat and quota invariants hold.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use uuid::Uuid;

use crate::Rig;
use crate::checks::{ensure, wait_final};
use crate::load::Load;

/// Seats the code may go to (first type only), and the quota both types share.
const CODE_USES: i64 = 500;
const QUOTA: i64 = 1200;

pub struct SellingRow {
    accepted: usize,
    code_uses: i64,
    first_type: i64,
    quota_taken: i64,
    refused: usize,
    recovery: Duration,
}

impl SellingRow {
    pub const HEADER: &str = "| fault | accepted | code: seats (of its uses) | quota: seats of both types (of) | accepted, then refused (`code_used_up`, `sold_out`) | lost | applied twice | time to recover |\n\
                              | --- | --- | --- | --- | --- | --- | --- | --- |";

    pub fn markdown(&self) -> String {
        format!(
            "| worker killed (SIGKILL) mid-sale with a code of {CODE_USES} uses on one type and a quota of {QUOTA} over two, restarted 2 s later | {} | {} ({CODE_USES}) | {} + {} = {} ({QUOTA}) | {} | 0 | 0 | {:.2} s (every booking accepted so far final) |",
            self.accepted,
            self.code_uses,
            self.first_type,
            self.quota_taken - self.first_type,
            self.quota_taken,
            self.refused,
            self.recovery.as_secs_f64()
        )
    }
}

impl Rig {
    pub async fn selling_case(&mut self) -> Result<SellingRow> {
        let starts_at = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let ticket_type = |name: &str| {
            json!({"name": name, "price_cents": 0, "capacity": crate::CAPACITY, "max_per_order": 2,
                   "max_per_buyer": crate::CAPACITY})
        };
        let event = self
            .call(
                "/api/v1/events",
                Some(&self.organizer),
                json!({"title": "Fault: codes and quotas", "venue": "Loopback Hall", "starts_at": starts_at,
                       "status": "published", "ticket_types": [ticket_type("Members"), ticket_type("Public")]}),
            )
            .await?;
        let event_id = event["id"].as_str().context("event id")?.to_owned();
        let types: Vec<String> = event["ticket_types"]
            .as_array()
            .context("ticket types")?
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        let quota = self
            .call(
                &format!("/api/v1/events/{event_id}/quotas"),
                Some(&self.organizer),
                json!({"name": "Hall", "capacity": QUOTA, "ticket_type_ids": types}),
            )
            .await?;
        quota["id"].as_str().context("a quota")?;
        let code = self
            .call(
                &format!("/api/v1/events/{event_id}/codes"),
                Some(&self.organizer),
                json!({"code": "FAULTS", "kind": "percent", "value": 50, "max_uses": CODE_USES,
                       "ticket_type_ids": [types[0]]}),
            )
            .await?;
        let code_id: Uuid = code["items"][0]["id"].as_str().context("a code")?.parse()?;

        let load = Load::selling(&self.client, &self.app.base(), &types, Some("faults"), &self.buyers);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tokio::task::block_in_place(|| self.app.worker.kill9());
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.app.worker.start()?;
        let back = Instant::now();
        let backlog = load.snapshot().accepted_ids(None);
        while wait_final(&self.db, &backlog, Duration::ZERO).await > 0 {
            if back.elapsed() > Duration::from_secs(120) {
                bail!("the worker's backlog was not decided within 120 s of its restart");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let recovery = back.elapsed();
        // Sold until the quota is used up (both types answer sold out).
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left: i32 = sqlx::query_scalar("SELECT remaining FROM quotas WHERE event_id = $1::uuid")
                .bind(&event_id)
                .fetch_one(&self.db)
                .await?;
            if left < 2 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let tally = load.stop().await;
        if let Some(status) = self.app.api.exited() {
            bail!("the API exited by itself ({status}):\n{}", self.app.api.log_tail(30));
        }

        let mut problems = Vec::new();
        let ids = tally.accepted_ids(None);
        let not_final = wait_final(&self.db, &ids, Duration::from_secs(90)).await;
        if not_final > 0 {
            problems.push(format!("{not_final} accepted bookings never became final"));
        }
        for tt in &types {
            let seats = boxoffice::db::invariants::seats(&self.db, tt.parse()?).await?;
            problems.extend(seats.violations());
            problems.extend(boxoffice::db::invariants::quota_violations(&self.db, tt.parse()?).await?);
        }
        let sold = |tt: &String| {
            sqlx::query_scalar::<_, i64>(
                "SELECT coalesce(sum(quantity), 0)::bigint FROM bookings WHERE ticket_type_id = $1::uuid
                   AND status = 'confirmed'",
            )
            .bind(tt.clone())
            .fetch_one(&self.db)
        };
        let first_type = sold(&types[0]).await?;
        let quota_taken = first_type + sold(&types[1]).await?;
        let code_uses: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(quantity), 0)::bigint FROM bookings WHERE code_id = $1 AND status = 'confirmed'",
        )
        .bind(code_id)
        .fetch_one(&self.db)
        .await?;
        // Exact: never over, and used up but for a request of two that did not fit.
        if !(CODE_USES - 1..=CODE_USES).contains(&code_uses) {
            problems.push(format!("the code went to {code_uses} seats; it has {CODE_USES} uses"));
        }
        if code_uses != first_type {
            problems.push(format!("{first_type} seats of the coded type, {code_uses} with the code"));
        }
        if !(QUOTA - 1..=QUOTA).contains(&quota_taken) {
            problems.push(format!("the quota went to {quota_taken} seats; it has {QUOTA}"));
        }
        // Every refusal of an accepted request has one of the reasons the limits give.
        let refusals: Vec<(String, i64)> = sqlx::query_as(
            "SELECT coalesce(reason, ''), count(*) FROM bookings WHERE id = ANY($1) AND status = 'rejected'
             GROUP BY reason",
        )
        .bind(&ids)
        .fetch_all(&self.db)
        .await?;
        let refused = refusals.iter().map(|(_, n)| *n as usize).sum();
        for (reason, n) in &refusals {
            if !matches!(reason.as_str(), "code_used_up" | "sold_out" | "not_enough_seats" | "duplicate_request") {
                problems.push(format!("{n} accepted bookings refused as {reason:?}"));
            }
        }
        let doubled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM bookings WHERE ticket_type_id = ANY($1::uuid[])
               AND status = 'confirmed' GROUP BY user_id, idempotency_key HAVING count(*) > 1) d",
        )
        .bind(&types.iter().map(|t| t.parse::<Uuid>()).collect::<Result<Vec<_>, _>>()?)
        .fetch_one(&self.db)
        .await?;
        if doubled > 0 {
            problems.push(format!("{doubled} keys confirmed twice"));
        }
        if tally.unexpected_server_errors() > 0 || !tally.unexpected.is_empty() {
            problems.push(format!("unexpected answers: {:?} {:?}", tally.statuses, tally.unexpected.first()));
        }
        let row = SellingRow { accepted: ids.len(), code_uses, first_type, quota_taken, refused, recovery };
        println!("{}", row.markdown());
        ensure(&problems).map(|()| row)
    }
}
