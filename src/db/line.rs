//! The line in PostgreSQL (`bookings.prequeued`, `bookings.line_position`,
//! `draws`): requests taken before an event's `sales_start` wait here for
//! the draw; while drawn ones are still undecided, later requests of the
//! event queue behind them here too. The worker's batch transaction parks,
//! draws and decides them (`booking::allocate`), under the ticket types' locks.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::booking::AcceptedRequest;
use crate::domain::draw::Round;

/// What the line of one event holds. Whether, not how many: asked in every
/// batch transaction, so it must not count a pre-queue of a million.
#[derive(Debug, Clone, Default)]
pub struct LineState {
    /// The event's own draw was made.
    pub drawn: bool,
    /// Its presales drawn (their times).
    pub presales_drawn: Vec<DateTime<Utc>>,
    /// Requests wait for a draw.
    pub undrawn: bool,
    /// Requests wait for a draw already made (parked as it was made): they
    /// go behind its line.
    pub late: bool,
    /// Requests have a place (drawn, or queued behind) and are not decided yet.
    pub placed: bool,
}

impl LineState {
    /// Whether `round`'s draw was made.
    pub fn drawn(&self, round: Round) -> bool {
        match round {
            Round::Main => self.drawn,
            Round::Presale(at) => self.presales_drawn.contains(&at),
        }
    }
}

pub async fn state(conn: &mut PgConnection, event_ids: &[Uuid]) -> Result<HashMap<Uuid, LineState>, sqlx::Error> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(Uuid, bool, Vec<DateTime<Utc>>, bool, bool, bool)> = sqlx::query_as(
        "SELECT e.id, EXISTS (SELECT 1 FROM draws d WHERE d.event_id = e.id),
                ARRAY(SELECT p.presale_at FROM presale_draws p WHERE p.event_id = e.id AND p.drawn_at IS NOT NULL),
                EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending' AND b.prequeued
                    AND b.line_position IS NULL),
                (EXISTS (SELECT 1 FROM draws d WHERE d.event_id = e.id)
                    AND EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending'
                                   AND b.prequeued AND b.line_position IS NULL AND b.presale_at IS NULL))
                 OR EXISTS (SELECT 1 FROM presale_draws p WHERE p.event_id = e.id AND p.drawn_at IS NOT NULL
                              AND EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending'
                                             AND b.prequeued AND b.line_position IS NULL
                                             AND b.presale_at = p.presale_at)),
                EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending'
                    AND b.line_position IS NOT NULL)
         FROM UNNEST($1::uuid[]) AS e (id)",
    )
    .bind(event_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, drawn, presales_drawn, undrawn, late, placed)| {
            (id, LineState { drawn, presales_drawn, undrawn, late, placed })
        })
        .collect())
}

