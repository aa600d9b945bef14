//! A name and questions per ticket: what an organizer asks the people who
//! book, and whether what a buyer gave answers it. Pure rules: the accept
//! checks a request with them before it queues it, the booking page checks
//! an edit, and the worker writes what they let through.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::validation::Violations;

/// Longest answer to a `long_text` question; other texts are one line.
pub const LONG_TEXT_MAX: usize = 2000;
pub const TEXT_MAX: usize = 200;
/// Longest holder's name on a ticket.
pub const NAME_MAX: usize = 100;
/// Refusals reported for one request at most.
const MAX_PROBLEMS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Text,
    LongText,
    /// One of `options`.
    Choice,
    /// Any of `options` (a JSON array).
    Multi,
    /// Ticked or not (a JSON boolean); a required one must be ticked ("I accept…").
    Checkbox,
    Email,
    Phone,
    /// `YYYY-MM-DD`.
    Date,
}

impl QuestionKind {
    pub const ALL: [Self; 8] =
        [Self::Text, Self::LongText, Self::Choice, Self::Multi, Self::Checkbox, Self::Email, Self::Phone, Self::Date];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::LongText => "long_text",
            Self::Choice => "choice",
            Self::Multi => "multi",
            Self::Checkbox => "checkbox",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Date => "date",
        }
    }

    /// Whether its answers are picked from `options`.
    pub fn has_options(self) -> bool {
        matches!(self, Self::Choice | Self::Multi)
    }
}

impl TryFrom<String> for QuestionKind {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::ALL.into_iter().find(|k| k.as_str() == value).ok_or_else(|| format!("unknown question kind {value}"))
    }
}

/// Whether a question is asked once per ticket or once per booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppliesTo {
    Ticket,
    Booking,
}

impl AppliesTo {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ticket => "ticket",
            Self::Booking => "booking",
        }
    }
}

impl TryFrom<String> for AppliesTo {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "ticket" => Ok(Self::Ticket),
            "booking" => Ok(Self::Booking),
            other => Err(format!("unknown applies_to {other}")),
        }
    }
}

/// Whether a ticket type asks a holder's name for each ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttendeeNames {
    /// The buyer's name is on every ticket.
    #[default]
    Off,
    /// A name may be given per ticket (else the buyer's).
    Optional,
    /// Every ticket needs one.
    Required,
}

impl AttendeeNames {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

impl TryFrom<String> for AttendeeNames {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            other => Err(format!("one of off, optional, required (not {other})")),
        }
    }
}

/// A question as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Question {
    pub id: Uuid,
    pub label: String,
    #[sqlx(try_from = "String")]
    pub kind: QuestionKind,
    pub options: Vec<String>,
    pub required: bool,
    /// `None`: every ticket type of the event.
    pub ticket_type_ids: Option<Vec<Uuid>>,
    #[sqlx(try_from = "String")]
    pub applies_to: AppliesTo,
    pub position: i32,
}

impl Question {
    /// Whether a booking of `ticket_type_id` is asked it.
    pub fn asks(&self, ticket_type_id: Uuid) -> bool {
        self.ticket_type_ids.as_ref().is_none_or(|ids| ids.contains(&ticket_type_id))
    }
}

/// An answer as stored: a text, the options picked, or a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AnswerValue {
    Text(String),
    Picked(Vec<String>),
    Ticked(bool),
}

impl AnswerValue {
    /// As a person reads it (in a list, a CSV cell, at the door).
    pub fn in_words(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Picked(options) => options.join("; "),
            Self::Ticked(true) => "Yes".into(),
            Self::Ticked(false) => "No".into(),
        }
    }

    /// Whether it says nothing (an empty text, nothing picked, not ticked).
    fn is_blank(&self) -> bool {
        match self {
            Self::Text(text) => text.trim().is_empty(),
            Self::Picked(options) => options.is_empty(),
            Self::Ticked(ticked) => !ticked,
        }
    }
}

/// An answer as given with a request or a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    pub question_id: Uuid,
    /// The ticket it is for (0-based, in ticket order); absent for a
    /// question asked once per booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_index: Option<u16>,
    pub value: AnswerValue,
}

