//! An event's codes over HTTP (organizer only): the requests and answers'
//! shapes; the rules are the event room's (`event::codes`) and, for using
//! one, the accept's and the worker's.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::nullable;
use super::extract::{CurrentUser, Json, Path};
use crate::db::codes::CodeRow;
use crate::domain::code::{CodeKind, display};
use crate::error::{ApiResult, Problem};
use crate::event::codes::{CodeChanges, CodeInput};
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Code {
    pub id: Uuid,
    pub event_id: Uuid,
    /// As a person reads it, in groups of five ("SUMME-R24"); typed in any
    /// case, with or without dashes and spaces.
    pub code: String,
    pub kind: CodeKind,
    /// Percent off (1–100), cents off a ticket, or the price in cents; null for `unlock`.
    pub value: Option<i64>,
    /// The ticket types it is for; null: every type that is not hidden.
    pub ticket_type_ids: Option<Vec<Uuid>>,
    /// Seats it may go to in all (null: no limit).
    pub max_uses: Option<i32>,
    /// Seats one buyer may have with it (null: no limit).
    pub max_per_buyer: Option<i32>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// A presale: its holders book from then, before the sales start,
    /// through a pre-queue and draw of their own (`GET
    /// /api/v1/events/{id}/draw?presale_at=…`).
    pub presale_from: Option<DateTime<Utc>>,
    pub note: String,
    /// Seats of the held and confirmed bookings made with it.
    pub uses: i64,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CodeRow> for Code {
    fn from(row: CodeRow) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            code: display(&row.code),
            kind: row.kind,
            value: row.value,
            ticket_type_ids: row.ticket_type_ids,
            max_uses: row.max_uses,
            max_per_buyer: row.max_per_buyer,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            presale_from: row.presale_from,
            note: row.note,
            uses: row.uses,
            disabled: row.disabled_at.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodeList {
    pub items: Vec<Code>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCodeRequest {
    /// Letters and digits, at most 40 (dashes and spaces are dropped, case
    /// does not matter); left out: 10 random characters. Not with `count`.
    pub code: Option<String>,
    /// `percent`, `fixed`, `price` or `unlock`.
    pub kind: Option<String>,
    /// `percent`: 1–100; `fixed`: cents off each ticket; `price`: the price
    /// in cents; left out for `unlock`.
    pub value: Option<i64>,
    /// The ticket types it is for (left out: every type that is not hidden;
    /// required for `unlock`: the hidden types it opens).
    pub ticket_type_ids: Option<Vec<Uuid>>,
    /// Seats it may go to in all (1 with `count`, unless given).
    pub max_uses: Option<i64>,
    pub max_per_buyer: Option<i64>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    /// A presale before the event's `sales_start`: the code's holders enter
    /// a pre-queue of their own `prequeue_minutes` before it, drawn at it,
    /// and book straight from it on.
    pub presale_from: Option<DateTime<Utc>>,
    /// For the organizer (at most 500 characters).
    pub note: Option<String>,
    /// Make this many generated codes at once (1–10,000), single-use unless
    /// `max_uses` says otherwise.
    pub count: Option<i64>,
    /// What generated codes start with (letters and digits, at most 20).
    pub prefix: Option<String>,
}

impl From<CreateCodeRequest> for CodeInput {
    fn from(req: CreateCodeRequest) -> Self {
        Self {
            code: req.code,
            kind: req.kind,
            value: req.value,
            ticket_type_ids: req.ticket_type_ids,
            max_uses: req.max_uses,
            max_per_buyer: req.max_per_buyer,
            valid_from: req.valid_from,
            valid_until: req.valid_until,
            presale_from: req.presale_from,
            note: req.note,
            count: req.count,
            prefix: req.prefix,
        }
    }
}

/// Fields to change; absent fields stay (a code's spelling and kind never change).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCodeRequest {
    pub value: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<Uuid>>)]
    pub ticket_type_ids: Option<Option<Vec<Uuid>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_uses: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_per_buyer: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub valid_from: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub valid_until: Option<Option<DateTime<Utc>>>,
    /// Until its presale's pre-queue opens (then 409 `presale_open`).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub presale_from: Option<Option<DateTime<Utc>>>,
    pub note: Option<String>,
    /// `false` enables a disabled code again.
    pub disabled: Option<bool>,
}

