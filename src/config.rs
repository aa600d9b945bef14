//! Settings, read from flags and the environment, with defaults that work
//! against local services on their standard ports.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

/// The type of the booking and dead-letter queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueType {
    /// Replicated (production).
    Quorum,
    /// Single-node (development, the test suite).
    Classic,
}

impl QueueType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quorum => "quorum",
            Self::Classic => "classic",
        }
    }
}

/// A secret setting: never printed (`Debug` shows `***`).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    fn parse(raw: &str) -> Result<Self, String> {
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(raw: &str) -> Self {
        Self(raw.to_owned())
    }
}

/// Writes `text` to a new file at `path` only its owner may read, whole or
/// not at all: written beside it, then linked into place (`AlreadyExists`
/// when another process got there first; a reader never sees it half made).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let draft = dir.join(format!(".jwt-secret.{}.{}", std::process::id(), rand::random::<u32>()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&draft)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::hard_link(&draft, path)
    })();
    let _ = std::fs::remove_file(&draft);
    written
}

/// A rate limit: `count` requests per `period` (`RATE_LIMIT_*` settings;
/// counted in Redis by `cache::rate_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// Parses `N/SECONDS`, e.g. `300/60`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("`{raw}` is not a limit like 300/60 (requests per seconds)");
        let (count, secs) = raw.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let secs: u64 = secs.trim().parse().map_err(|_| bad())?;
        if count == 0 || secs == 0 || secs > 86_400 {
            return Err(bad());
        }
        Ok(Self { count, period: Duration::from_secs(secs) })
    }
}

/// Where `/metrics` listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<std::net::SocketAddr>);

impl MetricsAddr {
    fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "off" => Ok(Self(None)),
            addr => addr.parse().map(|a| Self(Some(a))).map_err(|_| format!("{raw:?} is not host:port or off")),
        }
    }
}

/// `on` or `off`, as the switches are written in the environment.
fn on_off(raw: &str) -> Result<bool, String> {
    match raw {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("must be `on` or `off`, not `{other}`")),
    }
}

/// `1` or `0` (`on`/`off` too).
fn one_zero(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "on" => Ok(true),
        "0" | "off" => Ok(false),
        other => Err(format!("must be `1` or `0`, not `{other}`")),
    }
}

