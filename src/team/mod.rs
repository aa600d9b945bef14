//! The team room: organizations, their members and invitations, and the
//! audit log. Every rule of who may change a team is here (the HTTP layer
//! maps [`TeamError`] and nothing else): an owner manages members; an
//! invitation is a single-use link for one address, valid 7 days, taken by
//! a verified account with that address; the last owner cannot leave or be
//! made something else.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::teams::{self as db, AuditRow, InvitationRow, MemberOf, MemberRow, OrganizationRow};
use crate::domain::account::Email;
use crate::domain::team::{Action, Role};
use crate::domain::{FieldError, Violations};
use crate::event::access::{Refusal, authorize};

/// How long an invitation's link works.
pub const INVITATION_VALID_DAYS: i64 = 7;
/// Longest organization name.
pub const NAME_MAX: usize = 120;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// No such organization of this person's.
    #[error("organization not found")]
    NotFound,
    /// A member whose role does not allow it.
    #[error("your role in this organization does not allow this")]
    NotAllowed,
    #[error("no such member of this organization")]
    MemberNotFound,
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// The change would leave the organization without an owner.
    #[error("an organization keeps at least one owner: make someone else owner first")]
    LastOwner,
    #[error("this invitation link is not valid")]
    InvitationNotFound,
    /// A person stays in the organization that is their own (its id is theirs).
    #[error("this is the person's own organization: they can be given another role, not removed")]
    PersonalOrganization,
    #[error("this invitation ran out; ask for a new one")]
    InvitationExpired,
    #[error("this invitation was used already")]
    InvitationUsed,
    /// Signed in with another address than the one invited.
    #[error("this invitation is for another email address: sign in with the address it was sent to")]
    WrongAccount,
    #[error("confirm your email address before joining an organization")]
    Unverified,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Locks `organization` (member changes one at a time), when there is one;
/// `person`'s own personal organization is made on first use.
async fn lock(conn: &mut PgConnection, person: Uuid, organization: Uuid) -> Result<Option<OrganizationRow>, TeamError> {
    if organization == person {
        db::ensure_personal(conn, person).await?;
    }
    Ok(db::lock(conn, organization).await?)
}

/// May `person` do `action` in `organization`? The organization, when so.
async fn allowed(
    conn: &mut PgConnection,
    person: Uuid,
    organization: Uuid,
    action: Action,
) -> Result<OrganizationRow, TeamError> {
    if organization == person {
        // Their personal organization (its id is theirs), made on first use.
        db::ensure_personal(conn, person).await?;
    }
    match authorize(conn, person, organization, action).await? {
        Ok(_) => db::find(conn, organization).await?.ok_or(TeamError::NotFound),
        Err(Refusal::NotMember) => Err(TeamError::NotFound),
        Err(Refusal::NotAllowed(_)) => Err(TeamError::NotAllowed),
    }
}

fn name(raw: &str) -> Result<String, TeamError> {
    let mut v = Violations::new();
    let name = v.line("name", raw, 1, NAME_MAX);
    v.finish_with(name).map_err(TeamError::Invalid)
}

/// A new organization, `owner` its first owner.
pub async fn create(pool: &PgPool, owner: Uuid, raw_name: &str) -> Result<OrganizationRow, TeamError> {
    let name = name(raw_name)?;
    let mut tx = pool.begin().await?;
    // Their personal one first: what they made before stays theirs.
    db::ensure_personal(&mut tx, owner).await?;
    let organization = db::create(&mut tx, &name, owner).await?;
    db::audit(&mut tx, organization.id, Some(owner), "organization.created", None, &name, json!({})).await?;
    tx.commit().await?;
    Ok(organization)
}

/// The organizations `person` belongs to, with their role (their personal
/// one, made on first use, first).
pub async fn mine(pool: &PgPool, person: Uuid) -> Result<Vec<MemberOf>, TeamError> {
    let mut conn = pool.acquire().await?;
    db::ensure_personal(&mut conn, person).await?;
    Ok(db::of_user(&mut conn, person).await?)
}

/// The members and open invitations of `organization` (its owners only).
pub async fn members(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
) -> Result<(OrganizationRow, Vec<MemberRow>, Vec<InvitationRow>), TeamError> {
    let mut conn = pool.acquire().await?;
    let org = allowed(&mut conn, person, organization, Action::ManageMembers).await?;
    let members = db::members(&mut conn, organization).await?;
    let invitations = db::open_invitations(&mut conn, organization).await?;
    Ok((org, members, invitations))
}

