//! An event's life: created (a draft, or published at once), changed,
//! published, cancelled (its bookings with it) or deleted while nobody has
//! booked. Each step locks the event's row first, as every change to it does.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{event_for, lock_for, refuse_if_cancelled};
use super::ticket_types::{TicketTypeInput, name_taken};
use super::{Event, EventError, EventRoom, MAX_TICKET_TYPES};
use crate::cache::read::SharedFailure;
use crate::db;
use crate::db::events::{self as db_events, EventFields, TicketTypeFields};
use crate::domain::Violations;
use crate::domain::checkout::{AskedHoldTimes, HoldTimes};
use crate::domain::event::{self as rules, EventStatus, Schedule};
use crate::domain::team::Action;

/// A new event as asked (absent settings: their defaults).
#[derive(Debug, Clone)]
pub struct EventInput {
    pub title: String,
    pub description: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub cancellation_deadline: Option<DateTime<Utc>>,
    pub hold_times: AskedHoldTimes,
    pub prequeue_minutes: Option<i64>,
    pub offer_hours: Option<i64>,
    /// Default `UTC`.
    pub timezone: Option<String>,
    /// Published at once, or a draft.
    pub publish: bool,
    pub ticket_types: Vec<TicketTypeInput>,
}

/// A new event, validated: what [`EventRoom::create`] writes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    fields: EventFields,
    ticket_types: Vec<TicketTypeFields>,
    status: EventStatus,
}

impl EventInput {
    /// The event's fields and its ticket types', checked against the rules
    /// (a start in the future as of `now`), or every problem found.
    pub fn parse(self, now: DateTime<Utc>) -> Result<NewEvent, EventError> {
        let mut v = Violations::new();
        let schedule = Schedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            sales_start: self.sales_start,
            sales_end: self.sales_end,
        };
        let fields = event_fields(
            &mut v,
            Texts { title: &self.title, description: &self.description, venue: &self.venue },
            schedule,
            Rules {
                cancellation_deadline: self.cancellation_deadline,
                hold_times: self.hold_times,
                current: HoldTimes::default(),
                prequeue_minutes: self.prequeue_minutes,
                current_prequeue: rules::PREQUEUE_MINUTES_DEFAULT as i32,
                offer_hours: self.offer_hours,
                current_offer_hours: rules::OFFER_HOURS_DEFAULT as i32,
                timezone: self.timezone.as_deref().unwrap_or("UTC"),
            },
            Some(now),
        );
        if self.ticket_types.len() > MAX_TICKET_TYPES {
            v.add("ticket_types", format!("at most {MAX_TICKET_TYPES} ticket types"));
        }
        if self.publish && self.ticket_types.is_empty() {
            v.add("ticket_types", "a published event needs at least one ticket type");
        }
        let ticket_types: Vec<_> = self
            .ticket_types
            .iter()
            .enumerate()
            .map(|(i, tt)| tt.parse(&mut v, &format!("ticket_types[{i}].")))
            .collect();
        let mut names = std::collections::HashSet::new();
        for (i, tt) in ticket_types.iter().enumerate() {
            if let Some(tt) = tt {
                if !names.insert(tt.name.to_lowercase()) {
                    v.add(format!("ticket_types[{i}].name"), "another ticket type of this event has this name");
                }
            }
        }
        let fields = v.finish_with(fields)?;
        Ok(NewEvent {
            fields,
            ticket_types: ticket_types.into_iter().flatten().collect(),
            status: if self.publish { EventStatus::Published } else { EventStatus::Draft },
        })
    }
}

