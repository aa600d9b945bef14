//! What the event room refuses.

use super::MAX_TICKET_TYPES;
use crate::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// No such event, or a draft of someone else.
    #[error("event not found")]
    NotFound,
    /// No organization of this person's with that id.
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("ticket type not found")]
    TicketTypeNotFound,
    #[error("check-in list not found")]
    CheckinListNotFound,
    /// No ticket of this event with that code.
    #[error("ticket not found")]
    TicketNotFound,
    /// No checked-in ticket of a standing booking with that code (undoing).
    #[error("checked-in ticket not found")]
    NoCheckIn,
    /// Scanned before, at this time.
    #[error("this ticket was already checked in")]
    AlreadyCheckedIn(chrono::DateTime<chrono::Utc>),
    /// Its booking was cancelled.
    #[error("this ticket was cancelled and is not valid")]
    TicketVoid,
    /// The person can see the event but does not organize it.
    #[error("only the organizer of this event may do this")]
    NotOrganizer,
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the event is cancelled and can no longer change")]
    Cancelled,
    /// The sales start cannot move once the pre-queue was drawn at it.
    #[error("the pre-queue was drawn at the sales start; it can no longer move")]
    DrawMade,
    #[error("add at least one ticket type before publishing")]
    NoTicketTypes,
    #[error("the event has already started")]
    AlreadyStarted,
    /// Whether its paid bookings get invoices is fixed once it is published.
    #[error("the event is published: whether its paid bookings get invoices can no longer change")]
    InvoicingFixed,
    #[error("the event has bookings; cancel it instead")]
    HasBookings,
    #[error("an event has at most {MAX_TICKET_TYPES} ticket types")]
    TooManyTicketTypes,
    #[error("this event already has a ticket type with that name")]
    NameTaken,
    /// Capacity below the seats sold or held (that many).
    #[error("{0} seats are already sold or held; capacity cannot go below that")]
    CapacityBelowSold(i32),
    /// The price or currency of a type with seats sold or held (that many).
    #[error("{0} seats are already sold or held; the price and currency can no longer change")]
    PriceLocked(i32),
    /// No code of this event with that id.
    #[error("code not found")]
    CodeNotFound,
    /// The sales start cannot move to or before a presale (at that time).
    #[error("a presale opens at {0}: the sales start must stay after it")]
    PresaleAfterStart(chrono::DateTime<chrono::Utc>),
    /// A pre-queue (the event's or a presale's) has opened: its length is fixed.
    #[error("a pre-queue has opened: prequeue_minutes can no longer change")]
    PrequeueOpen,
    /// A presale's pre-queue has opened: its time no longer moves.
    #[error("this code's presale has opened its pre-queue; its time can no longer change")]
    PresaleOpen,
    /// The event has a code spelled so already.
    #[error("this event has this code already")]
    CodeTaken,
    #[error("question not found")]
    QuestionNotFound,
    /// Bookings answered it: only its label and place may change.
    #[error("bookings have answered this question: only its label and position may change, and it cannot be deleted")]
    QuestionAnswered,
    #[error("an event asks at most {} questions", super::questions::MAX_QUESTIONS)]
    TooManyQuestions,
    /// An image upload that was refused.
    #[error(transparent)]
    Image(#[from] super::image::ImageError),
    /// Redis could not say whether bookings wait in the queue.
    #[error("the booking state is unavailable, try again shortly")]
    QueueUnknown,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl EventError {
    /// The field of an event's or a ticket type's form a refusal is about
    /// (`None`: the whole request).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::DrawMade => Some("sales_start"),
            Self::NameTaken => Some("name"),
            Self::CapacityBelowSold(_) => Some("capacity"),
            Self::PriceLocked(_) => Some("price_cents"),
            Self::NoTicketTypes | Self::TooManyTicketTypes => Some("ticket_types"),
            Self::Image(_) => Some("image"),
            Self::CodeTaken => Some("code"),
            Self::PresaleOpen => Some("presale_from"),
            Self::PresaleAfterStart(_) => Some("sales_start"),
            Self::PrequeueOpen => Some("prequeue_minutes"),
            _ => None,
        }
    }
}

impl From<Vec<FieldError>> for EventError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Invalid(errors)
    }
}
