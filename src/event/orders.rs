//! The event's orders, for its organizer: every booking with its buyer,
//! tickets, payment and refund, a page at a time; marking an offline booking
//! paid and cancelling one with a full refund are the booking room's
//! (`booking::pay`, `booking::cancel`), asked after [`event_for`].

use sqlx::PgPool;
use uuid::Uuid;

use super::EventError;
use super::access::event_for;
use crate::booking::status::Current;
use crate::db::bookings as db;
use crate::domain::booking::BookingStatus;
use crate::domain::team::Action;

/// One order: the booking as it is now and who bought it.
#[derive(Debug)]
pub struct Order {
    pub booking: Current,
    pub buyer_name: String,
    pub buyer_email: String,
    /// Who paid its offline refund back.
    pub refund_paid_back_by: Option<String>,
    /// The names and answers given.
    pub details: crate::domain::question::Details,
    /// Its invoice and credit notes' numbers.
    pub invoices: Vec<String>,
}

/// Which orders: in one status or all, and those a search finds.
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub status: Option<BookingStatus>,
    /// A booking reference ("K7M2-9QXD", typed any way), or part of the
    /// buyer's name or email.
    pub search: Option<String>,
}

/// At most `limit` orders of `event_id` older than the booking `before`,
/// newest first, that `filter` lets through; and the cursor of the next page.
pub async fn page(
    db: &PgPool,
    user: Uuid,
    event_id: Uuid,
    filter: &OrderFilter,
    before: Option<Uuid>,
    limit: i64,
) -> Result<(Vec<Order>, Option<Uuid>), EventError> {
    let mut conn = db.acquire().await?;
    event_for(&mut conn, event_id, user, Action::ViewOrders).await?;
    let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let number = search.and_then(crate::domain::reference::decode);
    let pattern = search.map(crate::db::like_pattern);
    let mut rows = db::orders(&mut conn, event_id, filter.status, (number, pattern), before, limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].booking.id);
    rows.truncate(limit as usize);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.booking.id).collect();
    let mut tickets = db::tickets_of(&mut conn, &ids).await?;
    let mut money = crate::db::payments::money_of(&mut conn, &ids).await?;
    let mut details = crate::db::questions::details_of(&mut conn, &ids).await?;
    let mut invoices = crate::db::invoices::numbers_of(&mut conn, &ids).await?;
    let orders = rows
        .into_iter()
        .map(|row| {
            let mine = tickets.extract_if(.., |t| t.booking_id == row.booking.id).collect();
            let paid = money.remove(&row.booking.id).unwrap_or_default();
            Order {
                details: details.remove(&row.booking.id).unwrap_or_default(),
                invoices: invoices.remove(&row.booking.id).unwrap_or_default(),
                refund_paid_back_by: paid.paid_back.as_ref().map(|(_, by)| by.clone()),
                booking: Current::Stored(Box::new(row.booking), mine, paid),
                buyer_name: row.buyer_name,
                buyer_email: row.buyer_email,
            }
        })
        .collect();
    Ok((orders, next))
}
