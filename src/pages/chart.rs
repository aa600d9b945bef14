//! The back office's chart of sales over time: seats sold, added up minute
//! by minute, as an SVG drawn on the server (no chart library, no script).

use chrono::{DateTime, Utc};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const PAD: f64 = 36.0;

/// A line of the seats sold so far against time, up to `capacity`, its
/// times in the event's `zone` (named); a sentence instead when nothing is
/// sold yet.
pub fn sales_svg(per_minute: &[(DateTime<Utc>, i64)], capacity: i64, zone: chrono_tz::Tz) -> String {
    let (Some(first), Some(last)) = (per_minute.first(), per_minute.last()) else {
        return "<p>No seats sold yet.</p>".to_owned();
    };
    let total: i64 = per_minute.iter().map(|(_, n)| n).sum();
    let top = capacity.max(total).max(1) as f64;
    let span = (last.0 - first.0).num_seconds().max(60) as f64;
    let x = |t: DateTime<Utc>| PAD + (t - first.0).num_seconds() as f64 / span * (WIDTH - 2.0 * PAD);
    let y = |n: i64| HEIGHT - PAD - n as f64 / top * (HEIGHT - 2.0 * PAD);
    let mut sold = 0;
    let mut points = vec![format!("{:.1},{:.1}", x(first.0), y(0))];
    for (minute, n) in per_minute {
        sold += n;
        points.push(format!("{:.1},{:.1}", x(*minute), y(sold)));
    }
    let (from, to) = (first.0.with_timezone(&zone), last.0.with_timezone(&zone));
    let label = format!(
        "Seats sold over time: {total} of {capacity}, from {} to {} ({})",
        from.format("%-d %b %H:%M"),
        to.format("%-d %b %H:%M %Z"),
        zone.name()
    );
    format!(
        r##"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">
<line x1="{PAD}" y1="{base}" x2="{right}" y2="{base}" stroke="#4a4a4a"/>
<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{base}" stroke="#4a4a4a"/>
<line x1="{PAD}" y1="{cap}" x2="{right}" y2="{cap}" stroke="#991b1b" stroke-dasharray="4 4"/>
<text x="{PAD}" y="{cap_text}" font-size="12" fill="#1a1a1a">capacity {capacity}</text>
<polyline points="{points}" fill="none" stroke="#1d4ed8" stroke-width="2.5"/>
<text x="{PAD}" y="{below}" font-size="12" fill="#1a1a1a">{start}</text>
<text x="{right}" y="{below}" font-size="12" fill="#1a1a1a" text-anchor="end">{end} · {total} sold</text>
</svg>"##,
        base = HEIGHT - PAD,
        right = WIDTH - PAD,
        cap = y(capacity),
        cap_text = y(capacity) - 4.0,
        below = HEIGHT - PAD + 16.0,
        points = points.join(" "),
        start = from.format("%H:%M"),
        end = to.format("%H:%M %Z"),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn the_line_adds_up_the_minutes_and_says_so_in_words() {
        let at = |m| chrono::Utc.with_ymd_and_hms(2026, 11, 27, 18, m, 0).unwrap();
        let svg = super::sales_svg(&[(at(0), 10), (at(1), 30), (at(5), 60)], 200, chrono_tz::Europe::Berlin);
        assert!(
            svg.contains("Seats sold over time: 100 of 200, from 27 Nov 19:00 to 27 Nov 19:05 CET (Europe/Berlin)"),
            "{svg}"
        );
        assert!(svg.contains("19:05 CET · 100 sold"), "in the event's zone: {svg}");
        assert!(svg.contains("100 sold"));
        // Four points: the start at zero, then 10, 40, 100 seats.
        let points = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(points.split(' ').count(), 4, "{points}");
        assert_eq!(super::sales_svg(&[], 10, chrono_tz::UTC), "<p>No seats sold yet.</p>");
    }
}