/// Serializes numbering the line of each of `event_ids` (in id order, after
/// the ticket types' locks): two batches of two ticket types of one event
/// must not both read the same last place and give it twice. Places are
/// unique and without gaps, which is what lets [`place`] find a booking's
/// place without counting the line ahead of it.
pub async fn lock_numbering(conn: &mut PgConnection, event_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    let mut ids = event_ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('boxoffice line ' || e.id::text, 0))
           FROM UNNEST($1::uuid[]) WITH ORDINALITY AS e (id, n) ORDER BY n",
    )
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes requests into the line: with `rounds` (one per request) they wait
/// for that draw, without a place yet; without, they get the next places of
/// their event, in the order given. A request already there (a redelivered
/// message) stays as it is.
pub async fn park(
    conn: &mut PgConnection,
    requests: &[&AcceptedRequest],
    rounds: Option<&[Round]>,
) -> Result<(), sqlx::Error> {
    if requests.is_empty() {
        return Ok(());
    }
    let prequeued = rounds.is_some();
    let column = |f: fn(&AcceptedRequest) -> Uuid| requests.iter().map(|r| f(r)).collect::<Vec<Uuid>>();
    let quantities: Vec<i32> = requests.iter().map(|r| r.quantity).collect();
    let keys: Vec<Option<String>> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
    let accepted: Vec<DateTime<Utc>> = requests.iter().map(|r| r.accepted_at).collect();
    let prices: Vec<Option<i64>> = requests.iter().map(|r| r.unit_price_cents).collect();
    let currencies: Vec<Option<String>> = requests.iter().map(|r| r.currency.clone()).collect();
    let codes: Vec<Option<Uuid>> = requests.iter().map(|r| r.code_id).collect();
    let tax_rates: Vec<Option<i32>> = requests.iter().map(|r| r.tax.map(|(rate, _)| rate)).collect();
    let taxes_included: Vec<Option<bool>> = requests.iter().map(|r| r.tax.map(|(_, included)| included)).collect();
    // Waiting: the presale whose draw it waits for (null: the event's).
    // Placed: the presale it was taken in, if any (its window is judged by it).
    let presales: Vec<Option<DateTime<Utc>>> = match rounds {
        Some(rounds) => rounds.iter().map(|round| round.presale_at()).collect(),
        None => requests.iter().map(|r| r.presale_at).collect(),
    };
    // Names and answers wait with the request (written to their tables with its decision).
    let details: Vec<Option<String>> = requests
        .iter()
        .map(|r| (!r.details.is_empty()).then(|| serde_json::to_string(&r.details).expect("details serialize")))
        .collect();
    sqlx::query(
        "WITH r AS (
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[],
                                  $7::timestamptz[], $8::bigint[], $10::text[], $11::uuid[], $12::text[],
                                  $13::timestamptz[], $14::int[], $15::bool[]) WITH ORDINALITY
                 AS r (id, user_id, event_id, ticket_type_id, quantity, key, accepted_at, price, currency, code_id,
                       details, presale_at, tax_rate, tax_included, n)
             -- Only what will be written is numbered: a request already in
             -- the line (a redelivered message) must not leave a gap.
             WHERE NOT EXISTS (SELECT 1 FROM bookings x WHERE x.id = r.id
                                AND NOT (x.status = 'pending' AND x.line_position IS NULL AND NOT x.prequeued))
         ), last AS (
             -- The last place given, decided or not (each from its index).
             SELECT e.event_id,
                    coalesce(greatest(
                        (SELECT max(line_position) FROM bookings WHERE event_id = e.event_id
                            AND status = 'pending' AND line_position IS NOT NULL),
                        (SELECT max(line_position) FROM bookings WHERE event_id = e.event_id
                            AND status <> 'pending' AND line_position IS NOT NULL)), 0) AS place
               FROM (SELECT DISTINCT event_id FROM r) e
         )
         INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, idempotency_key, accepted_at,
                               unit_price_cents, currency, code_id, pending_details, prequeued, presale_at,
                               tax_rate, prices_include_tax, line_position)
         SELECT r.id, r.user_id, r.event_id, r.ticket_type_id, r.quantity, 'pending', r.key, r.accepted_at,
                r.price, r.currency, r.code_id, r.details::jsonb, $9, r.presale_at, r.tax_rate, r.tax_included,
                CASE WHEN $9 THEN NULL ELSE
                    last.place + (row_number() OVER (PARTITION BY r.event_id ORDER BY r.n))::int END
         FROM r JOIN last ON last.event_id = r.event_id
         ON CONFLICT (id) DO UPDATE SET prequeued = EXCLUDED.prequeued, line_position = EXCLUDED.line_position,
                unit_price_cents = EXCLUDED.unit_price_cents, currency = EXCLUDED.currency, code_id = EXCLUDED.code_id,
                pending_details = EXCLUDED.pending_details, presale_at = EXCLUDED.presale_at,
                tax_rate = EXCLUDED.tax_rate, prices_include_tax = EXCLUDED.prices_include_tax
          WHERE bookings.status = 'pending' AND bookings.line_position IS NULL AND NOT bookings.prequeued",
    )
    .bind(column(|r| r.booking_id))
    .bind(column(|r| r.user_id))
    .bind(column(|r| r.event_id))
    .bind(column(|r| r.ticket_type_id))
    .bind(&quantities)
    .bind(&keys)
    .bind(&accepted)
    .bind(&prices)
    .bind(prequeued)
    .bind(&currencies)
    .bind(&codes)
    .bind(&details)
    .bind(&presales)
    .bind(&tax_rates)
    .bind(&taxes_included)
    .execute(conn)
    .await?;
    Ok(())
}

/// Requests among `requests` whose buyer already has another request of the
/// same ticket type in line: one pending in PostgreSQL (its own row, a
/// redelivered message, does not count against it), or earlier in
/// `requests`. These must not be parked.
pub async fn already_in_line(
    conn: &mut PgConnection,
    requests: &[&AcceptedRequest],
) -> Result<std::collections::HashSet<Uuid>, sqlx::Error> {
    let mut twice = std::collections::HashSet::new();
    if requests.is_empty() {
        return Ok(twice);
    }
    let users: Vec<Uuid> = requests.iter().map(|r| r.user_id).collect();
    let types: Vec<Uuid> = requests.iter().map(|r| r.ticket_type_id).collect();
    // Looked up buyer by buyer: their pending requests are a handful, found
    // through any index that starts with the buyer. Asked as a join, or with
    // the ticket type inside the lookup, the planner took the ticket type's
    // index while a pre-queue grew faster than its statistics (they said one
    // pending row where there were 30,000) and read the type's whole line
    // for every request: 10 to 24 s a batch at 100,000 buyers (auto_explain).
    // OFFSET 0 keeps the lookup a lookup.
    let pending: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT r.user_id, r.ticket_type_id, b.id FROM UNNEST($1::uuid[], $2::uuid[]) AS r (user_id, ticket_type_id)
         CROSS JOIN LATERAL (SELECT id, ticket_type_id FROM bookings b
                              WHERE b.user_id = r.user_id AND b.status = 'pending' OFFSET 0) b
         WHERE b.ticket_type_id = r.ticket_type_id",
    )
    .bind(&users)
    .bind(&types)
    .fetch_all(conn)
    .await?;
    // Who holds the place of each (buyer, ticket type): the pending row, else
    // the first request of the batch.
    let mut holder: HashMap<(Uuid, Uuid), Uuid> = pending.into_iter().map(|(u, t, id)| ((u, t), id)).collect();
    for r in requests {
        let holds = *holder.entry((r.user_id, r.ticket_type_id)).or_insert(r.booking_id);
        if holds != r.booking_id {
            twice.insert(r.booking_id);
        }
    }
    Ok(twice)
}

