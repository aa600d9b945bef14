//! What must hold after a fault, read straight from PostgreSQL and the SMTP
//! server: nothing accepted lost, nothing applied twice, the seats add up,
//! one confirmation email per confirmed booking.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sqlx::PgPool;
use uuid::Uuid;

use crate::load::Tally;
use crate::smtp::SmtpSink;

/// Seats and bookings of one ticket type once everything is final.
#[derive(Debug, Default)]
pub struct Verdict {
    pub confirmed_bookings: usize,
    pub confirmed_seats: i64,
    /// Accepted (202) bookings with no final row, or refused though seats were left.
    pub lost: usize,
    /// One request booked more than once, or tickets beyond what was booked.
    pub applied_twice: usize,
    /// Emails that arrived again with the same Message-ID (a receiver drops them).
    pub resent: usize,
    pub problems: Vec<String>,
}

/// Waits until every accepted booking is final (confirmed, rejected or
/// cancelled); returns how many are still not after `within`.
pub async fn wait_final(db: &PgPool, ids: &[Uuid], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let done: Result<i64, _> =
            sqlx::query_scalar("SELECT count(*) FROM bookings WHERE id = ANY($1) AND status <> 'pending'")
                .bind(ids)
                .fetch_one(db)
                .await;
        let missing = ids.len() - done.map(|d| d as usize).unwrap_or(0);
        if missing == 0 || Instant::now() > deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn verdict(
    db: &PgPool,
    ticket_type_id: Uuid,
    tally: &Tally,
    emails: &mut EmailIndex,
    sink: &SmtpSink,
) -> Result<Verdict> {
    let mut v = Verdict::default();
    let ids = tally.accepted_ids(None);
    let not_final = wait_final(db, &ids, Duration::from_secs(90)).await;
    if not_final > 0 {
        v.problems.push(format!("{not_final} accepted bookings never became final"));
    }

    // The invariants every test checks (`db::invariants`), and more below.
    let seats = boxoffice::db::invariants::seats(db, ticket_type_id).await?;
    let remaining = seats.remaining;
    // An accepted booking that ended without its seats, though they were
    // there (seats only ever go in these sales, so the final `remaining` is
    // the least there ever was), or as a duplicate of nothing that was booked.
    let (accepted_ids, accepted_keys): (Vec<Uuid>, Vec<String>) =
        tally.accepted.iter().map(|(key, id, _)| (*id, key.clone())).unzip();
    let wrongly_refused: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT b.id) FROM bookings b JOIN unnest($1::uuid[], $2::text[]) AS a(id, key) ON a.id = b.id
          WHERE b.status <> 'confirmed' AND b.status <> 'pending' AND NOT (
                (b.reason IN ('sold_out', 'not_enough_seats') AND b.quantity > $3)
             OR (b.reason = 'duplicate_request' AND EXISTS (
                    SELECT 1 FROM bookings o
                     WHERE o.user_id = b.user_id AND o.idempotency_key = a.key AND o.status = 'confirmed')))",
    )
    .bind(&accepted_ids)
    .bind(&accepted_keys)
    .bind(remaining)
    .fetch_one(db)
    .await?;
    v.lost = not_final + wrongly_refused as usize;
    if wrongly_refused > 0 {
        v.problems.push(format!("{wrongly_refused} accepted bookings refused though seats were left"));
    }

    let confirmed: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'")
            .bind(ticket_type_id)
            .fetch_all(db)
            .await?;
    v.confirmed_bookings = seats.confirmed_bookings as usize;
    v.confirmed_seats = seats.confirmed;
    v.problems.extend(seats.violations());
    v.problems.extend(boxoffice::db::invariants::invoice_violations(db, ticket_type_id).await?);

    // Applied twice: a booking with more tickets than seats, a key booked
    // twice (the unique constraint should make it impossible), or a booking
    // under a key no buyer sent.
    let over_ticketed = seats.mismatched_bookings;
    let doubled_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'
           GROUP BY user_id, idempotency_key HAVING count(*) > 1) d",
    )
    .bind(ticket_type_id)
    .fetch_one(db)
    .await?;
    let unasked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE ticket_type_id = $1 AND status = 'confirmed'
           AND (idempotency_key IS NULL OR NOT idempotency_key = ANY($2))",
    )
    .bind(ticket_type_id)
    .bind(&tally.keys)
    .fetch_one(db)
    .await?;
    v.applied_twice = (over_ticketed + doubled_keys + unasked) as usize;
    if v.applied_twice > 0 {
        v.problems.push(format!(
            "applied twice: {over_ticketed} bookings with extra tickets, {doubled_keys} keys booked twice, {unasked} bookings nobody asked for"
        ));
    }
    let confirmed_ids: HashSet<Uuid> = confirmed.into_iter().collect();

    // Every confirmed booking's email, eventually: a send whose outcome could
    // not be recorded goes again after its 30 s lease, with the same Message-ID.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        emails.read(sink);
        let missing = confirmed_ids.iter().filter(|id| !emails.by_booking.contains_key(id)).count();
        if missing == 0 {
            break;
        }
        if Instant::now() > deadline {
            v.problems.push(format!("{missing} confirmed bookings got no email"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in &confirmed_ids {
        if let Some(copies) = emails.by_booking.get(id) {
            if copies.message_ids.len() > 1 {
                v.problems.push(format!("booking {id} got {} different emails", copies.message_ids.len()));
            }
            v.resent += copies.received - 1;
        }
    }
    Ok(v)
}

#[derive(Default)]
pub struct Copies {
    pub message_ids: HashSet<String>,
    pub received: usize,
}

/// Confirmation emails by booking id, read from the SMTP server as they arrive.
#[derive(Default)]
pub struct EmailIndex {
    seen: usize,
    pub by_booking: HashMap<Uuid, Copies>,
}

impl EmailIndex {
    pub fn read(&mut self, sink: &SmtpSink) {
        let new = sink.messages_since(self.seen);
        self.seen += new.len();
        for message in new {
            let Some(subject) = message.header("Subject") else { continue };
            if !subject.starts_with("Your tickets for") {
                continue;
            }
            // The email links to the booking's page: ".../bookings/<uuid>" (the
            // text shows the short reference; the id is in the link).
            let data = message.data.replace("=\r\n", ""); // quoted-printable's soft line breaks
            let Some(id) = data.split("/bookings/").skip(1).find_map(|rest| rest.get(..36)?.parse().ok()) else {
                continue;
            };
            let copies = self.by_booking.entry(id).or_default();
            copies.received += 1;
            copies.message_ids.extend(message.header("Message-ID"));
        }
    }
}

pub fn ensure(problems: &[String]) -> Result<()> {
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}
