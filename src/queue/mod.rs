//! RabbitMQ: the broker connection (re-established on its own), the booking
//! topology, and publishing with publisher confirms (concurrent accepts
//! coalesced into fewer messages: `coalesce`).

mod coalesce;
pub mod message;
pub mod topology;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{mpsc, oneshot};

pub use message::BookingRequested;

use crate::domain::booking::AcceptedRequest;
pub use topology::Topology;

const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Connecting and declaring the topology (quorum queues are slow to create under load).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for the broker to confirm a publish before answering 503.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a booking request is published again while the connection is
/// rebuilt (another node of the cluster, a new queue leader) before 503.
pub const PUBLISH_RETRY_WITHIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("RabbitMQ is not connected: {0}")]
    NotConnected(String),
    #[error("RabbitMQ refused the message")]
    Refused,
    #[error("RabbitMQ did not confirm within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    /// The failure of a message that carried this request and others.
    #[error("{0}")]
    Shared(Arc<PublishError>),
}

impl PublishError {
    /// Whether the broker certainly does not have the message: it was never
    /// sent, or the broker said no. A timeout or a broken channel after
    /// sending leaves it unknown: the message may still be queued.
    pub fn certainly_unsent(&self) -> bool {
        match self {
            Self::NotConnected(_) | Self::Refused => true,
            Self::Shared(inner) => inner.certainly_unsent(),
            Self::Timeout(_) | Self::Amqp(_) => false,
        }
    }

    /// Whether publishing again may succeed. Every failure may pass: a
    /// connection or channel lost or no confirm (the connection is rebuilt),
    /// and a refusal too, since the refusing channel is replaced (see
    /// [`Inner::retire`]) and a queue without a leader gets one in seconds.
    fn worth_retrying(&self) -> bool {
        match self {
            Self::Shared(inner) => inner.worth_retrying(),
            Self::Refused | Self::NotConnected(_) | Self::Timeout(_) | Self::Amqp(_) => true,
        }
    }
}

/// A handle on the broker connection and its pool of publishing channels;
/// cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    /// The cluster's nodes (`AMQP_URL`, comma-separated), tried in turn.
    nodes: Nodes,
    topology: Topology,
    channels: usize,
    next: AtomicUsize,
    state: Mutex<State>,
    /// Requests on their way into a message (`coalesce`).
    waiting: mpsc::Sender<coalesce::Waiting>,
    /// Booking messages confirmed by the broker (each carries one request or
    /// several coalesced ones): the broker's load per request, in /metrics.
    published: std::sync::atomic::AtomicU64,
    /// Messages the broker refused (nacked): a queue without its leader.
    refused: std::sync::atomic::AtomicU64,
}

enum State {
    Connected { connection: Arc<Connection>, publishers: Vec<Channel> },
    Down(String),
}

impl Broker {
    /// Connects to `url` once and declares the topology; when that fails the
    /// handle starts disconnected (with one warning line). Either way a
    /// background task keeps the connection up for as long as the handle lives.
    ///
    /// `channels` publishing channels are opened, each in confirm mode, with
    /// two messages in flight on each at once: the API never waits for one
    /// request's confirm before sending the next, and requests that arrive
    /// while every slot is taken go together in the next message.
    pub async fn connect(url: &str, topology: Topology, channels: usize) -> Self {
        let (waiting, requests) = mpsc::channel(4 * coalesce::MOST);
        let inner = Inner {
            nodes: Nodes::parse(url),
            topology,
            channels: channels.max(1),
            next: AtomicUsize::new(0),
            state: Mutex::new(State::Down("not connected yet".into())),
            waiting,
            published: std::sync::atomic::AtomicU64::new(0),
            refused: std::sync::atomic::AtomicU64::new(0),
        };
        let broker = Self { inner: Arc::new(inner) };
        tokio::spawn(coalesce::run(Arc::downgrade(&broker.inner), requests, 2 * channels.max(1)));
        if let Err(err) = broker.inner.connect_once().await {
            tracing::warn!(
                "RabbitMQ is unreachable at {}: {err}. Starting without it (bookings answer 503); \
                 retrying in the background. Start it with: rabbitmq-server -detached",
                crate::config::redact_url(url)
            );
        }
        tokio::spawn(supervise(Arc::downgrade(&broker.inner)));
        broker
    }

    /// Booking messages the broker confirmed since this process started.
    pub fn messages_published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    /// Booking messages the broker refused since this process started (each
    /// is published again on another channel while the request waits).
    pub fn messages_refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The live connection, or why there is none.
    pub fn connection(&self) -> Result<Arc<Connection>, String> {
        match &*self.inner.state.lock().expect("broker state poisoned") {
            State::Connected { connection, .. } if connection.status().connected() => Ok(connection.clone()),
            State::Connected { .. } => Err("connection lost, reconnecting".into()),
            State::Down(reason) => Err(reason.clone()),
        }
    }

