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
mod retry;

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;

use crate::booking::allocate::{BatchOutcome, LINE_CHUNK, allocate_batch};
use crate::cache::BookingCache;
use crate::domain::booking::AcceptedRequest;
use crate::queue::Broker;
use crate::queue::message;
use crate::queue::{self, Topology};
use retry::{attempts, dead_letter, is_transient, retry_later};

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
            // The stream ends when the channel closed, or when the broker
            // cancelled the consumer (its queue was deleted, or a node left
            // the cluster): not an error to stop on. What this channel held
            // unacked goes back to the queue as it closes; then subscribe again.
            tracing::info!("the booking consumer was cancelled or its channel closed; subscribing again");
            let _ = channel.close(200, "subscribing again").await;
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

/// A delivery and what it carries.
struct Parsed {
    delivery: Delivery,
    parsed: Result<message::Sorted, String>,
}

impl From<Delivery> for Parsed {
    fn from(delivery: Delivery) -> Self {
        let parsed = message::sort(&delivery.data);
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
    if state
        .bookings
        .settle(&outcome.settled, &outcome.sold_out, &outcome.codes_used_up, &outcome.holders)
        .await
        .is_ok()
    {
        return;
    }
    // PostgreSQL is the truth already; stale pending records only inflate the
    // queue count. A slow moment of Redis (its calls time out after 300 ms)
    // should not leave them for long: try again a few times, off the batch
    // path (clearing is idempotent).
    let (state, settled, sold_out, holders) =
        (state.clone(), outcome.settled.clone(), outcome.sold_out.clone(), outcome.holders.clone());
    let used_up = outcome.codes_used_up.clone();
    tokio::spawn(async move {
        for delay in [250, 1000, 4000] {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            match state.bookings.settle(&settled, &sold_out, &used_up, &holders).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "could not clear pending records in Redis"),
            }
        }
    });
}