/// Invites `email` as `role`: a single-use link, mailed (through the
/// outbox, in this transaction), valid 7 days. The token is returned once.
pub async fn invite(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    email: &str,
    role: &str,
) -> Result<(InvitationRow, String), TeamError> {
    let mut v = Violations::new();
    let email = match Email::parse(email) {
        Ok(email) => Some(email),
        Err(message) => {
            v.add("email", message);
            None
        }
    };
    let role = match Role::parse(role) {
        Some(role) => Some(role),
        None => {
            v.add("role", "one of owner, manager, box_office, door");
            None
        }
    };
    let mut tx = pool.begin().await?;
    lock(&mut tx, person, organization).await?.ok_or(TeamError::NotFound)?;
    // Who may comes before what they sent.
    allowed(&mut tx, person, organization, Action::ManageMembers).await?;
    let (email, role) = v.finish_with(email.zip(role)).map_err(TeamError::Invalid)?;
    let (token, hash) = crate::auth::refresh::generate();
    let expires = Utc::now() + Duration::days(INVITATION_VALID_DAYS);
    let invitation = db::invite(&mut tx, organization, email.as_str(), role, &hash, person, expires).await?;
    crate::db::outbox::enqueue_invitation(&mut tx, email.as_str(), &token, invitation.id).await?;
    db::audit(
        &mut tx,
        organization,
        Some(person),
        "member.invited",
        None,
        email.as_str(),
        json!({"role": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok((invitation, token))
}

/// What an invitation's link shows before it is taken.
pub struct InvitationView {
    pub organization: OrganizationRow,
    pub invitation: InvitationRow,
}

/// The invitation of `token`, still open.
pub async fn invitation(pool: &PgPool, token: &str) -> Result<InvitationView, TeamError> {
    let mut tx = pool.begin().await?;
    let invitation = open(&mut tx, token, Utc::now()).await?;
    let organization = db::find(&mut tx, invitation.organization_id).await?.ok_or(TeamError::InvitationNotFound)?;
    Ok(InvitationView { organization, invitation })
}

async fn open(conn: &mut PgConnection, token: &str, now: DateTime<Utc>) -> Result<InvitationRow, TeamError> {
    let invitation =
        db::lock_invitation(conn, &crate::auth::refresh::hash(token)).await?.ok_or(TeamError::InvitationNotFound)?;
    if invitation.accepted_at.is_some() {
        return Err(TeamError::InvitationUsed);
    }
    if invitation.expires_at <= now {
        return Err(TeamError::InvitationExpired);
    }
    Ok(invitation)
}

/// `person` takes the invitation of `token`: a verified account with the
/// invited address becomes a member with its role (a member already takes
/// the invitation's role, as the owner chose it).
///
/// `verified_only`: the server verifies addresses (`EMAIL_VERIFICATION`), so
/// only a verified account may; without it nobody is verified, and the link,
/// which only the address's mailbox received, is the proof.
pub async fn accept(pool: &PgPool, person: Uuid, token: &str, verified_only: bool) -> Result<MemberOf, TeamError> {
    let mut tx = pool.begin().await?;
    let invitation = open(&mut tx, token, Utc::now()).await?;
    let user = crate::db::users::find(&mut tx, person).await?.ok_or(TeamError::WrongAccount)?;
    if !user.email.eq_ignore_ascii_case(&invitation.email) {
        return Err(TeamError::WrongAccount);
    }
    if verified_only && user.email_verified_at.is_none() {
        return Err(TeamError::Unverified);
    }
    // Member changes of one organization take turns (the owners counted).
    db::lock(&mut tx, invitation.organization_id).await?.ok_or(TeamError::InvitationNotFound)?;
    let role = invitation.role.0;
    let before = db::role_of(&mut tx, invitation.organization_id, person).await?;
    if before == Some(Role::Owner) && role != Role::Owner && db::owners(&mut tx, invitation.organization_id).await? <= 1
    {
        return Err(TeamError::LastOwner);
    }
    db::set_role(&mut tx, invitation.organization_id, person, role).await?;
    db::mark_accepted(&mut tx, invitation.id, person).await?;
    db::audit(
        &mut tx,
        invitation.organization_id,
        Some(person),
        "member.joined",
        None,
        &user.email,
        json!({"role": role.as_str()}),
    )
    .await?;
    let joined =
        db::of_user(&mut tx, person).await?.into_iter().find(|m| m.organization.id == invitation.organization_id);
    tx.commit().await?;
    joined.ok_or(TeamError::InvitationNotFound)
}

/// Withdraws an invitation not taken yet (owners): its link stops working.
pub async fn withdraw(pool: &PgPool, person: Uuid, organization: Uuid, invitation: Uuid) -> Result<(), TeamError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, person, organization).await?.ok_or(TeamError::NotFound)?;
    allowed(&mut tx, person, organization, Action::ManageMembers).await?;
    let email =
        db::withdraw_invitation(&mut tx, organization, invitation).await?.ok_or(TeamError::InvitationNotFound)?;
    db::audit(&mut tx, organization, Some(person), "member.invitation_withdrawn", None, &email, json!({})).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives `member` another role (owners only; never the last owner away).
pub async fn set_role(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    member: Uuid,
    role: &str,
) -> Result<MemberRow, TeamError> {
    let mut tx = pool.begin().await?;
    // Member changes of one organization take turns; the actor's own role is
    // read after the lock (two owners demoting each other: the second finds
    // itself demoted).
    lock(&mut tx, person, organization).await?.ok_or(TeamError::NotFound)?;
    allowed(&mut tx, person, organization, Action::ManageMembers).await?;
    let role = Role::parse(role).ok_or_else(|| {
        TeamError::Invalid(vec![FieldError {
            field: "role".into(),
            message: "one of owner, manager, box_office, door".into(),
        }])
    })?;
    let before = db::role_of(&mut tx, organization, member).await?.ok_or(TeamError::MemberNotFound)?;
    if before == Role::Owner && role != Role::Owner && db::owners(&mut tx, organization).await? <= 1 {
        return Err(TeamError::LastOwner);
    }
    if before == role {
        // Nothing changes, nothing is recorded.
        let row = db::members(&mut tx, organization).await?.into_iter().find(|m| m.user_id == member);
        return row.ok_or(TeamError::MemberNotFound);
    }
    db::set_role(&mut tx, organization, member, role).await?;
    if before == Role::Owner && role != Role::Owner {
        // What they invited as an owner goes with their power to invite.
        db::withdraw_invitations_of(&mut tx, organization, member).await?;
    }
    let row = db::members(&mut tx, organization).await?.into_iter().find(|m| m.user_id == member);
    let row = row.ok_or(TeamError::MemberNotFound)?;
    db::audit(
        &mut tx,
        organization,
        Some(person),
        "member.role_changed",
        None,
        &row.email,
        json!({"from": before.as_str(), "to": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Removes `member` (owners), or `person` leaves (anyone); never the last owner.
pub async fn remove(pool: &PgPool, person: Uuid, organization: Uuid, member: Uuid) -> Result<(), TeamError> {
    let mut tx = pool.begin().await?;
    // Locked first, the actor's role read after (as in `set_role`).
    lock(&mut tx, person, organization).await?.ok_or(TeamError::NotFound)?;
    if member == person {
        if db::role_of(&mut tx, organization, person).await?.is_none() {
            return Err(TeamError::NotFound);
        }
    } else {
        allowed(&mut tx, person, organization, Action::ManageMembers).await?;
    }
    let before = db::role_of(&mut tx, organization, member).await?.ok_or(TeamError::MemberNotFound)?;
    if before == Role::Owner && db::owners(&mut tx, organization).await? <= 1 {
        return Err(TeamError::LastOwner);
    }
    if db::find(&mut tx, organization).await?.is_some_and(|o| o.personal_of == Some(member)) {
        return Err(TeamError::PersonalOrganization);
    }
    let email = crate::db::users::find(&mut tx, member).await?.map(|u| u.email).unwrap_or_default();
    db::remove(&mut tx, organization, member).await?;
    db::withdraw_invitations_of(&mut tx, organization, member).await?;
    let action = if member == person { "member.left" } else { "member.removed" };
    db::audit(&mut tx, organization, Some(person), action, None, &email, json!({"role": before.as_str()})).await?;
    tx.commit().await?;
    Ok(())
}

/// The audit log, newest first (owners and managers).
pub async fn audit_log(
    pool: &PgPool,
    person: Uuid,
    organization: Uuid,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditRow>, TeamError> {
    let mut conn = pool.acquire().await?;
    allowed(&mut conn, person, organization, Action::ViewAudit).await?;
    Ok(db::audit_log(&mut conn, organization, before, limit.clamp(1, 200)).await?)
}

/// Records `action` on `event_id` by `actor` in the event's organization,
/// in the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    actor: Uuid,
    event_id: Uuid,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, organization_id, actor_id, action, event_id, subject, detail)
         SELECT $1, organization_id, $2, $3, id, $4, $5 FROM events WHERE id = $6",
    )
    .bind(Uuid::now_v7())
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(())
}
