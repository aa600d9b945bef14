//! Signing up, in and out, and the email verification link.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::error::PageError;
use super::form::{Form, field_errors, local_path};
use super::render::{page, page_with_status};
use super::session::Visitor;
use crate::error::ApiError;
use crate::http::auth::{self as api, LoginRequest, RegisterRequest, VerifyRequest};
use crate::http::extract::{ClientIp, Json, Query};
use crate::http::state::AppState;

#[derive(serde::Deserialize)]
pub struct Next {
    next: Option<String>,
}

pub async fn register_form(State(state): State<AppState>, visitor: Visitor, Query(q): Query<Next>) -> Response {
    page(&state.pages, &visitor, "register.html", context! { next => q.next })
}

pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    visitor: Visitor,
    form: Form,
) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let (name, email, password) =
        (form.get("name"), form.get("email"), form.0.get("password").cloned().unwrap_or_default());
    let request = RegisterRequest { email: email.to_owned(), password: password.clone(), name: name.to_owned() };
    let again = |errors: super::form::FieldErrors| {
        let data = context! { values => context! { name, email }, errors, next => form.get("next") };
        page_with_status(&state.pages, &visitor, StatusCode::UNPROCESSABLE_ENTITY, "register.html", data)
    };
    match api::register(State(state.clone()), Json(request)).await {
        Ok(_) => {}
        Err(ApiError::EmailTaken) => {
            return Ok(again(
                [("email".to_owned(), "An account with this email exists already: sign in instead.".to_owned())].into(),
            ));
        }
        Err(err) => return field_errors(&err).map(again).ok_or_else(|| err.into()),
    }
    let signed_in = sign_in(&state, &visitor, &ip, email, &password).await?;
    let next = if state.config.email_verification_required() {
        "/me/tickets?welcome=verify"
    } else {
        local_path(form.get("next"))
    };
    Ok(with_session(signed_in, next))
}

pub async fn login_form(State(state): State<AppState>, visitor: Visitor, Query(q): Query<Next>) -> Response {
    page(&state.pages, &visitor, "login.html", context! { next => q.next })
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    visitor: Visitor,
    form: Form,
) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let email = form.get("email");
    let password = form.0.get("password").cloned().unwrap_or_default();
    match sign_in(&state, &visitor, &ip, email, &password).await {
        Ok(cookie) => Ok(with_session(cookie, local_path(form.get("next")))),
        Err(PageError::Api(err @ (ApiError::InvalidCredentials | ApiError::RateLimited { .. }))) => {
            let data = context! {
                values => context! { email },
                errors => context! { password => err.to_string() },
                next => form.get("next"),
            };
            Ok(page_with_status(&state.pages, &visitor, StatusCode::UNPROCESSABLE_ENTITY, "login.html", data))
        }
        Err(err) => Err(err),
    }
}

/// Signs in through the API's own login (its checks and failure limits): a
/// session row like any token's; the cookie refers to it. A session this
/// browser had before ends.
async fn sign_in(
    state: &AppState,
    visitor: &Visitor,
    ip: &str,
    email: &str,
    password: &str,
) -> Result<axum::http::HeaderValue, PageError> {
    let request = LoginRequest { email: email.to_owned(), password: password.to_owned() };
    let pair = api::login(State(state.clone()), ClientIp(ip.to_owned()), Json(request)).await?.0;
    if let Some(before) = visitor.user {
        api::logout(State(state.clone()), before).await?;
    }
    let claims = state
        .tokens
        .verify(&pair.access_token)
        .ok_or_else(|| PageError::from_internal(anyhow::anyhow!("a fresh token did not verify")))?;
    state.pages.sign_in(claims.sub, claims.sid).map_err(PageError::from_internal)
}

fn with_session(cookie: axum::http::HeaderValue, next: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (
                header::LOCATION,
                axum::http::HeaderValue::from_str(next).unwrap_or(axum::http::HeaderValue::from_static("/")),
            ),
        ],
    )
        .into_response()
}

pub async fn logout(State(state): State<AppState>, visitor: Visitor, form: Form) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    if let Some(user) = visitor.user {
        api::logout(State(state.clone()), user).await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, state.pages.sign_out()), (header::LOCATION, "/".parse().expect("a path"))],
    )
        .into_response())
}

#[derive(serde::Deserialize)]
pub struct Token {
    token: Option<String>,
}

/// The link of the verification email: a page with a button, so that
/// opening the link verifies nothing by itself (mail scanners and link
/// previews open every link they see; only a person presses the button).
pub async fn verify_form(State(state): State<AppState>, visitor: Visitor, Query(q): Query<Token>) -> Response {
    page(&state.pages, &visitor, "verify.html", context! { token => q.token.unwrap_or_default() })
}

/// "Verify my email": the token of the link, used once.
pub async fn verify(State(state): State<AppState>, visitor: Visitor, form: Form) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let token = form.get("token").to_owned();
    match api::verify_email(State(state.clone()), Json(VerifyRequest { token })).await {
        Ok(user) => Ok(page(&state.pages, &visitor, "verified.html", context! { email => user.0.email })),
        Err(err @ ApiError::InvalidToken) => Err(PageError::Api(err)),
        Err(err) => Err(err.into()),
    }
}
