//! Logs (tracing, text or JSON) and metrics (Prometheus exporter).

use crate::config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber; levels come from `RUST_LOG` (default `info`).
pub fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let _ = match format {
        // A second init (tests) keeps the first subscriber.
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Latency buckets, in seconds: 50 µs to 5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

/// Commit batch sizes: 1 (no grouping) to the largest batch.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The process-wide Prometheus recorder, installed on first use. The metrics
/// crate has one global recorder, so every hub in a process shares it.
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("gamehub_store_batch_size".into()),
                        BATCH_BUCKETS,
                    )
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "gamehub_connected_sockets",
        "socket.io sockets connected now"
    );
    describe_gauge!("gamehub_rooms", "rooms open now, by game and status");
    describe_counter!(
        "gamehub_events_total",
        "client events answered, by event and result code"
    );
    describe_histogram!(
        "gamehub_event_duration_seconds",
        "time from receiving an event to its ack, by event"
    );
    describe_counter!(
        "gamehub_actions_total",
        "room:action requests, by game and result code"
    );
    describe_histogram!(
        "gamehub_action_duration_seconds",
        "time to handle one room:action, by game"
    );
    describe_counter!(
        "gamehub_mailbox_full_total",
        "requests refused because a room's mailbox was full"
    );
    describe_counter!(
        "gamehub_rate_limited_total",
        "events refused by the per-socket rate limit"
    );
    describe_histogram!(
        "gamehub_room_mailbox_wait_seconds",
        "time a request waited in a room's mailbox before the room took it up"
    );
    describe_histogram!(
        "gamehub_room_commit_wait_seconds",
        "time a room waited for one of its changes to be committed (queue and commit)"
    );
    describe_histogram!(
        "gamehub_store_batch_size",
        "writes committed together in one transaction (group commit)"
    );
    describe_histogram!(
        "gamehub_store_commit_seconds",
        "time to commit one batch of writes"
    );
    describe_counter!(
        "gamehub_store_commit_failures_total",
        "batches that failed or hit a storage fault"
    );
    // Unlabelled series exist from the start, so dashboards and alerts see zeros, not gaps.
    metrics::gauge!("gamehub_connected_sockets").set(0.0);
    metrics::counter!("gamehub_mailbox_full_total").absolute(0);
    metrics::counter!("gamehub_rate_limited_total").absolute(0);
    metrics::counter!("gamehub_store_commit_failures_total").absolute(0);
}
