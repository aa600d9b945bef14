//! The door without a connection: a device downloads the event's check-in
//! list (codes as SHA-256 hashes, holders, types, states), decides scans
//! itself, and uploads them when it can. The server applies each scan once
//! (a device's nonce), in the order the scans were made: the first scan of
//! a ticket admits it, a later one is recorded as a duplicate and told to
//! the device with who admitted it, where and when. A check-in list names
//! the ticket types one entrance admits ("VIP entrance"); a ticket of
//! another type is "not valid here".

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::access::event_for;
use super::{EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db::door_scans::{self as db, CheckinListRow, NewScan};
use crate::domain::Violations;
use crate::domain::team::Action;

/// Most scans one upload carries.
pub const MAX_SCANS: usize = 500;
/// A scan time further ahead than this (a device's clock) counts as received.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// One scan as the device made it.
#[derive(Debug, Clone)]
pub struct Scan {
    pub nonce: String,
    pub code: String,
    pub scanned_at: DateTime<Utc>,
    /// Whether the device let the person in. One it turned away (its list
    /// was older, or said so) never admits anyone later: it is `refused`.
    pub admitted: bool,
}

#[derive(Debug, Clone)]
pub struct SyncInput {
    pub device_id: String,
    pub gate: Option<String>,
    pub list_id: Option<Uuid>,
    pub scans: Vec<Scan>,
}

/// What became of one scan: its outcome and, for a ticket, who it is and
/// when and where it was admitted (by this scan or an earlier one).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ScanOutcome {
    pub nonce: String,
    /// `admitted`, `duplicate`, `void`, `unknown`, `not_valid_here`, or
    /// `refused` (the device turned the person away).
    pub outcome: String,
    pub holder: Option<String>,
    pub ticket_type: Option<String>,
    pub admitted_at: Option<DateTime<Utc>>,
    pub admitted_gate: Option<String>,
}

