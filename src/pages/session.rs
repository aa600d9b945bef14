//! People's sessions in a browser: a cookie holding a signed reference to a
//! row of `sessions` (the same records as the API's tokens, so signing out
//! here, or a logout anywhere, ends it at once: every request checks the
//! revocations), and CSRF tokens bound to that session (or, before signing
//! in, to a random browser cookie).
//!
//! The cookie is HttpOnly and SameSite=Lax; Secure with the `__Host-` prefix
//! when `PUBLIC_URL` is https. It never authorizes the API: `/api/v1` reads
//! bearer tokens only, so a form on another site cannot write through it.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, header, request::Parts};
use uuid::Uuid;

use super::error::PageError;
use super::form::Form;
pub use crate::auth::PageKeys;
use crate::http::extract::CurrentUser;
use crate::http::state::AppState;

/// Who is looking at a page: a signed-in user (a live session), or a browser
/// known only by its random cookie.
#[derive(Clone)]
pub struct Visitor {
    pub user: Option<CurrentUser>,
    browser: String,
    /// The browser cookie was made for this request: it goes out with the page.
    new_browser: bool,
    /// This request's path and query, to come back to after signing in.
    pub here: String,
}

impl Visitor {
    /// The CSRF token every form of this page carries.
    pub fn csrf(&self, keys: &PageKeys) -> String {
        keys.token(&self.bound_to())
    }

    /// 403 unless `token` is this session's (or this browser's) CSRF token.
    pub fn check_csrf(&self, keys: &PageKeys, token: &str) -> Result<(), PageError> {
        if keys.token_matches(&self.bound_to(), token) { Ok(()) } else { Err(PageError::Csrf) }
    }

    fn bound_to(&self) -> String {
        match self.user {
            Some(user) => format!("session:{}", user.session_id),
            None => format!("browser:{}", self.browser),
        }
    }

    /// The signed-in user, or a redirect to the sign-in page and back here.
    pub fn signed_in(&self) -> Result<CurrentUser, PageError> {
        self.user.ok_or_else(|| PageError::SignIn(self.here.clone()))
    }

    /// Headers a page answer adds: the browser cookie when it is new.
    pub fn cookies(&self, keys: &PageKeys) -> Option<HeaderValue> {
        self.new_browser
            .then(|| keys.cookie(keys.browser_cookie(), &self.browser, Some(Duration::from_secs(86400 * 365))))
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let keys = &state.pages;
        let here = parts.uri.path_and_query().map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let user = match parts.extensions.get::<CheckedSession>() {
            Some(checked) => checked.0,
            None => live_session(state, &parts.headers).await?,
        };
        let existing = cookie(&parts.headers, keys.browser_cookie())
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
        let (browser, new_browser) = match existing {
            Some(value) => (value.to_owned(), false),
            None => (Uuid::new_v4().simple().to_string(), true),
        };
        Ok(Self { user, browser, new_browser, here })
    }
}

/// A form sent for a person: who sent it and its fields, read together.
/// The one guard of every form that acts for someone: [`Acting::user`]
/// asks, in this order, that they are signed in (else off to sign in and
/// back to the page the form was on) and that the form carries their CSRF
/// token. (Signing up, in and out check the token alone: `Visitor::check_csrf`.)
pub struct Acting {
    pub visitor: Visitor,
    pub form: Form,
    csrf_ok: bool,
}

impl Acting {
    /// The signed-in sender of a form with their CSRF token; `back`: where
    /// to return after signing in.
    pub fn user(&self, back: impl Into<String>) -> Result<CurrentUser, PageError> {
        let user = self.visitor.user.ok_or_else(|| PageError::SignIn(back.into()))?;
        if !self.csrf_ok {
            return Err(PageError::Csrf);
        }
        Ok(user)
    }

    pub fn into_parts(self) -> (Visitor, Form) {
        (self.visitor, self.form)
    }
}

impl FromRequest<AppState> for Acting {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state).await?;
        let form = Form::from_request(Request::from_parts(parts, body), state).await?;
        let csrf_ok = visitor.check_csrf(&state.pages, form.csrf()).is_ok();
        Ok(Self { visitor, form, csrf_ok })
    }
}

/// The session a request's cookie names, when it is signed by us and has not
/// ended (signed out here, or a logout anywhere).
pub async fn live_session(state: &AppState, headers: &HeaderMap) -> Result<Option<CurrentUser>, PageError> {
    let keys = &state.pages;
    let Some(claims) = cookie(headers, keys.session_cookie()).and_then(|value| keys.session.verify(value)) else {
        return Ok(None);
    };
    if state.revocations.is_revoked(claims.sid).await? {
        return Ok(None);
    }
    Ok(Some(CurrentUser { id: claims.sub, session_id: claims.sid }))
}

/// [`live_session`]'s answer, left with the request by whoever asked first
/// (the page's rate limit), so the page does not ask again.
#[derive(Clone, Copy)]
pub struct CheckedSession(pub Option<CurrentUser>);

/// The value of cookie `name`, if the request has it.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PageKeys {
        PageKeys::new(b"a secret of the test", Duration::from_secs(3600), "http://127.0.0.1:8080")
    }

    fn visitor(user: Option<CurrentUser>, browser: &str) -> Visitor {
        Visitor { user, browser: browser.into(), new_browser: false, here: "/".into() }
    }

    #[test]
    fn a_csrf_token_is_good_only_for_its_own_session_or_browser() {
        let keys = keys();
        let user = CurrentUser { id: Uuid::new_v4(), session_id: Uuid::new_v4() };
        let signed_in = visitor(Some(user), "b1");
        let token = signed_in.csrf(&keys);
        assert!(signed_in.check_csrf(&keys, &token).is_ok());
        let other_session = visitor(Some(CurrentUser { session_id: Uuid::new_v4(), ..user }), "b1");
        assert!(other_session.check_csrf(&keys, &token).is_err());
        assert!(visitor(None, "b1").check_csrf(&keys, &token).is_err(), "not the browser's");
        assert!(signed_in.check_csrf(&keys, "").is_err());
        assert!(signed_in.check_csrf(&keys, &token[..63]).is_err());
        let anonymous = visitor(None, "b1");
        assert!(anonymous.check_csrf(&keys, &anonymous.csrf(&keys)).is_ok());
        assert!(visitor(None, "b2").check_csrf(&keys, &anonymous.csrf(&keys)).is_err());
    }

    #[test]
    fn a_session_cookie_is_not_a_bearer_token() {
        let secret = b"a secret of the test";
        let page = PageKeys::new(secret, Duration::from_secs(3600), "http://x");
        let api = crate::auth::TokenKeys::new(secret, Duration::from_secs(3600));
        let user = CurrentUser { id: Uuid::new_v4(), session_id: Uuid::new_v4() };
        let cookie = page.session.issue(user.id, user.session_id).unwrap();
        assert!(api.verify(&cookie).is_none());
        assert!(page.session.verify(&api.issue(user.id, user.session_id).unwrap()).is_none());
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("boxoffice-browser=abc; boxoffice=tok"));
        assert_eq!(cookie(&headers, "boxoffice"), Some("tok"));
        assert_eq!(cookie(&headers, "boxoffice-browser"), Some("abc"));
        assert_eq!(cookie(&headers, "box"), None);
    }
}
