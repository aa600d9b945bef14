//! Turning an outbox row into an email: the templates (in `templates/`), the
//! data they show, and the QR codes of the first tickets as inline images
//! (every code is in the text; a large booking's other QR codes are on its
//! booking page, so an email stays small).

pub use crate::db::mail::{AccountMail, BookingMail};
use crate::db::outbox::{Kind, OutboxRow};
use crate::domain::calendar;
use crate::domain::event::local_time;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use minijinja::{Environment, context};

/// At most this many QR codes travel in a confirmation as images.
pub const INLINE_QR_MAX: usize = 10;

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
            ("waiting_list_offer.txt", include_str!("../../templates/waiting_list_offer.txt")),
            ("waiting_list_offer.html", include_str!("../../templates/waiting_list_offer.html")),
            ("refund_succeeded.txt", include_str!("../../templates/refund_succeeded.txt")),
            ("refund_succeeded.html", include_str!("../../templates/refund_succeeded.html")),
            ("invitation.txt", include_str!("../../templates/invitation.txt")),
            ("invitation.html", include_str!("../../templates/invitation.html")),
            ("webhook_disabled.txt", include_str!("../../templates/webhook_disabled.txt")),
            ("attendee_message.txt", include_str!("../../templates/attendee_message.txt")),
            ("attendee_message.html", include_str!("../../templates/attendee_message.html")),
            ("webhook_disabled.html", include_str!("../../templates/webhook_disabled.html")),
            ("email_verification.txt", include_str!("../../templates/email_verification.txt")),
            ("email_verification.html", include_str!("../../templates/email_verification.html")),
            ("sign_in_link.txt", include_str!("../../templates/sign_in_link.txt")),
            ("sign_in_link.html", include_str!("../../templates/sign_in_link.html")),
        ] {
            env.add_template(name, source).expect("templates parse");
        }
        Self { env }
    }
}

/// The page that verifies an address with `token`.
pub fn verification_link(public_url: &str, token: &str) -> String {
    format!("{}/verify?token={token}", public_url.trim_end_matches('/'))
}

/// The page that signs a person in with `token`.
pub fn sign_in_link(public_url: &str, token: &str) -> String {
    format!("{}/login/link?token={token}", public_url.trim_end_matches('/'))
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
            reference => crate::domain::reference::encode(mail.number),
            quantity => mail.quantity,
            ticket_type => mail.ticket_type,
            tickets => mail.tickets,
            inline_qr => INLINE_QR_MAX,
            expires_at => mail.expires_at.map(|t| local_time(t, &mail.timezone)),
            refund => mail.refunded_cents.map(|cents| {
                crate::domain::money::format(cents, mail.currency.as_deref().unwrap_or_default())
            }),
            event => context! {
                title => mail.title,
                venue => mail.venue,
                starts_at => local_time(mail.starts_at, &mail.timezone),
            },
            link => format!("{}/bookings/{}", envelope.public_url.trim_end_matches('/'), mail.booking_id),
        };
        let text = self.env.get_template(&format!("{base}.txt"))?.render(&data)?;
        let html = self.env.get_template(&format!("{base}.html"))?.render(&data)?;
        let subject = match row.kind {
            Kind::BookingConfirmed => format!("Your tickets for {}", mail.title),
            Kind::BookingCancelled => format!("Booking cancelled: {}", mail.title),
            Kind::EventCancelled => format!("Event cancelled: {}", mail.title),
            Kind::RefundSucceeded => format!("Your refund for {}", mail.title),
            Kind::WaitingListOffer => format!("Seats for you: {}", mail.title),
            Kind::EmailVerification
            | Kind::SignInLink
            | Kind::Invitation
            | Kind::WebhookDisabled
            | Kind::AttendeeMessage => {
                anyhow::bail!("an email about an address is not about a booking")
            }
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
        let body = MultiPart::alternative().singlepart(SinglePart::plain(text)).multipart(related);
        // The confirmation carries the event for a calendar, a cancellation
        // the entry's cancel (the same UID).
        let method = match row.kind {
            Kind::BookingConfirmed => Some(calendar::Method::Publish),
            Kind::BookingCancelled | Kind::EventCancelled => {
                Some(calendar::Method::Cancel { attendee_email: &mail.email })
            }
            _ => None,
        };
        let Some(method) = method else { return Ok(builder(row, envelope, to, subject).multipart(body)?) };
        let link = format!("{}/bookings/{}", envelope.public_url.trim_end_matches('/'), mail.booking_id);
        let entry = calendar::Entry {
            uid: calendar::uid(mail.booking_id, envelope.public_url),
            title: &mail.title,
            venue: &mail.venue,
            starts_at: mail.starts_at,
            ends_at: mail.ends_at,
            timezone: &mail.timezone,
            url: &link,
            organizer_email: envelope.from.email.as_ref(),
            stamp: chrono::Utc::now(),
        };
        let ics = calendar::ics(&entry, method);
        let kind = ContentType::parse(&format!("text/calendar; charset=utf-8; method={}", method.as_str()))?;
        let attachment = Attachment::new("event.ics".to_owned()).body(ics, kind);
        let mut mixed = MultiPart::mixed().multipart(body).singlepart(attachment);
        if let Some(pdf) = &mail.tickets_pdf {
            let pdf_kind = ContentType::parse("application/pdf")?;
            mixed = mixed.singlepart(Attachment::new("tickets.pdf".to_owned()).body(pdf.clone(), pdf_kind));
        }
        if let Some((number, pdf)) = &mail.invoice_pdf {
            let pdf_kind = ContentType::parse("application/pdf")?;
            mixed = mixed.singlepart(Attachment::new(format!("{number}.pdf")).body(pdf.clone(), pdf_kind));
        }
        Ok(builder(row, envelope, to, subject).multipart(mixed)?)
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
            link => verification_link(envelope.public_url, token),
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

impl Templates {
    /// The email with a link that signs `email` in (`has_account`: whether
    /// an account uses the address; if not, the link makes one).
    pub fn sign_in_link(
        &self,
        row: &OutboxRow,
        email: &str,
        has_account: bool,
        token: &str,
        envelope: &Envelope<'_>,
    ) -> anyhow::Result<Message> {
        let data = context! {
            link => sign_in_link(envelope.public_url, token),
            minutes => crate::auth::sign_in_link::VALID_FOR.as_secs() / 60,
            has_account,
        };
        let text = self.env.get_template("sign_in_link.txt")?.render(&data)?;
        let html = self.env.get_template("sign_in_link.html")?.render(&data)?;
        let to = Mailbox::new(None, email.parse()?);
        Ok(builder(row, envelope, to, "Your Boxoffice sign-in link".to_owned()).multipart(
            MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)),
        )?)
    }
}

