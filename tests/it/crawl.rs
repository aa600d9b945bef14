//! Every page a person can reach renders: a crawler signs in as nobody, a
//! buyer and an organizer, and from `/`, `/manage` and the links an email
//! carries follows every link, image, form and redirect it finds (bounded),
//! failing on any 5xx. Templates render in strict mode in debug builds, so a
//! template that prints something undefined is a 500 here too.

use std::collections::{HashSet, VecDeque};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::pages::Visit;

/// Pages of one shape (ids replaced) visited at most this often, and at most
/// this many requests a person: enough to reach every page, bounded however
/// many bookings the data has.
const PER_SHAPE: usize = 2;
const MOST_REQUESTS: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Step {
    Get(String),
    Post(String, Vec<(String, String)>),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reachable_by_a_link_a_form_or_a_redirect_renders_for_nobody_a_buyer_and_an_organizer() {
    let app = spawn_app().await;
    let world = World::make(&app).await;
    let starts: Vec<String> = [
        "/",
        "/manage",
        "/me/tickets",
        "/login",
        "/register",
        "/verify?token=from-an-email",
        "/login/link?token=from-an-email",
    ]
    .into_iter()
    .map(String::from)
    .chain(world.emailed_links.iter().cloned())
    .collect();

    let mut seen_by = Vec::new();
    for who in [None, Some(&world.buyer_email), Some(&world.organizer_email)] {
        let mut visit = Visit::new(&app);
        if let Some(email) = who {
            visit.sign_in(email).await;
        }
        let crawled = crawl(&mut visit, &starts, Forms::Send).await;
        let label = who.map_or("nobody", |e| e.as_str());
        assert!(crawled.failures.is_empty(), "as {label}, pages failed:\n{}", crawled.failures.join("\n"));
        seen_by.push((label.to_owned(), crawled.shapes));
    }
    // The crawl reached what each person has: a crawler that finds nothing passes nothing.
    let reached = |i: usize, shape: &str| seen_by[i].1.contains(shape);
    for shape in ["GET /", "GET /events/{id}", "GET /login", "GET /register"] {
        assert!(reached(0, shape), "nobody never reached {shape}: {:?}", seen_by[0].1);
    }
    for shape in [
        "GET /bookings/{id}",
        "GET /bookings/{id}/cancel",
        "GET /me/tickets",
        "GET /tickets/{code}/qr.svg",
        "GET /events/{id}/draw",
    ] {
        assert!(reached(1, shape), "the buyer never reached {shape}: {:?}", seen_by[1].1);
    }
    for shape in [
        "GET /manage/events/{id}",
        "GET /manage/events/{id}/edit",
        "GET /manage/events/{id}/orders",
        "GET /manage/events/{id}/orders/{id}/refund",
        "GET /manage/events/{id}/attendees",
        "GET /manage/events/{id}/attendees.csv",
        "GET /manage/events/{id}/door",
        "GET /manage/events/{id}/cancel",
        "GET /manage/events/new",
        "POST /manage/events/new",
    ] {
        assert!(reached(2, shape), "the organizer never reached {shape}: {:?}", seen_by[2].1);
    }
}

/// The least role of an organization a back-office page of one of its
/// events or of the organization itself lets in (issue 31): the roles are
/// ordered door < box office < manager < owner, each allowing what the one
/// before it does and more. `None` for a shape without a row.
fn least_role(shape: &str) -> Option<usize> {
    const DOOR: usize = 0;
    const BOX_OFFICE: usize = 1;
    const MANAGER: usize = 2;
    const OWNER: usize = 3;
    let tail = shape
        .strip_prefix("GET /manage/events/{id}")
        .or_else(|| shape.strip_prefix("POST /manage/events/{id}"))
        .map(|tail| (shape.starts_with("GET"), tail));
    if let Some((read, tail)) = tail {
        return Some(match (read, tail) {
            (_, "/door")
            | (false, "/door/undo")
            | (true, "/door/offline" | "/door/offline.json" | "/door/manifest.webmanifest") => DOOR,
            (true, "" | "/orders" | "/attendees" | "/attendees.csv") => BOX_OFFICE,
            (false, "/orders/{id}/mark-paid") => BOX_OFFICE,
            (_, "/door/lists") => MANAGER,
            (
                true,
                "/edit" | "/cancel" | "/codes" | "/codes.csv" | "/questions" | "/orders/{id}/refund" | "/messages",
            ) => MANAGER,
            (
                false,
                "/publish"
                | "/messages"
                | "/edit"
                | "/image"
                | "/image/remove"
                | "/cancel"
                | "/codes"
                | "/questions"
                | "/questions/{id}/delete"
                | "/codes/{id}/disable"
                | "/orders/{id}/refund"
                | "/orders/{id}/paid-back",
            ) => MANAGER,
            _ => return None,
        });
    }
    match shape {
        "GET /manage/organizations/{id}" => Some(MANAGER),
        "GET /manage/organizations/{id}/billing"
        | "POST /manage/organizations/{id}/billing"
        | "GET /manage/organizations/{id}/invoices.zip"
        | "GET /manage/organizations/{id}/webhooks"
        | "POST /manage/organizations/{id}/webhooks"
        | "GET /manage/organizations/{id}/webhooks/{id}"
        | "POST /manage/organizations/{id}/webhooks/{id}/test"
        | "POST /manage/organizations/{id}/webhooks/{id}/rotate"
        | "POST /manage/organizations/{id}/webhooks/{id}/enable"
        | "POST /manage/organizations/{id}/webhooks/{id}/disable"
        | "POST /manage/organizations/{id}/webhooks/{id}/remove"
        | "POST /manage/organizations/{id}/webhooks/{id}/replay"
        | "POST /manage/organizations/{id}/webhooks/{id}/deliveries/{id}/replay" => Some(OWNER),
        "POST /manage/organizations/{id}/invitations"
        | "POST /manage/organizations/{id}/{id}/role"
        | "POST /manage/organizations/{id}/{id}/remove"
        | "POST /manage/organizations/{id}/{id}/withdraw" => Some(OWNER),
        _ => None,
    }
}

/// Whether a shape belongs to one event's or one organization's back office.
fn organizations_page(shape: &str) -> bool {
    ["/manage/events/{id}", "/manage/organizations/{id}"]
        .iter()
        .any(|prefix| shape.split_once(' ').is_some_and(|(_, p)| p.starts_with(prefix)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_back_office_page_answers_each_role_of_the_organization_as_the_role_allows() {
    let sink = crate::smtp::SmtpSink::start().await;
    let app = crate::helpers::spawn_app_with(crate::helpers::test_config(&["--smtp-url", &sink.url()])).await;
    let world = World::make(&app).await;
    let token = |email: String| {
        let app = &app;
        async move { app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned() }
    };
    let organizer = token(world.organizer_email.clone()).await;
    // The organizer's events are in their personal organization, whose id is theirs.
    let org = app.get("/api/v1/me", Some(&organizer)).await.body["id"].as_str().unwrap().to_owned();
    let mut members = Vec::new();
    for role in ["door", "box_office", "manager"] {
        let email = format!("{role}-{}@example.org", uuid::Uuid::new_v4().simple());
        assert_eq!(app.register(&email).await.status, StatusCode::CREATED);
        crate::teams::join(&app, &sink, &organizer, &org, &token(email.clone()).await, role).await;
        members.push(email);
    }

    // The owner reads every page of the back office and collects its forms.
    let mut owner = Visit::new(&app);
    owner.sign_in(&world.organizer_email).await;
    let starts =
        ["/manage".to_owned(), format!("/manage/organizations/{org}"), format!("/manage/organizations/{org}/billing")];
    let crawled = crawl(&mut owner, &starts, Forms::Collect).await;
    assert!(crawled.failures.is_empty(), "pages failed:\n{}", crawled.failures.join("\n"));
    assert!(crawled.missing.is_empty(), "links to nothing: {:?}", crawled.missing);
    let steps: Vec<Step> = crawled
        .pages
        .iter()
        .map(|p| Step::Get(p.clone()))
        .chain(crawled.forms.iter().cloned())
        .filter(|s| organizations_page(&shape_of(s)))
        .collect();
    let unnamed: Vec<String> = steps.iter().map(shape_of).filter(|s| least_role(s).is_none()).collect();
    assert!(unnamed.is_empty(), "back-office pages without a least role here: {unnamed:?}");
    let reached: HashSet<String> = steps.iter().map(shape_of).collect();
    for shape in [
        "GET /manage/events/{id}",
        "GET /manage/events/{id}/door",
        "POST /manage/events/{id}/door",
        "GET /manage/events/{id}/orders",
        "POST /manage/events/{id}/orders/{id}/mark-paid",
        "GET /manage/events/{id}/edit",
        "POST /manage/events/{id}/publish",
        "GET /manage/organizations/{id}",
        "POST /manage/organizations/{id}/{id}/role",
        "GET /manage/organizations/{id}/billing",
        "POST /manage/organizations/{id}/billing",
        "GET /manage/organizations/{id}/webhooks",
        "POST /manage/organizations/{id}/webhooks",
    ] {
        assert!(reached.contains(shape), "the owner never reached {shape}: {reached:?}");
    }

    // Each role: what it may open opens; what it may not is not there, and
    // a form it may not send changes nothing.
    for (rank, email) in members.iter().enumerate() {
        let mut visit = Visit::new(&app);
        visit.sign_in(email).await;
        // What a role is shown, it can open.
        let theirs = crawl(&mut visit, &["/manage".to_owned()], Forms::Collect).await;
        assert!(theirs.failures.is_empty(), "as {email}, pages failed:\n{}", theirs.failures.join("\n"));
        assert!(theirs.missing.is_empty(), "as {email}, links to nothing: {:?}", theirs.missing);
        // ...and reaches what its role is for: a crawl that finds nothing passes nothing.
        let expected: &[&str] = match rank {
            0 => &["GET /manage/events/{id}/door"],
            1 => &["GET /manage/events/{id}", "GET /manage/events/{id}/orders", "GET /manage/events/{id}/door"],
            _ => &[
                "GET /manage/events/{id}/edit",
                "GET /manage/events/{id}/codes",
                "GET /manage/events/{id}/messages",
                "GET /manage/organizations/{id}",
            ],
        };
        for shape in expected {
            assert!(theirs.shapes.contains(*shape), "as {email}, never reached {shape}: {:?}", theirs.shapes);
        }
        let mine = visit.get("/manage").await;
        assert_eq!(mine.status, StatusCode::OK, "My events as {email}");
        // Their own session's token: a form refused for its token proves nothing.
        let csrf = mine.hidden("csrf");
        let me = app.get("/api/v1/me", Some(&token(email.clone()).await)).await.body["id"].as_str().unwrap().to_owned();
        for step in &steps {
            let shape = shape_of(step);
            let allowed = least_role(&shape).is_some_and(|least| rank >= least);
            match step {
                Step::Get(path) => {
                    let page = visit.get(path).await;
                    let expected = if allowed { StatusCode::OK } else { StatusCode::NOT_FOUND };
                    assert_eq!(page.status, expected, "{shape} ({path}) as {email}");
                }
                Step::Post(path, form) if !allowed && !path.contains(&me) => {
                    let form: Vec<(&str, &str)> = form
                        .iter()
                        .map(|(k, v)| (k.as_str(), if k == "csrf" { csrf.as_str() } else { v.as_str() }))
                        .collect();
                    let page = visit.post(path, &form).await;
                    assert_eq!(page.status, StatusCode::NOT_FOUND, "{shape} ({path}) as {email}");
                }
                // Sent by a role it lets in, it would change the world the
                // next rows read; the journeys in teams.rs send those. A
                // member's own row (leaving) is theirs whatever their role.
                Step::Post(..) => {}
            }
        }
    }
}

/// What the crawl saw: the shapes of what it requested, what failed, the
/// pages it read (200) and the forms it found.
struct Crawled {
    shapes: HashSet<String>,
    failures: Vec<String>,
    pages: Vec<String>,
    forms: Vec<Step>,
    /// Links followed that were not there (404).
    missing: Vec<String>,
}

/// Whether the crawl sends the forms it finds or only collects them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Forms {
    Send,
    Collect,
}

async fn crawl(visit: &mut Visit, starts: &[String], sending: Forms) -> Crawled {
    let mut gets: VecDeque<Step> = starts.iter().map(|s| Step::Get(s.clone())).collect();
    // Forms that change things go after every page was read; signing out last.
    let mut posts: VecDeque<Step> = VecDeque::new();
    let mut done: HashSet<Step> = HashSet::new();
    let mut per_shape: std::collections::HashMap<String, usize> = Default::default();
    let (mut shapes, mut failures) = (HashSet::new(), Vec::new());
    let (mut pages, mut found, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    let mut requests = 0;
    while let Some(step) = gets.pop_front().or_else(|| posts.pop_front()) {
        if sending == Forms::Collect && matches!(step, Step::Post(..)) {
            if !found.contains(&step) {
                found.push(step);
            }
            continue;
        }
        if requests >= MOST_REQUESTS || !done.insert(step.clone()) {
            continue;
        }
        let shape = shape_of(&step);
        let count = per_shape.entry(shape.clone()).or_default();
        if *count >= PER_SHAPE {
            continue;
        }
        *count += 1;
        requests += 1;
        shapes.insert(shape.clone());
        let page = match &step {
            Step::Get(path) => visit.get(path).await,
            Step::Post(path, form) => {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                visit.post(path, &form).await
            }
        };
        let from = match &step {
            Step::Get(path) | Step::Post(path, _) => path.clone(),
        };
        if page.status.is_server_error() {
            failures.push(format!("{shape} ({from}): {}\n{}", page.status, page.body));
            continue;
        }
        if page.status.is_redirection() {
            let target = page.location().to_owned();
            assert!(target.starts_with('/'), "{from} redirects off the site: {target}");
            gets.push_front(Step::Get(target));
            continue;
        }
        if page.status == StatusCode::OK && matches!(step, Step::Get(_)) {
            pages.push(from.clone());
        }
        if page.status == StatusCode::NOT_FOUND && matches!(step, Step::Get(_)) {
            missing.push(format!("{shape} ({from})"));
        }
        let html = page.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !html.starts_with("text/html") {
            continue;
        }
        if page.status == StatusCode::OK && !page.body.contains("</html>") {
            failures.push(format!("{shape} ({from}): the page ends early"));
        }
        for link in attributes(&page.body, "href").into_iter().chain(attributes(&page.body, "src")) {
            if let Some(path) = local(&link, &from) {
                gets.push_back(Step::Get(path));
            }
        }
        for form in forms(&page.body, &from) {
            match form {
                Step::Post(ref action, _) if action == "/logout" => posts.push_back(form),
                Step::Post(..) => posts.push_front(form),
                get => gets.push_back(get),
            }
        }
    }
    Crawled { shapes, failures, pages, forms: found, missing }
}

/// `GET /events/{id}`: the step with ids, codes and queries left out.
fn shape_of(step: &Step) -> String {
    let (method, path) = match step {
        Step::Get(p) => ("GET", p),
        Step::Post(p, _) => ("POST", p),
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let parts: Vec<String> = path
        .split('/')
        .enumerate()
        .map(|(i, part)| {
            let previous = path.split('/').nth(i.wrapping_sub(1)).unwrap_or_default();
            if uuid::Uuid::parse_str(part).is_ok() {
                "{id}".to_owned()
            } else if previous == "tickets" && part != "qr.svg" {
                "{code}".to_owned()
            } else if previous == "static" {
                "{file}".to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect();
    format!("{method} {}", parts.join("/"))
}

/// A link of this site as a path to request, or none (another site, an
/// anchor, a stream that never ends).
fn local(link: &str, from: &str) -> Option<String> {
    let link = unescape(link);
    if link.is_empty() || link.starts_with('#') {
        return None;
    }
    let path = if link.starts_with('/') && !link.starts_with("//") {
        link
    } else if link.starts_with('?') {
        format!("{}{link}", from.split('?').next().unwrap_or_default())
    } else {
        return None;
    };
    // A booking's event stream is followed by the page's script, not read whole.
    (!path.split('?').next().unwrap_or_default().ends_with("/events") || !path.starts_with("/bookings/"))
        .then_some(path)
}

/// Every value of `name="…"` in the page.
fn attributes(html: &str, name: &str) -> Vec<String> {
    let marker = format!(" {name}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| html[at + marker.len()..].split('"').next().map(str::to_owned))
        .collect()
}

/// The page's forms as steps: a GET form with its fields as the query, a
/// POST form with the values it comes with (hidden fields, defaults,
/// the first option of a select).
fn forms(html: &str, from: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for chunk in html.split("<form").skip(1) {
        let Some(end) = chunk.find("</form>") else { continue };
        let (tag, body) = chunk[..end].split_once('>').unwrap_or_default();
        let attr = |name: &str| attributes(&format!(" {tag}"), name).into_iter().next();
        let action = attr("action").map(|a| unescape(&a)).unwrap_or_else(|| from.to_owned());
        let Some(action) = local(&action, from) else { continue };
        let mut fields = Vec::new();
        for input in body.split("<input").skip(1).chain(body.split("<textarea").skip(1)) {
            let tag = format!(" {}", input.split('>').next().unwrap_or_default());
            let Some(name) = attributes(&tag, "name").into_iter().next() else { continue };
            let kind = attributes(&tag, "type").into_iter().next().unwrap_or_default();
            if matches!(kind.as_str(), "checkbox" | "radio") && !tag.contains(" checked") {
                continue;
            }
            let value = attributes(&tag, "value").into_iter().next().unwrap_or_default();
            fields.push((name, unescape(&value)));
        }
        for select in body.split("<select").skip(1) {
            let tag = format!(" {}", select.split('>').next().unwrap_or_default());
            let Some(name) = attributes(&tag, "name").into_iter().next() else { continue };
            let value = attributes(select, "value").into_iter().next().unwrap_or_default();
            fields.push((name, unescape(&value)));
        }
        if attr("method").is_some_and(|m| m.eq_ignore_ascii_case("post")) {
            steps.push(Step::Post(action, fields));
        } else {
            let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
            let sep = if action.contains('?') { '&' } else { '?' };
            steps.push(Step::Get(format!("{action}{sep}{query}")));
        }
    }
    steps
}

fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
}

/// The data every page needs to have something to show: events of every
/// kind, a buyer's bookings in every state, orders, a waiting list.
struct World {
    buyer_email: String,
    organizer_email: String,
    /// What emails link to, opened on another device (signed out).
    emailed_links: Vec<String>,
}

impl World {
    async fn make(app: &TestApp) -> World {
        let organizer_email = format!("organizer-{}@example.org", uuid::Uuid::new_v4().simple());
        let buyer_email = format!("buyer-{}@example.org", uuid::Uuid::new_v4().simple());
        for email in [&organizer_email, &buyer_email] {
            assert_eq!(app.register(email).await.status, StatusCode::CREATED);
        }
        let token = |email: String| async move {
            app.login(&email, crate::helpers::PASSWORD).await.body["access_token"].as_str().unwrap().to_owned()
        };
        let (organizer, buyer) = (token(organizer_email.clone()).await, token(buyer_email.clone()).await);
        let event = app
            .published_event(
                &organizer,
                json!({"ticket_types": [
                    {"name": "Standard", "price_cents": 2500, "capacity": 50, "max_per_order": 4},
                    {"name": "Free", "price_cents": 0, "capacity": 50},
                    {"name": "Tiny", "price_cents": 0, "capacity": 1}
                ]}),
            )
            .await;
        let (event_id, types) = (event["id"].as_str().unwrap(), event["ticket_types"].as_array().unwrap());
        let tt = |i: usize| types[i]["id"].as_str().unwrap().to_owned();
        let held = app.book_final(&buyer, &tt(0), 2).await;
        let paid = app.book_final(&buyer, &tt(0), 1).await;
        assert_eq!(app.mark_paid(&organizer, event_id, &paid.to_string()).await.status, StatusCode::OK);
        let free = app.book_final(&buyer, &tt(1), 2).await;
        app.book_final(&organizer, &tt(2), 1).await;
        let waiting = app
            .post(&format!("/api/v1/ticket-types/{}/waiting-list", tt(2)), Some(&buyer), json!({"quantity": 1}))
            .await;
        assert_eq!(waiting.status, StatusCode::CREATED, "{waiting:?}");
        // A draft and a cancelled event beside it.
        app.create_event(&organizer, json!({"title": "Still a draft"})).await;
        let gone = app.published_event(&organizer, json!({"title": "Called off"})).await;
        let cancel = format!("/api/v1/events/{}/cancel", gone["id"].as_str().unwrap());
        assert_eq!(app.post(&cancel, Some(&organizer), json!({})).await.status, StatusCode::OK);
        // A pre-queue drawn at the open: the booking page says its number in
        // the draw and links to the check.
        let sales_start = chrono::Utc::now() + chrono::Duration::seconds(3);
        let onsale = app
            .published_event(
                &organizer,
                json!({"title": "Drawn", "sales_start": sales_start.to_rfc3339(), "prequeue_minutes": 30,
                       "ticket_types": [{"name": "Standard", "price_cents": 0, "capacity": 5}]}),
            )
            .await;
        let drawn = app.book(&buyer, onsale["ticket_types"][0]["id"].as_str().unwrap(), 1, None).await;
        assert_eq!(drawn.status, StatusCode::ACCEPTED, "{drawn:?}");
        let drawn: uuid::Uuid = drawn.body["id"].as_str().unwrap().parse().unwrap();
        app.wait_final(&[drawn], std::time::Duration::from_secs(30)).await;
        let emailed_links = [held, paid, free, drawn].iter().map(|id| format!("/bookings/{id}")).collect();
        World { buyer_email, organizer_email, emailed_links }
    }
}
