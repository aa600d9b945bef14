//! Where emails go: an SMTP server (`SMTP_URL`), or `.eml` files in
//! `MAIL_DIR` when no server is configured.

use std::time::Duration;

use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The folder too: each email written is logged with its file.
    Files(AsyncFileTransport<Tokio1Executor>, String),
}

/// A failed send, and whether trying again can help.
#[derive(Debug)]
pub struct SendError {
    /// The server refused for good (a 5xx reply): do not retry.
    pub permanent: bool,
    /// No SMTP answer at all (connection refused or cut, TLS) or 421 "service
    /// not available": the server is away, not unhappy with this email.
    pub unreachable: bool,
    pub message: String,
}

/// Checks the mailer's settings at start, so a typo stops the process with
/// one clear line instead of running without a mailer while the outbox grows.
pub fn check_settings(smtp_url: Option<&str>, mail_from: &str) -> Result<(), String> {
    if let Some(url) = smtp_url {
        smtp_builder(url)?;
    }
    mail_from.parse::<lettre::message::Mailbox>().map_err(|err| {
        format!("MAIL_FROM must be an address such as `Boxoffice <tickets@example.org>`, not `{mail_from}`: {err}")
    })?;
    Ok(())
}

fn smtp_builder(url: &str) -> Result<lettre::transport::smtp::AsyncSmtpTransportBuilder, String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|err| {
        format!(
            "SMTP_URL is not usable ({err}): give smtp://host:port, smtp://host:port?tls=required or smtps://host:port, or leave it unset to write .eml files"
        )
    })
}

impl Transport {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (TLS), with `user:pass@` for authentication.
    pub fn new(smtp_url: Option<&str>, mail_dir: &str) -> Result<Self, String> {
        match smtp_url {
            Some(url) => Ok(Self::Smtp(smtp_builder(url)?.timeout(Some(SMTP_TIMEOUT)).build())),
            None => {
                std::fs::create_dir_all(mail_dir).map_err(|err| format!("cannot create MAIL_DIR {mail_dir}: {err}"))?;
                Ok(Self::Files(AsyncFileTransport::new(mail_dir), mail_dir.to_owned()))
            }
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|err| SendError {
                permanent: refuses_the_recipient(&err),
                unreachable: err.status().is_none_or(|code| u16::from(code) == 421),
                message: err.to_string(),
            }),
            // In development the log a newcomer watches says where the email
            // (the verification link, say) is; the link itself stays out of
            // the log, like every secret.
            Self::Files(files, dir) => files
                .send(message)
                .await
                .map(|id| {
                    let file = std::path::Path::new(dir).join(format!("{id}.eml"));
                    tracing::info!(file = %file.display(), "no SMTP_URL: email written to a file");
                })
                .map_err(|err| SendError { permanent: false, unreachable: false, message: err.to_string() }),
        }
    }
}

/// Only a refusal of this one recipient is final (no such mailbox, not
/// local, bad address). Other 5xx replies, such as a failed login or a
/// refused sender, are a misconfiguration that affects every email: retried
/// with backoff (and visible in the log and /metrics) until it is fixed.
fn refuses_the_recipient(err: &lettre::transport::smtp::Error) -> bool {
    err.is_permanent() && err.status().map(u16::from).is_some_and(|code| matches!(code, 550 | 551 | 553))
}