    /// Publishes a booking request persistently and waits for the broker's
    /// confirm: `Ok` means RabbitMQ has it safely in the queue. Requests
    /// published at the same moment may share a message.
    ///
    /// A node that dies, or a queue leader elected anew, cuts the channel:
    /// the request is published again (the same booking id: the worker
    /// decides a booking once however often it arrives) once the connection
    /// is back, for up to [`PUBLISH_RETRY_WITHIN`], before the caller hears
    /// of it. A broker's refusal is tried again on a new channel.
    pub async fn publish_booking(&self, message: &AcceptedRequest) -> Result<(), PublishError> {
        let deadline = tokio::time::Instant::now() + PUBLISH_RETRY_WITHIN;
        let mut maybe_sent = false;
        loop {
            let err = match self.publish_once(message).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            maybe_sent |= !err.certainly_unsent();
            if !err.worth_retrying() || tokio::time::Instant::now() >= deadline {
                // An earlier try that may have reached the queue makes the
                // whole outcome unknown, whatever the last try met.
                return Err(if maybe_sent && err.certainly_unsent() {
                    PublishError::Timeout(CONFIRM_TIMEOUT)
                } else {
                    err
                });
            }
            tracing::debug!(error = %err, booking.id = %message.booking_id, "publishing again once reconnected");
            self.inner.wait_healthy(deadline).await;
        }
    }

    async fn publish_once(&self, message: &AcceptedRequest) -> Result<(), PublishError> {
        let (done, answer) = oneshot::channel();
        let waiting = coalesce::Waiting { request: BookingRequested::from(message), done };
        if self.inner.waiting.send(waiting).await.is_err() {
            return Err(PublishError::NotConnected("the publisher stopped".into()));
        }
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(PublishError::Shared(err)),
            // The publishing task was dropped before it answered: whether the
            // message went out is unknown.
            Err(_) => Err(PublishError::Timeout(CONFIRM_TIMEOUT)),
        }
    }

    /// Publishes `messages` together in one message, at once, and waits for
    /// the confirm (what coalescing does; for tests and tools).
    pub async fn publish_bookings(&self, messages: &[AcceptedRequest]) -> Result<(), PublishError> {
        let requests: Vec<BookingRequested> = messages.iter().map(BookingRequested::from).collect();
        self.inner.publish_requests(&requests).await
    }
}

/// Properties of every message: persistent (survives a broker restart), JSON.
pub fn persistent_json(message_id: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message_id.into())
        .with_headers(headers)
}

/// Publishes with `mandatory` (an unroutable message is an error, not a
/// silent loss) on a channel in confirm mode, and waits for the confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    let options = BasicPublishOptions { mandatory: true, ..Default::default() };
    let confirm = async {
        let pending = channel.basic_publish(exchange, routing_key, options, payload, properties).await?;
        pending.await
    };
    match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        Ok(Ok(Confirmation::Ack(None))) => Ok(()),
        Ok(Ok(_)) => Err(PublishError::Refused),
        Ok(Err(err)) => Err(err.into()),
        Err(_) => Err(PublishError::Timeout(CONFIRM_TIMEOUT)),
    }
}

/// A channel in confirm mode.
pub async fn confirm_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(channel)
}

