//! The waiting list's rule: which entries get the seats that came back.

use uuid::Uuid;

/// One waiting entry, in list order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub id: Uuid,
    pub quantity: i32,
    /// The buyer may still own this many more seats of the type (`None`: no limit).
    pub may_own: Option<i32>,
}

/// Entries offered `remaining` seats, in list order: each that fits gets its
/// seats; one that does not keeps its place while smaller ones behind it may
/// be served (it is offered as soon as enough seats are back). An entry whose
/// buyer would pass `max_per_buyer` is passed over and keeps its place.
pub fn offers(mut remaining: i32, entries: &[Entry]) -> Vec<Uuid> {
    let mut offered = Vec::new();
    for entry in entries {
        if remaining == 0 {
            break;
        }
        let allowed = entry.may_own.is_none_or(|left| entry.quantity <= left);
        if entry.quantity <= remaining && allowed {
            remaining -= entry.quantity;
            offered.push(entry.id);
        }
    }
    offered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u128, quantity: i32) -> Entry {
        Entry { id: Uuid::from_u128(n), quantity, may_own: None }
    }

    #[test]
    fn a_larger_entry_keeps_its_place_while_smaller_ones_behind_it_are_served() {
        // Capacity raised by 5 with 3, 4 and 2 waiting: 3 and 2 are offered.
        let list = [entry(1, 3), entry(2, 4), entry(3, 2)];
        assert_eq!(offers(5, &list), [Uuid::from_u128(1), Uuid::from_u128(3)]);
        // Enough seats back: the 4 is offered first.
        assert_eq!(offers(4, &list[1..]), [Uuid::from_u128(2)]);
        assert!(offers(0, &list).is_empty());
    }

    #[test]
    fn an_entry_over_the_buyers_limit_is_passed_over() {
        let list = [Entry { may_own: Some(1), ..entry(1, 2) }, entry(2, 2)];
        assert_eq!(offers(2, &list), [Uuid::from_u128(2)]);
    }
}
