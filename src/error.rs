//! The one error type of the HTTP layer and its single mapping to
//! `application/problem+json` (RFC 9457) with a stable `code` word.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` style, under /problems/).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable machine-readable word: `validation_failed`, `email_taken`, ...
    pub code: String,
    /// One entry per invalid field (empty unless validation failed).
    pub errors: Vec<FieldError>,
    /// For `already_checked_in`: when the ticket was first scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<chrono::DateTime<chrono::Utc>>,
    /// For `already_in_line`: the booking that is in line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<uuid::Uuid>,
    /// With `sales_closed` before the pre-queue opens: when requests are taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<chrono::DateTime<chrono::Utc>>,
    /// With `answer_required` / `answer_invalid`: the (first) question refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub question_id: Option<uuid::Uuid>,
}

fn answers_detail(problems: &[crate::domain::question::AnswerProblem]) -> String {
    use crate::domain::question::ProblemKind;
    match problems.first().map(|p| p.kind) {
        Some(ProblemKind::Required) => "a required question is not answered".into(),
        Some(ProblemKind::NameRequired) => "each ticket of this type needs the name of the person it is for".into(),
        Some(ProblemKind::NameInvalid) => "a name given is not valid".into(),
        _ => "an answer does not fit its question".into(),
    }
}

