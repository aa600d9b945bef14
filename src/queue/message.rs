//! What travels through the booking queue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A booking request the API accepted (answered 202) and the worker must decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRequested {
    pub booking_id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub idempotency_key: Option<String>,
    pub accepted_at: DateTime<Utc>,
    /// The price the buyer was shown when the request was accepted; the
    /// worker refuses (`price_changed`) if the ticket type's differs by then.
    /// Absent in messages from before it travelled (they are not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// Header counting how often a message has been tried (absent: never).
pub const ATTEMPTS_HEADER: &str = "x-boxoffice-attempts";
/// Header holding the last error of a dead-lettered or retried message.
pub const ERROR_HEADER: &str = "x-boxoffice-error";
