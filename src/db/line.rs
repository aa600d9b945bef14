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

/// What the line of one event holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineState {
    /// The draw was made.
    pub drawn: bool,
    /// Requests waiting for the draw.
    pub undrawn: i64,
    /// Requests with a place (drawn, or queued behind), not yet decided.
    pub placed: i64,
}

pub async fn state(conn: &mut PgConnection, event_ids: &[Uuid]) -> Result<HashMap<Uuid, LineState>, sqlx::Error> {
    let rows: Vec<(Uuid, bool, i64, i64)> = sqlx::query_as(
        "SELECT e.id, EXISTS (SELECT 1 FROM draws d WHERE d.event_id = e.id),
                (SELECT count(*) FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending' AND b.prequeued
                    AND b.line_position IS NULL),
                (SELECT count(*) FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending'
                    AND b.line_position IS NOT NULL)
         FROM UNNEST($1::uuid[]) AS e (id)",
    )
    .bind(event_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, drawn, undrawn, placed)| (id, LineState { drawn, undrawn, placed })).collect())
}

/// Writes requests into the line: `prequeued` ones wait for the draw (no
/// place yet); the others get the next places of their event, in the order
/// given. A request already there (a redelivered message) stays as it is.
pub async fn park(conn: &mut PgConnection, requests: &[&AcceptedRequest], prequeued: bool) -> Result<(), sqlx::Error> {
    if requests.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&AcceptedRequest) -> Uuid| requests.iter().map(|r| f(r)).collect::<Vec<Uuid>>();
    let quantities: Vec<i32> = requests.iter().map(|r| r.quantity).collect();
    let keys: Vec<Option<String>> = requests.iter().map(|r| r.idempotency_key.clone()).collect();
    let accepted: Vec<DateTime<Utc>> = requests.iter().map(|r| r.accepted_at).collect();
    let prices: Vec<Option<i64>> = requests.iter().map(|r| r.unit_price_cents).collect();
    let currencies: Vec<Option<String>> = requests.iter().map(|r| r.currency.clone()).collect();
    sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, idempotency_key, accepted_at,
                               unit_price_cents, currency, prequeued, line_position)
         SELECT r.id, r.user_id, r.event_id, r.ticket_type_id, r.quantity, 'pending', r.key, r.accepted_at,
                r.price, r.currency, $9,
                CASE WHEN $9 THEN NULL ELSE
                    (SELECT coalesce(max(b.line_position), 0) FROM bookings b WHERE b.event_id = r.event_id)
                    + (row_number() OVER (PARTITION BY r.event_id ORDER BY r.n))::int END
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::timestamptz[],
                     $8::bigint[], $10::text[]) WITH ORDINALITY
              AS r (id, user_id, event_id, ticket_type_id, quantity, key, accepted_at, price, currency, n)
         ON CONFLICT (id) DO UPDATE SET prequeued = EXCLUDED.prequeued, line_position = EXCLUDED.line_position,
                unit_price_cents = EXCLUDED.unit_price_cents, currency = EXCLUDED.currency
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
    let pending: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT b.user_id, b.ticket_type_id, b.id FROM bookings b
          JOIN UNNEST($1::uuid[], $2::uuid[]) AS r (user_id, ticket_type_id)
            ON b.user_id = r.user_id AND b.ticket_type_id = r.ticket_type_id
         WHERE b.status = 'pending'",
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

/// A draw made: with the committed seed, or without one (none was
/// committed before the pre-queue opened: the pre-queue keeps its order of
/// arrival, and the draw says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    pub seed: Option<crate::domain::draw::Seed>,
    pub entries: usize,
}