impl From<UpdateCodeRequest> for CodeChanges {
    fn from(req: UpdateCodeRequest) -> Self {
        Self {
            value: req.value,
            ticket_type_ids: req.ticket_type_ids,
            max_uses: req.max_uses,
            max_per_buyer: req.max_per_buyer,
            valid_from: req.valid_from,
            valid_until: req.valid_until,
            presale_from: req.presale_from,
            note: req.note,
            disabled: req.disabled,
        }
    }
}

/// Make a code, or `count` single-use generated ones (organizer).
#[utoipa::path(post, path = "/api/v1/events/{id}/codes", tag = "codes", params(("id" = Uuid, Path)),
    request_body = CreateCodeRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The codes made (one, or `count`)", body = CodeList),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event has this code already (`code_taken`), or is cancelled", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn create_codes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    Json(req): Json<CreateCodeRequest>,
) -> ApiResult<impl IntoResponse> {
    let rows = state.events().create_codes(user.id, id, req.into()).await?;
    Ok((StatusCode::CREATED, axum::Json(CodeList { items: rows.into_iter().map(Code::from).collect() })))
}

/// The event's codes with their uses, oldest first (organizer).
#[utoipa::path(get, path = "/api/v1/events/{id}/codes", tag = "codes", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every code of the event", body = CodeList),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn list_codes(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<CodeList>> {
    let rows = state.events().codes(user.id, id).await?;
    Ok(axum::Json(CodeList { items: rows.into_iter().map(Code::from).collect() }))
}

/// The event's codes as CSV, to hand out (organizer).
#[utoipa::path(get, path = "/api/v1/events/{id}/codes.csv", tag = "codes", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "RFC 4180 CSV: code,kind,value,max_uses,uses,valid_from,valid_until,disabled,note", body = String, content_type = "text/csv"),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
    ))]
pub async fn codes_csv(State(state): State<AppState>, user: CurrentUser, Path(id): Path<Uuid>) -> ApiResult<Response> {
    let rows = state.events().codes(user.id, id).await?;
    Ok(csv_response(id, &rows))
}

/// `rows` as the CSV download of event `event_id`'s codes.
pub fn csv_response(event_id: Uuid, rows: &[CodeRow]) -> Response {
    use crate::domain::csv::cell;
    let mut out = String::from("code,kind,value,max_uses,uses,valid_from,valid_until,disabled,note\r\n");
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for row in rows {
        let line = [
            cell(&display(&row.code)),
            row.kind.as_str().to_owned(),
            number(row.value),
            number(row.max_uses.map(i64::from)),
            row.uses.to_string(),
            time(row.valid_from),
            time(row.valid_until),
            row.disabled_at.is_some().to_string(),
            cell(&row.note),
        ];
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"codes-{event_id}.csv\"");
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)], out)
        .into_response()
}

/// One code with its uses (organizer).
#[utoipa::path(get, path = "/api/v1/events/{id}/codes/{code_id}", tag = "codes",
    params(("id" = Uuid, Path), ("code_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The code", body = Code),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or code", body = Problem),
    ))]
pub async fn get_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, code_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Code>> {
    Ok(axum::Json(state.events().code(user.id, id, code_id).await?.into()))
}

/// Change a code (organizer). Requests accepted at its old price are
/// refused by the worker as `price_changed`.
#[utoipa::path(patch, path = "/api/v1/events/{id}/codes/{code_id}", tag = "codes",
    params(("id" = Uuid, Path), ("code_id" = Uuid, Path)), request_body = UpdateCodeRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The changed code", body = Code),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or code", body = Problem),
        (status = 409, description = "Its presale's pre-queue has opened: `presale_from` no longer moves (`presale_open`)", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn update_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, code_id)): Path<(Uuid, Uuid)>,
    Json(req): Json<UpdateCodeRequest>,
) -> ApiResult<axum::Json<Code>> {
    Ok(axum::Json(state.events().update_code(user.id, id, code_id, req.into()).await?.into()))
}

/// Disable a code (organizer): no new booking uses it; a code is never
/// deleted, its bookings name it. `PATCH {disabled: false}` enables it again.
#[utoipa::path(delete, path = "/api/v1/events/{id}/codes/{code_id}", tag = "codes",
    params(("id" = Uuid, Path), ("code_id" = Uuid, Path)), security(("bearer" = [])),
    responses(
        (status = 200, description = "The code, disabled", body = Code),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event or code", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn disable_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, code_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Code>> {
    Ok(axum::Json(state.events().disable_code(user.id, id, code_id).await?.into()))
}
