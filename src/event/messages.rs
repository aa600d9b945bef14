//! Messages to an event's people: an organizer (owner or manager) writes
//! once, each person of the chosen audience gets one email, through the
//! outbox (the mailer sends them behind every booking email, and not at all
//! while a sale is deciding). Only about the event: they are transactional,
//! without an unsubscribe link.

use uuid::Uuid;

use super::access::event_for;
use super::{EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::messages::{MessageRow, NewMessage};
use crate::domain::Violations;
use crate::domain::message::{self as rules, Audience};
use crate::domain::team::Action;

/// A message as typed.
#[derive(Debug, Clone, Default)]
pub struct MessageInput {
    pub audience: String,
    pub ticket_type_id: Option<Uuid>,
    pub subject: String,
    pub body: String,
}

/// What a message would be: how many it reaches, and one person's copy.
#[derive(Debug, Clone)]
pub struct Preview {
    pub recipients: i64,
    pub subject: String,
    pub body: String,
}

/// A checked message.
struct Checked {
    audience: Audience,
    ticket_type_id: Option<Uuid>,
    subject: String,
    body: String,
}

impl<E: SharedFailure> EventRoom<'_, E> {
    async fn check_message(
        &self,
        conn: &mut sqlx::PgConnection,
        event_id: Uuid,
        input: MessageInput,
    ) -> Result<Checked, EventError> {
        let mut v = Violations::new();
        let audience = Audience::parse(&input.audience);
        if audience.is_none() {
            v.add("audience", "one of all, ticket_type, checked_in, not_checked_in, waiting_list");
        }
        let types = db::events::ticket_types_of(conn, &[event_id]).await?;
        let ticket_type_id = match (audience, input.ticket_type_id) {
            (Some(Audience::TicketType), Some(id)) if types.iter().any(|t| t.id == id) => Some(id),
            (Some(Audience::TicketType), _) => {
                v.add("ticket_type_id", "choose a ticket type of this event");
                None
            }
            _ => None,
        };
        let subject = v.line("subject", &input.subject, 1, rules::SUBJECT_MAX);
        let body = v.paragraph("body", &input.body, 1, rules::BODY_MAX);
        for (field, text) in [("subject", &input.subject), ("body", &input.body)] {
            let unknown = rules::unknown_fields(text);
            if !unknown.is_empty() {
                let named: Vec<String> = unknown.iter().map(|u| format!("{{{u}}}")).collect();
                v.add(field, format!("{} is not a field: use {{name}}, {{event}} or {{reference}}", named.join(", ")));
            }
        }
        let (subject, body) = v.finish_with(subject.zip(body)).map_err(EventError::Invalid)?;
        Ok(Checked { audience: audience.unwrap_or(Audience::All), ticket_type_id, subject, body })
    }

    /// How many the message reaches now and how it reads for one of them.
    pub async fn preview_message(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        input: MessageInput,
    ) -> Result<Preview, EventError> {
        let mut conn = self.db.acquire().await?;
        let event = event_for(&mut conn, event_id, user_id, Action::Message).await?;
        let checked = self.check_message(&mut conn, event_id, input).await?;
        let (recipients, one) =
            db::messages::audience_of(&mut conn, event_id, checked.audience, checked.ticket_type_id).await?;
        let (name, reference) = match one {
            Some(person) => {
                let user = db::users::find(&mut conn, person).await?.map(|u| u.name).unwrap_or_default();
                let number: Option<i64> = sqlx::query_scalar(
                    "SELECT number FROM bookings WHERE event_id = $1 AND user_id = $2 AND status = 'confirmed'
                     ORDER BY created_at LIMIT 1",
                )
                .bind(event_id)
                .bind(person)
                .fetch_optional(&mut *conn)
                .await?;
                (user, number.map(crate::domain::reference::encode).unwrap_or_default())
            }
            None => ("Ada Lovelace".to_owned(), "K7M2-9QXD".to_owned()),
        };
        Ok(Preview {
            recipients,
            subject: rules::fill(&checked.subject, &name, &event.title, &reference),
            body: rules::fill(&checked.body, &name, &event.title, &reference),
        })
    }

    /// Writes the message and queues one email per person, in one
    /// transaction; the audit log says who wrote to how many.
    pub async fn send_message(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        input: MessageInput,
    ) -> Result<(Uuid, i64), EventError> {
        let mut tx = self.db.begin().await?;
        let event = event_for(&mut tx, event_id, user_id, Action::Message).await?;
        let checked = self.check_message(&mut tx, event_id, input).await?;
        let new = NewMessage {
            event_id,
            author_id: user_id,
            audience: checked.audience,
            ticket_type_id: checked.ticket_type_id,
            subject: &checked.subject,
            body: &checked.body,
        };
        let (id, count) = db::messages::insert_and_queue(&mut tx, &new).await?;
        if count == 0 {
            return Err(EventError::Invalid(vec![crate::domain::FieldError {
                field: "audience".into(),
                message: "nobody is in this audience yet".into(),
            }]));
        }
        let detail = serde_json::json!({"audience": checked.audience.as_str(), "recipients": count, "message_id": id});
        crate::team::record(&mut tx, user_id, event.id, "message.sent", &checked.subject, detail).await?;
        tx.commit().await?;
        Ok((id, count))
    }

    /// The event's messages, newest first, with how many went and failed.
    pub async fn messages(&self, user_id: Uuid, event_id: Uuid) -> Result<Vec<MessageRow>, EventError> {
        let mut conn = self.db.acquire().await?;
        event_for(&mut conn, event_id, user_id, Action::Message).await?;
        Ok(db::messages::of_event(&mut conn, event_id).await?)
    }
}