/// The hex SHA-256 of a ticket code, as the offline list carries it.
pub fn code_hash(code: &str) -> String {
    Sha256::digest(code.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn check(input: &SyncInput) -> Result<(), EventError> {
    let mut v = Violations::new();
    v.line("device_id", &input.device_id, 1, 100);
    if let Some(gate) = &input.gate {
        v.line("gate", gate, 0, 60);
    }
    if input.scans.len() > MAX_SCANS {
        v.add("scans", format!("at most {MAX_SCANS} at a time"));
    }
    if input.scans.iter().any(|s| s.nonce.is_empty() || s.nonce.len() > 100) {
        v.add("scans", "each scan needs a nonce of 1 to 100 characters");
    }
    v.finish_with(Some(())).map(|_| ()).map_err(EventError::Invalid)
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Applies uploaded scans (each once), earliest first.
    pub async fn sync_scans(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        mut input: SyncInput,
    ) -> Result<Vec<ScanOutcome>, EventError> {
        check(&input)?;
        let mut tx = self.db.begin().await?;
        event_for(&mut tx, event_id, user_id, Action::CheckIn).await?;
        let list: Option<CheckinListRow> = match input.list_id {
            Some(id) => Some(db::find_list(&mut tx, event_id, id).await?.ok_or(EventError::CheckinListNotFound)?),
            None => None,
        };
        let now = Utc::now();
        let gate = input.gate.as_deref().map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned);
        input.scans.sort_by_key(|s| s.scanned_at);
        // Every ticket of the upload locked at once, in one order: two
        // devices uploading together wait for each other, never deadlock.
        let codes: Vec<String> = input.scans.iter().filter_map(|s| crate::domain::csv::ticket_code(&s.code)).collect();
        db::lock_tickets(&mut tx, event_id, &codes).await?;
        let mut outcomes = Vec::with_capacity(input.scans.len());
        for scan in &input.scans {
            let scanned_at = if scan.scanned_at > now + CLOCK_SKEW { now } else { scan.scanned_at };
            let code = crate::domain::csv::ticket_code(&scan.code);
            // A retried upload: what the scan came to then, as things stand now.
            if let Some(seen) = db::find_scan(&mut tx, event_id, &input.device_id, &scan.nonce).await? {
                let ticket = match &seen.ticket_code {
                    Some(code) => db::lock_ticket(&mut tx, event_id, code).await?,
                    None => None,
                };
                outcomes.push(told(&scan.nonce, &seen.outcome, ticket.as_ref()));
                continue;
            }
            let ticket = match &code {
                Some(code) => db::lock_ticket(&mut tx, event_id, code).await?,
                None => None,
            };
            let outcome = match &ticket {
                _ if !scan.admitted => "refused",
                None => "unknown",
                Some(t) if t.status == "void" => "void",
                Some(t) if list.as_ref().is_some_and(|l| !l.ticket_type_ids.contains(&t.ticket_type_id)) => {
                    "not_valid_here"
                }
                Some(t) if t.status == "valid" => {
                    db::admit(&mut tx, &t.code, scanned_at, gate.as_deref(), &input.device_id).await?;
                    crate::webhooks::events::checked_in(&mut tx, t.booking_id, t.position, &t.holder, gate.as_deref())
                        .await?;
                    "admitted"
                }
                // Admitted by a later scan that came in first: this one was first.
                Some(t) if t.checked_in_at.is_some_and(|at| at > scanned_at) => {
                    db::demote_admission(&mut tx, &t.code).await?;
                    db::admit(&mut tx, &t.code, scanned_at, gate.as_deref(), &input.device_id).await?;
                    "admitted"
                }
                Some(_) => "duplicate",
            };
            let new = NewScan {
                event_id,
                device_id: &input.device_id,
                nonce: &scan.nonce,
                gate: gate.as_deref(),
                list_id: list.as_ref().map(|l| l.id),
                ticket_code: ticket.as_ref().map(|t| t.code.as_str()),
                scanned_at,
                outcome,
            };
            db::insert_scan(&mut tx, &new).await?;
            let ticket = match &ticket {
                Some(t) => db::lock_ticket(&mut tx, event_id, &t.code).await?,
                None => None,
            };
            outcomes.push(told(&scan.nonce, outcome, ticket.as_ref()));
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// The check-in list a door device keeps offline.
    pub async fn offline_list(
        &self,
        user_id: Uuid,
        event_id: Uuid,
    ) -> Result<(super::Event, Vec<db::OfflineTicket>, Vec<CheckinListRow>), EventError> {
        let event = self.for_organizer(user_id, event_id, Action::CheckIn).await?;
        let mut conn = self.db.acquire().await?;
        let tickets = db::offline_list(&mut conn, event_id).await?;
        let lists = db::lists_of(&mut conn, event_id).await?;
        Ok((event, tickets, lists))
    }

    /// The event's check-in lists (the door chooses one).
    pub async fn checkin_lists(&self, user_id: Uuid, event_id: Uuid) -> Result<Vec<CheckinListRow>, EventError> {
        let mut conn = self.db.acquire().await?;
        event_for(&mut conn, event_id, user_id, Action::CheckIn).await?;
        Ok(db::lists_of(&mut conn, event_id).await?)
    }

    /// A new check-in list: a name and the ticket types it admits.
    pub async fn create_checkin_list(
        &self,
        user_id: Uuid,
        event_id: Uuid,
        name: &str,
        ticket_type_ids: &[Uuid],
    ) -> Result<CheckinListRow, EventError> {
        let mut tx = self.db.begin().await?;
        event_for(&mut tx, event_id, user_id, Action::EditEvent).await?;
        let types = crate::db::events::ticket_types_of(&mut tx, &[event_id]).await?;
        let mut v = Violations::new();
        let name = v.line("name", name, 1, 60);
        let mut ids: Vec<Uuid> = ticket_type_ids.to_vec();
        ids.sort();
        ids.dedup();
        if ids.is_empty() || ids.iter().any(|id| !types.iter().any(|t| t.id == *id)) {
            v.add("ticket_type_ids", "one or more ticket types of this event");
        }
        let name = v.finish_with(name).map_err(EventError::Invalid)?;
        let list = db::insert_list(&mut tx, event_id, &name, &ids).await?.ok_or_else(|| {
            EventError::Invalid(vec![crate::domain::FieldError {
                field: "name".into(),
                message: "the event has a list of this name".into(),
            }])
        })?;
        tx.commit().await?;
        Ok(list)
    }
}

fn told(nonce: &str, outcome: &str, ticket: Option<&db::DoorTicket>) -> ScanOutcome {
    ScanOutcome {
        nonce: nonce.to_owned(),
        outcome: outcome.to_owned(),
        holder: ticket.map(|t| t.holder.clone()),
        ticket_type: ticket.map(|t| t.ticket_type.clone()),
        admitted_at: ticket.and_then(|t| t.checked_in_at),
        admitted_gate: ticket.and_then(|t| t.checked_in_gate.clone()),
    }
}