/// The draw of `event_id`'s pre-queue, made once, with the seed committed
/// when the event was published: `None` when another transaction made it
/// (it then numbered the line).
pub async fn draw(
    conn: &mut PgConnection,
    event_id: Uuid,
    sales_start: DateTime<Utc>,
) -> Result<Option<Drawn>, sqlx::Error> {
    // By id: UUIDv7s made at acceptance, so without a seed this is arrival order.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM bookings WHERE event_id = $1 AND status = 'pending' AND prequeued AND line_position IS NULL
         ORDER BY id",
    )
    .bind(event_id)
    .fetch_all(&mut *conn)
    .await?;
    let committed: Option<Vec<u8>> = sqlx::query_scalar("SELECT seed FROM draw_commitments WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(&mut *conn)
        .await?;
    let seed: Option<crate::domain::draw::Seed> = committed.and_then(|s| s.try_into().ok());
    let made = sqlx::query(
        "INSERT INTO draws (event_id, seed, sales_start, entries) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(event_id)
    .bind(seed.as_ref().map(|s| s.as_slice()))
    .bind(sales_start)
    .bind(ids.len() as i32)
    .execute(&mut *conn)
    .await?;
    if made.rows_affected() == 0 {
        return Ok(None);
    }
    let entries = ids.len();
    let order = match seed {
        Some(seed) => crate::domain::draw::order(seed, ids),
        None => ids,
    };
    // Requests that arrived after the open and queued behind the pre-queue
    // already hold places: they move back by the pre-queue's length.
    sqlx::query(
        "UPDATE bookings SET line_position = line_position + $2
         WHERE event_id = $1 AND status = 'pending' AND line_position IS NOT NULL",
    )
    .bind(event_id)
    .bind(order.len() as i32)
    .execute(&mut *conn)
    .await?;
    let positions: Vec<i32> = (1..=order.len() as i32).collect();
    sqlx::query(
        "UPDATE bookings b SET line_position = o.position FROM UNNEST($1::uuid[], $2::int[]) AS o (id, position)
          WHERE b.id = o.id",
    )
    .bind(&order)
    .bind(&positions)
    .execute(conn)
    .await?;
    Ok(Some(Drawn { seed, entries }))
}

/// Places requests parked for a draw that was already made (they arrived
/// late) behind everything in the event's line, in acceptance order.
pub async fn place_late(conn: &mut PgConnection, event_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bookings b SET line_position = l.position::int
         FROM (SELECT id, (SELECT coalesce(max(line_position), 0) FROM bookings WHERE event_id = $1)
                          + row_number() OVER (ORDER BY accepted_at, id) AS position
                 FROM bookings WHERE event_id = $1 AND status = 'pending' AND prequeued AND line_position IS NULL) l
         WHERE b.id = l.id",
    )
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The next `limit` placed requests of the ticket types, in line order;
/// none while the event's pre-queue waits for its draw (what is queued
/// behind it must not go first).
pub async fn next_placed(
    conn: &mut PgConnection,
    ticket_type_ids: &[Uuid],
    limit: i64,
) -> Result<Vec<AcceptedRequest>, sqlx::Error> {
    let rows: Vec<PlacedRow> = sqlx::query_as(
        "SELECT id, user_id, event_id, ticket_type_id, quantity, idempotency_key, accepted_at, unit_price_cents, currency
         FROM bookings b WHERE ticket_type_id = ANY($1) AND status = 'pending' AND line_position IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM bookings u WHERE u.event_id = b.event_id AND u.status = 'pending'
                             AND u.prequeued AND u.line_position IS NULL)
         ORDER BY event_id, line_position LIMIT $2",
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
        }
    }
}

/// Events whose line waits for the worker: sales started (or the event was
/// cancelled) with requests still waiting for the draw, or placed requests
/// undecided. With the ticket types to lock, and the sales start.
pub async fn waiting(conn: &mut PgConnection) -> Result<Vec<(Uuid, DateTime<Utc>, Vec<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, coalesce(e.sales_start, e.published_at, e.created_at),
                ARRAY(SELECT t.id FROM ticket_types t WHERE t.event_id = e.id ORDER BY t.id)
         FROM events e
         WHERE e.id IN (SELECT DISTINCT event_id FROM bookings
                         WHERE status = 'pending' AND (prequeued OR line_position IS NOT NULL))
           AND (e.sales_start IS NULL OR e.sales_start <= now() OR e.status = 'cancelled')",
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

pub async fn place(conn: &mut PgConnection, booking_id: Uuid) -> Result<Spot, sqlx::Error> {
    let row: Option<(bool, Option<i64>)> = sqlx::query_as(
        "SELECT b.status = 'pending',
                CASE WHEN b.line_position IS NOT NULL THEN
                  (SELECT count(*) FROM bookings o WHERE o.event_id = b.event_id AND o.status = 'pending'
                     AND o.line_position IS NOT NULL AND o.line_position < b.line_position)
                + (SELECT count(*) FROM bookings u WHERE u.event_id = b.event_id AND u.status = 'pending'
                     AND u.prequeued AND u.line_position IS NULL) END
         FROM bookings b WHERE b.id = $1",
    )
    .bind(booking_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((false, _)) => Spot::Decided,
        Some((true, Some(ahead))) => Spot::Placed { position: ahead + 1, ahead },
        Some((true, None)) | None => Spot::Unplaced,
    })
}

