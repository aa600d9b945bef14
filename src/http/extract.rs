//! Extractors that turn every malformed request into the one error envelope:
//! JSON bodies, path parameters, query strings and the bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::domain::FieldError;
use crate::error::ApiError;
use crate::http::state::AppState;

/// Largest request body accepted (413 above).
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body: 415 without a JSON content type, 413 when too large, 400 when
/// not JSON at all, 422 naming the field for a wrong type, a missing or an
/// unknown field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType("expected a body with Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be left out: no body and no content type is
/// `T::default()`; anything else is read like [`Json`].
pub struct JsonOrEmpty<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return Json::from_request(req, state).await.map(|Json(value)| Self(value));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| ApiError::PayloadTooLarge(BODY_LIMIT))?;
        if bytes.is_empty() {
            Ok(Self(T::default()))
        } else {
            Err(ApiError::UnsupportedMediaType("expected a body with Content-Type: application/json".into()))
        }
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as a `T`, classifying failures as 400 (syntax) or 422 (shape).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first (cheap: nothing is allocated), so broken JSON is a 400 even
    // where its first bytes already have the wrong shape for `T`.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|err| ApiError::BadRequest(format!("the body is not valid JSON: {}", message_of(&err))))?;
    // Every body of this API is an object; serde would also take an array
    // for a struct, silently binding fields by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            ApiError::Validation(vec![field_error(&path, &message_of(&inner))])
        } else {
            ApiError::BadRequest(format!("the body is not valid JSON: {}", message_of(&inner)))
        }
    })?;
    de.end().map_err(|err| ApiError::BadRequest(format!("the body is not valid JSON: {}", message_of(&err))))?;
    Ok(value)
}

/// serde's message without the " at line 1 column 5" suffix.
fn message_of(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Names the field a serde message is about. For a missing field serde
/// reports the enclosing object, so its name is taken from the message.
fn field_error(path: &str, message: &str) -> FieldError {
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match (missing, path) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    let message = if missing.is_some() {
        "is required".to_owned()
    } else if message.starts_with("unknown field `") {
        "is not a known field".to_owned()
    } else {
        message.to_owned()
    };
    FieldError { field, message }
}

/// Path parameters; 400 when one does not parse (a path id that is not a UUID).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| ApiError::BadRequest(format!("invalid path: {}", rejection.body_text())))
    }
}

/// A query string; 400 when it does not parse at all (values are checked by the handler).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text())))
    }
}

/// The client's address, as the rate limits see it (the peer, or behind a
/// trusted proxy the address it forwarded).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(Self(super::rate_limit::client_ip(&parts.headers, peer, state.limits.trust_proxy_headers)))
    }
}

/// The caller, from a valid bearer token of a live session; 401 otherwise.
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser {
    pub id: Uuid,
    pub session_id: Uuid,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(*user); // authenticated by the rate limiter already
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("this route needs an access token (Authorization: Bearer ...)"))?;
        authenticate(header.as_bytes(), state).await
    }
}

/// The caller when a token is sent (it must then be valid), else nobody.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match parts.headers.get(header::AUTHORIZATION) {
            None => Ok(MaybeUser(None)),
            Some(_) if parts.extensions.get::<CurrentUser>().is_some() => {
                Ok(MaybeUser(parts.extensions.get().copied()))
            }
            Some(header) => authenticate(header.as_bytes(), state).await.map(|user| MaybeUser(Some(user))),
        }
    }
}

pub(crate) async fn authenticate(header: &[u8], state: &AppState) -> Result<CurrentUser, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("the access token is invalid or expired");
    let header = std::str::from_utf8(header).map_err(|_| INVALID)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(INVALID)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(INVALID);
    }
    let claims = state.tokens.verify(token.trim()).ok_or(INVALID)?;
    if state.revocations.is_revoked(claims.sid).await? {
        return Err(ApiError::Unauthorized("this session has ended; log in again"));
    }
    Ok(CurrentUser { id: claims.sub, session_id: claims.sid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        count: u32,
    }

    fn fields(err: ApiError) -> Vec<(String, String)> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        for body in [&b"{"[..], b"{\"name\": }", b"", br#"{"name": "x", "items": []} trailing"#, b"\xff"] {
            assert!(matches!(parse_json::<Body>(body), Err(ApiError::BadRequest(_))), "{body:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "x", "items": [{"count": -1}]}"#).unwrap_err();
        assert_eq!(fields(err)[0].0, "items[0].count");
        let err = parse_json::<Body>(br#"{"items": []}"#).unwrap_err();
        assert_eq!(fields(err), [("name".to_owned(), "is required".to_owned())]);
        let err = parse_json::<Body>(br#"{"name": "x", "items": [{"count": 1, "extra": 2}]}"#).unwrap_err();
        assert_eq!(fields(err), [("items[0].extra".to_owned(), "is not a known field".to_owned())]);
        let err = parse_json::<Body>(br#""just a string""#).unwrap_err();
        assert_eq!(fields(err)[0].0, "body");
        let err = parse_json::<Body>(br#"["x", []]"#).unwrap_err();
        assert_eq!(fields(err)[0].0, "body", "no binding fields by position");
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_json::<serde_json::Value>(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        /// Any bytes at all: a value, or a 400/422 problem; never a panic,
        /// never an internal error.
        #[test]
        fn any_body_is_parsed_or_refused_as_a_client_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            match parse_json::<Body>(&bytes) {
                Ok(_) | Err(ApiError::BadRequest(_)) | Err(ApiError::Validation(_)) => {}
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn json_shaped_garbage_is_refused_as_a_client_error(text in r#"\{("[a-z]{0,6}":(-?[0-9]{0,25}|"[^"]{0,8}"|\[\]|null|true),?){0,4}\}"#) {
            match parse_json::<Body>(text.as_bytes()) {
                Ok(_) | Err(ApiError::BadRequest(_)) | Err(ApiError::Validation(_)) => {}
                Err(other) => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }

    #[test]
    fn json_content_types_are_recognised() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }
}
