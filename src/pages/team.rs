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
use crate::domain::team::{Action, Role};
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

/// "Teams": the person's organizations with their role, and a new one.
pub async fn organizations(State(state): State<AppState>, visitor: Visitor) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let mine = crate::team::mine(&state.db, user.id).await.map_err(crate::error::ApiError::from)?;
    render_organizations(&state, &visitor, &mine, user.id, (None, None), StatusCode::OK)
}

fn render_organizations(
    state: &AppState,
    visitor: &Visitor,
    mine: &[crate::db::teams::MemberOf],
    user: uuid::Uuid,
    (typed, error): (Option<&str>, Option<String>),
    status: StatusCode,
) -> Result<Response, PageError> {
    let organizations: Vec<_> = mine
        .iter()
        .map(|m| {
            context! {
                id => m.organization.id.to_string(),
                name => m.organization.name,
                personal => m.organization.personal_of == Some(user),
                role => m.role.0.label(),
                open => m.role.0.allows(Action::ViewAudit),
            }
        })
        .collect();
    let data = context! { organizations, errors => context! { name => error }, values => context! { name => typed } };
    Ok(page_with_status(&state.pages, visitor, status, "manage/organizations.html", data))
}

pub async fn create(State(state): State<AppState>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user("/manage/organizations")?;
    let (visitor, form) = acting.into_parts();
    match crate::team::create(&state.db, user.id, form.get("name")).await {
        Ok(org) => Ok(see_other(&format!("/manage/organizations/{}", org.id))),
        Err(TeamError::Invalid(errors)) => {
            let mine = crate::team::mine(&state.db, user.id).await.map_err(crate::error::ApiError::from)?;
            let message = errors.into_iter().next().map(|e| e.message);
            let typed = Some(form.get("name"));
            render_organizations(&state, &visitor, &mine, user.id, (typed, message), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(err) => Err(crate::error::ApiError::from(err).into()),
    }
}

#[derive(serde::Deserialize)]
pub struct Notice {
    done: Option<String>,
}

/// One organization: its members and invitations (owners), its log (owners
/// and managers); a 404 page for anyone else.
pub async fn organization(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<uuid::Uuid>,
    crate::http::extract::Query(notice): crate::http::extract::Query<Notice>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let done = notice.done.filter(|d| ["invited", "changed", "removed", "withdrawn"].contains(&d.as_str()));
    organization_page(&state, &visitor, user.id, id, Default::default(), done, StatusCode::OK).await
}

async fn organization_page(
    state: &AppState,
    visitor: &Visitor,
    user: uuid::Uuid,
    id: uuid::Uuid,
    errors: std::collections::HashMap<String, String>,
    done: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mine = crate::team::mine(&state.db, user).await.map_err(crate::error::ApiError::from)?;
    let Some(me) = mine.into_iter().find(|m| m.organization.id == id) else { return Err(PageError::NotFound) };
    let role = me.role.0;
    if !role.allows(Action::ViewAudit) {
        return Err(PageError::NotFound);
    }
    let owner = role.allows(Action::ManageMembers);
    let (members, invitations) = if owner {
        let (_, members, invitations) =
            crate::team::members(&state.db, user, id).await.map_err(crate::error::ApiError::from)?;
        (members, invitations)
    } else {
        (Vec::new(), Vec::new())
    };
    let log = crate::team::audit_log(&state.db, user, id, None, 50).await.map_err(crate::error::ApiError::from)?;
    let roles: Vec<_> = Role::ALL.iter().map(|r| context! { value => r.as_str(), label => r.label() }).collect();
    let data = context! {
        organization => context! {
            id => id.to_string(),
            name => me.organization.name,
            personal_of => me.organization.personal_of.map(|p| p.to_string()),
        },
        owner,
        you => user.to_string(),
        roles,
        members => members.iter().map(|m| context! {
            id => m.user_id.to_string(), name => m.name, email => m.email, role => m.role.0.as_str(), label => m.role.0.label(),
        }).collect::<Vec<_>>(),
        invitations => invitations.iter().map(|i| context! {
            id => i.id.to_string(), email => i.email, role => i.role.0.label(),
            expires_at => i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            expired => i.expires_at <= chrono::Utc::now(),
        }).collect::<Vec<_>>(),
        log => log.iter().map(|a| context! {
            at => a.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor => a.actor_name.clone().unwrap_or_else(|| "—".into()),
            action => a.action, subject => a.subject,
        }).collect::<Vec<_>>(),
        values => context! { email => errors.get("email_value").cloned(), role => errors.get("role_value").cloned() },
        errors,
        done,
    };
    Ok(page_with_status(&state.pages, visitor, status, "manage/organization.html", data))
}

/// What a member change refused says, next to where it was asked.
fn member_problem(err: TeamError) -> Result<std::collections::HashMap<String, String>, PageError> {
    let said = |message: String| Ok([("members".to_owned(), message)].into());
    match err {
        TeamError::Invalid(errors) => Ok(errors.into_iter().map(|e| (e.field, e.message)).collect()),
        TeamError::InvitationNotFound => said("That invitation was withdrawn or taken already.".into()),
        TeamError::LastOwner | TeamError::MemberNotFound | TeamError::PersonalOrganization => {
            said(format!("{}.", capitalized(&err.to_string())))
        }
        TeamError::NotFound | TeamError::NotAllowed => Err(PageError::NotFound),
        err => Err(crate::error::ApiError::from(err).into()),
    }
}

pub async fn invite(
    State(state): State<AppState>,
    Path(id): Path<uuid::Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}"))?;
    let (visitor, form) = acting.into_parts();
    match crate::team::invite(&state.db, user.id, id, form.get("email"), form.get("role")).await {
        Ok(_) => Ok(see_other(&format!("/manage/organizations/{id}?done=invited"))),
        Err(err) => {
            let mut errors = member_problem(err)?;
            errors.insert("email_value".into(), form.get("email").to_owned());
            errors.insert("role_value".into(), form.get("role").to_owned());
            organization_page(&state, &visitor, user.id, id, errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// A member change: `role` (a new role), `remove`, or `withdraw` (an invitation).
pub async fn change(
    State(state): State<AppState>,
    Path((id, subject, what)): Path<(uuid::Uuid, uuid::Uuid, String)>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/organizations/{id}"))?;
    let (visitor, form) = acting.into_parts();
    let (done, outcome) = match what.as_str() {
        "role" => {
            ("changed", crate::team::set_role(&state.db, user.id, id, subject, form.get("role")).await.map(|_| ()))
        }
        "remove" => ("removed", crate::team::remove(&state.db, user.id, id, subject).await),
        "withdraw" => ("withdrawn", crate::team::withdraw(&state.db, user.id, id, subject).await),
        _ => return Err(PageError::NotFound),
    };
    match outcome {
        // Who left, or gave themselves a role that may not open this page,
        // goes back to their list.
        Ok(()) if subject == user.id && what != "withdraw" => Ok(see_other("/manage/organizations")),
        Ok(()) => Ok(see_other(&format!("/manage/organizations/{id}?done={done}"))),
        Err(err) => {
            let status = match err {
                TeamError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CONFLICT,
            };
            // A row's refusal is said above the members, not at the invite form.
            let errors = member_problem(err)?.into_values().map(|message| ("members".to_owned(), message)).collect();
            organization_page(&state, &visitor, user.id, id, errors, None, status).await
        }
    }
}
