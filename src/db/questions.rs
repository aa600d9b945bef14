//! The `questions` an event asks, and the names and answers bookings gave
//! (`attendees`, `answers`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::question::{Answer, AnswerValue, Details, Question};

/// A question as its organizer sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuestionRow {
    #[sqlx(flatten)]
    pub question: Question,
    pub event_id: Uuid,
    /// Bookings have answered it: only its label and order may change.
    pub answered: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "q.id, q.event_id, q.position, q.label, q.kind, q.options, q.required, q.ticket_type_ids,
    q.applies_to, q.created_at, q.updated_at,
    EXISTS (SELECT 1 FROM answers a WHERE a.question_id = q.id) AS answered";

/// Whether bookings answered question `id` (asked in a statement of its own,
/// after the question's lock: it sees what committed while the lock waited).
pub async fn answered(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM answers WHERE question_id = $1)").bind(id).fetch_one(conn).await
}

/// The questions of several events, by event (the worker's batch).
pub async fn of_events(
    conn: &mut PgConnection,
    event_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Question>>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Asked {
        event_id: Uuid,
        #[sqlx(flatten)]
        question: Question,
    }
    let rows: Vec<Asked> = sqlx::query_as(
        "SELECT event_id, id, position, label, kind, options, required, ticket_type_ids, applies_to
         FROM questions WHERE event_id = ANY($1) ORDER BY event_id, position, created_at",
    )
    .bind(event_ids)
    .fetch_all(conn)
    .await?;
    let mut all: HashMap<Uuid, Vec<Question>> = HashMap::new();
    for row in rows {
        all.entry(row.event_id).or_default().push(row.question);
    }
    Ok(all)
}

/// The questions of an event, in their order (what the accept checks against).
pub async fn of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<Question>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, position, label, kind, options, required, ticket_type_ids, applies_to
         FROM questions WHERE event_id = $1 ORDER BY position, created_at",
    )
    .bind(event_id)
    .fetch_all(conn)
    .await
}

pub async fn rows_of_event(conn: &mut PgConnection, event_id: Uuid) -> Result<Vec<QuestionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM questions q WHERE q.event_id = $1 ORDER BY q.position, q.created_at"
    ))
    .bind(event_id)
    .fetch_all(conn)
    .await
}

/// The question `id` of `event_id`, locked for a change.
pub async fn lock(conn: &mut PgConnection, event_id: Uuid, id: Uuid) -> Result<Option<QuestionRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM questions q WHERE q.event_id = $1 AND q.id = $2 FOR UPDATE"))
        .bind(event_id)
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Writes `question` (new, or changed) of `event_id`.
pub async fn upsert(conn: &mut PgConnection, event_id: Uuid, q: &Question) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO questions (id, event_id, position, label, kind, options, required, ticket_type_ids, applies_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET position = $3, label = $4, kind = $5, options = $6, required = $7,
             ticket_type_ids = $8, applies_to = $9, updated_at = now()",
    )
    .bind(q.id)
    .bind(event_id)
    .bind(q.position)
    .bind(&q.label)
    .bind(q.kind.as_str())
    .bind(&q.options)
    .bind(q.required)
    .bind(&q.ticket_type_ids)
    .bind(q.applies_to.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes a question nobody answered (the caller checked, under its lock).
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM questions WHERE id = $1").bind(id).execute(conn).await?;
    Ok(())
}

/// The names and answers of many bookings, column by column (the worker
/// writes a batch's in one statement each).
#[derive(Debug, Default)]
pub struct NewDetails {
    name_bookings: Vec<Uuid>,
    name_indexes: Vec<i16>,
    names: Vec<String>,
    answer_bookings: Vec<Uuid>,
    questions: Vec<Uuid>,
    answer_indexes: Vec<Option<i16>>,
    values: Vec<String>,
}