/// The names and answers of a booking, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// Per ticket, in ticket order; `None`: the buyer's name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<Answer>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        self.attendees.iter().all(Option::is_none) && self.answers.is_empty()
    }

    /// The answer to `question_id` that concerns ticket `position`: its own,
    /// or the booking's (a question asked once per booking).
    pub fn answer_for_ticket(&self, question_id: Uuid, position: i32) -> Option<&AnswerValue> {
        let index = u16::try_from(position).ok();
        self.answers
            .iter()
            .find(|a| a.question_id == question_id && (a.ticket_index == index || a.ticket_index.is_none()))
            .map(|a| &a.value)
    }

    /// The name given for ticket `index`, if any.
    pub fn name_of(&self, index: usize) -> Option<&str> {
        self.attendees.get(index).and_then(|n| n.as_deref())
    }
}

/// Why one name or answer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A required question left unanswered (`answer_required`).
    Required,
    /// An answer that does not fit its question (`answer_invalid`).
    Invalid,
    /// A ticket without the name its type requires (`attendee_name_required`).
    NameRequired,
    /// A name that is not a name (`attendee_name_invalid`).
    NameInvalid,
}

/// One refused name or answer: which, and why in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerProblem {
    pub kind: ProblemKind,
    /// `None` for a name.
    pub question_id: Option<Uuid>,
    pub ticket_index: Option<u16>,
    pub message: String,
}

impl AnswerProblem {
    pub fn code(&self) -> &'static str {
        match self.kind {
            ProblemKind::Required => "answer_required",
            ProblemKind::Invalid => "answer_invalid",
            ProblemKind::NameRequired => "attendee_name_required",
            ProblemKind::NameInvalid => "attendee_name_invalid",
        }
    }
}

/// What a booking is asked, and checks what it was given.
pub struct Form<'a> {
    pub questions: &'a [Question],
    pub ticket_type_id: Uuid,
    pub quantity: u16,
    pub names: AttendeeNames,
}

