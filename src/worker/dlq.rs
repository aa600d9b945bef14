//! The dead-letter queue from the command line: `boxoffice dlq list` shows
//! what is parked there, `boxoffice dlq replay` sends messages back to the
//! booking queue (after the cause was fixed) with a fresh attempt count.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};
use serde::Serialize;
use uuid::Uuid;

use crate::queue::message::{ATTEMPTS_HEADER, ERROR_HEADER};
use crate::queue::{self, Topology};

/// One parked message, as `dlq list` prints it (one JSON object per line).
#[derive(Debug, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub attempts: Option<u32>,
    pub error: Option<String>,
    pub body: String,
}

/// Reads up to `limit` messages without removing them.
pub async fn list(connection: &Connection, topology: &Topology, limit: usize) -> lapin::Result<Vec<DeadLetter>> {
    let channel = connection.create_channel().await?;
    let mut letters = Vec::new();
    let mut last_tag = None;
    while letters.len() < limit {
        let Some(message) = channel.basic_get(&topology.dead_queue(), BasicGetOptions { no_ack: false }).await? else {
            break;
        };
        let delivery = message.delivery;
        last_tag = Some(delivery.delivery_tag);
        letters.push(describe(&delivery));
    }
    if let Some(tag) = last_tag {
        // Put everything back, in order.
        channel.basic_nack(tag, BasicNackOptions { multiple: true, requeue: true }).await?;
    }
    let _ = channel.close(200, "listed").await;
    Ok(letters)
}

/// Which messages to replay.
#[derive(Debug, Clone, Copy)]
pub enum Selection {
    All,
    /// The message of one booking (its message id is the booking id).
    Booking(Uuid),
}

/// Moves the selected messages back to the booking queue; returns how many.
/// Only the messages parked when it starts are looked at: one that fails
/// again and comes back meanwhile waits for the next replay.
pub async fn replay(connection: &Connection, topology: &Topology, selection: Selection) -> lapin::Result<usize> {
    let channel = queue::confirm_channel(connection).await?;
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let parked = channel.queue_declare(&topology.dead_queue(), passive, FieldTable::default()).await?.message_count();
    let mut replayed = 0;
    let mut kept = Vec::new();
    let mut seen = 0;
    while seen < parked {
        let Some(message) = channel.basic_get(&topology.dead_queue(), BasicGetOptions { no_ack: false }).await? else {
            break;
        };
        seen += 1;
        let delivery = message.delivery;
        let id = delivery.properties.message_id().as_ref().map(|id| id.to_string()).unwrap_or_default();
        let selected = match selection {
            Selection::All => true,
            Selection::Booking(booking) => id == booking.to_string() || carries(&delivery.data, booking),
        };
        if !selected {
            kept.push(delivery.delivery_tag);
            continue;
        }
        republish(&channel, topology, &id, &delivery.data).await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        replayed += 1;
    }
    for tag in kept {
        channel.basic_nack(tag, BasicNackOptions { multiple: false, requeue: true }).await?;
    }
    let _ = channel.close(200, "replayed").await;
    Ok(replayed)
}

/// Whether a parked message carries `booking` (one that several requests
/// shared goes to the dead-letter queue whole only when it could not be read
/// at all, or the broker gave up redelivering it; its id is its first
/// booking's).
fn carries(body: &[u8], booking: Uuid) -> bool {
    crate::queue::message::decode(body).is_ok_and(|requests| requests.iter().any(|r| r.booking_id == booking))
}

async fn republish(channel: &Channel, topology: &Topology, id: &str, body: &[u8]) -> lapin::Result<()> {
    let properties = queue::persistent_json(id, FieldTable::default());
    queue::publish_confirmed(channel, &topology.exchange(), topology.routing_key(), body, properties).await.map_err(
        |err| match err {
            queue::PublishError::Amqp(err) => err,
            _ => lapin::Error::InvalidChannelState(lapin::ChannelState::Error),
        },
    )
}

fn describe(delivery: &lapin::message::Delivery) -> DeadLetter {
    let headers = delivery.properties.headers().as_ref().map(|h| h.inner());
    let attempts = headers.and_then(|h| match h.get(ATTEMPTS_HEADER) {
        Some(AMQPValue::LongUInt(n)) => Some(*n),
        _ => None,
    });
    let error = headers.and_then(|h| match h.get(ERROR_HEADER) {
        Some(AMQPValue::LongString(s)) => Some(s.to_string()),
        _ => None,
    });
    DeadLetter {
        message_id: delivery.properties.message_id().as_ref().map(|id| id.to_string()).unwrap_or_default(),
        attempts,
        error,
        body: String::from_utf8_lossy(&delivery.data).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::message::{BookingRequested, encode};

    fn request() -> BookingRequested {
        BookingRequested {
            booking_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            ticket_type_id: Uuid::now_v7(),
            quantity: 1,
            idempotency_key: None,
            accepted_at: chrono::Utc::now(),
            unit_price_cents: None,
            currency: None,
            code_id: None,
            presale_at: None,
            tax: None,
            details: Default::default(),
        }
    }

    #[test]
    fn a_booking_is_found_inside_a_message_others_shared_and_not_elsewhere() {
        let (first, second) = (request(), request());
        let shared = encode(&[first.clone(), second.clone()]);
        assert!(carries(&shared, first.booking_id) && carries(&shared, second.booking_id));
        assert!(!carries(&shared, Uuid::now_v7()));
        assert!(carries(&encode(std::slice::from_ref(&first)), first.booking_id));
        assert!(!carries(b"{not json", first.booking_id));
    }
}
