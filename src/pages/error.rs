//! What a page answers when it cannot show what was asked: the API's error
//! as a page in words (never its internals), a sign-in redirect, a 403 for a
//! form without its CSRF token.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

#[derive(Debug)]
pub enum PageError {
    /// The page needs a signed-in person: to `/login`, then back to this path.
    SignIn(String),
    /// A form without a valid CSRF token.
    Csrf,
    NotFound,
    /// A form body that is not a form.
    BadForm(String),
    Api(ApiError),
}

impl PageError {
    pub fn from_internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Api(ApiError::Internal(err.into()))
    }
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(err: E) -> Self {
        match err.into() {
            // A page of someone else's event is not there, as in the API.
            ApiError::NotFound(_) | ApiError::Forbidden => Self::NotFound,
            other => Self::Api(other),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::Api(ApiError::RateLimited { retry_after }) => Some(*retry_after),
            _ => None,
        };
        let (status, title, message) = match self {
            Self::SignIn(next) => {
                let target = format!("/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
                return (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
            }
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was not sent from this site's page, or your session changed since it was shown. Go back, reload the page and try again.".to_owned(),
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is nothing here, or it is not yours to see.".to_owned()),
            Self::BadForm(detail) => (StatusCode::BAD_REQUEST, "That did not work", detail),
            Self::Api(ApiError::Unauthorized(_)) => {
                return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
            }
            Self::Api(err) => {
                let status = err.status();
                if status.is_server_error() {
                    if let ApiError::Internal(inner) = &err {
                        tracing::error!(error = %format!("{inner:#}"), "page failed");
                    }
                    let message = match err {
                        ApiError::Unavailable(_) => err.to_string(),
                        _ => "Something went wrong on our side. Please try again in a moment.".to_owned(),
                    };
                    (status, "Sorry", message)
                } else {
                    (status, "That did not work", err.to_string())
                }
            }
        };
        let html = super::render::error_page(status, title, &message);
        let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
