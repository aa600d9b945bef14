//! A booking's tickets as a PDF: one A4 page per ticket, with what the door
//! and the holder need — the event, when (in its time zone) and where, the
//! ticket type, the holder, the booking's reference, and the ticket code as
//! text and as a QR code large enough for a phone at arm's length. Drawn
//! with krilla (fonts embedded and subset: a page is a few dozen KB) in
//! DejaVu Sans, which covers Latin, Greek and Cyrillic.

use std::sync::{Arc, LazyLock};

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::text::{Font, TextDirection};

pub(super) const REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(super) const BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
pub(super) static REGULAR: LazyLock<Font> = LazyLock::new(|| font(REGULAR_TTF));
pub(super) static BOLD: LazyLock<Font> = LazyLock::new(|| font(BOLD_TTF));

fn font(bytes: &'static [u8]) -> Font {
    let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes);
    Font::new(data.into(), 0).expect("the vendored DejaVu font parses")
}

/// A4 in points.
pub(super) const WIDTH: f32 = 595.28;
pub(super) const HEIGHT: f32 = 841.89;
pub(super) const MARGIN: f32 = 56.0;
/// The QR code's side: 70 mm, read by a phone from a printed page or a screen.
const QR_SIDE: f32 = 198.0;
/// The width a line may take (the page less both margins).
const LINE_WIDTH: f32 = WIDTH - 2.0 * MARGIN;
/// The least size a line shrinks to before it is cut.
const MIN_SIZE: f32 = 9.0;

/// One ticket's page.
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub event_title: String,
    /// The start, written in the event's zone ("Friday, 18 December 2026, 19:30 CET (Europe/Berlin)").
    pub when: String,
    pub venue: String,
    pub ticket_type: String,
    pub holder: String,
    /// The booking's reference ("K7M2-9QXD").
    pub reference: String,
    /// The ticket code the QR code carries.
    pub code: String,
    /// "Ticket 2 of 3".
    pub position: String,
    /// The event's image (WebP, its large rendition), beside the QR code.
    pub image: Option<std::sync::Arc<Vec<u8>>>,
    /// When the event starts (a Wallet pass shows itself then).
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// Names the ticket among all others: the booking's id and the ticket's position.
    pub serial: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the PDF could not be written: {0}")]
pub struct PdfError(pub(super) String);

impl PdfError {
    pub fn from_join(err: &tokio::task::JoinError) -> Self {
        Self(err.to_string())
    }
}

/// The PDF of `pages`, one page per ticket.
pub fn render(pages: &[TicketPage]) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::new();
    for ticket in pages {
        let mut page = document.start_page_with(PageSettings::from_wh(WIDTH, HEIGHT).expect("A4 is a size"));
        let mut surface = page.surface();
        let ink = |surface: &mut krilla::surface::Surface<'_>, grey: u8| {
            surface.set_fill(Some(Fill {
                paint: rgb::Color::new(grey, grey, grey).into(),
                opacity: NormalizedF32::ONE,
                rule: FillRule::NonZero,
            }));
        };
        let text = |surface: &mut krilla::surface::Surface<'_>, y: f32, bold: bool, size: f32, line: &str| {
            let (font, ttf) = if bold { (BOLD.clone(), BOLD_TTF) } else { (REGULAR.clone(), REGULAR_TTF) };
            let (size, line) = fit(ttf, line, size);
            surface.draw_text(Point::from_xy(MARGIN, y), font, size, &line, false, TextDirection::Auto);
        };
        ink(&mut surface, 90);
        text(&mut surface, MARGIN + 10.0, false, 11.0, &format!("Boxoffice · {}", ticket.position));
        ink(&mut surface, 0);
        // A long line gets a smaller size rather than running off the page.
        text(&mut surface, MARGIN + 48.0, true, 24.0, &ticket.event_title);
        text(&mut surface, MARGIN + 76.0, false, 13.0, &ticket.when);
        text(&mut surface, MARGIN + 96.0, false, 13.0, &ticket.venue);

        ink(&mut surface, 90);
        text(&mut surface, MARGIN + 140.0, false, 10.0, "TICKET TYPE");
        text(&mut surface, MARGIN + 196.0, false, 10.0, "HOLDER");
        text(&mut surface, MARGIN + 252.0, false, 10.0, "BOOKING REFERENCE");
        ink(&mut surface, 0);
        text(&mut surface, MARGIN + 160.0, true, 16.0, &ticket.ticket_type);
        text(&mut surface, MARGIN + 216.0, true, 18.0, &ticket.holder);
        text(&mut surface, MARGIN + 272.0, true, 16.0, &ticket.reference);

        let top = MARGIN + 300.0;
        draw_qr(&mut surface, &ticket.code, MARGIN, top);
        if let Some(image) = &ticket.image {
            draw_image(&mut surface, image, MARGIN + QR_SIDE + 24.0, top);
        }
        text(&mut surface, top + QR_SIDE + 24.0, false, 12.0, &ticket.code);
        ink(&mut surface, 90);
        text(
            &mut surface,
            top + QR_SIDE + 56.0,
            false,
            10.0,
            "Show this page at the entrance, printed or on a screen.",
        );
        text(&mut surface, top + QR_SIDE + 72.0, false, 10.0, "The code admits one person, once.");
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|err| PdfError(format!("{err:?}")))
}

