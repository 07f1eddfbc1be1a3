//! The comparison's two SVG charts: latency by percentile at 80 % load, and p99 along the W2 ladder.

use super::{CompareReport, MAX_P99_MS};
use crate::chart;
use std::path::{Path, PathBuf};

/// Draws `w2-latency.svg` and `w2-ladder.svg` into `dir`; returns their paths.
pub fn draw(report: &CompareReport, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let latency = dir.join("w2-latency.svg");
    let at_80: Vec<_> = report
        .servers
        .iter()
        .filter_map(|s| {
            let run = s.w2_at_80.as_ref()?;
            let label = format!("{} ({:.0} deliveries/s)", s.kind, run.deliveries_per_sec);
            Some((label, run.latency))
        })
        .collect();
    chart::latency_by_percentile(
        &latency,
        "W2 latency by percentile, at 80% of each server's max",
        &at_80,
    )?;
    let ladder = dir.join("w2-ladder.svg");
    let steps: Vec<_> = report
        .servers
        .iter()
        .filter(|s| !s.w2_steps.is_empty())
        .map(|s| {
            let points = s
                .w2_steps
                .iter()
                .map(|st| (st.deliveries_per_sec, st.latency.p99_ms))
                .collect();
            (s.kind.to_string(), points)
        })
        .collect();
    chart::p99_along(
        &ladder,
        "W2 p99 latency as the rate rises (the 50 ms line ends a ladder)",
        "deliveries per second",
        MAX_P99_MS,
        &steps,
    )?;
    Ok(vec![latency, ladder])
}
