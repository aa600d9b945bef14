//! The booking invariants of a ticket type, read from PostgreSQL: what the
//! tests, the fault suite and the load generator all check, in one place.

use sqlx::PgPool;
use uuid::Uuid;

/// What PostgreSQL holds for one ticket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub capacity: i64,
    pub remaining: i64,
    /// Seats of held bookings (waiting for their payment).
    pub held: i64,
    /// Seats of confirmed bookings.
    pub confirmed: i64,
    pub confirmed_bookings: i64,
    /// Tickets not void.
    pub live_tickets: i64,
    /// Confirmed bookings whose ticket count is not their quantity.
    pub mismatched_bookings: i64,
    /// Bookings keeping money they sold nothing for: a succeeded payment
    /// without a refund, beyond the one payment of a confirmed booking.
    pub money_kept: i64,
}

impl Seats {
    /// Every invariant broken, in words (empty: all hold):
    /// `capacity = remaining + held + confirmed seats`, `remaining ≥ 0`, one
    /// live ticket per confirmed seat (none for a hold), and per booking; no
    /// money kept without tickets.
    pub fn violations(&self) -> Vec<String> {
        let mut violations = Vec::new();
        if self.capacity != self.remaining + self.held + self.confirmed {
            violations.push(format!(
                "capacity {} ≠ remaining {} + held {} + confirmed {}",
                self.capacity, self.remaining, self.held, self.confirmed
            ));
        }
        if self.remaining < 0 {
            violations.push(format!("remaining {} < 0", self.remaining));
        }
        if self.live_tickets != self.confirmed {
            violations.push(format!("{} tickets for {} confirmed seats", self.live_tickets, self.confirmed));
        }
        if self.mismatched_bookings > 0 {
            violations.push(format!("{} confirmed bookings without one ticket per seat", self.mismatched_bookings));
        }
        if self.money_kept > 0 {
            violations.push(format!("{} bookings keep a payment that bought nothing", self.money_kept));
        }
        violations
    }
}

pub async fn seats(db: &PgPool, ticket_type_id: Uuid) -> Result<Seats, sqlx::Error> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT t.capacity::bigint, t.remaining::bigint,
                (SELECT coalesce(sum(quantity), 0)::bigint FROM bookings
                  WHERE ticket_type_id = t.id AND status = 'held'),
                (SELECT coalesce(sum(quantity), 0)::bigint FROM bookings
                  WHERE ticket_type_id = t.id AND status = 'confirmed'),
                (SELECT count(*) FROM bookings WHERE ticket_type_id = t.id AND status = 'confirmed'),
                (SELECT count(*) FROM tickets WHERE ticket_type_id = t.id AND status <> 'void'),
                (SELECT count(*) FROM bookings b WHERE b.ticket_type_id = t.id AND b.status = 'confirmed'
                    AND b.quantity <> (SELECT count(*) FROM tickets k WHERE k.booking_id = b.id)),
                (SELECT count(*) FROM bookings b WHERE b.ticket_type_id = t.id
                    AND (SELECT count(*) FROM payments p WHERE p.booking_id = b.id AND p.status = 'succeeded'
                           AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.id))
                        > CASE WHEN b.status = 'confirmed' THEN 1 ELSE 0 END)
         FROM ticket_types t WHERE t.id = $1",
    )
    .bind(ticket_type_id)
    .fetch_one(db)
    .await?;
    let (capacity, remaining, held, confirmed, confirmed_bookings, live_tickets, mismatched_bookings, money_kept) = row;
    Ok(Seats {
        capacity,
        remaining,
        held,
        confirmed,
        confirmed_bookings,
        live_tickets,
        mismatched_bookings,
        money_kept,
    })
}

