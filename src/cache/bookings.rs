//! Redis state of bookings on their way through the queue: idempotency keys,
//! pending bookings (visible from the 202 until the worker has written them),
//! sold-out flags and holder marks (the line's statistics: `cache::line`).
//!
//! Keys (after the prefix):
//! - `idem:{user}:{key}`: the booking an Idempotency-Key maps to, 24 h;
//! - `booking:{id}`: a pending booking, until the worker has committed it;
//! - `pending:{event}`, `user-pending:{user}`: sorted sets of pending booking
//!   ids, scored by acceptance time (so entries a crash left behind age out);
//! - `in-line:{user}:{ticket type}`: the user's one booking request in line
//!   for that ticket type, until the worker has decided it;
//! - `sold-out:{ticket type}`: set by the worker when no seat is left, for a
//!   few seconds at a time, so a stale flag heals by itself;
//! - `holder:{event}:{user}`: the worker gave the user a hold in the event
//!   lately (until it could have run out and cooled down): the door looks up
//!   their holds in PostgreSQL only then;
//! - `idem-horizon`: until when (Unix ms) Redis may be missing keys it once
//!   held. Redis keeps nothing on disk: when it comes back empty this marker
//!   is gone too, and the API sets it again from PostgreSQL (the newest keyed
//!   booking + 24 h). Until then a key Redis calls new is looked up there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{CacheError, Redis};
use crate::domain::booking::AcceptedRequest;

pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// An Idempotency-Key reserved by a request still being accepted: short, so a
/// crash between reserving and publishing frees the key soon.
pub const IN_FLIGHT_TTL: Duration = Duration::from_secs(30);
/// A pending booking older than this no longer counts in an event's queue
/// (only a crash between commit and cleanup leaves one behind).
pub const PENDING_STALE: Duration = Duration::from_secs(3600);
/// Pending records read for the per-ticket-type stats at most.
pub const PENDING_SAMPLE: usize = 10_000;
/// How long a pending booking stays visible without the worker writing it
/// (a message parked in the dead-letter queue, say).
pub const PENDING_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Lifetime of a sold-out flag; the worker renews it while the type stays sold out.
pub const SOLD_OUT_TTL: Duration = Duration::from_secs(10);

/// What an Idempotency-Key points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub booking_id: Uuid,
    /// Which request body the key was first used with.
    pub fingerprint: String,
    /// False while the first request is still being accepted.
    pub accepted: bool,
}

/// A booking the worker has not written yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingBooking {
    pub id: Uuid,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    pub quantity: i32,
    pub accepted_at: DateTime<Utc>,
    /// Its code's presale, if any (the draw it waits for, if taken before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presale_at: Option<DateTime<Utc>>,
}

impl From<&crate::db::bookings::BookingRow> for PendingBooking {
    fn from(row: &crate::db::bookings::BookingRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            event_id: row.event_id,
            ticket_type_id: row.ticket_type_id,
            quantity: row.quantity,
            accepted_at: row.accepted_at,
            presale_at: None,
        }
    }
}

impl From<&AcceptedRequest> for PendingBooking {
    fn from(m: &AcceptedRequest) -> Self {
        Self {
            id: m.booking_id,
            user_id: m.user_id,
            event_id: m.event_id,
            ticket_type_id: m.ticket_type_id,
            quantity: m.quantity,
            accepted_at: m.accepted_at,
            presale_at: m.presale_at,
        }
    }
}

/// What the accept script found.
#[derive(Debug)]
pub enum Admission {
    /// Recorded as pending (and the key reserved): go on and publish.
    Admitted { horizon: KeyHorizon, holder: HolderMark },
    /// The key was used before: here is what it points at.
    KeyUsed(IdempotencyRecord),
    /// The ticket type is flagged sold out; nothing was recorded.
    SoldOut(KeyHorizon),
    /// The user has this booking in line for the ticket type already.
    InLine(Uuid),
    /// The request's code is flagged used up; nothing was recorded.
    CodeUsedUp,
}

/// Whether the worker gave the buyer a hold in the event lately (see
/// [`HoldMark`]): only then can the rules against seat spinning refuse them,
/// so only then is PostgreSQL asked at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderMark {
    /// No hold given lately (or Redis forgot it: the worker still decides).
    Absent,
    Present,
}

