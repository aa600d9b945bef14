//! RabbitMQ: a broker connection that is re-established on its own.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};

const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A handle on the broker connection; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    state: Mutex<State>,
}

enum State {
    Connected(Arc<Connection>),
    Down(String),
}

impl Broker {
    /// Connects to `url` once; when that fails the handle starts disconnected
    /// (with one warning line). Either way a background task keeps the
    /// connection up for as long as the handle lives.
    pub async fn connect(url: &str) -> Self {
        let broker = Self {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                state: Mutex::new(State::Down("not connected yet".into())),
            }),
        };
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

    /// The live connection, or why there is none.
    pub fn connection(&self) -> Result<Arc<Connection>, String> {
        match &*self.inner.state.lock().expect("broker state poisoned") {
            State::Connected(conn) if conn.status().connected() => Ok(conn.clone()),
            State::Connected(_) => Err("connection lost, reconnecting".into()),
            State::Down(reason) => Err(reason.clone()),
        }
    }
}

impl Inner {
    async fn connect_once(&self) -> Result<(), String> {
        let attempt = Connection::connect(&self.url, ConnectionProperties::default());
        let result = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
        };
        let mut state = self.state.lock().expect("broker state poisoned");
        match result {
            Ok(conn) => {
                *state = State::Connected(Arc::new(conn));
                Ok(())
            }
            Err(err) => {
                *state = State::Down(err.clone());
                Err(err)
            }
        }
    }

    fn is_connected(&self) -> bool {
        matches!(&*self.state.lock().expect("broker state poisoned"), State::Connected(c) if c.status().connected())
    }
}

/// Watches the connection and reconnects with growing delays when it drops.
async fn supervise(inner: Weak<Inner>) {
    let mut delay = RECONNECT_MIN;
    loop {
        tokio::time::sleep(delay).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.is_connected() {
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
