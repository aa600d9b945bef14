//! Talking to the parts directly (PostgreSQL, RabbitMQ) with the server's
//! own code, for the scenarios that measure a part alone.

use boxoffice::app::AppState;
use boxoffice::db;
use boxoffice::domain::booking::AcceptedRequest;
use boxoffice::domain::event::{EventStatus, Schedule};
use chrono::Utc;
use uuid::Uuid;

/// A published event with one free ticket type, made straight in PostgreSQL:
/// (user id, event id, ticket type id). Free, so its bookings are confirmed
/// with their tickets and confirmation emails, as in the free flash sale the
/// ceilings are compared with (a priced type would be held: no tickets, no
/// email, a cheaper transaction).
pub async fn sale(state: &AppState, capacity: i32, max_per_order: i32) -> anyhow::Result<(Uuid, Uuid, Uuid)> {
    let mut conn = state.db.acquire().await?;
    let email = format!("direct-{}@loadgen.test", Uuid::new_v4().simple());
    let user = db::users::insert(&mut conn, &email, "Load Test", "not-a-login").await?;
    let fields = db::events::EventFields {
        title: "Direct".into(),
        description: String::new(),
        venue: "Bench".into(),
        cancellation_deadline: None,
        hold_times: Default::default(),
        prequeue_minutes: 0,
        offer_hours: 24,
        timezone: "UTC".into(),
        schedule: Schedule {
            starts_at: Utc::now() + chrono::Duration::days(30),
            ends_at: None,
            sales_start: None,
            sales_end: None,
        },
    };
    let organization = db::teams::ensure_personal(&mut conn, user.id).await?;
    let event = db::events::insert_event(&mut conn, user.id, organization, &fields, EventStatus::Published).await?;
    let tt = db::events::TicketTypeFields {
        tax_rate: 0,
        name: "General".into(),
        price_cents: 0,
        currency: "EUR".into(),
        capacity,
        max_per_order,
        max_per_buyer: None,
        hidden: false,
        attendee_names: Default::default(),
    };
    let tt = db::events::insert_ticket_type(&mut conn, event.id, &tt).await?;
    Ok((user.id, event.id, tt.id))
}

/// `count` booking requests for a ticket type, as the API would publish them.
pub fn requests(user: Uuid, event: Uuid, tt: Uuid, quantity: i32, count: usize) -> Vec<AcceptedRequest> {
    (0..count)
        .map(|_| AcceptedRequest {
            booking_id: Uuid::now_v7(),
            user_id: user,
            event_id: event,
            ticket_type_id: tt,
            quantity,
            idempotency_key: Some(Uuid::new_v4().to_string()),
            accepted_at: Utc::now(),
            unit_price_cents: Some(0),
            currency: Some("EUR".into()),
            code_id: None,
            presale_at: None,
            tax: None,
            details: Default::default(),
        })
        .collect()
}

/// The confirmed seats and every broken invariant (`db::invariants`).
pub async fn invariants(state: &AppState, tt: Uuid) -> anyhow::Result<(i64, Vec<String>)> {
    let seats = boxoffice::db::invariants::seats(&state.db, tt).await?;
    Ok((seats.confirmed, seats.violations()))
}