/// A hold the worker gave: the buyer is marked as a holder in the event until
/// the hold could have run out and its cool-down passed.
#[derive(Debug, Clone)]
pub struct HoldMark {
    pub event_id: Uuid,
    pub user_id: Uuid,
    pub until: DateTime<Utc>,
}

/// Whether Redis can be trusted to know every Idempotency-Key of the last 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHorizon {
    /// No key in the request: nothing to know.
    NotAsked,
    /// The marker is gone: Redis came back empty (or is new).
    Unknown,
    /// Keys accepted before this time (Unix ms) may be missing from Redis.
    Until(i64),
}

impl KeyHorizon {
    fn parse(raw: &str) -> Self {
        match raw {
            "" => Self::NotAsked,
            "missing" => Self::Unknown,
            ms => ms.parse().map_or(Self::Unknown, Self::Until),
        }
    }
}

/// One round trip: check the key, whether the user is in line for the type
/// already, the sold-out flag and the code's used-up flag, and only when all
/// pass reserve the key, take
/// the user's place in line and record the booking as pending. For a keyed request
/// it also answers whether Redis may have forgotten keys (`idem-horizon`),
/// and for an admitted one whether the worker marked the buyer as a holder
/// in the event. Every answer has three parts.
const ADMIT: &str = r#"
local existing = ARGV[1] == '1' and redis.call('GET', KEYS[1]) or false
if existing then return {'key_used', existing, '0'} end
local horizon = ARGV[1] == '1' and (redis.call('GET', KEYS[6]) or 'missing') or ''
local in_line = redis.call('GET', KEYS[7])
if in_line then return {'in_line', in_line, '0'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'sold_out', horizon, '0'} end
if redis.call('EXISTS', KEYS[9]) == 1 then return {'code_used_up', horizon, '0'} end
if ARGV[1] == '1' then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
redis.call('SET', KEYS[7], ARGV[6], 'EX', ARGV[8])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[6])
return {'admitted', horizon, tostring(redis.call('EXISTS', KEYS[8]))}
"#;

/// Leaves the line: deletes the user's in-line key if it still names this booking.
const LEAVE_LINE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"#;

#[derive(Clone)]
pub struct BookingCache {
    pub(super) redis: Redis,
    admit: Script,
    /// SHA-1 of [`LEAVE_LINE`]: a batch's pipeline loads the script once and
    /// calls it by hash for each booking, instead of sending its text each time.
    leave_line_sha: String,
}

impl BookingCache {
    pub fn new(redis: Redis) -> Self {
        Self { redis, admit: Script::new(ADMIT), leave_line_sha: Script::new(LEAVE_LINE).get_hash().to_owned() }
    }

    fn in_line_key(&self, user_id: Uuid, ticket_type_id: Uuid) -> String {
        self.redis.key(&format!("in-line:{user_id}:{ticket_type_id}"))
    }

    fn idempotency_key(&self, user_id: Uuid, key: &str) -> String {
        self.redis.key(&format!("idem:{user_id}:{key}"))
    }

    fn booking_key(&self, id: Uuid) -> String {
        self.redis.key(&format!("booking:{id}"))
    }

    pub(super) fn event_pending_key(&self, event_id: Uuid) -> String {
        self.redis.key(&format!("pending:{event_id}"))
    }

    fn user_pending_key(&self, user_id: Uuid) -> String {
        self.redis.key(&format!("user-pending:{user_id}"))
    }

    fn sold_out_key(&self, ticket_type_id: Uuid) -> String {
        self.redis.key(&format!("sold-out:{ticket_type_id}"))
    }

    /// Set when the worker found code `code_id` used up: its requests are
    /// refused at the door (409 `code_used_up`, in [`ADMIT`]) instead of
    /// waiting in line for the worker to refuse them. Like the sold-out flag
    /// it lasts [`SOLD_OUT_TTL`], and goes when a cancellation gives a use back.
    fn code_used_up_key(&self, code_id: Uuid) -> String {
        self.redis.key(&format!("code-used-up:{code_id}"))
    }