impl Templates {
    /// The email inviting `email` into an organization, with the link that
    /// takes the invitation.
    pub fn invitation(
        &self,
        row: &OutboxRow,
        email: &str,
        invitation: &crate::db::mail::InvitationMail,
        token: &str,
        envelope: &Envelope<'_>,
    ) -> anyhow::Result<Message> {
        let role = crate::domain::team::Role::parse(&invitation.role).map_or("member", |r| r.label());
        let data = context! {
            link => format!("{}/invitations/{token}", envelope.public_url.trim_end_matches('/')),
            organization => invitation.organization,
            inviter => invitation.inviter,
            role,
            days => crate::team::INVITATION_VALID_DAYS,
        };
        let text = self.env.get_template("invitation.txt")?.render(&data)?;
        let html = self.env.get_template("invitation.html")?.render(&data)?;
        let to = Mailbox::new(None, email.parse()?);
        let subject = format!("Join {} on Boxoffice", invitation.organization);
        Ok(builder(row, envelope, to, subject).multipart(
            MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)),
        )?)
    }
}

impl Templates {
    /// One person's copy of an organizer's message to an event's people.
    pub fn attendee_message(
        &self,
        row: &OutboxRow,
        mail: &crate::db::messages::MessageMail,
        organizer: &str,
        envelope: &Envelope<'_>,
    ) -> anyhow::Result<Message> {
        use crate::domain::message::fill;
        let reference =
            mail.numbers.iter().map(|n| crate::domain::reference::encode(*n)).collect::<Vec<_>>().join(", ");
        let body = fill(&mail.body, &mail.name, &mail.event_title, &reference);
        let subject = fill(&mail.subject, &mail.name, &mail.event_title, &reference);
        let paragraphs: Vec<Vec<&str>> =
            body.split("\n\n").map(|p| p.lines().collect::<Vec<_>>()).filter(|p| !p.is_empty()).collect();
        let data = context! { body, paragraphs, organizer, event => mail.event_title };
        let text = self.env.get_template("attendee_message.txt")?.render(&data)?;
        let html = self.env.get_template("attendee_message.html")?.render(&data)?;
        let to = Mailbox::new(Some(mail.name.clone()), mail.email.parse()?);
        Ok(builder(row, envelope, to, subject).multipart(
            MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)),
        )?)
    }

    /// The email telling an owner that an endpoint was turned off.
    pub fn webhook_disabled(
        &self,
        row: &OutboxRow,
        email: &str,
        endpoint: &crate::db::mail::WebhookDisabledMail,
        envelope: &Envelope<'_>,
    ) -> anyhow::Result<Message> {
        let link = format!(
            "{}/manage/organizations/{}/webhooks",
            envelope.public_url.trim_end_matches('/'),
            endpoint.organization_id
        );
        let data = context! {
            organization => endpoint.organization,
            url => endpoint.url,
            reason => endpoint.reason.clone().unwrap_or_default(),
            link,
        };
        let text = self.env.get_template("webhook_disabled.txt")?.render(&data)?;
        let html = self.env.get_template("webhook_disabled.html")?.render(&data)?;
        let to = Mailbox::new(None, email.parse()?);
        let subject = format!("A webhook of {} was turned off", endpoint.organization);
        Ok(builder(row, envelope, to, subject).multipart(
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
