//! An organization's billing details: the seller on the invoices of its
//! events, and the series their numbers run in. `/manage/billing` is a
//! person's personal organization's, `/manage/organizations/{id}/billing`
//! a team's (its owners').

use std::collections::HashMap;

use axum::extract::{Path, State};
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
use uuid::Uuid;

#[derive(serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// Whose billing details a page is about: the person's personal
/// organization's, or a team's.
struct Scope {
    organization: Option<Uuid>,
    /// The team's name (none for the personal one).
    name: Option<String>,
}

impl Scope {
    const PERSONAL: Scope = Scope { organization: None, name: None };

    /// A team `user` is a member of (the papers room decides whether their
    /// role allows its billing; a page refused is not there).
    async fn team(state: &AppState, user: Uuid, id: Uuid) -> Result<Scope, PageError> {
        let mine = crate::team::mine(&state.db, user).await.map_err(ApiError::from)?;
        let me = mine.into_iter().find(|m| m.organization.id == id).ok_or(PageError::NotFound)?;
        // Another person's personal organization is named as a team is (by its person).
        let name = (me.organization.personal_of != Some(user)).then_some(me.organization.name);
        Ok(Scope { organization: Some(id), name })
    }

    /// Where the page and its forms are.
    fn base(&self) -> String {
        match self.organization {
            Some(id) => format!("/manage/organizations/{id}"),
            None => "/manage".to_owned(),
        }
    }
}

pub async fn form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<Saved>,
) -> Result<Response, PageError> {
    show(&state, &visitor, Scope::PERSONAL, query.saved.is_some()).await
}

pub async fn team_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(query): Query<Saved>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let scope = Scope::team(&state, user.id, id).await?;
    show(&state, &visitor, scope, query.saved.is_some()).await
}

async fn show(state: &AppState, visitor: &Visitor, scope: Scope, saved: bool) -> Result<Response, PageError> {
    let user = organizer(visitor)?;
    let profile = crate::papers::billing_profile(&state.db, user.id, scope.organization).await?;
    render(state, visitor, &scope, profile_values(profile), HashMap::new(), saved)
}

pub async fn save(State(state): State<AppState>, acting: Acting) -> Result<Response, PageError> {
    store(&state, acting, Scope::PERSONAL).await
}

pub async fn team_save(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}/billing"))?;
    let scope = Scope::team(&state, user.id, id).await?;
    store(&state, acting, scope).await
}

async fn store(state: &AppState, acting: Acting, scope: Scope) -> Result<Response, PageError> {
    let user = acting.user(format!("{}/billing", scope.base()))?;
    let (visitor, sent) = acting.into_parts();
    let input = BillingInput {
        legal_name: sent.get("legal_name").to_owned(),
        address: sent.get("address").to_owned(),
        tax_id: Some(sent.get("tax_id").to_owned()),
        invoice_footer: Some(sent.get("invoice_footer").to_owned()),
        invoice_prefix: Some(sent.get("invoice_prefix").to_owned()),
    };
    match crate::papers::save_billing_profile(&state.db, user.id, scope.organization, input).await {
        Ok(_) => Ok(see_other(&format!("{}/billing?saved=1", scope.base()))),
        Err(PapersError::Invalid(invalid)) => {
            let errors = invalid.into_iter().map(|e| (e.field, e.message)).collect();
            render(state, &visitor, &scope, sent.0.clone(), errors, false)
        }
        Err(err) => Err(err.into()),
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
    scope: &Scope,
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    saved: bool,
) -> Result<Response, PageError> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let data = context! { values, errors, saved, base => scope.base(), team => scope.name };
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
    download(&state, &visitor, Scope::PERSONAL, params).await
}

pub async fn team_export(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    Query(params): Query<crate::http::invoices::PeriodParams>,
) -> Result<Response, PageError> {
    let user = organizer(&visitor)?;
    let scope = Scope::team(&state, user.id, id).await?;
    download(&state, &visitor, scope, params).await
}

async fn download(
    state: &AppState,
    visitor: &Visitor,
    scope: Scope,
    params: crate::http::invoices::PeriodParams,
) -> Result<Response, PageError> {
    let user = organizer(visitor)?;
    let refused = |errors: Vec<crate::domain::FieldError>| async {
        let profile = crate::papers::billing_profile(&state.db, user.id, scope.organization).await?;
        let mut values = profile_values(profile);
        values.insert("from".to_owned(), params.from.clone().unwrap_or_default());
        values.insert("to".to_owned(), params.to.clone().unwrap_or_default());
        let errors = errors.into_iter().map(|e| (format!("period_{}", e.field), e.message)).collect();
        render(state, visitor, &scope, values, errors, false)
    };
    let (from, to) = match crate::http::invoices::period(&params) {
        Ok(period) => period,
        Err(errors) => return refused(errors).await,
    };
    match crate::papers::export(&state.db, user.id, scope.organization, from, to).await {
        Ok(zip) => Ok(crate::http::invoices::zip_response(&params, zip)),
        Err(err @ crate::papers::ExportError::TooMany) => {
            refused(vec![crate::domain::FieldError { field: "to".into(), message: err.to_string() }]).await
        }
        Err(crate::papers::ExportError::Papers(err)) => Err(err.into()),
    }
}