/// The ticket code as a QR code of `QR_SIDE` points at (`x`, `y`), a dark
/// square per module (one path), with the quiet zone the standard asks for.
fn draw_qr(surface: &mut krilla::surface::Surface<'_>, code: &str, x: f32, y: f32) {
    let (width, dark) = crate::qr::modules(code);
    let quiet = 4;
    let module = QR_SIDE / (width + 2 * quiet) as f32;
    let mut path = PathBuilder::new();
    for (i, is_dark) in dark.iter().enumerate() {
        if *is_dark {
            let (col, row) = ((i % width + quiet) as f32, (i / width + quiet) as f32);
            // A hair larger than the module: neighbours overlap, no seams between them.
            if let Some(square) = Rect::from_xywh(x + col * module, y + row * module, module + 0.2, module + 0.2) {
                path.push_rect(square);
            }
        }
    }
    if let Some(path) = path.finish() {
        surface.draw_path(&path);
    }
}

/// The event's image in the box right of the QR code (as tall as it at
/// most), its proportions kept. An image that does not decode is left out:
/// the ticket matters, not the picture.
fn draw_image(surface: &mut krilla::surface::Surface<'_>, webp: &std::sync::Arc<Vec<u8>>, x: f32, y: f32) {
    let data: Arc<dyn AsRef<[u8]> + Send + Sync> = webp.clone();
    let Ok(image) = krilla::image::Image::from_webp(data.into(), true) else { return };
    let (w, h) = image.size();
    let (room_w, room_h) = (WIDTH - MARGIN - x, QR_SIDE);
    let scale = (room_w / w as f32).min(room_h / h as f32);
    let Some(size) = krilla::geom::Size::from_wh(w as f32 * scale, h as f32 * scale) else { return };
    surface.push_transform(&krilla::geom::Transform::from_translate(x, y));
    surface.draw_image(image, size);
    surface.pop();
}

/// How wide `line` is in the font `ttf` at `size` points.
pub(super) fn width(ttf: &[u8], line: &str, size: f32) -> f32 {
    use skrifa::MetadataProvider;
    let Ok(font) = skrifa::FontRef::new(ttf) else { return line.chars().count() as f32 * size };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(skrifa::instance::Size::new(size), skrifa::instance::LocationRef::default());
    line.chars().map(|c| charmap.map(c).and_then(|g| metrics.advance_width(g)).unwrap_or(size)).sum()
}

/// `line` at `size`, or smaller down to [`MIN_SIZE`] to fit the page's
/// width, and cut (with "…") only if it does not fit even then.
pub(super) fn fit(ttf: &[u8], line: &str, size: f32) -> (f32, String) {
    let wide = width(ttf, line, size);
    if wide <= LINE_WIDTH {
        return (size, line.to_owned());
    }
    let size = (size * LINE_WIDTH / wide).max(MIN_SIZE);
    let mut kept: Vec<char> = line.chars().collect();
    let mut shown = line.to_owned();
    while width(ttf, &shown, size) > LINE_WIDTH && !kept.is_empty() {
        kept.pop();
        shown = kept.iter().collect::<String>() + "…";
    }
    (size, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_shrinks_to_fit_and_is_cut_only_below_the_least_size() {
        let (size, line) = fit(BOLD_TTF, "Night of Rust", 24.0);
        assert_eq!((size, line.as_str()), (24.0, "Night of Rust"));
        let long = "The International Conference on Software Engineering, Berlin";
        let (size, line) = fit(BOLD_TTF, long, 24.0);
        assert!((MIN_SIZE..24.0).contains(&size) && line == long, "{size} {line}");
        assert!(width(BOLD_TTF, &line, size) <= LINE_WIDTH);
        let endless = "W".repeat(300);
        let (size, line) = fit(BOLD_TTF, &endless, 18.0);
        assert_eq!(size, MIN_SIZE);
        assert!(line.ends_with('…') && width(BOLD_TTF, &line, size) <= LINE_WIDTH);
    }

    #[test]
    fn a_page_per_ticket_with_fonts_embedded() {
        let page = TicketPage {
            event_title: "Night of Rust".into(),
            when: "Friday, 18 December 2026, 19:30 CET (Europe/Berlin)".into(),
            venue: "Main Hall".into(),
            ticket_type: "Standing".into(),
            holder: "Łukasz Żółć".into(),
            reference: "K7M2-9QXD".into(),
            code: "ABCDEFGHJKMNPQRSTVWXYZ0123".into(),
            position: "Ticket 1 of 2".into(),
            image: None,
            starts_at: chrono::Utc::now(),
            serial: "1-0".into(),
        };
        let pdf = render(&[page.clone(), TicketPage { holder: "Σωκράτης".into(), ..page }]).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        // Subset fonts keep it small (the two fonts whole are 1.4 MB); what
        // it shows is read back by pdftotext in tests/it/papers.rs.
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
    }
}
