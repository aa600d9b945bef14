//! Tax on a sale as an invoice states it: integer minor units, rounded per
//! line half to even, so that net + tax = gross on every line and therefore
//! in every total. Rates are basis points (1900 = 19 %).

use serde::{Deserialize, Serialize};

/// 100 %, in basis points.
pub const RATE_MAX: i32 = 10_000;

/// A line's (or a total's) amounts, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Amounts {
    pub net_cents: i64,
    pub tax_cents: i64,
    pub gross_cents: i64,
}

impl Amounts {
    /// `quantity` at `unit` each, taxed at `rate`: `included`, the unit
    /// price is gross (tax taken out of it); else net (tax added on top).
    pub fn of_line(unit: i64, quantity: i64, rate: i32, included: bool) -> Self {
        let total = i128::from(unit) * i128::from(quantity);
        let rate = i128::from(rate.clamp(0, RATE_MAX));
        let scale = i128::from(RATE_MAX);
        if included {
            let net = div_half_even(total * scale, scale + rate);
            Self { net_cents: net as i64, tax_cents: (total - net) as i64, gross_cents: total as i64 }
        } else {
            let tax = div_half_even(total * rate, scale);
            Self { net_cents: total as i64, tax_cents: tax as i64, gross_cents: (total + tax) as i64 }
        }
    }

    /// `gross` taken apart at `rate` (a refund of part of a line).
    pub fn of_gross(gross: i64, rate: i32) -> Self {
        Self::of_line(gross, 1, rate, true)
    }

    pub fn negated(self) -> Self {
        Self { net_cents: -self.net_cents, tax_cents: -self.tax_cents, gross_cents: -self.gross_cents }
    }

    pub fn plus(self, other: Self) -> Self {
        Self {
            net_cents: self.net_cents + other.net_cents,
            tax_cents: self.tax_cents + other.tax_cents,
            gross_cents: self.gross_cents + other.gross_cents,
        }
    }
}

/// What a buyer pays for `quantity` at `unit` (tax added when prices leave it out).
pub fn charged(unit: i64, quantity: i64, rate: i32, included: bool) -> i64 {
    Amounts::of_line(unit, quantity, rate, included).gross_cents
}

/// `n / d` rounded to the nearest integer, a half to the even one (banker's
/// rounding: no drift over many lines). `d` > 0.
fn div_half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    }
}

/// A rate typed in percent ("19", "7.5", "7,5 %", blank for none) in basis
/// points; `None` when it is not one between 0 and 100 with at most two
/// decimals.
pub fn parse_percent(typed: &str) -> Option<i32> {
    let typed = typed.trim().trim_end_matches('%').trim().replace(',', ".");
    if typed.is_empty() {
        return Some(0);
    }
    let (whole, fraction) = typed.split_once('.').unwrap_or((&typed, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 3 {
        return None;
    }
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hundredths: i32 = format!("{fraction:0<2}").parse().ok()?;
    let rate = whole.parse::<i32>().ok()? * 100 + hundredths;
    (rate <= RATE_MAX).then_some(rate)
}

/// A rate in percent as a form shows it ("19", "7.5").
pub fn percent_plain(rate: i32) -> String {
    rate_label(rate).trim_end_matches(" %").to_owned()
}

/// A rate as people write it: "19 %", "7.5 %", "0 %".
pub fn rate_label(rate: i32) -> String {
    let (whole, hundredths) = (rate / 100, rate % 100);
    match hundredths {
        0 => format!("{whole} %"),
        h if h % 10 == 0 => format!("{whole}.{} %", h / 10),
        h => format!("{whole}.{h:02} %"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn halves_go_to_the_even_neighbour() {
        assert_eq!(div_half_even(5, 2), 2);
        assert_eq!(div_half_even(7, 2), 4);
        assert_eq!(div_half_even(-5, 2), -2);
        assert_eq!(div_half_even(-7, 2), -4);
        assert_eq!(div_half_even(10, 4), 2, "2.5");
        assert_eq!(div_half_even(11, 4), 3, "2.75");
    }

    #[test]
    fn german_vat_on_a_ticket_and_a_yen_price() {
        // 25.00 € with 19 % in it: 21.01 + 3.99.
        assert_eq!(
            Amounts::of_line(2500, 1, 1900, true),
            Amounts { net_cents: 2101, tax_cents: 399, gross_cents: 2500 }
        );
        // Three of them: rounded once, on the line.
        assert_eq!(Amounts::of_line(2500, 3, 1900, true).net_cents, 6303);
        // 20.00 € before 7 % on top: 21.40.
        assert_eq!(Amounts::of_line(2000, 1, 700, false).gross_cents, 2140);
        // ¥500 with 10 % in it (a zero-decimal currency: minor units are yen).
        assert_eq!(Amounts::of_line(500, 1, 1000, true), Amounts { net_cents: 455, tax_cents: 45, gross_cents: 500 });
        assert_eq!(Amounts::of_line(1000, 2, 0, true).tax_cents, 0);
        assert_eq!(rate_label(1900), "19 %");
        assert_eq!(rate_label(750), "7.5 %");
        assert_eq!(rate_label(1225), "12.25 %");
        for (typed, rate) in [("19", Some(1900)), ("7,5", Some(750)), ("7.5 %", Some(750)), ("", Some(0))] {
            assert_eq!(parse_percent(typed), rate, "{typed}");
        }
        for bad in ["101", "-1", "1.234", "x", "1e3", ".5"] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(percent_plain(750), "7.5");
    }

    proptest! {
        #[test]
        fn every_line_adds_up_and_its_tax_is_the_nearest_unit(
            unit in 0i64..100_000_000,
            quantity in 1i64..1_000,
            rate in prop_oneof![Just(0), Just(550), Just(700), Just(1000), Just(1900), Just(2000), 0i32..=10_000],
            included: bool,
        ) {
            let line = Amounts::of_line(unit, quantity, rate, included);
            prop_assert_eq!(line.net_cents + line.tax_cents, line.gross_cents);
            prop_assert!(line.net_cents >= 0 && line.tax_cents >= 0);
            let total = i128::from(unit) * i128::from(quantity);
            let (rate, tax) = (i128::from(rate), i128::from(line.tax_cents));
            if included {
                prop_assert_eq!(i128::from(line.gross_cents), total);
                // tax = total · rate / (1 + rate), within half a unit.
                prop_assert!((tax * (10_000 + rate) - total * rate).abs() * 2 <= 10_000 + rate);
            } else {
                prop_assert_eq!(i128::from(line.net_cents), total);
                prop_assert!((tax * 10_000 - total * rate).abs() * 2 <= 10_000);
            }
            // A credit note of the line is its exact opposite.
            let credit = line.negated();
            prop_assert_eq!(credit.plus(line), Amounts::default());
        }

        #[test]
        fn totals_of_lines_add_up_too(lines in proptest::collection::vec((0i64..1_000_000, 1i64..20, 0i32..=10_000), 1..12)) {
            let total = lines
                .iter()
                .map(|(unit, quantity, rate)| Amounts::of_line(*unit, *quantity, *rate, true))
                .fold(Amounts::default(), Amounts::plus);
            prop_assert_eq!(total.net_cents + total.tax_cents, total.gross_cents);
        }
    }
}
