//! Payment providers: Stripe's API (`stripe`) and its webhook signatures
//! (`webhook`). What a payment does to a booking is `booking::pay`'s.

pub mod stripe;
pub mod webhook;
