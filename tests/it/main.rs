//! The integration tests: one binary, one module per area, each test against
//! its own database and Redis key prefix on the real services.

mod auth;
mod authz;
mod back_office;
mod bookings;
mod browser;
mod cache;
mod card;
mod checkout;
mod connections;
mod crawl;
mod door;
mod draw;
mod emails;
mod errors;
mod events;
mod helpers;
mod images;
mod leaving;
mod logs;
mod nodes;
mod onsale;
mod openapi;
mod ops;
mod packaging;
mod pages;
mod proxy;
mod readme;
mod shop;
mod sign_in_link;
mod smtp;
mod spinning;
mod verification;
mod waiters;
mod waiting;
mod worker;
