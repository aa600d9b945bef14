//! The statements of the worker's batch transaction (`booking::allocate`):
//! locks, what is decided already, keys and seats owned, and the multi-row
//! writes of outcomes, tickets and seat counts.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::booking::{Availability, Inventory, Reason};
use crate::domain::checkout::HoldTimes;
use crate::domain::event::{EventStatus, Schedule};

/// Which of `ids` are already decided: a redelivered message finds its booking here.
/// (A booking waiting in the line in PostgreSQL is not decided: its message
/// was acked when it was parked, and a copy is parked again as a no-op.)
pub async fn already_final(conn: &mut PgConnection, ids: &[Uuid]) -> Result<HashSet<Uuid>, sqlx::Error> {
    let rows: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM bookings WHERE id = ANY($1) AND status <> 'pending'")
        .bind(ids)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Which (user, key) pairs already belong to a booking, and to which.
pub async fn keys_taken(
    conn: &mut PgConnection,
    users: &[Uuid],
    keys: &[String],
) -> Result<HashMap<(Uuid, String), Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Uuid)> = sqlx::query_as(
        // Key by key in its unique index (OFFSET 0: a join could be planned
        // as a sort of the whole table when its statistics lag behind a sale).
        "SELECT k.user_id, k.key, b.id FROM UNNEST($1::uuid[], $2::text[]) AS k (user_id, key)
         CROSS JOIN LATERAL (SELECT id FROM bookings b WHERE b.user_id = k.user_id AND b.idempotency_key = k.key
                                OFFSET 0) b",
    )
    .bind(users)
    .bind(keys)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(user, key, id)| ((user, key), id)).collect())
}

/// A ticket type locked for allocation, with what decides whether it sells.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedTicketType {
    pub id: Uuid,
    pub event_id: Uuid,
    pub remaining: i32,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    pub price_cents: i64,
    pub currency: String,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub hold_seconds: i32,
    pub offline_hold_hours: i32,
    pub hold_cooldown_seconds: i32,
    pub prequeue_minutes: i32,
    pub offer_hours: i32,
    /// The event's payment methods (`None`: the server's).
    pub payment_methods: Option<Vec<String>>,
    /// Basis points; whether the event's prices include it.
    pub tax_rate: i32,
    pub prices_include_tax: bool,
}

impl LockedTicketType {
    /// How a hold of this type is paid on a server whose own is `server`.
    pub fn provider(&self, server: crate::domain::checkout::Provider) -> crate::domain::checkout::Provider {
        crate::domain::checkout::Provider::for_event(self.payment_methods.as_deref(), server)
    }

    pub fn hold_times(&self) -> HoldTimes {
        HoldTimes {
            hold_seconds: self.hold_seconds,
            offline_hold_hours: self.offline_hold_hours,
            hold_cooldown_seconds: self.hold_cooldown_seconds,
        }
    }

    /// What the allocator may give from this row (`owned` is filled in
    /// separately, for the buyers at hand).
    pub fn inventory(&self) -> Inventory {
        let availability = match self.event_status {
            EventStatus::Published => Availability::OnSale,
            EventStatus::Cancelled => Availability::Closed(Reason::EventCancelled),
            EventStatus::Draft => Availability::Closed(Reason::SalesClosed),
        };
        Inventory {
            remaining: self.remaining,
            max_per_order: self.max_per_order,
            availability,
            max_per_buyer: self.max_per_buyer,
            owned: HashMap::new(),
            holds_in: (self.price_cents > 0).then_some(self.event_id),
            quotas: Vec::new(),
        }
    }

    pub fn schedule(&self) -> Schedule {
        Schedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
        }
    }
}

/// Seats that `users` hold or own of `ticket_type_ids`, by
/// (ticket type, user). Read under the ticket types' locks, so it cannot
/// change before the batch commits.
pub async fn seats_owned(
    conn: &mut PgConnection,
    ticket_type_ids: &[Uuid],
    users: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ticket_type_id, user_id, sum(quantity)::bigint FROM bookings
         WHERE user_id = ANY($2) AND ticket_type_id = ANY($1) AND status IN ('held', 'confirmed')
         GROUP BY ticket_type_id, user_id",
    )
    .bind(ticket_type_ids)
    .bind(users)
    .fetch_all(conn)
    .await
}

/// One buyer's unpaid holds in an event are counted across its ticket types,
/// which two workers may be deciding at once: a batch that may give holds
/// takes a lock per event (its "hold lock"), after its ticket types' locks
/// (which every such batch takes first) and in event order, so they never
/// deadlock. One per event rather than per buyer: a line chunk of thousands
/// of buyers would fill PostgreSQL's lock table; batches of one event's
/// priced types take turns (those of one type did already).
pub async fn lock_holds_of_events(conn: &mut PgConnection, events: &[Uuid]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k) FROM (
           SELECT DISTINCT hashtextextended('holds:' || e::text, 7) AS k FROM UNNEST($1::uuid[]) AS e ORDER BY 1) keys",
    )
    .bind(events)
    .execute(conn)
    .await?;
    Ok(())
}

