//! Bookings: statuses, reasons, the allocation rule and ticket codes.
//!
//! [`allocate`] is the heart of the worker: given the requests of one batch
//! in arrival order and the locked inventory of their ticket types, it decides
//! who gets seats. It is a plain function so its promises (never oversell,
//! never skip a request that fits, first come first served) are tested
//! without a database.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A booking request the API accepted (answered 202) and the worker must
/// decide. The queue carries it in a format of its own
/// (`queue::message::BookingRequested`); nothing here depends on that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRequest {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    /// The price the buyer was shown when the request was accepted (`None`
    /// for requests from before it was recorded: not checked).
    pub unit_price_cents: Option<i64>,
    pub currency: Option<String>,
    /// The code it was accepted with (its price is `unit_price_cents`).
    pub code_id: Option<Uuid>,
    /// The presale of its code, when it has one before the sales start:
    /// the request is taken from that presale's pre-queue on, waits for its
    /// draw if taken before it, and goes straight into the line after.
    pub presale_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The tax the buyer was shown with the price: (rate, whether the price
    /// includes it); `None` for requests from before it travelled.
    pub tax: Option<(i32, bool)>,
    /// Holders' names and answers, checked at the accept; written with the
    /// decision if it gets seats.
    pub details: crate::domain::question::Details,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    /// Accepted, waiting for the worker.
    Pending,
    /// Seats set aside until `expires_at` while the buyer pays.
    Held,
    Confirmed,
    Rejected,
    /// The hold ran out unpaid; its seats went back.
    Expired,
    Cancelled,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Held => "held",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the worker has decided it (held counts: it left the line).
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

impl TryFrom<String> for BookingStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "pending" => Ok(Self::Pending),
            "held" => Ok(Self::Held),
            "confirmed" => Ok(Self::Confirmed),
            "rejected" => Ok(Self::Rejected),
            "expired" => Ok(Self::Expired),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(format!("unknown booking status {other:?}")),
        }
    }
}

/// Why a booking was rejected or cancelled: the `reason` code word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No seat left.
    SoldOut,
    /// Seats left, but fewer than requested.
    NotEnoughSeats,
    /// Outside the sales window, or the event is not published.
    SalesClosed,
    EventCancelled,
    /// The ticket type (or its event) no longer exists.
    TicketTypeGone,
    /// More seats than the ticket type allows in one order.
    TooManySeats,
    /// Another booking of the same user already holds this Idempotency-Key.
    DuplicateRequest,
    /// Cancelled by its owner.
    CancelledByUser,
    /// The ticket type's price or currency changed after the request was
    /// accepted: the buyer is not charged what they were not shown.
    PriceChanged,
    /// The buyer would own more seats of the ticket type than `max_per_buyer`.
    BuyerLimit,
    /// The hold ran out before it was paid.
    HoldExpired,
    /// Paid after the hold ran out, when the seats were gone: refunded in full.
    PaidAfterExpiry,
    /// Cancelled by the event's organizer (refunded when paid).
    CancelledByOrganizer,
    /// A second payment for a booking already paid (refunded).
    DuplicatePayment,
    /// A payment for a booking that can no longer be sold (refunded).
    NotPayable,
    /// Made for a waiting-list entry from seats that came back.
    WaitingListOffer,
    /// The buyer has as many unpaid holds in this event as one may.
    TooManyHolds,
    /// A hold of the buyer's on this ticket type ran out unpaid a short while ago.
    HoldCooldown,
    /// Its buyer left the line (the pre-queue, or the line) before their turn.
    LeftLine,
    /// Its code has no uses left (for its buyer, or at all).
    CodeUsedUp,
    /// Its code was disabled or removed after the request was accepted.
    CodeInvalid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SoldOut => "sold_out",
            Self::NotEnoughSeats => "not_enough_seats",
            Self::SalesClosed => "sales_closed",
            Self::EventCancelled => "event_cancelled",
            Self::TicketTypeGone => "ticket_type_gone",
            Self::TooManySeats => "too_many_seats",
            Self::DuplicateRequest => "duplicate_request",
            Self::CancelledByUser => "cancelled_by_user",
            Self::PriceChanged => "price_changed",
            Self::BuyerLimit => "buyer_limit",
            Self::HoldExpired => "hold_expired",
            Self::PaidAfterExpiry => "paid_after_expiry",
            Self::CancelledByOrganizer => "cancelled_by_organizer",
            Self::DuplicatePayment => "duplicate_payment",
            Self::NotPayable => "not_payable",
            Self::WaitingListOffer => "waiting_list_offer",
            Self::TooManyHolds => "too_many_holds",
            Self::HoldCooldown => "hold_cooldown",
            Self::LeftLine => "left_line",
            Self::CodeUsedUp => "code_used_up",
            Self::CodeInvalid => "code_invalid",
        }
    }
}