/// The event's line in PostgreSQL as a request still in the queue sees it:
/// (every pending request in it, those of them accepted before `accepted_at`),
/// or `None` when `booking_id` itself has been parked or decided meanwhile
/// (read in the same statement: counted with its whole batch as "ahead", a
/// request parked a moment ago would see its place jump up).
pub async fn ahead_of_queue(
    conn: &mut PgConnection,
    event_id: Uuid,
    booking_id: Uuid,
    accepted_at: DateTime<Utc>,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let (line, before, moved): (i64, i64, bool) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE accepted_at < $2),
                EXISTS (SELECT 1 FROM bookings WHERE id = $3 AND (status <> 'pending' OR line_position IS NOT NULL))
         FROM bookings
         WHERE event_id = $1 AND status = 'pending' AND (line_position IS NOT NULL OR prequeued) AND id <> $3",
    )
    .bind(event_id)
    .bind(accepted_at)
    .bind(booking_id)
    .fetch_one(conn)
    .await?;
    Ok((!moved).then_some((line, before)))
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

/// An event's draw as anyone may check it: the commitment from the start,
/// the seed once drawn.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DrawRecord {
    pub committed_at: Option<DateTime<Utc>>,
    pub commitment: Option<String>,
    pub drawn_at: Option<DateTime<Utc>>,
    /// Shown only once drawn (and null for a draw made without a commitment).
    pub seed: Option<Vec<u8>>,
    /// Requests drawn (0 before the draw).
    pub entries: i32,
}

pub async fn draw_record(conn: &mut PgConnection, event_id: Uuid) -> Result<DrawRecord, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.committed_at, c.commitment, d.drawn_at, d.seed, coalesce(d.entries, 0) AS entries
         FROM (SELECT $1::uuid AS event_id) e
         LEFT JOIN draw_commitments c ON c.event_id = e.event_id
         LEFT JOIN draws d ON d.event_id = e.event_id",
    )
    .bind(event_id)
    .fetch_one(conn)
    .await
}

/// Places `after + 1 ..= after + limit` of the draw of `event_id` (of
/// `entries`), in order.
pub async fn drawn_order(
    conn: &mut PgConnection,
    event_id: Uuid,
    entries: i32,
    after: i32,
    limit: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bookings WHERE event_id = $1 AND prequeued AND line_position > $2 AND line_position <= $3
         ORDER BY line_position",
    )
    .bind(event_id)
    .bind(after)
    .bind(entries.min(after.saturating_add(limit)))
    .fetch_all(conn)
    .await
}

/// The drawn requests of `event_id` (of `entries`) sorted by id, the next
/// `limit` after `after`.
pub async fn drawn_entries(
    conn: &mut PgConnection,
    event_id: Uuid,
    entries: i32,
    after: Option<Uuid>,
    limit: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bookings
         WHERE event_id = $1 AND prequeued AND line_position BETWEEN 1 AND $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
    )
    .bind(event_id)
    .bind(entries)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await
}

/// A booking's place in its event's draw, and how many were drawn.
pub async fn place_in_draw(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<(i32, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.line_position, d.entries FROM bookings b JOIN draws d ON d.event_id = b.event_id
         WHERE b.id = $1 AND b.prequeued AND b.line_position BETWEEN 1 AND d.entries",
    )
    .bind(booking_id)
    .fetch_optional(conn)
    .await
}

/// Requests of the event waiting in PostgreSQL: (for the draw, placed).
pub async fn counts(conn: &mut PgConnection, event_id: Uuid) -> Result<(i64, i64), sqlx::Error> {
    let state = state(conn, &[event_id]).await?;
    let s = state.get(&event_id).copied().unwrap_or_default();
    Ok((s.undrawn, s.placed))
}
