//! Events and ticket types: status, schedule and the rules they obey.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Violations;
use super::draw::Round;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Draft,
    Published,
    Cancelled,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Cancelled => "cancelled",
        }
    }
}

impl TryFrom<String> for EventStatus {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "draft" => Ok(Self::Draft),
            "published" => Ok(Self::Published),
            "cancelled" => Ok(Self::Cancelled),
            other => Err(format!("unknown event status {other:?}")),
        }
    }
}

pub const TITLE_MAX: usize = 200;
pub const VENUE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const TICKET_TYPE_NAME_MAX: usize = 100;
pub const CAPACITY_MAX: i64 = 1_000_000;
pub const MAX_PER_ORDER_MAX: i64 = 100;
pub const DEFAULT_MAX_PER_ORDER: i64 = 10;
pub const DEFAULT_CURRENCY: &str = "EUR";
/// One billion in major units: a sanity bound, not a business rule.
pub const PRICE_CENTS_MAX: i64 = 100_000_000_000;

/// Whether `t` lies in years 1..=9999: what RFC 3339 can write and
/// PostgreSQL can store (chrono parses far wider years).
pub fn in_supported_range(t: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&t.year())
}

/// When an event happens and when its tickets are sold, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
}

impl Schedule {
    /// Sales close at `sales_end`, or when the event starts.
    pub fn effective_sales_end(&self) -> DateTime<Utc> {
        self.sales_end.unwrap_or(self.starts_at)
    }

    /// Sales open at `sales_start`, or when the event was published.
    pub fn effective_sales_start(&self, published_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        self.sales_start.or(published_at)
    }

    /// When booking requests are first taken: `prequeue_minutes` before a set
    /// `sales_start` (into the pre-queue), else when sales open.
    pub fn requests_open_at(
        &self,
        published_at: Option<DateTime<Utc>>,
        prequeue_minutes: i32,
    ) -> Option<DateTime<Utc>> {
        match self.sales_start {
            Some(start) => Some(start - chrono::Duration::minutes(i64::from(prequeue_minutes))),
            None => published_at,
        }
    }

    /// Whether a request at `now` is taken (into the pre-queue before
    /// `sales_start`, into the line after) until sales close.
    pub fn requests_open(
        &self,
        now: DateTime<Utc>,
        published_at: Option<DateTime<Utc>>,
        prequeue_minutes: i32,
    ) -> bool {
        self.requests_open_at(published_at, prequeue_minutes)
            .is_some_and(|opens| opens <= now && now < self.effective_sales_end())
    }

    /// Whether a request taken at `at` waits for the draw: before a set `sales_start`.
    pub fn prequeued(&self, at: DateTime<Utc>) -> bool {
        self.sales_start.is_some_and(|start| at < start)
    }

    /// A code's presale at `presale_from`, while it comes before a set
    /// `sales_start` (after it, or without one, the code opens nothing early).
    pub fn presale(&self, presale_from: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        presale_from.filter(|at| self.sales_start.is_some_and(|start| *at < start))
    }

    /// When requests with a code of `presale_from` are first taken: its
    /// presale's pre-queue opening, or the event's own if that is earlier.
    pub fn requests_open_at_with(
        &self,
        published_at: Option<DateTime<Utc>>,
        prequeue_minutes: i32,
        presale_from: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        let own = self.requests_open_at(published_at, prequeue_minutes);
        match self.presale(presale_from) {
            Some(at) => {
                let opens = at - chrono::Duration::minutes(i64::from(prequeue_minutes));
                Some(own.map_or(opens, |own| own.min(opens)))
            }
            None => own,
        }
    }

    /// [`Self::requests_open`] for a request with a code of `presale_from`.
    pub fn requests_open_with(
        &self,
        now: DateTime<Utc>,
        published_at: Option<DateTime<Utc>>,
        prequeue_minutes: i32,
        presale_from: Option<DateTime<Utc>>,
    ) -> bool {
        self.requests_open_at_with(published_at, prequeue_minutes, presale_from)
            .is_some_and(|opens| opens <= now && now < self.effective_sales_end())
    }

    /// The draw a request taken at `at` (with a code of `presale_from`, if
    /// any) waits for: its presale's before the presale opens, none once it
    /// has (a presale's holders go straight into the line, ahead of the
    /// event's pre-queue), else the event's before `sales_start`.
    pub fn round_of(&self, at: DateTime<Utc>, presale_from: Option<DateTime<Utc>>) -> Option<Round> {
        match self.presale(presale_from) {
            Some(presale) if at < presale => Some(Round::Presale(presale)),
            Some(_) => None,
            None => self.prequeued(at).then_some(Round::Main),
        }
    }

