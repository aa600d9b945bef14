//! A booking as a calendar entry (RFC 5545, iCalendar): the `.ics` attached
//! to the confirmation email and behind the booking page's "Add to
//! calendar", and its cancelling twin (RFC 5546's `METHOD:CANCEL`, the same
//! UID) attached to the cancellation email.
//!
//! The start is written in the event's zone (`DTSTART;TZID=Europe/Berlin:…`)
//! with a `VTIMEZONE` giving that zone's offset at the event (calendar
//! programs know the IANA names and use their own rules; the component is
//! what RFC 5545 requires for any `TZID` used). UTC events are written in UTC.

use chrono::{DateTime, Offset, TimeZone, Utc};

/// What a calendar entry says about one booking.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Stable per booking: a calendar replaces, or cancels, the entry it has.
    pub uid: String,
    pub title: &'a str,
    pub venue: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// IANA name of the event's zone.
    pub timezone: &'a str,
    /// The booking's page.
    pub url: &'a str,
    /// The address the emails come from (RFC 5546 wants an organizer).
    pub organizer_email: &'a str,
    /// When the entry was written.
    pub stamp: DateTime<Utc>,
}

/// A booking's UID: the same in every `.ics` of it (the page's and the
/// emails'), so a calendar updates or cancels the entry it has.
pub fn uid(booking: uuid::Uuid, public_url: &str) -> String {
    let parsed = url::Url::parse(public_url).ok();
    let host = parsed.as_ref().and_then(|u| u.host_str()).unwrap_or("localhost");
    format!("booking-{booking}@{host}")
}

/// Publish the entry, or cancel the one published before (naming the
/// buyer it was for, as RFC 5546 asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    Publish,
    Cancel { attendee_email: &'a str },
}

impl Method<'_> {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "PUBLISH",
            Self::Cancel { .. } => "CANCEL",
        }
    }
}

/// The `.ics` text, lines folded at 75 octets and ended by CRLF.
pub fn ics(entry: &Entry<'_>, method: Method<'_>) -> String {
    let zone = entry.timezone.parse::<chrono_tz::Tz>().ok().filter(|tz| *tz != chrono_tz::Tz::UTC);
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Boxoffice//Tickets//EN".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        format!("METHOD:{}", method.as_str()),
    ];
    if let Some(tz) = zone {
        lines.extend(vtimezone(tz, entry.starts_at));
    }
    // The VTIMEZONE carries the zone's offset at the start only: a time at
    // another offset (an end after the clocks changed) is written in UTC.
    let offset_at = |at: DateTime<Utc>, tz: chrono_tz::Tz| tz.from_utc_datetime(&at.naive_utc()).offset().fix();
    let time = |name: &str, at: DateTime<Utc>| match zone {
        Some(tz) if offset_at(at, tz) == offset_at(entry.starts_at, tz) => {
            format!("{name};TZID={}:{}", tz.name(), at.with_timezone(&tz).format("%Y%m%dT%H%M%S"))
        }
        _ => format!("{name}:{}", at.format("%Y%m%dT%H%M%SZ")),
    };
    lines.push("BEGIN:VEVENT".to_owned());
    lines.push(format!("UID:{}", text(&entry.uid)));
    lines.push(format!("DTSTAMP:{}", entry.stamp.format("%Y%m%dT%H%M%SZ")));
    lines.push(time("DTSTART", entry.starts_at));
    if let Some(ends_at) = entry.ends_at {
        lines.push(time("DTEND", ends_at));
    }
    lines.push(format!("SUMMARY:{}", text(entry.title)));
    lines.push(format!("LOCATION:{}", text(entry.venue)));
    lines.push(format!("URL:{}", entry.url));
    lines.push(format!("ORGANIZER:mailto:{}", entry.organizer_email));
    match method {
        Method::Publish => {
            lines.push("STATUS:CONFIRMED".to_owned());
            lines.push("SEQUENCE:0".to_owned());
        }
        Method::Cancel { attendee_email } => {
            lines.push(format!("ATTENDEE:mailto:{attendee_email}"));
            lines.push("STATUS:CANCELLED".to_owned());
            lines.push("SEQUENCE:1".to_owned());
        }
    }
    lines.push("END:VEVENT".to_owned());
    lines.push("END:VCALENDAR".to_owned());
    lines.iter().map(|line| fold(line)).collect()
}