impl Inner {
    /// One persistent message carrying `requests`, confirmed.
    async fn publish_requests(&self, requests: &[BookingRequested]) -> Result<(), PublishError> {
        let first = requests.first().ok_or(PublishError::Refused)?;
        let channel = self.publisher()?;
        let payload = message::encode(requests);
        let properties = persistent_json(&first.booking_id.to_string(), FieldTable::default());
        let published =
            publish_confirmed(&channel, &self.topology.exchange(), self.topology.routing_key(), &payload, properties)
                .await;
        if matches!(published, Err(PublishError::Refused)) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            retire(&channel);
        }
        published?;
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The next open publishing channel, taken in turn.
    fn publisher(&self) -> Result<Channel, PublishError> {
        let state = self.state.lock().expect("broker state poisoned");
        match &*state {
            State::Connected { publishers, .. } => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..publishers.len())
                    .map(|offset| &publishers[(start + offset) % publishers.len()])
                    .find(|channel| channel.status().connected())
                    .cloned()
                    .ok_or_else(|| PublishError::NotConnected("channels closed, reopening".into()))
            }
            State::Down(reason) => Err(PublishError::NotConnected(reason.clone())),
        }
    }

    /// Opens new publishing channels in place of closed ones on a connection
    /// that is still up; false when the connection itself must be rebuilt.
    async fn reopen_channels(&self) -> bool {
        let (connection, closed) = match &*self.state.lock().expect("broker state poisoned") {
            State::Connected { connection, publishers } if connection.status().connected() => {
                let closed: Vec<usize> =
                    (0..publishers.len()).filter(|i| !publishers[*i].status().connected()).collect();
                (connection.clone(), closed)
            }
            _ => return false,
        };
        for index in closed {
            let Ok(Ok(channel)) = tokio::time::timeout(CONNECT_TIMEOUT, confirm_channel(&connection)).await else {
                return false;
            };
            if let State::Connected { connection: current, publishers } =
                &mut *self.state.lock().expect("broker state poisoned")
                && Arc::ptr_eq(current, &connection)
            {
                publishers[index] = channel;
            }
        }
        true
    }

    async fn connect_once(&self) -> Result<(), String> {
        let attempt = async {
            let connection = self.nodes.connect().await?;
            let setup = connection.create_channel().await?;
            self.topology.declare(&setup).await?;
            let _ = setup.close(200, "topology declared").await;
            let mut publishers = Vec::with_capacity(self.channels);
            for _ in 0..self.channels {
                publishers.push(confirm_channel(&connection).await?);
            }
            Ok::<_, lapin::Error>((connection, publishers))
        };
        let result = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(connected)) => Ok(connected),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        };
        let mut state = self.state.lock().expect("broker state poisoned");
        match result {
            Ok((connection, publishers)) => {
                *state = State::Connected { connection: Arc::new(connection), publishers };
                Ok(())
            }
            Err(err) => {
                *state = State::Down(err.clone());
                Err(err)
            }
        }
    }

    /// Until the connection and its channels are up again, or `deadline`.
    async fn wait_healthy(&self, deadline: tokio::time::Instant) {
        // At least one pause: a channel may fail before the state shows it.
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.is_healthy() || tokio::time::Instant::now() >= deadline {
                return;
            }
        }
    }

    fn is_healthy(&self) -> bool {
        match &*self.state.lock().expect("broker state poisoned") {
            State::Connected { connection, publishers } => {
                connection.status().connected() && publishers.iter().all(|c| c.status().connected())
            }
            State::Down(_) => false,
        }
    }
}

/// The nodes of a RabbitMQ cluster: every (re)connection starts at the node
/// after the one last used and tries each in turn, so a dead node costs one
/// failed attempt, and the clients of a restarted node spread over the others.
struct Nodes {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Nodes {
    /// `AMQP_URL`: one URL, or several separated by commas.
    fn parse(list: &str) -> Self {
        let urls: Vec<String> = list.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        Self { urls, next: AtomicUsize::new(0) }
    }

    async fn connect(&self) -> lapin::Result<Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = lapin::Error::InvalidConnectionState(lapin::ConnectionState::Closed);
        for offset in 0..self.urls.len() {
            let url = &self.urls[(start + offset) % self.urls.len()];
            match Connection::connect(url, ConnectionProperties::default()).await {
                Ok(connection) => {
                    // The next reconnection starts after this node.
                    self.next.store(start + offset + 1, Ordering::Relaxed);
                    return Ok(connection);
                }
                Err(err) => {
                    tracing::debug!(node = %crate::config::redact_url(url), error = %err, "RabbitMQ node unreachable");
                    last = err;
                }
            }
        }
        Err(last)
    }
}

/// Closes a publishing channel the broker refused a message on; the
/// supervisor opens a new one in its place.
///
/// RabbitMQ 3.10's quorum-queue client in a channel first asks the node of the
/// leader the queue's record named when the channel first published to it;
/// while that node is dead it refuses every publish, for the life of the
/// channel (seen as minutes of nacks when a client reconnected to a survivor
/// before the new leader was recorded). A new channel starts from the record
/// as it is now.
fn retire(channel: &Channel) {
    let channel = channel.clone();
    tokio::spawn(async move {
        if let Err(err) = channel.close(200, "a publish was refused; reopening").await {
            tracing::debug!(error = %err, "closing a refused channel");
        }
    });
}

/// Watches the connection and its channels: reopens closed channels, and
/// rebuilds the connection, with growing delays, when it drops.
async fn supervise(inner: Weak<Inner>) {
    let mut delay = RECONNECT_MIN;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.is_healthy() || inner.reopen_channels().await {
            delay = RECONNECT_MIN;
            continue;
        }
        match inner.connect_once().await {
            Ok(()) => {
                tracing::info!("connected to RabbitMQ");
                delay = RECONNECT_MIN;
            }
            Err(err) => {
                tracing::debug!(error = %err, "RabbitMQ still unreachable");
                delay = (delay * 2).min(RECONNECT_MAX);
            }
        }
    }
}
