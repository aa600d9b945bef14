//! When deciding a message's requests failed: retried later through a
//! delay queue (counting the tries that count), or parked in the dead-letter
//! queue once out of attempts, each request under its own booking id.

use lapin::Channel;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};

use super::WorkerContext;
use crate::domain::booking::AcceptedRequest;
use crate::queue::message::{self, ATTEMPTS_HEADER, ERROR_HEADER};
use crate::queue::{self, BookingRequested, Topology};

/// Whether a failure is worth retrying as is: the database is unreachable,
/// or PostgreSQL asked for a retry (serialization failure, deadlock).
pub(super) fn is_transient(err: &sqlx::Error) -> bool {
    crate::db::is_unreachable(err) || crate::db::is_retryable(err)
}

/// Every try, counted or not: it sets the delay before the next one.
const TRIES_HEADER: &str = "x-boxoffice-tries";

pub(super) fn attempts(delivery: &Delivery) -> u32 {
    header_u32(delivery, ATTEMPTS_HEADER)
}

fn header_u32(delivery: &Delivery, name: &str) -> u32 {
    let headers = delivery.properties.headers().as_ref();
    match headers.and_then(|h| h.inner().get(name)) {
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

/// Sends failed requests (those of one message, all or one) on to a delay
/// queue as one message, counting the tries of the message that brought them;
/// out of attempts, each goes to the dead-letter queue alone, under its own
/// booking id. The caller acks the message once every request in it is sent
/// on or decided; a crash in between only duplicates requests, and the batch
/// transaction ignores duplicates.
pub(super) async fn retry_later(
    state: &WorkerContext,
    channel: &Channel,
    topology: &Topology,
    delivery: &Delivery,
    failed: &[AcceptedRequest],
    err: &sqlx::Error,
) -> lapin::Result<()> {
    let Some(first) = failed.first() else { return Ok(()) };
    // An unreachable database is nobody's fault: such tries do not count
    // against the message (an outage longer than the retries must not park
    // every booking in the dead-letter queue), but still wait ever longer.
    let counts = !crate::db::is_unreachable(err);
    let attempts = attempts(delivery) + u32::from(counts);
    let tries = header_u32(delivery, TRIES_HEADER) + 1;
    let error = err.to_string();
    if attempts >= state.max_attempts {
        for request in failed {
            tracing::error!(%error, attempts, booking.id = %request.booking_id, "booking request out of attempts; dead-lettered");
            let payload = message::encode(&[BookingRequested::from(request)]);
            dead_letter(channel, topology, delivery, &payload, attempts, &error).await?;
        }
        Ok(())
    } else {
        let payload = message::encode(&failed.iter().map(BookingRequested::from).collect::<Vec<_>>());
        let mut headers = headers(attempts, &error);
        headers.insert(TRIES_HEADER.into(), AMQPValue::LongUInt(tries));
        let properties = queue::persistent_json(&first.booking_id.to_string(), headers);
        let key = Topology::retry_key(tries);
        queue::publish_confirmed(channel, &topology.retry_exchange(), &key, &payload, properties)
            .await
            .map_err(into_lapin)
    }
}

/// Parks `payload` (what `delivery` brought, or one request of it) in the
/// dead-letter queue, under the id of the booking it is about.
pub(super) async fn dead_letter(
    channel: &Channel,
    topology: &Topology,
    delivery: &Delivery,
    payload: &[u8],
    attempts: u32,
    error: &str,
) -> lapin::Result<()> {
    let id = match message::decode(payload).as_deref() {
        Ok([one]) => one.booking_id.to_string(),
        _ => message_id(delivery).to_owned(),
    };
    let properties = queue::persistent_json(&id, headers(attempts, error));
    queue::publish_confirmed(channel, &topology.dead_exchange(), "", payload, properties).await.map_err(into_lapin)
}

pub(super) fn message_id(delivery: &Delivery) -> &str {
    delivery.properties.message_id().as_ref().map_or("", |id| id.as_str())
}

fn headers(attempts: u32, error: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPTS_HEADER.into(), AMQPValue::LongUInt(attempts));
    let error: String = error.chars().take(500).collect();
    headers.insert(ERROR_HEADER.into(), AMQPValue::LongString(error.into()));
    headers
}

/// A failed republish means the channel is unusable: reconnect, and the
/// unacked messages come back.
pub(super) fn into_lapin(err: queue::PublishError) -> lapin::Error {
    match err {
        queue::PublishError::Amqp(err) => err,
        _ => lapin::Error::InvalidChannelState(lapin::ChannelState::Error),
    }
}
