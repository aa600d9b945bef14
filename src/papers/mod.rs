//! Papers: what a booking gives its buyer to keep — its tickets as a PDF,
//! its invoice and credit notes. The rendering is pure (`ticket_pdf`,
//! `invoice_pdf`); here the booking's facts are gathered for whoever may
//! see them.

pub mod invoice_pdf;
pub mod ticket_pdf;
pub mod wallet;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db;
use crate::domain::booking::BookingStatus;
use crate::domain::team::Action;
use ticket_pdf::TicketPage;

#[derive(Debug, thiserror::Error)]
pub enum PapersError {
    /// No such booking of this person, nor of an event they organize.
    #[error("booking not found")]
    NotFound,
    /// No invoice or credit note of the booking has that number.
    #[error("invoice not found")]
    InvoiceNotFound,
    /// The person's role in the organization does not allow its billing
    /// (in their personal one: someone they made its owner took it from them).
    #[error("your role in this organization does not allow its billing details")]
    NotAllowed,
    /// Not an organization the person is a member of.
    #[error("organization not found")]
    OrganizationNotFound,
    /// Its invoice was issued: what it names no longer changes.
    #[error("the invoice of this booking was issued; its billing details can no longer change")]
    InvoiceIssued,
    #[error("the request has invalid fields")]
    Invalid(Vec<crate::domain::FieldError>),
    /// Not confirmed (yet, or any more): it has no tickets to print.
    #[error("this booking has no valid tickets: only a confirmed booking's tickets can be printed")]
    NoTickets,
    #[error(transparent)]
    Pdf(#[from] ticket_pdf::PdfError),
    #[error(transparent)]
    Wallet(#[from] wallet::WalletError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The PDF of booking `id`'s tickets, for `viewer` (its buyer, or the
/// event's organizer).
pub async fn tickets_pdf(db: &PgPool, viewer: Uuid, id: Uuid) -> Result<Vec<u8>, PapersError> {
    let pages = {
        let mut conn = db.acquire().await?;
        pages_for(&mut conn, Some(viewer), id).await?
    };
    render(pages).await
}

/// Booking `id`'s tickets as Apple Wallet passes, for `viewer` (its buyer,
/// or the event's organizer): one pass, or a bundle of one per ticket.
pub async fn tickets_pkpass(
    db: &PgPool,
    signer: std::sync::Arc<wallet::PassSigner>,
    viewer: Uuid,
    id: Uuid,
) -> Result<wallet::Passes, PapersError> {
    let pages = {
        let mut conn = db.acquire().await?;
        pages_for(&mut conn, Some(viewer), id).await?
    };
    // RSA signing is CPU work, as drawing a PDF is.
    let passes = tokio::task::spawn_blocking(move || signer.passes(&pages))
        .await
        .map_err(|err| ticket_pdf::PdfError::from_join(&err))??;
    Ok(passes)
}

/// Draws `pages` off the request threads (it is CPU work).
pub async fn render(pages: Vec<TicketPage>) -> Result<Vec<u8>, PapersError> {
    let pdf = tokio::task::spawn_blocking(move || ticket_pdf::render(&pages))
        .await
        .map_err(|err| ticket_pdf::PdfError::from_join(&err))??;
    Ok(pdf)
}

/// The pages of booking `id`'s tickets (not void), for `viewer` (its buyer
/// or the event's organizer; `None`: the system itself, for the
/// confirmation email, which reads them on its own connection).
pub async fn pages_for(
    conn: &mut PgConnection,
    viewer: Option<Uuid>,
    id: Uuid,
) -> Result<Vec<TicketPage>, PapersError> {
    let booking = db::bookings::find(conn, id).await?.ok_or(PapersError::NotFound)?;
    let event = db::events::find_event(conn, booking.event_id).await?.ok_or(PapersError::NotFound)?;
    if let Some(viewer) = viewer.filter(|v| *v != booking.user_id) {
        if !crate::event::access::may(conn, viewer, event.organization_id, Action::ViewOrders).await? {
            return Err(PapersError::NotFound);
        }
    }
    if booking.status != BookingStatus::Confirmed {
        return Err(PapersError::NoTickets);
    }
    let types = db::events::ticket_types_of(conn, &[booking.event_id]).await?;
    let ticket_type = types.iter().find(|t| t.id == booking.ticket_type_id).map_or("", |t| t.name.as_str());
    let tickets: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT code, position, status FROM tickets WHERE booking_id = $1 AND status <> 'void' ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    if tickets.is_empty() {
        return Err(PapersError::NoTickets);
    }
    let buyer = db::users::find(conn, booking.user_id).await?.map(|u| u.name).unwrap_or_default();
    let details = db::questions::details_of(conn, &[id]).await?.remove(&id).unwrap_or_default();
    let when = crate::domain::event::local_time(event.starts_at, &event.timezone);
    let count = booking.quantity;
    // Read once, drawn on every page (the PDF keeps one copy).
    let image = match &event.image_hash {
        Some(hash) => db::images::rendition(conn, hash, false).await?.map(std::sync::Arc::new),
        None => None,
    };
    Ok(tickets
        .into_iter()
        .map(|(code, position, status)| TicketPage {
            event_title: event.title.clone(),
            when: when.clone(),
            venue: event.venue.clone(),
            ticket_type: ticket_type.to_owned(),
            holder: usize::try_from(position).ok().and_then(|p| details.name_of(p)).unwrap_or(&buyer).to_owned(),
            reference: booking.reference(),
            code,
            // A ticket used already says so (printed again after the door).
            position: match status.as_str() {
                "checked_in" => format!("Ticket {} of {count} · checked in", position + 1),
                _ => format!("Ticket {} of {count}", position + 1),
            },
            image: image.clone(),
            starts_at: event.starts_at,
            serial: format!("{id}-{position}"),
        })
        .collect())
}

/// Booking `id` for `viewer`: its buyer, or its event's organizer.
async fn viewed(conn: &mut PgConnection, viewer: Uuid, id: Uuid) -> Result<db::bookings::BookingRow, PapersError> {
    let booking = db::bookings::find(conn, id).await?.ok_or(PapersError::NotFound)?;
    if booking.user_id != viewer {
        let event = db::events::find_event(conn, booking.event_id).await?.ok_or(PapersError::NotFound)?;
        if !crate::event::access::may(conn, viewer, event.organization_id, Action::ViewOrders).await? {
            return Err(PapersError::NotFound);
        }
    }
    Ok(booking)
}

/// Booking `id`'s invoice and credit notes, for `viewer`.
pub async fn invoices(db: &PgPool, viewer: Uuid, id: Uuid) -> Result<Vec<db::invoices::InvoiceRow>, PapersError> {
    let mut conn = db.acquire().await?;
    viewed(&mut conn, viewer, id).await?;
    Ok(db::invoices::of_booking(&mut conn, id).await?)
}

/// The PDF of booking `id`'s invoice or credit note `number`, for `viewer`.
pub async fn invoice_pdf(db: &PgPool, viewer: Uuid, id: Uuid, number: &str) -> Result<Vec<u8>, PapersError> {
    let document = invoices(db, viewer, id)
        .await?
        .into_iter()
        .find(|i| i.number == number)
        .ok_or(PapersError::InvoiceNotFound)?
        .document
        .0;
    render_invoice(document).await
}

/// Draws an invoice off the request threads.
pub async fn render_invoice(document: crate::domain::invoice::Document) -> Result<Vec<u8>, PapersError> {
    let pdf = tokio::task::spawn_blocking(move || invoice_pdf::render(&document))
        .await
        .map_err(|err| ticket_pdf::PdfError::from_join(&err))??;
    Ok(pdf)
}

/// The name and address the buyer of booking `id` wants on its invoice.
pub const BILLING_NAME_MAX: usize = NAME_MAX;
pub const BILLING_ADDRESS_MAX: usize = 600;

/// A name an invoice prints on one line.
pub const NAME_MAX: usize = 70;
/// Lines of an address or a footer, and characters of each, that an
/// invoice prints whole.
pub const LINES_MAX: usize = 6;
pub const LINE_MAX: usize = 80;

/// `text` must fit the paper: at most [`LINES_MAX`] lines of [`LINE_MAX`].
fn check_printable(v: &mut crate::domain::Violations, field: &str, text: &str) {
    let lines: Vec<&str> = text.trim().lines().collect();
    if lines.len() > LINES_MAX || lines.iter().any(|l| l.chars().count() > LINE_MAX) {
        v.add(field, format!("at most {LINES_MAX} lines of {LINE_MAX} characters: an invoice prints it whole"));
    }
}

/// The buyer (`user_id`) sets the name and address for booking `id`'s
/// invoice, until it is issued.
pub async fn set_billing(db: &PgPool, user_id: Uuid, id: Uuid, name: &str, address: &str) -> Result<(), PapersError> {
    let mut v = crate::domain::Violations::new();
    check_printable(&mut v, "address", address);
    let name = v.line("name", name, 0, BILLING_NAME_MAX);
    let address = v.paragraph("address", address, 0, BILLING_ADDRESS_MAX);
    let (name, address) = v.finish_with(name.zip(address)).map_err(PapersError::Invalid)?;
    let mut tx = db.begin().await?;
    let booking =
        db::bookings::lock(&mut tx, id).await?.filter(|b| b.user_id == user_id).ok_or(PapersError::NotFound)?;
    if db::invoices::invoice_of(&mut tx, booking.id).await?.is_some() {
        return Err(PapersError::InvoiceIssued);
    }
    sqlx::query("UPDATE bookings SET billing_name = $2, billing_address = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(Some(name).filter(|n| !n.is_empty()))
        .bind(Some(address).filter(|a| !a.is_empty()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// An organizer's billing details as typed.
#[derive(Debug, Clone, Default)]
pub struct BillingInput {
    pub legal_name: String,
    pub address: String,
    pub tax_id: Option<String>,
    pub invoice_footer: Option<String>,
    pub invoice_prefix: Option<String>,
}

pub const PREFIX_MAX: usize = 12;

/// Saves `user_id`'s billing details, the seller on invoices issued from
/// now on (those issued keep what they said).
pub async fn save_billing_profile(
    db: &PgPool,
    user_id: Uuid,
    organization: Option<Uuid>,
    input: BillingInput,
) -> Result<db::invoices::BillingProfile, PapersError> {
    let mut tx = db.begin().await?;
    // Who may comes before what they sent.
    let organization = billing_of(&mut tx, user_id, organization).await?;
    let mut v = crate::domain::Violations::new();
    // What a page prints whole: a name on one line, six lines of address
    // or footer of one printed line each (a paper never cuts them).
    let legal_name = v.line("legal_name", &input.legal_name, 1, NAME_MAX);
    let address = v.paragraph("address", &input.address, 1, 1000);
    let tax_id = v.line("tax_id", input.tax_id.as_deref().unwrap_or(""), 0, 50);
    let invoice_footer = v.paragraph("invoice_footer", input.invoice_footer.as_deref().unwrap_or(""), 0, 1000);
    for (field, text) in
        [("address", &input.address), ("invoice_footer", input.invoice_footer.as_ref().unwrap_or(&String::new()))]
    {
        check_printable(&mut v, field, text);
    }
    let prefix = input.invoice_prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()).unwrap_or("INV");
    if prefix.len() > PREFIX_MAX || !prefix.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        v.add("invoice_prefix", format!("capital letters and digits, at most {PREFIX_MAX}"));
    }
    let fields = legal_name.zip(address).zip(tax_id.zip(invoice_footer));
    let ((legal_name, address), (tax_id, invoice_footer)) = v.finish_with(fields).map_err(PapersError::Invalid)?;
    let profile =
        db::invoices::BillingProfile { legal_name, address, tax_id, invoice_footer, invoice_prefix: prefix.to_owned() };
    // One series a year: an auditor reads its numbers for gaps.
    if db::invoices::other_series_this_year(&mut tx, organization, prefix, chrono::Utc::now()).await? {
        return Err(PapersError::Invalid(vec![crate::domain::FieldError {
            field: "invoice_prefix".into(),
            message: "this year's invoices have another prefix: it can change from next year on".into(),
        }]));
    }
    db::invoices::save_profile(&mut tx, organization, &profile).await?;
    // Several owners may change what every invoice says: the log says who.
    let detail =
        serde_json::json!({"legal_name": profile.legal_name, "tax_id": profile.tax_id, "invoice_prefix": prefix});
    db::teams::audit(&mut tx, organization, Some(user_id), "billing.changed", None, &profile.legal_name, detail)
        .await?;
    tx.commit().await?;
    Ok(profile)
}

/// Whether `user_id` may read and change `organization`'s billing (their
/// personal one when `None`): asked before what a request sent is read.
pub async fn billing_access(db: &PgPool, user_id: Uuid, organization: Option<Uuid>) -> Result<(), PapersError> {
    let mut conn = db.acquire().await?;
    billing_of(&mut conn, user_id, organization).await.map(|_| ())
}

/// The organization whose billing details, invoice series and invoices a
/// person asks about: `organization`, or their personal one (its id is
/// theirs: `/me/billing`), while their role there allows its billing.
async fn billing_of(conn: &mut PgConnection, user_id: Uuid, organization: Option<Uuid>) -> Result<Uuid, PapersError> {
    let organization = match organization {
        Some(id) if id != user_id => id,
        // Their personal one (its id is theirs), made on first use.
        _ => db::teams::ensure_personal(conn, user_id).await?,
    };
    match crate::event::access::authorize(conn, user_id, organization, Action::Billing).await? {
        Ok(_) => Ok(organization),
        Err(crate::event::access::Refusal::NotMember) => Err(PapersError::OrganizationNotFound),
        Err(crate::event::access::Refusal::NotAllowed(_)) => Err(PapersError::NotAllowed),
    }
}

/// The billing details of `organization` (the person's personal one when
/// `None`), if set.
pub async fn billing_profile(
    db: &PgPool,
    user_id: Uuid,
    organization: Option<Uuid>,
) -> Result<Option<db::invoices::BillingProfile>, PapersError> {
    let mut conn = db.acquire().await?;
    let organization = billing_of(&mut conn, user_id, organization).await?;
    Ok(db::invoices::profile(&mut conn, organization).await?)
}

/// The name and address the buyer gave for booking `id`'s invoice.
pub async fn booking_billing(db: &PgPool, viewer: Uuid, id: Uuid) -> Result<(String, String), PapersError> {
    let mut conn = db.acquire().await?;
    let booking = viewed(&mut conn, viewer, id).await?;
    Ok((booking.billing_name.unwrap_or_default(), booking.billing_address.unwrap_or_default()))
}

/// Most papers one export holds: a longer period is asked in parts.
pub const EXPORT_MAX: usize = 2000;

/// Why a period's papers cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("more than {EXPORT_MAX} invoices and credit notes in this period: choose a shorter one")]
    TooMany,
    #[error(transparent)]
    Papers(#[from] PapersError),
}

/// The ledger of `rows` as CSV: a line per invoice or credit note, with its
/// tax per rate (a column each), amounts in the currency's units.
pub fn ledger(rows: &[db::invoices::InvoiceRow]) -> String {
    use crate::domain::csv::{cell, record};
    use crate::domain::money::plain;
    let mut rates: Vec<i32> = rows.iter().flat_map(|r| r.document.rates.iter().map(|t| t.tax_rate)).collect();
    rates.sort_unstable();
    rates.dedup();
    let mut head =
        vec!["number", "kind", "issued_at", "booking", "buyer", "currency", "net", "tax", "gross", "credits"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
    head.extend(rates.iter().map(|r| format!("tax {}", crate::domain::tax::rate_label(*r))));
    let mut out = record(head.iter().map(String::as_str));
    for row in rows {
        let d = &row.document.0;
        let money = |cents: i64| plain(cents, &d.currency);
        // Amounts are ours (digits, a point, a minus): written as numbers,
        // without the formula guard that would turn "-5.00" into text.
        let mut line = vec![
            cell(&d.number),
            cell(d.kind.as_str()),
            d.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            cell(&d.reference),
            cell(&d.buyer.name),
            cell(&d.currency),
            money(d.totals.net_cents),
            money(d.totals.tax_cents),
            money(d.totals.gross_cents),
            cell(d.credits.as_deref().unwrap_or("")),
        ];
        for rate in &rates {
            let tax = d.rates.iter().find(|r| r.tax_rate == *rate).map_or(0, |r| r.amounts.tax_cents);
            line.push(money(tax));
        }
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// `organizer`'s invoices and credit notes issued in `[from, to)`: a ZIP of
/// their PDFs and `ledger.csv`.
pub async fn export(
    db: &PgPool,
    user_id: Uuid,
    organization: Option<Uuid>,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, ExportError> {
    let rows = {
        let mut conn = db.acquire().await.map_err(PapersError::from)?;
        let organization = billing_of(&mut conn, user_id, organization).await?;
        db::invoices::of_period(&mut conn, organization, from, to, EXPORT_MAX as i64 + 1)
            .await
            .map_err(PapersError::from)?
    };
    if rows.len() > EXPORT_MAX {
        return Err(ExportError::TooMany);
    }
    let zip = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ticket_pdf::PdfError> {
        use std::io::Write;
        let failed = |err: &dyn std::fmt::Display| ticket_pdf::PdfError(err.to_string());
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        // PDFs are compressed already; the ledger is small.
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for row in &rows {
            let pdf = invoice_pdf::render(&row.document)?;
            zip.start_file(format!("{}.pdf", row.number), options).map_err(|e| failed(&e))?;
            zip.write_all(&pdf).map_err(|e| failed(&e))?;
        }
        zip.start_file("ledger.csv", options).map_err(|e| failed(&e))?;
        zip.write_all(ledger(&rows).as_bytes()).map_err(|e| failed(&e))?;
        Ok(zip.finish().map_err(|e| failed(&e))?.into_inner())
    })
    .await
    .map_err(|err| PapersError::from(ticket_pdf::PdfError::from_join(&err)))?
    .map_err(PapersError::from)?;
    Ok(zip)
}
