//! One mode of W6 on a fresh database: rooms start, warm up, then a measured
//! window with a reading per second; the store's commit figures, the writer
//! thread's and the machine's CPU, and the I/O come from around the window.

use super::recorder::{CommitStats, sink};
use super::rooms::{Fixture, MEASURE, Pace, RoomOutcome, STOP, Shared, room_id, room_task};
use super::verify::{Readback, read_back};
use super::{CommitMode, W6Options};
use crate::procfs::{self, IoCounters, MachineCpu, ThreadSched};
use crate::report::{Errors, Latency};
use crate::workloads::progress_bar;
use gamehub::store::{Checkpoints, Store, StoreOptions, WRITER_THREAD, checkpoint};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// What one mode measured.
#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    /// Group commit or one transaction per action.
    pub mode: CommitMode,
    /// The store's `max_batch` in this mode.
    pub max_batch: usize,
    /// Length of the measured window, seconds.
    pub window_secs: f64,
    /// Writes acknowledged inside the window.
    pub actions: u64,
    /// `actions / window_secs`.
    pub actions_per_sec: f64,
    /// Over the window's first 2 s (when it lasts at least 4 s): the young
    /// database still fits in caches.
    pub first_2s_per_sec: Option<f64>,
    /// From the reading at or before the window's middle to its end: the steady state.
    pub steady_per_sec: f64,
    /// Actions per second in each second of the window.
    pub per_second: Vec<f64>,
    /// The writer's commits, from its own histograms (`None` if another
    /// `metrics` recorder was installed in this process first).
    pub commits: Option<CommitStats>,
    /// Time from `Store::write` to its return, for each write acked in the window.
    pub ack_wait: Latency,
    /// The writer thread over the window (`None` if it was not found).
    pub writer: Option<WriterUsage>,
    /// CPU seconds of the checkpointer thread over the window (`None` without one).
    pub checkpointer_cpu_secs: Option<f64>,
    /// Largest size of the WAL file seen at the readings, bytes.
    pub wal_max_bytes: u64,
    /// This process's CPU seconds over the window (rooms, tokio, writer).
    pub process_cpu_secs: f64,
    /// How much else ran.
    pub noise: Noise,
    /// I/O of this process per acknowledged action (only the writer does file I/O).
    pub io_per_action: IoPerAction,
    /// Database plus WAL file at the end, bytes.
    pub db_bytes: u64,
    /// The database read back as recovery reads it.
    pub readback: Readback,
    /// Failed writes and read-back mismatches.
    pub errors: Errors,
}

/// The writer thread over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct WriterUsage {
    /// Its CPU seconds (from its `stat`).
    pub cpu_secs: f64,
    /// Seconds it ran (from its `sched`); the rest of the window it waited.
    pub on_cpu_secs: f64,
    /// Times it blocked: on its channel, in `fsync`, on locks.
    pub voluntary_switches: u64,
    /// Times something else took its core.
    pub involuntary_switches: u64,
}

/// What else used the machine during a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Noise {
    /// CPU seconds used by other processes (the machine's busy time minus this process's).
    pub others_cpu_secs: f64,
    /// CPU seconds the hypervisor took.
    pub stolen_secs: f64,
    /// `/proc/loadavg` before and after.
    pub loadavg: (String, String),
}

/// I/O per acknowledged action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct IoPerAction {
    /// Bytes through write syscalls (WAL frames, and checkpoints into the database).
    pub write_bytes: f64,
    /// Bytes through read syscalls (pages not in SQLite's cache).
    pub read_bytes: f64,
    /// Write syscalls.
    pub write_calls: f64,
    /// Read syscalls.
    pub read_calls: f64,
    /// Bytes the kernel sent to the block device.
    pub device_write_bytes: f64,
}

/// Readings taken at the start and end of the window.
struct Readings {
    at: Instant,
    process_cpu: f64,
    writer_cpu: Option<f64>,
    writer_sched: Option<ThreadSched>,
    checkpointer_cpu: Option<f64>,
    io: IoCounters,
    machine: MachineCpu,
    loadavg: String,
}

impl Readings {
    fn take(writer: Option<u32>, checkpointer: Option<u32>) -> Readings {
        let pid = std::process::id();
        Readings {
            at: Instant::now(),
            process_cpu: procfs::sample(pid).map_or(0.0, |s| s.cpu_secs),
            writer_cpu: writer.and_then(|tid| procfs::thread_cpu_secs(pid, tid).ok()),
            writer_sched: writer.and_then(|tid| procfs::thread_sched(pid, tid).ok()),
            checkpointer_cpu: checkpointer.and_then(|tid| procfs::thread_cpu_secs(pid, tid).ok()),
            io: procfs::io_counters(pid).unwrap_or_default(),
            machine: procfs::machine_cpu().unwrap_or_default(),
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        }
    }
}