    /// A use of these codes came back: take them again at once.
    pub async fn clear_code_used_up(&self, code_ids: &[Uuid]) -> Result<(), CacheError> {
        if code_ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = code_ids.iter().map(|id| self.code_used_up_key(*id)).collect();
        self.redis.query(redis::pipe().cmd("DEL").arg(keys).ignore()).await
    }

    fn holder_key(&self, event_id: Uuid, user_id: Uuid) -> String {
        self.redis.key(&format!("holder:{event_id}:{user_id}"))
    }

    fn horizon_key(&self) -> String {
        self.redis.key("idem-horizon")
    }

    /// Sets the key horizon (Unix ms; 0 when no key can be missing) unless
    /// another process did first; returns the one in force.
    pub async fn set_key_horizon(&self, until_ms: i64) -> Result<i64, CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(self.horizon_key()).arg(until_ms).arg("NX").ignore();
        pipe.cmd("GET").arg(self.horizon_key());
        let (raw,): (Option<String>,) = self.redis.query(&pipe).await?;
        Ok(raw.and_then(|r| r.parse().ok()).unwrap_or(until_ms))
    }

    pub async fn admit(&self, message: &AcceptedRequest, fingerprint: &str) -> Result<Admission, CacheError> {
        let key = message.idempotency_key.as_deref();
        let record =
            IdempotencyRecord { booking_id: message.booking_id, fingerprint: fingerprint.to_owned(), accepted: false };
        let pending = PendingBooking::from(message);
        let mut invocation = self.admit.prepare_invoke();
        invocation
            .key(key.map_or_else(|| self.redis.key("idem:none"), |k| self.idempotency_key(message.user_id, k)))
            .key(self.sold_out_key(message.ticket_type_id))
            .key(self.booking_key(message.booking_id))
            .key(self.event_pending_key(message.event_id))
            .key(self.user_pending_key(message.user_id))
            .key(self.horizon_key())
            .key(self.in_line_key(message.user_id, message.ticket_type_id))
            .key(self.holder_key(message.event_id, message.user_id))
            .key(message.code_id.map_or_else(|| self.redis.key("code-used-up:none"), |c| self.code_used_up_key(c)))
            .arg(if key.is_some() { "1" } else { "0" })
            .arg(serde_json::to_string(&record).expect("serializes"))
            .arg(IN_FLIGHT_TTL.as_secs())
            .arg(serde_json::to_string(&pending).expect("serializes"))
            .arg(PENDING_TTL.as_secs())
            .arg(message.booking_id.to_string())
            .arg(message.accepted_at.timestamp_millis())
            .arg(PENDING_STALE.as_secs());
        let (verdict, payload, holder): (String, String, String) = self.redis.invoke(&invocation).await?;
        match verdict.as_str() {
            "admitted" => Ok(Admission::Admitted {
                horizon: KeyHorizon::parse(&payload),
                holder: if holder == "1" { HolderMark::Present } else { HolderMark::Absent },
            }),
            "sold_out" => Ok(Admission::SoldOut(KeyHorizon::parse(&payload))),
            "code_used_up" => Ok(Admission::CodeUsedUp),
            "in_line" => payload.parse().map(Admission::InLine).map_err(|_| CacheError::Corrupt("in-line record")),
            _ => match serde_json::from_str(&payload) {
                Ok(record) => Ok(Admission::KeyUsed(record)),
                Err(_) => Err(CacheError::Corrupt("idempotency record")),
            },
        }
    }

    /// Gives up `user_id`'s place in line for the ticket type if it is still
    /// held by `booking_id` (decided, or left behind by a crash).
    pub async fn leave_line(&self, user_id: Uuid, ticket_type_id: Uuid, booking_id: Uuid) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(LEAVE_LINE)
            .arg(1)
            .arg(self.in_line_key(user_id, ticket_type_id))
            .arg(booking_id.to_string())
            .ignore();
        self.redis.query(&pipe).await
    }

    /// The key's booking is now safely in the queue.
    pub async fn mark_accepted(&self, message: &AcceptedRequest, fingerprint: &str) -> Result<(), CacheError> {
        self.remember_key(message, message.booking_id, fingerprint).await
    }

    /// The key of `message` points at `booking_id`, accepted.
    pub async fn remember_key(
        &self,
        message: &AcceptedRequest,
        booking_id: Uuid,
        fingerprint: &str,
    ) -> Result<(), CacheError> {
        let Some(key) = message.idempotency_key.as_deref() else { return Ok(()) };
        let record = IdempotencyRecord { booking_id, fingerprint: fingerprint.to_owned(), accepted: true };
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.idempotency_key(message.user_id, key))
            .arg(serde_json::to_string(&record).expect("serializes"))
            .arg("EX")
            .arg(IDEMPOTENCY_TTL.as_secs())
            .ignore();
        self.redis.query(&pipe).await
    }

    /// Makes sure the scripts called by hash in this pipeline exist (Redis
    /// may have restarted empty since).
    fn load_scripts(&self, pipe: &mut redis::Pipeline) {
        pipe.cmd("SCRIPT").arg("LOAD").arg(LEAVE_LINE).ignore();
    }

    /// Undoes [`Self::admit`] when the broker did not take the message.
    pub async fn withdraw(&self, message: &AcceptedRequest) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        self.load_scripts(&mut pipe);
        if let Some(key) = message.idempotency_key.as_deref() {
            pipe.cmd("DEL").arg(self.idempotency_key(message.user_id, key)).ignore();
        }
        self.forget_pending(&mut pipe, &PendingBooking::from(message));
        self.redis.query(&pipe).await
    }

    /// Forgets a request decided outside a batch (its buyer left the line).
    pub async fn forget(&self, booking: &PendingBooking) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        self.load_scripts(&mut pipe);
        self.forget_pending(&mut pipe, booking);
        self.redis.query(&pipe).await
    }

    /// Adds the clean-up of `booking` to `pipe`, which must have been started
    /// with [`Self::load_scripts`].
    fn forget_pending(&self, pipe: &mut redis::Pipeline, booking: &PendingBooking) {
        pipe.cmd("DEL").arg(self.booking_key(booking.id)).ignore();
        pipe.cmd("ZREM").arg(self.event_pending_key(booking.event_id)).arg(booking.id.to_string()).ignore();
        pipe.cmd("ZREM").arg(self.user_pending_key(booking.user_id)).arg(booking.id.to_string()).ignore();
        pipe.cmd("EVALSHA")
            .arg(&self.leave_line_sha)
            .arg(1)
            .arg(self.in_line_key(booking.user_id, booking.ticket_type_id))
            .arg(booking.id.to_string())
            .ignore();
    }

    /// After the worker committed: the bookings are in PostgreSQL now,
    /// `sold_out` ticket types have no seat left, `used_up` codes no use,
    /// and `holders` got holds.
    /// The holder marks go first, so a buyer's next request never finds
    /// their place in line given up without the mark already there.
    pub async fn settle(
        &self,
        written: &[PendingBooking],
        sold_out: &[Uuid],
        used_up: &[Uuid],
        holders: &[HoldMark],
    ) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        self.load_scripts(&mut pipe);
        self.add_marks(&mut pipe, holders);
        for booking in written {
            self.forget_pending(&mut pipe, booking);
        }
        for ticket_type_id in sold_out {
            pipe.cmd("SET")
                .arg(self.sold_out_key(*ticket_type_id))
                .arg(1)
                .arg("EX")
                .arg(SOLD_OUT_TTL.as_secs())
                .ignore();
        }
        for code_id in used_up {
            pipe.cmd("SET").arg(self.code_used_up_key(*code_id)).arg(1).arg("EX").arg(SOLD_OUT_TTL.as_secs()).ignore();
        }
        self.redis.query(&pipe).await
    }

    /// Marks buyers given holds outside a batch (waiting-list offers).
    pub async fn mark_holders(&self, holders: &[HoldMark]) -> Result<(), CacheError> {
        if holders.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        self.add_marks(&mut pipe, holders);
        self.redis.query(&pipe).await
    }

    fn add_marks(&self, pipe: &mut redis::Pipeline, holders: &[HoldMark]) {
        let now = Utc::now();
        for mark in holders {
            let Ok(ttl) = u64::try_from((mark.until - now).num_seconds()) else { continue };
            let key = self.holder_key(mark.event_id, mark.user_id);
            // A later hold never shortens the mark of an earlier, longer one.
            pipe.cmd("SET").arg(&key).arg(1).arg("NX").arg("EX").arg(ttl.max(1)).ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(ttl.max(1)).arg("GT").ignore();
        }
    }

    /// Seats came back (a cancellation, more capacity): sell again at once.
    pub async fn clear_sold_out(&self, ticket_type_ids: &[Uuid]) -> Result<(), CacheError> {
        if ticket_type_ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ticket_type_ids.iter().map(|id| self.sold_out_key(*id)).collect();
        self.redis.query(redis::pipe().cmd("DEL").arg(keys).ignore()).await
    }

    pub async fn pending(&self, id: Uuid) -> Result<Option<PendingBooking>, CacheError> {
        let (raw,): (Option<String>,) = self.redis.query(redis::pipe().cmd("GET").arg(self.booking_key(id))).await?;
        Ok(raw.and_then(|raw| serde_json::from_str(&raw).ok()))
    }

    /// The caller's pending bookings (newest first).
    pub async fn pending_of_user(&self, user_id: Uuid) -> Result<Vec<PendingBooking>, CacheError> {
        let since = chrono::Utc::now().timestamp_millis() - PENDING_STALE.as_millis() as i64;
        let (ids,): (Vec<String>,) = self
            .redis
            .query(redis::pipe().cmd("ZRANGEBYSCORE").arg(self.user_pending_key(user_id)).arg(since).arg("+inf"))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().filter_map(|id| id.parse().ok()).map(|id| self.booking_key(id)).collect();
        let (raws,): (Vec<Option<String>>,) = self.redis.query(redis::pipe().cmd("MGET").arg(keys)).await?;
        let mut bookings: Vec<PendingBooking> =
            raws.into_iter().flatten().filter_map(|raw| serde_json::from_str(&raw).ok()).collect();
        bookings.sort_by_key(|b| std::cmp::Reverse(b.id));
        Ok(bookings)
    }

    /// The event's pending bookings (for the organizer's stats).
    /// At most [`PENDING_SAMPLE`] of them: under a big sale one call must not
    /// fetch a hundred thousand records (the caller counts the total apart).
    pub async fn pending_of_event(&self, event_id: Uuid) -> Result<Vec<PendingBooking>, CacheError> {
        let since = chrono::Utc::now().timestamp_millis() - PENDING_STALE.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGEBYSCORE")
            .arg(self.event_pending_key(event_id))
            .arg(since)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(PENDING_SAMPLE);
        let (ids,): (Vec<String>,) = self.redis.query(&pipe).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().filter_map(|id| id.parse().ok()).map(|id| self.booking_key(id)).collect();
        let (raws,): (Vec<Option<String>>,) = self.redis.query(redis::pipe().cmd("MGET").arg(keys)).await?;
        Ok(raws.into_iter().flatten().filter_map(|raw| serde_json::from_str(&raw).ok()).collect())
    }

    /// How many bookings of the event are accepted and not yet written.
    pub async fn pending_count(&self, event_id: Uuid) -> Result<u64, CacheError> {
        let key = self.event_pending_key(event_id);
        let since = chrono::Utc::now().timestamp_millis() - PENDING_STALE.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE").arg(&key).arg("-inf").arg(format!("({since}")).ignore();
        pipe.cmd("ZCARD").arg(&key);
        let (count,): (u64,) = self.redis.query(&pipe).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyHorizon;

    #[test]
    fn the_admit_script_answer_says_whether_keys_may_be_missing() {
        assert_eq!(KeyHorizon::parse(""), KeyHorizon::NotAsked);
        assert_eq!(KeyHorizon::parse("missing"), KeyHorizon::Unknown);
        assert_eq!(KeyHorizon::parse("0"), KeyHorizon::Until(0));
        assert_eq!(KeyHorizon::parse("1795000000000"), KeyHorizon::Until(1_795_000_000_000));
        // Anything unreadable is treated as "may be missing": a look-up too many, never a key lost.
        assert_eq!(KeyHorizon::parse("garbage"), KeyHorizon::Unknown);
    }
}
