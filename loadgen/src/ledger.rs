//! What the server's own database says about an on-sale, read after it: when
//! the draw was made and how big it was, bookings decided per second from
//! the open, and how large the tables and their indexes have grown (the
//! numbers a million-buyer pre-queue is judged by).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Serialize)]
pub struct Ledger {
    pub draw_entries: Option<i32>,
    /// Seconds from `sales_start` to the start of the draw's transaction.
    pub draw_started_s: Option<f64>,
    /// Seconds from `sales_start` to the first and the last decision.
    pub first_decision_s: Option<f64>,
    pub last_decision_s: Option<f64>,
    pub decided: i64,
    /// Most bookings decided in one second, and the mean from the first decision to the last.
    pub peak_decided_per_s: i64,
    pub mean_decided_per_s: f64,
    /// (second after the open, bookings decided in it).
    pub decided_per_second: Vec<(i64, i64)>,
    /// (relation, bytes): tables with their TOAST, and each index of `bookings`, alone.
    pub sizes: Vec<(String, i64)>,
}

pub async fn read(db: &PgPool, event_id: &str, sales_start: DateTime<Utc>) -> anyhow::Result<Ledger> {
    let draw: Option<(i32, DateTime<Utc>)> =
        sqlx::query_as("SELECT entries, drawn_at FROM draws WHERE event_id = $1::uuid")
            .bind(event_id)
            .fetch_optional(db)
            .await?;
    let since = |at: DateTime<Utc>| (at - sales_start).num_milliseconds() as f64 / 1000.0;
    let per_second: Vec<(f64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM updated_at - $2))::float8, count(*) FROM bookings
          WHERE event_id = $1::uuid AND status <> 'pending' GROUP BY 1 ORDER BY 1",
    )
    .bind(event_id)
    .bind(sales_start)
    .fetch_all(db)
    .await?;
    let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT min(updated_at), max(updated_at) FROM bookings WHERE event_id = $1::uuid AND status <> 'pending'",
    )
    .bind(event_id)
    .fetch_one(db)
    .await?;
    let decided: i64 = per_second.iter().map(|(_, n)| n).sum();
    let span = first.zip(last).map_or(0.0, |(f, l)| (l - f).num_milliseconds() as f64 / 1000.0);
    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, pg_total_relation_size(oid) FROM pg_class
          WHERE relname IN ('bookings', 'tickets', 'users', 'sessions') AND relkind = 'r'
         UNION ALL
         SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index
          WHERE indrelid = 'bookings'::regclass
         ORDER BY 2 DESC",
    )
    .fetch_all(db)
    .await?;
    Ok(Ledger {
        draw_entries: draw.map(|d| d.0),
        draw_started_s: draw.map(|d| since(d.1)),
        first_decision_s: first.map(since),
        last_decision_s: last.map(since),
        decided,
        peak_decided_per_s: per_second.iter().map(|(_, n)| *n).max().unwrap_or(0),
        mean_decided_per_s: if span > 0.0 { decided as f64 / span } else { decided as f64 },
        decided_per_second: per_second.into_iter().map(|(s, n)| (s as i64, n)).collect(),
        sizes,
    })
}
