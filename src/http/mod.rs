//! The HTTP layer: routes, extractors, one module per resource, OpenAPI.
//! Handlers stay thin: parse, call the rules and queries, map to a response.

pub mod admission;
pub mod auth;
pub mod booking_events;
pub mod bookings;
pub mod checkout;
pub mod codes;
pub mod door;
pub mod door_sync;
pub mod draw;
pub mod event_image;
pub mod event_list;
pub mod events;
pub mod export;
pub mod extract;
pub mod invoices;
pub mod messages;
pub mod ops;
pub mod orders;
pub mod organizations;
pub mod pagination;
pub mod questions;
pub mod quotas;
pub mod rate_limit;
pub mod state;
pub mod ticket_types;
pub mod tickets;
pub mod waiting_list;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, Problem};
use state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Boxoffice",
        description = "Event ticketing: accounts, events with ticket types, queued bookings, tickets.\n\n\
            Errors are `application/problem+json` with a stable `code` word."
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "codes", description = "An event's codes (vouchers): discounts and hidden ticket types"),
        (name = "questions", description = "What an event asks the people who book: a name per ticket, questions"),
        (name = "events", description = "Events and ticket types"),
        (name = "bookings", description = "Booking tickets: accepted onto a queue, decided by the worker"),
        (name = "tickets", description = "Tickets and their QR codes"),
        (name = "invoices", description = "Invoices and credit notes with tax; billing details"),
        (name = "door", description = "For organizers: check-in, attendee list, sales figures"),
        (name = "teams", description = "Organizations, members and their roles, invitations, the audit log"),
        (name = "webhooks", description = "Endpoints told of bookings, check-ins and events as they happen (Standard Webhooks)"),
        (name = "ops", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The answers any route may give besides its own: a JSON body that is not
/// JSON (400), too large (413), of another type (415) or too slow (408); a
/// rate limit (429); a part of the system down (503); on a route that needs a
/// token, none or a bad one (401); on a route with ids in its path, one that
/// is not a UUID (400). Added to every operation (where the route does not
/// say more itself), so the document lists every status the API can send
/// and the handlers need not repeat them.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for operation in
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
            {
                problems_as_problem_json(operation);
                let (token, uuids) = (needs_a_token(operation), uuids_in_path(operation));
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                if token {
                    add("401", "No valid access token");
                }
                match uuids {
                    0 => {}
                    1 => add("400", "The id is not a UUID"),
                    _ => add("400", "An id is not a UUID"),
                }
                if operation.request_body.is_some() {
                    add("400", "The body is not valid JSON");
                    add("413", "The body is larger than 64 KiB");
                    add("415", "The body is not application/json");
                }
                if api {
                    add("408", "The request took longer than 45 s to arrive");
                    add("429", "Rate limited (`rate_limited`); see Retry-After");
                    add("503", "A part of the system is unavailable (`unavailable`); see Retry-After");
                }
            }
        }
    }
}

/// A route's own error answers are written `body = Problem` once each; they
/// are sent as `application/problem+json`, and documented so here.
fn problems_as_problem_json(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::RefOr;
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        let is_problem = response.content.get("application/json").is_some_and(
            |content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/schemas/Problem")),
        );
        if is_problem {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert("application/problem+json".to_owned(), content);
            }
        }
    }
}

/// Whether the operation requires a bearer token (not merely accepts one).
fn needs_a_token(operation: &utoipa::openapi::path::Operation) -> bool {
    let anonymous_allowed = |requirement: &utoipa::openapi::security::SecurityRequirement| {
        serde_json::to_value(requirement).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
    };
    operation.security.as_ref().is_some_and(|all| !all.is_empty() && !all.iter().any(anonymous_allowed))
}

/// How many of the operation's path parameters are UUIDs.
fn uuids_in_path(operation: &utoipa::openapi::path::Operation) -> usize {
    let is_uuid = |p: &&utoipa::openapi::path::Parameter| {
        serde_json::to_value(p).is_ok_and(|v| v["in"] == "path" && v["schema"]["format"] == "uuid")
    };
    operation.parameters.as_ref().map_or(0, |ps| ps.iter().filter(is_uuid).count())
}