/// The zone's offset at the event, as a `VTIMEZONE` with one observance.
fn vtimezone(tz: chrono_tz::Tz, at: DateTime<Utc>) -> Vec<String> {
    let local = tz.from_utc_datetime(&at.naive_utc());
    let seconds = local.offset().fix().local_minus_utc();
    let offset =
        format!("{}{:02}{:02}", if seconds < 0 { '-' } else { '+' }, seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    vec![
        "BEGIN:VTIMEZONE".to_owned(),
        format!("TZID:{}", tz.name()),
        "BEGIN:STANDARD".to_owned(),
        "DTSTART:19700101T000000".to_owned(),
        format!("TZOFFSETFROM:{offset}"),
        format!("TZOFFSETTO:{offset}"),
        format!("TZNAME:{}", text(&local.format("%Z").to_string())),
        "END:STANDARD".to_owned(),
        "END:VTIMEZONE".to_owned(),
    ]
}

/// A TEXT value: backslashes, semicolons, commas and line breaks escaped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// One content line, folded so no physical line exceeds 75 octets (never
/// inside a character), ended by CRLF.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(timezone: &str) -> Entry<'static> {
        Entry {
            uid: "booking-1@example.org".into(),
            title: "Winter Lights; a festival, in Berlin",
            venue: "Große Halle, Berlin",
            starts_at: "2026-12-18T18:30:00Z".parse().unwrap(),
            ends_at: None,
            timezone: if timezone == "berlin" { "Europe/Berlin" } else { "UTC" },
            url: "https://tickets.example.org/bookings/1",
            organizer_email: "tickets@example.org",
            stamp: "2026-12-07T08:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_start_is_in_the_event_zone_with_its_offset() {
        let ics = ics(&entry("berlin"), Method::Publish);
        assert!(ics.contains("DTSTART;TZID=Europe/Berlin:20261218T193000\r\n"), "{ics}");
        assert!(ics.contains("TZOFFSETTO:+0100\r\n"), "{ics}");
        assert!(ics.contains("METHOD:PUBLISH\r\n"));
        let utc = super::ics(&entry("utc"), Method::Publish);
        assert!(utc.contains("DTSTART:20261218T183000Z\r\n") && !utc.contains("VTIMEZONE"), "{utc}");
    }

    #[test]
    fn an_end_after_the_clocks_changed_is_written_in_utc() {
        let mut night = entry("berlin");
        night.starts_at = "2026-10-24T20:00:00Z".parse().unwrap(); // 22:00 CEST
        night.ends_at = Some("2026-10-25T02:00:00Z".parse().unwrap()); // 03:00 CET, after the change
        let ics = ics(&night, Method::Publish);
        assert!(ics.contains("DTSTART;TZID=Europe/Berlin:20261024T220000\r\n"), "{ics}");
        assert!(ics.contains("DTEND:20261025T020000Z\r\n"), "{ics}");
        assert!(ics.contains("TZOFFSETTO:+0200\r\n"), "{ics}");
        let id = uuid::Uuid::nil();
        assert_eq!(uid(id, "https://user@tickets.example.org:8443/x"), format!("booking-{id}@tickets.example.org"));
    }

    #[test]
    fn text_is_escaped_and_long_lines_are_folded_between_characters() {
        let ics = ics(&entry("berlin"), Method::Cancel { attendee_email: "ada@example.org" });
        assert!(ics.contains("SUMMARY:Winter Lights\\; a festival\\, in Berlin\r\n"), "{ics}");
        assert!(ics.contains("METHOD:CANCEL\r\n") && ics.contains("STATUS:CANCELLED\r\n"));
        let long = fold(&format!("DESCRIPTION:{}", "ö".repeat(60)));
        for line in long.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        assert_eq!(long.replace("\r\n ", ""), format!("DESCRIPTION:{}\r\n", "ö".repeat(60)));
    }
}
