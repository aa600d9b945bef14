//! Amounts for people: integer minor units and an ISO 4217 code, written
//! with the currency's own number of decimals.

/// Currencies without minor units (ISO 4217 exponent 0) that Stripe and
/// banks treat as such; every other code is written with two decimals.
const ZERO_DECIMAL: [&str; 16] =
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// Digits after the decimal point in `currency`'s amounts: 0 or 2.
pub fn decimals(currency: &str) -> u32 {
    if ZERO_DECIMAL.contains(&currency.to_ascii_uppercase().as_str()) { 0 } else { 2 }
}

/// `2500, "EUR"` → `"25.00 EUR"`; `500, "JPY"` → `"500 JPY"`.
pub fn format(minor: i64, currency: &str) -> String {
    format!("{} {currency}", plain(minor, currency))
}

/// The amount as a person types it into a form: `2500, "EUR"` → `"25.00"`;
/// `500, "JPY"` → `"500"`.
pub fn plain(minor: i64, currency: &str) -> String {
    if decimals(currency) == 0 {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// What a person typed as an amount of `currency`, in minor units: "25",
/// "25.5", "25.00", "25,05" for EUR; "500" for JPY (which has no minor
/// units: "500.5" is no amount of yen). `None` for anything else.
pub fn parse(text: &str, currency: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once(['.', ',']).unwrap_or((text, ""));
    let places = decimals(currency) as usize;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || fraction.len() > places || !digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = if places == 0 { 0 } else { format!("{fraction:0<places$}").parse().ok()? };
    whole.checked_mul(10i64.pow(places as u32))?.checked_add(fraction)
}

/// How to write an amount of `currency`, for a form's message.
pub fn example(currency: &str) -> &'static str {
    if decimals(currency) == 0 { "500" } else { "25.00" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_amounts_are_read_in_the_currencys_decimals() {
        assert_eq!(parse("25", "EUR"), Some(2500));
        assert_eq!(parse("25.5", "EUR"), Some(2550));
        assert_eq!(parse("25,05", "eur"), Some(2505));
        assert_eq!(parse("0", "EUR"), Some(0));
        assert_eq!(parse("500", "JPY"), Some(500), "yen have no minor units: 500 is 500, not 50,000");
        assert_eq!(parse("500", "jpy"), Some(500));
        for (bad, currency) in [
            ("", "EUR"),
            ("-1", "EUR"),
            ("1.234", "EUR"),
            ("a", "EUR"),
            ("1e3", "EUR"),
            (".5", "EUR"),
            ("500.5", "JPY"),
        ] {
            assert_eq!(parse(bad, currency), None, "{bad:?} {currency}");
        }
        assert_eq!(plain(500, "JPY"), "500");
        assert_eq!(plain(2505, "EUR"), "25.05");
    }

    proptest! {
        /// Every currency the API takes (any three letters): what a form
        /// shows of an amount reads back as the same amount.
        #[test]
        fn an_amount_shown_in_a_form_reads_back_the_same(
            minor in 0i64..=10_000_000_000,
            code in "[A-Z]{3}",
            zero in prop::sample::select(ZERO_DECIMAL.to_vec()),
            pick_zero in any::<bool>(),
        ) {
            let currency = if pick_zero { zero.to_owned() } else { code };
            prop_assert_eq!(parse(&plain(minor, &currency), &currency), Some(minor));
        }
    }

    #[test]
    fn amounts_are_written_with_the_currencys_decimals() {
        assert_eq!(format(2500, "EUR"), "25.00 EUR");
        assert_eq!(format(5, "USD"), "0.05 USD");
        assert_eq!(format(-1999, "EUR"), "-19.99 EUR");
        assert_eq!(format(500, "JPY"), "500 JPY");
        assert_eq!(format(0, "EUR"), "0.00 EUR");
    }
}