/// Draws the seed of `event_id`'s future draw and publishes its commitment
/// (`sha256(seed)`), once: when the event is published, before anyone can
/// enter its pre-queue.
pub async fn commit_draw(conn: &mut PgConnection, event_id: Uuid) -> Result<(), sqlx::Error> {
    let seed = crate::domain::draw::new_seed();
    sqlx::query("INSERT INTO draw_commitments (event_id, seed, commitment) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(event_id)
        .bind(seed.as_slice())
        .bind(crate::domain::draw::commitment(&seed))
        .execute(conn)
        .await?;
    Ok(())
}

/// The same for the presale at `presale_at`, once (codes opening at the
/// same time share it): when its first code is made, before anyone can use
/// one to enter its pre-queue.
pub async fn commit_presale_draw(
    conn: &mut PgConnection,
    event_id: Uuid,
    presale_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let seed = crate::domain::draw::new_seed();
    sqlx::query(
        "INSERT INTO presale_draws (event_id, presale_at, seed, commitment) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(presale_at)
    .bind(seed.as_slice())
    .bind(crate::domain::draw::commitment(&seed))
    .execute(conn)
    .await?;
    Ok(())
}

/// A draw made: with the committed seed, or without one (none was
/// committed before the pre-queue opened: the pre-queue keeps its order of
/// arrival, and the draw says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    pub seed: Option<crate::domain::draw::Seed>,
    pub entries: usize,
}

/// Places written per statement by the draw.
const DRAW_PAGE: usize = 20_000;

/// `AND …` choosing the rows of `round` (`$2`: its time, for a presale).
fn of_round(round: Round) -> &'static str {
    match round {
        Round::Main => "AND presale_at IS NULL AND $2::timestamptz IS NULL",
        Round::Presale(_) => "AND presale_at = $2",
    }
}

