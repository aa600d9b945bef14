//! The web pages: the shop for buyers (`/`, `/events/{id}`, `/register`,
//! `/login`, `/verify`, `/bookings/{id}`, `/me/tickets`).
//!
//! A page gets its data from the rooms (events from `event`, bookings
//! still through the API's handlers' typed answers), renders a typed page
//! model with a template compiled into the binary, and turns refusals into
//! pages: a field's message next to the field with the input kept, a 404
//! page, a sign-in redirect. What is
//! here besides: the session cookie and CSRF tokens (`session`), form
//! reading (`form`), templates and their filters (`render`), the static
//! files (`assets`) and the security headers every page carries.

mod account;
mod assets;
mod billing;
mod booking;
mod chart;
mod checkin_lists;
mod codes;
mod details;
mod door_offline;
mod error;
mod event_form;
mod event_image;
mod form;
mod manage;
mod messages;
mod model;
mod questions;
mod render;
mod session;
mod shop;
mod team;
mod webhooks;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::state::AppState;

pub use error::PageError;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(shop::index))
        .route("/events/{id}", get(shop::event))
        .route("/events/{id}/book", post(shop::book))
        .route("/events/{id}/details", get(details::book_form))
        .route("/events/{id}/draw", get(shop::draw))
        .route("/events/{id}/waiting-list", post(shop::join_waiting_list))
        .route("/register", get(account::register_form).post(account::register))
        .route("/login", get(account::login_form).post(account::login))
        .route("/login/link", get(account::link_form).post(account::request_link))
        .route("/login/link/redeem", post(account::redeem_link))
        .route("/logout", post(account::logout))
        .route("/verify", get(account::verify_form).post(account::verify))
        .route("/verify/resend", post(account::resend_verification))
        .route("/bookings/{id}", get(booking::page_of))
        .route("/bookings/{id}/cancel", get(booking::cancel_form).post(booking::cancel))
        .route("/bookings/{id}/leave", post(booking::leave))
        .route("/bookings/{id}/details", get(details::edit_form).post(details::save))
        .route("/bookings/{id}/events", get(booking::events))
        .route("/bookings/{id}/calendar.ics", get(booking::calendar))
        .route("/bookings/{id}/tickets.pdf", get(booking::tickets_pdf))
        .route("/bookings/{id}/tickets.pkpass", get(booking::tickets_pkpass))
        .route("/bookings/{id}/invoices/{file}", get(booking::invoice_pdf))
        .route("/bookings/{id}/billing", post(booking::billing))
        .route("/bookings/{id}/pay", post(booking::pay))
        .route("/bookings/{id}/payment/confirm", post(booking::payment_confirm))
        .route("/bookings/{id}/confirm", post(booking::confirm_free))
        .route("/tickets/{code}/qr.svg", get(booking::qr))
        .route("/me/tickets", get(booking::mine))
        .route("/waiting-list/{id}/leave", post(booking::leave_waiting_list))
        .route("/invitations/{token}", get(team::show).post(team::accept))
        .route("/manage/organizations", get(team::organizations).post(team::create))
        .route("/manage/organizations/{id}", get(team::organization))
        .route("/manage/organizations/{id}/invitations", post(team::invite))
        .route("/manage/organizations/{id}/billing", get(billing::team_form).post(billing::team_save))
        .route("/manage/organizations/{id}/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/manage/organizations/{id}/webhooks/{webhook}", get(webhooks::show))
        .route("/manage/organizations/{id}/webhooks/{webhook}/{what}", post(webhooks::act))
        .route("/manage/organizations/{id}/webhooks/{webhook}/deliveries/{delivery}/replay", post(webhooks::replay))
        .route("/manage/organizations/{id}/invoices.zip", get(billing::team_export))
        .route("/manage/organizations/{id}/{subject}/{what}", post(team::change))
        .route("/manage", get(manage::events))
        .route("/manage/billing", get(billing::form).post(billing::save))
        .route("/manage/invoices.zip", get(billing::export))
        .route("/manage/events/new", get(manage::new_event_form).post(manage::create_event))
        .route("/manage/events/{id}", get(manage::dashboard))
        .route("/manage/events/{id}/publish", post(manage::publish))
        .route("/manage/events/{id}/edit", get(manage::edit_form).post(manage::update))
        .route(
            "/manage/events/{id}/image",
            post(event_image::upload)
                .layer(axum::extract::DefaultBodyLimit::max(crate::http::event_image::UPLOAD_LIMIT)),
        )
        .route("/manage/events/{id}/image/remove", post(event_image::remove))
        .route("/images/{name}", get(crate::http::event_image::rendition))
        .route("/manage/events/{id}/cancel", get(manage::cancel_form).post(manage::cancel))
        .route("/manage/events/{id}/codes", get(codes::list).post(codes::create))
        .route("/manage/events/{id}/codes.csv", get(codes::csv))
        .route("/manage/events/{id}/questions", get(questions::list).post(questions::create))
        .route("/manage/events/{id}/questions/{question}/delete", post(questions::delete))
        .route("/manage/events/{id}/codes/{code_id}/disable", post(codes::disable))
        .route("/manage/events/{id}/orders", get(manage::orders))
        .route("/manage/events/{id}/orders/{booking}/mark-paid", post(manage::mark_paid))
        .route("/manage/events/{id}/orders/{booking}/paid-back", post(manage::refund_paid_back))
        .route("/manage/events/{id}/orders/{booking}/refund", get(manage::refund_form).post(manage::refund))
        .route("/manage/events/{id}/attendees", get(manage::attendees))
        .route("/manage/events/{id}/attendees.csv", get(manage::attendees_csv))
        .route("/manage/events/{id}/door", get(manage::door).post(manage::check_in))
        .route("/manage/events/{id}/door/undo", post(manage::undo))
        .route("/manage/events/{id}/door/offline", get(door_offline::page_of))
        .route("/manage/events/{id}/door/lists", get(checkin_lists::page).post(checkin_lists::create))
        .route("/manage/events/{id}/door/offline.json", get(door_offline::list))
        .route("/manage/events/{id}/door/sync", post(door_offline::sync))
        .route("/manage/events/{id}/door/manifest.webmanifest", get(door_offline::manifest))
        .route("/manage/door-sw.js", get(door_offline::worker))
        .route("/manage/events/{id}/messages", get(messages::page).post(messages::post))
        .route("/static/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit))
}

