//! Checkout rules: who is held and for how long, and what a payment that
//! arrives does to its booking. Plain functions: the transactions in
//! `booking::pay` and `booking::holds` apply what these decide.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Violations;
use super::booking::{BookingStatus, Reason};

pub const HOLD_SECONDS_DEFAULT: i64 = 600;
pub const HOLD_SECONDS_RANGE: (i64, i64) = (60, 3600);
pub const OFFLINE_HOLD_HOURS_DEFAULT: i64 = 24;
pub const OFFLINE_HOLD_HOURS_RANGE: (i64, i64) = (1, 336);
pub const HOLD_COOLDOWN_SECONDS_DEFAULT: i64 = 600;
pub const HOLD_COOLDOWN_SECONDS_RANGE: (i64, i64) = (0, 86_400);
/// Unpaid holds one buyer may have at once across an event's ticket types
/// (waiting-list offers count): enough to pay for two kinds of seat, too
/// few to keep a sale's seats out of everyone's reach ("seat spinning").
pub const MAX_UNPAID_HOLDS: i64 = 2;

/// How a held booking is paid: chosen by the server's settings, fixed per
/// booking when its seats are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A card, through Stripe's Payment Intents.
    Stripe,
    /// Bank transfer or at the door; the organizer marks the booking paid.
    Offline,
}

impl Provider {
    /// How holds of an event taking `methods` (`None`: what the server
    /// has) are paid, on a server whose own is `server`: by card where the
    /// event takes cards and the server has Stripe, else offline.
    pub fn for_event(methods: Option<&[String]>, server: Provider) -> Provider {
        match methods {
            None => server,
            Some(methods) if server == Provider::Stripe && methods.iter().any(|m| m == "card") => Provider::Stripe,
            Some(_) => Provider::Offline,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Offline => "offline",
        }
    }
}

impl TryFrom<String> for Provider {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "stripe" => Ok(Self::Stripe),
            "offline" => Ok(Self::Offline),
            other => Err(format!("unknown payment provider {other:?}")),
        }
    }
}

/// An event's hold times, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTimes {
    pub hold_seconds: i32,
    pub offline_hold_hours: i32,
    /// After a hold of theirs ran out unpaid, seconds before the same buyer
    /// may hold that ticket type again.
    pub hold_cooldown_seconds: i32,
}

/// How late a hold's release may come after its expiry and still be
/// refused at the door (later than that, the worker refuses it).
const RELEASE_LAG: Duration = Duration::minutes(10);

impl Default for HoldTimes {
    fn default() -> Self {
        Self {
            hold_seconds: HOLD_SECONDS_DEFAULT as i32,
            offline_hold_hours: OFFLINE_HOLD_HOURS_DEFAULT as i32,
            hold_cooldown_seconds: HOLD_COOLDOWN_SECONDS_DEFAULT as i32,
        }
    }
}

impl HoldTimes {
    /// When a hold taken at `now` for `provider` runs out: a card is paid in
    /// minutes, a bank transfer in days.
    pub fn expiry(&self, now: DateTime<Utc>, provider: Provider) -> DateTime<Utc> {
        match provider {
            Provider::Stripe => now + Duration::seconds(i64::from(self.hold_seconds)),
            Provider::Offline => now + Duration::hours(i64::from(self.offline_hold_hours)),
        }
    }

    /// When a buyer whose hold ran out at `lapsed` may hold the same ticket
    /// type again, if that is after `now`.
    pub fn cooldown_until(&self, lapsed: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = lapsed + Duration::seconds(i64::from(self.hold_cooldown_seconds));
        (until > now).then_some(until)
    }

    /// Until when the door should look up a buyer given a hold that runs
    /// out at `expiry`: it may be unpaid until then, is released a little
    /// later (the worker's pass may lag), and cools down after that.
    pub fn watch_until(&self, expiry: DateTime<Utc>) -> DateTime<Utc> {
        expiry + RELEASE_LAG + Duration::seconds(i64::from(self.hold_cooldown_seconds))
    }

    /// Validated from optional fields (absent: `current`).
    pub fn check(v: &mut Violations, asked: AskedHoldTimes, current: HoldTimes) -> Option<Self> {
        let AskedHoldTimes { hold_seconds, offline_hold_hours, hold_cooldown_seconds } = asked;
        let (lo, hi) = HOLD_SECONDS_RANGE;
        let hold = match hold_seconds {
            Some(s) => v.range("hold_seconds", s, lo, hi).map(|s| s as i32),
            None => Some(current.hold_seconds),
        };
        let (lo, hi) = OFFLINE_HOLD_HOURS_RANGE;
        let offline = match offline_hold_hours {
            Some(h) => v.range("offline_hold_hours", h, lo, hi).map(|h| h as i32),
            None => Some(current.offline_hold_hours),
        };
        let (lo, hi) = HOLD_COOLDOWN_SECONDS_RANGE;
        let cooldown = match hold_cooldown_seconds {
            Some(s) => v.range("hold_cooldown_seconds", s, lo, hi).map(|s| s as i32),
            None => Some(current.hold_cooldown_seconds),
        };
        Some(Self { hold_seconds: hold?, offline_hold_hours: offline?, hold_cooldown_seconds: cooldown? })
    }
}

