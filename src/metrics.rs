//! Counters for `/metrics` (Prometheus text format). Plain atomics: nothing
//! here may slow down the paths it counts.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub bookings_accepted: AtomicU64,
    pub bookings_refused_sold_out: AtomicU64,
    pub bookings_unavailable: AtomicU64,
    pub emails_sent: AtomicU64,
    pub emails_retried: AtomicU64,
    pub emails_failed: AtomicU64,
    pub redis_failures: AtomicU64,
    pub password_checks: AtomicU64,
    /// Emails waiting in the outbox, and given up on, as last read by
    /// [`refresh_gauges`] (read at start, then every 15 s).
    pub outbox_pending: std::sync::atomic::AtomicI64,
    pub outbox_failed: std::sync::atomic::AtomicI64,
}

/// How often the outbox gauges are read from PostgreSQL: one small indexed
/// count per process per interval, however often `/metrics` is scraped.
const GAUGES_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Keeps the outbox gauges up to date until `shutdown`.
pub async fn refresh_gauges(
    db: sqlx::PgPool,
    metrics: std::sync::Arc<Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let depth = match db.acquire().await {
            Ok(mut conn) => crate::db::outbox::depth(&mut conn).await,
            Err(err) => Err(err),
        };
        match depth {
            Ok((pending, failed)) => {
                metrics.outbox_pending.store(pending, Ordering::Relaxed);
                metrics.outbox_failed.store(failed, Ordering::Relaxed);
            }
            Err(err) => tracing::debug!(error = %err, "outbox gauges not refreshed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(GAUGES_EVERY) => {}
        }
    }
}

impl Metrics {
    /// The counters, plus gauges measured by the caller, as Prometheus text.
    pub fn render(&self, gauges: &[(&str, &str, i64)]) -> String {
        let mut out = String::new();
        let counters = [
            ("boxoffice_bookings_accepted_total", "Booking requests accepted onto the queue", &self.bookings_accepted),
            (
                "boxoffice_bookings_sold_out_total",
                "Booking requests refused by the sold-out flag",
                &self.bookings_refused_sold_out,
            ),
            ("boxoffice_bookings_unavailable_total", "Booking requests answered 503", &self.bookings_unavailable),
            ("boxoffice_emails_sent_total", "Emails handed to the mail server", &self.emails_sent),
            ("boxoffice_emails_retried_total", "Email sends that failed and will be retried", &self.emails_retried),
            ("boxoffice_emails_failed_total", "Emails given up on", &self.emails_failed),
            ("boxoffice_password_checks_total", "Passwords checked at login (argon2 runs)", &self.password_checks),
            (
                "boxoffice_redis_failures_total",
                "Redis calls that failed or timed out (fallbacks taken)",
                &self.redis_failures,
            ),
        ];
        for (name, help, value) in counters {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}
