//! Invoices and credit notes as issued: the whole paper (seller, buyer,
//! lines, rates, totals) kept as it was, since an invoice never changes
//! after it is issued. A credit note is an invoice's opposite, in full or
//! for the part refunded.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::tax::{Amounts, rate_label};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Invoice,
    CreditNote,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invoice => "invoice",
            Self::CreditNote => "credit_note",
        }
    }
}

/// Who sells or buys, as the paper names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    /// Lines of a postal address (may be empty for a consumer).
    pub address: String,
    /// VAT or tax number (empty: none given).
    pub tax_id: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub description: String,
    pub quantity: i64,
    /// The price of one as sold (gross when prices include tax, else net).
    pub unit_cents: i64,
    pub tax_rate: i32,
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// One rate's share of the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateTotal {
    pub tax_rate: i32,
    #[serde(flatten)]
    pub amounts: Amounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub kind: Kind,
    pub number: String,
    pub issued_at: DateTime<Utc>,
    pub currency: String,
    pub seller: Party,
    pub buyer: Party,
    /// The booking's reference, and what was sold.
    pub reference: String,
    pub event_title: String,
    pub event_starts_at: DateTime<Utc>,
    pub timezone: String,
    pub prices_include_tax: bool,
    pub lines: Vec<Line>,
    pub rates: Vec<RateTotal>,
    #[serde(flatten)]
    pub totals: Amounts,
    /// A credit note: the number of the invoice it corrects.
    pub credits: Option<String>,
    pub footer: String,
}

/// A number as `{prefix}-{year}-{n}`, `n` gapless per organizer and year.
pub fn number(prefix: &str, year: i32, n: i32) -> String {
    format!("{prefix}-{year}-{n:05}")
}

/// The year an invoice issued at `at` is numbered in.
pub fn year_of(at: DateTime<Utc>) -> i32 {
    at.year()
}

/// What a sale is, before it is numbered.
#[derive(Debug, Clone)]
pub struct Sale {
    pub seller: Party,
    pub buyer: Party,
    pub reference: String,
    pub event_title: String,
    pub event_starts_at: DateTime<Utc>,
    pub timezone: String,
    pub currency: String,
    pub prices_include_tax: bool,
    pub footer: String,
    /// (description, quantity, unit price, rate).
    pub items: Vec<(String, i64, i64, i32)>,
}

/// The invoice of `sale`, numbered `number`.
pub fn invoice(sale: Sale, number: String, issued_at: DateTime<Utc>) -> Document {
    let lines: Vec<Line> = sale
        .items
        .into_iter()
        .map(|(description, quantity, unit_cents, tax_rate)| Line {
            amounts: Amounts::of_line(unit_cents, quantity, tax_rate, sale.prices_include_tax),
            description,
            quantity,
            unit_cents,
            tax_rate,
        })
        .collect();
    Document {
        kind: Kind::Invoice,
        number,
        issued_at,
        currency: sale.currency,
        seller: sale.seller,
        buyer: sale.buyer,
        reference: sale.reference,
        event_title: sale.event_title,
        event_starts_at: sale.event_starts_at,
        timezone: sale.timezone,
        prices_include_tax: sale.prices_include_tax,
        rates: rates_of(&lines),
        totals: lines.iter().map(|l| l.amounts).fold(Amounts::default(), Amounts::plus),
        lines,
        credits: None,
        footer: sale.footer,
    }
}

/// The credit note of `refunded` (gross, minor units) of `invoice`: its
/// exact opposite when all of it was refunded, else one line for the part,
/// taken apart at the invoice's rate (a booking has one ticket type).
pub fn credit_note(invoice: &Document, refunded: i64, number: String, issued_at: DateTime<Utc>) -> Document {
    let lines: Vec<Line> = if refunded >= invoice.totals.gross_cents {
        invoice
            .lines
            .iter()
            .map(|l| Line { quantity: -l.quantity, amounts: l.amounts.negated(), ..l.clone() })
            .collect()
    } else {
        let rate = invoice.lines.first().map_or(0, |l| l.tax_rate);
        vec![Line {
            description: format!("Refund of part of invoice {}", invoice.number),
            quantity: -1,
            unit_cents: refunded,
            tax_rate: rate,
            amounts: Amounts::of_gross(refunded, rate).negated(),
        }]
    };
    Document {
        kind: Kind::CreditNote,
        number,
        issued_at,
        rates: rates_of(&lines),
        totals: lines.iter().map(|l| l.amounts).fold(Amounts::default(), Amounts::plus),
        lines,
        credits: Some(invoice.number.clone()),
        ..invoice.clone()
    }
}

/// The totals per rate, lowest rate first.
fn rates_of(lines: &[Line]) -> Vec<RateTotal> {
    let mut rates: Vec<RateTotal> = Vec::new();
    for line in lines {
        match rates.iter_mut().find(|r| r.tax_rate == line.tax_rate) {
            Some(rate) => rate.amounts = rate.amounts.plus(line.amounts),
            None => rates.push(RateTotal { tax_rate: line.tax_rate, amounts: line.amounts }),
        }
    }
    rates.sort_by_key(|r| r.tax_rate);
    rates
}

impl Document {
    /// "VAT 19 %" rows of the summary, for papers.
    pub fn rate_labels(&self) -> Vec<String> {
        self.rates.iter().map(|r| rate_label(r.tax_rate)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> Sale {
        Sale {
            seller: Party { name: "Konzert GmbH".into(), ..Default::default() },
            buyer: Party { name: "Ada".into(), ..Default::default() },
            reference: "BX-1".into(),
            event_title: "Night".into(),
            event_starts_at: Utc::now(),
            timezone: "Europe/Berlin".into(),
            currency: "EUR".into(),
            prices_include_tax: true,
            footer: String::new(),
            items: vec![("Standing".into(), 3, 2500, 1900)],
        }
    }

    #[test]
    fn an_invoice_adds_up_and_its_credit_note_undoes_it() {
        let invoice = invoice(sale(), number("INV", 2026, 7), Utc::now());
        assert_eq!(invoice.number, "INV-2026-00007");
        assert_eq!(invoice.totals, Amounts { net_cents: 6303, tax_cents: 1197, gross_cents: 7500 });
        assert_eq!(invoice.rates.len(), 1);
        let full = credit_note(&invoice, 7500, number("INV", 2026, 8), Utc::now());
        assert_eq!(full.totals, invoice.totals.negated());
        assert_eq!(full.credits.as_deref(), Some("INV-2026-00007"));
        assert_eq!(full.lines[0].quantity, -3);
        let part = credit_note(&invoice, 2500, number("INV", 2026, 9), Utc::now());
        assert_eq!(part.totals, Amounts { net_cents: -2101, tax_cents: -399, gross_cents: -2500 });
    }
}