/// The draw of `round` of `event_id`'s pre-queue (at `at`: the sales start,
/// or the presale's time), made once, with the seed committed beforehand:
/// `None` when another transaction made it (it then numbered the line).
/// Its places follow those of requests taken before `at` (an earlier
/// presale's) and precede those taken after (queued behind it meanwhile).
pub async fn draw(
    conn: &mut PgConnection,
    event_id: Uuid,
    round: Round,
    at: DateTime<Utc>,
) -> Result<Option<Drawn>, sqlx::Error> {
    // By id: UUIDv7s made at acceptance, so without a seed this is arrival order.
    let ids: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT id FROM bookings WHERE event_id = $1 AND status = 'pending' AND prequeued AND line_position IS NULL
         {} ORDER BY id",
        of_round(round)
    ))
    .bind(event_id)
    .bind(round.presale_at())
    .fetch_all(&mut *conn)
    .await?;
    let committed: Option<Option<Vec<u8>>> = match round {
        Round::Main => sqlx::query_scalar("SELECT seed FROM draw_commitments WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(Some),
        Round::Presale(at) => {
            sqlx::query_scalar("SELECT seed FROM presale_draws WHERE event_id = $1 AND presale_at = $2")
                .bind(event_id)
                .bind(at)
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    let seed: Option<crate::domain::draw::Seed> = committed.flatten().and_then(|s| s.try_into().ok());
    // After the places of requests taken before `at`, and never inside an
    // earlier draw's (its published order must stay the line's).
    let before: i32 = sqlx::query_scalar(
        "SELECT coalesce(greatest(
             (SELECT max(line_position) FROM bookings WHERE event_id = $1 AND status = 'pending'
                 AND line_position IS NOT NULL AND accepted_at < $2),
             (SELECT max(line_position) FROM bookings WHERE event_id = $1 AND status <> 'pending'
                 AND line_position IS NOT NULL AND accepted_at < $2),
             (SELECT max(first_position + entries - 1) FROM draws WHERE event_id = $1),
             (SELECT max(first_position + entries - 1) FROM presale_draws
               WHERE event_id = $1 AND drawn_at IS NOT NULL)), 0)",
    )
    .bind(event_id)
    .bind(at)
    .fetch_one(&mut *conn)
    .await?;
    let first = before + 1;
    let made = match round {
        Round::Main => sqlx::query(
            "INSERT INTO draws (event_id, seed, sales_start, entries, first_position) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(seed.as_ref().map(|s| s.as_slice()))
        .bind(at)
        .bind(ids.len() as i32)
        .bind(first)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        Round::Presale(presale_at) => sqlx::query(
            "INSERT INTO presale_draws (event_id, presale_at, drawn_at, entries, first_position)
             VALUES ($1, $2, now(), $3, $4)
             ON CONFLICT (event_id, presale_at) DO UPDATE
                SET drawn_at = now(), entries = EXCLUDED.entries, first_position = EXCLUDED.first_position
              WHERE presale_draws.drawn_at IS NULL",
        )
        .bind(event_id)
        .bind(presale_at)
        .bind(ids.len() as i32)
        .bind(first)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    };
    if made == 0 {
        return Ok(None);
    }
    let entries = ids.len();
    let order = match seed {
        Some(seed) => crate::domain::draw::order(seed, ids),
        None => ids,
    };
    // Requests that arrived after `at` and queued behind the pre-queue
    // already hold places: they move back by the pre-queue's length, all of
    // them (one decided meanwhile too, or its place would be drawn twice).
    sqlx::query("UPDATE bookings SET line_position = line_position + $2 WHERE event_id = $1 AND line_position >= $3")
        .bind(event_id)
        .bind(order.len() as i32)
        .bind(first)
        .execute(&mut *conn)
        .await?;
    // In pages: a million places in one statement would build a million-row
    // join in one backend's memory; the transaction is still one.
    for (page, ids) in order.chunks(DRAW_PAGE).enumerate() {
        let from = first + (page * DRAW_PAGE) as i32;
        let positions: Vec<i32> = (from..from + ids.len() as i32).collect();
        sqlx::query(
            "UPDATE bookings b SET line_position = o.position FROM UNNEST($1::uuid[], $2::int[]) AS o (id, position)
              WHERE b.id = o.id",
        )
        .bind(ids)
        .bind(&positions)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(Drawn { seed, entries }))
}

/// Places requests parked for a draw that was already made (they arrived
/// late) behind everything in the event's line, in acceptance order.
pub async fn place_late(conn: &mut PgConnection, event_id: Uuid) -> Result<(), sqlx::Error> {
    // The event's own draw's, then each drawn presale's (one statement each,
    // so each is found through the pre-queue's index).
    let rounds: Vec<Option<DateTime<Utc>>> = sqlx::query_scalar(
        "SELECT NULL::timestamptz FROM draws WHERE event_id = $1
         UNION ALL SELECT presale_at FROM presale_draws WHERE event_id = $1 AND drawn_at IS NOT NULL",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    for presale_at in rounds {
        let round = presale_at.map_or(Round::Main, Round::Presale);
        sqlx::query(&format!(
            "UPDATE bookings b SET line_position = l.position::int
             FROM (SELECT id, coalesce(greatest(
                                  (SELECT max(line_position) FROM bookings WHERE event_id = $1
                                      AND status = 'pending' AND line_position IS NOT NULL),
                                  (SELECT max(line_position) FROM bookings WHERE event_id = $1
                                      AND status <> 'pending' AND line_position IS NOT NULL)), 0)
                              + row_number() OVER (ORDER BY accepted_at, id) AS position
                     FROM bookings WHERE event_id = $1 AND status = 'pending' AND prequeued
                      AND line_position IS NULL {}) l
             WHERE b.id = l.id",
            of_round(round)
        ))
        .bind(event_id)
        .bind(presale_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The next `limit` placed requests of the ticket types, in line order;
/// none taken at or after the time of a draw not made yet (they go behind
/// its pre-queue). Judged by the requests' own acceptance times, the clock
/// that put them in the line or the pre-queue: a presale's line moves while
/// the event's own pre-queue still fills. Read per event along the line's index from
/// its head, so a chunk costs its own rows, not a sort of the whole line.
pub async fn next_placed(
    conn: &mut PgConnection,
    ticket_type_ids: &[Uuid],
    limit: i64,
) -> Result<Vec<AcceptedRequest>, sqlx::Error> {
    let rows: Vec<PlacedRow> = sqlx::query_as(
        "SELECT b.id, b.user_id, b.event_id, b.ticket_type_id, b.quantity, b.idempotency_key, b.accepted_at,
                b.unit_price_cents, b.currency, b.code_id, b.presale_at, b.tax_rate, b.prices_include_tax,
                b.pending_details
         FROM (SELECT DISTINCT event_id FROM ticket_types WHERE id = ANY($1)) e
         -- The earliest draw still to make: requests taken from then on go
         -- behind its pre-queue and wait for it.
         CROSS JOIN LATERAL (SELECT least(
             (SELECT min(u.presale_at) FROM bookings u WHERE u.event_id = e.event_id AND u.status = 'pending'
                 AND u.prequeued AND u.line_position IS NULL AND u.presale_at IS NOT NULL),
             (SELECT coalesce(ev.sales_start, '-infinity') FROM events ev WHERE ev.id = e.event_id
                 AND EXISTS (SELECT 1 FROM bookings u WHERE u.event_id = e.event_id AND u.status = 'pending'
                               AND u.prequeued AND u.line_position IS NULL AND u.presale_at IS NULL))) AS cutoff) c
         CROSS JOIN LATERAL (
             SELECT * FROM bookings b
              WHERE b.event_id = e.event_id AND b.status = 'pending' AND b.line_position IS NOT NULL
                AND b.ticket_type_id = ANY($1) AND (c.cutoff IS NULL OR b.accepted_at < c.cutoff)
              ORDER BY b.line_position LIMIT $2) b
         -- Nothing while the line's head waits (so a waiting line is not
         -- read through on every batch).
         WHERE c.cutoff IS NULL
            OR (SELECT h.accepted_at FROM bookings h WHERE h.event_id = e.event_id AND h.status = 'pending'
                   AND h.line_position IS NOT NULL AND h.ticket_type_id = ANY($1)
                 ORDER BY h.line_position LIMIT 1) < c.cutoff
         ORDER BY b.event_id, b.line_position LIMIT $2",
    )
    .bind(ticket_type_ids)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(AcceptedRequest::from).collect())
}

#[derive(sqlx::FromRow)]
struct PlacedRow {
    id: Uuid,
    user_id: Uuid,
    event_id: Uuid,
    ticket_type_id: Uuid,
    quantity: i32,
    idempotency_key: Option<String>,
    accepted_at: DateTime<Utc>,
    unit_price_cents: Option<i64>,
    currency: Option<String>,
    code_id: Option<Uuid>,
    presale_at: Option<DateTime<Utc>>,
    tax_rate: Option<i32>,
    prices_include_tax: Option<bool>,
    pending_details: Option<sqlx::types::Json<crate::domain::question::Details>>,
}

impl From<PlacedRow> for AcceptedRequest {
    fn from(r: PlacedRow) -> Self {
        Self {
            booking_id: r.id,
            user_id: r.user_id,
            event_id: r.event_id,
            ticket_type_id: r.ticket_type_id,
            quantity: r.quantity,
            idempotency_key: r.idempotency_key,
            accepted_at: r.accepted_at,
            unit_price_cents: r.unit_price_cents,
            currency: r.currency,
            code_id: r.code_id,
            presale_at: r.presale_at,
            tax: r.tax_rate.zip(r.prices_include_tax),
            details: r.pending_details.map(|d| d.0).unwrap_or_default(),
        }
    }
}

/// An event whose line waits for the worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingLine {
    pub event_id: Uuid,
    pub sales_start: Option<DateTime<Utc>>,
    pub cancelled: bool,
    /// Its ticket types, in id order (to lock).
    pub ticket_types: Vec<Uuid>,
}

/// Events whose line waits for the worker: sales started (or the event was
/// cancelled) with requests still waiting for the draw, a presale due for
/// its draw, or placed requests undecided. Asked every
/// 200 ms, so the events are found by skipping through the line's two
/// indexes an event at a time (a loose index scan), not by reading a
/// pre-queue of a million rows to learn that they belong to one event.
pub async fn waiting(conn: &mut PgConnection) -> Result<Vec<WaitingLine>, sqlx::Error> {
    sqlx::query_as(
        "WITH RECURSIVE placed (event_id) AS (
             (SELECT event_id FROM bookings WHERE status = 'pending' AND line_position IS NOT NULL
               ORDER BY event_id LIMIT 1)
             UNION ALL
             SELECT (SELECT b.event_id FROM bookings b WHERE b.status = 'pending' AND b.line_position IS NOT NULL
                        AND b.event_id > p.event_id ORDER BY b.event_id LIMIT 1)
               FROM placed p WHERE p.event_id IS NOT NULL
         ), undrawn (event_id) AS (
             (SELECT event_id FROM bookings WHERE status = 'pending' AND prequeued AND line_position IS NULL
               ORDER BY event_id LIMIT 1)
             UNION ALL
             SELECT (SELECT b.event_id FROM bookings b WHERE b.status = 'pending' AND b.prequeued
                        AND b.line_position IS NULL AND b.event_id > u.event_id ORDER BY b.event_id LIMIT 1)
               FROM undrawn u WHERE u.event_id IS NOT NULL
         )
         SELECT e.id AS event_id, e.sales_start, e.status = 'cancelled' AS cancelled,
                ARRAY(SELECT t.id FROM ticket_types t WHERE t.event_id = e.id ORDER BY t.id) AS ticket_types
         FROM events e
         WHERE e.id IN (SELECT event_id FROM placed)
            OR (e.id IN (SELECT event_id FROM undrawn)
                AND (e.sales_start IS NULL OR e.sales_start <= now() OR e.status = 'cancelled'))
            OR e.id IN (SELECT event_id FROM presale_draws WHERE drawn_at IS NULL AND presale_at <= now())",
    )
    .fetch_all(conn)
    .await
}

