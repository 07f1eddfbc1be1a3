//! The comparison's SVG charts: W2 latency by percentile at 80 % load, W2
//! p99 along the ladder, and W3 ack p99 along the move rates. A chart whose
//! workload did not run is not drawn.

use super::{CompareReport, MAX_P99_MS};
use crate::chart;
use std::path::{Path, PathBuf};

/// The W3 target: p99 of durable acks at most 5 ms (workloads.md), drawn as a line.
const W3_TARGET_P99_MS: f64 = 5.0;

/// Draws the charts into `dir`; returns their paths.
pub fn draw(report: &CompareReport, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let at_80: Vec<_> = report
        .servers
        .iter()
        .filter_map(|s| {
            let run = s.w2_at_80.as_ref()?;
            let label = format!("{} ({:.0} deliveries/s)", s.kind, run.deliveries_per_sec);
            Some((label, run.latency))
        })
        .collect();
    if !at_80.is_empty() {
        let path = dir.join("w2-latency.svg");
        chart::latency_by_percentile(
            &path,
            "W2 latency by percentile, at 80% of each server's max",
            &at_80,
        )?;
        written.push(path);
    }
    let ladder: Vec<_> = report
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
    if !ladder.is_empty() {
        let path = dir.join("w2-ladder.svg");
        chart::p99_along(
            &path,
            "W2 p99 latency as the rate rises (the 50 ms line ends a ladder)",
            "deliveries per second",
            MAX_P99_MS,
            &ladder,
        )?;
        written.push(path);
    }
    let play: Vec<_> = report
        .servers
        .iter()
        .filter(|s| !s.w3_steps.is_empty())
        .map(|s| {
            let points = s
                .w3_steps
                .iter()
                .map(|st| (st.actions_per_sec, st.ack.p99_ms))
                .collect();
            (s.kind.to_string(), points)
        })
        .collect();
    if !play.is_empty() {
        let path = dir.join("w3-play.svg");
        chart::p99_along(
            &path,
            "W3 move ack p99 as the rate rises (gamehub durable, peers in memory; 5 ms target line)",
            "acknowledged moves per second",
            W3_TARGET_P99_MS,
            &play,
        )?;
        written.push(path);
    }
    Ok(written)
}
