//! The `events` and `ticket_types` tables.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::checkout::HoldTimes;
use crate::domain::event::{EventStatus, Schedule};

/// (Serialized only into the read cache, by the event room.)
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    pub id: Uuid,
    pub organizer_id: Uuid,
    /// The organization that owns it (its members act on it as their roles allow).
    pub organization_id: Uuid,
    pub title: String,
    pub description: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub cancellation_deadline: Option<DateTime<Utc>>,
    pub hold_seconds: i32,
    pub offline_hold_hours: i32,
    pub hold_cooldown_seconds: i32,
    pub prequeue_minutes: i32,
    pub offer_hours: i32,
    /// IANA time zone of the venue (pages show times in it).
    pub timezone: String,
    #[sqlx(try_from = "String")]
    pub status: EventStatus,
    pub published_at: Option<DateTime<Utc>>,
    /// The hash naming the event's image's URLs, when it has one.
    #[serde(default)]
    pub image_hash: Option<String>,
    /// `card`, `offline` or both; `None`: what the server has.
    #[serde(default)]
    pub payment_methods: Option<Vec<String>>,
    /// What an offline payer reads; `None`: the server's.
    #[serde(default)]
    pub offline_payment_instructions: Option<String>,
    /// Until when buyers may change names and answers; `None`: the start.
    #[serde(default)]
    pub prices_include_tax: bool,
    /// Whether its paid bookings get invoices (fixed once published).
    #[serde(default = "crate::db::events::yes")]
    pub issue_invoices: bool,
    pub answers_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EventRow {
    pub fn hold_times(&self) -> HoldTimes {
        HoldTimes {
            hold_seconds: self.hold_seconds,
            offline_hold_hours: self.offline_hold_hours,
            hold_cooldown_seconds: self.hold_cooldown_seconds,
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

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct TicketTypeRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i32,
    pub remaining: i32,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    /// Listed and sold only with a code that names it.
    #[serde(default)]
    pub hidden: bool,
    /// What a buyer may still get: `remaining`, or less when a quota the
    /// type shares has less left.
    #[serde(default)]
    pub available: i32,
    /// Whether each ticket carries a holder's name.
    #[serde(default)]
    #[sqlx(try_from = "String")]
    pub attendee_names: crate::domain::question::AttendeeNames,
    /// The quotas it draws from, and the least any of them has left.
    #[serde(default)]
    pub quota_ids: Vec<Uuid>,
    #[serde(default)]
    pub quota_remaining: Option<i32>,
    /// Basis points.
    #[serde(default)]
    pub tax_rate: i32,
}

/// The editable fields of an event, already validated.
#[derive(Debug, Clone)]
pub struct EventFields {
    pub title: String,
    pub description: String,
    pub venue: String,
    pub schedule: Schedule,
    /// Until when buyers may cancel; `None`: until the event starts.
    pub cancellation_deadline: Option<DateTime<Utc>>,
    pub hold_times: HoldTimes,
    /// Minutes before `sales_start` from which requests go into the pre-queue.
    pub prequeue_minutes: i32,
    /// Hours a waiting-list offer stays open.
    pub offer_hours: i32,
    /// IANA time zone of the venue.
    pub timezone: String,
}

/// The fields of a ticket type, already validated.
#[derive(Debug, Clone)]
pub struct TicketTypeFields {
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub capacity: i32,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    pub hidden: bool,
    pub attendee_names: crate::domain::question::AttendeeNames,
    pub tax_rate: i32,
}

/// Serde's default of a switch that is on unless said otherwise.
pub(crate) fn yes() -> bool {
    true
}

pub const TICKET_TYPE_NAME_TAKEN: &str = "ticket_types_event_name_key";

const EVENT_COLUMNS: &str = "id, organizer_id, organization_id, title, description, venue, starts_at, ends_at, \
     sales_start, sales_end, cancellation_deadline, hold_seconds, offline_hold_hours, prequeue_minutes, offer_hours, timezone, status, \
     published_at, hold_cooldown_seconds, image_hash, payment_methods, offline_payment_instructions, \
     answers_until, prices_include_tax, issue_invoices, created_at, updated_at";
const TICKET_TYPE_COLUMNS: &str =
    "id, event_id, name, price_cents, currency, capacity, remaining, max_per_order, max_per_buyer, hidden, attendee_names, tax_rate,
     LEAST(remaining, (SELECT min(q.remaining) FROM quota_ticket_types qt JOIN quotas q ON q.id = qt.quota_id
                        WHERE qt.ticket_type_id = ticket_types.id)) AS available,
     ARRAY(SELECT qt.quota_id FROM quota_ticket_types qt WHERE qt.ticket_type_id = ticket_types.id
            ORDER BY qt.quota_id) AS quota_ids,
     (SELECT min(q.remaining) FROM quota_ticket_types qt JOIN quotas q ON q.id = qt.quota_id
       WHERE qt.ticket_type_id = ticket_types.id) AS quota_remaining";

pub async fn insert_event(
    conn: &mut PgConnection,
    organizer_id: Uuid,
    organization_id: Uuid,
    fields: &EventFields,
    status: EventStatus,
) -> Result<EventRow, sqlx::Error> {
    let s = &fields.schedule;
    sqlx::query_as(&format!(
        "INSERT INTO events (id, organizer_id, title, description, venue, starts_at, ends_at,
                             sales_start, sales_end, status, published_at, cancellation_deadline,
                             hold_seconds, offline_hold_hours, prequeue_minutes, offer_hours, timezone,
                             hold_cooldown_seconds, organization_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $10 = 'published' THEN now() END, $11, $12, $13,
                 $14, $15, $16, $17, $18)
         RETURNING {EVENT_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(organizer_id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(&fields.venue)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.sales_start)
    .bind(s.sales_end)
    .bind(status.as_str())
    .bind(fields.cancellation_deadline)
    .bind(fields.hold_times.hold_seconds)
    .bind(fields.hold_times.offline_hold_hours)
    .bind(fields.prequeue_minutes)
    .bind(fields.offer_hours)
    .bind(&fields.timezone)
    .bind(fields.hold_times.hold_cooldown_seconds)
    .bind(organization_id)
    .fetch_one(conn)
    .await
}

pub async fn insert_ticket_type(
    conn: &mut PgConnection,
    event_id: Uuid,
    fields: &TicketTypeFields,
) -> Result<TicketTypeRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO ticket_types (id, event_id, name, price_cents, currency, capacity, remaining, max_per_order,
                                   max_per_buyer, hidden, attendee_names, tax_rate)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)
         RETURNING {TICKET_TYPE_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(event_id)
    .bind(&fields.name)
    .bind(fields.price_cents)
    .bind(&fields.currency)
    .bind(fields.capacity)
    .bind(fields.max_per_order)
    .bind(fields.max_per_buyer)
    .bind(fields.hidden)
    .bind(fields.attendee_names.as_str())
    .bind(fields.tax_rate)
    .fetch_one(conn)
    .await
}

pub async fn find_event(conn: &mut PgConnection, id: Uuid) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// Like [`find_event`], with a share lock: the event cannot change (nor be
/// cancelled) until the caller's transaction ends.
pub async fn share_event(conn: &mut PgConnection, id: Uuid) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 FOR SHARE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Like [`find_event`], locking the row until the caller's transaction ends.
pub async fn lock_event(conn: &mut PgConnection, id: Uuid) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The ticket types of the given events, in creation order.
pub async fn ticket_types_of(conn: &mut PgConnection, event_ids: &[Uuid]) -> Result<Vec<TicketTypeRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {TICKET_TYPE_COLUMNS} FROM ticket_types WHERE event_id = ANY($1) ORDER BY id"))
        .bind(event_ids)
        .fetch_all(conn)
        .await
}

/// Which events a list shows.
#[derive(Debug, Default)]
pub struct ListFilter {
    /// Only the events of the organizations this person is a member of, in
    /// any status; otherwise published events only.
    pub organizer_id: Option<Uuid>,
    /// Words to find in the title, venue or description (every one, in any
    /// order); the best matches first.
    pub search: Option<Search>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset cursor: rows strictly after this `(starts_at, id)`.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A search as PostgreSQL's text search takes it: what was typed, for
/// `websearch_to_tsquery` ("quoted phrases", -without, or), and its last
/// word apart, found as a prefix (so "berl" finds Berlin while typing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub words: String,
    /// Letters and digits only (safe inside `to_tsquery`).
    pub prefix: Option<String>,
}

impl Search {
    pub fn new(typed: &str) -> Self {
        let typed = typed.trim();
        let mut words = typed.split_whitespace().rev();
        let (last, before) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
        // `or` joins the words around it (a web search's syntax): a prefix
        // taken out of that would turn `or` into a word to find.
        let joined = |w: &str| w.eq_ignore_ascii_case("or");
        let plain = !last.is_empty() && last.chars().all(char::is_alphanumeric) && !joined(last) && !joined(before);
        if plain {
            let words = typed[..typed.len() - last.len()].trim_end().to_owned();
            Self { words, prefix: Some(last.to_lowercase()) }
        } else {
            Self { words: typed.to_owned(), prefix: None }
        }
    }
}

pub async fn list(conn: &mut PgConnection, f: &ListFilter) -> Result<Vec<EventRow>, sqlx::Error> {
    let (after_start, after_id) = f.after.unzip();
    let (words, prefix) = f.search.as_ref().map(|s| (s.words.as_str(), s.prefix.as_deref())).unzip();
    // An empty part of the query is an empty tsquery, which `&&` leaves out.
    sqlx::query_as(&format!(
        "WITH q AS (SELECT CASE WHEN coalesce($2, '') = '' THEN ''::tsquery
                                ELSE websearch_to_tsquery('simple', $2) END
                           && CASE WHEN $8::text IS NULL THEN ''::tsquery
                                   ELSE to_tsquery('simple', $8 || ':*') END AS query)
         SELECT {EVENT_COLUMNS} FROM events, q
         WHERE CASE WHEN $1::uuid IS NULL THEN status = 'published'
                    ELSE organization_id IN (SELECT organization_id FROM memberships WHERE user_id = $1) END
           AND ($2::text IS NULL OR search @@ q.query)
           AND ($3::timestamptz IS NULL OR starts_at >= $3)
           AND ($4::timestamptz IS NULL OR starts_at < $4)
           AND ($5::timestamptz IS NULL OR (starts_at, id) > ($5, $6::uuid))
         ORDER BY CASE WHEN $2::text IS NULL THEN 0 ELSE ts_rank(search, q.query) END DESC, starts_at, id
         LIMIT $7"
    ))
    .bind(f.organizer_id)
    .bind(words)
    .bind(f.from)
    .bind(f.to)
    .bind(after_start)
    .bind(after_id)
    .bind(f.limit)
    .bind(prefix.flatten())
    .fetch_all(conn)
    .await
}

pub async fn update_event(conn: &mut PgConnection, id: Uuid, fields: &EventFields) -> Result<EventRow, sqlx::Error> {
    let s = &fields.schedule;
    sqlx::query_as(&format!(
        "UPDATE events SET title = $2, description = $3, venue = $4, starts_at = $5, ends_at = $6,
                sales_start = $7, sales_end = $8, cancellation_deadline = $9, hold_seconds = $10,
                offline_hold_hours = $11, prequeue_minutes = $12, offer_hours = $13, timezone = $14,
                hold_cooldown_seconds = $15, updated_at = now()
         WHERE id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(id)
    .bind(&fields.title)
    .bind(&fields.description)
    .bind(&fields.venue)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.sales_start)
    .bind(s.sales_end)
    .bind(fields.cancellation_deadline)
    .bind(fields.hold_times.hold_seconds)
    .bind(fields.hold_times.offline_hold_hours)
    .bind(fields.prequeue_minutes)
    .bind(fields.offer_hours)
    .bind(&fields.timezone)
    .bind(fields.hold_times.hold_cooldown_seconds)
    .fetch_one(conn)
    .await
}

/// Writes how the event is paid for.
pub async fn set_payment(
    conn: &mut PgConnection,
    id: Uuid,
    methods: Option<&[String]>,
    instructions: Option<&str>,
    prices_include_tax: bool,
    issue_invoices: bool,
) -> Result<EventRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE events SET payment_methods = $2, offline_payment_instructions = $3, prices_include_tax = $4,
                issue_invoices = $5, updated_at = now()
         WHERE id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(id)
    .bind(methods)
    .bind(instructions)
    .bind(prices_include_tax)
    .bind(issue_invoices)
    .fetch_one(conn)
    .await
}

pub async fn set_answers_until(
    conn: &mut PgConnection,
    id: Uuid,
    until: Option<DateTime<Utc>>,
) -> Result<EventRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE events SET answers_until = $2, updated_at = now() WHERE id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(id)
    .bind(until)
    .fetch_one(conn)
    .await
}