/// Where one booking stands in PostgreSQL, read in one statement (so a
/// decision committed meanwhile cannot be mistaken for "not in the line").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spot {
    /// Decided (or gone): no place any more.
    Decided,
    /// In the line: position counted from 1, requests ahead. Ahead of it:
    /// the placed requests before it, and a pre-queue still waiting for its
    /// draw (all of which will be ahead, in an order not known yet).
    Placed { position: i64, ahead: i64 },
    /// Not in the line: not written yet, or waiting for the draw.
    Unplaced,
}

/// SQL counting the requests of `event` (an expression) waiting for a draw
/// whose pre-queue goes ahead of a request taken at `accepted` (an
/// expression): a draw at or before then. A pre-queue still filling behind
/// it (the event's, for a presale's holder) is not. Each part is found
/// through the pre-queue's index (event, presale).
fn due_undrawn(event: &str, accepted: &str) -> String {
    format!(
        "((SELECT count(*) FROM bookings u WHERE u.event_id = {event} AND u.status = 'pending' AND u.prequeued
              AND u.line_position IS NULL AND u.presale_at <= {accepted})
          + CASE WHEN coalesce((SELECT ev.sales_start <= {accepted} FROM events ev WHERE ev.id = {event}), true)
                 THEN (SELECT count(*) FROM bookings u WHERE u.event_id = {event} AND u.status = 'pending'
                          AND u.prequeued AND u.line_position IS NULL AND u.presale_at IS NULL)
                 ELSE 0 END)"
    )
}

