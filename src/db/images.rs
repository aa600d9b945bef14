//! The `event_images` table: the renditions of each event's image.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::event::image::Renditions;

/// Puts `image` as `event_id`'s (replacing one before) and names it on the event.
pub async fn set(conn: &mut PgConnection, event_id: Uuid, image: &Renditions) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH i AS (
             INSERT INTO event_images (event_id, hash, width, height, large, small) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (event_id) DO UPDATE SET hash = EXCLUDED.hash, width = EXCLUDED.width,
                 height = EXCLUDED.height, large = EXCLUDED.large, small = EXCLUDED.small, updated_at = now())
         UPDATE events SET image_hash = $2, updated_at = now() WHERE id = $1",
    )
    .bind(event_id)
    .bind(&image.hash)
    .bind(image.width as i32)
    .bind(image.height as i32)
    .bind(&image.large)
    .bind(&image.small)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes `event_id`'s image; whether it had one.
pub async fn remove(conn: &mut PgConnection, event_id: Uuid) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query(
        "WITH e AS (UPDATE events SET image_hash = NULL, updated_at = now() WHERE id = $1 AND image_hash IS NOT NULL)
         DELETE FROM event_images WHERE event_id = $1",
    )
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(removed.rows_affected() > 0)
}

/// The bytes of the rendition named `hash` (`small` or not). A draft's too:
/// the name is 128 bits of the image's hash, known only from its event.
pub async fn rendition(conn: &mut PgConnection, hash: &str, small: bool) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN $2 THEN i.small ELSE i.large END FROM event_images i
         JOIN events e ON e.id = i.event_id AND e.image_hash = i.hash
         WHERE i.hash = $1 LIMIT 1",
    )
    .bind(hash)
    .bind(small)
    .fetch_optional(conn)
    .await
}
