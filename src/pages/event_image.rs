//! The back office's image of an event: uploaded from the edit page (a
//! file field, no script), or removed. The event room decodes and keeps it;
//! a refusal is said next to the field.

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::error::PageError;
use super::form::FieldErrors;
use super::manage::edit_page;
use super::render::see_other;
use super::session::{Acting, Visitor};
use crate::event::EventError;
use crate::event::image::ImageError;
use crate::http::extract::Path;
use crate::http::state::AppState;

/// What the form sent: its CSRF token and the file's bytes (none chosen:
/// empty), or why it could not be read.
async fn read(multipart: Result<Multipart, MultipartRejection>) -> Result<(String, Vec<u8>), ImageError> {
    let mut multipart = multipart.map_err(|_| ImageError::NotAnImage)?;
    let (mut csrf, mut file) = (String::new(), Vec::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok((csrf, file)),
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(ImageError::TooLarge),
            Err(_) => return Err(ImageError::NotAnImage),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(ImageError::TooLarge),
            Err(_) => return Err(ImageError::NotAnImage),
        };
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "image" => file = bytes.to_vec(),
            _ => {}
        }
    }
}

/// "Upload image".
pub async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<Uuid>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let user = visitor.signed_in()?;
    let refused = |message: String| {
        let errors: FieldErrors = [("image".to_owned(), message)].into();
        edit_page(&state, &visitor, user, id, errors)
    };
    let (csrf, file) = match read(multipart).await {
        Ok(read) => read,
        // The token is somewhere in a body that was not read: nothing is
        // changed, and the form is shown again with why.
        Err(err) => return refused(err.to_string()).await,
    };
    visitor.check_csrf(&state.pages, &csrf)?;
    if file.is_empty() {
        return refused("Choose an image file first.".to_owned()).await;
    }
    match state.events().set_image(user.id, id, file).await {
        Ok(_) => Ok(see_other(&format!("/manage/events/{id}/edit#image-heading"))),
        Err(EventError::Image(err)) => refused(err.to_string()).await,
        Err(err) => Err(err.into()),
    }
}

/// "Remove image".
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    acting: Acting,
) -> Result<Response, PageError> {
    let user = acting.user(format!("/manage/events/{id}/edit"))?;
    state.events().remove_image(user.id, id).await?;
    Ok(see_other(&format!("/manage/events/{id}/edit#image-heading")))
}