/// The papers of `ticket_type_id`'s bookings, broken (empty: all hold):
/// every confirmed paid booking has exactly one invoice (none where its event
/// issues none), every refund of an
/// invoiced payment exactly one credit note, and its organizer's numbers
/// run from 1 without a gap or a repeat in every year.
pub async fn invoice_violations(db: &PgPool, ticket_type_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let (uninvoiced, uncredited, gaps): (i64, i64, i64) = sqlx::query_as(
        "SELECT
           (SELECT count(*) FROM bookings b WHERE b.ticket_type_id = $1 AND b.status = 'confirmed'
               AND EXISTS (SELECT 1 FROM payments p WHERE p.booking_id = b.id AND p.status = 'succeeded'
                             AND p.amount_cents > 0)
               AND (SELECT count(*) FROM invoices i WHERE i.booking_id = b.id AND i.kind = 'invoice')
                   <> (SELECT e.issue_invoices::int FROM events e WHERE e.id = b.event_id)),
           (SELECT count(*) FROM refunds r JOIN bookings b ON b.id = r.booking_id
              JOIN invoices i ON i.payment_id = r.payment_id AND i.kind = 'invoice'
             WHERE b.ticket_type_id = $1
               AND (SELECT count(*) FROM invoices c WHERE c.refund_id = r.id) <> 1),
           (SELECT count(*) FROM (
               SELECT i.year FROM invoices i
                WHERE i.organizer_id = (SELECT e.organization_id FROM ticket_types t JOIN events e ON e.id = t.event_id
                                         WHERE t.id = $1)
                GROUP BY i.year HAVING max(i.seq) <> count(*) OR min(i.seq) <> 1
                    OR count(DISTINCT i.seq) <> count(*)) g)",
    )
    .bind(ticket_type_id)
    .fetch_one(db)
    .await?;
    let mut violations = Vec::new();
    if uninvoiced > 0 {
        violations.push(format!(
            "{uninvoiced} paid confirmed bookings without exactly one invoice (or with one where the event issues none)"
        ));
    }
    if uncredited > 0 {
        violations.push(format!("{uncredited} refunds of invoiced payments without exactly one credit note"));
    }
    if gaps > 0 {
        violations.push(format!("the organizer's invoice numbers have a gap or a repeat in {gaps} years"));
    }
    Ok(violations)
}

/// The invariant of every shared quota `ticket_type_id` draws from, broken
/// (empty: all hold): `capacity = remaining + held + confirmed` over its
/// types, and `remaining ≥ 0`.
pub async fn quota_violations(db: &PgPool, ticket_type_id: Uuid) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT q.name, q.capacity::bigint, q.remaining::bigint,
                (SELECT coalesce(sum(b.quantity), 0)::bigint FROM bookings b
                   JOIN quota_ticket_types x ON x.ticket_type_id = b.ticket_type_id
                  WHERE x.quota_id = q.id AND b.status IN ('held', 'confirmed'))
         FROM quotas q JOIN quota_ticket_types qt ON qt.quota_id = q.id
         WHERE qt.ticket_type_id = $1",
    )
    .bind(ticket_type_id)
    .fetch_all(db)
    .await?;
    let mut violations = Vec::new();
    for (name, capacity, remaining, taken) in rows {
        if capacity != remaining + taken {
            violations.push(format!(
                "quota {name:?}: capacity {capacity} ≠ remaining {remaining} + held and confirmed {taken}"
            ));
        }
        if remaining < 0 {
            violations.push(format!("quota {name:?}: remaining {remaining} < 0"));
        }
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_invariant_is_named() {
        let whole = Seats {
            capacity: 10,
            remaining: 2,
            held: 2,
            confirmed: 6,
            confirmed_bookings: 3,
            live_tickets: 6,
            mismatched_bookings: 0,
            money_kept: 0,
        };
        assert!(whole.violations().is_empty());
        let oversold = Seats { remaining: -3, confirmed: 11, live_tickets: 11, ..whole };
        assert_eq!(oversold.violations().len(), 1, "{:?}", oversold.violations());
        let doubled = Seats { live_tickets: 7, mismatched_bookings: 1, ..whole };
        assert_eq!(doubled.violations().len(), 2);
        let lost = Seats { confirmed: 5, ..whole };
        assert_eq!(lost.violations().len(), 2);
        let hold_forgotten = Seats { held: 0, ..whole };
        assert_eq!(hold_forgotten.violations().len(), 1);
        let kept = Seats { money_kept: 1, ..whole };
        assert_eq!(kept.violations().len(), 1);
    }
}
