//! An event's image: what an organizer uploads is decoded and drawn anew,
//! never stored or served as sent. JPEG, PNG or WebP of at most
//! [`MAX_BYTES`] and [`MAX_PIXELS`]; turned the way the camera's EXIF says,
//! then re-encoded as WebP at most [`LARGE`] and [`SMALL`] pixels wide (the
//! event page, the cards). Re-encoding drops EXIF (a phone's GPS position
//! included) and anything hidden in the file.

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::access::{event_for, lock_for, refuse_if_cancelled};
use super::{Event, EventError, EventRoom};
use crate::cache::read::SharedFailure;
use crate::db::events as db_events;
use crate::domain::team::Action;

/// Largest upload taken.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Most pixels an upload may have, and most on one side: a few bytes of
/// PNG can claim a picture of gigabytes (a decompression bomb), so the size
/// is checked from the header before anything is decoded.
pub const MAX_PIXELS: u64 = 50_000_000;
pub const MAX_SIDE: u32 = 12_000;
/// Widths of the two renditions (narrower images are not enlarged).
pub const LARGE: u32 = 1600;
pub const SMALL: u32 = 400;
/// WebP quality (0–100): photos look as sent at a tenth of lossless' size.
const QUALITY: f32 = 82.0;

/// The path of the rendition of the image named `hash`: 1600 px wide, or
/// 400 (`small`). The bytes under a path never change.
pub fn url(hash: &str, small: bool) -> String {
    if small { format!("/images/{hash}-400.webp") } else { format!("/images/{hash}.webp") }
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("the image is larger than 5 MB; send a smaller one")]
    TooLarge,
    #[error("this file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("the image has too many pixels (at most 50 megapixels, 12,000 on a side)")]
    TooManyPixels,
}

impl ImageError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge => "image_too_large",
            Self::NotAnImage => "image_invalid",
            Self::TooManyPixels => "image_too_many_pixels",
        }
    }
}

/// The two renditions of an upload, and the hash naming them.
#[derive(Debug, Clone)]
pub struct Renditions {
    /// Hex of the first 16 bytes of the large rendition's SHA-256.
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub large: Vec<u8>,
    pub small: Vec<u8>,
}

/// Decodes `bytes` and draws the renditions. CPU work of a second or so for
/// a large photo: call it off the async threads (`spawn_blocking`).
pub fn process(bytes: &[u8]) -> Result<Renditions, ImageError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImageError::TooLarge);
    }
    let mut reader =
        ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|_| ImageError::NotAnImage)?;
    if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) {
        return Err(ImageError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImageError::TooManyPixels);
    }
    // What decoding will allocate, from the header, before it is allocated
    // (a few hundred KB of 16-bit PNG can decode to most of a gigabyte).
    let mut budget = Limits::default();
    budget.max_alloc = Some(DECODE_BUDGET);
    budget.reserve(decoder.total_bytes()).map_err(|_| ImageError::TooManyPixels)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let picture = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    // Eight bits a channel from here on (what WebP keeps anyway).
    let picture = if picture.color().has_alpha() {
        DynamicImage::ImageRgba8(picture.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(picture.into_rgb8())
    };
    // Made smaller first, turned upright after: the turn copies the picture.
    let turned = matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    );
    let mut large = at_most(&picture, LARGE, turned);
    drop(picture);
    large.apply_orientation(orientation);
    let small = at_most(&large, SMALL, false);
    let (large_bytes, small_bytes) = (webp_of(&large), webp_of(&small));
    let digest = Sha256::digest(&large_bytes);
    let hash = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Ok(Renditions { hash, width: large.width(), height: large.height(), large: large_bytes, small: small_bytes })
}

/// Most bytes decoding one upload may take (50 megapixels of 8-bit RGBA and
/// some room; 16-bit pictures that large are refused).
const DECODE_BUDGET: u64 = 256 * 1024 * 1024;

fn refusal(err: image::ImageError) -> ImageError {
    match err {
        image::ImageError::Limits(_) => ImageError::TooManyPixels,
        _ => ImageError::NotAnImage,
    }
}

/// `picture` made at most `width` wide once upright (`turned`: its sides
/// swap when turned upright), never enlarged.
fn at_most(picture: &DynamicImage, width: u32, turned: bool) -> DynamicImage {
    let (w, h) = (u64::from(picture.width()), u64::from(picture.height()));
    let upright_width = if turned { h } else { w };
    if upright_width <= u64::from(width) {
        return picture.clone();
    }
    let scale = |side: u64| (side * u64::from(width) / upright_width).max(1) as u32;
    picture.resize_exact(scale(w), scale(h), image::imageops::FilterType::Lanczos3)
}

