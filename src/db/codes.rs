//! The `codes` table, and the uses of codes (summed from bookings).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::code::{CodeKind, CodeRule};

pub const CODE_TAKEN: &str = "codes_event_code_key";

/// A code as the organizer sees it, with its uses.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub code: String,
    #[sqlx(try_from = "String")]
    pub kind: CodeKind,
    pub value: Option<i64>,
    pub ticket_type_ids: Option<Vec<Uuid>>,
    pub max_uses: Option<i32>,
    pub max_per_buyer: Option<i32>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub presale_from: Option<DateTime<Utc>>,
    pub note: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Seats of its held and confirmed bookings.
    pub uses: i64,
}

impl CodeRow {
    pub fn rule(&self) -> CodeRule {
        CodeRule {
            id: self.id,
            code: self.code.clone(),
            kind: self.kind,
            value: self.value,
            ticket_type_ids: self.ticket_type_ids.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            presale_from: self.presale_from,
            disabled: self.disabled_at.is_some(),
        }
    }
}

/// What a new code (or each code of a bulk) is.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub kind: CodeKind,
    pub value: Option<i64>,
    pub ticket_type_ids: Option<Vec<Uuid>>,
    pub max_uses: Option<i32>,
    pub max_per_buyer: Option<i32>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub presale_from: Option<DateTime<Utc>>,
    pub note: String,
}

const USES: &str = "(SELECT coalesce(sum(b.quantity), 0) FROM bookings b
                     WHERE b.code_id = c.id AND b.status IN ('held', 'confirmed'))::bigint AS uses";
const COLUMNS: &str = "c.id, c.event_id, c.code, c.kind, c.value, c.ticket_type_ids, c.max_uses, c.max_per_buyer, \
                       c.valid_from, c.valid_until, c.presale_from, c.note, c.disabled_at, c.created_at, c.updated_at";

/// Inserts `codes` of `event_id`, all alike but for the code; the rows.
pub async fn insert(
    conn: &mut PgConnection,
    event_id: Uuid,
    codes: &[String],
    new: &NewCode,
) -> Result<Vec<CodeRow>, sqlx::Error> {
    let ids: Vec<Uuid> = codes.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query_as(&format!(
        "WITH c AS (
             INSERT INTO codes (id, event_id, code, kind, value, ticket_type_ids, max_uses, max_per_buyer,
                                valid_from, valid_until, note, presale_from)
             SELECT u.id, $3, u.code, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM UNNEST($1::uuid[], $2::text[]) AS u (id, code)
             RETURNING *)
         SELECT {COLUMNS}, 0::bigint AS uses FROM c ORDER BY c.id"
    ))
    .bind(&ids)
    .bind(codes)
    .bind(event_id)
    .bind(new.kind.as_str())
    .bind(new.value)
    .bind(&new.ticket_type_ids)
    .bind(new.max_uses)
    .bind(new.max_per_buyer)
    .bind(new.valid_from)
    .bind(new.valid_until)
    .bind(&new.note)
    .bind(new.presale_from)
    .fetch_all(conn)
    .await
}

/// Every code of `event_id`, oldest first, with its uses.
pub async fn of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<CodeRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, {USES} FROM codes c WHERE c.event_id = $1 ORDER BY c.id"))
        .bind(event_id)
        .fetch_all(conn)
        .await
}

pub async fn find(conn: &mut PgConnection, event_id: Uuid, id: Uuid) -> Result<Option<CodeRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS}, {USES} FROM codes c WHERE c.event_id = $1 AND c.id = $2"))
        .bind(event_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Writes `row`'s changeable fields (the caller read and changed it).
pub async fn update(conn: &mut PgConnection, row: &CodeRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE codes SET value = $2, ticket_type_ids = $3, max_uses = $4, max_per_buyer = $5, valid_from = $6,
                          valid_until = $7, note = $8, disabled_at = $9, presale_from = $10, updated_at = now()
         WHERE id = $1",
    )
    .bind(row.id)
    .bind(row.value)
    .bind(&row.ticket_type_ids)
    .bind(row.max_uses)
    .bind(row.max_per_buyer)
    .bind(row.valid_from)
    .bind(row.valid_until)
    .bind(&row.note)
    .bind(row.disabled_at)
    .bind(row.presale_from)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rules of every code of `event_id` (for the accept's cache).
pub async fn rules_of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<CodeRule>, sqlx::Error> {
    let rows: Vec<CodeRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS}, 0::bigint AS uses FROM codes c WHERE c.event_id = $1"))
            .bind(event_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.iter().map(CodeRow::rule).collect())
}

/// A code as a batch needs it, locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedCode {
    pub id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: CodeKind,
    pub value: Option<i64>,
    pub max_uses: Option<i32>,
    pub max_per_buyer: Option<i32>,
    pub disabled: bool,
    /// Seats of its held and confirmed bookings, read under the lock.
    pub uses: i64,
}

/// Locks `ids` in id order (after the ticket types: the order everywhere),
/// with their uses. Two batches using one code take turns here, so its uses
/// are never counted by two at once.
pub async fn lock_for_batch(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<LockedCode>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    sqlx::query("SELECT id FROM codes WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(&format!(
        "SELECT c.id, c.kind, c.value, c.max_uses, c.max_per_buyer, c.disabled_at IS NOT NULL AS disabled, {USES}
         FROM codes c WHERE c.id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(conn)
    .await
}

/// Seats each (code, buyer) pair holds or owns with the code.
pub async fn used_by(
    conn: &mut PgConnection,
    pairs: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), i64>, sqlx::Error> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let (codes, buyers): (Vec<Uuid>, Vec<Uuid>) = pairs.iter().copied().unzip();
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT b.code_id, b.user_id, sum(b.quantity)::bigint FROM bookings b
         JOIN (SELECT DISTINCT * FROM UNNEST($1::uuid[], $2::uuid[])) AS p (code_id, user_id)
           ON p.code_id = b.code_id AND p.user_id = b.user_id
         WHERE b.status IN ('held', 'confirmed')
         GROUP BY b.code_id, b.user_id",
    )
    .bind(&codes)
    .bind(&buyers)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(code, buyer, seats)| ((code, buyer), seats)).collect())
}