impl NewDetails {
    pub fn add(&mut self, booking_id: Uuid, details: &Details) {
        for (index, name) in details.attendees.iter().enumerate() {
            if let Some(name) = name {
                self.name_bookings.push(booking_id);
                self.name_indexes.push(index as i16);
                self.names.push(name.clone());
            }
        }
        for answer in &details.answers {
            self.answer_bookings.push(booking_id);
            self.questions.push(answer.question_id);
            self.answer_indexes.push(answer.ticket_index.map(|i| i as i16));
            self.values.push(serde_json::to_string(&answer.value).expect("an answer serializes"));
        }
    }
}

pub async fn insert_details(conn: &mut PgConnection, d: &NewDetails) -> Result<(), sqlx::Error> {
    if !d.names.is_empty() {
        sqlx::query(
            "INSERT INTO attendees (booking_id, ticket_index, name)
             SELECT * FROM UNNEST($1::uuid[], $2::int2[], $3::text[])",
        )
        .bind(&d.name_bookings)
        .bind(&d.name_indexes)
        .bind(&d.names)
        .execute(&mut *conn)
        .await?;
    }
    if !d.values.is_empty() {
        // The questions answered are share-locked first: one being deleted
        // waits for this transaction and then finds it answered (409), and
        // one already deleted is not answered (the worker dropped what no
        // longer fits before; this drops what went meanwhile).
        let mut ids = d.questions.clone();
        ids.sort();
        ids.dedup();
        let there: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM questions WHERE id = ANY($1) ORDER BY id FOR KEY SHARE")
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await?;
        sqlx::query(
            "INSERT INTO answers (booking_id, question_id, ticket_index, value)
             SELECT b, q, i, v::jsonb FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], $4::text[]) AS x (b, q, i, v)
             WHERE q = ANY($5)",
        )
        .bind(&d.answer_bookings)
        .bind(&d.questions)
        .bind(&d.answer_indexes)
        .bind(&d.values)
        .bind(&there)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Replaces a booking's answers, and its names when `names` (the buyer
/// edited them; a type that no longer takes names keeps those given).
pub async fn replace_details(
    conn: &mut PgConnection,
    booking_id: Uuid,
    details: &Details,
    names: bool,
) -> Result<(), sqlx::Error> {
    if names {
        sqlx::query("DELETE FROM attendees WHERE booking_id = $1").bind(booking_id).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM answers WHERE booking_id = $1").bind(booking_id).execute(&mut *conn).await?;
    let mut new = NewDetails::default();
    let given = if names { details.clone() } else { Details { attendees: Vec::new(), ..details.clone() } };
    new.add(booking_id, &given);
    insert_details(conn, &new).await
}

/// The names and answers of `booking_ids`.
pub async fn details_of(conn: &mut PgConnection, booking_ids: &[Uuid]) -> Result<HashMap<Uuid, Details>, sqlx::Error> {
    let mut all: HashMap<Uuid, Details> = HashMap::new();
    if booking_ids.is_empty() {
        return Ok(all);
    }
    let names: Vec<(Uuid, i16, String)> = sqlx::query_as(
        "SELECT booking_id, ticket_index, name FROM attendees WHERE booking_id = ANY($1) ORDER BY ticket_index",
    )
    .bind(booking_ids)
    .fetch_all(&mut *conn)
    .await?;
    for (booking, index, name) in names {
        let attendees = &mut all.entry(booking).or_default().attendees;
        let index = usize::try_from(index).unwrap_or_default();
        if attendees.len() <= index {
            attendees.resize(index + 1, None);
        }
        attendees[index] = Some(name);
    }
    let answers: Vec<(Uuid, Uuid, Option<i16>, sqlx::types::Json<AnswerValue>)> = sqlx::query_as(
        "SELECT a.booking_id, a.question_id, a.ticket_index, a.value FROM answers a
         JOIN questions q ON q.id = a.question_id
         WHERE a.booking_id = ANY($1) ORDER BY a.ticket_index NULLS FIRST, q.position, q.created_at",
    )
    .bind(booking_ids)
    .fetch_all(conn)
    .await?;
    for (booking, question_id, index, value) in answers {
        all.entry(booking).or_default().answers.push(Answer {
            question_id,
            ticket_index: index.and_then(|i| u16::try_from(i).ok()),
            value: value.0,
        });
    }
    Ok(all)
}