/// A refused name or answer as a field of the request (`attendees[1].name`,
/// `answers[{question_id}][{ticket_index}]`).
fn answer_field(problem: &crate::domain::question::AnswerProblem) -> FieldError {
    use crate::domain::question::ProblemKind;
    let about_names = matches!(problem.kind, ProblemKind::NameRequired | ProblemKind::NameInvalid);
    let field = match (problem.question_id, problem.ticket_index) {
        (None, Some(index)) => format!("attendees[{index}].name"),
        (None, None) if about_names => "attendees".into(),
        (None, None) => "answers".into(),
        (Some(question), Some(index)) => format!("answers[{question}][{index}]"),
        (Some(question), None) => format!("answers[{question}]"),
    };
    FieldError { field, message: problem.message.clone() }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// Malformed syntax: broken JSON, a path id that is not a UUID, a bad header.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("only the organizer of this event may do this")]
    Forbidden,
    #[error(
        "confirm your email address first: follow the link we sent (or ask for a new one at /api/v1/auth/verify/resend)"
    )]
    EmailUnverified,
    #[error("this link is unknown, was used already, or has expired; ask for a new one")]
    InvalidToken,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// A state conflict with a specific code word (`sold_out`, `sales_closed`, ...).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 409 `sales_closed`, with the time requests are taken from.
    #[error("{detail}")]
    NotYetOpen { detail: String, opens_at: chrono::DateTime<chrono::Utc> },
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("this ticket was already checked in at {0}")]
    AlreadyCheckedIn(chrono::DateTime<chrono::Utc>),
    #[error("you are in line for this ticket type already (booking {0}); wait for its decision")]
    AlreadyInLine(uuid::Uuid),
    #[error("the webhook's signature is not valid: {0}")]
    InvalidSignature(crate::payments::webhook::SignatureError),
    #[error("the payment did not go through: {0}; the seats stay held, try another card")]
    PaymentFailed(String),
    #[error("too many requests; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// 429 `too_many_streams`: this person or booking has as many event
    /// streams and long-polls open as one may.
    #[error(
        "too many booking streams or waits open at once (at most 3 a person, 2 a booking); close one, or read the booking without waiting"
    )]
    TooManyStreams,
    /// 409 `hold_cooldown`, with Retry-After.
    #[error("{detail}")]
    HoldCooldown { detail: String, retry_after: u64 },
    #[error("the request took too long to arrive or to answer")]
    RequestTimeout,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// A code refused at the accept: 422 `code_invalid`, `code_expired` or
    /// `code_not_for_type` (field `code`).
    #[error("{0}")]
    Code(crate::domain::code::CodeRefusal),
    /// Names or answers refused: 422 `answer_required`, `answer_invalid`,
    /// `attendee_name_required` or `attendee_name_invalid` (the first
    /// problem's), every problem in `errors`, the first question's id in
    /// `question_id`.
    #[error("{}", answers_detail(.0))]
    Answers(Vec<crate::domain::question::AnswerProblem>),
    /// An event image refused: 413 `image_too_large`, 422 `image_invalid` or
    /// `image_too_many_pixels`.
    #[error("{0}")]
    Image(crate::event::image::ImageError),
    /// A part of the system cannot be reached; try again later.
    #[error("{0} is unavailable, try again shortly")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict { code: "conflict", detail: detail.into() }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PaymentFailed(_) => StatusCode::PAYMENT_REQUIRED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::EmailUnverified => StatusCode::FORBIDDEN,
            Self::InvalidToken | Self::InvalidSignature(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::EmailTaken
            | Self::Conflict { .. }
            | Self::NotYetOpen { .. }
            | Self::AlreadyCheckedIn(_)
            | Self::AlreadyInLine(_)
            | Self::HoldCooldown { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited { .. } | Self::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Image(crate::event::image::ImageError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Code(_) | Self::Answers(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Image(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::EmailUnverified => "email_unverified",
            Self::InvalidToken => "invalid_token",
            Self::NotFound(_) => "not_found",
            Self::EmailTaken => "email_taken",
            Self::Conflict { code, .. } => code,
            Self::NotYetOpen { .. } => "sales_closed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::AlreadyCheckedIn(_) => "already_checked_in",
            Self::AlreadyInLine(_) => "already_in_line",
            Self::PaymentFailed(_) => "payment_failed",
            Self::InvalidSignature(_) => "invalid_signature",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::RateLimited { .. } => "rate_limited",
            Self::HoldCooldown { .. } => "hold_cooldown",
            Self::TooManyStreams => "too_many_streams",
            Self::Unavailable(_) => "unavailable",
            Self::Image(err) => err.code(),
            Self::Code(refusal) => refusal.code(),
            Self::Answers(problems) => problems.first().map_or("answer_invalid", |p| p.code()),
            Self::Internal(_) => "internal",
        }
    }
}

/// How long a client refused another stream should wait before trying again.
const STREAM_RETRY_AFTER_SECS: u64 = 10;

/// How long a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "2";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let retry_after = match &self {
            Self::RateLimited { retry_after } | Self::HoldCooldown { retry_after, .. } => Some(*retry_after),
            Self::TooManyStreams => Some(STREAM_RETRY_AFTER_SECS),
            _ => None,
        };
        let checked_in_at = match &self {
            Self::AlreadyCheckedIn(at) => Some(*at),
            _ => None,
        };
        let booking_id = match &self {
            Self::AlreadyInLine(id) => Some(*id),
            _ => None,
        };
        let opens_at = match &self {
            Self::NotYetOpen { opens_at, .. } => Some(*opens_at),
            _ => None,
        };
        let question_id = match &self {
            // The question of the problem `code` names (none for a name).
            Self::Answers(problems) => problems.first().and_then(|p| p.question_id),
            _ => None,
        };
        if let Self::Internal(err) = &self {
            // The details go to the log, never to the client.
            tracing::error!(error = ?err, "internal error");
        }
        let problem = Problem {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: code.to_owned(),
            errors: match self {
                Self::Validation(errors) => errors,
                Self::Image(err) => vec![FieldError { field: "image".into(), message: err.to_string() }],
                Self::Code(refusal) => vec![FieldError { field: "code".into(), message: refusal.to_string() }],
                Self::Answers(problems) => problems.iter().map(answer_field).collect(),
                _ => Vec::new(),
            },
            checked_in_at,
            booking_id,
            opens_at,
            question_id,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.unwrap_or(1)));
            }
            _ if retry_after.is_some() => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.unwrap_or(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_unreachable(&err) {
            tracing::warn!(error = %err, "database unreachable");
            return Self::Unavailable("the database");
        }
        // Serialization failure or deadlock: nothing was changed; a retry works.
        if crate::db::is_retryable(&err) {
            tracing::warn!(error = %err, "transaction conflict; asking the client to retry");
            return Self::Unavailable("the database (a concurrent change)");
        }
        Self::Internal(err.into())
    }
}

