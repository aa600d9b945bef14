//! The organizer's billing details (`/manage/billing`): the seller on their
//! invoices, and the series their numbers run in.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::error::PageError;
use super::manage::organizer;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::http::state::AppState;
use crate::papers::{BillingInput, PapersError};

#[derive(serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<Saved>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let profile = crate::papers::billing_profile(&state.db, user.id).await.map_err(ApiError::from)?;
    let values = profile_values(profile);
    render(&state, &visitor, values, HashMap::new(), query.saved.is_some())
}

pub async fn save(State(state): State<AppState>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user("/manage/billing")?;
    let (visitor, sent) = acting.into_parts();
    let input = BillingInput {
        legal_name: sent.get("legal_name").to_owned(),
        address: sent.get("address").to_owned(),
        tax_id: Some(sent.get("tax_id").to_owned()),
        invoice_footer: Some(sent.get("invoice_footer").to_owned()),
        invoice_prefix: Some(sent.get("invoice_prefix").to_owned()),
    };
    match crate::papers::save_billing_profile(&state.db, user.id, input).await {
        Ok(_) => Ok(see_other("/manage/billing?saved=1")),
        Err(PapersError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (e.field, e.message)).collect();
            render(&state, &visitor, sent.0.clone(), errors, false)
        }
        Err(err) => Err(ApiError::from(err).into()),
    }
}

/// The form's fields from the saved details (the default prefix without).
fn profile_values(profile: Option<crate::db::invoices::BillingProfile>) -> HashMap<String, String> {
    match profile {
        Some(p) => [
            ("legal_name", p.legal_name),
            ("address", p.address),
            ("tax_id", p.tax_id),
            ("invoice_footer", p.invoice_footer),
            ("invoice_prefix", p.invoice_prefix),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        None => HashMap::from([("invoice_prefix".to_owned(), "INV".to_owned())]),
    }
}

fn render(
    state: &AppState,
    visitor: &Visitor,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    saved: bool,
) -> Result<Response, PageError> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let data = context! { values, errors, saved };
    Ok(page_with_status(&state.pages, visitor, status, "manage/billing.html", data))
}

/// "Download the period": the organizer's invoices and credit notes of a
/// period as a ZIP (the API's own); days that are not days are said next to
/// their fields on the billing page.
pub async fn export(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(params): Query<crate::http::invoices::PeriodParams>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let refused = |errors: Vec<crate::domain::FieldError>| async {
        let profile = crate::papers::billing_profile(&state.db, user.id).await.map_err(ApiError::from)?;
        let mut values = profile_values(profile);
        values.insert("from".to_owned(), params.from.clone().unwrap_or_default());
        values.insert("to".to_owned(), params.to.clone().unwrap_or_default());
        let errors = errors.into_iter().map(|e| (format!("period_{}", e.field), e.message)).collect();
        render(&state, &visitor, values, errors, false)
    };
    let (from, to) = match crate::http::invoices::period(&params) {
        Ok(period) => period,
        Err(errors) => return refused(errors).await,
    };
    match crate::papers::export(&state.db, user.id, from, to).await {
        Ok(zip) => Ok(crate::http::invoices::zip_response(&params, zip)),
        Err(err @ crate::papers::ExportError::TooMany) => {
            refused(vec![crate::domain::FieldError { field: "to".into(), message: err.to_string() }]).await
        }
        Err(crate::papers::ExportError::Papers(err)) => Err(ApiError::from(err).into()),
    }
}
