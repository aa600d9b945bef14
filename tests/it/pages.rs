//! The web pages over plain HTTP (the browser tests are in `shop.rs`): the
//! security headers, CSRF, whose pages a session may open, what the cookie
//! may not do, and forms that come back with their mistakes.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// A browser without a browser: keeps cookies, follows no redirects.
pub struct Visit {
    client: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first hidden input `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in the page:\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The value the input named `name` shows ("" when it has none).
    pub fn value_of(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\"");
        let Some(at) = self.body.find(&marker) else { panic!("no input {name} in the page") };
        let tag = &self.body[at..at + self.body[at..].find('>').unwrap_or(0)];
        let value = tag.split_once("value=\"").map(|(_, rest)| rest.split('"').next().unwrap_or("")).unwrap_or("");
        value
            .replace("&#x2f;", "/")
            .replace("&#x27;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

impl Visit {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, base: app.base.clone(), cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let (status, headers) = (response.status(), response.headers().clone());
        Page { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Signs in through the login form.
    pub async fn sign_in(&mut self, email: &str) {
        let form = self.get("/login").await;
        let csrf = form.hidden("csrf");
        let signed_in = self.post("/login", &[("csrf", &csrf), ("email", email), ("password", PASSWORD)]).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_the_security_headers_and_static_files_are_kept_for_good() {
    let app = spawn_app().await;
    let mut visit = Visit::new(&app);
    let home = visit.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    let header = |name: &str| home.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "same-origin");
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(home.body.contains("Search events"));

    let start = home.body.find("href=\"/static/app.").expect("the stylesheet, by its hashed name") + "href=\"".len();
    let css_path = home.body[start..].split('"').next().unwrap().to_owned();
    let css = visit.get(&css_path).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(visit.get("/static/app.css").await.status, StatusCode::NOT_FOUND, "only hashed names are served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_page_is_a_page_and_an_unknown_api_route_a_problem() {
    let app = spawn_app().await;
    let mut visit = Visit::new(&app);
    let page = visit.get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.body.contains("Not found"));
    // It cannot know who is looking: no "Create account" offered to someone signed in.
    assert!(page.body.contains("My tickets") && !page.body.contains("Create account"), "{}", page.body);
    let api = visit.get("/api/v1/no-such-route").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.headers["content-type"], "application/problem+json");
    let event = visit.get(&format!("/events/{}", Uuid::new_v4())).await;
    assert_eq!(event.status, StatusCode::NOT_FOUND);
    assert!(event.body.contains("Not found"));
}

/// Every answer carries the security headers: the 404 of a path nobody
/// serves, the API's problems, the OpenAPI document and Swagger UI (whose
/// policy allows its own script files and inline styles, never inline script).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers_the_docs_with_a_policy_of_their_own() {
    let app = spawn_app().await;
    let mut visit = Visit::new(&app);
    for path in ["/no/such/page", "/api/v1/no-such-route", "/openapi.json", "/docs/", "/healthz", "/api/v1/events"] {
        let answer = visit.get(path).await;
        let header = |name: &str| answer.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or_default();
        assert!(!scripts.contains("unsafe-inline"), "{path}: {csp}");
    }
    let docs = visit.get("/docs/").await;
    assert_eq!(docs.status, StatusCode::OK);
    assert!(!docs.body.contains("<script>"), "Swagger UI's page has no inline script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_own_csrf_token_is_refused() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    let csrf = visit.get("/login").await.hidden("csrf");
    let mut other = Visit::new(&app);
    let others = other.get("/login").await.hidden("csrf");

    let none = visit.post("/login", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(none.body.contains("This form has expired"));
    let wrong = visit.post("/login", &[("csrf", &others), ("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "another browser's token");

    let mistaken = visit.post("/login", &[("csrf", &csrf), ("email", &email), ("password", "not the password")]).await;
    assert_eq!(mistaken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mistaken.body.contains("the email or password is wrong"), "{}", mistaken.body);
    assert!(mistaken.body.contains(&format!("value=\"{email}\"")), "the email is kept");
    let signed_in = visit.post("/login", &[("csrf", &csrf), ("email", &email), ("password", PASSWORD)]).await;
    assert_eq!((signed_in.status, signed_in.location()), (StatusCode::SEE_OTHER, "/me/tickets"));

    // Signed in, the browser's token is no longer the one: it is the session's.
    let tickets = visit.get("/me/tickets").await;
    assert_eq!(tickets.status, StatusCode::OK);
    let out = visit.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    let session_csrf = tickets.hidden("csrf");
    assert_eq!(visit.post("/logout", &[("csrf", &session_csrf)]).await.status, StatusCode::SEE_OTHER);
    let after = visit.get("/me/tickets").await;
    assert_eq!((after.status, after.location()), (StatusCode::SEE_OTHER, "/login?next=%2Fme%2Ftickets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opens_only_its_own_bookings_and_writes_nothing_through_the_api() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 10, 2).await;
    let (someone, _) = app.user().await;
    let theirs = app.book_final(&someone, &tt, 1).await;

    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/bookings/{theirs}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "another person's booking");
    let qr = visit.get("/tickets/AAAAAAAAAAAAAAAAAAAAAAAAAA/qr.svg").await;
    assert_eq!(qr.status, StatusCode::NOT_FOUND);

    // The cookie is no bearer token: the API refuses a write that carries only it.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/bookings", app.base))
        .header("cookie", visit.cookie_header())
        .json(&serde_json::json!({"ticket_type_id": tt, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_up_form_says_what_is_wrong_next_to_each_field_and_keeps_the_input() {
    let app = spawn_app().await;
    let mut visit = Visit::new(&app);
    let csrf = visit.get("/register").await.hidden("csrf");
    let page = visit
        .post(
            "/register",
            &[("csrf", &csrf), ("name", "Ada Lovelace"), ("email", "not-an-address"), ("password", "short")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("value=\"Ada Lovelace\"") && page.body.contains("value=\"not-an-address\""));
    assert!(!page.body.contains("value=\"short\""), "a password is never sent back");
    for field in ["email", "password"] {
        assert!(page.body.contains(&format!("id=\"{field}-error\"")), "a message next to {field}:\n{}", page.body);
    }
    assert!(!page.body.contains("id=\"name-error\""));

    // Taken address: said next to the email field.
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let page =
        visit.post("/register", &[("csrf", &csrf), ("name", "Ada"), ("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"email-error\"") && page.body.contains("exists already"), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_pages_counts_against_the_same_limit_as_the_api() {
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&[
        "--rate-limits",
        "on",
        "--rate-limit-auth",
        "3/60",
    ]))
    .await;
    let mut visit = Visit::new(&app);
    let csrf = visit.get("/login").await.hidden("csrf");
    let attempt = [("csrf", csrf.as_str()), ("email", "nobody@example.org"), ("password", "wrong password")];
    for _ in 0..2 {
        assert_eq!(visit.post("/login", &attempt).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The API's auth routes share the budget: the third attempt there, the fourth here.
    let api = app.login("nobody@example.org", "wrong password").await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    let limited = visit.post("/login", &attempt).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
    assert!(limited.body.contains("too many requests"), "{}", limited.body);
    assert_eq!(visit.get("/").await.status, StatusCode::OK, "reading pages has its own, larger budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_tickets_lists_a_waiting_list_entry_that_can_be_left_from_the_page() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale(&organizer, 1, 1).await;
    let (first, _) = app.user().await;
    app.book_final(&first, &tt, 1).await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    let joined = app
        .post(&format!("/api/v1/ticket-types/{tt}/waiting-list"), Some(&token), serde_json::json!({"quantity": 1}))
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
    let entry = joined.body["id"].as_str().unwrap().to_owned();

    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let page = visit.get("/me/tickets").await;
    assert!(page.body.contains("number 1 on the waiting list"), "{}", page.body);
    let csrf = page.hidden("csrf");
    let left = visit.post(&format!("/waiting-list/{entry}/leave"), &[("csrf", &csrf)]).await;
    assert_eq!((left.status, left.location()), (StatusCode::SEE_OTHER, "/me/tickets"));
    let mine = app.get("/api/v1/me/waiting-list", Some(&token)).await;
    let live =
        mine.body["items"].as_array().unwrap().iter().any(|e| e["id"] == entry.as_str() && e["status"] == "waiting");
    assert!(!live, "left: {}", mine.body);
    assert!(!visit.get("/me/tickets").await.body.contains("Leave the waiting list"));
}

/// A page session outlives an access token (it lasts as long as a refresh
/// token): its revocation must too. With one-second access tokens, a copy of
/// a signed-out cookie is still refused after the revocation's old horizon
/// (the access token's lifetime and 30 s) has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_cookie_stays_refused_after_the_access_tokens_lifetime() {
    // A sign-out was once remembered for the access token's lifetime and the
    // leeway only, while the page's cookie lives as long as a refresh token:
    // both lowered to a second, that horizon is two seconds away.
    let config = crate::helpers::test_config(&["--access-token-ttl-secs", "1", "--revocation-leeway-secs", "1"]);
    let app = crate::helpers::spawn_app_with(config).await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let mut copy = Visit::new(&app);
    copy.cookies = visit.cookies.clone();
    let csrf = visit.get("/me/tickets").await.hidden("csrf");
    assert_eq!(copy.get("/me/tickets").await.status, StatusCode::OK);
    assert_eq!(visit.post("/logout", &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    assert_eq!(copy.get("/me/tickets").await.status, StatusCode::SEE_OTHER, "refused at once");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(copy.get("/me/tickets").await.status, StatusCode::SEE_OTHER, "and still refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_again_ends_the_browsers_earlier_session() {
    let app = spawn_app().await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let mut before = Visit::new(&app);
    before.cookies = visit.cookies.clone();
    visit.sign_in(&email).await;
    assert_eq!(visit.get("/me/tickets").await.status, StatusCode::OK);
    assert_eq!(before.get("/me/tickets").await.status, StatusCode::SEE_OTHER, "the earlier session ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_persons_pages_count_against_their_own_limit() {
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&[
        "--rate-limits",
        "on",
        "--rate-limit-user",
        "4/60",
    ]))
    .await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        assert_eq!(visit.get("/me/tickets").await.status, StatusCode::OK);
    }
    // The API's per-user budget is the same one.
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK);
    }
    assert_eq!(visit.get("/me/tickets").await.status, StatusCode::TOO_MANY_REQUESTS);
    let mut stranger = Visit::new(&app);
    assert_eq!(stranger.get("/").await.status, StatusCode::OK, "another visitor's budget is their own");
}

/// An old cookie (signed out) is nobody: its requests count against the
/// address they come from, not against its owner, whose new session keeps
/// its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_cookie_does_not_spend_its_owners_budget() {
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&[
        "--rate-limits",
        "on",
        "--rate-limit-user",
        "6/60",
        "--rate-limit-anonymous",
        "1000/60",
    ]))
    .await;
    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut visit = Visit::new(&app);
    visit.sign_in(&email).await;
    let mut old = Visit::new(&app);
    old.cookies = visit.cookies.clone();
    let csrf = visit.get("/me/tickets").await.hidden("csrf");
    assert_eq!(visit.post("/logout", &[("csrf", &csrf)]).await.status, StatusCode::SEE_OTHER);
    for _ in 0..10 {
        assert_eq!(old.get("/").await.status, StatusCode::OK, "counted as anyone from this address");
    }
    let token = app.login(&email, PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
    // Two of the six went on the pages before signing out.
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, StatusCode::OK, "the owner's budget is whole");
    }
}

/// Every page route of a booking, for another person: 404 and nothing done;
/// for nobody signed in: off to sign in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_booking_page_of_another_person_is_not_there() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (_, tt) = app.on_sale_priced(&organizer, 10, 2, 1500).await;
    let (owner, _) = app.user().await;
    let booking = app.book_final(&owner, &tt, 1).await;
    let joined = {
        let (_, sold_out) = app.on_sale(&organizer, 1, 1).await;
        let (first, _) = app.user().await;
        app.book_final(&first, &sold_out, 1).await;
        app.post(
            &format!("/api/v1/ticket-types/{sold_out}/waiting-list"),
            Some(&owner),
            serde_json::json!({"quantity": 1}),
        )
        .await
    };
    let entry = joined.body["id"].as_str().unwrap().to_owned();

    let email = format!("{}@example.org", Uuid::new_v4().simple());
    app.register(&email).await;
    let mut stranger = Visit::new(&app);
    stranger.sign_in(&email).await;
    for path in
        [format!("/bookings/{booking}"), format!("/bookings/{booking}/cancel"), format!("/bookings/{booking}/events")]
    {
        assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND, "GET {path}");
    }
    let csrf = stranger.get("/me/tickets").await.hidden("csrf");
    for path in [
        format!("/bookings/{booking}/cancel"),
        format!("/bookings/{booking}/pay"),
        format!("/bookings/{booking}/payment/confirm"),
        format!("/bookings/{booking}/confirm"),
        format!("/waiting-list/{entry}/leave"),
    ] {
        let answer = stranger.post(&path, &[("csrf", &csrf), ("payment_method", "card_x")]).await;
        assert!(matches!(answer.status, StatusCode::NOT_FOUND), "POST {path}: {}", answer.status);
    }
    let still = app.get(&format!("/api/v1/bookings/{booking}"), Some(&owner)).await;
    assert_eq!(still.body["status"], "held", "nothing was done to it");
    let entries = app.get("/api/v1/me/waiting-list", Some(&owner)).await;
    assert_eq!(entries.body["items"][0]["status"], "waiting");

    let mut nobody = Visit::new(&app);
    for path in [format!("/bookings/{booking}"), format!("/bookings/{booking}/cancel"), "/me/tickets".to_owned()] {
        let answer = nobody.get(&path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert!(answer.location().starts_with("/login?next="), "{path}");
    }
}

/// Swagger UI works under the policy every answer now carries (its scripts
/// are files, none inline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_renders_under_its_content_security_policy() {
    let app = spawn_app().await;
    let browser = crate::browser::Browser::start("docs").await;
    browser.goto(&app.url("/docs/")).await;
    browser.wait_for_text("/api/v1/events/{id}/draw").await;
}

/// The home page's search is a line, as the API's `q` is: a control
/// character, a direction override or more than 200 characters is refused
/// in words, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_is_not_a_line_is_refused_in_words() {
    let app = crate::helpers::spawn_app().await;
    let long = "x".repeat(201);
    for q in ["%00", "a%E2%80%AEb", long.as_str()] {
        let reply = app.client.get(app.url(&format!("/?q={q}"))).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        assert!(reply.text().await.unwrap().contains("That did not work"), "{q}");
    }
    let fine = app.client.get(app.url("/?q=gala")).send().await.unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}
