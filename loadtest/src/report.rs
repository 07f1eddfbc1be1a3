//! Result pieces shared by the workloads, the end-of-run table and the JSON file.

use crate::procfs::{self, ProcSample};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::path::Path;

/// Latencies in microseconds, 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Samples recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// Summarises a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// What the server process used over a measured window (from `/proc`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServerUsage {
    /// The server's pid.
    pub pid: u32,
    /// CPU seconds (user + system) used in the window, at an assumed 100 ticks/s.
    pub cpu_secs: f64,
    /// RSS at the start of the window, KiB.
    pub rss_before_kb: u64,
    /// RSS at the end of the window, KiB.
    pub rss_after_kb: u64,
}

/// Watches a server process when its pid is known; a no-op otherwise.
#[derive(Debug, Clone, Copy)]
pub struct ServerProbe {
    pid: Option<u32>,
}

impl ServerProbe {
    /// A probe of `pid` (or of nothing). Fails if the pid cannot be read now.
    pub fn new(pid: Option<u32>) -> std::io::Result<ServerProbe> {
        if let Some(pid) = pid {
            procfs::sample(pid)?;
        }
        Ok(ServerProbe { pid })
    }

    /// A reading now, if there is a pid and it can still be read.
    pub fn sample(&self) -> Option<ProcSample> {
        self.pid.and_then(|pid| procfs::sample(pid).ok())
    }

    /// Usage between two readings taken by [`ServerProbe::sample`].
    pub fn usage(
        &self,
        before: Option<ProcSample>,
        after: Option<ProcSample>,
    ) -> Option<ServerUsage> {
        let (pid, before, after) = (self.pid?, before?, after?);
        Some(ServerUsage {
            pid,
            cpu_secs: after.cpu_secs - before.cpu_secs,
            rss_before_kb: before.rss_kb,
            rss_after_kb: after.rss_kb,
        })
    }
}

/// Counts errors and keeps the first few messages, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Errors {
    /// Every error seen.
    pub count: u64,
    /// The first [`Errors::KEPT`] messages.
    pub first: Vec<String>,
}

impl Errors {
    /// Messages kept.
    pub const KEPT: usize = 10;

    /// Records one error.
    pub fn add(&mut self, message: impl std::fmt::Display) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(message.to_string());
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for message in other.first {
            if self.first.len() < Self::KEPT {
                self.first.push(message);
            }
        }
    }
}

/// Prints `rows` as an aligned two-column table under `title`.
pub fn print_table(title: &str, rows: &[(String, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n{title}");
    println!("{}", "-".repeat(title.len()));
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
}

/// Writes `result` as pretty JSON to `path`, creating its directory.
pub fn write_json<T: Serialize>(path: &Path, result: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(result).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_in_ms() {
        let mut h = latency_histogram();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        let l = Latency::from_micros(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 0.5).abs() < 0.01, "{l:?}");
        assert!((l.p99_ms - 0.99).abs() < 0.01, "{l:?}");
        assert!((l.max_ms - 1.0).abs() < 0.01, "{l:?}");
    }

    #[test]
    fn errors_keep_the_first_few() {
        let mut errors = Errors::default();
        for i in 0..15 {
            errors.add(i);
        }
        let mut more = Errors::default();
        more.add("x");
        errors.merge(more);
        assert_eq!(errors.count, 16);
        assert_eq!(errors.first.len(), Errors::KEPT);
        assert_eq!(errors.first[0], "0");
    }
}
