//! An invoice or credit note as a PDF: one A4 page with the seller and the
//! buyer, the number and date, a line per item with its net, tax and gross,
//! the tax per rate and the totals, and the seller's footer. Drawn from the
//! document as it was issued, so the paper never changes either.

use krilla::Document as Pdf;
use krilla::color::rgb;
use krilla::geom::Point;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::surface::Surface;
use krilla::text::TextDirection;

use super::ticket_pdf::{BOLD, BOLD_TTF, HEIGHT, MARGIN, PdfError, REGULAR, REGULAR_TTF, WIDTH, fit, width};
use crate::domain::invoice::{Document, Kind};
use crate::domain::money;
use crate::domain::tax::rate_label;

/// Where the amount columns end (right-aligned).
const NET_RIGHT: f32 = 380.0;
const TAX_RIGHT: f32 = 460.0;
const GROSS_RIGHT: f32 = WIDTH - MARGIN;
const LINE_HEIGHT: f32 = 16.0;
/// Lines of text a block may take before the rest is left out (an address).
const MOST_ADDRESS_LINES: usize = 6;

struct Writer<'a, 'b> {
    surface: &'a mut Surface<'b>,
}

impl Writer<'_, '_> {
    fn ink(&mut self, grey: u8) {
        self.surface.set_fill(Some(Fill {
            paint: rgb::Color::new(grey, grey, grey).into(),
            opacity: NormalizedF32::ONE,
            rule: FillRule::NonZero,
        }));
    }

    fn text(&mut self, x: f32, y: f32, bold: bool, size: f32, line: &str) {
        let (font, ttf) = if bold { (BOLD.clone(), BOLD_TTF) } else { (REGULAR.clone(), REGULAR_TTF) };
        let (size, line) = fit(ttf, line, size);
        self.surface.draw_text(Point::from_xy(x, y), font, size, &line, false, TextDirection::Auto);
    }

    /// `line` ending at `right`.
    fn right(&mut self, right: f32, y: f32, bold: bool, size: f32, line: &str) {
        let ttf = if bold { BOLD_TTF } else { REGULAR_TTF };
        let x = right - width(ttf, line, size);
        self.text(x, y, bold, size, line);
    }
}

