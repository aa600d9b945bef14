//! Reads at a fixed concurrency: `GET /api/v1/events/{id}` and the first page
//! of the list, to compare the read path with and without the cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;

use crate::client::Api;
use crate::report::{self, Percentiles};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to read, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// The event to read (default: a new published event).
    #[arg(long)]
    pub event: Option<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<bool> {
    let api = Api::new(&args.base, args.concurrency);
    let event = match &args.event {
        Some(id) => id.clone(),
        None => {
            let token = api.user(&format!("browser-{}@loadgen.test", uuid::Uuid::new_v4().simple())).await?;
            api.flash_sale_event(&token, 1000, 10, 0, 600, true).await?.0
        }
    };
    let paths = [format!("/api/v1/events/{event}"), "/api/v1/events?limit=20".to_owned()];
    let mut out = serde_json::Map::new();
    let mut ok = true;
    for path in &paths {
        let histogram = Arc::new(Mutex::new(report::histogram()));
        let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let end = start + Duration::from_secs(args.seconds);
        futures::stream::iter(0..args.concurrency)
            .for_each_concurrent(None, |_| {
                let (api, histogram, errors, url) = (api.clone(), histogram.clone(), errors.clone(), api.url(path));
                async move {
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let ok = api.http().get(&url).send().await.map(|r| r.status().is_success()).unwrap_or(false);
                        if ok {
                            let _ = histogram.lock().await.record(sent.elapsed().as_micros().max(1) as u64);
                        } else {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
            .await;
        let seconds = start.elapsed().as_secs_f64();
        let histogram = histogram.lock().await;
        let errors = errors.load(std::sync::atomic::Ordering::Relaxed);
        ok &= errors == 0;
        let per_s = histogram.len() as f64 / seconds;
        let p = Percentiles::of(&histogram, true);
        println!(
            "GET {path}: {per_s:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {errors} errors",
            p.p50,
            p.p99,
            p.p999.unwrap_or(0.0)
        );
        out.insert(path.clone(), serde_json::json!({"requests_per_s": per_s, "latency_ms": p, "errors": errors}));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)?;
    }
    Ok(ok)
}