/// Changes to an event's details; absent fields stay as they are, `Some(None)`
/// clears an optional time.
#[derive(Debug, Clone, Default)]
pub struct EventChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<Option<DateTime<Utc>>>,
    pub sales_start: Option<Option<DateTime<Utc>>>,
    pub sales_end: Option<Option<DateTime<Utc>>>,
    pub cancellation_deadline: Option<Option<DateTime<Utc>>>,
    pub hold_times: AskedHoldTimes,
    pub prequeue_minutes: Option<i64>,
    pub offer_hours: Option<i64>,
    pub timezone: Option<String>,
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Creates an event with its ticket types and how it is paid for, at
    /// once (a published one takes bookings from its commit), made by
    /// `organizer_id` in `organization` (one they may create events in), or
    /// in their personal organization.
    pub async fn create(
        &self,
        organizer_id: Uuid,
        organization: Option<Uuid>,
        new: NewEvent,
        payment: super::payment::PaymentChanges,
    ) -> Result<Event, EventError> {
        let NewEvent { fields, ticket_types, status } = new;
        let mut tx = self.db.begin().await?;
        let organization_id = match organization {
            Some(id) => match super::access::authorize(&mut tx, organizer_id, id, Action::CreateEvent).await? {
                Ok(_) => id,
                Err(super::access::Refusal::NotMember) => return Err(EventError::OrganizationNotFound),
                Err(super::access::Refusal::NotAllowed(_)) => return Err(EventError::NotOrganizer),
            },
            // Their own, unless someone they made owner of it took it from them.
            None => {
                let personal = db::teams::ensure_personal(&mut tx, organizer_id).await?;
                match super::access::authorize(&mut tx, organizer_id, personal, Action::CreateEvent).await? {
                    Ok(_) => personal,
                    Err(_) => return Err(EventError::NotOrganizer),
                }
            }
        };
        let mut details = db_events::insert_event(&mut tx, organizer_id, organization_id, &fields, status).await?;
        if !payment.is_empty() {
            details = super::payment::write(&mut tx, &details, payment, self.provider, true).await?;
        }
        let mut rows = Vec::with_capacity(ticket_types.len());
        for tt in &ticket_types {
            rows.push(db_events::insert_ticket_type(&mut tx, details.id, tt).await.map_err(name_taken)?);
        }
        if status == EventStatus::Published {
            db::line::commit_draw(&mut tx, details.id).await?;
            crate::webhooks::events::event(&mut tx, "event.published", details.id).await?;
        }
        tx.commit().await?;
        if status == EventStatus::Published {
            self.changed(details.id).await;
        }
        tracing::info!(event.id = %details.id, "event created");
        Ok(Event { details, ticket_types: rows })
    }

    /// The event as its organizer sees it (a draft too).
    pub async fn for_organizer(&self, user_id: Uuid, id: Uuid, action: Action) -> Result<Event, EventError> {
        let mut conn = self.db.acquire().await?;
        let details = event_for(&mut conn, id, user_id, action).await?;
        let ticket_types = db_events::ticket_types_of(&mut conn, &[id]).await?;
        Ok(Event { details, ticket_types })
    }

    /// Changes an event's details (not its status: see publish and cancel).
    pub async fn update(&self, user_id: Uuid, id: Uuid, changes: EventChanges) -> Result<Event, EventError> {
        let mut tx = self.db.begin().await?;
        let current = lock_for(&mut tx, id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&current)?;
        let mut v = Violations::new();
        let schedule = Schedule {
            starts_at: changes.starts_at.unwrap_or(current.starts_at),
            ends_at: changes.ends_at.unwrap_or(current.ends_at),
            sales_start: changes.sales_start.unwrap_or(current.sales_start),
            sales_end: changes.sales_end.unwrap_or(current.sales_end),
        };
        // Only a start being moved must lie in the future; editing the text of a
        // running event is fine.
        let now = changes.starts_at.filter(|s| *s != current.starts_at).map(|_| Utc::now());
        let fields = event_fields(
            &mut v,
            Texts {
                title: changes.title.as_deref().unwrap_or(&current.title),
                description: changes.description.as_deref().unwrap_or(&current.description),
                venue: changes.venue.as_deref().unwrap_or(&current.venue),
            },
            schedule,
            Rules {
                cancellation_deadline: changes.cancellation_deadline.unwrap_or(current.cancellation_deadline),
                hold_times: changes.hold_times,
                current: current.hold_times(),
                prequeue_minutes: changes.prequeue_minutes,
                current_prequeue: current.prequeue_minutes,
                offer_hours: changes.offer_hours,
                current_offer_hours: current.offer_hours,
                timezone: changes.timezone.as_deref().unwrap_or(&current.timezone),
            },
            now,
        );
        let fields = v.finish_with(fields)?;
        if fields.schedule.sales_start != current.sales_start && db::line::draw_of(&mut tx, id).await?.is_some() {
            return Err(EventError::DrawMade);
        }
        let now = Utc::now();
        let presale = db::line::last_presale(&mut tx, id).await?;
        if fields.schedule.sales_start != current.sales_start {
            // A presale comes before the sales start; its holders were told so.
            if let Some(at) = presale.filter(|at| fields.schedule.sales_start.is_none_or(|start| start <= *at)) {
                return Err(EventError::PresaleAfterStart(at));
            }
        }
        if fields.prequeue_minutes != current.prequeue_minutes {
            // Requests were taken by its length: it is fixed once a pre-queue opened.
            let opened =
                |at: chrono::DateTime<Utc>| at - chrono::Duration::minutes(current.prequeue_minutes.into()) <= now;
            if current.sales_start.is_some_and(opened)
                || db::line::first_presale(&mut tx, id).await?.is_some_and(opened)
            {
                return Err(EventError::PrequeueOpen);
            }
        }
        let details = db_events::update_event(&mut tx, id, &fields).await?;
        let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
        crate::team::record(&mut tx, user_id, id, "event.updated", &details.title, serde_json::json!({})).await?;
        tx.commit().await?;
        self.changed(id).await;
        Ok(Event { details, ticket_types })
    }

    /// Publishes a draft: it appears in the list and its sales open (at
    /// `sales_start` if set). Publishing a published event changes nothing.
    pub async fn publish(&self, user_id: Uuid, id: Uuid) -> Result<Event, EventError> {
        let mut tx = self.db.begin().await?;
        let current = lock_for(&mut tx, id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&current)?;
        let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
        let details = match current.status {
            EventStatus::Published => current,
            _ if ticket_types.is_empty() => return Err(EventError::NoTicketTypes),
            _ if current.starts_at <= Utc::now() => return Err(EventError::AlreadyStarted),
            _ => {
                let row = db_events::set_status(&mut tx, id, EventStatus::Published).await?;
                db::line::commit_draw(&mut tx, id).await?;
                crate::webhooks::events::event(&mut tx, "event.published", id).await?;
                row
            }
        };
        crate::team::record(&mut tx, user_id, id, "event.published", &details.title, serde_json::json!({})).await?;
        tx.commit().await?;
        self.changed(id).await;
        Ok(Event { details, ticket_types })
    }

    /// Cancels an event: it stays visible as cancelled, sells nothing more,
    /// and every booking of it is cancelled (the paid ones refunded, each
    /// buyer told, through the outbox).
    pub async fn cancel(&self, user_id: Uuid, id: Uuid) -> Result<Event, EventError> {
        let mut tx = self.db.begin().await?;
        let current = lock_for(&mut tx, id, user_id, Action::EditEvent).await?;
        let (details, cancelled) = match current.status {
            EventStatus::Cancelled => (current, Vec::new()),
            _ => {
                let row = db_events::set_status(&mut tx, id, EventStatus::Cancelled).await?;
                let cancelled = db::bookings::cancel_all_of_event(&mut tx, id).await?;
                db::waiting::close_event(&mut tx, id).await?;
                db::outbox::enqueue(&mut tx, db::outbox::Kind::EventCancelled, &cancelled).await?;
                crate::webhooks::events::event(&mut tx, "event.cancelled", id).await?;
                crate::webhooks::events::bookings(&mut tx, "booking.cancelled", &cancelled).await?;
                (row, cancelled)
            }
        };
        let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
        // The refunds' credit notes, with them, last (the invoice counter's lock).
        db::invoices::credit_refunds(&mut tx, &cancelled).await?;
        let detail = serde_json::json!({"bookings_cancelled": cancelled.len()});
        crate::team::record(&mut tx, user_id, id, "event.cancelled", &details.title, detail).await?;
        tx.commit().await?;
        self.changed(id).await;
        tracing::info!(bookings.cancelled = cancelled.len(), "event cancelled");
        Ok(Event { details, ticket_types })
    }

    /// Deletes an event nobody has booked (nor asked to, in the queue).
    pub async fn delete(&self, user_id: Uuid, id: Uuid) -> Result<(), EventError> {
        let mut tx = self.db.begin().await?;
        let current = lock_for(&mut tx, id, user_id, Action::EditEvent).await?;
        // Bookings still in the queue count too: the worker must find the event.
        // (Redis's count: the transaction's own connection counts PostgreSQL's below.)
        let queued = self.bookings.pending_count(id).await.map_err(|_| EventError::QueueUnknown)?;
        if queued > 0 || db::bookings::event_has_bookings(&mut tx, id).await? {
            return Err(EventError::HasBookings);
        }
        db_events::delete_event(&mut tx, id).await?;
        // Not tied to the event's row, which is gone.
        let detail = serde_json::json!({"event_id": id});
        db::teams::audit(
            &mut tx,
            current.organization_id,
            Some(user_id),
            "event.deleted",
            None,
            &current.title,
            detail,
        )
        .await?;
        tx.commit().await?;
        self.changed(id).await;
        tracing::info!("event deleted");
        Ok(())
    }
}

