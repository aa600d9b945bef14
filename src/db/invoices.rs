//! Billing details, and invoices and credit notes as issued: an invoice in
//! the transaction that confirms a paid booking, a credit note in the one
//! that records its refund, numbered from a per-organizer counter locked to
//! the commit (gapless: a rolled-back transaction gives its number back).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::bookings::BookingRow;
use crate::domain::invoice::{self, Document, Kind, Party, Sale};

/// An organizer's details as the seller on their invoices.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct BillingProfile {
    pub legal_name: String,
    pub address: String,
    pub tax_id: String,
    pub invoice_footer: String,
    pub invoice_prefix: String,
}

pub async fn profile(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<BillingProfile>, sqlx::Error> {
    sqlx::query_as(
        "SELECT legal_name, address, tax_id, invoice_footer, invoice_prefix FROM billing_profiles WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Whether `user_id` issued papers this year (`now`'s), in a series whose
/// prefix is not `prefix`.
pub async fn other_series_this_year(
    conn: &mut PgConnection,
    user_id: Uuid,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM invoices WHERE organizer_id = $1 AND year = $2
                          AND number NOT LIKE $3 || '-%')",
    )
    .bind(user_id)
    .bind(invoice::year_of(now))
    .bind(prefix)
    .fetch_one(conn)
    .await
}

pub async fn save_profile(conn: &mut PgConnection, user_id: Uuid, p: &BillingProfile) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO billing_profiles (user_id, legal_name, address, tax_id, invoice_footer, invoice_prefix)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id) DO UPDATE SET legal_name = $2, address = $3, tax_id = $4, invoice_footer = $5,
                invoice_prefix = $6, updated_at = now()",
    )
    .bind(user_id)
    .bind(&p.legal_name)
    .bind(&p.address)
    .bind(&p.tax_id)
    .bind(&p.invoice_footer)
    .bind(&p.invoice_prefix)
    .execute(conn)
    .await?;
    Ok(())
}

/// An invoice or credit note as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub organizer_id: Uuid,
    pub number: String,
    pub booking_id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub document: Json<Document>,
}

const COLUMNS: &str = "id, organizer_id, number, booking_id, issued_at, document";

/// Takes the next `count` numbers of `organizer`'s series: the first of
/// them, and the moment they are issued at. The organizer's papers are
/// issued one transaction at a time (a lock held until the commit), and the
/// moment is read after the lock from the database's clock, so numbers run
/// in the order of their dates, and a rollback gives its numbers back.
async fn take_numbers(
    conn: &mut PgConnection,
    organizer: Uuid,
    count: i32,
) -> Result<(i32, DateTime<Utc>), sqlx::Error> {
    let issued_at: DateTime<Utc> = sqlx::query_scalar(
        "SELECT clock_timestamp() FROM (SELECT pg_advisory_xact_lock(hashtextextended('boxoffice invoices ' || $1, 0))) l",
    )
    .bind(organizer.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let last: i32 = sqlx::query_scalar(
        "INSERT INTO invoice_counters (organizer_id, year, last) VALUES ($1, $2, $3)
         ON CONFLICT (organizer_id, year) DO UPDATE SET last = invoice_counters.last + EXCLUDED.last
         RETURNING last",
    )
    .bind(organizer)
    .bind(invoice::year_of(issued_at))
    .bind(count)
    .fetch_one(conn)
    .await?;
    Ok((last - count + 1, issued_at))
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    conn: &mut PgConnection,
    organizer: Uuid,
    seq: i32,
    document: &Document,
    booking_id: Uuid,
    payment_id: Uuid,
    credits: Option<Uuid>,
    refund_id: Option<Uuid>,
) -> Result<InvoiceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO invoices (id, organizer_id, year, seq, number, kind, booking_id, credits, refund_id, payment_id,
                               issued_at, currency, net_cents, tax_cents, gross_cents, document)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(organizer)
    .bind(invoice::year_of(document.issued_at))
    .bind(seq)
    .bind(&document.number)
    .bind(document.kind.as_str())
    .bind(booking_id)
    .bind(credits)
    .bind(refund_id)
    .bind(payment_id)
    .bind(document.issued_at)
    .bind(&document.currency)
    .bind(document.totals.net_cents)
    .bind(document.totals.tax_cents)
    .bind(document.totals.gross_cents)
    .bind(Json(document))
    .fetch_one(conn)
    .await
}

/// What an invoice of a booking names, read together.
#[derive(sqlx::FromRow)]
struct SaleRow {
    organizer_id: Uuid,
    organizer_name: String,
    organizer_email: String,
    title: String,
    starts_at: DateTime<Utc>,
    timezone: String,
    ticket_type: String,
    buyer_name: String,
    buyer_email: String,
    issue_invoices: bool,
}

/// The seller: the organizer's billing details, else their account's name.
fn seller(row: &SaleRow, profile: Option<&BillingProfile>) -> Party {
    match profile {
        Some(p) => Party {
            name: p.legal_name.clone(),
            address: p.address.clone(),
            tax_id: p.tax_id.clone(),
            email: row.organizer_email.clone(),
        },
        None => Party { name: row.organizer_name.clone(), email: row.organizer_email.clone(), ..Party::default() },
    }
}

