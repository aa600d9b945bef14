//! The booking consumer: takes booking requests from the queue in batches,
//! has [`crate::booking::allocate`] decide each batch in one transaction,
//! and acks only after the commit.
//!
//! Failures: an unparseable message goes to the dead-letter queue at once; a
//! batch that fails is retried through the delay queues with a growing delay
//! (the attempt count travels in a header), and after `BOOKING_MAX_ATTEMPTS`
//! goes to the dead-letter queue. A batch that fails for another reason than
//! an unreachable database is split and its messages tried one by one, so one
//! poison message never holds up the others.

pub mod dlq;
pub mod holds;
pub mod housekeeping;
pub mod line;
pub mod refunds;

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;

use crate::booking::allocate::{BatchOutcome, LINE_CHUNK, allocate_batch};
use crate::cache::BookingCache;
use crate::domain::booking::AcceptedRequest;
use crate::queue::Broker;
use crate::queue::message::{self, ATTEMPTS_HEADER, ERROR_HEADER};
use crate::queue::{self, BookingRequested, Topology};

const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Requests in one transaction at most, in batches of messages: requests
/// share messages (about ten to fifty each in a sale), and measured on two
/// cores a transaction of 500 messages was faster than one of 500 requests
/// (8,200 against 7,000 decided a second); this bounds the rare worst case
/// of 500 full messages.
const MOST_REQUESTS_PER_MESSAGE_BATCH: usize = 10;

/// What the worker needs, and nothing of the HTTP API: `boxoffice worker`
/// builds exactly this (see `app::background`).
#[derive(Clone)]
pub struct WorkerContext {
    pub db: sqlx::PgPool,
    pub broker: Broker,
    /// Pending records and sold-out flags to settle after each batch.
    pub bookings: BookingCache,
    /// Booking requests decided in one transaction.
    pub batch_size: u16,
    /// Tries of a failing request before it is dead-lettered.
    pub max_attempts: u32,
    /// How the bookings this worker holds are to be paid.
    pub provider: crate::domain::checkout::Provider,
    /// Stripe, for refunds (when configured).
    pub stripe: Option<crate::payments::stripe::Stripe>,
    /// Told of every batch decided, for the mailer beside this worker to yield.
    pub activity: crate::booking::activity::BookingActivity,
}