/// Found without counting the line ahead (a place read at a million must not
/// scan half a million rows): places are numbered without gaps, so the
/// requests ahead are the places between the line's head (its first
/// undecided place: the first entry of an index) and this one, less those
/// among them decided out of turn (cancelled while waiting, or of another
/// ticket type whose share of the line moved on alone: found in an index of
/// their own, and few), plus a pre-queue still waiting for its draw.
pub async fn place(conn: &mut PgConnection, booking_id: Uuid) -> Result<Spot, sqlx::Error> {
    let row: Option<(bool, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT b.status = 'pending',
                CASE WHEN b.line_position IS NOT NULL THEN
                  b.line_position - h.head
                - (SELECT count(*) FROM bookings o WHERE o.event_id = b.event_id AND o.status <> 'pending'
                     AND o.line_position > h.head AND o.line_position < b.line_position)
                + {} END
         FROM bookings b
         LEFT JOIN LATERAL (SELECT min(h.line_position) AS head FROM bookings h
                             WHERE h.event_id = b.event_id AND h.status = 'pending'
                               AND h.line_position IS NOT NULL) h ON b.status = 'pending'
         WHERE b.id = $1",
        due_undrawn("b.event_id", "b.accepted_at")
    ))
    .bind(booking_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((false, _)) => Spot::Decided,
        Some((true, Some(ahead))) => Spot::Placed { position: ahead + 1, ahead },
        Some((true, None)) | None => Spot::Unplaced,
    })
}

/// A request still in the queue, against its event's line in PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Requests of the line accepted after it, in Redis's order: they
    /// overtook it in the queue and are ahead of it now.
    pub overtakers: i64,
    /// The whole line (its undecided places and a pre-queue waiting for its
    /// draw): all of it will be ahead, whatever Redis still remembers.
    pub line: i64,
}

/// How a request still in the queue stands against the line, or `None` when
/// `booking_id` itself has been parked or decided meanwhile (read in the same
/// statement: counted with its whole batch as "ahead", a request parked a
/// moment ago would see its place jump up). Everything else ahead of it was
/// accepted before it: Redis's rank.
///
/// Found without counting the line. The overtakers from the booking ids
/// (UUIDv7s made at acceptance, after `accepted_at` was read: none accepted
/// after it has an id of an earlier millisecond), compared in Redis's order
/// (the millisecond, then the id), so a read costs the few that overtook it;
/// the line's undecided places as in [`place`], from its head to its tail.
pub async fn queued(
    conn: &mut PgConnection,
    event_id: Uuid,
    booking_id: Uuid,
    accepted_at: DateTime<Utc>,
) -> Result<Option<Queued>, sqlx::Error> {
    let (overtakers, line, moved): (i64, i64, bool) = sqlx::query_as(&format!(
        "WITH ends AS (
             SELECT min(line_position) AS head, max(line_position) AS tail FROM bookings
              WHERE event_id = $1 AND status = 'pending' AND line_position IS NOT NULL
         )
         SELECT (SELECT count(*) FROM bookings a WHERE a.event_id = $1 AND a.status = 'pending' AND a.id >= $4
                   AND (date_trunc('milliseconds', a.accepted_at), a.id) > (date_trunc('milliseconds', $2), $3)
                   -- Placed ones only: a pre-queue taken after it goes behind it.
                   AND a.line_position IS NOT NULL),
                coalesce((SELECT tail - head + 1 FROM ends), 0)
              - (SELECT count(*) FROM bookings o, ends WHERE o.event_id = $1 AND o.status <> 'pending'
                   AND o.line_position > ends.head AND o.line_position < ends.tail)
              + {},
                EXISTS (SELECT 1 FROM bookings WHERE id = $3 AND (status <> 'pending' OR line_position IS NOT NULL))",
        due_undrawn("$1", "$2")
    ))
    .bind(event_id)
    .bind(accepted_at)
    .bind(booking_id)
    .bind(first_id_of_millisecond(accepted_at))
    .fetch_one(conn)
    .await?;
    Ok((!moved).then_some(Queued { overtakers, line }))
}

