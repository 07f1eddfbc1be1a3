//! W4 in the runner: W2 on one instance, then each room split over two
//! instances sharing one Redis, for the servers that can share rooms
//! through Redis (gamehub and the Node peer's `@socket.io/redis-adapter`).

use super::CompareOptions;
use super::servers::ServerKind;
use crate::report::Latency;
use crate::workloads::{W4Options, w4};
use serde::Serialize;

/// What W4 measured on one kind of server.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterFigures {
    /// Deliveries per second on one instance (the baseline).
    pub baseline_per_sec: f64,
    /// Latency on one instance.
    pub baseline_latency: Latency,
    /// Received / expected on one instance.
    pub baseline_delivery: f64,
    /// Deliveries per second with each room split over two instances.
    pub split_per_sec: f64,
    /// Latency split over two instances.
    pub split_latency: Latency,
    /// Received / expected split over two instances.
    pub split_delivery: f64,
    /// Split p50 minus baseline p50, ms.
    pub added_p50_ms: f64,
    /// Split p99 minus baseline p99, ms.
    pub added_p99_ms: f64,
    /// Both instances' CPU-seconds per million deliveries, split run.
    pub split_cpu_secs_per_million: Option<f64>,
    /// Redis CPU-seconds per million deliveries, split run.
    pub redis_cpu_secs_per_million: Option<f64>,
    /// Errors over both runs.
    pub errors: u64,
    /// The first error's text, if any.
    pub first_error: Option<String>,
}

/// Starts two instances of `kind` on `options.redis` under a key prefix of
/// their own (so runs and other users of that Redis do not meet), and runs W4.
pub async fn run(kind: ServerKind, options: &CompareOptions) -> Result<ClusterFigures, String> {
    let redis_url = format!("redis://{}", options.redis);
    let prefix = format!("loadtest-compare-{}-{}", std::process::id(), kind);
    let instance = |node: &str| {
        let mut env = vec![("REDIS_URL", redis_url.as_str()), ("REDIS_PREFIX", &prefix)];
        if kind == ServerKind::Gamehub {
            env.push(("NODE_ID", node));
        }
        options.programs.start_with(kind, &env, node)
    };
    let (a, b) = (instance("a")?, instance("b")?);
    let r = w4(W4Options {
        url: a.url.clone(),
        url2: b.url.clone(),
        rooms: options.w4_rooms,
        players: options.w2_players,
        rate_hz: options.w4_rate_hz,
        seconds: options.w4_secs,
        drain_secs: 2.0,
        server_pid: Some(a.pid),
        server_pid2: Some(b.pid),
        redis: options.redis.clone(),
        progress: options.progress,
    })
    .await?;
    let redis_per_million = r
        .redis_split
        .filter(|_| r.split.deliveries > 0)
        .map(|u| u.cpu_secs / r.split.deliveries as f64 * 1e6);
    let first_error = r
        .baseline
        .errors
        .first
        .first()
        .or(r.split.errors.first.first())
        .cloned();
    let figures = ClusterFigures {
        baseline_per_sec: r.baseline.deliveries_per_sec,
        baseline_latency: r.baseline.latency,
        baseline_delivery: r.baseline.delivery_ratio,
        split_per_sec: r.split.deliveries_per_sec,
        split_latency: r.split.latency,
        split_delivery: r.split.delivery_ratio,
        added_p50_ms: r.added_p50_ms,
        added_p99_ms: r.added_p99_ms,
        split_cpu_secs_per_million: r.split.cpu_secs_per_million_deliveries,
        redis_cpu_secs_per_million: redis_per_million,
        errors: r.baseline.errors.count + r.split.errors.count,
        first_error,
    };
    eprintln!(
        "   W4: one instance {:.0}/s p99 {:.2} ms, split {:.0}/s p99 {:.2} ms, delivery {:.5}",
        figures.baseline_per_sec,
        figures.baseline_latency.p99_ms,
        figures.split_per_sec,
        figures.split_latency.p99_ms,
        figures.split_delivery
    );
    Ok(figures)
}
