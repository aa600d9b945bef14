//! Organizations, their members and invitations, and the audit log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::team::Role;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub name: String,
    pub personal_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// An organization with the viewer's role in it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberOf {
    #[sqlx(flatten)]
    pub organization: OrganizationRow,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
}

/// A role as stored (`role` columns hold [`Role::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleColumn(pub Role);

impl TryFrom<String> for RoleColumn {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Role::parse(&value).map(Self).ok_or_else(|| format!("unknown role {value:?}"))
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    #[sqlx(try_from = "String")]
    pub role: RoleColumn,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub action: String,
    pub event_id: Option<Uuid>,
    pub subject: String,
    pub detail: sqlx::types::Json<Value>,
    pub at: DateTime<Utc>,
}

const ORGANIZATION_COLUMNS: &str = "o.id, o.name, o.personal_of, o.created_at";

/// `user_id`'s role in `organization_id`, if they are a member.
pub async fn role_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<RoleColumn> =
        sqlx::query_scalar::<_, String>("SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2")
            .bind(organization_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await?
            .and_then(|r| RoleColumn::try_from(r).ok());
    Ok(role.map(|r| r.0))
}

/// `user_id`'s personal organization (its id is theirs), made on first use
/// with them as its owner.
pub async fn ensure_personal(conn: &mut PgConnection, user_id: Uuid) -> Result<Uuid, sqlx::Error> {
    sqlx::query(
        "WITH o AS (INSERT INTO organizations (id, name, personal_of)
                    SELECT id, name, id FROM users WHERE id = $1
                    ON CONFLICT (id) DO NOTHING RETURNING id)
         INSERT INTO memberships (organization_id, user_id, role) SELECT id, id, 'owner' FROM o",
    )
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(user_id)
}

pub async fn create(conn: &mut PgConnection, name: &str, owner: Uuid) -> Result<OrganizationRow, sqlx::Error> {
    let row: OrganizationRow = sqlx::query_as(&format!(
        "INSERT INTO organizations AS o (id, name) VALUES ($1, $2) RETURNING {ORGANIZATION_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(row.id)
        .bind(owner)
        .execute(conn)
        .await?;
    Ok(row)
}

/// The organizations `user_id` belongs to, with their role, personal first.
pub async fn of_user(conn: &mut PgConnection, user_id: Uuid) -> Result<Vec<MemberOf>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ORGANIZATION_COLUMNS}, m.role FROM memberships m JOIN organizations o ON o.id = m.organization_id
          WHERE m.user_id = $1 ORDER BY o.personal_of IS NULL, o.created_at, o.id"
    ))
    .bind(user_id)
    .fetch_all(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations o WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Locks the organization's row: member changes of one organization take
/// turns (the last owner is counted under it).
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Option<OrganizationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {ORGANIZATION_COLUMNS} FROM organizations o WHERE o.id = $1 FOR UPDATE"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn members(conn: &mut PgConnection, organization_id: Uuid) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.user_id, u.name, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.organization_id = $1 ORDER BY m.created_at, u.email",
    )
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

pub async fn owners(conn: &mut PgConnection, organization_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM memberships WHERE organization_id = $1 AND role = 'owner'")
        .bind(organization_id)
        .fetch_one(conn)
        .await
}

/// Adds `user_id` with `role`, or changes their role to it.
pub async fn set_role(
    conn: &mut PgConnection,
    organization_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(organization_id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a member; whether they were one.
pub async fn remove(conn: &mut PgConnection, organization_id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2")
        .bind(organization_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

const INVITATION_COLUMNS: &str = "id, organization_id, email, role, invited_by, created_at, expires_at, accepted_at";

pub async fn invite(
    conn: &mut PgConnection,
    organization_id: Uuid,
    email: &str,
    role: Role,
    token_hash: &[u8],
    invited_by: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<InvitationRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO invitations (id, organization_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {INVITATION_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(organization_id)
    .bind(email)
    .bind(role.as_str())
    .bind(token_hash)
    .bind(invited_by)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// The invitation of `token_hash`, locked for its acceptance.
pub async fn lock_invitation(conn: &mut PgConnection, token_hash: &[u8]) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1 FOR UPDATE"))
        .bind(token_hash)
        .fetch_optional(conn)
        .await
}

pub async fn find_invitation(conn: &mut PgConnection, id: Uuid) -> Result<Option<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn mark_accepted(conn: &mut PgConnection, id: Uuid, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1")
        .bind(id)
        .bind(by)
        .execute(conn)
        .await?;
    Ok(())
}

/// Withdraws one open invitation; its address, if there was one.
pub async fn withdraw_invitation(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM invitations WHERE organization_id = $1 AND id = $2 AND accepted_at IS NULL RETURNING email",
    )
    .bind(organization_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Withdraws the open invitations `member` sent (they lost the power to invite).
pub async fn withdraw_invitations_of(
    conn: &mut PgConnection,
    organization_id: Uuid,
    member: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM invitations WHERE organization_id = $1 AND invited_by = $2 AND accepted_at IS NULL")
        .bind(organization_id)
        .bind(member)
        .execute(conn)
        .await?;
    Ok(())
}

/// The organization's invitations not yet accepted (expired ones too).
pub async fn open_invitations(
    conn: &mut PgConnection,
    organization_id: Uuid,
) -> Result<Vec<InvitationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE organization_id = $1 AND accepted_at IS NULL
          ORDER BY created_at DESC"
    ))
    .bind(organization_id)
    .fetch_all(conn)
    .await
}

/// Records who did what, in the caller's transaction (it stands or falls
/// with what it records).
pub async fn audit(
    conn: &mut PgConnection,
    organization_id: Uuid,
    actor: Option<Uuid>,
    action: &str,
    event_id: Option<Uuid>,
    subject: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, organization_id, actor_id, action, event_id, subject, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(organization_id)
    .bind(actor)
    .bind(action)
    .bind(event_id)
    .bind(subject)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The organization's audit log, newest first, before `before` when given.
pub async fn audit_log(
    conn: &mut PgConnection,
    organization_id: Uuid,
    before: Option<DateTime<Utc>>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.actor_id, u.name AS actor_name, a.action, a.event_id, a.subject, a.detail, a.at
           FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
          WHERE a.organization_id = $1 AND ($2::timestamptz IS NULL OR a.at < $2)
          ORDER BY a.at DESC, a.id DESC LIMIT $3",
    )
    .bind(organization_id)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}
