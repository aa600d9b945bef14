//! Accounts: register, login, refresh, logout, me.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{ClientIp, CurrentUser, Json};
use super::rate_limit::LoginFailures;
use crate::auth::refresh;
use crate::db::{self, sessions::Rotation};
use crate::domain::Violations;
use crate::domain::account::{Email, Password};
use crate::error::{ApiError, ApiResult, Problem};
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Compared case-insensitively; stored lower-cased.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// 1 to 200 characters.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Whether the address was confirmed through the emailed link (needed
    /// to book while `EMAIL_VERIFICATION` is on).
    pub email_verified: bool,
}

impl From<db::users::UserRow> for User {
    fn from(row: db::users::UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            created_at: row.created_at,
            email_verified: row.email_verified_at.is_some(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The `token` of the link in the verification email.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailLinkRequest {
    /// Where the link is sent; an account for it need not exist.
    pub email: String,
    /// A path of this site (`/events/…`) the pages land on after signing in.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailLinkRedeemRequest {
    /// The `token` of the emailed link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchange it once at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
}

pub const NAME_MAX: usize = 200;

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = User),
        (status = 409, description = "Email taken", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn register(State(state): State<AppState>, Json(req): Json<RegisterRequest>) -> ApiResult<impl IntoResponse> {
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(&req.email));
    let password = v.check("password", Password::parse(&req.password));
    let name = v.line("name", &req.name, 1, NAME_MAX);
    let ((email, password), name) = v.finish_with(email.zip(password).zip(name))?;

    let hash = state.hasher.hash(password.expose()).await?;
    let mut tx = state.db.begin().await?;
    let user = db::users::insert(&mut tx, email.as_str(), &name, &hash).await.map_err(|err| {
        if db::violated_constraint(&err) == Some(db::users::EMAIL_TAKEN) { ApiError::EmailTaken } else { err.into() }
    })?;
    if state.config.email_verification_required() {
        send_verification(&mut tx, user.id).await?;
    }
    tx.commit().await?;
    tracing::info!(user.id = %user.id, user.email = %email.redacted(), "account created");
    Ok((StatusCode::CREATED, [(header::LOCATION, "/api/v1/me")], axum::Json(User::from(user))))
}

/// A new verification link for `user_id`, mailed through the outbox (in the
/// caller's transaction).
async fn send_verification(conn: &mut sqlx::PgConnection, user_id: Uuid) -> ApiResult<()> {
    let (token, hash) = crate::auth::verification::generate();
    let expires_at = Utc::now() + crate::auth::verification::VALID_FOR;
    db::users::add_verification(&mut *conn, user_id, &hash, expires_at).await?;
    db::outbox::enqueue_verification(conn, user_id, &token).await?;
    Ok(())
}

/// Confirm an email address with the token of the emailed link.
#[utoipa::path(post, path = "/api/v1/auth/verify", tag = "auth", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Verified: the account, now with `email_verified`", body = User),
        (status = 400, description = "Unknown, used or expired token (`invalid_token`)", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    Json(req): Json<VerifyRequest>,
) -> ApiResult<axum::Json<User>> {
    if req.token.len() > 128 {
        return Err(ApiError::InvalidToken);
    }
    let mut conn = state.db.acquire().await?;
    let user = db::users::verify(&mut conn, &crate::auth::verification::hash(req.token.trim()))
        .await?
        .ok_or(ApiError::InvalidToken)?;
    tracing::info!(user.id = %user.id, "email verified");
    Ok(axum::Json(user.into()))
}

/// Verification links one address gets at most (registration's included).
const LINKS_PER_HOUR: i64 = 4;
const LINKS_PER_DAY: i64 = 6;

/// Send the verification link again (three times an hour, five a day).
#[utoipa::path(post, path = "/api/v1/auth/verify/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way"),
        (status = 409, description = "Already verified (`already_verified`), or verification is off", body = Problem),
        (status = 429, description = "Three new links an hour and five a day at most (`rate_limited`)", body = Problem),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn resend_verification(State(state): State<AppState>, user: CurrentUser) -> ApiResult<StatusCode> {
    if !state.config.email_verification_required() {
        return Err(ApiError::Conflict {
            code: "already_verified",
            detail: "addresses need no verification here".into(),
        });
    }
    let mut tx = state.db.begin().await?;
    let row =
        db::users::find(&mut tx, user.id).await?.ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    if row.email_verified_at.is_some() {
        return Err(ApiError::Conflict { code: "already_verified", detail: "this address is verified already".into() });
    }
    // Not more mail to one address than a person needs, whatever Redis or
    // the rate-limit settings say: counted in PostgreSQL, under the user's lock.
    within_mail_limits(db::users::links_sent(&mut tx, user.id).await?, LINKS_PER_HOUR, LINKS_PER_DAY)?;
    send_verification(&mut tx, user.id).await?;
    tx.commit().await?;
    Ok(StatusCode::ACCEPTED)
}

/// Email a sign-in link: opening it within 15 minutes signs the person in,
/// and makes their account (verified) when the address has none. The answer
/// is the same whether an account exists or not.
#[utoipa::path(post, path = "/api/v1/auth/email-link", tag = "auth", request_body = EmailLinkRequest,
    responses(
        (status = 202, description = "A link is on its way to the address"),
        (status = 422, description = "Invalid fields", body = Problem),
        (status = 429, description = "Four links an hour and six a day to one address from one network, twenty a day from all (`rate_limited`)", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn request_email_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<EmailLinkRequest>,
) -> ApiResult<StatusCode> {
    use crate::auth::sign_in_link;
    let mut v = Violations::new();
    let email = v.check("email", Email::parse(&req.email));
    if let Some(next) = req.next.as_deref().filter(|n| !crate::domain::validation::is_local_path(n)) {
        v.add("next", format!("{next:?} is not a path of this site"));
    }
    let email = v.finish_with(email)?;
    let mut tx = state.db.begin().await?;
    // Counted in PostgreSQL under the address's lock, like verification
    // links: not more mail to one address than a person needs.
    let network = super::rate_limit::network_of(&ip);
    let (hour, day, day_all) = db::sign_in_links::sent(&mut tx, email.as_str(), &network).await?;
    within_mail_limits((hour, day), sign_in_link::PER_HOUR, sign_in_link::PER_DAY)?;
    within_mail_limits((0, day_all), sign_in_link::PER_HOUR, sign_in_link::PER_DAY_ALL)?;
    let (token, hash) = sign_in_link::generate();
    let expires_at = Utc::now() + sign_in_link::VALID_FOR;
    db::sign_in_links::add(&mut tx, &hash, email.as_str(), &network, req.next.as_deref(), expires_at).await?;
    db::outbox::enqueue_sign_in_link(&mut tx, email.as_str(), &token).await?;
    tx.commit().await?;
    tracing::info!(user.email = %email.redacted(), "sign-in link requested");
    Ok(StatusCode::ACCEPTED)
}

/// Sign in with the token of an emailed link (once). An address with no
/// account gets one, verified; an account someone registered with the
/// address but never verified is the address owner's now: its password and
/// sessions end.
#[utoipa::path(post, path = "/api/v1/auth/email-link/redeem", tag = "auth", request_body = EmailLinkRedeemRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 400, description = "Unknown, used or expired link (`invalid_token`)", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn redeem_email_link(
    State(state): State<AppState>,
    Json(req): Json<EmailLinkRedeemRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    Ok(axum::Json(sign_in_with_link(&state, &req.token).await?.pair))
}

/// Who an emailed link signed in, and where they were going.
pub struct LinkSignIn {
    pub pair: TokenPair,
    pub next: Option<String>,
}

/// Uses a sign-in link's `token`: the API's redeem, and the page's.
pub async fn sign_in_with_link(state: &AppState, token: &str) -> ApiResult<LinkSignIn> {
    use crate::auth::sign_in_link;
    if token.len() > 128 {
        return Err(ApiError::InvalidToken);
    }
    let mut tx = state.db.begin().await?;
    let used =
        db::sign_in_links::redeem(&mut tx, &sign_in_link::hash(token.trim())).await?.ok_or(ApiError::InvalidToken)?;
    // A password nobody knows (made once per process, never per request: a
    // link must not cost a password hash): an account made, or taken back,
    // by a link is signed in to by links until its owner sets one.
    let unusable = state.hasher.unusable().await?;
    // Without verification, no account ever proved its address: a link then
    // signs in to the account as it is, taking nothing from anyone.
    let take_back = state.config.email_verification_required();
    let name = sign_in_link::default_name(&used.email);
    let claimed = db::sign_in_links::claim_account(&mut tx, &used.email, &name, &unusable, take_back).await?;
    let user = claimed.user;
    let ended = if claimed.taken_over {
        db::sessions::revoke_all_of(&mut tx, user.id, "address proved by a sign-in link").await?
    } else {
        Vec::new()
    };
    let (refresh_token, refresh_hash) = refresh::generate();
    let session_id = db::sessions::create(&mut tx, user.id, &refresh_hash, refresh_expiry(state)).await?;
    tx.commit().await?;
    for session in ended {
        state.revocations.remember(session).await;
    }
    tracing::info!(user.id = %user.id, session.id = %session_id, created = claimed.created,
        taken_over = claimed.taken_over, "signed in with an emailed link");
    let next = used.next.filter(|n| crate::domain::validation::is_local_path(n));
    Ok(LinkSignIn { pair: token_pair(state, user.id, session_id, refresh_token)?, next })
}

/// 429 once an address was sent `per_hour` links in the last hour or
/// `per_day` in the last day (`sent`: those two counts).
fn within_mail_limits((last_hour, last_day): (i64, i64), per_hour: i64, per_day: i64) -> ApiResult<()> {
    if last_day >= per_day {
        Err(ApiError::RateLimited { retry_after: 24 * 3600 })
    } else if last_hour >= per_hour {
        Err(ApiError::RateLimited { retry_after: 3600 })
    } else {
        Ok(())
    }
}

/// Log in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenPair),
        (status = 401, description = "Wrong email or password", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
        (status = 429, description = "Too many attempts on this account from this network, or too many failures on it from everywhere and this network is not one it signed in from (the password is not checked)", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    let failures = LoginFailures::new(&req.email, &ip);
    failures.check(&state).await?;
    // An address that cannot exist is treated like an unknown one: same answer, same work.
    let user = match Email::parse(&req.email) {
        Ok(email) => {
            let mut conn = state.db.acquire().await?;
            db::users::find_by_email(&mut conn, email.as_str()).await?
        }
        Err(_) => None,
    };
    state.metrics.password_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let matches = state.hasher.verify(&req.password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(failures.failed(&state).await);
    };
    failures.succeeded(&state).await;

    let (refresh_token, refresh_hash) = refresh::generate();
    let mut conn = state.db.acquire().await?;
    let session_id = db::sessions::create(&mut conn, user.id, &refresh_hash, refresh_expiry(&state)).await?;
    tracing::info!(user.id = %user.id, session.id = %session_id, "logged in");
    Ok(axum::Json(token_pair(&state, user.id, session_id, refresh_token)?))
}

/// Exchange a refresh token for a new pair; the old one stops working.
///
/// Presenting a refresh token that was already exchanged ends its whole
/// session: someone else holds a copy.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair", body = TokenPair),
        (status = 401, description = "Unknown, expired, reused or revoked refresh token", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
    ))]
#[tracing::instrument(skip_all)]
pub async fn refresh_tokens(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    let (new_token, new_hash) = refresh::generate();
    let mut tx = state.db.begin().await?;
    let rotation =
        db::sessions::rotate(&mut tx, &refresh::hash(&req.refresh_token), &new_hash, refresh_expiry(&state)).await?;
    tx.commit().await?;
    match rotation {
        Rotation::Rotated { user_id, session_id } => {
            Ok(axum::Json(token_pair(&state, user_id, session_id, new_token)?))
        }
        Rotation::Reused { session_id } => {
            tracing::warn!(session.id = %session_id, "refresh token reused; session revoked");
            state.revocations.remember(session_id).await;
            Err(ApiError::Unauthorized("this refresh token was already used; the session has been ended"))
        }
        Rotation::Invalid => Err(ApiError::Unauthorized("the refresh token is invalid or expired")),
    }
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
    ))]
#[tracing::instrument(skip_all, fields(user.id = %user.id))]
pub async fn logout(State(state): State<AppState>, user: CurrentUser) -> ApiResult<StatusCode> {
    let mut conn = state.db.acquire().await?;
    db::sessions::revoke(&mut conn, user.session_id, "logout").await?;
    state.revocations.remember(user.session_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
    ))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<axum::Json<User>> {
    let mut conn = state.db.acquire().await?;
    let row =
        db::users::find(&mut conn, user.id).await?.ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    Ok(axum::Json(row.into()))
}

fn refresh_expiry(state: &AppState) -> DateTime<Utc> {
    Utc::now() + state.config.refresh_token_ttl()
}

fn token_pair(state: &AppState, user_id: Uuid, session_id: Uuid, refresh_token: String) -> ApiResult<TokenPair> {
    Ok(TokenPair {
        access_token: state.tokens.issue(user_id, session_id)?,
        token_type: "Bearer",
        expires_in: state.tokens.ttl().as_secs(),
        refresh_token,
    })
}
