//! Turning an outbox row into an email: the templates (in `templates/`), the
//! data they show, and the QR codes of the first tickets as inline images
//! (every code is in the text; a large booking's other QR codes are on its
//! booking page, so an email stays small).

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use minijinja::{Environment, context};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::outbox::{Kind, OutboxRow};

/// What an email about one booking shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BookingMail {
    pub booking_id: Uuid,
    /// The booking's status now (a confirmation is not sent once cancelled).
    pub status: String,
    pub quantity: i32,
    pub email: String,
    pub name: String,
    pub title: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub ticket_type: String,
    /// Whether the buyer's address is verified (unverified ones get no
    /// booking emails while verification is required).
    pub verified: bool,
    #[sqlx(skip)]
    pub tickets: Vec<String>,
}

/// At most this many QR codes travel in a confirmation as images.
pub const INLINE_QR_MAX: usize = 10;

/// What an email about an account needs. Not its name: anyone can register
/// anyone's address, so the verification email carries no text a stranger wrote.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountMail {
    pub email: String,
    pub verified: bool,
}

/// The account an email is about; `None` if it no longer exists.
pub async fn load_account(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<AccountMail>, sqlx::Error> {
    sqlx::query_as("SELECT email, email_verified_at IS NOT NULL AS verified FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// The booking, its buyer, event and tickets; `None` if the booking or its
/// event no longer exists.
pub async fn load(conn: &mut PgConnection, booking_id: Uuid) -> Result<Option<BookingMail>, sqlx::Error> {
    let mail: Option<BookingMail> = sqlx::query_as(
        "SELECT b.id AS booking_id, b.status, b.quantity, u.email, u.name, e.title, e.venue, e.starts_at,
                t.name AS ticket_type, u.email_verified_at IS NOT NULL AS verified
         FROM bookings b
         JOIN users u ON u.id = b.user_id
         JOIN events e ON e.id = b.event_id
         JOIN ticket_types t ON t.id = b.ticket_type_id
         WHERE b.id = $1",
    )
    .bind(booking_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut mail) = mail else { return Ok(None) };
    mail.tickets = sqlx::query_scalar("SELECT code FROM tickets WHERE booking_id = $1 ORDER BY created_at, code")
        .bind(booking_id)
        .fetch_all(conn)
        .await?;
    Ok(Some(mail))
}

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        // Compiled in, so a release binary needs no template files next to it.
        for (name, source) in [
            ("booking_confirmed.txt", include_str!("../../templates/booking_confirmed.txt")),
            ("booking_confirmed.html", include_str!("../../templates/booking_confirmed.html")),
            ("booking_cancelled.txt", include_str!("../../templates/booking_cancelled.txt")),
            ("booking_cancelled.html", include_str!("../../templates/booking_cancelled.html")),
            ("event_cancelled.txt", include_str!("../../templates/event_cancelled.txt")),
            ("event_cancelled.html", include_str!("../../templates/event_cancelled.html")),
            ("email_verification.txt", include_str!("../../templates/email_verification.txt")),
            ("email_verification.html", include_str!("../../templates/email_verification.html")),
        ] {
            env.add_template(name, source).expect("templates parse");
        }
        Self { env }
    }
}

/// Everything needed to build a message besides its data.
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub public_url: &'a str,
    /// Domain of the `Message-ID`.
    pub domain: &'a str,
}

impl Templates {
    pub fn message(&self, row: &OutboxRow, mail: &BookingMail, envelope: &Envelope<'_>) -> anyhow::Result<Message> {
        let base = row.kind.as_str();
        let data = context! {
            name => mail.name,
            booking_id => mail.booking_id.to_string(),
            quantity => mail.quantity,
            ticket_type => mail.ticket_type,
            tickets => mail.tickets,
            inline_qr => INLINE_QR_MAX,
            event => context! {
                title => mail.title,
                venue => mail.venue,
                starts_at => mail.starts_at.format("%A, %-d %B %Y, %H:%M UTC").to_string(),
            },
            link => format!("{}/bookings/{}", envelope.public_url.trim_end_matches('/'), mail.booking_id),
        };
        let text = self.env.get_template(&format!("{base}.txt"))?.render(&data)?;
        let html = self.env.get_template(&format!("{base}.html"))?.render(&data)?;
        let subject = match row.kind {
            Kind::BookingConfirmed => format!("Your tickets for {}", mail.title),
            Kind::BookingCancelled => format!("Booking cancelled: {}", mail.title),
            Kind::EventCancelled => format!("Event cancelled: {}", mail.title),
            Kind::EmailVerification => anyhow::bail!("a verification email is not about a booking"),
        };
        let mut related = MultiPart::related().singlepart(SinglePart::html(html));
        if row.kind == Kind::BookingConfirmed {
            let png = ContentType::parse("image/png")?;
            for code in mail.tickets.iter().take(INLINE_QR_MAX) {
                related = related
                    .singlepart(Attachment::new_inline(format!("qr-{code}")).body(crate::qr::png(code), png.clone()));
            }
        }
        let to = Mailbox::new(Some(mail.name.clone()), mail.email.parse()?);
        Ok(builder(row, envelope, to, subject)
            .multipart(MultiPart::alternative().singlepart(SinglePart::plain(text)).multipart(related))?)
    }

    /// The email with the link that verifies `account`'s address.
    pub fn verification(
        &self,
        row: &OutboxRow,
        account: &AccountMail,
        token: &str,
        envelope: &Envelope<'_>,
    ) -> anyhow::Result<Message> {
        let data = context! {
            link => format!("{}/verify?token={token}", envelope.public_url.trim_end_matches('/')),
            hours => crate::auth::verification::VALID_FOR.as_secs() / 3600,
        };
        let text = self.env.get_template("email_verification.txt")?.render(&data)?;
        let html = self.env.get_template("email_verification.html")?.render(&data)?;
        let to = Mailbox::new(None, account.email.parse()?);
        Ok(builder(row, envelope, to, "Confirm your email address".to_owned()).multipart(
            MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)),
        )?)
    }
}

fn builder(row: &OutboxRow, envelope: &Envelope<'_>, to: Mailbox, subject: String) -> lettre::message::MessageBuilder {
    Message::builder()
        .from(envelope.from.clone())
        .to(to)
        .subject(subject)
        // Stable per outbox row: a resend after a crash is recognisable.
        .message_id(Some(format!("<{}@{}>", row.id, envelope.domain)))
}
