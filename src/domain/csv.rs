//! CSV cells for spreadsheets: RFC 4180 quoting, and no formulas.

/// Characters that make a spreadsheet read a cell as a formula when it
/// starts with one (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One cell: quoted when it holds a comma, a semicolon, a quote or a line
/// break (quotes doubled), with the formula guard of [`guard`].
pub fn cell(value: &str) -> String {
    let guarded = guard(value);
    if guarded.contains([',', ';', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// `'` put before anything that would start a formula (`=`, `+`, `-`, `@`,
/// tab or CR, after any spaces) where a spreadsheet may start a cell: at the
/// start, and after a `;` or a line break, where a quote is guarded too.
/// Spreadsheets set to German, French or Dutch split on `;` and ignore our
/// quoting, so `Eve;=HYPERLINK(...)` would be a formula cell there.
fn guard(value: &str) -> String {
    let mut guarded = String::with_capacity(value.len() + 1);
    let mut at_cell_start = true;
    for c in value.chars() {
        if at_cell_start && (FORMULA_START.contains(&c) || (c == '"' && !guarded.is_empty())) {
            guarded.push('\'');
            at_cell_start = false;
        } else if c != ' ' {
            at_cell_start = false;
        }
        guarded.push(c);
        if matches!(c, ';' | '\n' | '\r') {
            at_cell_start = true;
        }
    }
    guarded
}

/// A record: the cells joined, ended with CRLF.
pub fn record<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// A ticket code as typed or scanned (spaces around it, lower case), in the
/// one form tickets are stored in; `None` when it cannot be a ticket. Every
/// route that takes a code goes through this.
pub fn ticket_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    is_ticket_code(&code).then_some(code)
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

    #[test]
    fn formulas_after_a_semicolon_are_defused_for_spreadsheets_that_split_on_it() {
        assert_eq!(cell("Eve;=HYPERLINK(1)"), "\"Eve;'=HYPERLINK(1)\"");
        assert_eq!(cell("a;b"), "\"a;b\"");
        assert_eq!(cell("two\n@lines"), "\"two\n'@lines\"");
    }

    proptest::proptest! {
        /// Any text reads back from the CSV as itself (with the formula guard).
        #[test]
        fn any_text_survives_a_round_trip_through_a_csv_reader(a in "\\PC{0,20}", b in "[,;\"\n\r=+@ a-z-]{0,20}") {
            let line = record([a.as_str(), b.as_str()]);
            let mut reader = ::csv::ReaderBuilder::new().has_headers(false).from_reader(line.as_bytes());
            let row = reader.records().next().unwrap().unwrap();
            proptest::prop_assert_eq!(&row[0], guard(&a));
            proptest::prop_assert_eq!(&row[1], guard(&b));
        }

        /// Read as a spreadsheet set to split on `;` reads it, no cell of
        /// any line starts like a formula.
        #[test]
        fn no_cell_starts_a_formula_when_split_on_semicolons(
            cells in proptest::collection::vec("[,;\"\n\r\t=+@ a-z-]{0,12}", 1..5),
        ) {
            let mut text = record(["SAFE"]);
            text.push_str(&record(cells.iter().map(String::as_str)));
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .delimiter(b';')
                .from_reader(text.as_bytes());
            for row in reader.records() {
                let row = row.unwrap();
                for field in row.iter() {
                    let shown = field.trim_start_matches([' ', '\t', '\r', '\n']);
                    proptest::prop_assert!(!shown.starts_with(['=', '+', '-', '@']), "{:?} in {:?}", field, text);
                }
            }
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
