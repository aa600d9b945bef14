//! Boxoffice: an event ticketing backend.
//!
//! Where things live:

/// Shared state of a running API and its start/stop.
pub mod app;
/// Cryptography of accounts: password hashing and access tokens.
pub mod auth;
/// Redis: revoked sessions (and later the read cache, rate limits, idempotency).
pub mod cache;
/// Subcommands (`serve`, `api`, `migrate`) and process start-up.
pub mod cli;
/// Settings from environment and flags.
pub mod config;
/// PostgreSQL: connection, migrations and the queries, one module per table family.
pub mod db;
/// Plain types and rules, checked before any query runs.
pub mod domain;
/// The one API error type and its problem+json mapping.
pub mod error;
/// The HTTP layer: router, extractors, one module per resource, OpenAPI.
pub mod http;
/// RabbitMQ: the connection (and later the booking topology).
pub mod queue;
/// Logging.
pub mod telemetry;