impl Form<'_> {
    /// The questions a booking of this type is asked, in their order.
    pub fn asked(&self) -> impl Iterator<Item = &Question> {
        self.questions.iter().filter(|q| q.asks(self.ticket_type_id))
    }

    /// Whether there is anything to ask.
    pub fn asks_anything(&self) -> bool {
        self.names != AttendeeNames::Off || self.asked().next().is_some()
    }

    /// `given` names (one per ticket, blank for none) and answers, checked
    /// and cleaned: blank answers dropped, texts trimmed. Every problem at
    /// once, or the details to store.
    pub fn check(&self, names: &[String], given: &[Answer]) -> Result<Details, Vec<AnswerProblem>> {
        // More answers than there are questions to answer: one refusal, not one per answer.
        let most = self
            .asked()
            .map(|q| if q.applies_to == AppliesTo::Ticket { usize::from(self.quantity) } else { 1 })
            .sum::<usize>();
        if given.len() > most {
            return Err(vec![AnswerProblem {
                kind: ProblemKind::Invalid,
                question_id: None,
                ticket_index: None,
                message: format!("{} answers given; this booking is asked at most {most}", given.len()),
            }]);
        }
        let mut problems = Vec::new();
        let attendees = self.check_names(names, &mut problems);
        let mut answers: Vec<Answer> = Vec::new();
        for answer in given {
            let index = answer.ticket_index;
            let mut refuse = |message: &str| {
                problems.push(AnswerProblem {
                    kind: ProblemKind::Invalid,
                    question_id: Some(answer.question_id),
                    ticket_index: index,
                    message: message.into(),
                })
            };
            let Some(question) = self.asked().find(|q| q.id == answer.question_id) else {
                refuse("this booking is not asked this question");
                continue;
            };
            // A question asked once per ticket of a single ticket: its index may be left out.
            let index = match (question.applies_to, index) {
                (AppliesTo::Booking, None) => None,
                (AppliesTo::Booking, Some(_)) => {
                    refuse("asked once per booking: leave ticket_index out");
                    continue;
                }
                (AppliesTo::Ticket, Some(i)) if i < self.quantity => Some(i),
                (AppliesTo::Ticket, None) if self.quantity == 1 => Some(0),
                (AppliesTo::Ticket, _) => {
                    refuse(&format!("asked per ticket: ticket_index from 0 to {}", self.quantity - 1));
                    continue;
                }
            };
            if answers.iter().any(|a| a.question_id == question.id && a.ticket_index == index) {
                refuse("answered twice");
                continue;
            }
            match clean(question, &answer.value) {
                Ok(Some(value)) => answers.push(Answer { question_id: question.id, ticket_index: index, value }),
                Ok(None) => {}
                Err(message) => refuse(&message),
            }
        }
        for question in self.asked().filter(|q| q.required) {
            let indexes: Vec<Option<u16>> = match question.applies_to {
                AppliesTo::Booking => vec![None],
                AppliesTo::Ticket => (0..self.quantity).map(Some).collect(),
            };
            for index in indexes {
                let answered = answers.iter().any(|a| a.question_id == question.id && a.ticket_index == index);
                let refused = problems.iter().any(|p| p.question_id == Some(question.id) && p.ticket_index == index);
                if !answered && !refused {
                    problems.push(AnswerProblem {
                        kind: ProblemKind::Required,
                        question_id: Some(question.id),
                        ticket_index: index,
                        message: if question.kind == QuestionKind::Checkbox {
                            "must be ticked".into()
                        } else {
                            "this question must be answered".into()
                        },
                    });
                }
            }
        }
        problems.truncate(MAX_PROBLEMS);
        if problems.is_empty() { Ok(Details { attendees, answers }) } else { Err(problems) }
    }

    /// Of `details` checked when the request was accepted, what still fits
    /// the questions as they are now (an organizer may have changed or
    /// deleted one while the request waited): the rest is dropped, never
    /// written under a question it no longer answers. Names stay.
    pub fn still_fitting(&self, details: &Details) -> Details {
        let mut kept: Vec<Answer> = Vec::new();
        for answer in &details.answers {
            let Some(question) = self.asked().find(|q| q.id == answer.question_id) else { continue };
            let index_fits = match (question.applies_to, answer.ticket_index) {
                (AppliesTo::Booking, None) => true,
                (AppliesTo::Ticket, Some(i)) => i < self.quantity,
                _ => false,
            };
            let twice =
                kept.iter().any(|a| a.question_id == answer.question_id && a.ticket_index == answer.ticket_index);
            if let (true, false, Ok(Some(value))) = (index_fits, twice, clean(question, &answer.value)) {
                kept.push(Answer { value, ..answer.clone() });
            }
        }
        let mut attendees = details.attendees.clone();
        attendees.truncate(usize::from(self.quantity));
        Details { attendees, answers: kept }
    }

    fn check_names(&self, names: &[String], problems: &mut Vec<AnswerProblem>) -> Vec<Option<String>> {
        let name_problem =
            |kind, index, message: String| AnswerProblem { kind, question_id: None, ticket_index: index, message };
        // A type that takes no names ignores them: what `GET …/details` shows
        // (names given before the organizer turned them off) may be sent back.
        if self.names == AttendeeNames::Off {
            return Vec::new();
        }
        if names.len() > usize::from(self.quantity) {
            problems.push(name_problem(
                ProblemKind::NameInvalid,
                None,
                format!("one name per ticket: at most {}", self.quantity),
            ));
            return Vec::new();
        }
        let mut attendees = Vec::with_capacity(usize::from(self.quantity));
        for index in 0..self.quantity {
            let typed = names.get(usize::from(index)).map_or("", |n| n.as_str());
            let mut v = Violations::new();
            match v.line("name", typed, 0, NAME_MAX) {
                Some(name) if name.is_empty() && self.names == AttendeeNames::Required => {
                    problems.push(name_problem(
                        ProblemKind::NameRequired,
                        Some(index),
                        "the name of the person this ticket is for".into(),
                    ));
                    attendees.push(None);
                }
                Some(name) => attendees.push(Some(name).filter(|n| !n.is_empty())),
                None => {
                    let message = v.finish().err().and_then(|e| e.into_iter().next()).map(|e| e.message);
                    problems.push(name_problem(ProblemKind::NameInvalid, Some(index), message.unwrap_or_default()));
                    attendees.push(None);
                }
            }
        }
        if attendees.iter().all(Option::is_none) { Vec::new() } else { attendees }
    }
}