/// Whether a ticket type can be sold right now, as seen inside the
/// allocation transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    OnSale,
    Closed(Reason),
}

/// A ticket type's locked row, as allocation sees it.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub remaining: i32,
    pub max_per_order: i32,
    pub availability: Availability,
    /// Seats one buyer may own of this type across their bookings.
    pub max_per_buyer: Option<i32>,
    /// With `max_per_buyer`: the seats each buyer of the batch owns already.
    pub owned: HashMap<Uuid, i32>,
    /// Seats given from this type are held until paid (it has a price), so
    /// the rules against seat spinning apply; and the event they count in.
    pub holds_in: Option<Uuid>,
    /// The shared quotas the type draws from too (their seats left are the
    /// `quotas` given to [`allocate`]).
    pub quotas: Vec<Uuid>,
}

/// What keeps one buyer from holding a sale's seats unpaid again and again
/// ("seat spinning"), for the buyers of a batch: read under the batch's
/// locks, updated as the batch gives holds.
#[derive(Debug, Clone, Default)]
pub struct Spinning {
    /// Unpaid holds per (event, buyer), waiting-list offers included.
    pub holds: HashMap<(Uuid, Uuid), i64>,
    /// (ticket type, buyer) pairs whose hold ran out too recently to hold again.
    pub cooling: HashSet<(Uuid, Uuid)>,
}

/// One request of a batch, in arrival order.
#[derive(Debug, Clone, Copy)]
pub struct SeatRequest {
    pub ticket_type_id: Uuid,
    pub buyer: Uuid,
    pub quantity: i32,
    /// The code it was accepted with, whose uses it takes.
    pub code: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirmed,
    Rejected(Reason),
}

/// Decides every request in order, taking seats from `inventory` as it goes.
/// A request that does not fit is rejected without stopping the ones after
/// it: a smaller later request may still fit.
pub fn allocate(
    requests: &[SeatRequest],
    inventory: &mut HashMap<Uuid, Inventory>,
    spinning: &mut Spinning,
    codes: &mut HashMap<Uuid, super::code::CodeStock>,
    quotas: &mut HashMap<Uuid, i32>,
) -> Vec<Decision> {
    requests
        .iter()
        .map(|request| {
            let Some(stock) = inventory.get_mut(&request.ticket_type_id) else {
                return Decision::Rejected(Reason::TicketTypeGone);
            };
            if let Availability::Closed(reason) = stock.availability {
                return Decision::Rejected(reason);
            }
            if request.quantity < 1 || request.quantity > stock.max_per_order {
                return Decision::Rejected(Reason::TooManySeats);
            }
            let owned = stock.owned.get(&request.buyer).copied().unwrap_or(0);
            if stock.max_per_buyer.is_some_and(|limit| owned + request.quantity > limit) {
                return Decision::Rejected(Reason::BuyerLimit);
            }
            if stock.holds_in.is_some() && spinning.cooling.contains(&(request.ticket_type_id, request.buyer)) {
                return Decision::Rejected(Reason::HoldCooldown);
            }
            let holds = stock.holds_in.map(|event| spinning.holds.entry((event, request.buyer)).or_default());
            if holds.as_deref().is_some_and(|held| *held >= super::checkout::MAX_UNPAID_HOLDS) {
                return Decision::Rejected(Reason::TooManyHolds);
            }
            // The seats it may have: its type's, and every quota's it is in.
            let shared = stock.quotas.iter().map(|q| quotas.get(q).copied().unwrap_or(0)).min();
            let available = shared.map_or(stock.remaining, |left| left.min(stock.remaining));
            if available >= request.quantity {
                // Seats there are; the code must have uses left for them too
                // (a code no longer usable is not in `codes`).
                if let Some(code) = request.code {
                    match codes.get_mut(&code) {
                        Some(uses) if uses.allows(request.buyer, i64::from(request.quantity)) => {
                            uses.take(request.buyer, i64::from(request.quantity));
                        }
                        Some(_) => return Decision::Rejected(Reason::CodeUsedUp),
                        None => return Decision::Rejected(Reason::CodeInvalid),
                    }
                }
                stock.remaining -= request.quantity;
                for quota in &stock.quotas {
                    if let Some(left) = quotas.get_mut(quota) {
                        *left -= request.quantity;
                    }
                }
                if stock.max_per_buyer.is_some() {
                    stock.owned.insert(request.buyer, owned + request.quantity);
                }
                if let Some(held) = holds {
                    *held += 1;
                }
                Decision::Confirmed
            } else if available == 0 {
                Decision::Rejected(Reason::SoldOut)
            } else {
                Decision::Rejected(Reason::NotEnoughSeats)
            }
        })
        .collect()
}

