//! The door offline: the check-in list a device keeps, its scans uploaded
//! later, and the event's check-in lists (the event room's `door_sync`).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{CurrentUser, Json, Path};
use crate::db::door_scans::CheckinListRow;
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::door_sync::{Scan, ScanOutcome, SyncInput, code_hash};
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScanIn {
    /// The device's own id for this scan: an upload sent twice applies it once.
    pub nonce: String,
    /// The ticket code as scanned or typed.
    pub code: String,
    /// When it was scanned, by the device's clock.
    pub scanned_at: DateTime<Utc>,
    /// Whether the device let the person in (default true). A scan it
    /// turned away is recorded `refused` and admits nobody.
    #[serde(default = "yes")]
    pub admitted: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SyncRequest {
    /// The device (a random id it keeps).
    pub device_id: String,
    /// The entrance it stands at ("Gate B"), shown with the scans it admits.
    pub gate: Option<String>,
    /// The check-in list it admits (its ticket types only).
    pub list_id: Option<Uuid>,
    /// At most 500.
    pub scans: Vec<ScanIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReply {
    /// Per scan, in the order they were made.
    pub scans: Vec<ScanOutcome>,
}

/// Uploads scans made offline: each applied once, earliest first; the first
/// scan of a ticket admits it, later ones are duplicates (told with who
/// admitted it, where and when).
#[utoipa::path(post, path = "/api/v1/events/{id}/check-ins/sync", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])), request_body = SyncRequest,
    responses(
        (status = 200, description = "What became of each scan", body = SyncReply),
        (status = 403, description = "The caller's role may not scan tickets", body = Problem),
        (status = 404, description = "No such event, or check-in list", body = Problem),
        (status = 422, description = "No device id, too many scans, a scan without a nonce", body = Problem),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<SyncRequest>,
) -> ApiResult<axum::Json<SyncReply>> {
    Ok(axum::Json(apply(&state, user.id, id, req).await?))
}

/// Applies an upload (the API's and the offline door page's).
pub async fn apply(state: &AppState, user: Uuid, id: Uuid, req: SyncRequest) -> Result<SyncReply, ApiError> {
    let input = SyncInput {
        device_id: req.device_id,
        gate: req.gate,
        list_id: req.list_id,
        scans: req
            .scans
            .into_iter()
            .map(|s| Scan { nonce: s.nonce, code: s.code, scanned_at: s.scanned_at, admitted: s.admitted })
            .collect(),
    };
    let scans = state.events().sync_scans(user, id, input).await?;
    Ok(SyncReply { scans })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfflineTicket {
    /// SHA-256 of the ticket code, in hex (the device hashes what it scans).
    pub hash: String,
    pub holder: String,
    pub ticket_type_id: Uuid,
    pub ticket_type: String,
    /// `valid`, `checked_in` or `void` (a void ticket's holder is not told).
    pub status: String,
    pub checked_in_at: Option<DateTime<Utc>>,
    pub checked_in_gate: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckinList {
    pub id: Uuid,
    pub name: String,
    pub ticket_type_ids: Vec<Uuid>,
}

impl From<CheckinListRow> for CheckinList {
    fn from(l: CheckinListRow) -> Self {
        Self { id: l.id, name: l.name, ticket_type_ids: l.ticket_type_ids }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OfflineList {
    pub event_id: Uuid,
    pub title: String,
    /// As of this time; refreshed every minute while online.
    pub generated_at: DateTime<Utc>,
    pub tickets: Vec<OfflineTicket>,
    pub lists: Vec<CheckinList>,
}

/// What a door device keeps to check tickets without a connection.
#[utoipa::path(get, path = "/api/v1/events/{id}/check-ins/offline", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event's tickets as hashes, holders, types and states", body = OfflineList),
        (status = 403, description = "The caller's role may not scan tickets", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn offline(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<OfflineList>> {
    Ok(axum::Json(offline_list(&state, user.id, id).await?))
}

/// The list (the API's and the offline door page's).
pub async fn offline_list(state: &AppState, user: Uuid, id: Uuid) -> Result<OfflineList, ApiError> {
    let generated_at = Utc::now();
    let (event, tickets, lists) = state.events().offline_list(user, id).await?;
    Ok(OfflineList {
        event_id: id,
        title: event.details.title,
        generated_at,
        tickets: tickets
            .into_iter()
            .map(|t| OfflineTicket {
                hash: code_hash(&t.code),
                holder: t.holder,
                ticket_type_id: t.ticket_type_id,
                ticket_type: t.ticket_type,
                status: t.status,
                checked_in_at: t.checked_in_at,
                checked_in_gate: t.checked_in_gate,
            })
            .collect(),
        lists: lists.into_iter().map(CheckinList::from).collect(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCheckinList {
    /// "VIP entrance": 1 to 60 characters, one per name.
    pub name: String,
    pub ticket_type_ids: Vec<Uuid>,
}

/// The event's check-in lists.
#[utoipa::path(get, path = "/api/v1/events/{id}/check-in-lists", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lists", body = Vec<CheckinList>),
        (status = 403, description = "The caller's role may not scan tickets", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn lists(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Vec<CheckinList>>> {
    let rows = state.events().checkin_lists(user.id, id).await?;
    Ok(axum::Json(rows.into_iter().map(CheckinList::from).collect()))
}

/// A check-in list: an entrance that admits some ticket types only.
#[utoipa::path(post, path = "/api/v1/events/{id}/check-in-lists", tag = "door", params(("id" = Uuid, Path)),
    security(("bearer" = [])), request_body = NewCheckinList,
    responses(
        (status = 201, description = "The list", body = CheckinList),
        (status = 403, description = "The caller's role may not change the event", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 422, description = "No name, a name taken, or no ticket type of the event", body = Problem),
    ))]
pub async fn create_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<NewCheckinList>,
) -> ApiResult<(StatusCode, axum::Json<CheckinList>)> {
    let list = state.events().create_checkin_list(user.id, id, &req.name, &req.ticket_type_ids).await?;
    Ok((StatusCode::CREATED, axum::Json(list.into())))
}
