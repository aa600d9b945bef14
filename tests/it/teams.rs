//! Issue 31, teams: organizations own events; members act as their role
//! allows (owner, manager, box office, door), through one authorization
//! function; invitations are single-use emailed links for one verified
//! address; the last owner stays; the audit log says who did what.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with, test_config};
use crate::smtp::{Captured, SmtpSink};

/// The invitation email to `address`, once it is there.
async fn invitation_to(sink: &SmtpSink, address: &str) -> Captured {
    for _ in 0..400 {
        let invitation = |m: &Captured| m.to == [address.to_lowercase()] && m.data.contains("/invitations/");
        if let Some(m) = sink.messages().into_iter().find(invitation) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no email reached {address}");
}

/// The token of the invitation link in `message`.
fn token_in(message: &Captured) -> String {
    let data = message.data.replace("=3D", "=");
    let start = data.find("/invitations/").expect("an invitation link") + "/invitations/".len();
    data[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

async fn email_of(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/me", Some(token)).await.body["email"].as_str().unwrap().to_owned()
}

async fn id_of(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/me", Some(token)).await.body["id"].as_str().unwrap().to_owned()
}

/// `owner` invites `member` (a verified account where the server verifies) into `org` as `role`;
/// the member takes the emailed link.
pub(crate) async fn join(app: &TestApp, sink: &SmtpSink, owner: &str, org: &str, member: &str, role: &str) {
    let email = email_of(app, member).await;
    let invited = app
        .post(&format!("/api/v1/organizations/{org}/invitations"), Some(owner), json!({"email": email, "role": role}))
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{invited:?}");
    let token = token_in(&invitation_to(sink, &email).await);
    let joined = app.post(&format!("/api/v1/invitations/{token}/accept"), Some(member), json!({})).await;
    assert_eq!((joined.status, joined.body["role"].as_str()), (StatusCode::OK, Some(role)), "{joined:?}");
}

struct Team {
    app: TestApp,
    sink: SmtpSink,
    owner: String,
    org: String,
    event: String,
    ticket_type: String,
}

/// An organization with a priced event on sale, made by its owner.
async fn team() -> Team {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let owner = app.users(1).await.remove(0);
    let made = app.post("/api/v1/organizations", Some(&owner), json!({"name": "Konzerthaus GmbH"})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let org = made.body["id"].as_str().unwrap().to_owned();
    let event = app
        .published_event(
            &owner,
            json!({"organization_id": org, "title": "Team Night",
                   "ticket_types": [{"name": "Standard", "price_cents": 2000, "capacity": 50, "max_per_order": 4}]}),
        )
        .await;
    assert_eq!(event["organization_id"].as_str(), Some(org.as_str()), "{event}");
    let ticket_type = event["ticket_types"][0]["id"].as_str().unwrap().to_owned();
    Team { app, sink, owner, org, event: event["id"].as_str().unwrap().to_owned(), ticket_type }
}

async fn status(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> u16 {
    app.call(method, path, Some(token), body).await.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_does_what_it_may_and_is_refused_the_rest() {
    let Team { app, sink, owner, org, event, ticket_type } = team().await;
    let people = app.users(4).await;
    let [manager, box_office, door, buyer] = [&people[0], &people[1], &people[2], &people[3]];
    join(&app, &sink, &owner, &org, manager, "manager").await;
    join(&app, &sink, &owner, &org, box_office, "box_office").await;
    join(&app, &sink, &owner, &org, door, "door").await;
    let (stranger, _) = app.user().await;

    // A buyer's two held bookings (at most two unpaid of an event), one after the other.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(app.book_final(buyer, &ticket_type, 1).await.to_string());
    }
    let orders = format!("/api/v1/events/{event}/bookings");
    let mark = |b: &str| format!("/api/v1/events/{event}/bookings/{b}/mark-paid");
    let cancel = |b: &str| format!("/api/v1/events/{event}/bookings/{b}/cancel");

    // The door: sees the event, scans, nothing else.
    assert_eq!(status(&app, Method::GET, &orders, door, None).await, 403);
    let stats = format!("/api/v1/events/{event}/stats");
    assert_eq!(status(&app, Method::GET, &stats, door, None).await, 403, "the revenue is not the door's");
    assert_eq!(status(&app, Method::GET, &stats, box_office, None).await, 200);
    let attendees = format!("/api/v1/events/{event}/attendees.csv");
    assert_eq!(status(&app, Method::GET, &attendees, door, None).await, 403);
    // Its pages: the door page; the others are not there for it.
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email_of(&app, door).await).await;
    assert_eq!(visit.get(&format!("/manage/events/{event}/door")).await.status, StatusCode::OK);
    // "My events" takes the door there, not to pages it cannot open.
    let listed = visit.get("/manage").await.body;
    assert!(listed.contains(&format!("href=\"/manage/events/{event}/door\"")) && listed.contains("(Door)"), "{listed}");
    for page in ["attendees", "edit", "orders", ""] {
        let path = format!("/manage/events/{event}/{page}");
        let path = path.trim_end_matches('/');
        assert_eq!(visit.get(path).await.status, StatusCode::NOT_FOUND, "{path} for the door");
    }
    assert_eq!(status(&app, Method::POST, &mark(&held[0]), door, None).await, 403);
    let edit = json!({"title": "Renamed by the door"});
    assert_eq!(status(&app, Method::PATCH, &format!("/api/v1/events/{event}"), door, Some(edit)).await, 403);
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/members"), door, None).await, 403);
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/audit"), door, None).await, 403);

    // The box office: orders and payments, no refunds, no event changes.
    assert_eq!(status(&app, Method::GET, &orders, box_office, None).await, 200);
    let paid = app.call(Method::POST, &mark(&held[0]), Some(box_office), None).await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("confirmed")), "{paid:?}");
    assert_eq!(status(&app, Method::POST, &cancel(&held[0]), box_office, None).await, 403);
    let edit = json!({"title": "Renamed by the box office"});
    assert_eq!(status(&app, Method::PATCH, &format!("/api/v1/events/{event}"), box_office, Some(edit)).await, 403);
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/audit"), box_office, None).await, 403);

    // The door admits the ticket the box office sold.
    let booking = app.get(&format!("/api/v1/bookings/{}", held[0]), Some(buyer)).await.body;
    let code = booking["tickets"][0]["code"].as_str().unwrap().to_owned();
    let scanned = app.post(&format!("/api/v1/events/{event}/check-ins"), Some(door), json!({"code": code})).await;
    assert_eq!(scanned.status, StatusCode::OK, "{scanned:?}");
    let undo = format!("/api/v1/events/{event}/check-ins/{code}");
    assert_eq!(status(&app, Method::DELETE, &undo, door, None).await, 204);

    // The manager: events, orders, refunds, the log; not the members.
    let edit = json!({"title": "Team Night II"});
    assert_eq!(status(&app, Method::PATCH, &format!("/api/v1/events/{event}"), manager, Some(edit)).await, 200);
    assert_eq!(status(&app, Method::POST, &mark(&held[1]), manager, None).await, 200);
    let refunded = app.post(&cancel(&held[1]), Some(manager), json!({})).await;
    assert_eq!(refunded.status, StatusCode::OK, "{refunded:?}");
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/members"), manager, None).await, 403);
    let invite = json!({"email": "someone@example.org", "role": "owner"});
    let path = format!("/api/v1/organizations/{org}/invitations");
    assert_eq!(status(&app, Method::POST, &path, manager, Some(invite)).await, 403);

    // Someone outside: the organization does not exist for them; its
    // published event is seen but not changed.
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/members"), &stranger, None).await, 404);
    assert_eq!(status(&app, Method::GET, &orders, &stranger, None).await, 403);
    assert_eq!(status(&app, Method::POST, &mark(&held[1]), &stranger, None).await, 403);

    // A draft of the organization: its members see it, nobody else does.
    let draft =
        app.create_event(&owner, json!({"organization_id": org, "title": "Draft of the team"})).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/events/{draft}"), door, None).await, 200);
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/events/{draft}"), &stranger, None).await, 404);
    assert_eq!(status(&app, Method::PATCH, &format!("/api/v1/events/{draft}"), &stranger, Some(json!({}))).await, 404);
    // Only who may create events there does.
    let mut body = crate::helpers::event_body();
    body["organization_id"] = json!(org);
    assert_eq!(status(&app, Method::POST, "/api/v1/events", door, Some(body.clone())).await, 403);
    assert_eq!(status(&app, Method::POST, "/api/v1/events", &stranger, Some(body.clone())).await, 404);
    assert_eq!(status(&app, Method::POST, "/api/v1/events", manager, Some(body)).await, 201);
    // The organization's events are every member's to list.
    let mine = app.get("/api/v1/me/events", Some(door)).await;
    let listed: Vec<&str> =
        mine.body["items"].as_array().map_or(Vec::new(), |a| a.iter().filter_map(|e| e["id"].as_str()).collect());
    assert!(listed.contains(&event.as_str()) && listed.contains(&draft.as_str()), "{mine:?}");

    // The log: who did what, newest first.
    let log = app.get(&format!("/api/v1/organizations/{org}/audit"), Some(manager)).await;
    assert_eq!(log.status, StatusCode::OK);
    let actions: Vec<&str> = log.body.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for expected in ["booking.marked_paid", "booking.cancelled", "event.updated", "check_in.undone", "member.joined"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let cancelled = log.body.as_array().unwrap().iter().find(|e| e["action"] == "booking.cancelled").unwrap();
    assert_eq!(cancelled["actor_id"].as_str(), Some(id_of(&app, manager).await.as_str()), "{cancelled}");
    assert_eq!(cancelled["event_id"].as_str(), Some(event.as_str()));
    // The invoices of the organization's sales are the organization's series.
    let series: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT DISTINCT organizer_id FROM invoices").fetch_all(app.db()).await.unwrap();
    assert_eq!(series, [org.parse::<uuid::Uuid>().unwrap()]);
    let violations =
        boxoffice::db::invariants::invoice_violations(app.db(), ticket_type.parse().unwrap()).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_is_one_addresss_once_within_seven_days_and_an_organization_keeps_an_owner() {
    let Team { app, sink, owner, org, .. } = team().await;
    let people = app.users(3).await;
    let [invited, other, late] = [&people[0], &people[1], &people[2]];
    let email = email_of(&app, invited).await;
    let path = format!("/api/v1/organizations/{org}/invitations");
    // Bad input, named by field.
    let bad = app.post(&path, Some(&owner), json!({"email": "not an address", "role": "admin"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = bad.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["email", "role"], "{bad:?}");

    let invited_reply = app.post(&path, Some(&owner), json!({"email": email, "role": "manager"})).await;
    assert_eq!(invited_reply.status, StatusCode::CREATED);
    assert!(invited_reply.body.get("token").is_none(), "the link goes by email only");
    let mail = invitation_to(&sink, &email).await;
    assert!(mail.data.contains("Konzerthaus GmbH") && mail.data.contains("Manager"), "{}", mail.data);
    let token = token_in(&mail);
    let preview = app.get(&format!("/api/v1/invitations/{token}"), None).await;
    assert_eq!(
        (preview.body["organization"].as_str(), preview.body["role"].as_str()),
        (Some("Konzerthaus GmbH"), Some("manager"))
    );
    let accept = format!("/api/v1/invitations/{token}/accept");
    // Another account cannot take it.
    let wrong = app.post(&accept, Some(other), json!({})).await;
    assert_eq!((wrong.status, wrong.body["code"].as_str()), (StatusCode::CONFLICT, Some("wrong_account")));
    assert_eq!(app.post(&accept, Some(invited), json!({})).await.status, StatusCode::OK);
    // Once.
    let again = app.post(&accept, Some(invited), json!({})).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("invitation_used")));
    let bogus = app.post("/api/v1/invitations/not-a-token/accept", Some(invited), json!({})).await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);
    // Seven days.
    let late_email = email_of(&app, late).await;
    assert_eq!(
        app.post(&path, Some(&owner), json!({"email": late_email, "role": "door"})).await.status,
        StatusCode::CREATED
    );
    let late_token = token_in(&invitation_to(&sink, &late_email).await);
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1")
        .bind(late_email.to_lowercase())
        .execute(app.db())
        .await
        .unwrap();
    let expired = app.post(&format!("/api/v1/invitations/{late_token}/accept"), Some(late), json!({})).await;
    assert_eq!((expired.status, expired.body["code"].as_str()), (StatusCode::CONFLICT, Some("invitation_expired")));

    // An owner withdraws an invitation: its link stops working.
    let withdrawn = app.users(1).await.remove(0);
    let withdrawn_email = email_of(&app, &withdrawn).await;
    let made = app.post(&path, Some(&owner), json!({"email": withdrawn_email, "role": "door"})).await;
    let withdrawn_token = token_in(&invitation_to(&sink, &withdrawn_email).await);
    let this = format!("/api/v1/organizations/{org}/invitations/{}", made.body["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &this, Some(invited), None).await.status,
        StatusCode::FORBIDDEN,
        "a manager may not"
    );
    assert_eq!(app.call(Method::DELETE, &this, Some(&owner), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &this, Some(&owner), None).await.status, StatusCode::NOT_FOUND);
    let gone = app.post(&format!("/api/v1/invitations/{withdrawn_token}/accept"), Some(&withdrawn), json!({})).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // The organization lists its members and open invitations.
    let members = app.get(&format!("/api/v1/organizations/{org}/members"), Some(&owner)).await.body;
    let roles: Vec<&str> = members["members"].as_array().unwrap().iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["owner", "manager"], "{members}");
    assert_eq!(members["invitations"].as_array().unwrap().len(), 1, "the run-out one, still open: {members}");

    // The last owner cannot step down or leave; with a second owner they can.
    let owner_id = id_of(&app, &owner).await;
    let me = format!("/api/v1/organizations/{org}/members/{owner_id}");
    let down = app.call(Method::PATCH, &me, Some(&owner), Some(json!({"role": "manager"}))).await;
    assert_eq!((down.status, down.body["code"].as_str()), (StatusCode::CONFLICT, Some("last_owner")));
    let leave = app.call(Method::DELETE, &me, Some(&owner), None).await;
    assert_eq!((leave.status, leave.body["code"].as_str()), (StatusCode::CONFLICT, Some("last_owner")));
    let invited_id = id_of(&app, invited).await;
    let them = format!("/api/v1/organizations/{org}/members/{invited_id}");
    let bad_role = app.call(Method::PATCH, &them, Some(&owner), Some(json!({"role": "boss"}))).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    let up = app.call(Method::PATCH, &them, Some(&owner), Some(json!({"role": "owner"}))).await;
    assert_eq!((up.status, up.body["role"].as_str()), (StatusCode::OK, Some("owner")), "{up:?}");
    assert_eq!(app.call(Method::DELETE, &me, Some(&owner), None).await.status, StatusCode::NO_CONTENT);
    // Gone: the organization is no longer theirs to see.
    assert_eq!(status(&app, Method::GET, &format!("/api/v1/organizations/{org}/members"), &owner, None).await, 404);
    let log = app.get(&format!("/api/v1/organizations/{org}/audit"), Some(invited)).await.body;
    let actions: Vec<&str> = log.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(&actions[..3], ["member.left", "member.role_changed", "member.invitation_withdrawn"], "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_account_cannot_join_and_everyone_starts_with_a_personal_organization() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url(), "--email-verification", "on"])).await;
    let owner = app.users(1).await.remove(0);
    let org = app.post("/api/v1/organizations", Some(&owner), json!({"name": "Club"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (unverified, _) = app.user().await;
    let email = email_of(&app, &unverified).await;
    let path = format!("/api/v1/organizations/{org}/invitations");
    assert_eq!(
        app.post(&path, Some(&owner), json!({"email": email, "role": "door"})).await.status,
        StatusCode::CREATED
    );
    let token = token_in(&invitation_to(&sink, &email).await);
    let refused = app.post(&format!("/api/v1/invitations/{token}/accept"), Some(&unverified), json!({})).await;
    assert_eq!((refused.status, refused.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("email_unverified")));

    // An organizer's first event lands in their personal organization, whose id is theirs.
    let event = app.published_event(&owner, json!({"title": "Mine"})).await;
    let id = id_of(&app, &owner).await;
    assert_eq!(event["organization_id"].as_str(), Some(id.as_str()), "{event}");
    let orgs = app.get("/api/v1/organizations", Some(&owner)).await.body;
    let listed: Vec<(bool, &str)> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["personal"].as_bool().unwrap(), o["role"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [(true, "owner"), (false, "owner")], "{orgs}");
    let empty = app.post("/api/v1/organizations", Some(&owner), json!({"name": " "})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emailed_link_signs_in_joins_and_shows_the_teams_events() {
    let Team { app, sink, owner, org, event, .. } = team().await;
    let member = app.users(1).await.remove(0);
    let email = email_of(&app, &member).await;
    let path = format!("/api/v1/organizations/{org}/invitations");
    assert_eq!(
        app.post(&path, Some(&owner), json!({"email": email, "role": "box_office"})).await.status,
        StatusCode::CREATED
    );
    let token = token_in(&invitation_to(&sink, &email).await);
    let link = format!("/invitations/{token}");

    // Opened signed out: what it offers, and a way to sign in that comes back.
    let mut visit = crate::pages::Visit::new(&app);
    let offered = visit.get(&link).await;
    assert_eq!(offered.status, StatusCode::OK);
    assert!(offered.body.contains("Konzerthaus GmbH") && offered.body.contains("Box office"), "{}", offered.body);
    let sign_in = format!("/login?next={link}");
    assert!(offered.body.contains(&sign_in), "{}", offered.body);
    let login = visit.get(&sign_in).await;
    let csrf = login.hidden("csrf");
    let signed_in = visit
        .post("/login", &[("csrf", &csrf), ("email", &email), ("password", crate::helpers::PASSWORD), ("next", &link)])
        .await;
    assert_eq!((signed_in.status, signed_in.location()), (StatusCode::SEE_OTHER, link.as_str()), "{}", signed_in.body);
    let again = visit.get(&link).await;
    assert!(again.body.contains("Join Konzerthaus GmbH"), "{}", again.body);
    let csrf = again.hidden("csrf");
    let joined = visit.post(&link, &[("csrf", &csrf)]).await;
    assert_eq!((joined.status, joined.location()), (StatusCode::SEE_OTHER, "/manage"), "{}", joined.body);
    let manage = visit.get("/manage").await;
    assert_eq!(manage.status, StatusCode::OK);
    assert!(
        manage.body.contains("Team Night")
            && manage.body.contains("Konzerthaus GmbH (Box office)")
            && manage.body.contains(&format!("href=\"/manage/events/{event}\"")),
        "the team's event listed, with the organization and the role: {}",
        manage.body
    );
    // Used: the link says so, next to nothing to press.
    let used = visit.get(&link).await;
    assert_eq!(used.status, StatusCode::CONFLICT);
    assert!(
        used.body.contains("This invitation was used already") && !used.body.contains("Join Konzerthaus"),
        "{}",
        used.body
    );
    let bogus = visit.get("/invitations/nothing-here").await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);
    assert!(bogus.body.contains("This invitation link is not valid"), "{}", bogus.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_demoted_in_their_own_organization_loses_what_the_role_took() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(2).await;
    let [alice, bob] = [&people[0], &people[1]];
    // Alice's first event makes her personal organization.
    app.published_event(alice, json!({"title": "Alice's"})).await;
    let org = id_of(&app, alice).await;
    join(&app, &sink, alice, &org, bob, "owner").await;
    let member = format!("/api/v1/organizations/{org}/members/{org}");
    let demoted = app.call(Method::PATCH, &member, Some(bob), Some(json!({"role": "door"}))).await;
    assert_eq!(demoted.status, StatusCode::OK, "{demoted:?}");
    // Her events there, and its billing, are no longer hers to make or change.
    let made = app.create_event(alice, json!({})).await;
    assert_eq!((made.status, made.body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{made:?}");
    let billing = app.get("/api/v1/me/billing", Some(alice)).await;
    assert_eq!(billing.status, StatusCode::FORBIDDEN, "{billing:?}");
    let export = app.get("/api/v1/me/invoices.zip?from=2020-01-01&to=2030-12-31", Some(alice)).await;
    assert_eq!(export.status, StatusCode::FORBIDDEN);
    // Bob, an owner of it, works in it by its id.
    let mut body = crate::helpers::event_body();
    body["organization_id"] = json!(org);
    assert_eq!(status(&app, Method::POST, "/api/v1/events", bob, Some(body)).await, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_runs_the_team_from_the_back_office() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(3).await;
    let [owner, manager, door] = [&people[0], &people[1], &people[2]];
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email_of(&app, owner).await).await;
    let teams = visit.get("/manage/organizations").await;
    assert_eq!(teams.status, StatusCode::OK);
    // A name missing is said next to its field.
    let csrf = teams.hidden("csrf");
    let refused = visit.post("/manage/organizations", &[("csrf", &csrf), ("name", "  ")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("name-error"), "{}", refused.body);
    let made = visit.post("/manage/organizations", &[("csrf", &csrf), ("name", "Jazzkeller e.V.")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let page = made.location().to_owned();
    let org = page.trim_start_matches("/manage/organizations/").to_owned();
    let shown = visit.get(&page).await;
    assert!(shown.body.contains("Jazzkeller e.V.") && shown.body.contains("Invite someone"), "{}", shown.body);

    // Inviting: a bad address next to its field; a good one mailed and listed.
    let invite = format!("{page}/invitations");
    let bad = visit.post(&invite, &[("csrf", &csrf), ("email", "nobody"), ("role", "manager")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("email-error") && bad.body.contains("value=\"nobody\""), "{}", bad.body);
    let manager_email = email_of(&app, manager).await;
    let sent = visit.post(&invite, &[("csrf", &csrf), ("email", &manager_email), ("role", "manager")]).await;
    assert_eq!((sent.status, sent.location()), (StatusCode::SEE_OTHER, format!("{page}?done=invited").as_str()));
    let listed = visit.get(&format!("{page}?done=invited")).await;
    assert!(listed.body.contains("Invitation sent.") && listed.body.contains(&manager_email), "{}", listed.body);
    let token = token_in(&invitation_to(&sink, &manager_email).await);
    assert_eq!(
        app.post(&format!("/api/v1/invitations/{token}/accept"), Some(manager), json!({})).await.status,
        StatusCode::OK
    );
    join(&app, &sink, owner, &org, door, "door").await;

    // The last owner cannot step down: said on the page.
    let owner_id = id_of(&app, owner).await;
    let down = visit.post(&format!("{page}/{owner_id}/role"), &[("csrf", &csrf), ("role", "manager")]).await;
    assert_eq!(down.status, StatusCode::CONFLICT);
    assert!(down.body.contains("keeps at least one owner"), "{}", down.body);
    // The door becomes box office.
    let door_id = id_of(&app, door).await;
    let changed = visit.post(&format!("{page}/{door_id}/role"), &[("csrf", &csrf), ("role", "box_office")]).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let members = app.get(&format!("/api/v1/organizations/{org}/members"), Some(owner)).await.body;
    let roles: Vec<&str> = members["members"].as_array().unwrap().iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["owner", "manager", "box_office"], "{members}");
    let log = visit.get(&page).await;
    assert!(log.body.contains("member.role_changed") && log.body.contains("member.joined"), "{}", log.body);
    // A role that is none: said above the members, 422; a form without its token: refused.
    let bad = visit.post(&format!("{page}/{door_id}/role"), &[("csrf", &csrf), ("role", "boss")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("one of owner, manager, box_office, door"), "{}", bad.body);
    let forged = visit.post(&format!("{page}/{door_id}/remove"), &[("csrf", "forged")]).await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER, "{}", forged.body);
    let unknown = visit.post(&format!("{page}/{door_id}/promote"), &[("csrf", &csrf)]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A manager sees the log, not the members; the box office not the page.
    let mut as_manager = crate::pages::Visit::new(&app);
    as_manager.sign_in(&manager_email).await;
    let theirs = as_manager.get(&page).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(theirs.body.contains("member.role_changed") && !theirs.body.contains("Invite someone"), "{}", theirs.body);
    let mut as_box_office = crate::pages::Visit::new(&app);
    as_box_office.sign_in(&email_of(&app, door).await).await;
    assert_eq!(as_box_office.get(&page).await.status, StatusCode::NOT_FOUND);
    let csrf = as_box_office.get("/manage/organizations").await.hidden("csrf");
    let tried = as_box_office.post(&format!("{page}/{owner_id}/remove"), &[("csrf", &csrf)]).await;
    assert_eq!(tried.status, StatusCode::NOT_FOUND, "not theirs to change");
    // With a second owner, the first may step down: back to their list (the page is no longer theirs).
    let csrf = visit.get(&page).await.hidden("csrf");
    let manager_id = id_of(&app, manager).await;
    let up = visit.post(&format!("{page}/{manager_id}/role"), &[("csrf", &csrf), ("role", "owner")]).await;
    assert_eq!(up.status, StatusCode::SEE_OTHER);
    let down = visit.post(&format!("{page}/{owner_id}/role"), &[("csrf", &csrf), ("role", "door")]).await;
    assert_eq!((down.status, down.location()), (StatusCode::SEE_OTHER, "/manage/organizations"));
    assert_eq!(visit.get("/manage/organizations").await.status, StatusCode::OK);
    // A person's own organization keeps them (another role, yes; out, no).
    let own = id_of(&app, owner).await;
    let keep = app.call(Method::DELETE, &format!("/api/v1/organizations/{own}/members/{own}"), Some(owner), None).await;
    assert_eq!(keep.status, StatusCode::CONFLICT, "{keep:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_pages_in_a_browser_at_1280_and_375_px() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(2).await;
    let (owner, invitee) = (email_of(&app, &people[0]).await, email_of(&app, &people[1]).await);
    let browser = crate::browser::Browser::start("team-back-office").await;
    browser.sign_in(&app.base, &owner).await;
    browser.goto(&app.url("/manage")).await;
    browser.click("Teams").await;
    browser.wait_for_path("/manage/organizations").await;
    browser.fill("Name", "Philharmonie").await;
    browser.click("Create").await;
    browser.wait_for_text("Invite someone").await;
    browser.fill("Email", "nobody").await;
    browser.click("Invite").await;
    browser.wait_for_text("must be an email address like name@example.com").await;
    browser.accessibility().await;
    browser.fill("Email", &invitee).await;
    browser.click("Invite").await;
    browser.wait_for_text("Invitation sent.").await;
    browser.accessibility().await;
    browser.screenshot("team-1280").await;

    // The invitee opens the emailed link on a phone, signs in, joins.
    let token = token_in(&invitation_to(&sink, &invitee).await);
    let phone = crate::browser::Browser::start_with("team-phone", &["--window-size=375,812".to_owned()]).await;
    phone.sign_in(&app.base, &invitee).await;
    phone.goto(&app.url(&format!("/invitations/{token}"))).await;
    phone.wait_for_text("Join Philharmonie").await;
    phone.accessibility().await;
    let fits = phone.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
    assert_eq!(fits, json!(true), "no sideways scrolling at 375 px");
    phone.screenshot("invitation-375").await;
    phone.click("Join Philharmonie").await;
    phone.wait_for_path("/manage").await;
    // The owner's page lists them now, and fits a phone too.
    let owner_phone =
        crate::browser::Browser::start_with("team-owner-phone", &["--window-size=375,812".to_owned()]).await;
    owner_phone.sign_in(&app.base, &owner).await;
    owner_phone.goto(&app.url("/manage/organizations")).await;
    owner_phone.click("Philharmonie").await;
    owner_phone.wait_for_text(&invitee.to_lowercase()).await;
    owner_phone.screenshot("team-375").await;
    let fits =
        owner_phone.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
    let wide = owner_phone
        .execute(
            "return [...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
            json!([]),
        )
        .await;
    assert_eq!(fits, json!(true), "the members' table fits 375 px: {wide}");
}

/// The bytes of a download (200 asserted).
async fn download(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let response = reqwest::Client::new().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_invoices_under_its_own_details_and_series_and_its_owners_run_them() {
    let Team { app, sink, owner, org, event, ticket_type } = team().await;
    let people = app.users(2).await;
    let [manager, buyer] = [&people[0], &people[1]];
    join(&app, &sink, &owner, &org, manager, "manager").await;
    let billing = format!("/api/v1/organizations/{org}/billing");

    // Until set, there are none; a manager may not read or set them, a stranger learns nothing.
    assert_eq!(app.get(&billing, Some(&owner)).await.status, StatusCode::NOT_FOUND);
    let details = json!({"legal_name": "Konzerthaus GmbH", "address": "Gendarmenmarkt 1\n10117 Berlin",
                         "tax_id": "DE123456789", "invoice_prefix": "KH"});
    assert_eq!(status(&app, Method::PUT, &billing, manager, Some(details.clone())).await, 403);
    assert_eq!(status(&app, Method::GET, &billing, manager, None).await, 403);
    assert_eq!(status(&app, Method::GET, &billing, buyer, None).await, 404);
    let bad = app.call(Method::PUT, &billing, Some(&owner), Some(json!({"legal_name": "", "address": "x"}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    let saved = app.call(Method::PUT, &billing, Some(&owner), Some(details)).await;
    assert_eq!((saved.status, saved.body["invoice_prefix"].as_str()), (StatusCode::OK, Some("KH")), "{saved:?}");
    // The owner's own details are their own: still none.
    assert_eq!(app.get("/api/v1/me/billing", Some(&owner)).await.status, StatusCode::NOT_FOUND);

    // A booking of the team's event paid by the manager: invoiced in the team's series, naming it.
    let booking = app.book_final(buyer, &ticket_type, 1).await.to_string();
    assert_eq!(app.mark_paid(manager, &event, &booking).await.status, StatusCode::OK);
    let invoices = app.get(&format!("/api/v1/bookings/{booking}/invoices"), Some(buyer)).await.body;
    let number = invoices[0]["number"].as_str().unwrap_or_else(|| panic!("{invoices}")).to_owned();
    let year = chrono::Datelike::year(&chrono::Utc::now());
    assert_eq!(number, format!("KH-{year}-00001"), "{invoices}");
    let text =
        crate::invoices::pdf_text(&app, buyer, &format!("/api/v1/bookings/{booking}/invoices/{number}.pdf")).await;
    assert!(text.contains("Konzerthaus GmbH") && text.contains("DE123456789"), "{text}");

    // The period's export: the owner's, not the manager's.
    let period = format!("/api/v1/organizations/{org}/invoices.zip?from={year}-01-01&to={year}-12-31");
    assert_eq!(status(&app, Method::GET, &period, manager, None).await, 403);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(download(&app, &owner, &period).await)).expect("a ZIP");
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    assert!(names.contains(&format!("{number}.pdf")) && names.contains(&"ledger.csv".to_owned()), "{names:?}");
    let mut ledger = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("ledger.csv").unwrap(), &mut ledger).unwrap();
    assert!(ledger.contains(&number), "{ledger}");
    // The owner's personal export has none of the team's.
    let own = download(&app, &owner, &format!("/api/v1/me/invoices.zip?from={year}-01-01&to={year}-12-31")).await;
    let own = zip::ZipArchive::new(std::io::Cursor::new(own)).expect("a ZIP");
    assert!(own.file_names().all(|n| !n.starts_with("KH-")), "{:?}", own.file_names().collect::<Vec<_>>());

    // The back office: the team's page links its billing details; a prefix that is
    // none is said next to its field; saved, the page says so.
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email_of(&app, &owner).await).await;
    let team_page = visit.get(&format!("/manage/organizations/{org}")).await;
    let link = format!("/manage/organizations/{org}/billing");
    assert!(team_page.body.contains(&format!("href=\"{link}\"")), "{}", team_page.body);
    let form = visit.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("Billing details of Konzerthaus GmbH") && form.body.contains("DE123456789"),
        "{}",
        form.body
    );
    let csrf = form.hidden("csrf");
    let fields = |prefix: &'static str| {
        let csrf = csrf.clone();
        move || {
            vec![
                ("csrf".to_owned(), csrf.clone()),
                ("legal_name".to_owned(), "Konzerthaus GmbH".to_owned()),
                ("address".to_owned(), "Gendarmenmarkt 1".to_owned()),
                ("tax_id".to_owned(), "DE123456789".to_owned()),
                ("invoice_footer".to_owned(), String::new()),
                ("invoice_prefix".to_owned(), prefix.to_owned()),
            ]
        }
    };
    let post = |fields: Vec<(String, String)>| fields;
    let bad = post(fields("kh-2")());
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = visit.post(&link, &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("invoice_prefix-error"), "{}", refused.body);
    let good = post(fields("KH")());
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = visit.post(&link, &good).await;
    assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, format!("{link}?saved=1").as_str()));
    assert!(visit.get(done.location()).await.body.contains("Saved."));
    let export =
        visit.get(&format!("/manage/organizations/{org}/invoices.zip?from={year}-01-01&to={year}-12-31")).await;
    assert_eq!(export.status, StatusCode::OK);
    let wrong = visit.get(&format!("/manage/organizations/{org}/invoices.zip?from=soon&to={year}-12-31")).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("period_from-error"), "{}", wrong.body);
    // The manager's back office has no such page.
    let mut as_manager = crate::pages::Visit::new(&app);
    as_manager.sign_in(&email_of(&app, manager).await).await;
    assert_eq!(as_manager.get(&link).await.status, StatusCode::NOT_FOUND);
    assert!(!as_manager.get(&format!("/manage/organizations/{org}")).await.body.contains(&link));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_event_page_creates_in_the_chosen_organization() {
    let Team { app, sink, owner, org, .. } = team().await;
    let door = app.users(1).await.remove(0);
    join(&app, &sink, &owner, &org, &door, "door").await;
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email_of(&app, &owner).await).await;
    let form = visit.get("/manage/events/new").await;
    assert!(
        form.body.contains("name=\"organization_id\"") && form.body.contains("Konzerthaus GmbH"),
        "the choice: {}",
        form.body
    );
    let csrf = form.hidden("csrf");
    let fields = |organization: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("organization_id".to_owned(), organization.to_owned()),
            ("title".to_owned(), "Chamber Night".to_owned()),
            ("venue".to_owned(), "Kleiner Saal".to_owned()),
            ("starts_at".to_owned(), "2031-05-01T19:30".to_owned()),
            ("timezone".to_owned(), "Europe/Berlin".to_owned()),
            ("currency".to_owned(), "EUR".to_owned()),
            ("prequeue_minutes".to_owned(), "0".to_owned()),
            ("hold_seconds".to_owned(), "600".to_owned()),
            ("offline_hold_hours".to_owned(), "24".to_owned()),
            ("offer_hours".to_owned(), "24".to_owned()),
            ("ticket_types[0].name".to_owned(), "Standard".to_owned()),
            ("ticket_types[0].price".to_owned(), "20".to_owned()),
            ("ticket_types[0].capacity".to_owned(), "80".to_owned()),
            ("ticket_types[0].max_per_order".to_owned(), "4".to_owned()),
            ("action".to_owned(), "save".to_owned()),
        ]
    };
    let send = |fields: Vec<(String, String)>| fields;
    let made = send(fields(&org));
    let made: Vec<(&str, &str)> = made.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let created = visit.post("/manage/events/new", &made).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let dashboard = visit.get(created.location()).await;
    assert_eq!(dashboard.status, StatusCode::OK);
    let id = created.location().trim_start_matches("/manage/events/").to_owned();
    let event = app.get(&format!("/api/v1/events/{id}"), Some(&owner)).await.body;
    assert_eq!(event["organization_id"].as_str(), Some(org.as_str()), "{event}");
    // The team sees it: the door member's events list it.
    let theirs = app.get("/api/v1/me/events", Some(&door)).await.body.to_string();
    assert!(theirs.contains(&id), "{theirs}");

    // The door member may not create in the team: no choice offered, and a forged one said at the field.
    let mut as_door = crate::pages::Visit::new(&app);
    as_door.sign_in(&email_of(&app, &door).await).await;
    let theirs = as_door.get("/manage/events/new").await;
    assert!(!theirs.body.contains("name=\"organization_id\""), "{}", theirs.body);
    let mut forged = fields(&org);
    forged[0].1 = theirs.hidden("csrf");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = as_door.post("/manage/events/new", &forged).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert!(refused.body.contains("does not allow new events"), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_message_billing_and_check_in_list_pages_in_a_browser_at_375_and_1280_px() {
    let Team { app, owner, org, event, ticket_type, .. } = team().await;
    let made = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks"),
            Some(&owner),
            json!({"url": "https://hooks.example.com/boxoffice/a-rather-long-path-that-must-wrap-on-a-phone",
                   "events": ["booking.confirmed", "event.published"], "description": "The CRM"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let endpoint = made.body["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/organizations/{org}/webhooks/{endpoint}/test"), Some(&owner), json!({})).await;
    let buyer = app.users(1).await.remove(0);
    let held = app.book_final(&buyer, &ticket_type, 1).await;
    assert_eq!(app.mark_paid(&owner, &event, &held.to_string()).await.status, StatusCode::OK);
    let email = email_of(&app, &owner).await;
    let pages = [
        (format!("/manage/organizations/{org}/webhooks"), "New endpoint"),
        (format!("/manage/organizations/{org}/webhooks/{endpoint}"), "Signing secret"),
        (format!("/manage/organizations/{org}/billing"), "Billing details of Konzerthaus GmbH"),
        (format!("/manage/events/{event}/messages"), "Write to the people of Team Night"),
        (format!("/manage/events/{event}/door/lists"), "No lists yet"),
    ];
    for (name, size) in [("pages-1280", "1280,900"), ("pages-375", "375,812")] {
        let browser = crate::browser::Browser::start_with(name, &[format!("--window-size={size}")]).await;
        browser.sign_in(&app.base, &email).await;
        for (n, (path, heading)) in pages.iter().enumerate() {
            browser.goto(&app.url(path)).await;
            browser.wait_for_text(heading).await;
            browser.accessibility().await;
            let fits =
                browser.execute("return document.documentElement.scrollWidth <= window.innerWidth;", json!([])).await;
            assert_eq!(fits, json!(true), "{path} is wider than the window at {size}");
            browser.screenshot(&format!("page-{n}")).await;
        }
        // A message previewed in the browser: the count and the copy.
        browser.goto(&app.url(&format!("/manage/events/{event}/messages"))).await;
        browser.fill("Subject", "Doors at 7").await;
        browser.type_into("#body", "Hello {name}").await;
        browser.click("Preview").await;
        browser.wait_for_text("Preview: 1 person").await;
        browser.accessibility().await;
    }
}
