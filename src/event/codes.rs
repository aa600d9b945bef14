//! An event's codes, as its organizer makes and changes them: one chosen or
//! generated, or many single-use ones at once; changed; disabled (a code
//! that was used is never deleted: its bookings name it).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{event_for, lock_for, refuse_if_cancelled};
use super::{EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::codes::{CodeRow, NewCode};
use crate::domain::Violations;
use crate::domain::code::{self as rules, CodeKind};
use crate::domain::team::Action;

/// Codes one bulk request may make.
pub const BULK_MAX: i64 = 10_000;
/// Most seats one code may go to.
pub const USES_MAX: i64 = 1_000_000;
pub const NOTE_MAX: usize = 500;
pub const PREFIX_MAX: usize = 20;

/// A code (or many) to make, as asked.
#[derive(Debug, Clone, Default)]
pub struct CodeInput {
    /// As typed; `None`: generated.
    pub code: Option<String>,
    pub kind: Option<String>,
    pub value: Option<i64>,
    pub ticket_type_ids: Option<Vec<Uuid>>,
    pub max_uses: Option<i64>,
    pub max_per_buyer: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// Its holders book from then, before the sales start.
    pub presale_from: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Many single-use codes at once (`code` must then be absent).
    pub count: Option<i64>,
    /// What generated codes start with.
    pub prefix: Option<String>,
}

/// Changes to a code; absent fields stay. (Its kind and spelling never change.)
#[derive(Debug, Clone, Default)]
pub struct CodeChanges {
    pub value: Option<i64>,
    pub ticket_type_ids: Option<Option<Vec<Uuid>>>,
    pub max_uses: Option<Option<i64>>,
    pub max_per_buyer: Option<Option<i64>>,
    pub valid_from: Option<Option<DateTime<Utc>>>,
    pub valid_until: Option<Option<DateTime<Utc>>>,
    pub presale_from: Option<Option<DateTime<Utc>>>,
    pub note: Option<String>,
    pub disabled: Option<bool>,
}

/// The checked fields shared by making and changing a code.
struct Checked {
    value: Option<i64>,
    ticket_type_ids: Option<Vec<Uuid>>,
    max_uses: Option<i32>,
    max_per_buyer: Option<i32>,
}

/// Checks what a code of `kind` is given; problems go to `v`.
#[allow(clippy::too_many_arguments)]
fn check(
    v: &mut Violations,
    kind: CodeKind,
    value: Option<i64>,
    ticket_type_ids: Option<Vec<Uuid>>,
    types_of_event: &[Uuid],
    max_uses: Option<i64>,
    max_per_buyer: Option<i64>,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Checked {
    let value = match (kind, value) {
        (CodeKind::Percent, Some(p)) => v.range("value", p, 1, 100),
        (CodeKind::Fixed, Some(cents)) => v.range("value", cents, 1, crate::domain::event::PRICE_CENTS_MAX),
        (CodeKind::Price, Some(cents)) => v.range("value", cents, 0, crate::domain::event::PRICE_CENTS_MAX),
        (CodeKind::Unlock, Some(_)) => {
            v.add("value", "an unlock code gives no discount: leave the value out");
            None
        }
        (CodeKind::Unlock, None) => None,
        (_, None) => {
            v.add("value", "required for this kind: percent off, cents off, or the price in cents");
            None
        }
    };
    if let Some(ids) = &ticket_type_ids {
        if ids.is_empty() {
            v.add("ticket_type_ids", "name at least one ticket type, or leave it out for every type");
        } else if let Some(other) = ids.iter().find(|id| !types_of_event.contains(id)) {
            v.add("ticket_type_ids", format!("{other} is not a ticket type of this event"));
        }
    } else if kind == CodeKind::Unlock {
        v.add("ticket_type_ids", "name the hidden ticket types this code opens");
    }
    let max_uses = max_uses.and_then(|n| v.range("max_uses", n, 1, USES_MAX)).map(|n| n as i32);
    let max_per_buyer = max_per_buyer.and_then(|n| v.range("max_per_buyer", n, 1, USES_MAX)).map(|n| n as i32);
    for (field, time) in [("valid_from", window.0), ("valid_until", window.1)] {
        if time.is_some_and(|t| !crate::domain::event::in_supported_range(t)) {
            v.add(field, "must be a time between the years 1 and 9999");
        }
    }
    if let (Some(from), Some(until)) = window {
        if until <= from {
            v.add("valid_until", "must be after valid_from");
        }
    }
    Checked { value, ticket_type_ids, max_uses, max_per_buyer }
}

/// Checks a presale's time against the event's sales start (a presale comes
/// before it) and the code's end.
fn check_presale(
    v: &mut Violations,
    presale_from: Option<DateTime<Utc>>,
    event: &db::events::EventRow,
    valid_until: Option<DateTime<Utc>>,
) {
    let Some(at) = presale_from else { return };
    if !crate::domain::event::in_supported_range(at) {
        return v.add("presale_from", "must be a time between the years 1 and 9999");
    }
    match event.sales_start {
        None => v.add("presale_from", "the event opens its sales when published: set a sales start for a presale"),
        Some(start) if at >= start => v.add("presale_from", format!("must be before the sales start ({start})")),
        Some(_) => {}
    }
    if valid_until.is_some_and(|until| until <= at) {
        v.add("presale_from", "must be before valid_until");
    }
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Makes one code (`input.code`, or generated), or `input.count`
    /// single-use generated ones.
    pub async fn create_codes(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        input: CodeInput,
    ) -> Result<Vec<CodeRow>, EventError> {
        let mut tx = self.db.begin().await?;
        let event = lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&event)?;
        let types: Vec<Uuid> =
            db::events::ticket_types_of(&mut tx, &[event_id]).await?.into_iter().map(|t| t.id).collect();
        let mut v = Violations::new();
        let kind = match input.kind.as_deref() {
            Some(kind) => v.check(
                "kind",
                CodeKind::try_from(kind.to_owned()).map_err(|_| "one of percent, fixed, price, unlock".to_owned()),
            ),
            None => {
                v.add("kind", "required: percent, fixed, price or unlock");
                None
            }
        };
        let prefix = match input.prefix.as_deref() {
            Some(prefix) => match rules::normalize(prefix).filter(|p| p.len() <= PREFIX_MAX) {
                Some(prefix) => prefix,
                None => {
                    v.add("prefix", format!("letters and digits, at most {PREFIX_MAX}"));
                    String::new()
                }
            },
            None => String::new(),
        };
        let count = match (input.count, &input.code) {
            (Some(_), Some(_)) => {
                v.add("count", "give either a code or a count of codes to generate, not both");
                1
            }
            (Some(count), None) => v.range("count", count, 1, BULK_MAX).unwrap_or(1),
            (None, _) => 1,
        };
        let typed = match input.code.as_deref() {
            Some(typed) => {
                let code = rules::normalize(typed);
                if code.is_none() {
                    v.add(
                        "code",
                        format!("letters and digits (dashes and spaces are ignored), at most {}", rules::MAX_LENGTH),
                    );
                }
                code
            }
            None => None,
        };
        let note = v.paragraph("note", input.note.as_deref().unwrap_or(""), 0, NOTE_MAX);
        check_presale(&mut v, input.presale_from, &event, input.valid_until);
        let checked = kind.map(|kind| {
            // A bulk's codes are single-use unless said otherwise.
            let max_uses = input.max_uses.or((input.count.is_some()).then_some(1));
            let window = (input.valid_from, input.valid_until);
            (
                kind,
                check(
                    &mut v,
                    kind,
                    input.value,
                    input.ticket_type_ids.clone(),
                    &types,
                    max_uses,
                    input.max_per_buyer,
                    window,
                ),
            )
        });
        let ((kind, checked), note) = v.finish_with(checked.zip(note))?;
        let new = NewCode {
            kind,
            value: checked.value,
            ticket_type_ids: checked.ticket_type_ids,
            max_uses: checked.max_uses,
            max_per_buyer: checked.max_per_buyer,
            valid_from: input.valid_from,
            valid_until: input.valid_until,
            presale_from: input.presale_from,
            note,
        };
        let codes: Vec<String> = match typed {
            Some(code) => vec![code],
            None => {
                let mut made = std::collections::HashSet::new();
                while made.len() < count as usize {
                    made.insert(rules::generate(&prefix));
                }
                made.into_iter().collect()
            }
        };
        let rows = db::codes::insert(&mut tx, event_id, &codes, &new).await.map_err(|err| {
            // A chosen code taken; a generated one colliding (50 random bits) is as unlikely.
            if db::violated_constraint(&err) == Some(db::codes::CODE_TAKEN) {
                EventError::CodeTaken
            } else {
                err.into()
            }
        })?;
        if let Some(at) = input.presale_from {
            // Before anyone can enter the presale's pre-queue (it takes the code).
            db::line::commit_presale_draw(&mut tx, event_id, at).await?;
        }
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(rows)
    }

    /// The event's codes with their uses.
    pub async fn codes(&self, user_id: Uuid, event_id: Uuid) -> Result<Vec<CodeRow>, EventError> {
        let mut conn = self.db.acquire().await?;
        event_for(&mut conn, event_id, user_id, Action::EditEvent).await?;
        Ok(db::codes::of_event(&mut conn, event_id).await?)
    }

    pub async fn code(&self, user_id: Uuid, event_id: Uuid, id: Uuid) -> Result<CodeRow, EventError> {
        let mut conn = self.db.acquire().await?;
        event_for(&mut conn, event_id, user_id, Action::EditEvent).await?;
        db::codes::find(&mut conn, event_id, id).await?.ok_or(EventError::CodeNotFound)
    }

    /// Changes a code. Requests accepted at its old value are refused by the
    /// worker as `price_changed`: nobody pays what they were not shown.
    pub async fn update_code(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        id: Uuid,
        changes: CodeChanges,
    ) -> Result<CodeRow, EventError> {
        let mut tx = self.db.begin().await?;
        let event = lock_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        let mut row = db::codes::find(&mut tx, event_id, id).await?.ok_or(EventError::CodeNotFound)?;
        let types: Vec<Uuid> =
            db::events::ticket_types_of(&mut tx, &[event_id]).await?.into_iter().map(|t| t.id).collect();
        let mut v = Violations::new();
        let value = changes.value.or(row.value);
        let ticket_type_ids = changes.ticket_type_ids.unwrap_or(row.ticket_type_ids.clone());
        let max_uses = changes.max_uses.unwrap_or(row.max_uses.map(i64::from));
        let max_per_buyer = changes.max_per_buyer.unwrap_or(row.max_per_buyer.map(i64::from));
        let valid_from = changes.valid_from.unwrap_or(row.valid_from);
        let valid_until = changes.valid_until.unwrap_or(row.valid_until);
        let checked =
            check(&mut v, row.kind, value, ticket_type_ids, &types, max_uses, max_per_buyer, (valid_from, valid_until));
        let note = match changes.note {
            Some(note) => v.paragraph("note", &note, 0, NOTE_MAX),
            None => Some(row.note.clone()),
        };
        let presale_from = changes.presale_from.unwrap_or(row.presale_from);
        if presale_from != row.presale_from {
            check_presale(&mut v, presale_from, &event, valid_until);
        }
        let note = v.finish_with(note)?;
        if presale_from != row.presale_from {
            // Requests may wait in its pre-queue for a draw at that time.
            let opened = |at: DateTime<Utc>| at - chrono::Duration::minutes(i64::from(event.prequeue_minutes));
            if row.presale_from.is_some_and(|at| opened(at) <= Utc::now()) {
                return Err(EventError::PresaleOpen);
            }
            if let Some(at) = presale_from {
                db::line::commit_presale_draw(&mut tx, event_id, at).await?;
            }
        }
        row.presale_from = presale_from;
        row.value = checked.value;
        row.ticket_type_ids = checked.ticket_type_ids;
        row.max_uses = checked.max_uses;
        row.max_per_buyer = checked.max_per_buyer;
        row.valid_from = valid_from;
        row.valid_until = valid_until;
        row.note = note;
        match changes.disabled {
            Some(true) => row.disabled_at = row.disabled_at.or(Some(Utc::now())),
            Some(false) => row.disabled_at = None,
            None => {}
        }
        db::codes::update(&mut tx, &row).await?;
        let row = db::codes::find(&mut tx, event_id, id).await?.ok_or(EventError::CodeNotFound)?;
        tx.commit().await?;
        self.changed(event_id).await;
        Ok(row)
    }

    /// Disables a code: no new booking uses it; those that did keep it.
    pub async fn disable_code(&self, user_id: Uuid, event_id: Uuid, id: Uuid) -> Result<CodeRow, EventError> {
        self.update_code(user_id, event_id, id, CodeChanges { disabled: Some(true), ..Default::default() }).await
    }
}