    /// Whether tickets can be bought at `now` (the event must also be published).
    pub fn sales_open_at(&self, now: DateTime<Utc>, published_at: Option<DateTime<Utc>>) -> bool {
        match self.effective_sales_start(published_at) {
            Some(start) => start <= now && now < self.effective_sales_end(),
            None => false,
        }
    }

    /// The rules between the four times. With `now`, the start must also lie
    /// after it (new events, or a start being moved).
    pub fn check(&self, now: Option<DateTime<Utc>>, v: &mut Violations) {
        let times = [
            ("starts_at", Some(self.starts_at)),
            ("ends_at", self.ends_at),
            ("sales_start", self.sales_start),
            ("sales_end", self.sales_end),
        ];
        let mut out_of_range = false;
        for (field, time) in times {
            if time.is_some_and(|t| !in_supported_range(t)) {
                v.add(field, "must be a time between the years 1 and 9999");
                out_of_range = true;
            }
        }
        if out_of_range {
            return;
        }
        if now.is_some_and(|now| self.starts_at <= now) {
            v.add("starts_at", "must be in the future");
        }
        let event_end = self.ends_at.unwrap_or(self.starts_at);
        if let Some(ends_at) = self.ends_at {
            if ends_at < self.starts_at {
                v.add("ends_at", "must not be before starts_at");
            }
        }
        if let Some(sales_end) = self.sales_end {
            if sales_end > event_end {
                v.add("sales_end", "must not be after the event ends");
            }
        }
        if let Some(sales_start) = self.sales_start {
            if sales_start >= self.effective_sales_end() {
                v.add("sales_start", "must be before sales end (sales_end, or starts_at when unset)");
            }
        }
    }
}

pub const PREQUEUE_MINUTES_DEFAULT: i64 = 30;
pub const PREQUEUE_MINUTES_MAX: i64 = 1440;
pub const OFFER_HOURS_DEFAULT: i64 = 24;
pub const OFFER_HOURS_MAX: i64 = 168;

/// An event's time zone: an IANA name ("Europe/Berlin", "UTC"), as written
/// in the tz database.
pub fn check_timezone(v: &mut crate::domain::validation::Violations, name: &str) -> Option<String> {
    match name.trim().parse::<chrono_tz::Tz>() {
        Ok(zone) => Some(zone.name().to_owned()),
        Err(_) => {
            v.add("timezone", "must be an IANA time zone name, such as Europe/Berlin or UTC");
            None
        }
    }
}

/// `at` as people at the event read it: in the event's zone, the zone
/// named ("Friday, 18 December 2026, 19:30 CET (Europe/Berlin)"); in UTC
/// when the zone is UTC or unknown. Pages and emails both write times so.
pub fn local_time(at: DateTime<Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(chrono_tz::Tz::UTC) | Err(_) => at.format("%A, %-d %B %Y, %H:%M UTC").to_string(),
        Ok(tz) => format!("{} ({})", at.with_timezone(&tz).format("%A, %-d %B %Y, %H:%M %Z"), tz.name()),
    }
}

/// When buyers can no longer cancel: the deadline set, else the start.
pub fn cancellation_closes(starts_at: DateTime<Utc>, deadline: Option<DateTime<Utc>>) -> DateTime<Utc> {
    deadline.unwrap_or(starts_at)
}

/// A cancellation deadline must be a storable time no later than the start.
pub fn check_cancellation_deadline(deadline: Option<DateTime<Utc>>, starts_at: DateTime<Utc>, v: &mut Violations) {
    match deadline {
        Some(t) if !in_supported_range(t) => {
            v.add("cancellation_deadline", "must be a time between the years 1 and 9999")
        }
        Some(t) if t > starts_at => v.add("cancellation_deadline", "must not be after the event starts"),
        _ => {}
    }
}

