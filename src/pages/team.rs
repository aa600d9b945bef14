//! An invitation's link (`/invitations/{token}`): what it offers, and the
//! button that takes it. Opening the link does nothing by itself (a mail
//! program that looks at links first cannot use it up); signing in comes
//! back here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

use super::error::PageError;
use super::render::{page_with_status, see_other};
use super::session::{Acting, Visitor};
use crate::http::extract::Path;
use crate::http::state::AppState;
use crate::team::TeamError;

/// Why a link offers nothing, in words, with the status it is answered with.
fn refusal(err: &TeamError) -> Option<(StatusCode, String)> {
    match err {
        TeamError::InvitationNotFound => Some((StatusCode::NOT_FOUND, "This invitation link is not valid.".into())),
        TeamError::InvitationUsed | TeamError::InvitationExpired | TeamError::WrongAccount | TeamError::Unverified => {
            Some((StatusCode::CONFLICT, format!("{}.", capitalized(&err.to_string()))))
        }
        TeamError::LastOwner => Some((StatusCode::CONFLICT, format!("{}.", capitalized(&err.to_string())))),
        _ => None,
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    match crate::team::invitation(&state.db, &token).await {
        Ok(view) => {
            let role = view.invitation.role.0;
            let data = context! {
                token,
                organization => view.organization.name,
                email => view.invitation.email,
                role => role.label(),
                expires_at => view.invitation.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                signed_in => visitor.user.is_some(),
                problem => None::<String>,
            };
            Ok(page_with_status(&state.pages, &visitor, StatusCode::OK, "invitation.html", data))
        }
        Err(err) => match refusal(&err) {
            Some((status, problem)) => {
                Ok(page_with_status(&state.pages, &visitor, status, "invitation.html", context! { problem }))
            }
            None => Err(crate::error::ApiError::from(err).into()),
        },
    }
}

pub async fn accept(
    State(state): State<AppState>,
    Path(token): Path<String>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/invitations/{token}"))?;
    let (visitor, _) = acting.into_parts();
    match crate::team::accept(&state.db, user.id, &token, state.config.email_verification_required()).await {
        Ok(_) => Ok(see_other("/manage")),
        Err(err) => match refusal(&err) {
            Some((status, problem)) => {
                Ok(page_with_status(&state.pages, &visitor, status, "invitation.html", context! { problem }))
            }
            None => Err(crate::error::ApiError::from(err).into()),
        },
    }
}
