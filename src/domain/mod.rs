//! Plain types and rules, checked before any query runs. Nothing here talks to
//! a database or a network, so all of it is unit-tested beside the code.

pub mod account;
pub mod booking;
pub mod calendar;
pub mod checkout;
pub mod code;
pub mod csv;
pub mod draw;
pub mod event;
pub mod invoice;
pub mod message;
pub mod money;
pub mod question;
pub mod reference;
pub mod tax;
pub mod team;
pub mod validation;
pub mod waiting;
pub mod webhook;

pub use validation::{FieldError, Violations};