/// The event's texts as asked.
struct Texts<'a> {
    title: &'a str,
    description: &'a str,
    venue: &'a str,
}

/// The event's settings for buyers besides its schedule, as asked (`None`:
/// keep) and as they are.
struct Rules<'a> {
    cancellation_deadline: Option<DateTime<Utc>>,
    hold_times: AskedHoldTimes,
    current: HoldTimes,
    prequeue_minutes: Option<i64>,
    current_prequeue: i32,
    offer_hours: Option<i64>,
    current_offer_hours: i32,
    timezone: &'a str,
}

fn event_fields(
    v: &mut Violations,
    texts: Texts<'_>,
    schedule: Schedule,
    asked: Rules<'_>,
    now: Option<DateTime<Utc>>,
) -> Option<EventFields> {
    let title = v.line("title", texts.title, 1, rules::TITLE_MAX);
    let description = v.paragraph("description", texts.description, 0, rules::DESCRIPTION_MAX);
    let venue = v.line("venue", texts.venue, 1, rules::VENUE_MAX);
    schedule.check(now, v);
    let cancellation_deadline = asked.cancellation_deadline;
    rules::check_cancellation_deadline(cancellation_deadline, schedule.starts_at, v);
    let hold_times = HoldTimes::check(v, asked.hold_times, asked.current);
    let prequeue_minutes = match asked.prequeue_minutes {
        Some(m) => v.range("prequeue_minutes", m, 0, rules::PREQUEUE_MINUTES_MAX).map(|m| m as i32),
        None => Some(asked.current_prequeue),
    };
    let offer_hours = match asked.offer_hours {
        Some(h) => v.range("offer_hours", h, 1, rules::OFFER_HOURS_MAX).map(|h| h as i32),
        None => Some(asked.current_offer_hours),
    };
    let timezone = rules::check_timezone(v, asked.timezone);
    Some(EventFields {
        title: title?,
        description: description?,
        venue: venue?,
        schedule,
        cancellation_deadline,
        hold_times: hold_times?,
        prequeue_minutes: prequeue_minutes?,
        offer_hours: offer_hours?,
        timezone: timezone?,
    })
}
