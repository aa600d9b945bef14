//! Codes (vouchers): what an organizer hands out so that some buyers pay
//! less, or may book a hidden ticket type. The rules here are pure: how a
//! typed code is read, how one is made, what price it gives, and whether it
//! may be used for a ticket type at a moment. How many times it was used is
//! counted where seats are, in the worker's transaction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Crockford's base32: no I, L, O or U, so a code read out is typed right.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Length of a generated code (50 bits: not guessed by trying).
pub const GENERATED_LENGTH: usize = 10;
/// Longest code an organizer may choose.
pub const MAX_LENGTH: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeKind {
    /// `value` percent off (1–100).
    Percent,
    /// `value` cents off each ticket, never below 0.
    Fixed,
    /// Each ticket costs `value` cents.
    Price,
    /// No discount: opens the hidden ticket types it names.
    Unlock,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Percent => "percent",
            Self::Fixed => "fixed",
            Self::Price => "price",
            Self::Unlock => "unlock",
        }
    }
}

impl TryFrom<String> for CodeKind {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "percent" => Ok(Self::Percent),
            "fixed" => Ok(Self::Fixed),
            "price" => Ok(Self::Price),
            "unlock" => Ok(Self::Unlock),
            other => Err(format!("unknown code kind {other:?}")),
        }
    }
}

/// A typed code as it is stored and compared: upper case, without dashes or
/// spaces ("summer-24" and "SUMMER 24" are the same code). `None` when it
/// holds anything but letters and digits, or nothing.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    let plain = !code.is_empty() && code.len() <= MAX_LENGTH && code.bytes().all(|b| b.is_ascii_alphanumeric());
    plain.then_some(code)
}

/// A new random code, `prefix` first (already normalized).
pub fn generate(prefix: &str) -> String {
    let mut code = prefix.to_owned();
    for _ in 0..GENERATED_LENGTH {
        code.push(ALPHABET[rand::random::<usize>() % 32] as char);
    }
    code
}

/// A stored code as a person reads it: groups of five ("K7M2X-9QXDA").
pub fn display(code: &str) -> String {
    if code.len() <= 6 {
        return code.to_owned();
    }
    let chars: Vec<char> = code.chars().collect();
    chars.chunks(5).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// What a code does to a price, and where and when it may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRule {
    pub id: Uuid,
    pub code: String,
    pub kind: CodeKind,
    pub value: Option<i64>,
    /// The ticket types it is for; `None`: every type of the event that is
    /// not hidden.
    pub ticket_type_ids: Option<Vec<Uuid>>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// Its holders book from then, before the sales start, through a
    /// pre-queue and draw of their own.
    #[serde(default)]
    pub presale_from: Option<DateTime<Utc>>,
    pub disabled: bool,
}

/// Why a code cannot be used for a request (the accept's answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    #[error("this code is not valid for this event")]
    Invalid,
    #[error("this code is not valid now")]
    Expired,
    #[error("this code is not valid for this ticket type")]
    NotForType,
}

impl CodeRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "code_invalid",
            Self::Expired => "code_expired",
            Self::NotForType => "code_not_for_type",
        }
    }
}

impl CodeRule {
    /// Whether it may be used for ticket type `ticket_type_id` (`hidden`:
    /// whether that type is hidden) at `now`.
    pub fn check(&self, ticket_type_id: Uuid, hidden: bool, now: DateTime<Utc>) -> Result<(), CodeRefusal> {
        if self.disabled {
            return Err(CodeRefusal::Invalid);
        }
        if self.valid_from.is_some_and(|from| now < from) || self.valid_until.is_some_and(|until| now >= until) {
            return Err(CodeRefusal::Expired);
        }
        if !self.covers(ticket_type_id, hidden) {
            return Err(CodeRefusal::NotForType);
        }
        Ok(())
    }

    /// Whether it is for `ticket_type_id`: a hidden type only when named.
    pub fn covers(&self, ticket_type_id: Uuid, hidden: bool) -> bool {
        match &self.ticket_type_ids {
            Some(ids) => ids.contains(&ticket_type_id),
            None => !hidden,
        }
    }

    /// Whether it opens hidden type `ticket_type_id` (it names it).
    pub fn unlocks(&self, ticket_type_id: Uuid) -> bool {
        self.ticket_type_ids.as_ref().is_some_and(|ids| ids.contains(&ticket_type_id))
    }

    /// The price of one ticket of `price_cents` with this code.
    pub fn unit_price(&self, price_cents: i64) -> i64 {
        unit_price(self.kind, self.value, price_cents)
    }
}

/// The price of one ticket of `price_cents` with a code of `kind` and
/// `value`: never below 0, never above the price; percentages round to the
/// nearest cent, halves up (as pretix).
pub fn unit_price(kind: CodeKind, value: Option<i64>, price_cents: i64) -> i64 {
    let value = value.unwrap_or(0);
    let price = match kind {
        CodeKind::Percent => price_cents - (price_cents * value.clamp(0, 100) + 50) / 100,
        CodeKind::Fixed => price_cents - value,
        CodeKind::Price => value,
        CodeKind::Unlock => price_cents,
    };
    price.clamp(0, price_cents.max(0))
}

