//! The life of a booking: accepted by the API (`accept`), allocated by the
//! worker in batches (`allocate`), cancelled by its owner or with its event
//! (`cancel`). The HTTP handlers and the queue consumer only call into here.

pub mod accept;
pub mod allocate;
pub mod cancel;
pub mod catalog;
pub mod status;
pub mod verified;
pub mod waiters;