/// Runs the worker until `shutdown`, reconnecting to RabbitMQ as needed. On
/// shutdown the batch in hand is finished (committed and acked) first;
/// prefetched messages go back to the queue when the channel closes.
pub async fn run(state: WorkerContext, shutdown: CancellationToken) {
    tracing::info!(batch_size = state.batch_size, provider = state.provider.as_str(), "worker started");
    // The worker's other duties: holds that ran out, refunds to send.
    let chores = [
        tokio::spawn(holds::run(state.db.clone(), state.bookings.clone(), state.provider, shutdown.clone())),
        tokio::spawn(refunds::run(state.db.clone(), state.stripe.clone(), shutdown.clone())),
        tokio::spawn(line::run(state.clone(), shutdown.clone())),
    ];
    while !shutdown.is_cancelled() {
        match state.broker.connection() {
            Ok(connection) => match consume(&state, &connection, &shutdown).await {
                Ok(()) => break,
                Err(err) => tracing::warn!(error = %err, "worker lost its channel; reconnecting"),
            },
            Err(reason) => tracing::debug!(%reason, "worker waiting for RabbitMQ"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
    for chore in chores {
        let _ = chore.await;
    }
    tracing::info!("worker stopped");
}

async fn consume(state: &WorkerContext, connection: &Connection, shutdown: &CancellationToken) -> lapin::Result<()> {
    let topology = state.broker.topology();
    let channel = queue::confirm_channel(connection).await?;
    topology.declare(&channel).await?;
    let batch_size = usize::from(state.batch_size);
    // Two batches of messages in hand: the next arrives while this one commits.
    channel.basic_qos(state.batch_size.saturating_mul(2), BasicQosOptions::default()).await?;
    let mut consumer =
        channel.basic_consume(&topology.queue(), "", BasicConsumeOptions::default(), FieldTable::default()).await?;
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => {
                let _ = channel.close(200, "worker shutting down").await;
                return Ok(());
            }
            next = consumer.next() => next,
        };
        let Some(first) = first else {
            return Err(lapin::Error::InvalidChannelState(lapin::ChannelState::Closed));
        };
        let first = Parsed::from(first?);
        let mut requests = first.requests();
        let mut batch = vec![first];
        // Take what is already here, without waiting for more: up to a batch
        // of messages, and (each may carry up to `coalesce::MOST` requests)
        // at most ten batches' worth of requests in one transaction.
        while batch.len() < batch_size && requests < batch_size * MOST_REQUESTS_PER_MESSAGE_BATCH {
            match consumer.next().now_or_never() {
                Some(Some(delivery)) => {
                    let parsed = Parsed::from(delivery?);
                    requests += parsed.requests();
                    batch.push(parsed);
                }
                _ => break,
            }
        }
        handle_batch(state, &channel, topology, batch).await?;
    }
}

/// A message's requests: those the worker can act on, and those set apart
/// with why.
type Sorted = (Vec<AcceptedRequest>, Vec<(BookingRequested, String)>);

/// A delivery and what it carries.
struct Parsed {
    delivery: Delivery,
    parsed: Result<Sorted, String>,
}

impl From<Delivery> for Parsed {
    fn from(delivery: Delivery) -> Self {
        let parsed = parse(&delivery.data);
        Self { delivery, parsed }
    }
}

impl Parsed {
    fn requests(&self) -> usize {
        self.parsed.as_ref().map_or(1, |(good, bad)| good.len() + bad.len())
    }
}

async fn handle_batch(
    state: &WorkerContext,
    channel: &Channel,
    topology: &Topology,
    batch: Vec<Parsed>,
) -> lapin::Result<()> {
    // Each request with the delivery that brought it (a message may carry several).
    let mut requests: Vec<(usize, AcceptedRequest)> = Vec::with_capacity(batch.len());
    let mut live = Vec::with_capacity(batch.len());
    let mut deliveries = Vec::with_capacity(batch.len());
    for (index, Parsed { delivery, parsed }) in batch.into_iter().enumerate() {
        deliveries.push(delivery);
        let delivery = &deliveries[index];
        let (good, bad) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::error!(%error, "unparseable booking message; dead-lettered");
                dead_letter(channel, topology, delivery, &delivery.data, attempts(delivery), &error).await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
                continue;
            }
        };
        for (request, error) in bad {
            tracing::error!(%error, booking.id = %request.booking_id, "booking request with insane values; dead-lettered");
            let payload = message::encode(std::slice::from_ref(&request));
            dead_letter(channel, topology, delivery, &payload, attempts(delivery), &error).await?;
        }
        if good.is_empty() {
            delivery.acker.ack(BasicAckOptions::default()).await?;
            continue;
        }
        live.push(index);
        requests.extend(good.into_iter().map(|request| (index, request)));
    }
    if requests.is_empty() {
        return Ok(());
    }
    let messages: Vec<AcceptedRequest> = requests.iter().map(|(_, m)| m.clone()).collect();
    match allocate_batch(&state.db, &messages, &[], LINE_CHUNK, state.provider).await {
        Ok(outcome) => {
            // Every delivery up to the last of this batch is settled: one ack for all.
            let last = live.iter().map(|&i| deliveries[i].delivery_tag).max().expect("non-empty");
            channel.basic_ack(last, BasicAckOptions { multiple: true }).await?;
            settled(state, &outcome).await;
        }
        Err(err) if requests.len() > 1 && !is_transient(&err) => {
            tracing::warn!(error = %err, size = requests.len(), "batch failed; trying its requests one by one");
            for (index, message) in &requests {
                match allocate_batch(&state.db, std::slice::from_ref(message), &[], LINE_CHUNK, state.provider).await {
                    Ok(outcome) => settled(state, &outcome).await,
                    Err(err) => {
                        retry_later(state, channel, topology, &deliveries[*index], std::slice::from_ref(message), &err)
                            .await?
                    }
                }
            }
            for index in live {
                deliveries[index].acker.ack(BasicAckOptions::default()).await?;
            }
        }
        Err(err) => {
            // The database is unreachable or asked for a retry: every message
            // tries again as it came (its requests share its fate and its count).
            tracing::warn!(error = %err, size = requests.len(), "batch failed; retrying later");
            for &index in &live {
                let carried: Vec<AcceptedRequest> =
                    requests.iter().filter(|(i, _)| *i == index).map(|(_, m)| m.clone()).collect();
                retry_later(state, channel, topology, &deliveries[index], &carried, &err).await?;
                deliveries[index].acker.ack(BasicAckOptions::default()).await?;
            }
        }
    }
    Ok(())
}

