//! Collecting field-level problems so a request learns about all of them at once.

use serde::Serialize;
use utoipa::ToSchema;

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a path into the request body (`ticket_types[0].capacity`).
    pub field: String,
    pub message: String,
}

/// The problems found so far in one request.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    /// Records `result`'s error under `field`, passing its value through.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    /// A single-line text of `min..=max` characters after trimming, without
    /// control characters (they would end up in email headers and CSV cells).
    pub fn line(&mut self, field: &str, value: &str, min: usize, max: usize) -> Option<String> {
        self.check(field, text(value, min, max, false))
    }

    /// Like [`Self::line`], but line breaks and tabs are allowed.
    pub fn paragraph(&mut self, field: &str, value: &str, min: usize, max: usize) -> Option<String> {
        self.check(field, text(value, min, max, true))
    }

    /// An integer within `min..=max`.
    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) -> Option<i64> {
        if (min..=max).contains(&value) {
            Some(value)
        } else {
            self.add(field, format!("must be between {min} and {max}"));
            None
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, else every problem.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }

    /// The value parsed alongside these checks, or every problem found. A
    /// value missing with no problem recorded is a parser's mistake; it is
    /// still answered as a refusal, never a panic.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        self.finish()?;
        value.ok_or_else(|| vec![FieldError { field: String::new(), message: "the request is not valid".into() }])
    }
}

/// Characters that change the direction of the text around them or take no
/// space: in a name or a title they serve only to make one text pass for
/// another in an email, a CSV or a ticket (a reversed file extension, a
/// lookalike organizer). Joiners (U+200C, U+200D) stay: scripts and emoji need them.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}'                       // Arabic letter mark
        | '\u{200B}'                     // zero width space
        | '\u{200E}' | '\u{200F}'         // left-to-right and right-to-left marks
        | '\u{202A}'..='\u{202E}'         // embeddings and overrides
        | '\u{2028}' | '\u{2029}'         // line and paragraph separators
        | '\u{2060}'..='\u{2064}'         // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'         // isolates
        | '\u{FEFF}'                     // zero width no-break space
    )
}

fn text(value: &str, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let trimmed = value.trim();
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if let Some(bad) = trimmed.chars().find(|c| !allowed(*c)) {
        return Err(format!("must not contain the control character U+{:04X}", bad as u32));
    }
    if let Some(bad) = trimmed.chars().find(|c| is_deceptive(*c)) {
        return Err(format!("must not contain the invisible or direction-changing character U+{:04X}", bad as u32));
    }
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 { "must not be empty".into() } else { format!("must be at least {min} characters") });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Whether `path` is a path of this site to send a browser to (after signing
/// in): one leading slash, only visible ASCII, no backslash (browsers drop
/// tabs and newlines inside a URL: "/\t/evil.example" is "//evil.example").
pub fn is_local_path(path: &str) -> bool {
    let plain = path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    plain && path.starts_with('/') && !path.starts_with("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_trimmed_and_bounded() {
        let mut v = Violations::new();
        assert_eq!(v.line("name", "  Ada  ", 1, 5).as_deref(), Some("Ada"));
        assert_eq!(v.line("name", "   ", 1, 5), None);
        assert_eq!(v.line("name", "abcdef", 1, 5), None);
        assert_eq!(v.finish().unwrap_err().len(), 2);
    }

    #[test]
    fn control_characters_are_refused_but_paragraphs_keep_line_breaks() {
        let mut v = Violations::new();
        assert_eq!(v.line("name", "Ada\r\nBcc: x@y", 1, 50), None);
        assert_eq!(v.line("name", "nul\0byte", 1, 50), None);
        assert!(v.paragraph("description", "two\nlines", 0, 50).is_some());
        assert_eq!(v.paragraph("description", "nul\0", 0, 50), None);
        let errors = v.finish().unwrap_err();
        assert_eq!(errors.len(), 3);
        assert!(errors[1].message.contains("U+0000"));
    }

    #[test]
    fn direction_overrides_and_invisible_separators_are_refused() {
        for bad in ["evil\u{202E}gpj.exe", "Ad\u{200B}a", "one\u{2028}two", "\u{2066}x\u{2069}", "a\u{FEFF}b"] {
            let mut v = Violations::new();
            assert_eq!(v.line("name", bad, 1, 50), None, "{bad:?}");
            assert_eq!(v.paragraph("description", bad, 0, 50), None, "{bad:?}");
            assert!(v.finish().unwrap_err()[0].message.contains("U+"));
        }
        let mut v = Violations::new();
        assert!(v.line("name", "\u{1F469}\u{200D}\u{1F4BB} Zoë שלום", 1, 50).is_some(), "joiners and RTL scripts stay");
        assert!(v.is_empty());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let mut v = Violations::new();
        assert!(v.line("name", "ééééé", 1, 5).is_some());
        assert!(v.is_empty());
    }
}