/// Whether a path is a page's (not the API's, the docs' or the metrics'):
/// where a 404 is a page rather than problem+json.
pub fn is_page_path(path: &str) -> bool {
    !(path.starts_with("/api/") || path.starts_with("/docs") || path == "/openapi.json")
}

/// The 404 page for paths no route has.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// The API's limits hold for pages too (a page calls the same handlers, so
/// it must not be a way around them): signing up and in count against the
/// per-address limit of `/api/v1/auth/`, every other page against the
/// anonymous per-address limit. Static files are not counted. A page over
/// its limit says so, with Retry-After.
async fn rate_limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    use crate::http::rate_limit::{check, client_ip, set_headers};
    let path = request.uri().path();
    if !state.limits.enabled || path.starts_with("/static/") {
        return next.run(request).await;
    }
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = client_ip(request.headers(), peer, state.limits.trust_proxy_headers);
    let signing_in = request.method() == axum::http::Method::POST
        && matches!(path, "/login" | "/register" | "/login/link" | "/login/link/redeem");
    let (key, limit) = if signing_in {
        (format!("auth-ip:{ip}"), state.limits.auth)
    } else if let Some(user) = live_session_of(&state, &mut request).await {
        // As the API counts a bearer token: per person, wherever they are;
        // only a live session, so an old cookie (signed out, or ended by a
        // later sign-in) cannot spend its owner's budget.
        (format!("user:{}", user.id), state.limits.user)
    } else {
        (format!("ip:{ip}"), state.limits.anonymous)
    };
    match check(&state, &key, limit).await {
        Some(decision) if !decision.allowed => {
            let mut response =
                PageError::from(crate::error::ApiError::RateLimited { retry_after: decision.retry_after_secs })
                    .into_response();
            set_headers(response.headers_mut(), &decision);
            response
        }
        _ => next.run(request).await,
    }
}

/// The request's live session, checked once and left with the request for
/// the page (`session::CheckedSession`). A check that cannot be made (the
/// database down) counts the request by its address, and the page says why.
async fn live_session_of(state: &AppState, request: &mut Request) -> Option<crate::http::extract::CurrentUser> {
    let user = session::live_session(state, request.headers()).await.ok()?;
    request.extensions_mut().insert(session::CheckedSession(user));
    user
}

/// The headers of the contract on every response (pages, the API, the
/// 404s of paths nobody serves, the docs): scripts only from here (and
/// Stripe's origin when card payments are on), no framing, no sniffing, no
/// referrer beyond this site. Swagger UI at `/docs` gets the policy it
/// needs: its scripts are files of its own, its styles partly inline.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let docs = request.uri().path().starts_with("/docs");
    let mut response = next.run(request).await;
    // Stripe.js's own needs (its documented policy), and the origin it is
    // loaded from (Stripe's, or an emulator's).
    let stripe = state.config.stripe_publishable_key.as_ref().map(|_| assets::origin_of(&state.config.stripe_js_url));
    let (scripts, frames, connect) = match stripe {
        Some(origin) => (
            format!("'self' {origin} https://js.stripe.com"),
            format!("{origin} https://js.stripe.com https://hooks.stripe.com"),
            format!("'self' {origin} https://api.stripe.com"),
        ),
        None => ("'self'".to_owned(), "'none'".to_owned(), "'self'".to_owned()),
    };
    let policy = if docs {
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
            .to_owned()
    } else {
        format!(
            "default-src 'self'; script-src {scripts}; frame-src {frames}; connect-src {connect}; \
             img-src 'self' data:; style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