/// Moves an event to `status`; publishing stamps `published_at` the first time.
pub async fn set_status(conn: &mut PgConnection, id: Uuid, status: EventStatus) -> Result<EventRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE events SET status = $2, updated_at = now(),
                published_at = CASE WHEN $2 = 'published' THEN coalesce(published_at, now()) ELSE published_at END
         WHERE id = $1 RETURNING {EVENT_COLUMNS}"
    ))
    .bind(id)
    .bind(status.as_str())
    .fetch_one(conn)
    .await
}

pub async fn delete_event(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM events WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// Locks a ticket type row of the event: before any booking row, the lock
/// order of every transaction that touches both (the worker's, a
/// cancellation's, a change of the ticket type).
pub async fn lock_ticket_type(
    conn: &mut PgConnection,
    event_id: Uuid,
    id: Uuid,
) -> Result<Option<TicketTypeRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {TICKET_TYPE_COLUMNS} FROM ticket_types WHERE id = $1 AND event_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(event_id)
    .fetch_optional(conn)
    .await
}

/// Writes new fields; `remaining` moves by the change in capacity, so what is
/// sold stays sold. The caller has checked that capacity stays at or above it.
pub async fn update_ticket_type(
    conn: &mut PgConnection,
    id: Uuid,
    fields: &TicketTypeFields,
) -> Result<TicketTypeRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE ticket_types SET name = $2, price_cents = $3, currency = $4,
                remaining = remaining + ($5 - capacity), capacity = $5, max_per_order = $6, max_per_buyer = $7,
                hidden = $8, attendee_names = $9, tax_rate = $10, updated_at = now()
         WHERE id = $1 RETURNING {TICKET_TYPE_COLUMNS}"
    ))
    .bind(id)
    .bind(&fields.name)
    .bind(fields.price_cents)
    .bind(&fields.currency)
    .bind(fields.capacity)
    .bind(fields.max_per_order)
    .bind(fields.max_per_buyer)
    .bind(fields.hidden)
    .bind(fields.attendee_names.as_str())
    .bind(fields.tax_rate)
    .fetch_one(conn)
    .await
}