/// A new ticket code: 128 random bits in Crockford base32 (26 characters,
/// no I, L, O or U), easy to read aloud and to put in a QR code.
pub fn new_ticket_code() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut value = u128::from_le_bytes(rand::random());
    let mut code = [0u8; 26];
    for slot in code.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8(code.to_vec()).expect("ASCII alphabet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(remaining: i32) -> Inventory {
        Inventory {
            remaining,
            max_per_order: 10,
            availability: Availability::OnSale,
            max_per_buyer: None,
            owned: HashMap::new(),
            quotas: Vec::new(),
            holds_in: None,
        }
    }

    fn requests(tt: Uuid, quantities: &[i32]) -> Vec<SeatRequest> {
        quantities
            .iter()
            .map(|&quantity| SeatRequest { ticket_type_id: tt, buyer: Uuid::now_v7(), quantity, code: None })
            .collect()
    }

    #[test]
    fn types_sharing_a_quota_take_from_it_and_are_sold_out_with_it() {
        let (floor, early) = (Uuid::now_v7(), Uuid::now_v7());
        let quota = Uuid::now_v7();
        let in_quota = |remaining| Inventory { quotas: vec![quota], ..stock(remaining) };
        let mut inventory = HashMap::from([(floor, in_quota(10)), (early, in_quota(10))]);
        let mut quotas = HashMap::from([(quota, 5)]);
        let order =
            |ticket_type_id, quantity| SeatRequest { ticket_type_id, buyer: Uuid::now_v7(), quantity, code: None };
        let batch = [order(floor, 3), order(early, 3), order(early, 2), order(floor, 1)];
        let decisions = allocate(&batch, &mut inventory, &mut Spinning::default(), &mut HashMap::new(), &mut quotas);
        assert_eq!(
            decisions,
            [
                Decision::Confirmed,
                Decision::Rejected(Reason::NotEnoughSeats),
                Decision::Confirmed,
                Decision::Rejected(Reason::SoldOut)
            ],
            "five shared: 3 + 2, each type with seats of its own left"
        );
        assert_eq!((quotas[&quota], inventory[&floor].remaining, inventory[&early].remaining), (0, 7, 8));
    }

    #[test]
    fn a_code_goes_to_as_many_seats_as_it_has_uses_and_no_more() {
        let tt = Uuid::now_v7();
        let code = Uuid::now_v7();
        let mut inventory = HashMap::from([(tt, stock(100))]);
        let mut codes = HashMap::from([(
            code,
            super::super::code::CodeStock { uses_left: Some(5), max_per_buyer: None, used_by: HashMap::new() },
        )]);
        let with_code =
            |quantity| SeatRequest { ticket_type_id: tt, buyer: Uuid::now_v7(), quantity, code: Some(code) };
        let batch = [with_code(2), with_code(2), with_code(2), with_code(1)];
        let decisions = allocate(&batch, &mut inventory, &mut Spinning::default(), &mut codes, &mut HashMap::new());
        assert_eq!(
            decisions,
            [Decision::Confirmed, Decision::Confirmed, Decision::Rejected(Reason::CodeUsedUp), Decision::Confirmed],
            "five uses: 2 + 2, then 2 do not fit, 1 does"
        );
        assert_eq!(inventory[&tt].remaining, 95, "seats taken only with a use");
        let gone = SeatRequest { code: Some(Uuid::now_v7()), ..with_code(1) };
        let decisions = allocate(&[gone], &mut inventory, &mut Spinning::default(), &mut codes, &mut HashMap::new());
        assert_eq!(decisions, [Decision::Rejected(Reason::CodeInvalid)], "a code disabled since");
    }

    #[test]
    fn a_buyer_gets_no_more_seats_than_the_limit_across_orders() {
        let tt = Uuid::now_v7();
        let (ada, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let limited = Inventory { max_per_buyer: Some(4), owned: HashMap::from([(ada, 1)]), ..stock(20) };
        let mut inventory = HashMap::from([(tt, limited)]);
        let order = |buyer, quantity| SeatRequest { ticket_type_id: tt, buyer, quantity, code: None };
        // Ada owns 1: 2 more fit, then 2 do not (5 > 4), then 1 does; Bob has his own 4.
        let batch = [order(ada, 2), order(ada, 2), order(bob, 4), order(ada, 1), order(bob, 1)];
        let decisions =
            allocate(&batch, &mut inventory, &mut Spinning::default(), &mut HashMap::new(), &mut HashMap::new());
        use Decision::*;
        let limit = Rejected(Reason::BuyerLimit);
        assert_eq!(decisions, [Confirmed, limit, Confirmed, Confirmed, limit]);
        assert_eq!(inventory[&tt].remaining, 20 - 2 - 4 - 1);
        assert_eq!((inventory[&tt].owned[&ada], inventory[&tt].owned[&bob]), (4, 4));
    }

    #[test]
    fn a_buyer_holds_at_most_two_unpaid_bookings_of_an_event_and_waits_after_a_lapse() {
        let (event, priced, other_priced, free) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (ada, bob, cy) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut inventory = HashMap::from([
            (priced, Inventory { holds_in: Some(event), ..stock(20) }),
            (other_priced, Inventory { holds_in: Some(event), ..stock(20) }),
            (free, stock(20)),
        ]);
        // Bob holds one already (a waiting-list offer, say); Cy's hold of `priced` just ran out.
        let mut spinning =
            Spinning { holds: HashMap::from([((event, bob), 1)]), cooling: HashSet::from([(priced, cy)]) };
        let order = |ticket_type_id, buyer| SeatRequest { ticket_type_id, buyer, quantity: 1, code: None };
        let batch = [
            order(priced, ada),
            order(other_priced, ada),
            order(priced, ada),
            order(free, ada),
            order(other_priced, bob),
            order(priced, bob),
            order(priced, cy),
            order(other_priced, cy),
        ];
        use Decision::*;
        let decisions = allocate(&batch, &mut inventory, &mut spinning, &mut HashMap::new(), &mut HashMap::new());
        let (many, wait) = (Rejected(Reason::TooManyHolds), Rejected(Reason::HoldCooldown));
        assert_eq!(decisions, [Confirmed, Confirmed, many, Confirmed, Confirmed, many, wait, Confirmed]);
        assert_eq!((spinning.holds[&(event, ada)], spinning.holds[&(event, bob)]), (2, 2));
        assert_eq!(inventory[&priced].remaining, 19, "only Ada's first hold took a seat of it");
    }

    #[test]
    fn seats_go_first_come_first_served_until_none_are_left() {
        let tt = Uuid::now_v7();
        let mut inventory = HashMap::from([(tt, stock(3))]);
        let decisions = allocate(
            &requests(tt, &[1, 1, 1, 1]),
            &mut inventory,
            &mut Spinning::default(),
            &mut HashMap::new(),
            &mut HashMap::new(),
        );
        use Decision::*;
        assert_eq!(decisions, [Confirmed, Confirmed, Confirmed, Rejected(Reason::SoldOut)]);
        assert_eq!(inventory[&tt].remaining, 0);
    }

    #[test]
    fn a_request_that_does_not_fit_does_not_block_a_smaller_one_behind_it() {
        let tt = Uuid::now_v7();
        let mut inventory = HashMap::from([(tt, stock(2))]);
        let decisions = allocate(
            &requests(tt, &[3, 2]),
            &mut inventory,
            &mut Spinning::default(),
            &mut HashMap::new(),
            &mut HashMap::new(),
        );
        assert_eq!(decisions, [Decision::Rejected(Reason::NotEnoughSeats), Decision::Confirmed]);
    }

    #[test]
    fn closed_missing_and_oversized_requests_are_rejected_with_their_reason() {
        let (open, closed, gone) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut inventory = HashMap::from([
            (open, Inventory { max_per_order: 2, ..stock(5) }),
            (closed, Inventory { availability: Availability::Closed(Reason::EventCancelled), ..stock(5) }),
        ]);
        let batch = [
            SeatRequest { ticket_type_id: closed, buyer: Uuid::now_v7(), quantity: 1, code: None },
            SeatRequest { ticket_type_id: gone, buyer: Uuid::now_v7(), quantity: 1, code: None },
            SeatRequest { ticket_type_id: open, buyer: Uuid::now_v7(), quantity: 3, code: None },
            SeatRequest { ticket_type_id: open, buyer: Uuid::now_v7(), quantity: 2, code: None },
        ];
        let decisions =
            allocate(&batch, &mut inventory, &mut Spinning::default(), &mut HashMap::new(), &mut HashMap::new());
        assert_eq!(
            decisions,
            [
                Decision::Rejected(Reason::EventCancelled),
                Decision::Rejected(Reason::TicketTypeGone),
                Decision::Rejected(Reason::TooManySeats),
                Decision::Confirmed
            ]
        );
        assert_eq!(inventory[&closed].remaining, 5);
    }

    proptest::proptest! {
        /// Whatever the stock and the arrival order: nothing is oversold, a
        /// request is refused only when it did not fit at its turn, and the
        /// stock left is exactly what the confirmed requests did not take.
        #[test]
        fn random_batches_never_oversell_and_never_skip_a_request_that_fits(
            stocks in proptest::collection::vec((0i32..30, 1i32..6), 1..4),
            picks in proptest::collection::vec((0usize..4, 1i32..8), 0..60),
        ) {
            let types: Vec<Uuid> = stocks.iter().map(|_| Uuid::now_v7()).collect();
            let mut inventory: HashMap<Uuid, Inventory> = types
                .iter()
                .zip(&stocks)
                .map(|(tt, (remaining, max))| {
                    (*tt, Inventory { max_per_order: *max, ..stock(*remaining) })
                })
                .collect();
            let batch: Vec<SeatRequest> = picks
                .iter()
                .map(|(i, quantity)| SeatRequest {
                    ticket_type_id: types[i % types.len()],
                    buyer: Uuid::now_v7(),
                    quantity: *quantity,
                    code: None,
                })
                .collect();
            let decisions = allocate(&batch, &mut inventory, &mut Spinning::default(), &mut HashMap::new(), &mut HashMap::new());
            let mut left: HashMap<Uuid, i32> = types.iter().zip(&stocks).map(|(tt, (r, _))| (*tt, *r)).collect();
            for (request, decision) in batch.iter().zip(&decisions) {
                let max = stocks[types.iter().position(|t| *t == request.ticket_type_id).unwrap()].1;
                let left = left.get_mut(&request.ticket_type_id).unwrap();
                match decision {
                    Decision::Confirmed => *left -= request.quantity,
                    Decision::Rejected(Reason::TooManySeats) => proptest::prop_assert!(request.quantity > max),
                    Decision::Rejected(_) => proptest::prop_assert!(request.quantity > *left && request.quantity <= max),
                }
                proptest::prop_assert!(*left >= 0, "oversold");
            }
            for tt in &types {
                proptest::prop_assert_eq!(inventory[tt].remaining, left[tt]);
            }
        }
    }

    #[test]
    fn ticket_codes_are_26_characters_and_distinct() {
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| new_ticket_code()).collect();
        assert_eq!(codes.len(), 1000);
        assert!(codes.iter().all(|c| c.len() == 26 && c.bytes().all(|b| b.is_ascii_alphanumeric())));
    }
}
