//! The mailer: sends the emails of the transactional outbox.
//!
//! It claims due rows with `FOR UPDATE SKIP LOCKED` and a lease (several
//! mailers share the work, none takes a row another holds), renders and sends
//! them, then marks them sent. A failed send is retried with exponential
//! backoff and jitter; a permanent refusal (a 5xx reply) is recorded and not
//! retried (`boxoffice outbox retry-failed` puts given-up rows back once the
//! cause is fixed). A confirmation whose booking was cancelled before it went
//! out is skipped. It wakes on `LISTEN outbox` (rows are announced by a trigger as
//! they commit) and polls every few seconds for retries coming due. After an
//! outage, its first successful send makes every email waiting out its
//! backoff due at once.
//!
//! While the worker beside it is deciding bookings (a sale), it sends one
//! claim of emails a second and leaves the cores to the sale: an email is
//! rendering, a QR image, a file or an SMTP exchange and two queries, and
//! thousands of them would slow the decisions they report. It catches up
//! at full speed once the sale goes quiet. Emails someone waits on to act (a
//! verification link, a waiting-list offer) are not held back: they go
//! first, at full speed. An organizer's message to an event's people (a row
//! per person) comes after every other email due, and waits out a sale.

pub mod render;
pub mod transport;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use lettre::message::Mailbox;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::outbox::{self, OutboxRow};
use crate::metrics::Metrics;
use render::{Envelope, Templates};
use transport::Transport;

/// Rows claimed (and sent concurrently) at a time.
const CLAIM: i64 = 20;
/// How long a claim holds a row: longer than a send can take (SMTP commands
/// time out after 15 s), short enough that a row stranded by a crash or a
/// database outage goes out again soon.
const LEASE: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_secs(2);
/// The pause between claims while the booking path is busy.
const BUSY_PAUSE: Duration = Duration::from_secs(1);
/// Tries before a row that keeps failing is given up on (about a day of backoff).
pub const MAX_ATTEMPTS: i32 = 30;

/// What the mailer needs, and nothing of the HTTP API.
#[derive(Clone)]
pub struct MailerContext {
    pub db: sqlx::PgPool,
    pub metrics: std::sync::Arc<Metrics>,
    pub settings: MailSettings,
    /// The worker's batches: the mailer slows down while they come.
    pub activity: crate::booking::activity::BookingActivity,
}

/// The mail settings of the configuration.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp_url: Option<String>,
    pub mail_dir: String,
    pub mail_from: String,
    pub public_url: String,
    /// Only the verification email goes to an address not verified.
    pub verification_required: bool,
}

impl MailSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            smtp_url: config.smtp_url.clone(),
            mail_dir: config.mail_dir.clone(),
            mail_from: config.mail_from.clone(),
            public_url: config.public_url.clone(),
            verification_required: config.email_verification_required(),
        }
    }
}

pub async fn run(state: MailerContext, shutdown: CancellationToken) {
    let config = &state.settings;
    let transport = match Transport::new(config.smtp_url.as_deref(), &config.mail_dir) {
        Ok(transport) => transport,
        Err(err) => {
            tracing::error!("mailer not started: {err}");
            return;
        }
    };
    let from: Mailbox = match config.mail_from.parse() {
        Ok(from) => from,
        Err(err) => {
            tracing::error!("mailer not started: MAIL_FROM is not an address: {err}");
            return;
        }
    };
    let domain = from.email.domain().to_owned();
    let envelope = Envelope { from: &from, public_url: &config.public_url, domain: &domain };
    let templates = Templates::default();
    match &config.smtp_url {
        Some(url) => tracing::info!(smtp = %crate::config::redact_url(url), "mailer started"),
        None => tracing::info!(dir = %config.mail_dir, "mailer started; no SMTP_URL, writing .eml files"),
    }
    let mut wakeup = crate::db::wakeup::Wakeup::new(&state.db, "outbox", POLL).await;
    // Set by a try that could not reach the mail server; the next success
    // brings the rows that waited for the server forward.
    let failing = AtomicBool::new(false);
    while !shutdown.is_cancelled() {
        loop {
            let busy = state.activity.busy();
            let claimed = match state.db.acquire().await {
                Ok(mut conn) => claim(&mut conn, busy).await,
                Err(err) => Err(err),
            };
            match claimed {
                Ok(rows) if rows.is_empty() => break,
                Ok(rows) => {
                    let sends =
                        rows.iter().map(|row| deliver(&state, &transport, &templates, &envelope, &failing, row));
                    let urgent_only = busy && rows.iter().all(|row| row.kind.is_urgent());
                    join_all(sends).await;
                    if state.activity.busy() && !urgent_only {
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(BUSY_PAUSE) => {}
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "mailer cannot read the outbox");
                    break;
                }
            }
        }
        if !wakeup.wait(&shutdown).await {
            break;
        }
    }
    tracing::info!("mailer stopped");
}

