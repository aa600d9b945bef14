//! Boxoffice: an event ticketing backend.
//!
//! Where things live:

/// Shared state of a running API and its start/stop.
pub mod app;
/// Cryptography of accounts: password hashing, access and refresh tokens, verification links.
pub mod auth;
/// The life of a booking: accepted, allocated, held, paid (offline or by card), cancelled and
/// refunded; who may book; long-poll waiters.
pub mod booking;
/// Redis: revoked sessions, idempotency keys, pending bookings, sold-out flags.
pub mod cache;
/// Subcommands (`serve`, `api`, `worker`, `migrate`, `dlq`, `outbox`) and process start-up.
pub mod cli;
/// Settings from environment and flags.
pub mod config;
/// PostgreSQL: connection, migrations and the queries, one module per table family.
pub mod db;
/// Plain types and rules, checked before any query runs.
pub mod domain;
/// The one API error type and its problem+json mapping.
pub mod error;
/// Events: their life (create, change, publish, cancel, delete), ticket types, who may manage them.
pub mod event;
/// The HTTP layer: router, extractors, one module per resource, OpenAPI.
pub mod http;
/// The mailer: templates, SMTP or `.eml` files, the outbox sender.
pub mod mail;
/// Counters for `/metrics`.
pub mod metrics;
/// The web pages (the shop): templates over the API's own handlers, session cookies, CSRF.
pub mod pages;
/// Papers a booking gives its buyer: the tickets as a PDF.
pub mod papers;
/// Payment providers: Stripe's API and its webhook signatures.
pub mod payments;
/// QR codes of tickets (SVG and PNG).
pub mod qr;
/// RabbitMQ: the connection, the booking topology, publishing with confirms.
pub mod queue;
/// Organizations, members, roles, invitations and the audit log.
pub mod team;
/// Logging.
pub mod telemetry;
/// Webhooks: endpoints, the events written with each change, their sender.
pub mod webhooks;
/// The booking consumer: batches from the queue, retries, dead letters; expired holds,
/// refunds to send, housekeeping.
pub mod worker;
