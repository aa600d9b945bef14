//! The booking invariants of a ticket type, read from PostgreSQL: what the
//! tests, the fault suite and the load generator all check, in one place.

use sqlx::PgPool;
use uuid::Uuid;

/// What PostgreSQL holds for one ticket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub capacity: i64,
    pub remaining: i64,
    /// Seats of confirmed bookings.
    pub confirmed: i64,
    pub confirmed_bookings: i64,
    /// Tickets not void.
    pub live_tickets: i64,
    /// Confirmed bookings whose ticket count is not their quantity.
    pub mismatched_bookings: i64,
}

impl Seats {
    /// Every invariant broken, in words (empty: all hold):
    /// `capacity = remaining + confirmed seats`, `remaining ≥ 0`, one live
    /// ticket per confirmed seat, and per booking.
    pub fn violations(&self) -> Vec<String> {
        let mut violations = Vec::new();
        if self.capacity != self.remaining + self.confirmed {
            violations.push(format!(
                "capacity {} ≠ remaining {} + confirmed {}",
                self.capacity, self.remaining, self.confirmed
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
        violations
    }
}

pub async fn seats(db: &PgPool, ticket_type_id: Uuid) -> Result<Seats, sqlx::Error> {
    let (capacity, remaining, confirmed, confirmed_bookings, live_tickets, mismatched_bookings) = sqlx::query_as(
        "SELECT t.capacity::bigint, t.remaining::bigint,
                (SELECT coalesce(sum(quantity), 0)::bigint FROM bookings
                  WHERE ticket_type_id = t.id AND status = 'confirmed'),
                (SELECT count(*) FROM bookings WHERE ticket_type_id = t.id AND status = 'confirmed'),
                (SELECT count(*) FROM tickets WHERE ticket_type_id = t.id AND status <> 'void'),
                (SELECT count(*) FROM bookings b WHERE b.ticket_type_id = t.id AND b.status = 'confirmed'
                    AND b.quantity <> (SELECT count(*) FROM tickets k WHERE k.booking_id = b.id))
         FROM ticket_types t WHERE t.id = $1",
    )
    .bind(ticket_type_id)
    .fetch_one(db)
    .await?;
    Ok(Seats { capacity, remaining, confirmed, confirmed_bookings, live_tickets, mismatched_bookings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_broken_invariant_is_named() {
        let whole = Seats {
            capacity: 10,
            remaining: 4,
            confirmed: 6,
            confirmed_bookings: 3,
            live_tickets: 6,
            mismatched_bookings: 0,
        };
        assert!(whole.violations().is_empty());
        let oversold = Seats { remaining: -1, confirmed: 11, live_tickets: 11, ..whole };
        assert_eq!(oversold.violations().len(), 1, "{:?}", oversold.violations());
        let doubled = Seats { live_tickets: 7, mismatched_bookings: 1, ..whole };
        assert_eq!(doubled.violations().len(), 2);
        let lost = Seats { confirmed: 5, ..whole };
        assert_eq!(lost.violations().len(), 2);
    }
}
