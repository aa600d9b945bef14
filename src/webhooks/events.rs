//! What a change announces to webhooks, written in the transaction that
//! made it (as the emails' outbox rows are): committed with the change, or
//! not at all. Organizations without an endpoint for the event cost one
//! indexed read.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::webhooks as db;

/// The body of an event: its type, when, and what it is about.
pub fn envelope(event_type: &str, data: Value) -> String {
    json!({"type": event_type, "timestamp": Utc::now(), "data": data}).to_string()
}

/// A booking as webhooks tell it.
#[derive(sqlx::FromRow)]
struct BookingFacts {
    id: Uuid,
    number: i64,
    status: String,
    event_id: Uuid,
    event_title: String,
    organization_id: Uuid,
    ticket_type_id: Uuid,
    ticket_type: String,
    quantity: i32,
    unit_price_cents: Option<i64>,
    currency: Option<String>,
    tax_rate: Option<i32>,
    prices_include_tax: Option<bool>,
    buyer_name: String,
    buyer_email: String,
    updated_at: DateTime<Utc>,
}

/// `event_type` (`booking.confirmed`, `booking.cancelled`,
/// `booking.refunded`, `waiting_list.offered`) for each of `booking_ids`.
pub async fn bookings(conn: &mut PgConnection, event_type: &str, booking_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if booking_ids.is_empty() {
        return Ok(());
    }
    let organizations: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT e.organization_id FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.id = ANY ($1)",
    )
    .bind(booking_ids)
    .fetch_all(&mut *conn)
    .await?;
    let subscribed = db::subscribed(conn, event_type, &organizations).await?;
    if subscribed.is_empty() {
        return Ok(());
    }
    let facts: Vec<BookingFacts> = sqlx::query_as(
        "SELECT b.id, b.number, b.status, b.event_id, e.title AS event_title, e.organization_id,
                b.ticket_type_id, t.name AS ticket_type, b.quantity, b.unit_price_cents, b.currency, b.tax_rate,
                b.prices_include_tax, u.name AS buyer_name, u.email AS buyer_email, b.updated_at
         FROM bookings b JOIN events e ON e.id = b.event_id JOIN ticket_types t ON t.id = b.ticket_type_id
         JOIN users u ON u.id = b.user_id
         WHERE b.id = ANY ($1) AND e.organization_id = ANY ($2)",
    )
    .bind(booking_ids)
    .bind(&subscribed)
    .fetch_all(&mut *conn)
    .await?;
    let messages: Vec<(Uuid, Uuid, String)> = facts
        .into_iter()
        .map(|f| {
            let total = crate::domain::tax::charged(
                f.unit_price_cents.unwrap_or(0),
                i64::from(f.quantity),
                f.tax_rate.unwrap_or(0),
                f.prices_include_tax.unwrap_or(true),
            );
            let data = json!({
                "booking": {
                    "id": f.id,
                    "reference": crate::domain::reference::encode(f.number),
                    "status": f.status,
                    "quantity": f.quantity,
                    "total_cents": total,
                    "currency": f.currency,
                    "ticket_type": {"id": f.ticket_type_id, "name": f.ticket_type},
                    "buyer": {"name": f.buyer_name, "email": f.buyer_email},
                    "updated_at": f.updated_at,
                },
                "event": {"id": f.event_id, "title": f.event_title},
            });
            (Uuid::now_v7(), f.organization_id, envelope(event_type, data))
        })
        .collect();
    db::enqueue(conn, event_type, &messages, None).await?;
    Ok(())
}

/// `event.published` or `event.cancelled` for event `event_id`.
pub async fn event(conn: &mut PgConnection, event_type: &str, event_id: Uuid) -> Result<(), sqlx::Error> {
    let Some((organization_id, title, starts_at, venue, status)): Option<(
        Uuid,
        String,
        DateTime<Utc>,
        String,
        String,
    )> = sqlx::query_as("SELECT organization_id, title, starts_at, venue, status FROM events WHERE id = $1")
        .bind(event_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    if db::subscribed(conn, event_type, &[organization_id]).await?.is_empty() {
        return Ok(());
    }
    let data =
        json!({"event": {"id": event_id, "title": title, "starts_at": starts_at, "venue": venue, "status": status}});
    db::enqueue(conn, event_type, &[(Uuid::now_v7(), organization_id, envelope(event_type, data))], None).await?;
    Ok(())
}

/// `ticket.checked_in`: the ticket `position` of `booking_id` admitted at
/// the door (its code is not told: it is the ticket).
pub async fn checked_in(
    conn: &mut PgConnection,
    booking_id: Uuid,
    position: i32,
    holder: &str,
    gate: Option<&str>,
) -> Result<(), sqlx::Error> {
    const TYPE: &str = "ticket.checked_in";
    let Some((organization_id, event_id, title, number)): Option<(Uuid, Uuid, String, i64)> = sqlx::query_as(
        "SELECT e.organization_id, e.id, e.title, b.number FROM bookings b JOIN events e ON e.id = b.event_id
         WHERE b.id = $1",
    )
    .bind(booking_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(());
    };
    if db::subscribed(conn, TYPE, &[organization_id]).await?.is_empty() {
        return Ok(());
    }
    let data = json!({
        "ticket": {"booking_id": booking_id, "reference": crate::domain::reference::encode(number),
                   "position": position + 1, "holder": holder},
        "event": {"id": event_id, "title": title},
        "gate": gate,
        "checked_in_at": Utc::now(),
    });
    db::enqueue(conn, TYPE, &[(Uuid::now_v7(), organization_id, envelope(TYPE, data))], None).await?;
    Ok(())
}
