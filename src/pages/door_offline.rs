//! The door without a connection (`/manage/events/{id}/door/offline`): an
//! installable page (a manifest, a service worker that keeps it) whose
//! script keeps the check-in list in the browser, judges codes there and
//! sends the scans when it can. Its two calls, the list and the upload, are
//! the event room's, answered as JSON to the signed-in session (the upload
//! with the page's CSRF token in `x-csrf-token`).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use uuid::Uuid;

use super::error::PageError;
use super::render::page;
use super::session::Visitor;
use crate::domain::team::Action;
use crate::http::door_sync::{SyncReply, SyncRequest};
use crate::http::extract::{Json, Path};
use crate::http::state::AppState;

async fn door_event(state: &AppState, visitor: &Visitor, id: Uuid) -> Result<crate::event::Event, PageError> {
    super::manage::own_event(state, visitor.signed_in()?, id, Action::CheckIn).await
}

pub async fn page_of(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let event = door_event(&state, &visitor, id).await?;
    let data = context! { event => context! { id => id.to_string(), title => event.details.title } };
    Ok(page(&state.pages, &visitor, "manage/door_offline.html", data))
}

/// The check-in list, as the API gives it.
pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    door_event(&state, &visitor, id).await?;
    let user = visitor.signed_in()?;
    let reply = crate::http::door_sync::offline_list(&state, user.id, id).await?;
    let mut response = axum::Json(reply).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Scans made here, uploaded.
pub async fn sync(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(req): Json<SyncRequest>,
) -> Result<axum::Json<SyncReply>, PageError> {
    let user = visitor.signed_in()?;
    let token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    visitor.check_csrf(&state.pages, token)?;
    Ok(axum::Json(crate::http::door_sync::apply(&state, user.id, id, req).await?))
}

/// The manifest that makes the page installable.
pub async fn manifest(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let event = door_event(&state, &visitor, id).await?;
    let body = serde_json::json!({
        "name": format!("Door: {}", event.details.title),
        "short_name": "Door",
        "start_url": format!("/manage/events/{id}/door/offline"),
        "scope": format!("/manage/events/{id}/door/"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1f4e79",
        "icons": [{"src": super::assets::url("door-icon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    });
    Ok(([(header::CONTENT_TYPE, "application/manifest+json")], body.to_string()).into_response())
}

/// The service worker, from where its scope may cover the door pages.
pub async fn worker() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            // A new version is picked up at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        include_str!("../../static/door-sw.js"),
    )
        .into_response()
}
