//! The life of a booking: accepted by the API (`accept`), allocated by the
//! worker in batches (`allocate`), held while the buyer pays and released
//! when the hold runs out (`holds`), paid (`pay`; by card: `card`),
//! cancelled by its owner, its organizer or with its event, and refunded
//! (`cancel`). The HTTP handlers and the queue consumer only call into here.
//! While the worker is deciding batches, background work yields to it
//! (`activity`).

pub mod accept;
pub mod activity;
pub mod allocate;
pub mod cancel;
pub mod card;
pub mod catalog;
pub mod details;
pub mod draw;
pub mod holds;
pub mod pay;
pub mod payback;
pub mod status;
pub mod verified;
pub mod waiters;
pub mod waiting;