/// Every setting of the process. Each flag can also be set by the environment
/// variable of the same name in upper case (see `.env.example`).
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL; the database is created if missing and migrated at start.
    #[arg(long, env = "DATABASE_URL", global = true, default_value = "postgres://postgres@127.0.0.1:5432/boxoffice")]
    pub database_url: String,

    /// Largest number of PostgreSQL connections this process opens.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", global = true, default_value_t = 20)]
    pub database_max_connections: u32,

    #[arg(long, env = "REDIS_URL", global = true, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Prefix of every Redis key this process writes, so several deployments
    /// (or tests) can share one Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", global = true, default_value = "boxoffice:")]
    pub redis_key_prefix: String,

    /// RabbitMQ; the vhost in the URL is honoured.
    #[arg(long, env = "AMQP_URL", global = true, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    pub amqp_url: String,

    /// Prefix of every exchange and queue name, so deployments (and tests)
    /// can share a vhost.
    #[arg(long, env = "AMQP_QUEUE_PREFIX", global = true, default_value = "boxoffice.")]
    pub amqp_queue_prefix: String,

    /// Type of the booking and dead-letter queues: `quorum` (replicated, the
    /// default) or `classic` (single-node development and the test suite, where
    /// hundreds of short-lived quorum queues would only slow the broker down).
    #[arg(long, env = "AMQP_QUEUE_TYPE", global = true, default_value = "quorum", value_enum)]
    pub amqp_queue_type: QueueType,

    /// Queues unused this long are deleted by RabbitMQ (for tests; unset in production).
    #[arg(long, env = "AMQP_QUEUE_EXPIRES_MS", global = true, hide = true)]
    pub amqp_queue_expires_ms: Option<u32>,

    /// Channels the API publishes booking requests on, each with many
    /// unconfirmed publishes in flight.
    #[arg(long, env = "AMQP_PUBLISH_CHANNELS", global = true, default_value_t = 4)]
    pub amqp_publish_channels: usize,

    /// Booking messages the worker decides in one PostgreSQL transaction, at
    /// most (it takes what is waiting, without waiting for more; a message
    /// carries one request, or several accepted at the same moment, and a
    /// transaction takes at most ten times this many requests). 500: in a
    /// sale on two cores, batches of 200 left the worker behind the API (each
    /// transaction's round trips wait for a core), so more requests were
    /// accepted before the sold-out flag went up; 1,000 was slower again
    /// (docs/BENCHMARKS.md, "Throughput").
    #[arg(long, env = "WORKER_BATCH_SIZE", global = true, default_value_t = 500)]
    pub worker_batch_size: u16,

    /// Tries of a booking request that keeps failing before it goes to the
    /// dead-letter queue (retries wait 1 s, 5 s, 30 s, then 120 s each).
    #[arg(long, env = "BOOKING_MAX_ATTEMPTS", global = true, default_value_t = 8)]
    pub booking_max_attempts: u32,

    /// SMTP server for emails; unset: emails are written as `.eml` files under MAIL_DIR.
    #[arg(long, env = "SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    #[arg(long, env = "MAIL_DIR", global = true, default_value = "var/mail")]
    pub mail_dir: String,

    #[arg(long, env = "MAIL_FROM", global = true, default_value = "Boxoffice <tickets@localhost>")]
    pub mail_from: String,

    /// Base of links in emails.
    #[arg(long, env = "PUBLIC_URL", global = true, default_value = "http://127.0.0.1:8080")]
    pub public_url: String,

    /// HMAC key of access tokens, at least 32 bytes. Unset: a random key per
    /// start (tokens die with the process and are not shared between replicas).
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true, value_parser = Secret::parse)]
    pub jwt_secret: Option<Secret>,

    /// Without JWT_SECRET, `serve` keeps a random key here, made on its first
    /// start (so the README's first command works and tokens outlive a restart).
    #[arg(long, env = "JWT_SECRET_FILE", global = true, default_value = "var/jwt-secret")]
    pub jwt_secret_file: String,

    /// `1` on a development machine: `api` may then start without JWT_SECRET
    /// (with the key of JWT_SECRET_FILE), which replicas could not share.
    #[arg(long, env = "BOXOFFICE_DEV", global = true, default_value = "0", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev: bool,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", global = true, default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Seconds a sign-out is remembered in Redis beyond the longest
    /// credential's lifetime, for clocks that differ between machines.
    #[arg(long, env = "REVOCATION_LEEWAY_SECS", global = true, default_value_t = 30)]
    pub revocation_leeway_secs: u64,

    /// Lifetime of a refresh token, in seconds (default 30 days).
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", global = true, default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    #[arg(long, env = "BIND_ADDR", global = true, default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// A connection must send a whole request head within this many
    /// milliseconds of being accepted (or of its last answer), else it is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", global = true, default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// `on`: new accounts get a verification link; until it is used they
    /// cannot book and get no other email. `off` (benchmarks, local trials):
    /// no link is sent and every account may book.
    #[arg(long, env = "EMAIL_VERIFICATION", global = true, default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    pub email_verification: bool,

    /// `off` disables every rate limit (load tests, benchmarks).
    #[arg(long, env = "RATE_LIMITS", global = true, default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    pub rate_limits: bool,

    /// Requests per user per window on authenticated routes, as `N/SECONDS`.
    #[arg(long, env = "RATE_LIMIT_USER", global = true, default_value = "300/60", value_parser = Limit::parse)]
    pub rate_limit_user: Limit,

    /// Requests per client IP per window on anonymous API routes.
    #[arg(long, env = "RATE_LIMIT_ANONYMOUS", global = true, default_value = "600/60", value_parser = Limit::parse)]
    pub rate_limit_anonymous: Limit,

    /// Requests per client IP per window to login, register and refresh.
    #[arg(long, env = "RATE_LIMIT_AUTH", global = true, default_value = "30/60", value_parser = Limit::parse)]
    pub rate_limit_auth: Limit,

    /// Failed logins per email address from one client IP per window; past
    /// it, that address's attempts on that account are refused unchecked.
    #[arg(long, env = "RATE_LIMIT_LOGIN_FAILURES", global = true, default_value = "10/900", value_parser = Limit::parse)]
    pub rate_limit_login_failures: Limit,

    /// Failed logins per email address from all addresses per window; past
    /// it a wrong password answers 429, a correct one still signs in.
    #[arg(long, env = "RATE_LIMIT_LOGIN_EMAIL", global = true, default_value = "100/900", value_parser = Limit::parse)]
    pub rate_limit_login_email: Limit,

    /// `1`: webhook endpoints may be http and private, loopback or link-local
    /// addresses (tests, a receiver on this machine). Never in production: it
    /// lets an organizer's endpoint reach into the operator's network.
    #[arg(long, env = "WEBHOOKS_ALLOW_HTTP", global = true, default_value = "0", value_parser = one_zero, action = clap::ArgAction::Set)]
    pub webhooks_allow_http: bool,

    /// `off` serves every read from PostgreSQL (to measure what the cache gives).
    #[arg(long, env = "READ_CACHE", global = true, default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    pub read_cache: bool,

    /// How long a cached event (and the first page of the list) is served;
    /// `remaining` seats may lag by this much.
    #[arg(long, env = "READ_CACHE_TTL_MS", global = true, default_value_t = 1000)]
    pub read_cache_ttl_ms: u64,

    /// An attendee-list download still running after this many seconds is
    /// cut off (it ends with an error, never as if complete).
    #[arg(long, env = "EXPORT_DEADLINE_SECS", global = true, default_value_t = 600)]
    pub export_deadline_secs: u64,

    /// Requests that may wait at once for their booking to be decided
    /// (`?wait=`); past it, a request is answered at once.
    #[arg(long, env = "LONG_POLL_MAX_WAITERS", global = true, default_value_t = 20_000)]
    pub long_poll_max_waiters: usize,

    /// Days that sent emails, expired refresh tokens and ended sessions are
    /// kept before the worker prunes them.
    #[arg(long, env = "RETENTION_DAYS", global = true, default_value_t = 30)]
    pub retention_days: u32,

    /// Where `/metrics` is served: a listener of its own, never the public
    /// one (Prometheus's port, on loopback by default); `off`: nowhere.
    #[arg(long, env = "METRICS_ADDR", global = true, default_value = "127.0.0.1:9090", value_parser = MetricsAddr::parse)]
    pub metrics_addr: MetricsAddr,

    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this>`.
    #[arg(long, env = "METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// `true`: the client IP for rate limits comes from `X-Forwarded-For`.
    #[arg(long, env = "TRUST_PROXY_HEADERS", global = true, default_value_t = false)]
    pub trust_proxy_headers: bool,

    /// Stripe's secret API key: when set, held bookings are paid by card
    /// through Stripe; otherwise offline (the organizer marks them paid).
    #[arg(long, env = "STRIPE_SECRET_KEY", global = true, hide_env_values = true, value_parser = Secret::parse)]
    pub stripe_secret_key: Option<Secret>,
    /// Given to pages for Stripe.js.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY", global = true)]
    pub stripe_publishable_key: Option<String>,
    /// The signing secret of the webhook endpoint (`whsec_…`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", global = true, hide_env_values = true, value_parser = Secret::parse)]
    pub stripe_webhook_secret: Option<Secret>,
    /// Stripe's API (the emulator's address in tests).
    #[arg(long, env = "STRIPE_API_BASE", global = true, default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,
    /// Where pages load Stripe.js from.
    #[arg(long, env = "STRIPE_JS_URL", global = true, default_value = "https://js.stripe.com/v3/")]
    pub stripe_js_url: String,
    /// What a buyer paying offline is told (bank details, pay at the door).
    #[arg(
        long,
        env = "OFFLINE_PAYMENT_INSTRUCTIONS",
        global = true,
        default_value = "Pay by bank transfer or at the box office, quoting your booking number. The organizer confirms your booking when the payment arrives."
    )]
    pub offline_payment_instructions: String,

    /// Apple Wallet passes: the Pass Type ID certificate (PEM file). With
    /// APPLE_PASS_KEY, APPLE_PASS_TYPE_ID and APPLE_PASS_TEAM_ID, buyers get
    /// "Add to Apple Wallet"; without them `tickets.pkpass` is 404.
    #[arg(long, env = "APPLE_PASS_CERTIFICATE", global = true)]
    pub apple_pass_certificate: Option<String>,
    /// The certificate's private key (PEM file, RSA, unencrypted).
    #[arg(long, env = "APPLE_PASS_KEY", global = true)]
    pub apple_pass_key: Option<String>,
    /// Apple's WWDR intermediate certificate (PEM file), carried in every
    /// pass's signature: Wallet on a device refuses a pass without it.
    #[arg(long, env = "APPLE_PASS_WWDR", global = true)]
    pub apple_pass_wwdr: Option<String>,
    /// The pass type identifier the certificate was issued for (`pass.com.example.tickets`).
    #[arg(long, env = "APPLE_PASS_TYPE_ID", global = true)]
    pub apple_pass_type_id: Option<String>,
    /// The Apple Developer team identifier of the certificate.
    #[arg(long, env = "APPLE_PASS_TEAM_ID", global = true)]
    pub apple_pass_team_id: Option<String>,
    /// The name a pass shows as its issuer.
    #[arg(long, env = "APPLE_PASS_ORGANIZATION", global = true, default_value = "Boxoffice")]
    pub apple_pass_organization: String,
}

impl Config {
    /// How held bookings are paid: Stripe when its secret key is set.
    pub fn payment_provider(&self) -> crate::domain::checkout::Provider {
        match self.stripe_secret_key {
            Some(_) => crate::domain::checkout::Provider::Stripe,
            None => crate::domain::checkout::Provider::Offline,
        }
    }

    pub fn email_verification_required(&self) -> bool {
        self.email_verification
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    /// How long old rows are kept: the retention, and never less than an
    /// access token lives (a session's row is what says it was revoked).
    pub fn retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.retention_days) * 86_400)
            .max(self.access_token_ttl() + Duration::from_secs(60))
    }

    /// The key of access tokens when JWT_SECRET is unset: the one kept in
    /// JWT_SECRET_FILE, made (with a line saying so) when there is none.
    /// Refused for `replicated` roles (`api`) unless BOXOFFICE_DEV=1: each
    /// machine would make its own, and a token from one replica would be
    /// refused by the next.
    pub fn local_jwt_secret(&self, replicated: bool) -> Result<Secret, String> {
        if replicated && !self.dev {
            return Err("JWT_SECRET is not set: every `boxoffice api` shares one key of 32 bytes or more \
                 (`openssl rand -hex 32`); on a development machine BOXOFFICE_DEV=1 uses a local key file"
                .into());
        }
        let path = std::path::Path::new(&self.jwt_secret_file);
        match std::fs::read_to_string(path) {
            Ok(text) if text.trim().len() >= 32 => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "{} holds the key of access tokens but others may read it (mode {mode:o}): chmod 600 it",
                        path.display()
                    ));
                }
                Ok(Secret(text.trim().to_owned()))
            }
            Ok(_) => Err(format!("{} holds no key of 32 bytes or more: remove it, or set JWT_SECRET", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let key: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
                match write_private(path, &key) {
                    Ok(()) => {}
                    // Another process started at the same moment made it: its key.
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                        return self.local_jwt_secret(replicated);
                    }
                    Err(err) => {
                        return Err(format!("JWT_SECRET is not set and {} cannot be written: {err}", path.display()));
                    }
                }
                tracing::warn!(
                    file = %path.display(),
                    "JWT_SECRET is not set: made a random key and kept it in this file for later starts; \
                     set JWT_SECRET (the same for every replica) in production"
                );
                Ok(Secret(key))
            }
            Err(err) => Err(format!("JWT_SECRET is not set and {} cannot be read: {err}", path.display())),
        }
    }

    /// Checks what clap cannot: returns one readable message per problem.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(secret) = &self.jwt_secret {
            if secret.expose().len() < 32 {
                return Err(format!("JWT_SECRET must be at least 32 bytes, it has {}", secret.expose().len()));
            }
        }
        if !(1..=24 * 3600).contains(&self.access_token_ttl_secs) {
            return Err("ACCESS_TOKEN_TTL_SECS must be between 1 and 86400 (one day)".into());
        }
        if !(1..=366 * 24 * 3600).contains(&self.refresh_token_ttl_secs) {
            return Err("REFRESH_TOKEN_TTL_SECS must be between 1 and 31622400 (one year)".into());
        }
        if !(100..=300_000).contains(&self.header_read_timeout_ms) {
            return Err("HEADER_READ_TIMEOUT_MS must be between 100 and 300000".into());
        }
        if !(1..=86_400).contains(&self.export_deadline_secs) {
            return Err("EXPORT_DEADLINE_SECS must be between 1 and 86400".into());
        }
        if !(1..=1_000_000).contains(&self.long_poll_max_waiters) {
            return Err("LONG_POLL_MAX_WAITERS must be between 1 and 1000000".into());
        }
        if !(1..=3650).contains(&self.retention_days) {
            return Err("RETENTION_DAYS must be between 1 and 3650".into());
        }
        if self.metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err("METRICS_TOKEN must be at least 16 characters".into());
        }
        if !(1..=1000).contains(&self.worker_batch_size) {
            return Err("WORKER_BATCH_SIZE must be between 1 and 1000".into());
        }
        if !(1..=64).contains(&self.amqp_publish_channels) {
            return Err("AMQP_PUBLISH_CHANNELS must be between 1 and 64".into());
        }
        crate::mail::transport::check_settings(self.smtp_url.as_deref(), &self.mail_from)?;
        if self.booking_max_attempts == 0 {
            return Err("BOOKING_MAX_ATTEMPTS must be at least 1".into());
        }
        check_stripe_keys(self.stripe_secret_key.as_ref(), self.stripe_webhook_secret.as_ref())?;
        if url::Url::parse(&self.stripe_api_base).is_err() {
            return Err("STRIPE_API_BASE must be a URL".into());
        }
        if !(1..=60_000).contains(&self.read_cache_ttl_ms) {
            return Err("READ_CACHE_TTL_MS must be between 1 and 60000".into());
        }
        Ok(())
    }
}

/// Card payments need both of Stripe's secrets, each of its own kind: an
/// empty or short webhook secret (what `${STRIPE_WEBHOOK_SECRET:-}` in a
/// compose file gives) would let anyone sign a payment that never happened.
fn check_stripe_keys(secret_key: Option<&Secret>, webhook_secret: Option<&Secret>) -> Result<(), String> {
    /// Stripe's signing secrets are `whsec_` and 32 characters; fewer than
    /// 16 is not one of them.
    const LEAST_WEBHOOK_SECRET: usize = 16;
    match (secret_key.map(Secret::expose), webhook_secret.map(Secret::expose)) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err("STRIPE_WEBHOOK_SECRET is set without STRIPE_SECRET_KEY: set both for card payments, or neither".into())
        }
        (Some(key), _) if !(key.starts_with("sk_") || key.starts_with("rk_")) || key.len() < 8 => Err(
            "STRIPE_SECRET_KEY must be a Stripe secret or restricted key (sk_… or rk_…); unset it for offline payments"
                .into(),
        ),
        (Some(_), None) => Err(
            "STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY (payments are confirmed by its signed webhook)"
                .into(),
        ),
        (Some(_), Some(secret))
            if secret.strip_prefix("whsec_").is_none_or(|rest| rest.len() < LEAST_WEBHOOK_SECRET) =>
        {
            Err(format!(
                "STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret: whsec_ and at least \
                 {LEAST_WEBHOOK_SECRET} more characters (Stripe's dashboard shows it)"
            ))
        }
        (Some(_), Some(_)) => Ok(()),
    }
}

/// A URL fit for logs: the password, if any, replaced by `***`.
pub fn redact_url(raw: &str) -> String {
    // A list of nodes (`AMQP_URL`) or of Sentinels (`REDIS_URL`): each part
    // on its own; a part that is only `host:port` has no password to hide.
    raw.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) if !raw.contains('@') => raw.to_owned(),
        Err(_) => "<unparseable URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::from("do-not-print-me-0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    #[test]
    fn card_payments_start_only_with_both_of_stripes_secrets_of_their_kind() {
        let check = |key: Option<&str>, hook: Option<&str>| {
            check_stripe_keys(key.map(Secret::from).as_ref(), hook.map(Secret::from).as_ref())
        };
        let good_hook = Some("whsec_0123456789abcdef");
        assert_eq!(check(None, None), Ok(()), "offline payments");
        assert_eq!(check(Some("sk_test_abc123"), good_hook), Ok(()));
        assert_eq!(check(Some("rk_live_abc123"), good_hook), Ok(()));
        for (key, hook, says) in [
            (Some("sk_test_abc123"), Some(""), "STRIPE_WEBHOOK_SECRET must be the"),
            (Some("sk_test_abc123"), Some("whsec_"), "STRIPE_WEBHOOK_SECRET must be the"),
            (Some("sk_test_abc123"), Some("whsec_0123456789abcde"), "at least 16"),
            (Some("sk_test_abc123"), Some("0123456789abcdef0123456789"), "whsec_"),
            (Some("sk_test_abc123"), None, "must be set with"),
            (Some(""), good_hook, "STRIPE_SECRET_KEY must be"),
            (Some("pk_test_abc123"), good_hook, "STRIPE_SECRET_KEY must be"),
            (None, good_hook, "without STRIPE_SECRET_KEY"),
        ] {
            let refused = check(key, hook).expect_err(&format!("{key:?} {hook:?}"));
            assert!(refused.contains(says), "{refused}");
        }
    }

    #[test]
    fn switches_are_on_or_off() {
        assert_eq!(on_off("on"), Ok(true));
        assert_eq!(on_off("off"), Ok(false));
        assert!(on_off("yes").is_err());
    }

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/boxoffice"),
            "postgres://postgres@127.0.0.1:5432/boxoffice"
        );
        assert_eq!(
            redact_url("amqp://u:one@127.0.0.1:5672/%2f,amqp://u:two@127.0.0.1:5673/%2f"),
            "amqp://u:***@127.0.0.1:5672/%2f,amqp://u:***@127.0.0.1:5673/%2f",
            "every node of a list"
        );
        assert_eq!(
            redact_url("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster"),
            "redis+sentinel://:***@127.0.0.1:26379,127.0.0.1:26380/mymaster",
            "a Sentinel list"
        );
    }
}