/// How many more seats a code may go to, for one batch: read under the
/// code's lock in the worker's transaction and taken from as it gives seats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeStock {
    /// Seats it may still go to (`None`: no limit).
    pub uses_left: Option<i64>,
    pub max_per_buyer: Option<i64>,
    /// Seats each buyer of the batch holds or owns with it already.
    pub used_by: std::collections::HashMap<Uuid, i64>,
}

impl CodeStock {
    /// Whether `buyer` may use it for `quantity` more seats.
    pub fn allows(&self, buyer: Uuid, quantity: i64) -> bool {
        let under_uses = self.uses_left.is_none_or(|left| quantity <= left);
        let mine = self.used_by.get(&buyer).copied().unwrap_or(0);
        under_uses && self.max_per_buyer.is_none_or(|most| mine + quantity <= most)
    }

    pub fn take(&mut self, buyer: Uuid, quantity: i64) {
        if let Some(left) = self.uses_left.as_mut() {
            *left -= quantity;
        }
        *self.used_by.entry(buyer).or_default() += quantity;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_without_case_dashes_or_spaces_and_shown_in_groups() {
        assert_eq!(normalize("summer-24").as_deref(), Some("SUMMER24"));
        assert_eq!(normalize(" Summer 24 ").as_deref(), Some("SUMMER24"));
        assert_eq!(normalize("sümmer"), None);
        assert_eq!(normalize("--"), None);
        assert_eq!(normalize(&"A".repeat(MAX_LENGTH + 1)), None);
        let made = generate("VIP");
        assert_eq!(made.len(), 3 + GENERATED_LENGTH);
        assert_eq!(normalize(&display(&made)).as_deref(), Some(made.as_str()));
        assert_eq!(display("K7M2X9QXDA"), "K7M2X-9QXDA");
        assert_eq!(display("VIP24"), "VIP24");
    }

    #[test]
    fn a_code_prices_a_ticket_never_below_zero_nor_above_its_price() {
        assert_eq!(unit_price(CodeKind::Percent, Some(20), 2500), 2000);
        assert_eq!(unit_price(CodeKind::Percent, Some(15), 999), 849, "849.15 → 849");
        assert_eq!(unit_price(CodeKind::Percent, Some(50), 1), 0, "0.5 cent off rounds up");
        assert_eq!(unit_price(CodeKind::Percent, Some(100), 2500), 0);
        assert_eq!(unit_price(CodeKind::Fixed, Some(500), 2500), 2000);
        assert_eq!(unit_price(CodeKind::Fixed, Some(5000), 2500), 0);
        assert_eq!(unit_price(CodeKind::Price, Some(1000), 2500), 1000);
        assert_eq!(unit_price(CodeKind::Price, Some(9000), 2500), 2500, "a code never raises a price");
        assert_eq!(unit_price(CodeKind::Unlock, None, 2500), 2500);
    }

    #[test]
    fn a_code_is_for_its_types_in_its_window_while_enabled() {
        let (named, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc::now();
        let rule = CodeRule {
            id: Uuid::new_v4(),
            code: "X".into(),
            kind: CodeKind::Unlock,
            value: None,
            ticket_type_ids: Some(vec![named]),
            valid_from: Some(now - chrono::Duration::hours(1)),
            valid_until: Some(now + chrono::Duration::hours(1)),
            presale_from: None,
            disabled: false,
        };
        assert_eq!(rule.check(named, true, now), Ok(()), "a hidden type it names");
        assert_eq!(rule.check(other, false, now), Err(CodeRefusal::NotForType));
        assert_eq!(rule.check(named, true, now + chrono::Duration::hours(2)), Err(CodeRefusal::Expired));
        assert_eq!(rule.check(named, true, now - chrono::Duration::hours(2)), Err(CodeRefusal::Expired));
        let everywhere = CodeRule { ticket_type_ids: None, ..rule.clone() };
        assert_eq!(everywhere.check(other, false, now), Ok(()));
        assert_eq!(everywhere.check(other, true, now), Err(CodeRefusal::NotForType), "hidden types only when named");
        let off = CodeRule { disabled: true, ..rule };
        assert_eq!(off.check(named, true, now), Err(CodeRefusal::Invalid));
    }

    #[test]
    fn a_codes_stock_counts_its_uses_and_each_buyers() {
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let mut stock = CodeStock { uses_left: Some(3), max_per_buyer: Some(2), used_by: Default::default() };
        assert!(stock.allows(ada, 2));
        stock.take(ada, 2);
        assert!(!stock.allows(ada, 1), "Ada has her two");
        assert!(stock.allows(bob, 1));
        assert!(!stock.allows(bob, 2), "one use left");
        stock.take(bob, 1);
        assert!(!stock.allows(bob, 1));
    }
}
