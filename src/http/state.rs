//! What a request handler may use (realworld's `ApiContext`): one `Arc` of
//! the process's connections, caches and settings. `app` builds it
//! (`AppState::connect`: it knows how a process starts); the pages use the
//! same state.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::{PageKeys, PasswordHasher, TokenKeys};
use crate::booking::catalog::Catalog;
use crate::cache::{BookingCache, Redis, Revocations};
use crate::config::Config;
use crate::queue::Broker;

/// Everything a request handler may need. One `Arc`: axum clones the state
/// for every request (and extractor), so a clone must be a counter increment,
/// not a copy of a dozen handles (the profile showed it).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The connections, caches and settings behind [`AppState`].
pub struct Services {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: Redis,
    pub broker: Broker,
    pub tokens: TokenKeys,
    pub hasher: PasswordHasher,
    pub revocations: Revocations,
    pub bookings: BookingCache,
    pub catalog: Catalog,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub read_cache: crate::cache::read::ReadCache<crate::error::ApiError>,
    pub limiter: crate::cache::rate_limit::RateLimiter,
    pub limits: Arc<super::rate_limit::Limits>,
    pub waiters: crate::booking::waiters::Waiters,
    pub exports: Arc<super::export::Exports>,
    pub verified: crate::booking::verified::VerifiedBuyers,
    /// Stripe's API, when card payments are configured.
    pub stripe: Option<crate::payments::stripe::Stripe>,
    /// Apple Wallet passes, when `APPLE_PASS_*` are set.
    pub wallet: Option<Arc<crate::papers::wallet::PassSigner>>,
    /// The web pages' session cookies and CSRF tokens.
    pub pages: PageKeys,
    /// The worker's batches, which the mailer beside it yields to.
    pub activity: crate::booking::activity::BookingActivity,
}

impl Services {
    /// The event room, over this process's database and caches.
    pub fn events(&self) -> crate::event::EventRoom<'_, crate::error::ApiError> {
        crate::event::EventRoom {
            db: &self.db,
            catalog: &self.catalog,
            read_cache: &self.read_cache,
            bookings: &self.bookings,
            provider: self.config.payment_provider(),
        }
    }
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }

    /// What accepting a booking uses.
    pub fn acceptor(&self) -> crate::booking::accept::Acceptor<'_> {
        crate::booking::accept::Acceptor {
            db: &self.db,
            bookings: &self.bookings,
            broker: &self.broker,
            catalog: &self.catalog,
            metrics: &self.metrics,
        }
    }
}
