//! Signing up, in and out, and the email verification link.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::error::PageError;
use super::form::{Form, field_errors, local_path};
use super::render::{page, page_with_status};
use super::session::{Acting, Visitor};
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
    let next = local_path(form.get("next"));
    if !state.config.email_verification_required() {
        return Ok(with_session(signed_in, next));
    }
    // The way back waits in this browser for the verification link: the
    // page it opens offers to continue there.
    let mut response = with_session(signed_in, "/me/tickets?welcome=verify");
    if next != "/me/tickets" && !next.contains([';', ',', '"']) {
        let cookie = format!("{AFTER_VERIFY}={next}; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax");
        if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The cookie holding where a new account was going before it had to verify
/// its address (a local path, checked again when read).
const AFTER_VERIFY: &str = "after_verify";

/// The local path in the request's `after_verify` cookie, if any.
fn after_verify(headers: &axum::http::HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    let value = cookies.flat_map(|c| c.split(';')).find_map(|c| c.trim().strip_prefix("after_verify="))?;
    let path = local_path(value);
    (path == value).then(|| path.to_owned())
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
    session_cookie(state, visitor, &pair).await
}

/// The cookie of the session `pair` belongs to; the session this browser
/// had before ends.
async fn session_cookie(
    state: &AppState,
    visitor: &Visitor,
    pair: &api::TokenPair,
) -> Result<axum::http::HeaderValue, PageError> {
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

/// "Email me a sign-in link": the API's request (its checks and limits; a
/// refusal is said next to the field), then a page saying where to look.
pub async fn request_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    visitor: Visitor,
    form: Form,
) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let email = form.get("email");
    let next = Some(local_path(form.get("next"))).filter(|n| *n != "/me/tickets").map(str::to_owned);
    let request = api::EmailLinkRequest { email: email.to_owned(), next: next.clone() };
    match api::request_email_link(State(state.clone()), ClientIp(ip), Json(request)).await {
        Ok(_) => {
            let minutes = crate::auth::sign_in_link::VALID_FOR.as_secs() / 60;
            Ok(page(&state.pages, &visitor, "link_sent.html", context! { email, minutes }))
        }
        Err(err) => {
            let status = match &err {
                ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let message = match &err {
                ApiError::RateLimited { .. } => err.to_string(),
                _ => match field_errors(&err).and_then(|mut e| e.remove("email")) {
                    Some(message) => message,
                    None => return Err(err.into()),
                },
            };
            let data = context! {
                values => context! { link_email => email },
                errors => context! { link_email => message },
                next => form.get("next"),
            };
            Ok(page_with_status(&state.pages, &visitor, status, "login.html", data))
        }
    }
}

/// The emailed sign-in link: a page with a button, as for verification
/// links (a mail scanner opening the link must not spend it).
pub async fn link_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<Token>,
) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    // Whose account it opens, said before the press (someone may have sent
    // the person a link of their own); asking uses nothing up.
    let email = match token.len() {
        1..=128 => {
            let mut conn = state.db.acquire().await.map_err(ApiError::from)?;
            let hash = crate::auth::sign_in_link::hash(token.trim());
            crate::db::sign_in_links::address_of(&mut conn, &hash).await.map_err(ApiError::from)?
        }
        _ => None,
    };
    Ok(page(&state.pages, &visitor, "link.html", context! { token, email }))
}

/// "Sign in": the link's token, used once; on to where the person was going.
pub async fn redeem_link(State(state): State<AppState>, visitor: Visitor, form: Form) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let signed_in = match api::sign_in_with_link(&state, form.get("token")).await {
        Ok(signed_in) => signed_in,
        Err(ApiError::InvalidToken) => {
            // Used, run out, or mistyped: where a new one is asked for.
            let message = "This sign-in link was used already or has run out: ask for a new one here.";
            let data = context! { errors => context! { link_email => message }, next => None::<String> };
            return Ok(page_with_status(&state.pages, &visitor, StatusCode::BAD_REQUEST, "login.html", data));
        }
        Err(err) => return Err(err.into()),
    };
    let cookie = session_cookie(&state, &visitor, &signed_in.pair).await?;
    Ok(with_session(cookie, signed_in.next.as_deref().unwrap_or("/me/tickets")))
}

/// "Resend the link": a new verification email (the API's limits apply: a
/// refusal is said on the error page), then the page that says it was sent.
pub async fn resend_verification(State(state): State<AppState>, acting: Acting) -> Result<Response, PageError> {
    let user = acting.user("/me/tickets")?;
    api::resend_verification(State(state), user).await?;
    Ok(super::render::see_other("/me/tickets?welcome=verify"))
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

/// "Verify my email": the token of the link, used once. Opened in the
/// browser that signed up on the way to an event, it offers to go on there.
pub async fn verify(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: axum::http::HeaderMap,
    form: Form,
) -> Result<Response, PageError> {
    visitor.check_csrf(&state.pages, form.csrf())?;
    let token = form.get("token").to_owned();
    match api::verify_email(State(state.clone()), Json(VerifyRequest { token })).await {
        Ok(user) => {
            let next = after_verify(&headers);
            let event = match next.as_deref().and_then(|p| p.strip_prefix("/events/")) {
                Some(rest) => match rest.split(['?', '/']).next().and_then(|id| id.parse().ok()) {
                    Some(id) => state.events().visible(None, id).await?.map(|e| e.details.title),
                    None => None,
                },
                None => None,
            };
            let data = context! { email => user.0.email, next, event };
            let mut response = page(&state.pages, &visitor, "verified.html", data);
            let gone = format!("{AFTER_VERIFY}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
            if let Ok(value) = axum::http::HeaderValue::from_str(&gone) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            Ok(response)
        }
        Err(err @ ApiError::InvalidToken) => Err(PageError::Api(err)),
        Err(err) => Err(err.into()),
    }
}