/// An equal error for another waiter on the same failed load (the original
/// is not `Clone`: it may hold an `anyhow::Error`).
impl crate::cache::read::SharedFailure for ApiError {
    fn replay(&self) -> Self {
        match self {
            Self::Unavailable(part) => Self::Unavailable(part),
            Self::NotFound(what) => Self::NotFound(what),
            other => Self::Internal(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<crate::booking::verified::NotAllowed> for ApiError {
    fn from(err: crate::booking::verified::NotAllowed) -> Self {
        match err {
            crate::booking::verified::NotAllowed::Unverified => Self::EmailUnverified,
            crate::booking::verified::NotAllowed::Database(err) => err.into(),
        }
    }
}

/// What the booking rules refuse, as the API answers it.
impl From<crate::booking::accept::AcceptError> for ApiError {
    fn from(err: crate::booking::accept::AcceptError) -> Self {
        use crate::booking::accept::AcceptError as E;
        match err {
            E::UnknownTicketType => Self::NotFound("ticket type"),
            E::SalesClosed(detail) => Self::Conflict { code: "sales_closed", detail: detail.into() },
            E::NotYetOpen(opens_at) => Self::NotYetOpen { detail: err.to_string(), opens_at },
            E::EventCancelled => Self::Conflict { code: "event_cancelled", detail: err.to_string() },
            E::Quantity { .. } => Self::field("quantity", err.to_string()),
            E::SoldOut => Self::Conflict { code: "sold_out", detail: err.to_string() },
            E::KeyReused => Self::IdempotencyKeyReused,
            E::KeyInFlight => Self::conflict(err.to_string()),
            E::AlreadyInLine(booking) => Self::AlreadyInLine(booking),
            E::TooManyHolds(_) => Self::Conflict { code: "too_many_holds", detail: err.to_string() },
            E::HoldCooldown(until) => {
                let retry_after = (until - chrono::Utc::now()).num_seconds().max(1) as u64;
                Self::HoldCooldown { detail: err.to_string(), retry_after }
            }
            E::QueueUnavailable => Self::Unavailable("the booking queue"),
            E::Code(refusal) => Self::Code(refusal),
            E::Answers(problems) => Self::Answers(problems),
            E::CodeUsedUp => Self::Conflict { code: "code_used_up", detail: err.to_string() },
            E::Database(err) => err.into(),
        }
    }
}

/// What the event room refuses, as the API answers it.
impl From<crate::event::EventError> for ApiError {
    fn from(err: crate::event::EventError) -> Self {
        use crate::event::EventError as E;
        match err {
            E::NotFound => Self::NotFound("event"),
            E::TicketTypeNotFound => Self::NotFound("ticket type"),
            E::CheckinListNotFound => Self::NotFound("check-in list"),
            E::TicketNotFound => Self::NotFound("ticket"),
            E::NoCheckIn => Self::NotFound("checked-in ticket"),
            E::AlreadyCheckedIn(at) => Self::AlreadyCheckedIn(at),
            E::TicketVoid => Self::Conflict { code: "ticket_void", detail: err.to_string() },
            E::NotOrganizer => Self::Forbidden,
            E::Invalid(errors) => Self::Validation(errors),
            E::PriceLocked(_) => Self::Conflict { code: "price_locked", detail: err.to_string() },
            E::Cancelled
            | E::DrawMade
            | E::NoTicketTypes
            | E::AlreadyStarted
            | E::HasBookings
            | E::TooManyTicketTypes
            | E::NameTaken
            | E::CapacityBelowSold(_) => Self::conflict(err.to_string()),
            E::QueueUnknown => Self::Unavailable("the booking state"),
            E::Image(err) => Self::Image(err),
            E::CodeNotFound => Self::NotFound("code"),
            E::CodeTaken => Self::Conflict { code: "code_taken", detail: err.to_string() },
            E::PresaleOpen => Self::Conflict { code: "presale_open", detail: err.to_string() },
            E::PresaleAfterStart(_) => Self::Conflict { code: "presale_after_start", detail: err.to_string() },
            E::OrganizationNotFound => Self::NotFound("organization"),
            E::InvoicingFixed => Self::Conflict { code: "invoicing_fixed", detail: err.to_string() },
            E::PrequeueOpen => Self::Conflict { code: "prequeue_open", detail: err.to_string() },
            E::QuestionNotFound => Self::NotFound("question"),
            E::QuestionAnswered => Self::Conflict { code: "question_answered", detail: err.to_string() },
            E::TooManyQuestions => Self::conflict(err.to_string()),
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::papers::ExportError> for ApiError {
    fn from(err: crate::papers::ExportError) -> Self {
        match err {
            crate::papers::ExportError::TooMany => {
                Self::Validation(vec![crate::domain::FieldError { field: "to".into(), message: err.to_string() }])
            }
            crate::papers::ExportError::Papers(err) => err.into(),
        }
    }
}

impl From<crate::team::TeamError> for ApiError {
    fn from(err: crate::team::TeamError) -> Self {
        use crate::team::TeamError as E;
        match err {
            E::NotFound => Self::NotFound("organization"),
            E::NotAllowed => Self::Forbidden,
            E::MemberNotFound => Self::NotFound("member"),
            E::Invalid(errors) => Self::Validation(errors),
            E::LastOwner => Self::Conflict { code: "last_owner", detail: err.to_string() },
            E::InvitationNotFound => Self::NotFound("invitation"),
            E::PersonalOrganization => Self::Conflict { code: "personal_organization", detail: err.to_string() },
            E::InvitationExpired => Self::Conflict { code: "invitation_expired", detail: err.to_string() },
            E::InvitationUsed => Self::Conflict { code: "invitation_used", detail: err.to_string() },
            E::WrongAccount => Self::Conflict { code: "wrong_account", detail: err.to_string() },
            E::Unverified => Self::EmailUnverified,
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(err: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError as E;
        match err {
            E::OrganizationNotFound => Self::NotFound("organization"),
            E::NotAllowed => Self::Forbidden,
            E::NotFound => Self::NotFound("webhook endpoint"),
            E::DeliveryNotFound => Self::NotFound("delivery"),
            E::TooMany => Self::Conflict { code: "too_many_webhooks", detail: err.to_string() },
            E::Disabled => Self::Conflict { code: "webhook_disabled", detail: err.to_string() },
            E::Invalid(errors) => Self::Validation(errors),
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::papers::PapersError> for ApiError {
    fn from(err: crate::papers::PapersError) -> Self {
        use crate::papers::PapersError as E;
        match err {
            E::NotFound => Self::NotFound("booking"),
            E::NoTickets => Self::Conflict { code: "no_tickets", detail: err.to_string() },
            E::InvoiceNotFound => Self::NotFound("invoice"),
            E::InvoiceIssued => Self::Conflict { code: "invoice_issued", detail: err.to_string() },
            E::NotAllowed => Self::Forbidden,
            E::OrganizationNotFound => Self::NotFound("organization"),
            E::Invalid(errors) => Self::Validation(errors),
            E::Pdf(err) => Self::Internal(err.into()),
            E::Wallet(err) => Self::Internal(err.into()),
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::booking::details::DetailsError> for ApiError {
    fn from(err: crate::booking::details::DetailsError) -> Self {
        use crate::booking::details::DetailsError as E;
        match err {
            E::NotFound => Self::NotFound("booking"),
            E::NotEditable => Self::Conflict { code: "booking_not_editable", detail: err.to_string() },
            E::Closed(_) => Self::Conflict { code: "answers_closed", detail: err.to_string() },
            E::Answers(problems) => Self::Answers(problems),
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::booking::cancel::CancelError> for ApiError {
    fn from(err: crate::booking::cancel::CancelError) -> Self {
        use crate::booking::cancel::CancelError as E;
        match err {
            E::NotFound => Self::NotFound("booking"),
            E::NotCancellable(detail) => Self::conflict(detail),
            // Never answered: `cancel_booking` cancels the booking it became.
            E::DecidedMeanwhile => Self::conflict(err.to_string()),
            E::Unavailable => Self::Unavailable("the booking state"),
            E::DeadlinePassed(_) => Self::Conflict { code: "cancellation_closed", detail: err.to_string() },
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::booking::payback::PaybackError> for ApiError {
    fn from(err: crate::booking::payback::PaybackError) -> Self {
        use crate::booking::payback::PaybackError as E;
        match err {
            E::NotFound => Self::NotFound("booking"),
            E::NoRefund => Self::Conflict { code: "no_refund_owed", detail: err.to_string() },
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::booking::pay::PayError> for ApiError {
    fn from(err: crate::booking::pay::PayError) -> Self {
        use crate::booking::pay::PayError as E;
        match err {
            E::NotFound => Self::NotFound("booking"),
            E::NotPayable(detail) => Self::Conflict { code: "not_payable", detail },
            E::PaymentRequired => Self::Conflict { code: "payment_required", detail: err.to_string() },
            E::InFlight => Self::conflict(err.to_string()),
            E::Declined(reason) => Self::PaymentFailed(reason),
            E::BadPaymentMethod(reason) => Self::field("payment_method", reason),
            E::Provider(reason) => {
                tracing::warn!(%reason, "payment provider unavailable");
                Self::Unavailable("the payment provider")
            }
            E::Database(err) => err.into(),
        }
    }
}

impl From<crate::booking::waiting::WaitingError> for ApiError {
    fn from(err: crate::booking::waiting::WaitingError) -> Self {
        use crate::booking::waiting::WaitingError as E;
        match err {
            E::UnknownTicketType => Self::NotFound("ticket type"),
            E::Quantity(_) => Self::field("quantity", err.to_string()),
            E::NotSoldOut => Self::Conflict { code: "not_sold_out", detail: err.to_string() },
            E::SalesClosed => Self::Conflict { code: "sales_closed", detail: err.to_string() },
            E::AlreadyWaiting => Self::Conflict { code: "already_waiting", detail: err.to_string() },
            E::NotFound => Self::NotFound("waiting-list entry"),
            E::Database(err) => err.into(),
        }
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::Validation(errors)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
