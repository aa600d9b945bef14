//! Invoices and credit notes of a booking, their PDFs, the buyer's billing
//! name and address, and the organizer's billing details (`papers`).

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path};
use crate::db::invoices::{BillingProfile, InvoiceRow};
use crate::domain::invoice::Kind;
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;
use crate::papers::BillingInput;

#[derive(Debug, Serialize, ToSchema)]
pub struct Invoice {
    /// `{prefix}-{year}-{n}`, gapless per organizer and year.
    pub number: String,
    /// `invoice` or `credit_note`.
    #[schema(value_type = String)]
    pub kind: Kind,
    pub issued_at: DateTime<Utc>,
    /// Minor units; negative on a credit note.
    pub gross_cents: i64,
    pub net_cents: i64,
    pub tax_cents: i64,
    pub currency: String,
    /// A credit note: the invoice it corrects.
    pub credits: Option<String>,
    pub pdf_url: String,
}

impl Invoice {
    fn of(booking_id: Uuid, row: InvoiceRow) -> Self {
        let d = row.document.0;
        Self {
            pdf_url: format!("/api/v1/bookings/{booking_id}/invoices/{}.pdf", d.number),
            number: d.number,
            kind: d.kind,
            issued_at: d.issued_at,
            gross_cents: d.totals.gross_cents,
            net_cents: d.totals.net_cents,
            tax_cents: d.totals.tax_cents,
            currency: d.currency,
            credits: d.credits,
        }
    }
}

/// A booking's invoice (issued when a paid booking is confirmed) and
/// credit notes (one per refund), oldest first; empty for a free or unpaid
/// booking (its buyer, or the event's organizer).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/invoices", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The booking's invoices and credit notes", body = Vec<Invoice>),
        (status = 404, description = "No such booking of the caller's, or of an event they organize", body = Problem),
    ))]
pub async fn booking_invoices(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<Invoice>>> {
    let rows = crate::papers::invoices(&state.db, user.id, id).await?;
    Ok(axum::Json(rows.into_iter().map(|row| Invoice::of(id, row)).collect()))
}

/// An invoice or credit note of a booking as a PDF (`{number}.pdf`).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/invoices/{file}", tag = "invoices",
    params(("id" = Uuid, Path), ("file" = String, Path, description = "`{number}.pdf`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The PDF", body = Vec<u8>, content_type = "application/pdf"),
        (status = 404, description = "No such booking of the caller's (or of an event they organize), or no such number", body = Problem),
    ))]
pub async fn invoice_pdf(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, file)): Path<(Uuid, String)>,
) -> ApiResult<Response> {
    let number = file.strip_suffix(".pdf").ok_or(ApiError::NotFound("invoice"))?;
    let pdf = crate::papers::invoice_pdf(&state.db, user.id, id, number).await?;
    Ok(super::bookings::download("application/pdf", &format!("{number}.pdf"), pdf))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBillingRequest {
    /// The name on the invoice (blank: the account's), at most 200 characters.
    pub name: Option<String>,
    /// A postal address, lines separated by newlines, at most 1000 characters.
    pub address: Option<String>,
}

/// The name and address for the booking's invoice (its buyer), until the
/// invoice is issued.
#[utoipa::path(put, path = "/api/v1/bookings/{id}/billing", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = BookingBillingRequest, security(("bearer" = [])),
    responses(
        (status = 204, description = "Saved"),
        (status = 404, description = "No such booking of the caller's", body = Problem),
        (status = 409, description = "The invoice was issued already (`invoice_issued`)", body = Problem),
        (status = 422, description = "Too long", body = Problem),
    ))]
pub async fn put_booking_billing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<BookingBillingRequest>,
) -> ApiResult<axum::http::StatusCode> {
    let (name, address) = (req.name.unwrap_or_default(), req.address.unwrap_or_default());
    crate::papers::set_billing(&state.db, user.id, id, &name, &address).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    /// The seller's legal name on invoices (1–200 characters).
    pub legal_name: String,
    /// The seller's address, lines separated by newlines.
    pub address: String,
    /// VAT or tax number (optional).
    #[serde(default)]
    pub tax_id: Option<String>,
    /// Printed at the foot of every invoice (bank details, registration).
    #[serde(default)]
    pub invoice_footer: Option<String>,
    /// Capital letters and digits, at most 12 (default `INV`): numbers are
    /// `{prefix}-{year}-{n}`.
    #[serde(default)]
    pub invoice_prefix: Option<String>,
}

impl From<BillingProfile> for Billing {
    fn from(p: BillingProfile) -> Self {
        Self {
            legal_name: p.legal_name,
            address: p.address,
            tax_id: Some(p.tax_id),
            invoice_footer: Some(p.invoice_footer),
            invoice_prefix: Some(p.invoice_prefix),
        }
    }
}

/// The caller's billing details as an organizer (the seller on their
/// invoices); 404 until set.
#[utoipa::path(get, path = "/api/v1/me/billing", tag = "invoices", security(("bearer" = [])),
    responses(
        (status = 200, description = "The billing details", body = Billing),
        (status = 403, description = "The caller's role in their own organization no longer allows its billing", body = Problem),
        (status = 404, description = "None set: invoices name the account", body = Problem),
    ))]
pub async fn get_billing(State(state): State<AppState>, user: CurrentUser) -> ApiResult<axum::Json<Billing>> {
    billing_of(&state, user, None).await
}

/// An organization's billing details (the seller on the invoices of its
/// events), for its owners; 404 until set.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/billing", tag = "invoices", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The billing details", body = Billing),
        (status = 403, description = "The caller's role does not allow the organization's billing", body = Problem),
        (status = 404, description = "None set, or not an organization of the caller", body = Problem),
    ))]
