//! The questions an event asks its buyers, as its organizer makes, orders
//! and changes them. Once a booking answered one, only its label and place
//! may change: what was answered must keep meaning what it meant.

use uuid::Uuid;

use super::access::{event_for, lock_for, refuse_if_cancelled};
use super::{EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::questions::QuestionRow;
use crate::domain::Violations;
use crate::domain::question::{AppliesTo, Question, QuestionKind};
use crate::domain::team::Action;

/// Questions one event may ask.
pub const MAX_QUESTIONS: usize = 50;
pub const LABEL_MAX: usize = 200;
pub const MAX_OPTIONS: usize = 50;
pub const OPTION_MAX: usize = 100;

/// A question as asked for (new, or every field of a change).
#[derive(Debug, Clone, Default)]
pub struct QuestionInput {
    pub label: Option<String>,
    pub kind: Option<String>,
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
    pub ticket_type_ids: Option<Option<Vec<Uuid>>>,
    pub applies_to: Option<String>,
    /// Its place among the event's questions (0 first); left out: last.
    pub position: Option<i64>,
}

/// `input` over `base` (a new question's defaults, or the question as it is),
/// checked; problems go to `v`.
fn merge(v: &mut Violations, base: &Question, input: &QuestionInput, types_of_event: &[Uuid]) -> Question {
    let mut q = base.clone();
    if let Some(label) = &input.label {
        q.label = v.line("label", label, 1, LABEL_MAX).unwrap_or_default();
    }
    if let Some(kind) = &input.kind {
        let parsed = QuestionKind::try_from(kind.clone())
            .map_err(|_| "one of text, long_text, choice, multi, checkbox, email, phone, date".to_owned());
        q.kind = v.check("kind", parsed).unwrap_or(q.kind);
    }
    if let Some(applies_to) = &input.applies_to {
        let parsed = AppliesTo::try_from(applies_to.clone()).map_err(|_| "ticket or booking".to_owned());
        q.applies_to = v.check("applies_to", parsed).unwrap_or(q.applies_to);
    }
    if let Some(required) = input.required {
        q.required = required;
    }
    if let Some(options) = &input.options {
        let mut cleaned: Vec<String> = Vec::new();
        for (i, option) in options.iter().enumerate() {
            if let Some(option) = v.line(&format!("options[{i}]"), option, 1, OPTION_MAX) {
                if cleaned.contains(&option) {
                    v.add(format!("options[{i}]"), "given twice");
                }
                cleaned.push(option);
            }
        }
        q.options = cleaned;
    }
    if q.kind.has_options() {
        if q.options.is_empty() || q.options.len() > MAX_OPTIONS {
            v.add("options", format!("a choice needs 1 to {MAX_OPTIONS} options"));
        }
    } else if !q.options.is_empty() {
        // Options of a kind that has none would be stored and never shown.
        if input.options.is_some() {
            v.add("options", "only choice and multi questions have options");
        }
        q.options.clear();
    }
    if let Some(ids) = &input.ticket_type_ids {
        match ids {
            Some(ids) if ids.is_empty() => {
                v.add("ticket_type_ids", "name at least one ticket type, or leave it out for every type")
            }
            Some(ids) => {
                if let Some(other) = ids.iter().find(|id| !types_of_event.contains(id)) {
                    v.add("ticket_type_ids", format!("{other} is not a ticket type of this event"));
                }
            }
            None => {}
        }
        q.ticket_type_ids = ids.clone();
    }
    q
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// The event's questions, in their order.
    pub async fn questions(&self, user_id: Uuid, event_id: Uuid) -> Result<Vec<QuestionRow>, EventError> {
        let mut conn = self.db.acquire().await?;
        event_for(&mut conn, event_id, user_id, Action::EditEvent).await?;
        Ok(db::questions::rows_of_event(&mut conn, event_id).await?)
    }

    pub async fn create_question(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        input: QuestionInput,
    ) -> Result<QuestionRow, EventError> {
        let mut tx = self.db.begin().await?;
        refuse_if_cancelled(&lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?)?;
        let existing = db::questions::of_event(&mut tx, event_id).await?;
        if existing.len() >= MAX_QUESTIONS {
            return Err(EventError::TooManyQuestions);
        }
        let types: Vec<Uuid> =
            db::events::ticket_types_of(&mut tx, &[event_id]).await?.into_iter().map(|t| t.id).collect();
        let mut v = Violations::new();
        for (field, missing) in [("label", input.label.is_none()), ("kind", input.kind.is_none())] {
            if missing {
                v.add(field, "required");
            }
        }
        let base = Question {
            id: Uuid::now_v7(),
            label: String::new(),
            kind: QuestionKind::Text,
            options: Vec::new(),
            required: false,
            ticket_type_ids: None,
            applies_to: AppliesTo::Ticket,
            position: 0,
        };
        let question = merge(&mut v, &base, &input, &types);
        let position = input.position.and_then(|p| v.range("position", p, 0, MAX_QUESTIONS as i64));
        v.finish()?;
        let id = question.id;
        for q in placed(existing, question, position) {
            db::questions::upsert(&mut tx, event_id, &q).await?;
        }
        let row = db::questions::lock(&mut tx, event_id, id).await?.ok_or(EventError::QuestionNotFound)?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(row)
    }

    /// Changes a question; once answered, only `label` and `position`.
    pub async fn update_question(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        id: Uuid,
        input: QuestionInput,
    ) -> Result<QuestionRow, EventError> {
        let mut tx = self.db.begin().await?;
        lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        let mut row = db::questions::lock(&mut tx, event_id, id).await?.ok_or(EventError::QuestionNotFound)?;
        row.answered = db::questions::answered(&mut tx, id).await?;
        let changes_meaning = input.kind.is_some()
            || input.options.is_some()
            || input.required.is_some()
            || input.ticket_type_ids.is_some()
            || input.applies_to.is_some();
        if row.answered && changes_meaning {
            return Err(EventError::QuestionAnswered);
        }
        let types: Vec<Uuid> =
            db::events::ticket_types_of(&mut tx, &[event_id]).await?.into_iter().map(|t| t.id).collect();
        let mut v = Violations::new();
        let question = merge(&mut v, &row.question, &input, &types);
        let position = input.position.and_then(|p| v.range("position", p, 0, MAX_QUESTIONS as i64));
        v.finish()?;
        let others: Vec<Question> =
            db::questions::of_event(&mut tx, event_id).await?.into_iter().filter(|q| q.id != id).collect();
        let position = position.or(Some(i64::from(row.question.position)));
        for q in placed(others, question, position) {
            db::questions::upsert(&mut tx, event_id, &q).await?;
        }
        let row = db::questions::lock(&mut tx, event_id, id).await?.ok_or(EventError::QuestionNotFound)?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(row)
    }

    /// Until when buyers may change names and answers (`None`: the start).
    pub async fn set_answers_until(
        &self,
        user_id: Uuid,
        id: Uuid,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<super::Event, EventError> {
        let mut tx = self.db.begin().await?;
        refuse_if_cancelled(&lock_for(&mut tx, id, user_id, Action::EditEvent).await?)?;
        let details = db::events::set_answers_until(&mut tx, id, until).await?;
        let ticket_types = db::events::ticket_types_of(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.changed(id).await;
        Ok(super::Event { details, ticket_types })
    }

    /// Deletes a question nobody answered.
    pub async fn delete_question(&self, user_id: Uuid, event_id: Uuid, id: Uuid) -> Result<(), EventError> {
        let mut tx = self.db.begin().await?;
        lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        db::questions::lock(&mut tx, event_id, id).await?.ok_or(EventError::QuestionNotFound)?;
        if db::questions::answered(&mut tx, id).await? {
            return Err(EventError::QuestionAnswered);
        }
        db::questions::delete(&mut tx, id).await?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(())
    }
}

/// `others` in their order with `question` put at `position` (`None`: last),
/// numbered from 0.
fn placed(mut others: Vec<Question>, question: Question, position: Option<i64>) -> Vec<Question> {
    others.sort_by_key(|q| q.position);
    let at = position.map_or(others.len(), |p| (p.max(0) as usize).min(others.len()));
    others.insert(at, question);
    for (i, q) in others.iter_mut().enumerate() {
        q.position = i as i32;
    }
    others
}