/// Runs `mode` on a fresh database under `base` (removed afterwards).
pub(super) async fn run_mode(
    options: &W6Options,
    mode: CommitMode,
    base: &Path,
) -> Result<ModeResult, String> {
    let dir = base.join(format!("w6-{}", room_id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let result = measure(options, mode, &dir).await;
    // Best effort: a leftover scratch database is only disk space.
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(options: &W6Options, mode: CommitMode, dir: &Path) -> Result<ModeResult, String> {
    let pid = std::process::id();
    let path = dir.join("w6.db");
    let mut store_options = StoreOptions::new(&path);
    store_options.sync = options.sync;
    store_options.max_batch = mode.max_batch(options);
    store_options.journal_keep = options.journal_keep;
    store_options.checkpoints = options.checkpoints;
    let before = procfs::threads_named(pid, WRITER_THREAD);
    let checkpointers = procfs::threads_named(pid, checkpoint::THREAD);
    let store = Store::open(&store_options).map_err(|e| format!("opening the store: {e}"))?;
    let writer = find_new_thread(pid, WRITER_THREAD, &before).await;
    let checkpointer = match store_options.checkpoints {
        Checkpoints::Thread => find_new_thread(pid, checkpoint::THREAD, &checkpointers).await,
        Checkpoints::InCommit => None,
    };

    let fixture = Arc::new(Fixture::new(options.snapshot_every)?);
    let shared = Arc::new(Shared::new());
    // Every room is created (its first write) before the warm-up starts.
    let created = Arc::new(Barrier::new(options.rooms + 1));
    let tasks: Vec<_> = (0..options.rooms)
        .map(|i| {
            let pace = if options.rate > 0.0 {
                let interval = Duration::from_secs_f64(options.rooms as f64 / options.rate);
                Pace::Every {
                    interval,
                    offset: interval.mul_f64(i as f64 / options.rooms as f64),
                }
            } else {
                Pace::FlatOut
            };
            tokio::spawn(room_task(
                store.clone(),
                room_id(),
                fixture.clone(),
                shared.clone(),
                created.clone(),
                pace,
            ))
        })
        .collect();
    created.wait().await;
    tokio::time::sleep(Duration::from_secs_f64(options.warmup_secs)).await;

    let commits_sink = sink();
    if let Some(sink) = &commits_sink {
        sink.open();
    }
    let start = Readings::take(writer, checkpointer);
    shared.phase.store(MEASURE, Ordering::Release);
    let window = watch_window(options, mode, &shared, &path).await;
    shared.phase.store(STOP, Ordering::Release);
    let end = Readings::take(writer, checkpointer);
    let commits = commits_sink.map(|sink| sink.close());

    let mut errors = Errors::default();
    let mut rooms: Vec<RoomOutcome> = Vec::with_capacity(tasks.len());
    for task in tasks {
        let outcome = task.await.map_err(|e| format!("a room task failed: {e}"))?;
        errors.merge(outcome.errors.clone());
        rooms.push(outcome);
    }
    if let Err(e) = store.flush().await {
        errors.add(format!("flushing: {e}"));
    }
    let readback = read_back(&store, &rooms, options.journal_keep, &mut errors).await;
    let db_bytes = ["w6.db", "w6.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    drop(store);
    // The writer closes the database (a last checkpoint) once every handle is
    // gone; the next mode should not share the disk with that.
    if let Some(tid) = writer {
        for _ in 0..500 {
            if !procfs::threads_named(pid, WRITER_THREAD).contains(&tid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let ack_wait = Latency::from_micros(&shared.waits.lock().unwrap_or_else(|p| p.into_inner()));
    let window_secs = end.at.duration_since(start.at).as_secs_f64();
    let rates = Rates::of(&window.samples);
    // Every task has ended: a write acknowledged just before the window
    // closed may have been counted after its last reading.
    let actions = shared.acked.load(Ordering::Relaxed);
    let process_cpu_secs = end.process_cpu - start.process_cpu;
    let io = start.io.until(&end.io);
    let per = |v: u64| v as f64 / actions.max(1) as f64;
    Ok(ModeResult {
        mode,
        max_batch: mode.max_batch(options),
        window_secs,
        actions,
        actions_per_sec: actions as f64 / window_secs,
        first_2s_per_sec: rates.first_2s,
        steady_per_sec: rates.steady,
        per_second: rates.per_second,
        commits,
        ack_wait,
        writer: WriterUsage::between(&start, &end),
        checkpointer_cpu_secs: end
            .checkpointer_cpu
            .zip(start.checkpointer_cpu)
            .map(|(c1, c0)| c1 - c0),
        wal_max_bytes: window.wal_max_bytes,
        process_cpu_secs,
        noise: Noise {
            others_cpu_secs: ((end.machine.busy_secs - start.machine.busy_secs) - process_cpu_secs)
                .max(0.0),
            stolen_secs: end.machine.steal_secs - start.machine.steal_secs,
            loadavg: (start.loadavg, end.loadavg),
        },
        io_per_action: IoPerAction {
            write_bytes: per(io.write_bytes),
            read_bytes: per(io.read_bytes),
            write_calls: per(io.write_calls),
            read_calls: per(io.read_calls),
            device_write_bytes: per(io.device_write_bytes),
        },
        db_bytes,
        readback,
        errors,
    })
}

/// The store's new thread named `name`: it is named once it runs, so look a while.
async fn find_new_thread(pid: u32, name: &str, before: &[u32]) -> Option<u32> {
    for _ in 0..100 {
        let found = procfs::threads_named(pid, name)
            .into_iter()
            .find(|t| !before.contains(t));
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// What the window's readings saw.
struct Watched {
    /// Seconds since the window's start and writes acked so far, once a
    /// second and at the end.
    samples: Vec<(f64, u64)>,
    /// Largest WAL file size read.
    wal_max_bytes: u64,
}

/// Watches the window, one reading per second (and one at its end); moves
/// the progress bar.
async fn watch_window(
    options: &W6Options,
    mode: CommitMode,
    shared: &Shared,
    db: &Path,
) -> Watched {
    let window = Duration::from_secs_f64(options.seconds);
    let bar = progress_bar(
        options.progress,
        options.seconds.ceil() as u64,
        mode.short_name(),
    );
    let wal = db.with_extension("db-wal");
    let start = Instant::now();
    let mut watched = Watched {
        samples: vec![(0.0, 0)],
        wal_max_bytes: 0,
    };
    while start.elapsed() < window {
        let left = window.saturating_sub(start.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        let (t, acked) = (
            start.elapsed().as_secs_f64(),
            shared.acked.load(Ordering::Relaxed),
        );
        let (t0, a0) = watched.samples[watched.samples.len() - 1];
        bar.set_message(format!("{:.0} actions/s", (acked - a0) as f64 / (t - t0)));
        bar.inc(1);
        watched.samples.push((t, acked));
        let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
        watched.wal_max_bytes = watched.wal_max_bytes.max(wal_bytes);
    }
    bar.finish_and_clear();
    watched
}

/// Throughput figures from the window's readings (seconds, acked so far).
struct Rates {
    per_second: Vec<f64>,
    first_2s: Option<f64>,
    steady: f64,
}

impl Rates {
    fn of(samples: &[(f64, u64)]) -> Rates {
        let first = samples.first().copied().unwrap_or((0.0, 0));
        let last = samples.last().copied().unwrap_or(first);
        let rate = |(t0, a0): (f64, u64), (t1, a1): (f64, u64)| {
            if t1 > t0 {
                (a1 - a0) as f64 / (t1 - t0)
            } else {
                0.0
            }
        };
        // The first reading at or past `t` seconds, and the last one at or
        // before it (readings fall on whole seconds).
        let at = |t: f64| samples.iter().copied().find(|(s, _)| *s >= t - 1e-3);
        let before = |t: f64| samples.iter().copied().rfind(|(s, _)| *s <= t + 1e-3);
        Rates {
            per_second: samples.windows(2).map(|w| rate(w[0], w[1])).collect(),
            first_2s: (last.0 >= 4.0)
                .then(|| at(2.0))
                .flatten()
                .map(|s| rate(first, s)),
            steady: rate(before(last.0 / 2.0).unwrap_or(first), last),
        }
    }
}

impl WriterUsage {
    fn between(start: &Readings, end: &Readings) -> Option<WriterUsage> {
        let (s0, s1) = (start.writer_sched?, end.writer_sched?);
        Some(WriterUsage {
            cpu_secs: end.writer_cpu? - start.writer_cpu?,
            on_cpu_secs: s1.run_secs - s0.run_secs,
            voluntary_switches: s1.voluntary_switches - s0.voluntary_switches,
            involuntary_switches: s1.involuntary_switches - s0.involuntary_switches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Rates;

    #[test]
    fn steady_state_is_the_second_half_and_the_burst_the_first_two_seconds() {
        let samples: Vec<(f64, u64)> = [0, 90, 180, 230, 280, 330, 380]
            .iter()
            .enumerate()
            .map(|(t, a)| (t as f64, *a))
            .collect();
        let r = Rates::of(&samples);
        assert_eq!(r.per_second, vec![90.0, 90.0, 50.0, 50.0, 50.0, 50.0]);
        assert_eq!(r.first_2s, Some(90.0));
        assert_eq!(r.steady, 50.0);
        let short = Rates::of(&samples[..2]);
        assert_eq!(short.first_2s, None, "too short a window");
        assert_eq!(
            short.steady, 90.0,
            "a one-second window is its own steady state"
        );
    }
}