/// The undecided places of the event's line, found from its ends (not a
/// count of the line): for a public count that must not scan a million rows.
pub async fn placed(conn: &mut PgConnection, event_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "WITH ends AS (
             SELECT min(line_position) AS head, max(line_position) AS tail FROM bookings
              WHERE event_id = $1 AND status = 'pending' AND line_position IS NOT NULL
         )
         SELECT coalesce((SELECT tail - head + 1 FROM ends), 0)
              - (SELECT count(*) FROM bookings o, ends WHERE o.event_id = $1 AND o.status <> 'pending'
                   AND o.line_position > ends.head AND o.line_position < ends.tail)",
    )
    .bind(event_id)
    .fetch_one(conn)
    .await
}

/// The smallest UUIDv7 of `at`'s millisecond: every booking id made from
/// then on sorts at or after it.
fn first_id_of_millisecond(at: DateTime<Utc>) -> Uuid {
    let millis = at.timestamp_millis().max(0) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// The draw of an event, if made: (seed, when, entries); no seed when none
/// was committed.
pub async fn draw_of(
    conn: &mut PgConnection,
    event_id: Uuid,
) -> Result<Option<(Option<Vec<u8>>, DateTime<Utc>, i32)>, sqlx::Error> {
    sqlx::query_as("SELECT seed, drawn_at, entries FROM draws WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(conn)
        .await
}

/// An event's draw (or a presale's) as anyone may check it: the commitment
/// from the start, the seed once drawn.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DrawRecord {
    pub committed_at: Option<DateTime<Utc>>,
    pub commitment: Option<String>,
    pub drawn_at: Option<DateTime<Utc>>,
    /// Shown only once drawn (and null for a draw made without a commitment).
    pub seed: Option<Vec<u8>>,
    /// Requests drawn (0 before the draw).
    pub entries: i32,
    /// The line's place its first entry was given.
    pub first_position: i32,
}

/// `None` for a presale nobody committed (no code opens it).
pub async fn draw_record(
    conn: &mut PgConnection,
    event_id: Uuid,
    round: Round,
) -> Result<Option<DrawRecord>, sqlx::Error> {
    match round {
        Round::Main => sqlx::query_as(
            "SELECT c.committed_at, c.commitment, d.drawn_at, d.seed, coalesce(d.entries, 0) AS entries,
                    coalesce(d.first_position, 1) AS first_position
             FROM (SELECT $1::uuid AS event_id) e
             LEFT JOIN draw_commitments c ON c.event_id = e.event_id
             LEFT JOIN draws d ON d.event_id = e.event_id",
        )
        .bind(event_id)
        .fetch_one(conn)
        .await
        .map(Some),
        Round::Presale(at) => {
            sqlx::query_as(
                "SELECT CASE WHEN commitment IS NOT NULL THEN committed_at END AS committed_at, commitment, drawn_at,
                    CASE WHEN drawn_at IS NOT NULL THEN seed END AS seed, coalesce(entries, 0) AS entries,
                    coalesce(first_position, 1) AS first_position
             FROM presale_draws WHERE event_id = $1 AND presale_at = $2",
            )
            .bind(event_id)
            .bind(at)
            .fetch_optional(conn)
            .await
        }
    }
}

/// Places `after + 1 ..= after + limit` of the draw `record` of `round`, in order.
pub async fn drawn_order(
    conn: &mut PgConnection,
    event_id: Uuid,
    round: Round,
    record: &DrawRecord,
    after: i32,
    limit: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let offset = record.first_position - 1;
    sqlx::query_scalar(&format!(
        "SELECT id FROM bookings WHERE event_id = $1 AND prequeued AND line_position > $3 AND line_position <= $4
         {} ORDER BY line_position",
        of_round(round)
    ))
    .bind(event_id)
    .bind(round.presale_at())
    .bind(offset + after)
    .bind(offset + record.entries.min(after.saturating_add(limit)))
    .fetch_all(conn)
    .await
}

/// The drawn requests of the draw `record` of `round`, sorted by id, the
/// next `limit` after `after`.
pub async fn drawn_entries(
    conn: &mut PgConnection,
    event_id: Uuid,
    round: Round,
    record: &DrawRecord,
    after: Option<Uuid>,
    limit: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM bookings
         WHERE event_id = $1 AND prequeued AND line_position BETWEEN $3 AND $4 AND ($5::uuid IS NULL OR id > $5)
         {} ORDER BY id LIMIT $6",
        of_round(round)
    ))
    .bind(event_id)
    .bind(round.presale_at())
    .bind(record.first_position)
    .bind(record.first_position + record.entries - 1)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await
}

/// A booking's place in the draw it was in (its event's or its presale's),
/// and how many were drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawnPlace {
    pub round: Round,
    /// From 1.
    pub place: i32,
    pub entries: i32,
}

