//! QR codes of ticket codes: SVG for the API, PNG for emails (mail clients
//! show inline PNGs, few show SVG).

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in the PNG.
const SCALE: usize = 8;
/// White modules around the code, as the standard asks.
const QUIET_ZONE: usize = 4;

fn encode(payload: &str) -> QrCode {
    // Medium error correction: survives a scuffed phone screen. A 26-character
    // ticket code always fits, so this cannot fail.
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M).expect("a ticket code fits in a QR code")
}

/// The modules of a ticket code's QR code, row by row (`true`: dark), and
/// how many a row has: for drawing it in a PDF as vector squares.
pub fn modules(payload: &str) -> (usize, Vec<bool>) {
    let code = encode(payload);
    (code.width(), code.to_colors().iter().map(|c| *c == Color::Dark).collect())
}

pub fn svg(payload: &str) -> String {
    encode(payload).render::<qrcode::render::svg::Color>().min_dimensions(256, 256).quiet_zone(true).build()
}

/// The PNG of a ticket code for emails: one bit a pixel (black or white),
/// eight times less to compress than grey levels, and a smaller attachment.
pub fn png(payload: &str) -> Vec<u8> {
    let code = encode(payload);
    let modules = code.width();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let row_bytes = side.div_ceil(8);
    // A set bit is white.
    let mut pixels = vec![0xFFu8; row_bytes * side];
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (x0, y0) = ((i % modules + QUIET_ZONE) * SCALE, (i / modules + QUIET_ZONE) * SCALE);
            for row in y0..y0 + SCALE {
                for x in x0..x0 + SCALE {
                    pixels[row * row_bytes + x / 8] &= !(0x80 >> (x % 8));
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().expect("writing to memory");
    writer.write_image_data(&pixels).expect("writing to memory");
    writer.finish().expect("writing to memory");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_and_svg_are_well_formed() {
        let png = super::png("0123456789ABCDEFGHJKMNPQRS");
        assert_eq!(&png[1..4], b"PNG");
        let svg = super::svg("0123456789ABCDEFGHJKMNPQRS");
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
    }
}