/// `value` as an answer to `question`: cleaned, `None` when blank, or why it does not fit.
fn clean(question: &Question, value: &AnswerValue) -> Result<Option<AnswerValue>, String> {
    if value.is_blank() {
        return Ok(None);
    }
    let text = |max: usize, multiline: bool| -> Result<String, String> {
        let AnswerValue::Text(text) = value else { return Err("must be a text".into()) };
        let mut v = Violations::new();
        let checked = if multiline { v.paragraph("value", text, 1, max) } else { v.line("value", text, 1, max) };
        checked
            .ok_or_else(|| v.finish().err().and_then(|e| e.into_iter().next()).map(|e| e.message).unwrap_or_default())
    };
    let cleaned = match question.kind {
        QuestionKind::Text => AnswerValue::Text(text(TEXT_MAX, false)?),
        QuestionKind::LongText => AnswerValue::Text(text(LONG_TEXT_MAX, true)?),
        QuestionKind::Email => {
            let email = super::account::Email::parse(&text(254, false)?)?;
            AnswerValue::Text(email.as_str().to_owned())
        }
        QuestionKind::Phone => {
            let phone = text(30, false)?;
            let digits = phone.chars().filter(char::is_ascii_digit).count();
            if digits < 5 || !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                return Err("must be a phone number: digits, spaces and + - ( ) only".into());
            }
            AnswerValue::Text(phone)
        }
        QuestionKind::Date => {
            let date = text(10, false)?;
            chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| "must be a date as YYYY-MM-DD")?;
            AnswerValue::Text(date)
        }
        QuestionKind::Choice => {
            let choice = text(TEXT_MAX, false)?;
            if !question.options.contains(&choice) {
                return Err(format!("must be one of: {}", question.options.join(", ")));
            }
            AnswerValue::Text(choice)
        }
        QuestionKind::Multi => {
            let picked = match value {
                AnswerValue::Picked(picked) => picked.clone(),
                // One option picked may come as a plain text.
                AnswerValue::Text(one) => vec![one.clone()],
                AnswerValue::Ticked(_) => return Err("must be a list of options".into()),
            };
            if let Some(bad) = picked.iter().find(|p| !question.options.contains(p)) {
                return Err(format!("{bad} is not an option; options: {}", question.options.join(", ")));
            }
            // Kept in the options' order, each once.
            AnswerValue::Picked(question.options.iter().filter(|o| picked.contains(o)).cloned().collect())
        }
        QuestionKind::Checkbox => match value {
            AnswerValue::Ticked(ticked) => AnswerValue::Ticked(*ticked),
            _ => return Err("must be true or false".into()),
        },
    };
    Ok(Some(cleaned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(kind: QuestionKind, required: bool, applies_to: AppliesTo) -> Question {
        Question {
            id: Uuid::new_v4(),
            label: "Q".into(),
            kind,
            options: if kind.has_options() { vec!["Veggie".into(), "Vegan".into(), "Meat".into()] } else { vec![] },
            required,
            ticket_type_ids: None,
            applies_to,
            position: 0,
        }
    }

    fn form(questions: &[Question], quantity: u16, names: AttendeeNames) -> Form<'_> {
        Form { questions, ticket_type_id: Uuid::nil(), quantity, names }
    }

    fn text(question: &Question, index: Option<u16>, value: &str) -> Answer {
        Answer { question_id: question.id, ticket_index: index, value: AnswerValue::Text(value.into()) }
    }

    #[test]
    fn a_required_question_per_ticket_needs_an_answer_for_every_ticket() {
        let meal = question(QuestionKind::Choice, true, AppliesTo::Ticket);
        let qs = [meal.clone()];
        let problems = form(&qs, 2, AttendeeNames::Off).check(&[], &[text(&meal, Some(0), "Vegan")]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].kind, problems[0].ticket_index), (ProblemKind::Required, Some(1)));
        let both = [text(&meal, Some(0), "Vegan"), text(&meal, Some(1), "Meat")];
        assert_eq!(form(&qs, 2, AttendeeNames::Off).check(&[], &both).unwrap().answers.len(), 2);
    }

    #[test]
    fn answers_must_fit_their_kind() {
        let cases = [
            (QuestionKind::Choice, AnswerValue::Text("Fish".into())),
            (QuestionKind::Email, AnswerValue::Text("not an address".into())),
            (QuestionKind::Phone, AnswerValue::Text("call me".into())),
            (QuestionKind::Date, AnswerValue::Text("2026-02-30".into())),
            (QuestionKind::Multi, AnswerValue::Picked(vec!["Vegan".into(), "Fish".into()])),
            (QuestionKind::Checkbox, AnswerValue::Text("yes".into())),
            (QuestionKind::Text, AnswerValue::Text("a\u{202E}b".into())),
            (QuestionKind::Text, AnswerValue::Text("x".repeat(TEXT_MAX + 1))),
        ];
        for (kind, value) in cases {
            let q = question(kind, false, AppliesTo::Booking);
            let answer = Answer { question_id: q.id, ticket_index: None, value: value.clone() };
            let problems = form(std::slice::from_ref(&q), 1, AttendeeNames::Off).check(&[], &[answer]).unwrap_err();
            assert_eq!(problems[0].kind, ProblemKind::Invalid, "{kind:?} {value:?}");
            assert_eq!(problems[0].code(), "answer_invalid");
        }
    }

    #[test]
    fn good_answers_are_cleaned() {
        let email = question(QuestionKind::Email, true, AppliesTo::Booking);
        let multi = question(QuestionKind::Multi, false, AppliesTo::Booking);
        let tick = question(QuestionKind::Checkbox, true, AppliesTo::Booking);
        let qs = [email.clone(), multi.clone(), tick.clone()];
        let given = [
            text(&email, None, "  Ada@Example.ORG "),
            Answer {
                question_id: multi.id,
                ticket_index: None,
                value: AnswerValue::Picked(vec!["Meat".into(), "Veggie".into()]),
            },
            Answer { question_id: tick.id, ticket_index: None, value: AnswerValue::Ticked(true) },
        ];
        let details = form(&qs, 3, AttendeeNames::Off).check(&[], &given).unwrap();
        assert_eq!(details.answers[0].value, AnswerValue::Text("ada@example.org".into()));
        assert_eq!(details.answers[1].value, AnswerValue::Picked(vec!["Veggie".into(), "Meat".into()]));
        assert_eq!(details.answers[1].value.in_words(), "Veggie; Meat");
    }

    #[test]
    fn a_required_checkbox_must_be_ticked_and_blank_optional_answers_are_dropped() {
        let terms = question(QuestionKind::Checkbox, true, AppliesTo::Booking);
        let note = question(QuestionKind::Text, false, AppliesTo::Booking);
        let qs = [terms.clone(), note.clone()];
        let unticked = Answer { question_id: terms.id, ticket_index: None, value: AnswerValue::Ticked(false) };
        let problems = form(&qs, 1, AttendeeNames::Off).check(&[], &[unticked, text(&note, None, " ")]).unwrap_err();
        assert_eq!((problems.len(), problems[0].kind), (1, ProblemKind::Required));
        let ticked = Answer { question_id: terms.id, ticket_index: None, value: AnswerValue::Ticked(true) };
        let details = form(&qs, 1, AttendeeNames::Off).check(&[], &[ticked, text(&note, None, "")]).unwrap();
        assert_eq!(details.answers.len(), 1);
    }

    #[test]
    fn indexes_must_name_a_ticket_of_the_booking_once() {
        let per_ticket = question(QuestionKind::Text, false, AppliesTo::Ticket);
        let per_booking = question(QuestionKind::Text, false, AppliesTo::Booking);
        let qs = [per_ticket.clone(), per_booking.clone()];
        let f = form(&qs, 2, AttendeeNames::Off);
        for bad in [
            vec![text(&per_ticket, Some(2), "x")],
            vec![text(&per_ticket, None, "x")],
            vec![text(&per_booking, Some(0), "x")],
            vec![text(&per_ticket, Some(1), "x"), text(&per_ticket, Some(1), "y")],
            vec![Answer { question_id: Uuid::new_v4(), ticket_index: None, value: AnswerValue::Text("x".into()) }],
        ] {
            assert_eq!(f.check(&[], &bad).unwrap_err()[0].kind, ProblemKind::Invalid, "{bad:?}");
        }
        // One ticket: its index may be left out.
        let one = form(&qs, 1, AttendeeNames::Off).check(&[], &[text(&per_ticket, None, "x")]).unwrap();
        assert_eq!(one.answers[0].ticket_index, Some(0));
    }

    #[test]
    fn a_question_for_other_types_is_not_asked() {
        let mut vip_only = question(QuestionKind::Text, true, AppliesTo::Booking);
        vip_only.ticket_type_ids = Some(vec![Uuid::new_v4()]);
        let qs = [vip_only.clone()];
        let f = form(&qs, 1, AttendeeNames::Off);
        assert!(!f.asks_anything());
        assert!(f.check(&[], &[]).is_ok());
        assert_eq!(f.check(&[], &[text(&vip_only, None, "x")]).unwrap_err()[0].kind, ProblemKind::Invalid);
    }

    #[test]
    fn what_no_longer_fits_a_changed_question_is_dropped_by_the_worker() {
        let meal = question(QuestionKind::Choice, true, AppliesTo::Ticket);
        let note = question(QuestionKind::Text, false, AppliesTo::Booking);
        let given = Details {
            attendees: vec![Some("Ada".into())],
            answers: vec![text(&meal, Some(0), "Vegan"), text(&note, None, "hi")],
        };
        // Unchanged: everything kept.
        let qs = [meal.clone(), note.clone()];
        assert_eq!(form(&qs, 1, AttendeeNames::Optional).still_fitting(&given), given);
        // "Vegan" no longer an option, the note asked per ticket now, a question deleted.
        let mut changed_meal = meal.clone();
        changed_meal.options = vec!["Fish".into()];
        let mut per_ticket = note.clone();
        per_ticket.applies_to = AppliesTo::Ticket;
        let kept = form(&[changed_meal, per_ticket], 1, AttendeeNames::Optional).still_fitting(&given);
        assert!(kept.answers.is_empty(), "{kept:?}");
        assert_eq!(kept.attendees, given.attendees);
        assert!(form(&[], 1, AttendeeNames::Optional).still_fitting(&given).answers.is_empty());
    }

    #[test]
    fn names_per_ticket() {
        let none: [Question; 0] = [];
        let required = form(&none, 2, AttendeeNames::Required);
        let problems = required.check(&["Ada Lovelace".into()], &[]).unwrap_err();
        assert_eq!((problems[0].kind, problems[0].ticket_index), (ProblemKind::NameRequired, Some(1)));
        assert_eq!(problems[0].code(), "attendee_name_required");
        let both = required.check(&[" Ada Lovelace ".into(), "Σωκράτης".into()], &[]).unwrap();
        assert_eq!(both.attendees, vec![Some("Ada Lovelace".into()), Some("Σωκράτης".into())]);
        let optional = form(&none, 3, AttendeeNames::Optional);
        let some = optional.check(&["".into(), "Пётр".into()], &[]).unwrap();
        assert_eq!(some.attendees, vec![None, Some("Пётр".into()), None]);
        assert!(optional.check(&[], &[]).unwrap().attendees.is_empty());
        assert_eq!(optional.check(&vec!["x".into(); 4], &[]).unwrap_err()[0].kind, ProblemKind::NameInvalid);
        let off = form(&none, 1, AttendeeNames::Off);
        assert!(off.check(&["Ada".into()], &[]).unwrap().attendees.is_empty(), "ignored where names are off");
        assert_eq!(
            optional.check(&["a\u{0007}".into()], &[]).unwrap_err()[0].kind,
            ProblemKind::NameInvalid,
            "a control character in a name"
        );
    }
}
