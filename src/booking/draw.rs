//! The draw (an event's, or a presale's) as anyone may check it: the commitment (`sha256(seed)`)
//! published when the event was, and once drawn the seed, the pre-queued
//! booking ids sorted (`entries`) and the same ids in the drawn order
//! (`order`), a page at a time. With these alone, `scripts/draw.py` or the
//! draw page's script recomputes the order (`domain::draw`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::db::line;
use crate::domain::draw::{Round, to_hex};

/// Ids per page of `entries` and of `order`, at most and by default.
pub const MOST_PER_PAGE: i32 = 10_000;

/// One page of an event's draw.
#[derive(Debug, Clone)]
pub struct DrawPage {
    pub committed_at: Option<DateTime<Utc>>,
    /// `sha256(seed)`, hex.
    pub commitment: Option<String>,
    pub drawn_at: Option<DateTime<Utc>>,
    /// Hex, once drawn.
    pub seed: Option<String>,
    /// How many requests were drawn.
    pub total: i32,
    pub entries: Vec<Uuid>,
    pub order: Vec<Uuid>,
    pub next: Option<Cursor>,
    /// Why the order is not a draw's, when it is not.
    pub note: Option<&'static str>,
}

/// Where the next page starts: places already given of `order`, and the
/// last id given of `entries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub places: i32,
    pub last_entry: Uuid,
}

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.places, self.last_entry.simple())
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (places, last) = raw.split_once('.')?;
        Some(Self { places: places.parse().ok().filter(|p| *p > 0)?, last_entry: Uuid::try_parse(last).ok()? })
    }
}

pub const NO_COMMITMENT: &str = "No draw was committed before this event's pre-queue opened (it had entries when \
     the draw was introduced), so its pre-queue went in the order requests arrived.";

/// The page of `event_id`'s draw `round` after `cursor`, of `limit` ids;
/// `None` for a presale the event does not have.
pub async fn page(
    conn: &mut PgConnection,
    event_id: Uuid,
    round: Round,
    cursor: Option<Cursor>,
    limit: i32,
) -> Result<Option<DrawPage>, sqlx::Error> {
    let Some(record) = line::draw_record(conn, event_id, round).await? else { return Ok(None) };
    let drawn = record.drawn_at.is_some();
    let (mut entries, mut order) = (Vec::new(), Vec::new());
    if drawn {
        let places = cursor.map_or(0, |c| c.places);
        order = line::drawn_order(conn, event_id, round, &record, places, limit).await?;
        entries = line::drawn_entries(conn, event_id, round, &record, cursor.map(|c| c.last_entry), limit).await?;
    }
    let given = cursor.map_or(0, |c| c.places) + order.len() as i32;
    let next =
        entries.last().filter(|_| given < record.entries).map(|last| Cursor { places: given, last_entry: *last });
    let note = (drawn && record.seed.is_none()).then_some(NO_COMMITMENT);
    Ok(Some(DrawPage {
        committed_at: record.committed_at,
        commitment: record.commitment,
        drawn_at: record.drawn_at,
        seed: record.seed.as_deref().map(to_hex),
        total: record.entries,
        entries,
        order,
        next,
        note,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_does() {
        let cursor = Cursor { places: 10_000, last_entry: Uuid::now_v7() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "10", "x.y", "0.0190f3c2a8b07c3f8a4f5b1c2d3e4f50", "-1.0190f3c2a8b07c3f8a4f5b1c2d3e4f50"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