/// The PDF of `document`.
pub fn render(document: &Document) -> Result<Vec<u8>, PdfError> {
    let mut pdf = Pdf::new();
    let mut page = pdf.start_page_with(PageSettings::from_wh(WIDTH, HEIGHT).expect("A4 is a size"));
    let mut surface = page.surface();
    let mut w = Writer { surface: &mut surface };
    let amount = |cents: i64| money::format(cents, &document.currency);
    let mut y = MARGIN + 14.0;

    // The seller, top left.
    w.ink(0);
    w.text(MARGIN, y, true, 14.0, &document.seller.name);
    w.ink(70);
    for line in document.seller.address.lines().take(MOST_ADDRESS_LINES) {
        y += 14.0;
        w.text(MARGIN, y, false, 10.0, line);
    }
    if !document.seller.tax_id.is_empty() {
        y += 14.0;
        w.text(MARGIN, y, false, 10.0, &format!("Tax ID: {}", document.seller.tax_id));
    }

    // The title and number.
    y += 44.0;
    w.ink(0);
    let title = match document.kind {
        Kind::Invoice => "Invoice",
        Kind::CreditNote => "Credit note",
    };
    w.text(MARGIN, y, true, 22.0, &format!("{title} {}", document.number));
    y += 20.0;
    w.ink(70);
    w.text(MARGIN, y, false, 10.0, &format!("Issued {}", document.issued_at.format("%Y-%m-%d")));
    if let Some(credits) = &document.credits {
        y += 14.0;
        w.text(MARGIN, y, false, 10.0, &format!("Corrects invoice {credits}"));
    }
    y += 14.0;
    w.text(MARGIN, y, false, 10.0, &format!("Booking {}", document.reference));
    y += 14.0;
    let when = crate::domain::event::local_time(document.event_starts_at, &document.timezone);
    w.text(MARGIN, y, false, 10.0, &format!("{} · {when}", document.event_title));

    // The buyer.
    y += 32.0;
    w.ink(90);
    w.text(MARGIN, y, false, 9.0, "BILLED TO");
    w.ink(0);
    y += 16.0;
    w.text(MARGIN, y, true, 12.0, &document.buyer.name);
    w.ink(70);
    for line in document.buyer.address.lines().take(MOST_ADDRESS_LINES) {
        y += 14.0;
        w.text(MARGIN, y, false, 10.0, line);
    }
    if !document.buyer.email.is_empty() {
        y += 14.0;
        w.text(MARGIN, y, false, 10.0, &document.buyer.email);
    }

    // The lines.
    y += 36.0;
    w.ink(90);
    w.text(MARGIN, y, false, 9.0, "ITEM");
    w.right(NET_RIGHT, y, false, 9.0, "NET");
    w.right(TAX_RIGHT, y, false, 9.0, "TAX");
    w.right(GROSS_RIGHT, y, false, 9.0, "GROSS");
    w.ink(0);
    for line in &document.lines {
        y += LINE_HEIGHT + 4.0;
        let item = format!("{} × {}", line.quantity, line.description);
        let (size, item) = fit(REGULAR_TTF, &item, 10.0);
        let room = NET_RIGHT - 70.0 - MARGIN;
        let item = shorten(&item, size, room);
        w.text(MARGIN, y, false, size, &item);
        w.right(NET_RIGHT, y, false, 10.0, &amount(line.amounts.net_cents));
        w.right(TAX_RIGHT, y, false, 10.0, &amount(line.amounts.tax_cents));
        w.right(GROSS_RIGHT, y, false, 10.0, &amount(line.amounts.gross_cents));
        y += 13.0;
        w.ink(90);
        let each = amount(line.unit_cents);
        let basis = if document.prices_include_tax { "incl." } else { "plus" };
        w.text(MARGIN, y, false, 8.5, &format!("{each} each, {basis} {} tax", rate_label(line.tax_rate)));
        w.ink(0);
    }

    // Tax per rate, and the totals.
    y += 28.0;
    for rate in &document.rates {
        w.ink(70);
        w.text(
            MARGIN,
            y,
            false,
            10.0,
            &format!("Tax {} on {}", rate_label(rate.tax_rate), amount(rate.amounts.net_cents)),
        );
        w.right(TAX_RIGHT, y, false, 10.0, &amount(rate.amounts.tax_cents));
        y += LINE_HEIGHT;
    }
    w.ink(0);
    y += 8.0;
    w.text(MARGIN, y, false, 11.0, "Net");
    w.right(GROSS_RIGHT, y, false, 11.0, &amount(document.totals.net_cents));
    y += LINE_HEIGHT;
    w.text(MARGIN, y, false, 11.0, "Tax");
    w.right(GROSS_RIGHT, y, false, 11.0, &amount(document.totals.tax_cents));
    y += LINE_HEIGHT + 4.0;
    let total = match document.kind {
        Kind::Invoice => "Total paid",
        Kind::CreditNote => "Total refunded",
    };
    w.text(MARGIN, y, true, 13.0, total);
    w.right(GROSS_RIGHT, y, true, 13.0, &amount(document.totals.gross_cents));

    // The seller's footer, at the foot of the page.
    w.ink(90);
    let mut foot = HEIGHT - MARGIN - 14.0 * document.footer.lines().take(MOST_ADDRESS_LINES).count() as f32;
    for line in document.footer.lines().take(MOST_ADDRESS_LINES) {
        w.text(MARGIN, foot, false, 9.0, line);
        foot += 14.0;
    }
    surface.finish();
    page.finish();
    pdf.finish().map_err(|err| PdfError(format!("{err:?}")))
}

/// `line` cut (with "…") to `room` points at `size`.
fn shorten(line: &str, size: f32, room: f32) -> String {
    if width(REGULAR_TTF, line, size) <= room {
        return line.to_owned();
    }
    let mut kept: Vec<char> = line.chars().collect();
    let mut shown = line.to_owned();
    while width(REGULAR_TTF, &shown, size) > room && !kept.is_empty() {
        kept.pop();
        shown = kept.iter().collect::<String>() + "…";
    }
    shown
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::invoice::{Party, Sale, invoice, number};

    #[test]
    fn an_invoice_is_one_page_with_its_fonts() {
        let sale = Sale {
            seller: Party {
                name: "Konzert GmbH".into(),
                address: "Hauptstr. 1\n10115 Berlin".into(),
                ..Party::default()
            },
            buyer: Party { name: "Łukasz Żółć".into(), ..Party::default() },
            reference: "K7M2-9QXD".into(),
            event_title: "Night".into(),
            event_starts_at: Utc::now(),
            timezone: "Europe/Berlin".into(),
            currency: "EUR".into(),
            prices_include_tax: true,
            footer: "Thank you".into(),
            items: vec![("Standing — Night".into(), 2, 2500, 1900)],
        };
        let pdf = render(&invoice(sale, number("INV", 2026, 1), Utc::now())).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(8).any(|w| w == b"FontFile"), "fonts embedded");
    }
}
