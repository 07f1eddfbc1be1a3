//! The store's own commit figures: a `metrics` recorder that keeps the writer's
//! `gamehub_store_batch_size` and `gamehub_store_commit_seconds` histograms,
//! its journal pruning counters and the checkpointer's counts while a window is open.

use hdrhistogram::Histogram;
use metrics::{Counter, Gauge, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Commits the writer made in a window, from its own histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Writes (actions) per commit: mean, median, 99th percentile, largest.
    pub batch_mean: f64,
    /// Median writes per commit.
    pub batch_p50: u64,
    /// 99th percentile of writes per commit.
    pub batch_p99: u64,
    /// Most writes in one commit.
    pub batch_max: u64,
    /// Mean time the writer spent on one commit, ms.
    pub commit_mean_ms: f64,
    /// 99th percentile of that, ms.
    pub commit_p99_ms: f64,
    /// Largest, ms.
    pub commit_max_ms: f64,
    /// Seconds the writer spent inside commits, in all.
    pub in_commits_secs: f64,
    /// Old journal rows pruned.
    pub pruned_rows: u64,
    /// Of those, rows still needed and copied forward first.
    pub carried_rows: u64,
    /// `PASSIVE` WAL checkpoints (by the checkpointer thread).
    pub passive_checkpoints: u64,
    /// `RESTART` WAL checkpoints, which hold the writer off while they finish.
    pub restart_checkpoints: u64,
}

/// Where the recorder puts values; one per process.
pub(super) struct CommitSink {
    on: AtomicBool,
    batch: Mutex<Histogram<u64>>,
    commit_us: Mutex<Histogram<u64>>,
    pruned: AtomicU64,
    carried: AtomicU64,
    passive: AtomicU64,
    restart: AtomicU64,
}

/// The process's sink, installing the recorder on first use; `None` when
/// another `metrics` recorder was installed first (then the figures are missing).
pub(super) fn sink() -> Option<Arc<CommitSink>> {
    static SINK: OnceLock<Option<Arc<CommitSink>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let histogram = || {
            Histogram::new_with_bounds(1, 60_000_000, 3)
                .ok()
                .map(Mutex::new)
        };
        let sink = Arc::new(CommitSink {
            on: AtomicBool::new(false),
            batch: histogram()?,
            commit_us: histogram()?,
            pruned: AtomicU64::new(0),
            carried: AtomicU64::new(0),
            passive: AtomicU64::new(0),
            restart: AtomicU64::new(0),
        });
        metrics::set_global_recorder(Recorder(sink.clone())).ok()?;
        Some(sink)
    })
    .clone()
}

impl CommitSink {
    /// Forgets what was recorded and starts keeping values.
    pub(super) fn open(&self) {
        lock(&self.batch).reset();
        lock(&self.commit_us).reset();
        for counter in [&self.pruned, &self.carried, &self.passive, &self.restart] {
            counter.store(0, Ordering::Relaxed);
        }
        self.on.store(true, Ordering::Release);
    }

    /// Stops keeping values and sums up the window.
    pub(super) fn close(&self) -> CommitStats {
        self.on.store(false, Ordering::Release);
        let batch = lock(&self.batch);
        let commit = lock(&self.commit_us);
        let ms = |us: f64| us / 1000.0;
        CommitStats {
            commits: batch.len(),
            batch_mean: batch.mean(),
            batch_p50: batch.value_at_quantile(0.5),
            batch_p99: batch.value_at_quantile(0.99),
            batch_max: batch.max(),
            commit_mean_ms: ms(commit.mean()),
            commit_p99_ms: ms(commit.value_at_quantile(0.99) as f64),
            commit_max_ms: ms(commit.max() as f64),
            in_commits_secs: commit.mean() * commit.len() as f64 / 1e6,
            pruned_rows: self.pruned.load(Ordering::Relaxed),
            carried_rows: self.carried.load(Ordering::Relaxed),
            passive_checkpoints: self.passive.load(Ordering::Relaxed),
            restart_checkpoints: self.restart.load(Ordering::Relaxed),
        }
    }

    fn record(&self, which: Which, value: f64) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        match which {
            Which::Batch => lock(&self.batch).saturating_record(value.round().max(1.0) as u64),
            Which::Commit => lock(&self.commit_us).saturating_record((value * 1e6).max(1.0) as u64),
        }
    }

    fn count(&self, which: Count, n: u64) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let counter = match which {
            Count::Pruned => &self.pruned,
            Count::Carried => &self.carried,
            Count::Passive => &self.passive,
            Count::Restart => &self.restart,
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

fn lock(h: &Mutex<Histogram<u64>>) -> std::sync::MutexGuard<'_, Histogram<u64>> {
    // A panic while recording leaves a histogram that is still usable.
    h.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy)]
enum Which {
    Batch,
    Commit,
}

struct Handle(Arc<CommitSink>, Which);

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.0.record(self.1, value);
    }
}

#[derive(Clone, Copy)]
enum Count {
    Pruned,
    Carried,
    Passive,
    Restart,
}

struct CountHandle(Arc<CommitSink>, Count);

impl metrics::CounterFn for CountHandle {
    fn increment(&self, n: u64) {
        self.0.count(self.1, n);
    }

    fn absolute(&self, _: u64) {}
}

/// Hands the store's commit histograms, pruning and checkpoint counters to
/// the sink; every other metric goes nowhere.
struct Recorder(Arc<CommitSink>);

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mode = key.labels().find(|l| l.key() == "mode").map(|l| l.value());
        let which = match (key.name(), mode) {
            ("gamehub_store_journal_pruned_total", _) => Count::Pruned,
            ("gamehub_store_journal_carried_total", _) => Count::Carried,
            ("gamehub_store_checkpoints_total", Some("PASSIVE")) => Count::Passive,
            ("gamehub_store_checkpoints_total", Some("RESTART")) => Count::Restart,
            _ => return Counter::noop(),
        };
        Counter::from_arc(Arc::new(CountHandle(self.0.clone(), which)))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
        let which = match key.name() {
            "gamehub_store_batch_size" => Which::Batch,
            "gamehub_store_commit_seconds" => Which::Commit,
            _ => return metrics::Histogram::noop(),
        };
        metrics::Histogram::from_arc(Arc::new(Handle(self.0.clone(), which)))
    }
}