/// What limits seat spinning for `pairs` of (event, buyer) and
/// `ticket_type_ids`: the buyers' unpaid holds per event, and when each
/// buyer's latest hold of each of those types ran out unpaid.
pub async fn spinning(
    conn: &mut PgConnection,
    pairs: &[(Uuid, Uuid)],
    ticket_type_ids: &[Uuid],
) -> Result<(Vec<(Uuid, Uuid, i64)>, Vec<(Uuid, Uuid, DateTime<Utc>)>), sqlx::Error> {
    let (events, users): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    let holds = sqlx::query_as(
        "SELECT b.event_id, b.user_id, count(*) FROM bookings b
         JOIN UNNEST($1::uuid[], $2::uuid[]) AS p (e, u) ON b.event_id = p.e AND b.user_id = p.u
         WHERE b.status = 'held' GROUP BY b.event_id, b.user_id",
    )
    .bind(&events)
    .bind(&users)
    .fetch_all(&mut *conn)
    .await?;
    let lapses = sqlx::query_as(
        "SELECT ticket_type_id, user_id, max(updated_at) FROM bookings
         WHERE user_id = ANY($1) AND ticket_type_id = ANY($2) AND status = 'expired' AND reason = 'hold_expired'
         GROUP BY ticket_type_id, user_id",
    )
    .bind(&users)
    .bind(ticket_type_ids)
    .fetch_all(conn)
    .await?;
    Ok((holds, lapses))
}

