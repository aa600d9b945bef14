//! An event's image: the organizer puts or removes it; anyone reads its
//! renditions under their content-hashed names.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::events::Event;
use super::extract::{CurrentUser, Path};
use crate::error::{ApiError, ApiResult, Problem};
use crate::event::image::{ImageError, MAX_BYTES};
use crate::http::state::AppState;

/// Body limit of the image routes: the largest image, and room for a form's
/// fields around it.
pub const UPLOAD_LIMIT: usize = MAX_BYTES + 64 * 1024;

/// An image sent as the body: `image/jpeg`, `image/png` or `image/webp`
/// (415 otherwise), at most 5 MB (413 `image_too_large`).
pub struct ImageBody(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for ImageBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let kind = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !["image/jpeg", "image/png", "image/webp"].contains(&essence.as_str()) {
            return Err(ApiError::UnsupportedMediaType(
                "send the image as the body, with Content-Type image/jpeg, image/png or image/webp".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Image(ImageError::TooLarge)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        if bytes.len() > MAX_BYTES {
            return Err(ApiError::Image(ImageError::TooLarge));
        }
        Ok(Self(bytes.to_vec()))
    }
}

/// Put the event's image (organizer): JPEG, PNG or WebP, at most 5 MB and 50
/// megapixels. The server decodes it, turns it upright (EXIF orientation),
/// and keeps WebP renditions 1600 and 400 px wide; nothing of the file as
/// sent (EXIF, a phone's position) is kept. The event's `image` names them.
#[utoipa::path(put, path = "/api/v1/events/{id}/image", tag = "events", params(("id" = Uuid, Path)),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The image (also image/png or image/webp)"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event, with its new `image`", body = Event),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event is cancelled", body = Problem),
        (status = 413, description = "Larger than 5 MB (`image_too_large`)", body = Problem),
        (status = 415, description = "Not sent as image/jpeg, image/png or image/webp", body = Problem),
        (status = 422, description = "Not a JPEG, PNG or WebP image (`image_invalid`), or more than 50 megapixels or 12,000 px a side (`image_too_many_pixels`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn put_image(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
    request: Request,
) -> ApiResult<axum::Json<Event>> {
    // Who may, before 5 MB of body are read.
    state.events().for_organizer(user.id, id, crate::domain::team::Action::EditEvent).await?;
    let ImageBody(bytes) = ImageBody::from_request(request, &state).await?;
    Ok(axum::Json(state.events().set_image(user.id, id, bytes).await?.into()))
}

/// Remove the event's image (organizer).
#[utoipa::path(delete, path = "/api/v1/events/{id}/image", tag = "events", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event, without an image", body = Event),
        (status = 403, description = "Not the organizer", body = Problem),
        (status = 404, description = "No such event", body = Problem),
        (status = 409, description = "The event is cancelled", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id, event.id = %id))]
pub async fn delete_image(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Event>> {
    Ok(axum::Json(state.events().remove_image(user.id, id).await?.into()))
}

/// A rendition: `{hash}.webp` (1600 px) or `{hash}-400.webp` (see
/// [`crate::event::image::url`]). Its bytes
/// never change under its name: cached for a year, immutable.
pub async fn rendition(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let Some(stem) = name.strip_suffix(".webp") else { return not_found() };
    let (hash, small) = match stem.strip_suffix("-400") {
        Some(hash) => (hash, true),
        None => (stem, false),
    };
    if hash.len() != 32 || !hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return not_found();
    }
    let found = match state.db.acquire().await {
        Ok(mut conn) => crate::db::images::rendition(&mut conn, hash, small).await,
        Err(err) => Err(err),
    };
    match found {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/webp"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::HeaderName::from_static("x-content-type-options"), "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(err) => ApiError::from(err).into_response(),
    }
}

fn not_found() -> Response {
    ApiError::NotFound("image").into_response()
}