pub async fn place_in_draw(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<DrawnPlace>, sqlx::Error> {
    let row: Option<(Option<DateTime<Utc>>, i32, i32)> = sqlx::query_as(
        "SELECT b.presale_at, b.line_position - d.first_position + 1, d.entries
         FROM bookings b
         CROSS JOIN LATERAL (
             SELECT first_position, entries FROM draws WHERE event_id = b.event_id AND b.presale_at IS NULL
             UNION ALL
             SELECT first_position, entries FROM presale_draws
              WHERE event_id = b.event_id AND presale_at = b.presale_at AND drawn_at IS NOT NULL) d
         WHERE b.id = $1 AND b.prequeued AND b.line_position BETWEEN d.first_position AND d.first_position + d.entries - 1",
    )
    .bind(booking_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(presale_at, place, entries)| DrawnPlace {
        round: presale_at.map_or(Round::Main, Round::Presale),
        place,
        entries,
    }))
}

/// `event_id`'s presales that count (a code opens it, or requests were
/// taken in it): the latest and the earliest.
pub async fn last_presale(conn: &mut PgConnection, event_id: Uuid) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    presale_bound(conn, event_id, "max").await
}

pub async fn first_presale(conn: &mut PgConnection, event_id: Uuid) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    presale_bound(conn, event_id, "min").await
}

async fn presale_bound(
    conn: &mut PgConnection,
    event_id: Uuid,
    bound: &'static str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT {bound}(p.presale_at) FROM presale_draws p WHERE p.event_id = $1
            AND (EXISTS (SELECT 1 FROM codes c WHERE c.event_id = $1 AND c.presale_from = p.presale_at
                           AND c.disabled_at IS NULL)
                 OR EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = $1 AND b.presale_at = p.presale_at))"
    ))
    .bind(event_id)
    .fetch_one(conn)
    .await
}

/// Whether the presale of `event_id` at `at` was drawn.
pub async fn presale_drawn(conn: &mut PgConnection, event_id: Uuid, at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM presale_draws WHERE event_id = $1 AND presale_at = $2 AND drawn_at IS NOT NULL)",
    )
    .bind(event_id)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Whether `booking_id` waits in PostgreSQL for a draw, and for which: its
/// presale's time, or `Some(None)` for the event's own.
pub async fn waiting_for_draw(
    conn: &mut PgConnection,
    booking_id: Uuid,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT presale_at FROM bookings WHERE id = $1 AND status = 'pending' AND prequeued AND line_position IS NULL",
    )
    .bind(booking_id)
    .fetch_optional(conn)
    .await
}

/// Requests of the event in PostgreSQL that were accepted before `at`:
/// waiting for a draw or placed (the line worker's check that a draw's
/// pre-queue has all arrived).
pub async fn pending_before(conn: &mut PgConnection, event_id: Uuid, at: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'pending'
            AND (prequeued OR line_position IS NOT NULL) AND accepted_at < $2",
    )
    .bind(event_id)
    .bind(at)
    .fetch_one(conn)
    .await
}

/// Requests waiting for `round`'s draw.
pub async fn undrawn(conn: &mut PgConnection, event_id: Uuid, round: Round) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'pending' AND prequeued
            AND line_position IS NULL {}",
        of_round(round)
    ))
    .bind(event_id)
    .bind(round.presale_at())
    .fetch_one(conn)
    .await
}

/// The draws of `event_id` due now and not made, in the order they are
/// made: presales by time, then the event's own (at its sales start; every
/// one at once for a cancelled event, whose line is only refused). With
/// each draw's time.
pub async fn due_rounds(
    conn: &mut PgConnection,
    line: &WaitingLine,
) -> Result<Vec<(Round, DateTime<Utc>)>, sqlx::Error> {
    let presales: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT presale_at FROM presale_draws WHERE event_id = $1 AND drawn_at IS NULL
            AND (presale_at <= now() OR $2) ORDER BY presale_at",
    )
    .bind(line.event_id)
    .bind(line.cancelled)
    .fetch_all(&mut *conn)
    .await?;
    let mut rounds: Vec<(Round, DateTime<Utc>)> = presales.into_iter().map(|at| (Round::Presale(at), at)).collect();
    let now = Utc::now();
    let started = line.sales_start.is_none_or(|start| start <= now);
    if (started || line.cancelled) && draw_of(conn, line.event_id).await?.is_none() {
        rounds.push((Round::Main, line.sales_start.unwrap_or(now)));
    }
    Ok(rounds)
}

/// Requests of the event waiting in PostgreSQL: (for the draw, placed).
/// Counts them (a scan of each: for the line worker's check before the draw
/// and for when Redis cannot say, not for every read).
pub async fn counts(conn: &mut PgConnection, event_id: Uuid) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE prequeued AND line_position IS NULL),
                count(*) FILTER (WHERE line_position IS NOT NULL)
           FROM bookings WHERE event_id = $1 AND status = 'pending' AND (prequeued OR line_position IS NOT NULL)",
    )
    .bind(event_id)
    .fetch_one(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_made_after_a_moment_sorts_after_the_first_id_of_its_millisecond() {
        for _ in 0..1000 {
            let at = Utc::now();
            let id = Uuid::now_v7();
            assert!(id >= first_id_of_millisecond(at), "{id} < {}", first_id_of_millisecond(at));
        }
        let earlier = Uuid::now_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(earlier < first_id_of_millisecond(Utc::now()), "an id of an earlier millisecond sorts before");
    }
}
