//! The RabbitMQ topology of the booking queue, declared idempotently by the
//! API and the worker at every connection:
//!
//! ```text
//!  API ──publish──▶ [bookings] exchange ──▶ (bookings) quorum queue ──▶ worker
//!                         ▲                                              │
//!                         │ dead-letter after the TTL                    │ transient failure
//!                    (bookings.retry.Ns) ◀── [bookings.retry] ◀──────────┤
//!                                                                        │ unparseable, or
//!                    (bookings.dead) ◀── [bookings.dead] ◀───────────────┘ out of attempts
//! ```
//!
//! Each retry queue holds messages for a fixed delay (one queue per delay, so
//! a long delay never holds up a short one) and then dead-letters them back
//! to the main exchange.
//!
//! Every queue is a quorum queue (replicated, fsynced before the confirm;
//! `AMQP_QUEUE_TYPE=classic` for single-node development and the tests).
//! Quorum queues dead-letter with the `at-least-once` strategy, so a message
//! on its way back from a delay queue cannot be lost. The booking queue
//! itself dead-letters a message redelivered `DELIVERY_LIMIT` times (a worker
//! crashing on it again and again) instead of dropping it.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::config::QueueType;

/// Delay before attempt n+1, by attempt n (the last repeats).
pub const RETRY_DELAYS_SECS: [u32; 4] = [1, 5, 30, 120];

const BOOKING_KEY: &str = "booking";
/// Redeliveries of one message (crashes while holding it) before it is parked.
const DELIVERY_LIMIT: u32 = 20;

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    /// `quorum` in production; see `AMQP_QUEUE_TYPE`.
    durable_type: QueueType,
    /// Queues vanish after this long unused (tests only; unset in production).
    expires_ms: Option<u32>,
}

impl Topology {
    pub fn new(prefix: &str, durable_type: QueueType, expires_ms: Option<u32>) -> Self {
        Self { prefix: prefix.to_owned(), durable_type, expires_ms }
    }

    /// The topology a configuration asks for.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::new(&config.amqp_queue_prefix, config.amqp_queue_type, config.amqp_queue_expires_ms)
    }

    pub fn exchange(&self) -> String {
        format!("{}bookings", self.prefix)
    }

    pub fn routing_key(&self) -> &'static str {
        BOOKING_KEY
    }

    pub fn queue(&self) -> String {
        format!("{}bookings", self.prefix)
    }

    pub fn retry_exchange(&self) -> String {
        format!("{}bookings.retry", self.prefix)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}bookings.dead", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}bookings.dead", self.prefix)
    }

    /// The retry queue's routing key for a message that has failed `attempts` times.
    pub fn retry_key(attempts: u32) -> String {
        let index = (attempts.max(1) as usize - 1).min(RETRY_DELAYS_SECS.len() - 1);
        format!("{}s", RETRY_DELAYS_SECS[index])
    }

    fn retry_queue(&self, delay_secs: u32) -> String {
        format!("{}bookings.retry.{delay_secs}s", self.prefix)
    }

    /// Declares everything; safe to repeat.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        channel.exchange_declare(&self.exchange(), ExchangeKind::Direct, durable, FieldTable::default()).await?;
        channel.exchange_declare(&self.retry_exchange(), ExchangeKind::Direct, durable, FieldTable::default()).await?;
        channel.exchange_declare(&self.dead_exchange(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;

        let mut args = self.durable();
        args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(self.dead_exchange().into()));
        if self.is_quorum() {
            args.insert("x-delivery-limit".into(), AMQPValue::LongUInt(DELIVERY_LIMIT));
        }
        self.declare_queue(channel, &self.queue(), args).await?;
        self.bind(channel, &self.queue(), &self.exchange(), BOOKING_KEY).await?;

        for delay in RETRY_DELAYS_SECS {
            let mut args = self.durable();
            args.insert("x-message-ttl".into(), AMQPValue::LongUInt(delay * 1000));
            args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(self.exchange().into()));
            args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(BOOKING_KEY.into()));
            let queue = self.retry_queue(delay);
            self.declare_queue(channel, &queue, args).await?;
            self.bind(channel, &queue, &self.retry_exchange(), &format!("{delay}s")).await?;
        }

        self.declare_queue(channel, &self.dead_queue(), self.arguments(self.durable_type)).await?;
        self.bind(channel, &self.dead_queue(), &self.dead_exchange(), "").await?;
        Ok(())
    }

    fn is_quorum(&self) -> bool {
        self.durable_type == QueueType::Quorum
    }

    /// Arguments of a queue that dead-letters: quorum queues must be told to
    /// do it safely.
    fn durable(&self) -> FieldTable {
        let mut args = self.arguments(self.durable_type);
        if self.is_quorum() {
            args.insert("x-dead-letter-strategy".into(), AMQPValue::LongString("at-least-once".into()));
            args.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
        }
        args
    }

    fn arguments(&self, queue_type: QueueType) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString(queue_type.as_str().into()));
        if let Some(expires) = self.expires_ms {
            args.insert("x-expires".into(), AMQPValue::LongUInt(expires));
        }
        args
    }

    async fn declare_queue(&self, channel: &Channel, name: &str, args: FieldTable) -> lapin::Result<()> {
        let options = QueueDeclareOptions { durable: true, ..Default::default() };
        channel.queue_declare(name, options, args).await.map(|_| ())
    }

    async fn bind(&self, channel: &Channel, queue: &str, exchange: &str, key: &str) -> lapin::Result<()> {
        channel.queue_bind(queue, exchange, key, QueueBindOptions::default(), FieldTable::default()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_then_stay_at_the_longest() {
        let keys: Vec<String> = (1..=6).map(Topology::retry_key).collect();
        assert_eq!(keys, ["1s", "5s", "30s", "120s", "120s", "120s"]);
    }
}