/// `picture` as lossy WebP (transparency kept where there is some: a logo).
fn webp_of(picture: &DynamicImage) -> Vec<u8> {
    match picture {
        DynamicImage::ImageRgba8(rgba) => {
            webp::Encoder::from_rgba(rgba.as_raw(), rgba.width(), rgba.height()).encode(QUALITY).to_vec()
        }
        other => {
            let rgb = other.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), rgb.width(), rgb.height()).encode(QUALITY).to_vec()
        }
    }
}

/// Uploads decoded at once in this process: each may take a second of a
/// core and up to [`DECODE_BUDGET`]; more wait their turn.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
impl<E: SharedFailure> EventRoom<'_, E> {
    /// The organizer's image for their event, in place of one before.
    pub async fn set_image(&self, user_id: Uuid, id: Uuid, bytes: Vec<u8>) -> Result<Event, EventError> {
        // Who may, first: nobody else's upload is decoded. The decoding holds
        // no lock and no connection.
        {
            let mut conn = self.db.acquire().await?;
            refuse_if_cancelled(&event_for(&mut conn, id, user_id, Action::EditEvent).await?)?;
        }
        let renditions = {
            let _turn = DECODING.acquire().await.expect("the semaphore is never closed");
            // A decoder that panics on a crafted file refuses it like any other.
            tokio::task::spawn_blocking(move || process(&bytes)).await.unwrap_or(Err(ImageError::NotAnImage))?
        };
        let mut tx = self.db.begin().await?;
        refuse_if_cancelled(&lock_for(&mut tx, id, user_id, Action::EditEvent).await?)?;
        crate::db::images::set(&mut tx, id, &renditions).await?;
        let event = self.read_back(&mut tx, id).await?;
        tx.commit().await?;
        self.changed(id).await;
        tracing::info!(event.id = %id, image = %renditions.hash, bytes = renditions.large.len(), "event image set");
        Ok(event)
    }

    /// Takes the event's image away (nothing to take is no error).
    pub async fn remove_image(&self, user_id: Uuid, id: Uuid) -> Result<Event, EventError> {
        let mut tx = self.db.begin().await?;
        refuse_if_cancelled(&lock_for(&mut tx, id, user_id, Action::EditEvent).await?)?;
        crate::db::images::remove(&mut tx, id).await?;
        let event = self.read_back(&mut tx, id).await?;
        tx.commit().await?;
        self.changed(id).await;
        Ok(event)
    }

    async fn read_back(&self, conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Event, EventError> {
        let details = db_events::find_event(&mut *conn, id).await?.ok_or(EventError::NotFound)?;
        let ticket_types = db_events::ticket_types_of(conn, &[id]).await?;
        Ok(Event { details, ticket_types })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        picture.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_large_picture_becomes_two_webp_renditions_of_its_proportions() {
        let made = process(&png(3200, 1800)).unwrap();
        assert_eq!((made.width, made.height), (1600, 900));
        let small = image::load_from_memory_with_format(&made.small, ImageFormat::WebP).unwrap();
        assert_eq!((small.width(), small.height()), (400, 225));
        assert!(made.large.starts_with(b"RIFF") && &made.large[8..12] == b"WEBP");
        assert_eq!(made.hash.len(), 32);
    }

    #[test]
    fn a_small_picture_is_not_enlarged() {
        let made = process(&png(300, 200)).unwrap();
        assert_eq!((made.width, made.height), (300, 200));
    }

    #[test]
    fn what_is_not_a_picture_or_claims_too_many_pixels_is_refused_before_decoding() {
        assert_eq!(process(b"GIF89a not really").unwrap_err(), ImageError::NotAnImage);
        assert_eq!(process(b"plain text").unwrap_err(), ImageError::NotAnImage);
        assert_eq!(process(&vec![0; MAX_BYTES + 1]).unwrap_err(), ImageError::TooLarge);
        // A PNG header claiming 20,000 × 20,000 pixels, and nothing behind it.
        assert_eq!(process(&bomb(20_000, 20_000)).unwrap_err(), ImageError::TooManyPixels);
        assert_eq!(process(&zeros(9_000, 6_000)).unwrap_err(), ImageError::TooManyPixels, "54 megapixels");
    }

    /// A real PNG of `width` × `height` black pixels: a few hundred KB that
    /// would decode to `width * height * 3` bytes.
    fn zeros(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_compression(png::Compression::Best);
            let mut header = encoder.write_header().unwrap();
            let mut writer = header.stream_writer().unwrap();
            let row = vec![0u8; width as usize * 3];
            for _ in 0..height {
                std::io::Write::write_all(&mut writer, &row).unwrap();
            }
            writer.finish().unwrap();
        }
        out
    }

    /// A PNG whose header says `width` × `height` (with a valid checksum).
    pub(crate) fn bomb(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(width.to_be_bytes());
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let crc = crc32(&ihdr);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc.to_be_bytes());
        png
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
