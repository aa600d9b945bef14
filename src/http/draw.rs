//! `GET /api/v1/events/{id}/draw`: the on-sale's draw, for anyone to check
//! (`booking::draw`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{MaybeUser, Path};
use super::pagination::{Checked, FromQuery};
use crate::booking::draw::{self, Cursor, MOST_PER_PAGE};

use crate::domain::FieldError;
use crate::domain::draw::Round;
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::access::find_visible;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Draw {
    pub event_id: Uuid,
    /// The presale's time, for a presale's draw; null for the event's own.
    pub presale_at: Option<DateTime<Utc>>,
    /// When the commitment was published: when the event was, before anyone
    /// could enter its pre-queue.
    pub committed_at: Option<DateTime<Utc>>,
    /// `sha256(seed)`, hex.
    pub commitment: Option<String>,
    pub drawn_at: Option<DateTime<Utc>>,
    /// The seed (hex, 32 bytes), once drawn; null before.
    pub seed: Option<String>,
    /// How many requests the draw ordered.
    pub total: i32,
    /// The pre-queued booking ids, sorted (this page).
    pub entries: Vec<Uuid>,
    /// The same ids in the drawn order, first to last (this page).
    pub order: Vec<Uuid>,
    /// Pass as `cursor` for the next page of both; null on the last.
    pub next_cursor: Option<String>,
    /// Why the order is not a draw's, when it is not.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrawParams {
    /// Ids per page of `entries` and of `order`: 1 to 10,000, default 10,000.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// A presale's draw instead of the event's: the presale's time (a
    /// code's `presale_from`, RFC 3339).
    pub presale_at: Option<String>,
}

/// A page of the draw: at most `limit` ids (default and most 10,000), from
/// the `cursor` on.
pub struct DrawPage {
    pub limit: i32,
    pub cursor: Option<Cursor>,
    pub round: Round,
}

impl FromQuery for DrawPage {
    type Raw = DrawParams;

    /// The first bad parameter, named.
    fn check(params: DrawParams) -> Result<Self, Vec<FieldError>> {
        let refused = |field: &str, message: &str| vec![FieldError { field: field.into(), message: message.into() }];
        let limit = match params.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => MOST_PER_PAGE,
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=MOST_PER_PAGE).contains(n))
                .ok_or_else(|| refused("limit", "must be a whole number between 1 and 10000"))?,
        };
        let cursor = match params.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => {
                Some(Cursor::decode(raw).ok_or_else(|| refused("cursor", "is not a cursor returned by this draw"))?)
            }
        };
        let round = match params.presale_at.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => Round::Main,
            Some(raw) => Round::Presale(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| refused("presale_at", "must be a time as RFC 3339 (2026-12-18T18:00:00Z)"))?
                    .with_timezone(&Utc),
            ),
        };
        Ok(Self { limit, cursor, round })
    }
}

/// The draw of an event's pre-queue (or, with `presale_at`, of a presale's):
/// the commitment from the start; once drawn, the seed, the entries and the
/// order, from which anyone recomputes the order (README, "The draw").
#[utoipa::path(get, path = "/api/v1/events/{id}/draw", tag = "bookings", params(("id" = Uuid, Path), DrawParams),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The draw, or its commitment before it is made", body = Draw),
        (status = 401, description = "A token was sent but is not valid", body = Problem),
        (status = 404, description = "No such event, or no presale at `presale_at`", body = Problem),
        (status = 422, description = "`limit`, `cursor` or `presale_at` not valid", body = Problem),
    ))]
pub async fn event_draw(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<Uuid>,
    Checked(DrawPage { limit, cursor, round }): Checked<DrawPage>,
) -> ApiResult<axum::Json<Draw>> {
    let mut conn = state.db.acquire().await?;
    find_visible(&mut conn, id, viewer.map(|u| u.id)).await?.ok_or(ApiError::NotFound("event"))?;
    let page = draw::page(&mut conn, id, round, cursor, limit).await?.ok_or(ApiError::NotFound("presale"))?;
    Ok(axum::Json(Draw {
        event_id: id,
        presale_at: round.presale_at(),
        committed_at: page.committed_at,
        commitment: page.commitment,
        drawn_at: page.drawn_at,
        seed: page.seed,
        total: page.total,
        entries: page.entries,
        order: page.order,
        next_cursor: page.next.map(Cursor::encode),
        note: page.note.map(str::to_owned),
    }))
}
