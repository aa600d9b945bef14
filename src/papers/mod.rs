//! Papers: what a booking gives its buyer to keep — its tickets as a PDF.
//! The rendering is pure (`ticket_pdf`); here the booking's facts are
//! gathered for whoever may see them.

pub mod ticket_pdf;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db;
use crate::domain::booking::BookingStatus;
use ticket_pdf::TicketPage;

#[derive(Debug, thiserror::Error)]
pub enum PapersError {
    /// No such booking of this person, nor of an event they organize.
    #[error("booking not found")]
    NotFound,
    /// Not confirmed (yet, or any more): it has no tickets to print.
    #[error("this booking has no valid tickets: only a confirmed booking's tickets can be printed")]
    NoTickets,
    #[error(transparent)]
    Pdf(#[from] ticket_pdf::PdfError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The PDF of booking `id`'s tickets, for `viewer` (its buyer, or the
/// event's organizer).
pub async fn tickets_pdf(db: &PgPool, viewer: Uuid, id: Uuid) -> Result<Vec<u8>, PapersError> {
    let pages = {
        let mut conn = db.acquire().await?;
        pages_for(&mut conn, Some(viewer), id).await?
    };
    render(pages).await
}

/// Draws `pages` off the request threads (it is CPU work).
pub async fn render(pages: Vec<TicketPage>) -> Result<Vec<u8>, PapersError> {
    let pdf = tokio::task::spawn_blocking(move || ticket_pdf::render(&pages))
        .await
        .map_err(|err| ticket_pdf::PdfError::from_join(&err))??;
    Ok(pdf)
}

/// The pages of booking `id`'s tickets (not void), for `viewer` (its buyer
/// or the event's organizer; `None`: the system itself, for the
/// confirmation email, which reads them on its own connection).
pub async fn pages_for(
    conn: &mut PgConnection,
    viewer: Option<Uuid>,
    id: Uuid,
) -> Result<Vec<TicketPage>, PapersError> {
    let booking = db::bookings::find(conn, id).await?.ok_or(PapersError::NotFound)?;
    let event = db::events::find_event(conn, booking.event_id).await?.ok_or(PapersError::NotFound)?;
    if viewer.is_some_and(|v| booking.user_id != v && event.organizer_id != v) {
        return Err(PapersError::NotFound);
    }
    if booking.status != BookingStatus::Confirmed {
        return Err(PapersError::NoTickets);
    }
    let types = db::events::ticket_types_of(conn, &[booking.event_id]).await?;
    let ticket_type = types.iter().find(|t| t.id == booking.ticket_type_id).map_or("", |t| t.name.as_str());
    let tickets: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT code, position, status FROM tickets WHERE booking_id = $1 AND status <> 'void' ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    if tickets.is_empty() {
        return Err(PapersError::NoTickets);
    }
    let buyer = db::users::find(conn, booking.user_id).await?.map(|u| u.name).unwrap_or_default();
    let details = db::questions::details_of(conn, &[id]).await?.remove(&id).unwrap_or_default();
    let when = crate::domain::event::local_time(event.starts_at, &event.timezone);
    let count = booking.quantity;
    Ok(tickets
        .into_iter()
        .map(|(code, position, status)| TicketPage {
            event_title: event.title.clone(),
            when: when.clone(),
            venue: event.venue.clone(),
            ticket_type: ticket_type.to_owned(),
            holder: usize::try_from(position).ok().and_then(|p| details.name_of(p)).unwrap_or(&buyer).to_owned(),
            reference: booking.reference(),
            code,
            // A ticket used already says so (printed again after the door).
            position: match status.as_str() {
                "checked_in" => format!("Ticket {} of {count} · checked in", position + 1),
                _ => format!("Ticket {} of {count}", position + 1),
            },
        })
        .collect())
}
