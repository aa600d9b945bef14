//! Latency histograms, the timeline of a run, and the summary.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// One answered request: when it was due (from the start), how long it took, its status.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub due: Duration,
    pub latency: Duration,
    pub status: u16,
}

/// Latencies in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

pub fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(quantile) as f64 / 1000.0 }
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p999: Option<f64>,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>, with_p999: bool) -> Self {
        Self {
            p50: ms(h, 0.50),
            p99: ms(h, 0.99),
            p999: with_p999.then(|| ms(h, 0.999)),
            max: if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
        }
    }
}

/// One bucket of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub at_s: f64,
    pub responses_per_s: f64,
    pub accepted_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The samples cut into about 60 buckets of at least 100 ms.
pub fn timeline(samples: &[Sample]) -> Vec<Bucket> {
    let end = samples.iter().map(|s| s.due + s.latency).max().unwrap_or_default();
    let width = (end / 60).max(Duration::from_millis(100));
    let mut buckets: BTreeMap<u64, (u64, u64, Histogram<u64>)> = BTreeMap::new();
    for s in samples {
        let done = s.due + s.latency;
        let index = (done.as_nanos() / width.as_nanos()) as u64;
        let entry = buckets.entry(index).or_insert_with(|| (0, 0, histogram()));
        entry.0 += 1;
        if s.status == 202 {
            entry.1 += 1;
        }
        let _ = entry.2.record(s.latency.as_micros().max(1) as u64);
    }
    let secs = width.as_secs_f64();
    buckets
        .into_iter()
        .map(|(index, (all, accepted, h))| Bucket {
            at_s: index as f64 * secs,
            responses_per_s: all as f64 / secs,
            accepted_per_s: accepted as f64 / secs,
            p50_ms: ms(&h, 0.5),
            p99_ms: ms(&h, 0.99),
        })
        .collect()
}

/// A two-column table for the terminal.
pub fn table(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("  {k:<width$}  {v}\n")).collect()
}

/// A progress bar for one phase (`what`) of `len` steps.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}
