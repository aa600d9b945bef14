//! The picture of a run: throughput and latency over time, as SVG.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Bucket;

pub fn draw(path: &Path, title: &str, buckets: &[Bucket]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(340);
    let end = buckets.last().map_or(1.0, |b| b.at_s).max(0.1);

    let max_rate = buckets.iter().map(|b| b.responses_per_s).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&top)
        .caption("responses per second", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end, 0.0..max_rate * 1.1)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    chart
        .draw_series(LineSeries::new(buckets.iter().map(|b| (b.at_s, b.responses_per_s)), &BLUE))?
        .label("all answers")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(buckets.iter().map(|b| (b.at_s, b.accepted_per_s)), &GREEN))?
        .label("202 accepted")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;

    let max_latency = buckets.iter().map(|b| b.p99_ms).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .caption("latency (ms)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end, 0.0..max_latency * 1.1)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    chart
        .draw_series(LineSeries::new(buckets.iter().map(|b| (b.at_s, b.p50_ms)), &BLUE))?
        .label("p50")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(buckets.iter().map(|b| (b.at_s, b.p99_ms)), &RED))?
        .label("p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE).draw()?;
    root.present()?;
    Ok(())
}