/// Locks the ticket types in id order, so concurrent workers (and
/// cancellations) always take the locks in the same order and never deadlock.
///
/// The event's status is read by a second statement, after the locks are
/// held: a statement that waited for a lock still sees the rows of other
/// tables as they were when it started, and an event cancelled meanwhile
/// (its cancellation holds these locks) would look published.
pub async fn lock_ticket_types(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<LockedTicketType>, sqlx::Error> {
    lock_rows(conn, ids).await?;
    sqlx::query_as(
        "SELECT t.id, t.event_id, t.remaining, t.max_per_order, t.max_per_buyer, t.price_cents, t.currency,
                e.status AS event_status, e.starts_at, e.ends_at, e.sales_start, e.sales_end, e.published_at,
                e.hold_seconds, e.offline_hold_hours, e.hold_cooldown_seconds, e.prequeue_minutes, e.offer_hours,
                e.payment_methods, t.tax_rate, e.prices_include_tax
         FROM ticket_types t JOIN events e ON e.id = t.event_id
         WHERE t.id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Only the locks of [`lock_ticket_types`], in the same order.
pub async fn lock_rows(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT id FROM ticket_types WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The decided bookings of a batch, column by column (one multi-row statement).
#[derive(Debug, Default)]
pub struct Outcomes {
    pub ids: Vec<Uuid>,
    pub user_ids: Vec<Uuid>,
    pub event_ids: Vec<Uuid>,
    pub ticket_type_ids: Vec<Uuid>,
    pub quantities: Vec<i32>,
    pub statuses: Vec<&'static str>,
    pub reasons: Vec<Option<&'static str>>,
    pub unit_prices: Vec<Option<i64>>,
    pub currencies: Vec<Option<String>>,
    pub keys: Vec<Option<String>>,
    pub accepted_at: Vec<DateTime<Utc>>,
    pub expires_at: Vec<Option<DateTime<Utc>>>,
    pub providers: Vec<Option<&'static str>>,
    pub code_ids: Vec<Option<Uuid>>,
    /// What a seated booking is taxed at, kept with it.
    pub tax_rates: Vec<Option<i32>>,
    pub taxes_included: Vec<Option<bool>>,
}

impl Outcomes {
    /// The tax of a booking of `tt` (`None` for one without seats).
    pub fn push_tax(&mut self, tt: Option<&LockedTicketType>) {
        self.tax_rates.push(tt.map(|tt| tt.tax_rate));
        self.taxes_included.push(tt.map(|tt| tt.prices_include_tax));
    }
}

/// Writes decided bookings; a row already pending (written by the API while
/// Redis was down) is finalised, a decided one is never touched again.
/// Returns how many rows were written (fewer: some were decided already).
pub async fn write_outcomes(conn: &mut PgConnection, o: &Outcomes) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, reason,
                               unit_price_cents, currency, idempotency_key, accepted_at, expires_at, payment_provider,
                               code_id, tax_rate, prices_include_tax)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::text[],
                              $8::bigint[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[],
                              $14::uuid[], $15::int[], $16::bool[])
         ON CONFLICT (id) DO UPDATE
            SET status = EXCLUDED.status, reason = EXCLUDED.reason, unit_price_cents = EXCLUDED.unit_price_cents,
                currency = EXCLUDED.currency, expires_at = EXCLUDED.expires_at, tax_rate = EXCLUDED.tax_rate,
                prices_include_tax = EXCLUDED.prices_include_tax,
                payment_provider = EXCLUDED.payment_provider, code_id = EXCLUDED.code_id, pending_details = NULL,
                updated_at = now()
          WHERE bookings.status = 'pending'",
    )
    .bind(&o.ids)
    .bind(&o.user_ids)
    .bind(&o.event_ids)
    .bind(&o.ticket_type_ids)
    .bind(&o.quantities)
    .bind(&o.statuses)
    .bind(&o.reasons)
    .bind(&o.unit_prices)
    .bind(&o.currencies)
    .bind(&o.keys)
    .bind(&o.accepted_at)
    .bind(&o.expires_at)
    .bind(&o.providers)
    .bind(&o.code_ids)
    .bind(&o.tax_rates)
    .bind(&o.taxes_included)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// The channel on which decided bookings are announced.
pub const FINAL_CHANNEL: &str = "booking_final";
/// Ids per notification: 150 × 37 bytes stays well under NOTIFY's 8000-byte payload.
const IDS_PER_NOTIFY: usize = 150;

/// Announces, when the caller's transaction commits, that these bookings are final.
pub async fn announce_final(conn: &mut PgConnection, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    let payloads: Vec<String> = ids
        .chunks(IDS_PER_NOTIFY)
        .map(|chunk| chunk.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","))
        .collect();
    sqlx::query("SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS payload")
        .bind(FINAL_CHANNEL)
        .bind(&payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes `seats[i]` seats from ticket type `ids[i]` (negative: gives them
/// back), and as many from every quota the type is in: the one place seats
/// move, so a quota's count never drifts from its types'. The caller holds
/// the ticket types' locks; the quotas' are taken here, after, in id order.
pub async fn take_seats(conn: &mut PgConnection, ids: &[Uuid], seats: &[i32]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ticket_types t SET remaining = t.remaining - s.seats, updated_at = now()
         FROM UNNEST($1::uuid[], $2::int[]) AS s (id, seats) WHERE t.id = s.id",
    )
    .bind(ids)
    .bind(seats)
    .execute(&mut *conn)
    .await?;
    let quotas = lock_quotas(conn, ids).await?;
    if quotas.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE quotas q SET remaining = q.remaining - x.seats, updated_at = now()
         FROM (SELECT qt.quota_id, sum(s.seats)::int AS seats
                 FROM UNNEST($1::uuid[], $2::int[]) AS s (id, seats)
                 JOIN quota_ticket_types qt ON qt.ticket_type_id = s.id
                GROUP BY qt.quota_id) x
         WHERE q.id = x.quota_id",
    )
    .bind(ids)
    .bind(seats)
    .execute(conn)
    .await?;
    Ok(())
}

/// A quota as the allocator sees it, locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedQuota {
    pub id: Uuid,
    pub remaining: i32,
    /// Its ticket types (of those asked about).
    pub ticket_type_ids: Vec<Uuid>,
}

/// Locks the quotas of `ticket_type_ids`, in id order (after the ticket
/// types: the order everywhere), and reads what they have left.
pub async fn lock_quotas(conn: &mut PgConnection, ticket_type_ids: &[Uuid]) -> Result<Vec<LockedQuota>, sqlx::Error> {
    if ticket_type_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(
        "SELECT q.id, q.remaining,
                ARRAY(SELECT qt.ticket_type_id FROM quota_ticket_types qt
                       WHERE qt.quota_id = q.id AND qt.ticket_type_id = ANY($1)) AS ticket_type_ids
         FROM quotas q
         WHERE q.id IN (SELECT quota_id FROM quota_ticket_types WHERE ticket_type_id = ANY($1))
         ORDER BY q.id FOR UPDATE OF q",
    )
    .bind(ticket_type_ids)
    .fetch_all(conn)
    .await
}

/// The tickets of a batch, column by column.
#[derive(Debug, Default)]
pub struct NewTickets {
    pub codes: Vec<String>,
    pub booking_ids: Vec<Uuid>,
    pub event_ids: Vec<Uuid>,
    pub ticket_type_ids: Vec<Uuid>,
    /// Each ticket's place in its booking (its holder is the attendee there).
    pub positions: Vec<i32>,
}

impl NewTickets {
    /// One new ticket per seat of a booking.
    pub fn add(&mut self, booking_id: Uuid, event_id: Uuid, ticket_type_id: Uuid, seats: i32) {
        for position in 0..seats {
            self.positions.push(position);
            self.codes.push(crate::domain::booking::new_ticket_code());
            self.booking_ids.push(booking_id);
            self.event_ids.push(event_id);
            self.ticket_type_ids.push(ticket_type_id);
        }
    }
}

pub async fn insert_tickets(conn: &mut PgConnection, t: &NewTickets) -> Result<(), sqlx::Error> {
    if t.codes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tickets (code, booking_id, event_id, ticket_type_id, position)
         SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int4[])",
    )
    .bind(&t.codes)
    .bind(&t.booking_ids)
    .bind(&t.event_ids)
    .bind(&t.ticket_type_ids)
    .bind(&t.positions)
    .execute(conn)
    .await?;
    Ok(())
}