/// A currency code: three ASCII letters, upper-cased.
pub fn parse_currency(raw: &str) -> Result<String, String> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err("must be an ISO 4217 code of three letters, like EUR".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap() + Duration::hours(hours)
    }

    fn schedule(starts: i64) -> Schedule {
        Schedule { starts_at: at(starts), ends_at: None, sales_start: None, sales_end: None }
    }

    fn problems(s: Schedule, now: i64) -> Vec<String> {
        let mut v = Violations::new();
        s.check(Some(at(now)), &mut v);
        v.finish().err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_plain_future_event_is_fine() {
        assert!(problems(schedule(10), 0).is_empty());
    }

    #[test]
    fn past_starts_and_inverted_times_are_named() {
        assert_eq!(problems(schedule(-1), 0), ["starts_at"]);
        let s = Schedule { ends_at: Some(at(5)), ..schedule(10) };
        assert_eq!(problems(s, 0), ["ends_at"]);
        let s = Schedule { sales_start: Some(at(10)), ..schedule(10) };
        assert_eq!(problems(s, 0), ["sales_start"]);
        let s = Schedule { sales_end: Some(at(12)), ..schedule(10) };
        assert_eq!(problems(s, 0), ["sales_end"]);
        let s = Schedule { ends_at: Some(at(14)), sales_end: Some(at(12)), ..schedule(10) };
        assert!(problems(s, 0).is_empty());
    }

    #[test]
    fn sales_open_from_publication_until_the_start_by_default() {
        let s = schedule(10);
        assert!(!s.sales_open_at(at(1), None), "an unpublished event sells nothing");
        assert!(s.sales_open_at(at(1), Some(at(0))));
        assert!(!s.sales_open_at(at(10), Some(at(0))), "sales close when the event starts");
        let s = Schedule { sales_start: Some(at(2)), sales_end: Some(at(5)), ..schedule(10) };
        assert!(!s.sales_open_at(at(1), Some(at(0))));
        assert!(s.sales_open_at(at(2), Some(at(0))));
        assert!(!s.sales_open_at(at(5), Some(at(0))));
    }

    #[test]
    fn requests_are_taken_into_the_pre_queue_before_a_set_sales_start() {
        let s = Schedule { sales_start: Some(at(5)), ..schedule(10) };
        let minutes = 120;
        assert_eq!(s.requests_open_at(Some(at(0)), minutes), Some(at(3)));
        assert!(!s.requests_open(at(2), Some(at(0)), minutes), "before the pre-queue opens");
        assert!(s.requests_open(at(3), Some(at(0)), minutes) && s.prequeued(at(3)));
        assert!(s.requests_open(at(5), Some(at(0)), minutes) && !s.prequeued(at(5)), "from sales_start: in line");
        assert!(!s.requests_open(at(10), Some(at(0)), minutes), "sales closed");
        let open_on_publication = schedule(10);
        assert_eq!(open_on_publication.requests_open_at(Some(at(1)), minutes), Some(at(1)), "no pre-queue");
        assert!(!open_on_publication.prequeued(at(2)));
    }

    #[test]
    fn a_presale_code_opens_its_own_pre_queue_earlier_and_then_goes_straight_into_the_line() {
        let s = Schedule { sales_start: Some(at(5)), ..schedule(10) };
        let minutes = 60;
        assert_eq!(s.requests_open_at_with(Some(at(0)), minutes, Some(at(2))), Some(at(1)));
        assert!(!s.requests_open_with(at(0), Some(at(0)), minutes, Some(at(2))), "before the presale's pre-queue");
        assert!(!s.requests_open(at(1), Some(at(0)), minutes), "without the code: not yet");
        assert_eq!(s.round_of(at(1), Some(at(2))), Some(Round::Presale(at(2))));
        assert_eq!(s.round_of(at(3), Some(at(2))), None, "the presale is open: into the line");
        assert_eq!(s.round_of(at(4), None), Some(Round::Main), "without the code: the event's pre-queue");
        assert_eq!(s.round_of(at(6), None), None);
        // A presale at or after the sales start opens nothing early.
        assert_eq!(s.presale(Some(at(5))), None);
        assert_eq!(s.round_of(at(4), Some(at(6))), Some(Round::Main));
        assert_eq!(s.requests_open_at_with(Some(at(0)), minutes, Some(at(6))), Some(at(4)));
        assert_eq!(schedule(10).presale(Some(at(1))), None, "no sales start: no presale");
    }

    #[test]
    fn times_outside_years_1_to_9999_are_named() {
        let far = "+10000-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let s = Schedule { sales_end: Some(far), ..schedule(10) };
        assert_eq!(problems(s, 0), ["sales_end"]);
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(parse_currency("eur").unwrap(), "EUR");
        assert!(parse_currency("EURO").is_err());
        assert!(parse_currency("E1R").is_err());
    }
}

#[cfg(test)]
mod timezone_tests {
    #[test]
    fn a_time_zone_is_an_iana_name() {
        let mut v = crate::domain::validation::Violations::new();
        assert_eq!(super::check_timezone(&mut v, "Europe/Berlin").as_deref(), Some("Europe/Berlin"));
        assert_eq!(super::check_timezone(&mut v, " UTC ").as_deref(), Some("UTC"));
        assert!(v.finish().is_ok());
        for bad in ["Mars/Olympus", "", "CET+1", "europe/berlin "] {
            let mut v = crate::domain::validation::Violations::new();
            assert_eq!(super::check_timezone(&mut v, bad), None, "{bad:?}");
            assert!(v.finish().is_err());
        }
    }
}