/// Every documented route. Routes and the OpenAPI document come from this one
/// list, so a route cannot exist undocumented.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh_tokens))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::verify_email))
        .routes(routes!(auth::resend_verification))
        .routes(routes!(auth::request_email_link))
        .routes(routes!(auth::redeem_email_link))
        .routes(routes!(auth::me))
        .routes(routes!(event_list::my_events))
        .routes(routes!(events::create_event, event_list::list_events))
        .routes(routes!(events::get_event, events::update_event, events::delete_event))
        .routes(routes!(events::publish_event))
        .routes(routes!(events::cancel_event))
        // The one route taking more than a JSON body's 64 KiB.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(event_image::put_image, event_image::delete_image))
                .layer(DefaultBodyLimit::max(event_image::UPLOAD_LIMIT)),
        )
        .routes(routes!(quotas::create_quota, quotas::list_quotas))
        .routes(routes!(codes::create_codes, codes::list_codes))
        .routes(routes!(codes::codes_csv))
        .routes(routes!(codes::get_code, codes::update_code, codes::disable_code))
        .routes(routes!(questions::create_question, questions::list_questions))
        .routes(routes!(questions::update_question, questions::delete_question))
        .routes(routes!(ticket_types::add_ticket_type))
        .routes(routes!(ticket_types::update_ticket_type))
        .routes(routes!(bookings::create_booking))
        .routes(routes!(bookings::get_booking))
        .routes(routes!(bookings::get_details, bookings::put_details))
        .routes(routes!(bookings::tickets_pdf))
        .routes(routes!(bookings::tickets_pkpass))
        .routes(routes!(organizations::list, organizations::create))
        .routes(routes!(organizations::members))
        .routes(routes!(organizations::invite))
        .routes(routes!(organizations::withdraw))
        .routes(routes!(organizations::set_role, organizations::remove))
        .routes(routes!(organizations::audit))
        .routes(routes!(organizations::preview))
        .routes(routes!(organizations::accept))
        .routes(routes!(door_sync::sync))
        .routes(routes!(door_sync::offline))
        .routes(routes!(door_sync::lists, door_sync::create_list))
        .routes(routes!(messages::send, messages::list))
        .routes(routes!(messages::preview))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::remove))
        .routes(routes!(webhooks::rotate))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(webhooks::replay_since))
        .routes(routes!(webhooks::test))
        .routes(routes!(invoices::booking_invoices))
        .routes(routes!(invoices::invoice_pdf))
        .routes(routes!(invoices::put_booking_billing))
        .routes(routes!(invoices::get_billing, invoices::put_billing))
        .routes(routes!(invoices::get_organization_billing, invoices::put_organization_billing))
        .routes(routes!(invoices::organization_export))
        .routes(routes!(invoices::export))
        .routes(routes!(booking_events::booking_events))
        .routes(routes!(bookings::cancel_booking))
        .routes(routes!(bookings::my_bookings))
        .routes(routes!(bookings::event_queue))
        .routes(routes!(draw::event_draw))
        .routes(routes!(checkout::pay))
        .routes(routes!(checkout::confirm_payment))
        .routes(routes!(checkout::confirm_booking))
        .routes(routes!(checkout::stripe_webhook))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::mark_paid))
        .routes(routes!(orders::refund_paid_back))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(waiting_list::join))
        .routes(routes!(waiting_list::leave))
        .routes(routes!(waiting_list::mine))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::ticket_qr))
        .routes(routes!(door::check_in))
        .routes(routes!(door::undo_check_in))
        .routes(routes!(door::attendees))
        .routes(routes!(door::stats))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = api_routes().into_openapi();
    CommonResponses.modify(&mut openapi);
    openapi
}

/// `/metrics` alone, for the listener of `METRICS_ADDR` (never the public one).
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", axum::routing::get(ops::metrics)).with_state(state)
}

/// The API: its routes behind their rate limits, and the document and
/// Swagger UI at `/docs` (apart: the docs are not rate limited). The pages
/// are composed beside it in `app::router`; the API does not know them.
pub fn api_router(state: &AppState) -> (Router<AppState>, Router<AppState>) {
    let (routes, mut openapi) = api_routes().split_for_parts();
    // After the routes joined the document: the modifier walks their operations.
    CommonResponses.modify(&mut openapi);
    let api = routes.layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit));
    let docs = Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", openapi));
    (api, docs)
}

/// The layers every answer passes, outermost last: the request body's
/// size, a panic answered as a 500 problem, the trace of each request.
pub fn outer_layers(router: Router) -> Router {
    router
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| -> Response {
            ApiError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http())
}
