//! SVG latency charts (plotters): latency by percentile, and p99 as the load rises.

use crate::report::Latency;
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (800, 480);

/// Line colours, one per series in order (gamehub first in a comparison).
const PALETTE: [RGBColor; 5] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x94, 0x67, 0xbd),
];

type Result = std::result::Result<(), String>;

/// Draws one line per `(label, latency)`: p50, p90, p99, p99.9 on a "nines"
/// x axis (-log10(1 - p): p50 at 0.3, p90 at 1, p99 at 2, p99.9 at 3) and a
/// log y axis in ms.
pub fn latency_by_percentile(path: &Path, title: &str, series: &[(String, Latency)]) -> Result {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, l)| {
            let points = [
                (0.5, l.p50_ms),
                (0.9, l.p90_ms),
                (0.99, l.p99_ms),
                (0.999, l.p999_ms),
            ]
            .into_iter()
            .map(|(p, ms): (f64, f64)| (-(1.0 - p).log10(), ms.max(0.001)))
            .collect();
            (label.as_str(), points)
        })
        .collect();
    let y_max = headroom(curves.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y)));
    draw(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..3.2, (0.01..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_labels(33)
            .x_label_formatter(&|x: &f64| match (x * 10.0).round() as i64 {
                3 => "p50".into(),
                10 => "p90".into(),
                20 => "p99".into(),
                30 => "p99.9".into(),
                _ => String::new(),
            })
            .draw()?;
        lines(&mut chart, curves)
    })
    .map_err(|e| format!("drawing {}: {e}", path.display()))
}

/// Draws one line per `(label, [(x, p99 ms)])` on log-log axes, with a
/// horizontal line at `limit_ms`.
pub fn p99_along(
    path: &Path,
    title: &str,
    x_desc: &str,
    limit_ms: f64,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, points)| {
            let points = points
                .iter()
                .map(|&(x, y)| (x.max(1.0), y.max(0.001)))
                .collect();
            (label.as_str(), points)
        })
        .collect();
    let xs = || curves.iter().flat_map(|(_, p)| p.iter().map(|&(x, _)| x));
    let x_max = headroom(xs());
    let x_min = xs().fold(x_max, f64::min) / 2.0;
    let y_max =
        headroom(curves.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y))).max(limit_ms * 2.0);
    draw(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x_min..x_max).log_scale(), (0.01..y_max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("p99 latency (ms)")
            .draw()?;
        chart.draw_series(LineSeries::new(
            vec![(x_min, limit_ms), (x_max, limit_ms)],
            BLACK.mix(0.4),
        ))?;
        lines(&mut chart, curves)
    })
    .map_err(|e| format!("drawing {}: {e}", path.display()))
}

type Chart<'a, X, Y> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>;
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Creates `path`'s folder and an SVG drawing area, runs `body`, and writes the file.
fn draw(
    path: &Path,
    body: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> DrawResult,
) -> DrawResult {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    body(&root)?;
    root.present()?;
    Ok(())
}

/// One coloured line with dots per curve, and the legend.
fn lines<'a, X, Y>(chart: &mut Chart<'a, X, Y>, curves: Vec<(&str, Vec<(f64, f64)>)>) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (label, points)) in curves.into_iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// A log axis' upper end: twice the largest value, at least 2.
fn headroom(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(1.0, f64::max) * 2.0
}
