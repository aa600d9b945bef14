//! A booking's names and answers after it was made: read by its buyer and
//! the event's organizer, changed by the buyer until the event's
//! `answers_until` (by default its start). An edit replaces them all and is
//! checked like a request's: a required question stays required.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::domain::booking::BookingStatus;
use crate::domain::question::{Answer, AnswerProblem, Details, Form, Question};

#[derive(Debug, thiserror::Error)]
pub enum DetailsError {
    /// No such booking of this person (or of an event they organize).
    #[error("booking not found")]
    NotFound,
    /// Only a held or confirmed booking has tickets to name.
    #[error("only a held or confirmed booking's names and answers can change")]
    NotEditable,
    /// Past the event's `answers_until`.
    #[error("names and answers could be changed until {}", .0.to_rfc3339())]
    Closed(DateTime<Utc>),
    #[error("names or answers refused")]
    Answers(Vec<AnswerProblem>),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A booking's names and answers with what its event asks.
#[derive(Debug, Clone)]
pub struct BookingDetails {
    pub booking_id: Uuid,
    pub quantity: i32,
    pub details: Details,
    /// The questions its ticket type is asked, in order.
    pub questions: Vec<Question>,
    pub attendee_names: crate::domain::question::AttendeeNames,
    /// Until when the buyer may change them.
    pub editable_until: DateTime<Utc>,
    /// Whether the buyer may change them now.
    pub editable: bool,
    /// Whether they answer everything asked (a waiting-list offer, or a
    /// question added after the booking, leaves some to give).
    pub complete: bool,
    /// The event's time zone (its pages show times there).
    pub timezone: String,
}

/// The details of booking `id` for `viewer` (its buyer, or the event's organizer).
pub async fn of_booking(db: &PgPool, viewer: Uuid, id: Uuid) -> Result<BookingDetails, DetailsError> {
    let mut conn = db.acquire().await?;
    let booking = db::bookings::find(&mut conn, id).await?.ok_or(DetailsError::NotFound)?;
    let event = db::events::find_event(&mut conn, booking.event_id).await?.ok_or(DetailsError::NotFound)?;
    if booking.user_id != viewer
        && !crate::event::access::may(&mut conn, viewer, event.organization_id, crate::domain::team::Action::ViewOrders)
            .await?
    {
        return Err(DetailsError::NotFound);
    }
    let ticket_type = db::events::ticket_types_of(&mut conn, &[booking.event_id])
        .await?
        .into_iter()
        .find(|t| t.id == booking.ticket_type_id)
        .ok_or(DetailsError::NotFound)?;
    let questions: Vec<Question> = db::questions::of_event(&mut conn, booking.event_id)
        .await?
        .into_iter()
        .filter(|q| q.asks(booking.ticket_type_id))
        .collect();
    let details = db::questions::details_of(&mut conn, &[id]).await?.remove(&id).unwrap_or_default();
    let quantity = u16::try_from(booking.quantity).unwrap_or(u16::MAX);
    let form = Form {
        questions: &questions,
        ticket_type_id: booking.ticket_type_id,
        quantity,
        names: ticket_type.attendee_names,
    };
    let names: Vec<String> =
        (0..usize::from(quantity)).map(|i| details.name_of(i).unwrap_or_default().to_owned()).collect();
    let complete = form.check(&names, &details.answers).is_ok();
    let editable_until = event.answers_until.unwrap_or(event.starts_at);
    let editable = booking.user_id == viewer
        && matches!(booking.status, BookingStatus::Held | BookingStatus::Confirmed)
        && Utc::now() < editable_until;
    Ok(BookingDetails {
        booking_id: id,
        quantity: booking.quantity,
        details,
        questions,
        attendee_names: ticket_type.attendee_names,
        editable_until,
        editable,
        complete,
        timezone: event.timezone,
    })
}

/// Replaces the names and answers of `user`'s booking `id`.
pub async fn edit(
    db: &PgPool,
    user: Uuid,
    id: Uuid,
    names: &[String],
    answers: &[Answer],
) -> Result<Details, DetailsError> {
    let mut tx = db.begin().await?;
    // The booking's lock: a cancellation or confirmation in flight is seen whole.
    let booking = db::bookings::lock(&mut tx, id).await?.filter(|b| b.user_id == user).ok_or(DetailsError::NotFound)?;
    if !matches!(booking.status, BookingStatus::Held | BookingStatus::Confirmed) {
        return Err(DetailsError::NotEditable);
    }
    let event = db::events::find_event(&mut tx, booking.event_id).await?.ok_or(DetailsError::NotFound)?;
    let until = event.answers_until.unwrap_or(event.starts_at);
    if Utc::now() >= until {
        return Err(DetailsError::Closed(until));
    }
    let ticket_type = db::events::ticket_types_of(&mut tx, &[booking.event_id])
        .await?
        .into_iter()
        .find(|t| t.id == booking.ticket_type_id)
        .ok_or(DetailsError::NotFound)?;
    let questions = db::questions::of_event(&mut tx, booking.event_id).await?;
    let form = Form {
        questions: &questions,
        ticket_type_id: booking.ticket_type_id,
        quantity: u16::try_from(booking.quantity).unwrap_or(u16::MAX),
        names: ticket_type.attendee_names,
    };
    let details = form.check(names, answers).map_err(DetailsError::Answers)?;
    let takes_names = ticket_type.attendee_names != crate::domain::question::AttendeeNames::Off;
    db::questions::replace_details(&mut tx, id, &details, takes_names).await?;
    tx.commit().await?;
    Ok(details)
}
