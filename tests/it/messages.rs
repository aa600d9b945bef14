//! Issue 31, messages to attendees: an owner or manager writes to an
//! event's people (everyone, one ticket type, admitted or not, the waiting
//! list); each person gets one email with their own name and references,
//! queued through the outbox behind the booking emails.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{eventually, spawn_app_with, test_config};
use crate::smtp::SmtpSink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audience_gets_one_email_per_person_with_their_own_fields() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let people = app.users(6).await;
    let [owner, twice, other_type, admitted, waiting, box_office] =
        [&people[0], &people[1], &people[2], &people[3], &people[4], &people[5]];
    let event = app
        .published_event(
            owner,
            json!({"title": "Harbour Nights", "ticket_types": [
                {"name": "Standing", "price_cents": 0, "capacity": 20, "max_per_order": 2},
                {"name": "Balcony", "price_cents": 0, "capacity": 20},
                {"name": "Tiny", "price_cents": 0, "capacity": 1}]}),
        )
        .await;
    let id = event["id"].as_str().unwrap().to_owned();
    let tt = |i: usize| event["ticket_types"][i]["id"].as_str().unwrap().to_owned();
    let first = app.book_final(twice, &tt(0), 1).await;
    let second = app.book_final(twice, &tt(1), 1).await;
    app.book_final(other_type, &tt(1), 2).await;
    let scanned = app.book_final(admitted, &tt(0), 1).await;
    app.book_final(owner, &tt(2), 1).await;
    let joined =
        app.post(&format!("/api/v1/ticket-types/{}/waiting-list", tt(2)), Some(waiting), json!({"quantity": 1})).await;
    assert_eq!(joined.status, StatusCode::CREATED, "{joined:?}");
    let code = app.get(&format!("/api/v1/bookings/{scanned}"), Some(admitted)).await.body["tickets"][0]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let door = app.post(&format!("/api/v1/events/{id}/check-ins"), Some(owner), json!({"code": code})).await;
    assert_eq!(door.status, StatusCode::OK);
    let email = |token: &str| {
        let app = &app;
        let token = token.to_owned();
        async move { app.get("/api/v1/me", Some(&token)).await.body["email"].as_str().unwrap().to_owned() }
    };
    let owner_email = email(owner).await;
    // The owner's personal organization: its id is theirs.
    let org = app.get("/api/v1/me", Some(owner)).await.body["id"].as_str().unwrap().to_owned();
    crate::teams::join(&app, &sink, owner, &org, box_office, "box_office").await;

    // A field that is none, no text: said next to the field.
    let messages = format!("/api/v1/events/{id}/messages");
    let bad = app.post(&messages, Some(owner), json!({"audience": "all", "subject": "Hi {nmae}", "body": ""})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    let mut fields = bad.fields();
    fields.sort();
    assert_eq!(fields, ["body", "subject"], "{bad:?}");
    let no_type =
        app.post(&messages, Some(owner), json!({"audience": "ticket_type", "subject": "S", "body": "B"})).await;
    assert_eq!(no_type.fields(), ["ticket_type_id"], "{no_type:?}");
    // The box office may not write.
    let refused = app.post(&messages, Some(box_office), json!({"audience": "all", "subject": "S", "body": "B"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The preview: the count now, and one person's copy.
    let body = json!({"audience": "all", "subject": "{event}: doors at 19:00",
                      "body": "Hello {name},\n\nyour booking {reference} is ready. {{See you}}."});
    let preview = app.post(&format!("{messages}/preview"), Some(owner), body.clone()).await;
    assert_eq!(preview.status, StatusCode::OK, "{preview:?}");
    // twice, other_type, admitted, and the owner's own booking of Tiny.
    assert_eq!(preview.body["recipients"], 4, "{preview:?}");
    assert_eq!(preview.body["subject"], "Harbour Nights: doors at 19:00");
    assert!(preview.body["body"].as_str().unwrap().ends_with("{See you}."), "{preview:?}");

    let mark = sink.messages().len();
    let sent = app.post(&messages, Some(owner), body).await;
    assert_eq!((sent.status, sent.body["recipients"].as_i64()), (StatusCode::ACCEPTED, Some(4)), "{sent:?}");
    let arrived = eventually(Duration::from_secs(30), "four copies", || {
        let got: Vec<_> = sink.messages_since(mark).into_iter().filter(|m| m.data.contains("doors at 19:00")).collect();
        async move { (got.len() >= 4).then_some(got) }
    })
    .await;
    let twice_email = email(twice).await;
    let theirs: Vec<_> = arrived.iter().filter(|m| m.to == [twice_email.clone()]).collect();
    assert_eq!(theirs.len(), 1, "one email for two bookings");
    let refs: Vec<String> = futures::future::join_all([first, second].map(|b| {
        let app = &app;
        let twice = twice.to_owned();
        async move {
            app.get(&format!("/api/v1/bookings/{b}"), Some(&twice)).await.body["reference"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    let name = app.get("/api/v1/me", Some(twice)).await.body["name"].as_str().unwrap().to_owned();
    assert!(theirs[0].data.contains(&format!("Hello {name},")), "{}", theirs[0].data);
    assert!(theirs[0].data.contains(&format!("{}, {}", refs[0], refs[1])), "{}", theirs[0].data);

    // Each other audience reaches whom it says, once each.
    let admitted_email = email(admitted).await;
    let expected: [(&str, serde_json::Value, Vec<String>); 4] = [
        ("ticket_type", json!(tt(1)), vec![twice_email.clone(), email(other_type).await]),
        ("checked_in", json!(null), vec![admitted_email.clone()]),
        ("not_checked_in", json!(null), vec![twice_email.clone(), email(other_type).await, owner_email.clone()]),
        ("waiting_list", json!(null), vec![email(waiting).await]),
    ];
    for (audience, ticket_type, mut to) in expected {
        let subject = format!("Note for {audience}");
        let sent = app
            .post(
                &messages,
                Some(owner),
                json!({"audience": audience, "ticket_type_id": ticket_type, "subject": subject, "body": "Hi {name}"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{audience}: {sent:?}");
        let got = eventually(Duration::from_secs(30), &subject, || {
            let got: Vec<String> =
                sink.messages().into_iter().filter(|m| m.data.contains(&subject)).flat_map(|m| m.to).collect();
            let n = to.len();
            async move { (got.len() >= n).then_some(got) }
        })
        .await;
        let mut got = got;
        got.sort();
        to.sort();
        assert_eq!(got, to, "{audience}");
    }

    // The list says how many went; the log who wrote to how many.
    let list = eventually(Duration::from_secs(10), "every copy counted sent", || {
        let app = &app;
        let messages = messages.clone();
        async move {
            let list = app.get(&messages, Some(owner)).await.body;
            list.as_array().unwrap().iter().all(|m| m["sent"] == m["recipients"]).then_some(list)
        }
    })
    .await;
    assert_eq!(list.as_array().unwrap().len(), 5, "{list}");
    let audit = app.get(&format!("/api/v1/organizations/{org}/audit"), Some(owner)).await.body.to_string();
    assert!(audit.contains("message.sent") && audit.contains("\"recipients\":4"), "{audit}");

    // In the back office: previewed, then sent, said on the page.
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&owner_email).await;
    let page = visit.get(&format!("/manage/events/{id}")).await;
    let link = format!("/manage/events/{id}/messages");
    assert!(page.body.contains(&format!("href=\"{link}\"")), "{}", page.body);
    let form = visit.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.hidden("csrf");
    let shown = visit
        .post(
            &link,
            &[
                ("csrf", &csrf),
                ("audience", "checked_in"),
                ("subject", "Welcome"),
                ("body", "Hi {name}"),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("Preview: 1 person") && shown.body.contains("value=\"Welcome\""), "{}", shown.body);
    let wrong = visit
        .post(&link, &[("csrf", &csrf), ("audience", "all"), ("subject", ""), ("body", "x"), ("action", "send")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("subject-error"), "{}", wrong.body);
    let done = visit
        .post(
            &link,
            &[
                ("csrf", &csrf),
                ("audience", "checked_in"),
                ("subject", "Welcome"),
                ("body", "Hi {name}"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(done.location(), format!("{link}?sent=1"));
    assert!(visit.get(done.location()).await.body.contains("Queued for 1 person"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_thousand_waits_behind_the_booking_emails_of_a_sale() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(test_config(&["--smtp-url", &sink.url()])).await;
    let owner = app.users(1).await.remove(0);
    let (event, tt) = app.on_sale(&owner, 2000, 4).await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    // A thousand people with a ticket, written straight in (signing up a
    // thousand accounts through the API would only slow the test).
    sqlx::query(
        "WITH u AS (INSERT INTO users (id, email, name, password_hash, email_verified_at)
                    SELECT gen_random_uuid(), 'attendee-' || n || '-' || $3 || '@example.org', 'Attendee ' || n, 'x', now()
                    FROM generate_series(1, 1000) AS n RETURNING id)
         INSERT INTO bookings (id, user_id, event_id, ticket_type_id, quantity, status, accepted_at)
         SELECT gen_random_uuid(), u.id, $1::uuid, $2::uuid, 1, 'confirmed', now() FROM u",
    )
    .bind(&event_id)
    .bind(&tt)
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .execute(app.db())
    .await
    .unwrap();

    let (_, onsale) = app.on_sale(&owner, 100, 4).await;
    let buyers = app.users(30).await;
    // A sale in progress: the worker keeps deciding (held busy here until
    // the check below) while buyers book and the message is queued.
    let busy = app.state.activity.clone();
    let selling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let open = selling.clone();
    let sale = tokio::spawn(async move {
        while open.load(std::sync::atomic::Ordering::SeqCst) {
            busy.batch_decided();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let sent = app
        .post(
            &format!("/api/v1/events/{event_id}/messages"),
            Some(&owner),
            json!({"audience": "all", "subject": "Parking for {event}", "body": "Dear {name}, park at gate B."}),
        )
        .await;
    assert_eq!((sent.status, sent.body["recipients"].as_i64()), (StatusCode::ACCEPTED, Some(1000)), "{sent:?}");
    let bookings = futures::future::join_all(buyers.iter().map(|b| app.book_final(b, &onsale, 1))).await;
    assert_eq!(bookings.len(), 30);
    // While the sale decides, no message goes out; booking emails do.
    let confirmations = |sink: &SmtpSink| sink.messages().iter().filter(|m| m.data.contains("Your tickets")).count();
    eventually(Duration::from_secs(60), "booking emails during the sale", || {
        let n = confirmations(&sink);
        async move { (n >= 10).then_some(()) }
    })
    .await;
    let during = sink.messages().iter().filter(|m| m.data.contains("park at gate B")).count();
    assert_eq!(during, 0, "a message went out during the sale");
    selling.store(false, std::sync::atomic::Ordering::SeqCst);
    sale.await.unwrap();

    // Then all of them, one per person, and no booking email queued before
    // them left behind (a claim of 20 may mix the last few).
    let copies = eventually(Duration::from_secs(120), "a thousand copies", || {
        let got: Vec<Vec<String>> =
            sink.messages().into_iter().filter(|m| m.data.contains("park at gate B")).map(|m| m.to).collect();
        async move { (got.len() >= 1000).then_some(got) }
    })
    .await;
    let mut per_person: HashMap<String, usize> = HashMap::new();
    for to in copies.into_iter().flatten() {
        *per_person.entry(to).or_default() += 1;
    }
    assert_eq!(per_person.len(), 1000);
    assert!(per_person.values().all(|n| *n == 1), "someone got it twice");
    let (late,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM outbox c WHERE c.kind = 'booking_confirmed'
           AND c.sent_at > (SELECT min(sent_at) FROM outbox WHERE kind = 'attendee_message')",
    )
    .fetch_one(app.db())
    .await
    .unwrap();
    assert!(late < 20, "{late} booking emails went after the first message");
}
