//! Organizations, members, invitations and the audit log (`team`).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path, Query};
use crate::db::teams::{AuditRow, InvitationRow, MemberOf, MemberRow};
use crate::domain::team::Role;
use crate::error::{ApiResult, Problem};
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    /// Whether it is the caller's own (made with their first event; its id is theirs).
    pub personal: bool,
    /// The caller's role in it.
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl Organization {
    fn of(viewer: Uuid, m: MemberOf) -> Self {
        let o = m.organization;
        Self {
            id: o.id,
            name: o.name,
            personal: o.personal_of == Some(viewer),
            role: m.role.0,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl From<MemberRow> for Member {
    fn from(m: MemberRow) -> Self {
        Self { user_id: m.user_id, name: m.name, email: m.email, role: m.role.0, joined_at: m.created_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// The link works until then.
    pub expires_at: DateTime<Utc>,
}

impl From<InvitationRow> for Invitation {
    fn from(i: InvitationRow) -> Self {
        Self { id: i.id, email: i.email, role: i.role.0, created_at: i.created_at, expires_at: i.expires_at }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Members {
    pub members: Vec<Member>,
    /// Invitations not taken yet (run-out ones too, until they are taken or replaced).
    pub invitations: Vec<Invitation>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrganization {
    /// 1 to 120 characters.
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    pub email: String,
    /// `owner`, `manager`, `box_office` or `door`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RoleChange {
    /// `owner`, `manager`, `box_office` or `door`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationPreview {
    pub organization: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who did it (null: the system, or an account since deleted).
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    /// `booking.refunded`, `booking.marked_paid`, `event.updated`, `member.role_changed`, …
    pub action: String,
    pub event_id: Option<Uuid>,
    /// What it was done to: a booking's reference, a member's address, an event's title.
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditRow> for AuditEntry {
    fn from(a: AuditRow) -> Self {
        Self {
            id: a.id,
            at: a.at,
            actor_id: a.actor_id,
            actor_name: a.actor_name,
            action: a.action,
            event_id: a.event_id,
            subject: a.subject,
            detail: a.detail.0,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Entries before this time (the last one of the previous page).
    pub before: Option<DateTime<Utc>>,
    /// 1 to 200 (default 50).
    pub limit: Option<i64>,
}

/// The caller's organizations with their role in each (their personal one first).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "teams", security(("bearer" = [])),
    responses((status = 200, description = "The caller's organizations", body = Vec<Organization>)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<axum::Json<Vec<Organization>>> {
    let rows = crate::team::mine(&state.db, user.id).await?;
    Ok(axum::Json(rows.into_iter().map(|m| Organization::of(user.id, m)).collect()))
}

/// A new organization; the caller is its first owner.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "teams", security(("bearer" = [])),
    request_body = CreateOrganization,
    responses(
        (status = 201, description = "The organization", body = Organization),
        (status = 422, description = "No name, or too long", body = Problem),
    ))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(req): Json<CreateOrganization>,
) -> ApiResult<(StatusCode, axum::Json<Organization>)> {
    let org = crate::team::create(&state.db, user.id, &req.name).await?;
    let made =
        Organization { id: org.id, name: org.name, personal: false, role: Role::Owner, created_at: org.created_at };
    Ok((StatusCode::CREATED, axum::Json(made)))
}

/// The members and open invitations (owners).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/members", tag = "teams", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Members and open invitations", body = Members),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's", body = Problem),
    ))]
pub async fn members(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Members>> {
    let (_, members, invitations) = crate::team::members(&state.db, user.id, id).await?;
    Ok(axum::Json(Members {
        members: members.into_iter().map(Member::from).collect(),
        invitations: invitations.into_iter().map(Invitation::from).collect(),
    }))
}

/// Invites an address with a role (owners): a single-use link, emailed, valid 7 days.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/invitations", tag = "teams", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    request_body = InviteRequest,
    responses(
        (status = 201, description = "The invitation (its link goes by email only)", body = Invitation),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's", body = Problem),
        (status = 422, description = "Not an address, or not a role", body = Problem),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, axum::Json<Invitation>)> {
    let (invitation, _token) = crate::team::invite(&state.db, user.id, id, &req.email, &req.role).await?;
    Ok((StatusCode::CREATED, axum::Json(invitation.into())))
}

/// Withdraws an invitation not taken yet (owners): its link stops working.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/invitations/{invitation_id}", tag = "teams",
    params(("id" = Uuid, Path), ("invitation_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's, or no open invitation with that id", body = Problem),
    ))]
pub async fn withdraw(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, invitation)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    crate::team::withdraw(&state.db, user.id, id, invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What an invitation's link offers (anyone with the link).
#[utoipa::path(get, path = "/api/v1/invitations/{token}", tag = "teams", params(("token" = String, Path)),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The organization, the address and the role", body = InvitationPreview),
        (status = 404, description = "No such invitation", body = Problem),
        (status = 409, description = "Used already (`invitation_used`) or run out (`invitation_expired`)", body = Problem),
    ))]
pub async fn preview(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<axum::Json<InvitationPreview>> {
    let view = crate::team::invitation(&state.db, &token).await?;
    Ok(axum::Json(InvitationPreview {
        organization: view.organization.name,
        email: view.invitation.email,
        role: view.invitation.role.0,
        expires_at: view.invitation.expires_at,
    }))
}

/// Takes an invitation: the caller (verified, with the invited address) becomes a member.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "teams", params(("token" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization, with the caller's new role", body = Organization),
        (status = 403, description = "The caller's address is not verified (`email_unverified`)", body = Problem),
        (status = 404, description = "No such invitation", body = Problem),
        (status = 409, description = "Used already, run out, for another address (`wrong_account`), or it would leave no owner", body = Problem),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(token): Path<String>,
) -> ApiResult<axum::Json<Organization>> {
    let verified_only = state.config.email_verification_required();
    let joined = crate::team::accept(&state.db, user.id, &token, verified_only).await?;
    Ok(axum::Json(Organization::of(user.id, joined)))
}

/// Gives a member another role (owners; the last owner stays one).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = [])),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member", body = Member),
        (status = 403, description = "A member who is not an owner", body = Problem),
        (status = 404, description = "No such organization of the caller's, or no such member", body = Problem),
        (status = 409, description = "It would leave no owner (`last_owner`)", body = Problem),
        (status = 422, description = "Not a role", body = Problem),
    ))]
pub async fn set_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, member)): Path<(Uuid, Uuid)>,
    Json(req): Json<RoleChange>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(crate::team::set_role(&state.db, user.id, id, member, &req.role).await?.into()))
}

/// Removes a member (owners), or the caller leaves; the last owner cannot.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/members/{user_id}", tag = "teams",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "A member who is not an owner, removing someone else", body = Problem),
        (status = 404, description = "No such organization of the caller's, or no such member", body = Problem),
        (status = 409, description = "It would leave no owner (`last_owner`)", body = Problem),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, member)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    crate::team::remove(&state.db, user.id, id, member).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who did what to which event, order or member, newest first (owners and managers).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/audit", tag = "teams", params(("id" = Uuid, Path), AuditParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = Vec<AuditEntry>),
        (status = 403, description = "Box office or door", body = Problem),
        (status = 404, description = "No such organization of the caller's", body = Problem),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Query(params): Query<AuditParams>,
) -> ApiResult<axum::Json<Vec<AuditEntry>>> {
    let rows = crate::team::audit_log(&state.db, user.id, id, params.before, params.limit.unwrap_or(50)).await?;
    Ok(axum::Json(rows.into_iter().map(AuditEntry::from).collect()))
}