/// A ticket type as offered for sale.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Offer {
    pub ticket_type_id: Uuid,
    pub event_id: Uuid,
    pub organizer_id: Uuid,
    #[sqlx(try_from = "String")]
    pub event_status: EventStatus,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub max_per_order: i32,
    pub max_per_buyer: Option<i32>,
    /// The price as the buyer sees it now (carried in the queue message).
    pub price_cents: i64,
    pub currency: String,
    pub prequeue_minutes: i32,
    pub hold_cooldown_seconds: i32,
    /// Sold only with a code that names it.
    pub hidden: bool,
    /// Whether each ticket carries a holder's name.
    #[sqlx(try_from = "String")]
    pub attendee_names: crate::domain::question::AttendeeNames,
    /// Whether the event asks a booking of this type any question.
    pub asks_questions: bool,
    /// Its tax, and whether the price includes it (what the buyer was shown).
    pub tax_rate: i32,
    pub prices_include_tax: bool,
}

impl Offer {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
        }
    }
}

/// The offer of a ticket type (`None`: no such ticket type).
pub async fn offer(pool: &sqlx::PgPool, ticket_type_id: Uuid) -> Result<Option<Offer>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id AS ticket_type_id, t.event_id, e.organizer_id, e.status AS event_status, e.starts_at,
                e.ends_at, e.sales_start, e.sales_end, e.published_at, t.max_per_order, t.max_per_buyer, t.price_cents,
                t.currency, e.prequeue_minutes, e.hold_cooldown_seconds, t.hidden, t.attendee_names,
                EXISTS (SELECT 1 FROM questions q WHERE q.event_id = t.event_id
                         AND (q.ticket_type_ids IS NULL OR t.id = ANY (q.ticket_type_ids))) AS asks_questions,
                t.tax_rate, e.prices_include_tax
         FROM ticket_types t JOIN events e ON e.id = t.event_id WHERE t.id = $1",
    )
    .bind(ticket_type_id)
    .fetch_optional(pool)
    .await
}
