//! Amounts for people: integer minor units and an ISO 4217 code, written
//! with the currency's own number of decimals.

/// Currencies without minor units (ISO 4217 exponent 0) that Stripe and
/// banks treat as such; every other code is written with two decimals.
const ZERO_DECIMAL: [&str; 16] =
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// `2500, "EUR"` → `"25.00 EUR"`; `500, "JPY"` → `"500 JPY"`.
pub fn format(cents: i64, currency: &str) -> String {
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{cents} {currency}");
    }
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn amounts_are_written_with_the_currencys_decimals() {
        assert_eq!(format(2500, "EUR"), "25.00 EUR");
        assert_eq!(format(5, "USD"), "0.05 USD");
        assert_eq!(format(-1999, "EUR"), "-19.99 EUR");
        assert_eq!(format(500, "JPY"), "500 JPY");
        assert_eq!(format(0, "EUR"), "0.00 EUR");
    }
}