pub async fn get_organization_billing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Billing>> {
    billing_of(&state, user, Some(id)).await
}

async fn billing_of(state: &AppState, user: CurrentUser, organization: Option<Uuid>) -> ApiResult<axum::Json<Billing>> {
    let profile = crate::papers::billing_profile(&state.db, user.id, organization)
        .await?
        .ok_or(ApiError::NotFound("billing details"))?;
    Ok(axum::Json(profile.into()))
}

/// Sets the caller's billing details; invoices issued from now on carry
/// them (those issued never change).
#[utoipa::path(put, path = "/api/v1/me/billing", tag = "invoices", request_body = Billing, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = Billing),
        (status = 403, description = "The caller's role in their own organization no longer allows its billing", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
pub async fn put_billing(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(req): Json<Billing>,
) -> ApiResult<axum::Json<Billing>> {
    save_billing(&state, user, None, req).await
}

/// Sets an organization's billing details (its owners); invoices of its
/// events issued from now on carry them.
#[utoipa::path(put, path = "/api/v1/organizations/{id}/billing", tag = "invoices", params(("id" = Uuid, Path)),
    request_body = Billing, security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved", body = Billing),
        (status = 403, description = "The caller's role does not allow the organization's billing", body = Problem),
        (status = 404, description = "Not an organization of the caller", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
pub async fn put_organization_billing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<Billing>,
) -> ApiResult<axum::Json<Billing>> {
    save_billing(&state, user, Some(id), req).await
}

async fn save_billing(
    state: &AppState,
    user: CurrentUser,
    organization: Option<Uuid>,
    req: Billing,
) -> ApiResult<axum::Json<Billing>> {
    let input = BillingInput {
        legal_name: req.legal_name,
        address: req.address,
        tax_id: req.tax_id,
        invoice_footer: req.invoice_footer,
        invoice_prefix: req.invoice_prefix,
    };
    Ok(axum::Json(crate::papers::save_billing_profile(&state.db, user.id, organization, input).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// First day (`YYYY-MM-DD`, UTC).
    pub from: Option<String>,
    /// Last day, included.
    pub to: Option<String>,
}

/// The period a `from`/`to` pair names: `[from 00:00, the day after `to`)`, UTC.
pub fn period(params: &PeriodParams) -> Result<(DateTime<Utc>, DateTime<Utc>), Vec<crate::domain::FieldError>> {
    let mut v = crate::domain::Violations::new();
    let mut day = |field: &str, raw: Option<&str>| {
        // Years 1 to 9999 (PostgreSQL's, and the people's).
        let parsed = raw
            .and_then(|r| chrono::NaiveDate::parse_from_str(r.trim(), "%Y-%m-%d").ok())
            .filter(|d| (1..=9998).contains(&chrono::Datelike::year(d)));
        if parsed.is_none() {
            v.add(field, "a day as YYYY-MM-DD");
        }
        parsed
    };
    let (from, to) = (day("from", params.from.as_deref()), day("to", params.to.as_deref()));
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            v.add("to", "must not be before from");
        }
    }
    let (from, to) = v.finish_with(from.zip(to))?;
    let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let end = to.succ_opt().unwrap_or(to).and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    Ok((start, end))
}

/// The caller's invoices and credit notes of a period, for the books: a ZIP
/// of their PDFs and `ledger.csv` (number, kind, date, booking, buyer,
/// currency, net, tax, gross, the invoice a credit note corrects, the tax
/// per rate).
#[utoipa::path(get, path = "/api/v1/me/invoices.zip", tag = "invoices", params(PeriodParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ZIP", body = Vec<u8>, content_type = "application/zip"),
        (status = 403, description = "The caller's role in their own organization no longer allows its billing", body = Problem),
        (status = 422, description = "`from`/`to` not days, in the wrong order, or more than 2000 papers in the period", body = Problem),
    ))]
pub async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::extract::Query(params): axum::extract::Query<PeriodParams>,
) -> ApiResult<Response> {
    crate::papers::billing_access(&state.db, user.id, None).await?;
    let (from, to) = period(&params).map_err(ApiError::Validation)?;
    let zip = crate::papers::export(&state.db, user.id, None, from, to).await?;
    Ok(zip_response(&params, zip))
}

/// An organization's invoices and credit notes of a period (its owners), as
/// `/api/v1/me/invoices.zip` gives a person's own.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/invoices.zip", tag = "invoices",
    params(("id" = Uuid, Path), PeriodParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "The ZIP", body = Vec<u8>, content_type = "application/zip"),
        (status = 403, description = "The caller's role does not allow the organization's billing", body = Problem),
        (status = 404, description = "Not an organization of the caller", body = Problem),
        (status = 422, description = "`from`/`to` not days, in the wrong order, or more than 2000 papers in the period", body = Problem),
    ))]
pub async fn organization_export(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    axum::extract::Query(params): axum::extract::Query<PeriodParams>,
) -> ApiResult<Response> {
    crate::papers::billing_access(&state.db, user.id, Some(id)).await?;
    let (from, to) = period(&params).map_err(ApiError::Validation)?;
    let zip = crate::papers::export(&state.db, user.id, Some(id), from, to).await?;
    Ok(zip_response(&params, zip))
}

/// A period's ZIP as a download.
pub fn zip_response(params: &PeriodParams, zip: Vec<u8>) -> Response {
    let day = |d: &Option<String>| d.as_deref().unwrap_or_default().trim().to_owned();
    let name = format!("invoices-{}-{}.zip", day(&params.from), day(&params.to));
    super::bookings::download("application/zip", &name, zip)
}