/// The requests of a message the worker can act on — well-formed JSON of the
/// right shape — split into those with sane values and those without, each
/// with why (the API never sends such; a hand-made or corrupted message must
/// not reach the database).
fn parse(data: &[u8]) -> Result<Sorted, String> {
    let requests = message::decode(data).map_err(|e| format!("unparseable: {e}"))?;
    if requests.is_empty() {
        return Err("unparseable: no booking request in the message".into());
    }
    let (mut good, mut bad) = (Vec::with_capacity(requests.len()), Vec::new());
    for request in requests {
        match insane(&request) {
            Some(why) => bad.push((request, why)),
            None => good.push(request.into()),
        }
    }
    Ok((good, bad))
}

fn insane(message: &BookingRequested) -> Option<String> {
    if !(1..=1000).contains(&message.quantity) {
        return Some(format!("quantity {} out of range", message.quantity));
    }
    if message.idempotency_key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 255 || k.contains('\0')) {
        return Some("invalid idempotency key".into());
    }
    None
}

pub(crate) async fn settled(state: &WorkerContext, outcome: &BatchOutcome) {
    state.activity.batch_decided();
    let confirmed =
        outcome.decided.iter().filter(|(_, s, _)| *s == crate::domain::booking::BookingStatus::Confirmed).count();
    tracing::debug!(
        decided = outcome.decided.len(),
        confirmed,
        seats = outcome.seats_confirmed,
        held = outcome.seats_held,
        redelivered = outcome.skipped,
        "batch committed"
    );
    if let Err(err) = state.bookings.record_decided(&outcome.decided_per_event).await {
        tracing::debug!(error = %err, "the line's rate was not recorded");
    }
    if state.bookings.settle(&outcome.settled, &outcome.sold_out, &outcome.holders).await.is_ok() {
        return;
    }
    // PostgreSQL is the truth already; stale pending records only inflate the
    // queue count. A slow moment of Redis (its calls time out after 300 ms)
    // should not leave them for long: try again a few times, off the batch
    // path (clearing is idempotent).
    let (state, settled, sold_out, holders) =
        (state.clone(), outcome.settled.clone(), outcome.sold_out.clone(), outcome.holders.clone());
    tokio::spawn(async move {
        for delay in [250, 1000, 4000] {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            match state.bookings.settle(&settled, &sold_out, &holders).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "could not clear pending records in Redis"),
            }
        }
    });
}

/// Whether a failure is worth retrying as is: the database is unreachable,
/// or PostgreSQL asked for a retry (serialization failure, deadlock).
fn is_transient(err: &sqlx::Error) -> bool {
    crate::db::is_unreachable(err) || crate::db::is_retryable(err)
}

/// Every try, counted or not: it sets the delay before the next one.
const TRIES_HEADER: &str = "x-boxoffice-tries";

fn attempts(delivery: &Delivery) -> u32 {
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
async fn retry_later(
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
async fn dead_letter(
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

fn message_id(delivery: &Delivery) -> &str {
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
fn into_lapin(err: queue::PublishError) -> lapin::Error {
    match err {
        queue::PublishError::Amqp(err) => err,
        _ => lapin::Error::InvalidChannelState(lapin::ChannelState::Error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_insane_values_are_set_apart_from_the_others_of_their_message() {
        let good = serde_json::json!({
            "booking_id": uuid::Uuid::now_v7(), "user_id": uuid::Uuid::now_v7(), "event_id": uuid::Uuid::now_v7(),
            "ticket_type_id": uuid::Uuid::now_v7(), "quantity": 2, "idempotency_key": null,
            "accepted_at": "2027-01-01T00:00:00Z"
        });
        let (sane, insane) = parse(good.to_string().as_bytes()).unwrap();
        assert_eq!((sane.len(), insane.len()), (1, 0));
        for (field, value) in [("quantity", serde_json::json!(0)), ("idempotency_key", serde_json::json!("nul\u{0}"))] {
            let mut bad = good.clone();
            bad[field] = value;
            let (sane, insane) = parse(bad.to_string().as_bytes()).unwrap();
            assert_eq!((sane.len(), insane.len()), (0, 1), "{field}");
            // In a message with others, only the insane one is set apart.
            let batch = serde_json::json!([good, bad, good]);
            let (sane, insane) = parse(batch.to_string().as_bytes()).unwrap();
            assert_eq!((sane.len(), insane.len()), (2, 1), "{field}");
        }
        assert!(parse(b"not json").is_err());
        assert!(parse(b"[]").is_err());
    }
}
