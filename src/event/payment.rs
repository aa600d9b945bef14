//! How an event is paid for: which of the server's methods it takes (a card
//! through Stripe, or offline), and the instructions an offline payer reads.

use uuid::Uuid;

use super::access::{lock_for, refuse_if_cancelled};
use super::{Event, EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db::events as db_events;
use crate::domain::Violations;
use crate::domain::checkout::Provider;
use crate::domain::team::Action;

/// Longest offline instructions.
pub const INSTRUCTIONS_MAX: usize = 2000;

/// Payment settings as asked; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct PaymentChanges {
    /// `card`, `offline`, or both; `Some(None)`: back to the server's.
    pub methods: Option<Option<Vec<String>>>,
    /// `Some(None)` or an empty text: back to the server's.
    pub instructions: Option<Option<String>>,
    /// Whether its prices include tax (else tax is added on top).
    pub prices_include_tax: Option<bool>,
    /// Whether its paid bookings get invoices; fixed once it is published.
    pub issue_invoices: Option<bool>,
}

impl PaymentChanges {
    pub fn is_empty(&self) -> bool {
        self.methods.is_none()
            && self.instructions.is_none()
            && self.prices_include_tax.is_none()
            && self.issue_invoices.is_none()
    }
}

/// The methods `asked`, checked against what the server has (`server`):
/// card only where Stripe is set up.
fn methods(v: &mut Violations, asked: &[String], server: Provider) -> Vec<String> {
    let mut chosen: Vec<String> = Vec::new();
    for method in asked {
        match method.as_str() {
            "card" if server != Provider::Stripe => {
                v.add("payment_methods", "card payments are not set up on this server (STRIPE_SECRET_KEY)")
            }
            "card" | "offline" => {
                if !chosen.contains(method) {
                    chosen.push(method.clone());
                }
            }
            other => v.add("payment_methods", format!("{other:?} is not a payment method: card or offline")),
        }
    }
    if asked.is_empty() {
        v.add("payment_methods", "at least one: card or offline (leave it out for the server's)");
    }
    chosen
}

/// Whether `changes` may be made on a server whose own way is `server`
/// (to refuse them before anything else of a request is written).
pub fn check(changes: &PaymentChanges, server: Provider) -> Result<(), EventError> {
    let mut v = Violations::new();
    if let Some(Some(asked)) = &changes.methods {
        methods(&mut v, asked, server);
    }
    if let Some(Some(text)) = &changes.instructions {
        if !text.trim().is_empty() {
            v.paragraph("offline_payment_instructions", text, 1, INSTRUCTIONS_MAX);
        }
    }
    Ok(v.finish()?)
}

impl<E: SharedFailure> EventRoom<'_, E> {
    /// Changes how the event is paid for. Holds given from now on are
    /// paid the new way; those already given keep theirs.
    pub async fn set_payment(&self, user_id: Uuid, id: Uuid, changes: PaymentChanges) -> Result<Event, EventError> {
        let mut tx = self.db.begin().await?;
        let current = lock_for(&mut tx, id, user_id, Action::EditEvent).await?;
        refuse_if_cancelled(&current)?;
        let details = write(&mut tx, &current, changes, self.provider, false).await?;
        let ticket_types = db_events::ticket_types_of(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.changed(id).await;
        Ok(Event { details, ticket_types })
    }
}

/// Writes `changes` to `current` (locked by the caller's transaction; just
/// inserted there when `creating`, published or not: no booking can have
/// seen it yet).
pub(super) async fn write(
    tx: &mut sqlx::PgConnection,
    current: &db_events::EventRow,
    changes: PaymentChanges,
    server: Provider,
    creating: bool,
) -> Result<db_events::EventRow, EventError> {
    let mut v = Violations::new();
    let methods = match changes.methods {
        Some(Some(asked)) => Some(methods(&mut v, &asked, server)),
        Some(None) => None,
        None => current.payment_methods.clone(),
    };
    let instructions = match changes.instructions {
        Some(Some(text)) if !text.trim().is_empty() => {
            v.paragraph("offline_payment_instructions", &text, 1, INSTRUCTIONS_MAX)
        }
        Some(_) => None,
        None => current.offline_payment_instructions.clone(),
    };
    v.finish()?;
    // Held and sold bookings keep the tax they were sold with.
    let included = changes.prices_include_tax.unwrap_or(current.prices_include_tax);
    // Every paid booking of an event is invoiced alike: bookings exist only
    // once it is published (the caller's lock keeps it a draft meanwhile).
    let invoices = changes.issue_invoices.unwrap_or(current.issue_invoices);
    if invoices != current.issue_invoices && current.published_at.is_some() && !creating {
        return Err(EventError::InvoicingFixed);
    }
    Ok(db_events::set_payment(tx, current.id, methods.as_deref(), instructions.as_deref(), included, invoices).await?)
}