/// The next rows to send: while the booking path is busy, the urgent ones
/// first (a verification link, a waiting-list offer), then the rest.
async fn claim(conn: &mut sqlx::PgConnection, busy: bool) -> Result<Vec<OutboxRow>, sqlx::Error> {
    if busy {
        let urgent = outbox::claim_due_urgent(conn, CLAIM, LEASE).await?;
        if !urgent.is_empty() {
            return Ok(urgent);
        }
    }
    // Organizers' messages wait for the sale to go quiet: booking emails first.
    outbox::claim_due(conn, CLAIM, LEASE, !busy).await
}

#[tracing::instrument(skip_all, fields(outbox.id = %row.id, booking.id = ?row.booking_id, kind = row.kind.as_str()))]
async fn deliver(
    state: &MailerContext,
    transport: &Transport,
    templates: &Templates,
    envelope: &Envelope<'_>,
    failing: &AtomicBool,
    row: &OutboxRow,
) {
    let metrics = &state.metrics;
    let Ok(mut conn) = state.db.acquire().await else {
        return; // the lease brings the row back
    };
    let built = match (row.booking_id, row.user_id, row.secret.as_deref()) {
        (Some(booking_id), _, _) => match crate::db::mail::booking(&mut conn, booking_id).await {
            Ok(Some(mail)) if row.kind == outbox::Kind::BookingConfirmed && mail.status != "confirmed" => {
                // Cancelled before its confirmation went out: the cancellation
                // notice says what matters; void tickets are not sent as valid.
                let why = "the booking was cancelled before this email was sent";
                let _ = outbox::mark_skipped(&mut conn, row, why).await;
                return;
            }
            Ok(Some(mail)) if row.kind == outbox::Kind::WaitingListOffer && mail.status != "held" => {
                // Taken, cancelled or run out before this email went: nothing to offer.
                let _ = outbox::mark_skipped(&mut conn, row, "the offer is over").await;
                return;
            }
            Ok(Some(mail)) if state.settings.verification_required && !mail.verified => {
                // Only the verification email goes to an address nobody confirmed.
                let _ = outbox::mark_skipped(&mut conn, row, "the address is not verified").await;
                return;
            }
            Ok(Some(mut mail)) => {
                if row.kind == outbox::Kind::BookingConfirmed {
                    // The tickets to print or keep offline, read on this
                    // delivery's own connection. A database that failed
                    // brings the row back with its lease; a PDF that cannot
                    // be drawn leaves the email its inline codes and link.
                    let pages = match crate::papers::pages_for(&mut conn, None, booking_id).await {
                        Ok(pages) => Some(pages),
                        Err(crate::papers::PapersError::Database(_)) => return,
                        Err(_) => None,
                    };
                    if let Some(pages) = pages {
                        match crate::papers::render(pages).await {
                            Ok(pdf) => mail.tickets_pdf = Some(pdf),
                            Err(err) => {
                                tracing::warn!(error = %err, booking.id = %booking_id, "tickets PDF not attached")
                            }
                        }
                    }
                    // A paid booking's invoice, issued with its confirmation.
                    let invoice = match crate::db::invoices::invoice_of(&mut conn, booking_id).await {
                        Ok(invoice) => invoice,
                        Err(_) => return,
                    };
                    if let Some(invoice) = invoice {
                        let number = invoice.number.clone();
                        match crate::papers::render_invoice(invoice.document.0).await {
                            Ok(pdf) => mail.invoice_pdf = Some((number, pdf)),
                            Err(err) => tracing::warn!(error = %err, booking.id = %booking_id, "invoice not attached"),
                        }
                    }
                }
                templates.message(row, &mail, envelope)
            }
            Ok(None) => Err(anyhow::anyhow!("the booking or its event no longer exists")),
            Err(_) => return,
        },
        (None, Some(user_id), Some(token)) => match crate::db::mail::account(&mut conn, user_id).await {
            Ok(Some(account)) if account.verified => {
                let _ = outbox::mark_skipped(&mut conn, row, "the address is verified already").await;
                return;
            }
            Ok(Some(account)) => templates.verification(row, &account, token, envelope),
            Ok(None) => Err(anyhow::anyhow!("the account no longer exists")),
            Err(_) => return,
        },
        (None, None, Some(token)) if row.kind == outbox::Kind::Invitation => {
            let (Some(email), Some(id)) = (row.email.as_deref(), row.invitation_id) else {
                let _ = outbox::mark_failed(&mut conn, row, "an invitation with no address").await;
                return;
            };
            match crate::db::mail::invitation(&mut conn, id).await {
                Ok(Some(invitation)) if invitation.expires_at <= chrono::Utc::now() => {
                    // Held up (the mail server was down): the link no longer works.
                    let _ =
                        outbox::mark_skipped(&mut conn, row, "the invitation ran out before it could be sent").await;
                    return;
                }
                Ok(Some(invitation)) => templates.invitation(row, email, &invitation, token, envelope),
                Ok(None) => Err(anyhow::anyhow!("the invitation no longer exists")),
                Err(_) => return,
            }
        }
        (None, None, Some(token)) if row.kind == outbox::Kind::SignInLink => {
            if row.created_at + crate::auth::sign_in_link::VALID_FOR < chrono::Utc::now() {
                // Held up (the mail server was down): the link no longer works.
                let _ = outbox::mark_skipped(&mut conn, row, "the link ran out before it could be sent").await;
                return;
            }
            let Some(email) = row.email.as_deref() else {
                let _ = outbox::mark_failed(&mut conn, row, "a sign-in link with no address").await;
                return;
            };
            match crate::db::users::find_by_email(&mut conn, email).await {
                Ok(account) => templates.sign_in_link(row, email, account.is_some(), token, envelope),
                Err(_) => return,
            }
        }
        (None, Some(user_id), None) if row.kind == outbox::Kind::AttendeeMessage => {
            let Some(message_id) = row.message_id else {
                let _ = outbox::mark_failed(&mut conn, row, "a message row naming no message").await;
                return;
            };
            match crate::db::messages::mail(&mut conn, message_id, user_id).await {
                Ok(Some(mail)) if state.settings.verification_required && !mail.verified => {
                    let _ = outbox::mark_skipped(&mut conn, row, "the address is not verified").await;
                    return;
                }
                Ok(Some(mail)) => {
                    let organizer = match crate::db::mail::organizer_of_message(&mut conn, message_id).await {
                        Ok(name) => name,
                        Err(_) => return,
                    };
                    templates.attendee_message(row, &mail, &organizer, envelope)
                }
                Ok(None) => Err(anyhow::anyhow!("the message or its person no longer exists")),
                Err(_) => return,
            }
        }
        (None, None, None) if row.kind == outbox::Kind::WebhookDisabled => {
            let (Some(email), Some(id)) = (row.email.as_deref(), row.webhook_endpoint_id) else {
                let _ = outbox::mark_failed(&mut conn, row, "a webhook notice with no address").await;
                return;
            };
            match crate::db::mail::webhook_endpoint(&mut conn, id).await {
                Ok(Some(endpoint)) => templates.webhook_disabled(row, email, &endpoint, envelope),
                Ok(None) => Err(anyhow::anyhow!("the endpoint no longer exists")),
                Err(_) => return,
            }
        }
        _ => Err(anyhow::anyhow!("the row names neither a booking nor an account with a link")),
    };
    let message = match built {
        Ok(message) => message,
        Err(err) => {
            tracing::error!(error = %err, "email could not be built; given up");
            let _ = outbox::mark_failed(&mut conn, row, &format!("could not build the message: {err}")).await;
            metrics.emails_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let result = match transport.send(message).await {
        Ok(()) => {
            metrics.emails_sent.fetch_add(1, Ordering::Relaxed);
            let sent = outbox::mark_sent(&mut conn, row).await;
            if failing.swap(false, Ordering::Relaxed) {
                // Emails held by an outage need not wait out their backoff
                // (up to an hour) once the server takes mail again.
                match outbox::retry_waiting_now(&mut conn).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(emails = n, "the mail server takes mail again; waiting emails are due now"),
                    Err(err) => tracing::warn!(error = %err, "could not bring waiting emails forward"),
                }
            }
            sent
        }
        Err(err) if err.permanent || row.attempts >= MAX_ATTEMPTS => {
            tracing::error!(error = %err.message, attempts = row.attempts, "email refused for good; given up");
            metrics.emails_failed.fetch_add(1, Ordering::Relaxed);
            outbox::mark_failed(&mut conn, row, &err.message).await
        }
        Err(err) => {
            let delay = backoff(row.attempts);
            tracing::warn!(error = %err.message, attempts = row.attempts, retry_in = ?delay, "email not sent; will retry");
            metrics.emails_retried.fetch_add(1, Ordering::Relaxed);
            let error = if err.unreachable {
                failing.store(true, Ordering::Relaxed);
                format!("{}{}", outbox::UNREACHABLE, err.message)
            } else {
                err.message
            };
            outbox::reschedule(&mut conn, row, delay, &error).await
        }
    };
    if let Err(err) = result {
        // The lease will bring the row back: at worst the email goes twice,
        // with the same Message-ID.
        tracing::warn!(error = %err, "could not record the outcome of a send");
    }
}

/// 2 s, 4 s, 8 s, ... up to an hour, each ±25 % so retries of a burst spread out.
fn backoff(attempts: i32) -> Duration {
    let base = 2f64.powi(attempts.clamp(1, 12)).min(3600.0);
    Duration::from_secs_f64(base * rand::thread_rng().gen_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(super::backoff(1).as_secs_f64() < 2.6);
        assert!(super::backoff(5).as_secs_f64() > 20.0);
        assert!(super::backoff(1000).as_secs_f64() <= 3600.0 * 1.25);
    }
}
