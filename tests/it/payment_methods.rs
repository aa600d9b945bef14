//! Issue 29, payment methods per event: an event takes cards, offline
//! payment or both, of what the server has, and says how to pay offline.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, stripe_config, stripe_emulator};

/// On a server with Stripe, an event that takes only offline payment holds
/// its seats for an offline payment, with its own instructions, in the API
/// and on the booking page; another event of the server still takes cards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_taking_only_offline_payment_holds_for_it_with_its_own_instructions() {
    let stripe = stripe_emulator().await;
    let app = spawn_app_with(stripe_config(&stripe, &[])).await;
    let (organizer, _) = app.user().await;
    let (buyer, _) = app.user().await;
    let event = app
        .published_event(
            &organizer,
            json!({"payment_methods": ["offline"],
                   "offline_payment_instructions": "Transfer to DE02 1203 0000 0000 2020 51, quoting your booking reference.",
                   "ticket_types": [{"name": "Standard", "price_cents": 2500, "capacity": 10}]}),
        )
        .await;
    assert_eq!(event["payment_methods"], json!(["offline"]), "{event}");
    let tt = event["ticket_types"][0]["id"].as_str().unwrap();
    let booking = app.book_final(&buyer, tt, 1).await;
    let held = app.get(&format!("/api/v1/bookings/{booking}"), Some(&buyer)).await.body;
    assert_eq!(held["payment"]["provider"], "offline", "{held}");
    let how = app.post(&format!("/api/v1/bookings/{booking}/payment"), Some(&buyer), json!({})).await;
    assert_eq!(how.body["instructions"], "Transfer to DE02 1203 0000 0000 2020 51, quoting your booking reference.");

    let mut visit = crate::pages::Visit::new(&app);
    let email = app.get("/api/v1/me", Some(&buyer)).await.body["email"].as_str().unwrap().to_owned();
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/bookings/{booking}")).await;
    assert!(page.body.contains("DE02 1203 0000 0000 2020 51"), "{}", page.body);

    let (_, card_tt) = app.on_sale_priced(&organizer, 10, 2, 2500).await;
    let other = app.book_final(&buyer, &card_tt, 1).await;
    let other = app.get(&format!("/api/v1/bookings/{other}"), Some(&buyer)).await.body;
    assert_eq!(other["payment"]["provider"], "stripe", "the server's way where the event says nothing");

    // Back to the server's way: cards again for new holds.
    let event_id = event["id"].as_str().unwrap();
    let reset =
        app.patch(&format!("/api/v1/events/{event_id}"), Some(&organizer), json!({"payment_methods": null})).await;
    assert_eq!((reset.status, &reset.body["payment_methods"]), (StatusCode::OK, &json!(null)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_cannot_take_cards_the_server_cannot() {
    let app = spawn_app().await; // no Stripe here
    let (organizer, _) = app.user().await;
    let refused = app
        .create_event(
            &organizer,
            json!({"payment_methods": ["card"], "ticket_types": [{"name": "A", "price_cents": 100, "capacity": 5}]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    assert_eq!(refused.body["errors"][0]["field"], "payment_methods");
    let mine = app.get("/api/v1/me/events", Some(&organizer)).await.body;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(0), "nothing was created: {mine}");
    for bad in [json!([]), json!(["cash"])] {
        let refused = app.create_event(&organizer, json!({"payment_methods": bad})).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let long = app.create_event(&organizer, json!({"offline_payment_instructions": "x".repeat(2001)})).await;
    assert_eq!(long.body["errors"][0]["field"], "offline_payment_instructions");
    let fine = app.create_event(&organizer, json!({"payment_methods": ["offline"]})).await;
    assert_eq!(fine.status, StatusCode::CREATED);
}

/// The edit page sets them: the instructions typed there are what the
/// buyer of a hold reads; offline unticked on a server without cards is
/// refused next to the boxes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edit_page_sets_how_the_event_is_paid_for() {
    let app = spawn_app().await;
    let (organizer, _) = app.user().await;
    let (event, _) = app.on_sale_priced(&organizer, 10, 2, 1500).await;
    let id = event["id"].as_str().unwrap();
    let email = app.get("/api/v1/me", Some(&organizer)).await.body["email"].as_str().unwrap().to_owned();
    let mut visit = crate::pages::Visit::new(&app);
    visit.sign_in(&email).await;
    let page = visit.get(&format!("/manage/events/{id}/edit")).await;
    assert!(
        page.body.contains("Offline payment instructions") && !page.body.contains("Card (Stripe)"),
        "{}",
        page.body
    );
    let form = |page: &crate::pages::Page, instructions: &str, offline: bool| {
        let mut fields: Vec<(String, String)> = [
            "title",
            "venue",
            "starts_at",
            "timezone",
            "prequeue_minutes",
            "hold_seconds",
            "offline_hold_hours",
            "offer_hours",
            "currency",
            "sales_start",
            "cancellation_deadline",
        ]
        .iter()
        .map(|f| (f.to_string(), page.value_of(f)))
        .collect();
        for f in ["name", "price", "capacity", "max_per_order"] {
            let name = format!("ticket_types[0].{f}");
            fields.push((name.clone(), page.value_of(&name)));
        }
        fields.push(("csrf".into(), page.hidden("csrf")));
        fields.push(("payment_form".into(), page.hidden("payment_form")));
        fields.push(("offline_payment_instructions".into(), instructions.into()));
        if offline {
            fields.push(("pay_offline".into(), "on".into()));
        }
        fields
    };
    let fields = form(&page, "Pay at the box office, Tuesdays 10–18.", true);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let saved = visit.post(&format!("/manage/events/{id}/edit"), &pairs).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let event = app.get(&format!("/api/v1/events/{id}"), None).await.body;
    assert_eq!(event["offline_payment_instructions"], "Pay at the box office, Tuesdays 10–18.");
    assert_eq!(event["payment_methods"], json!(["offline"]));

    let page = visit.get(&format!("/manage/events/{id}/edit")).await;
    let fields = form(&page, "", false);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = visit.post(&format!("/manage/events/{id}/edit"), &pairs).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("at least one: card or offline"), "{}", refused.body);
}
