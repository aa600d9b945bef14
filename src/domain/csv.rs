//! CSV cells for spreadsheets: RFC 4180 quoting, and no formulas.

/// One cell: quoted when it holds a comma, a quote or a line break (quotes
/// doubled), and prefixed with `'` when it starts like a formula (`=`, `+`,
/// `-`, `@`, tab or CR), so a spreadsheet shows the text instead of running it.
pub fn cell(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// A record: the cells joined, ended with CRLF.
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// A valid ticket code: 26 characters of Crockford base32 (what
/// `booking::new_ticket_code` makes). Anything else cannot be a ticket.
pub fn is_ticket_code(code: &str) -> bool {
    code.len() == 26 && code.bytes().all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_cells_stay_as_they_are() {
        assert_eq!(cell("Ada Lovelace"), "Ada Lovelace");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        assert_eq!(cell("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(cell("the \"Countess\""), "\"the \"\"Countess\"\"\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
    }

    #[test]
    fn records_end_with_crlf() {
        assert_eq!(record(["a", "b,c"]), "a,\"b,c\"\r\n");
    }

    proptest::proptest! {
        /// Any text reads back from the CSV as itself (with the formula guard).
        #[test]
        fn any_text_survives_a_round_trip_through_a_csv_reader(a in "\\PC{0,20}", b in "[,\"\n\r=+@ a-z-]{0,20}") {
            let line = record([a.as_str(), b.as_str()]);
            let mut reader = ::csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
            let row = reader.records().next().unwrap().unwrap();
            let guard = |s: &str| if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
            proptest::prop_assert_eq!(&row[0], guard(&a));
            proptest::prop_assert_eq!(&row[1], guard(&b));
        }
    }

    #[test]
    fn ticket_codes_are_recognised() {
        assert!(is_ticket_code(&crate::domain::booking::new_ticket_code()));
        assert!(!is_ticket_code("short"));
        assert!(!is_ticket_code("0123456789ABCDEFGHIJKLMNOP"), "I, L, O, U are not in the alphabet");
        assert!(!is_ticket_code("0123456789abcdefghjkmnpqrs"));
    }
}
