//! Account fields: email, password, display name.

/// A syntactically plausible email address, trimmed and lower-cased so that
/// addresses compare case-insensitively everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters".into());
        }
        // One `@`, and on each side only what a mail server takes without
        // quoting: `x@y@example.org`, `a,b@example.org` or `a<b>@example.org`
        // would be stored, and every email to them would fail for good.
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address like name@example.com".into());
        };
        if local.len() > 64 || !is_dot_atom(local, is_local_char) || !is_domain(domain) {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most of the local part hidden, for logs.
    pub fn redacted(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

/// Dot-separated non-empty parts, each of `allowed` characters.
fn is_dot_atom(text: &str, allowed: fn(char) -> bool) -> bool {
    text.split('.').all(|part| !part.is_empty() && part.chars().all(allowed))
}

/// RFC 5322 atext, and letters beyond ASCII (internationalized addresses).
fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Labels of letters, digits and inner hyphens.
fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && is_dot_atom(domain, |c| c.is_alphanumeric() || c == '-')
        && domain.split('.').all(|label| !label.starts_with('-') && !label.ends_with('-'))
}

/// A password as typed: 8 to 128 characters, anything else allowed.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_to_lower_case() {
        assert_eq!(Email::parse("  Ada@Example.ORG ").unwrap().as_str(), "ada@example.org");
    }

    #[test]
    fn implausible_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@",
            "ada@.org",
            "ada@example..org",
            "a da@x.org",
            "ada@x\r\n.org",
            "x@y@example.org",
            "a,b@example.org",
            "a<b>@example.org",
            "@@example.org",
            "\"quoted\"@example.org",
            ".ada@example.org",
            "ada@-example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest::proptest! {
        /// Parsing any text never panics, and what passes is lower case,
        /// trimmed and free of control characters.
        #[test]
        fn any_text_parses_or_is_refused(raw in "\\PC{0,40}|[a-zA-Z@. \t\r\n]{0,40}") {
            if let Ok(email) = Email::parse(&raw) {
                proptest::prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
                proptest::prop_assert!(!email.as_str().chars().any(|c| c.is_control() || c.is_whitespace()));
                proptest::prop_assert!(email.as_str().contains('@'));
            }
            let _ = Password::parse(&raw);
        }
    }

    #[test]
    fn deliverable_emails_pass() {
        for good in [
            "ada@example.org",
            "ada.lovelace+tickets@mail.example.co.uk",
            "o'brien@x.ie",
            "zoë@bücher.de",
            "a@localhost",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn emails_are_redacted_for_logs() {
        assert_eq!(Email::parse("ada@example.org").unwrap().redacted(), "a***@example.org");
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("éééééééé").is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert_eq!(format!("{:?}", Password::parse("secret-pw").unwrap()), "Password(***)");
    }
}