/// Hold times as a request asks for them (`None`: keep what is set).
#[derive(Debug, Clone, Copy, Default)]
pub struct AskedHoldTimes {
    pub hold_seconds: Option<i64>,
    pub offline_hold_hours: Option<i64>,
    pub hold_cooldown_seconds: Option<i64>,
}

/// What the allocator's "these seats are yours" becomes: a booking with
/// something to pay is held until paid; one that costs nothing is confirmed.
pub fn status_when_allocated(unit_price_cents: i64, quantity: i32) -> BookingStatus {
    if unit_price_cents.saturating_mul(i64::from(quantity)) > 0 {
        BookingStatus::Held
    } else {
        BookingStatus::Confirmed
    }
}

/// What a payment that has succeeded does to its booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPaid {
    /// Held: the seats are already set aside; sell them.
    Confirm,
    /// The hold ran out: sell the seats if the allocator can still give them,
    /// otherwise refund in full (`paid_after_expiry`).
    Retake,
    /// Nothing to sell for this money: refund it in full, for this reason.
    Refund(Reason),
}

/// The rule for a payment that succeeded (`already_paid`: the booking was
/// paid by another payment before). Money is never kept without tickets.
pub fn on_payment(status: BookingStatus, already_paid: bool) -> OnPaid {
    match status {
        BookingStatus::Held if !already_paid => OnPaid::Confirm,
        BookingStatus::Expired => OnPaid::Retake,
        BookingStatus::Held | BookingStatus::Confirmed => OnPaid::Refund(Reason::DuplicatePayment),
        BookingStatus::Cancelled | BookingStatus::Rejected | BookingStatus::Pending => {
            OnPaid::Refund(Reason::NotPayable)
        }
    }
}

/// Whether a booking in `status` can be paid (or marked paid) now.
pub fn payable(status: BookingStatus) -> bool {
    status == BookingStatus::Held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priced_bookings_are_held_and_free_ones_confirmed() {
        assert_eq!(status_when_allocated(1000, 2), BookingStatus::Held);
        assert_eq!(status_when_allocated(0, 5), BookingStatus::Confirmed);
        assert_eq!(status_when_allocated(i64::MAX, 2), BookingStatus::Held, "saturates instead of wrapping");
    }

    #[test]
    fn a_card_holds_for_seconds_and_a_bank_transfer_for_hours() {
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let times = HoldTimes { hold_seconds: 90, offline_hold_hours: 2, hold_cooldown_seconds: 600 };
        assert_eq!(times.expiry(now, Provider::Stripe), now + Duration::seconds(90));
        assert_eq!(times.expiry(now, Provider::Offline), now + Duration::hours(2));
    }

    #[test]
    fn a_buyer_whose_hold_ran_out_waits_the_cooldown() {
        let lapsed = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let times = HoldTimes::default();
        let until = lapsed + Duration::seconds(600);
        assert_eq!(times.cooldown_until(lapsed, lapsed + Duration::seconds(599)), Some(until));
        assert_eq!(times.cooldown_until(lapsed, until), None);
        let none = HoldTimes { hold_cooldown_seconds: 0, ..times };
        assert_eq!(none.cooldown_until(lapsed, lapsed), None, "0 turns it off");
    }

    #[test]
    fn hold_times_outside_their_ranges_are_named() {
        let mut v = Violations::new();
        let asked = AskedHoldTimes {
            hold_seconds: Some(59),
            offline_hold_hours: Some(337),
            hold_cooldown_seconds: Some(86_401),
        };
        assert!(HoldTimes::check(&mut v, asked, HoldTimes::default()).is_none());
        let fields: Vec<String> = v.finish().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["hold_seconds", "offline_hold_hours", "hold_cooldown_seconds"]);
        let mut v = Violations::new();
        let current = HoldTimes { hold_seconds: 1, offline_hold_hours: 5, hold_cooldown_seconds: 7 };
        let asked = AskedHoldTimes { hold_seconds: Some(3600), ..Default::default() };
        let kept = HoldTimes::check(&mut v, asked, current);
        assert_eq!(kept, Some(HoldTimes { hold_seconds: 3600, ..current }));
    }

    #[test]
    fn money_that_buys_nothing_is_refunded() {
        use BookingStatus::*;
        assert_eq!(on_payment(Held, false), OnPaid::Confirm);
        assert_eq!(on_payment(Expired, false), OnPaid::Retake);
        assert_eq!(on_payment(Confirmed, true), OnPaid::Refund(Reason::DuplicatePayment));
        assert_eq!(on_payment(Held, true), OnPaid::Refund(Reason::DuplicatePayment));
        for status in [Cancelled, Rejected, Pending] {
            assert_eq!(on_payment(status, false), OnPaid::Refund(Reason::NotPayable));
        }
    }
}
