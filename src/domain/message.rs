//! A message to an event's people: who it goes to, and its text with the
//! few fields filled in per person (`{name}`, `{event}`, `{reference}`).

use serde::{Deserialize, Serialize};

/// Who a message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Everyone with a confirmed booking.
    All,
    /// Those with a confirmed booking of one ticket type.
    TicketType,
    /// Those with a ticket admitted at the door.
    CheckedIn,
    /// Those with a confirmed booking and no ticket admitted yet.
    NotCheckedIn,
    /// Those waiting for seats.
    WaitingList,
}

impl Audience {
    pub const ALL: [Audience; 5] =
        [Audience::All, Audience::TicketType, Audience::CheckedIn, Audience::NotCheckedIn, Audience::WaitingList];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::All => "all",
            Audience::TicketType => "ticket_type",
            Audience::CheckedIn => "checked_in",
            Audience::NotCheckedIn => "not_checked_in",
            Audience::WaitingList => "waiting_list",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// How a page names it.
    pub fn label(self) -> &'static str {
        match self {
            Audience::All => "Everyone with a ticket",
            Audience::TicketType => "Those with a ticket of one type",
            Audience::CheckedIn => "Those already admitted",
            Audience::NotCheckedIn => "Those not admitted yet",
            Audience::WaitingList => "The waiting list",
        }
    }
}

/// The fields a text may use.
pub const FIELDS: [&str; 3] = ["name", "event", "reference"];

pub const SUBJECT_MAX: usize = 150;
pub const BODY_MAX: usize = 10_000;

/// The fields in `text` that are none of [`FIELDS`] (`{`…`}` pairs; `{{`
/// writes a brace).
pub fn unknown_fields(text: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        if rest[start..].starts_with("{{") {
            rest = &rest[start + 2..];
            continue;
        }
        let Some(end) = rest[start..].find('}') else { break };
        let name = &rest[start + 1..start + end];
        if !FIELDS.contains(&name) && !unknown.iter().any(|u| u == name) {
            unknown.push(name.to_owned());
        }
        rest = &rest[start + end + 1..];
    }
    unknown
}

/// `text` with its fields filled in (`{{`/`}}` written as braces).
pub fn fill(text: &str, name: &str, event: &str, reference: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{') {
            if let Some(end) = tail.find('}') {
                match &tail[1..end] {
                    "name" => out.push_str(name),
                    "event" => out.push_str(event),
                    "reference" => out.push_str(reference),
                    other => {
                        out.push('{');
                        out.push_str(other);
                        out.push('}');
                    }
                }
                rest = &tail[end + 1..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_filled_and_unknown_ones_named() {
        let text = "Hello {name}, doors of {event} open at 7. Booking {reference}. {{braces}}";
        assert_eq!(
            fill(text, "Ada", "Jazz Night", "K7M2-9QXD"),
            "Hello Ada, doors of Jazz Night open at 7. Booking K7M2-9QXD. {braces}"
        );
        assert!(unknown_fields(text).is_empty());
        assert_eq!(unknown_fields("Hi {nmae}, {event} {seat} {nmae}"), ["nmae", "seat"]);
        assert_eq!(fill("{name} {x} {", "A", "E", "R"), "A {x} {");
        for audience in Audience::ALL {
            assert_eq!(Audience::parse(audience.as_str()), Some(audience));
        }
    }
}