/// Issues the invoice of `booking` (a paid booking just confirmed by
/// `payment_id`, in the caller's transaction), once: a booking that has one
/// keeps it, a free one gets none.
pub async fn issue(
    conn: &mut PgConnection,
    booking: &BookingRow,
    payment_id: Uuid,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    if booking.total_cents() == 0 {
        return Ok(None);
    }
    if let Some(issued) = invoice_of(conn, booking.id).await? {
        return Ok(Some(issued));
    }
    let row: SaleRow = sqlx::query_as(
        "SELECT e.organization_id AS organizer_id, g.name AS organizer_name, o.email AS organizer_email, e.title, e.starts_at,
                e.timezone, t.name AS ticket_type, u.name AS buyer_name, u.email AS buyer_email, e.issue_invoices
         FROM bookings b JOIN events e ON e.id = b.event_id JOIN users o ON o.id = e.organizer_id
         JOIN organizations g ON g.id = e.organization_id
         JOIN ticket_types t ON t.id = b.ticket_type_id JOIN users u ON u.id = b.user_id
         WHERE b.id = $1",
    )
    .bind(booking.id)
    .fetch_one(&mut *conn)
    .await?;
    if !row.issue_invoices {
        return Ok(None);
    }
    let profile = profile(conn, row.organizer_id).await?;
    let prefix = profile.as_ref().map_or("INV", |p| p.invoice_prefix.as_str()).to_owned();
    let buyer = Party {
        name: booking.billing_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| row.buyer_name.clone()),
        address: booking.billing_address.clone().unwrap_or_default(),
        tax_id: String::new(),
        email: row.buyer_email.clone(),
    };
    let sale = Sale {
        seller: seller(&row, profile.as_ref()),
        buyer,
        reference: booking.reference(),
        event_title: row.title.clone(),
        event_starts_at: row.starts_at,
        timezone: row.timezone.clone(),
        currency: booking.currency.clone().unwrap_or_default(),
        prices_include_tax: booking.prices_include_tax.unwrap_or(true),
        footer: profile.as_ref().map(|p| p.invoice_footer.clone()).unwrap_or_default(),
        items: vec![(
            format!("{} — {}", row.ticket_type, row.title),
            i64::from(booking.quantity),
            booking.unit_price_cents.unwrap_or(0),
            booking.tax_rate.unwrap_or(0),
        )],
    };
    let (seq, issued_at) = take_numbers(conn, row.organizer_id, 1).await?;
    let year = invoice::year_of(issued_at);
    let document = invoice::invoice(sale, invoice::number(&prefix, year, seq), issued_at);
    insert(conn, row.organizer_id, seq, &document, booking.id, payment_id, None, None).await.map(Some)
}

#[derive(sqlx::FromRow)]
struct Due {
    refund_id: Uuid,
    refunded: i64,
    invoice_id: Uuid,
    organizer_id: Uuid,
    booking_id: Uuid,
    payment_id: Uuid,
    document: Json<Document>,
}

/// Issues a credit note for each refund of `booking_ids` of a payment that
/// was invoiced and has none yet (the caller's transaction recorded the
/// refunds): the whole invoice, or the part refunded.
pub async fn credit_refunds(conn: &mut PgConnection, booking_ids: &[Uuid]) -> Result<usize, sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(0);
    }
    let due: Vec<Due> = sqlx::query_as(
        "SELECT r.id AS refund_id, r.amount_cents AS refunded, i.id AS invoice_id, i.organizer_id, i.booking_id,
                i.payment_id, i.document
         FROM refunds r JOIN invoices i ON i.payment_id = r.payment_id AND i.kind = 'invoice'
         WHERE r.booking_id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM invoices c WHERE c.refund_id = r.id)
         ORDER BY i.organizer_id, r.id",
    )
    .bind(booking_ids)
    .fetch_all(&mut *conn)
    .await?;
    let organizers: std::collections::BTreeSet<Uuid> = due.iter().map(|d| d.organizer_id).collect();
    for organizer in organizers {
        let theirs: Vec<&Due> = due.iter().filter(|d| d.organizer_id == organizer).collect();
        let (first, issued_at) = take_numbers(conn, organizer, theirs.len() as i32).await?;
        let year = invoice::year_of(issued_at);
        for (seq, d) in (first..).zip(theirs) {
            // The invoice's series ("{prefix}-{year}-{n}").
            let prefix = d.document.number.rsplitn(3, '-').nth(2).unwrap_or("INV").to_owned();
            let credit = invoice::credit_note(&d.document, d.refunded, invoice::number(&prefix, year, seq), issued_at);
            insert(conn, organizer, seq, &credit, d.booking_id, d.payment_id, Some(d.invoice_id), Some(d.refund_id))
                .await?;
        }
    }
    Ok(due.len())
}

pub async fn invoice_of(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM invoices WHERE booking_id = $1 AND kind = 'invoice'"))
        .bind(booking_id)
        .fetch_optional(conn)
        .await
}

/// A booking's invoice and credit notes, in the order issued.
pub async fn of_booking(conn: &mut PgConnection, booking_id: Uuid) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM invoices WHERE booking_id = $1 ORDER BY issued_at, seq"))
        .bind(booking_id)
        .fetch_all(conn)
        .await
}

/// The numbers of each of `booking_ids`' invoices and credit notes, in the
/// order issued.
pub async fn numbers_of(
    conn: &mut PgConnection,
    booking_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<String>>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT booking_id, number FROM invoices WHERE booking_id = ANY($1) ORDER BY booking_id, issued_at, seq",
    )
    .bind(booking_ids)
    .fetch_all(conn)
    .await?;
    let mut numbers: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
    for (booking, number) in rows {
        numbers.entry(booking).or_default().push(number);
    }
    Ok(numbers)
}

/// An organizer's invoices and credit notes issued in `[from, to)`, by
/// number, at most `limit`.
pub async fn of_period(
    conn: &mut PgConnection,
    organizer: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE organizer_id = $1 AND issued_at >= $2 AND issued_at < $3
         ORDER BY year, seq LIMIT $4"
    ))
    .bind(organizer)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await
}

impl InvoiceRow {
    pub fn kind(&self) -> Kind {
        self.document.kind
    }
}
