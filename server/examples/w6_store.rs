//! W6 storage benchmark: journal appends through group commit versus one transaction per action.
//!
//! Simulates R rooms as R tokio tasks on the real [`Store`], each appending
//! what a tictactoe room writes per move (one `WriteOp::Journal` holding a
//! msgpack [`JournalEntry`] with one `placed` event, plus a `WriteOp::Snapshot`
//! in the same write every 100 events) and waiting for the commit before its
//! next move, as a room waits before it acks. Runs two modes on fresh
//! databases: group commit (`max_batch` 1024) and one transaction per action
//! (`max_batch` 1), each warm-up then a timed window, and reports durable
//! actions/s, actions per commit (read from the store's own
//! `gamehub_store_batch_size` histogram through a small `metrics` recorder),
//! and the ack wait (time `Store::write` takes) percentiles, plus the writer
//! thread's CPU, the I/O per action and how much else ran (noise). With
//! `--rate` the rooms act at a fixed total pace instead of flat out, to read
//! the ack wait at a given load. Results and method: `docs/benchmarks.md`.
//!
//! ```text
//! cargo run --release -p gamehub --example w6_store -- [--rooms N] [--seconds S]
//!     [--warmup S] [--rate R] [--sync normal|full] [--dir DIR] [--out target/bench/w6.json]
//! ```

use anyhow::{Context, Result, bail};
use clap::Parser;
use gamehub::game::{self, GameEvent};
use gamehub::store::{
    Input, JournalEntry, RoomSnapshot, Store, StoreOptions, StoredEvent, SyncMode, WriteOp, encode,
};
use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use protocol::PlayerRef;
use protocol::games::tictactoe::Event;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// A room snapshots every this many events (the server's `SNAPSHOT_EVERY` default).
const SNAPSHOT_EVERY: u64 = 100;
/// The writer thread's name as the kernel keeps it (15 bytes of `gamehub-store-writer`).
const WRITER_COMM: &str = "gamehub-store-w";

#[derive(Parser, Debug)]
#[command(about = "W6: journal append throughput, group commit versus one transaction per action")]
struct Args {
    /// Concurrent rooms (tokio tasks), each with one write in flight at a time.
    #[arg(long, default_value_t = 1000)]
    rooms: usize,
    /// Measured seconds per mode.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Warm-up seconds per mode, excluded from every figure.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Offered load in actions/s over all rooms, each room acting at an even
    /// pace (0: as fast as commits allow, the throughput test). A room whose
    /// write takes longer than its interval falls behind, as a real one would.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Commit durability: `normal` (survives a process crash) or `full` (an fsync per commit).
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Where the fresh databases go (must be on the disk under test, not tmpfs).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// JSON results file (its directory is created).
    #[arg(long, default_value = "target/bench/w6.json")]
    out: PathBuf,
}

/// Phases every room task reads.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Values of one histogram the store records, kept only while `on`.
struct Samples {
    on: Arc<AtomicBool>,
    values: Mutex<Vec<f64>>,
}

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        if self.on.load(Ordering::Relaxed) {
            self.values
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(value);
        }
    }
}

impl Samples {
    fn take(&self) -> Vec<f64> {
        std::mem::take(&mut *self.values.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Keeps the writer's `gamehub_store_batch_size` and `gamehub_store_commit_seconds`; drops the rest.
struct CommitRecorder {
    batch: Arc<Samples>,
    commit: Arc<Samples>,
}

impl metrics::Recorder for CommitRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match key.name() {
            "gamehub_store_batch_size" => Histogram::from_arc(self.batch.clone()),
            "gamehub_store_commit_seconds" => Histogram::from_arc(self.commit.clone()),
            _ => Histogram::noop(),
        }
    }
}

/// What one room task did inside the measured window.
struct RoomTally {
    /// Ack wait of each write acked in the window, in nanoseconds.
    waits: Vec<u64>,
    errors: u64,
}

/// The bytes of one room's writes that do not change per move.
struct Fixture {
    /// A real tictactoe room's snapshot state (seats and game bytes).
    seats: Vec<Option<PlayerRef>>,
    game: Vec<u8>,
}

impl Fixture {
    fn new() -> Result<Self> {
        let mut g = game::create("tictactoe", None)?;
        g.seated(0, 1);
        g.seated(1, 2);
        for (seat, cell) in [(0u8, 4u8), (1, 0), (0, 8)] {
            g.apply(seat, &json!({"type": "place", "cell": cell}))?;
        }
        let player = |n: &str| PlayerRef {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: n.to_string(),
        };
        Ok(Self {
            seats: vec![Some(player("alice")), Some(player("bob"))],
            game: g.snapshot(),
        })
    }
}

/// What a tictactoe room writes for its move number `jseq` (one event per move, so seq = jseq).
fn move_ops(room: &str, jseq: u64, fixture: &Fixture) -> Vec<WriteOp> {
    let seat = (jseq % 2) as u8;
    let cell = (jseq % 9) as u8;
    let event = GameEvent::public(Event::Placed { seat, cell });
    let entry = JournalEntry {
        input: Input::Action {
            seat,
            action: json!({"type": "place", "cell": cell}),
        },
        events: vec![StoredEvent::new(jseq, &event)],
    };
    let mut ops = Vec::with_capacity(2);
    ops.push(WriteOp::Journal {
        room: room.to_string(),
        jseq,
        entry: encode(&entry),
    });
    if jseq.is_multiple_of(SNAPSHOT_EVERY) {
        let snap = RoomSnapshot {
            jseq,
            seq: jseq,
            seats: fixture.seats.clone(),
            game: fixture.game.clone(),
        };
        ops.push(WriteOp::Snapshot {
            room: room.to_string(),
            jseq,
            state: encode(&snap),
        });
    }
    ops
}

/// Sizes of an encoded journal entry and snapshot, for the record.
fn record_bytes() -> Result<Value> {
    let fixture = Fixture::new()?;
    let sizes = |ops: Vec<WriteOp>| -> Vec<usize> {
        ops.iter()
            .map(|op| match op {
                WriteOp::Journal { entry, .. } => entry.len(),
                WriteOp::Snapshot { state, .. } => state.len(),
                _ => 0,
            })
            .collect()
    };
    let with_snapshot = sizes(move_ops("0123456789ab", SNAPSHOT_EVERY, &fixture));
    Ok(json!({
        "journal_entry": sizes(move_ops("0123456789ab", 7, &fixture))[0],
        "snapshot": with_snapshot.get(1).copied().unwrap_or(0),
    }))
}

/// One room: moves until told to stop, each waiting for its commit.
async fn room_task(
    store: Store,
    room: String,
    phase: Arc<AtomicU8>,
    fixture: Arc<Fixture>,
    acked: Arc<AtomicU64>,
    created: Arc<Barrier>,
    pace: Option<(Duration, Duration)>,
) -> RoomTally {
    let mut tally = RoomTally {
        waits: Vec::new(),
        errors: 0,
    };
    let create = vec![WriteOp::CreateRoom {
        id: room.clone(),
        game: "tictactoe".into(),
        node: "w6-node".into(),
        created_at: 0,
    }];
    if store.write(create).await.is_err() {
        tally.errors += 1;
    }
    created.wait().await;
    // With a rate, act every `interval`, starting `offset` in, so rooms spread evenly.
    let mut next = pace.map(|(_, offset)| tokio::time::Instant::now() + offset);
    let mut jseq = 0;
    loop {
        if let (Some(at), Some((interval, _))) = (next.as_mut(), pace) {
            tokio::time::sleep_until(*at).await;
            *at = (*at + interval).max(tokio::time::Instant::now());
        }
        if phase.load(Ordering::Acquire) == STOP {
            return tally;
        }
        jseq += 1;
        let ops = move_ops(&room, jseq, &fixture);
        let sent = Instant::now();
        let outcome = store.write(ops).await;
        let wait = sent.elapsed();
        // A write counts in the window when its ack arrives inside it; failures count always.
        match outcome {
            Ok(()) if phase.load(Ordering::Acquire) == MEASURE => {
                tally.waits.push(wait.as_nanos() as u64);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {}
            Err(_) => tally.errors += 1,
        }
    }
}

/// CPU time (user + system) of this process, or of one of its threads, in seconds.
fn cpu_seconds(thread: Thread) -> f64 {
    let path = match thread {
        Thread::Process => "/proc/self/stat".to_string(),
        Thread::Id(Some(t)) => format!("/proc/self/task/{t}/stat"),
        Thread::Id(None) => return f64::NAN,
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the parenthesised name: state is field 3; utime, stime are 14, 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    match (ticks(14), ticks(15)) {
        (Some(u), Some(s)) => (u + s) / USER_HZ,
        _ => f64::NAN,
    }
}

/// A thread's CPU seconds and its voluntary (it blocked) and involuntary
/// (it was preempted) context switches, from /proc/self/task/TID/sched.
fn sched_of(tid: Option<u32>) -> [f64; 3] {
    let Some(tid) = tid else {
        return [f64::NAN; 3];
    };
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/sched")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().parse::<f64>().ok())?
            })
            .unwrap_or(f64::NAN)
    };
    [
        field("se.sum_exec_runtime") / 1000.0,
        field("nr_voluntary_switches"),
        field("nr_involuntary_switches"),
    ]
}

/// CPU seconds of the whole machine (all cores, from /proc/stat): busy (user,
/// nice, system, irq, softirq) and stolen by the hypervisor, to tell how much
/// else ran during a window.
fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return (f64::NAN, f64::NAN);
    };
    let v: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    (busy / USER_HZ, at(7) / USER_HZ)
}

/// The whole process, or one thread of it (if it was found).
#[derive(Clone, Copy)]
enum Thread {
    Process,
    Id(Option<u32>),
}

/// Clock ticks per second of /proc times (USER_HZ: 100 on every Linux).
const USER_HZ: f64 = 100.0;

/// Thread ids of this process named like the store's writer.
fn writer_threads() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == WRITER_COMM).then_some(tid)
        })
        .collect()
}

/// Filesystem type, device and mount point holding `path` (from /proc/self/mounts).
fn filesystem_of(path: &Path) -> (String, String, String) {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut best: Option<(String, String, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        let mount = f[1].replace("\\040", " ");
        if path.starts_with(&mount) && best.as_ref().is_none_or(|(_, _, m)| mount.len() >= m.len())
        {
            best = Some((f[2].to_string(), f[0].to_string(), mount));
        }
    }
    best.unwrap_or_else(|| ("unknown".into(), "unknown".into(), "unknown".into()))
}

/// This process's I/O counters from /proc/self/io: bytes and calls through
/// read/write syscalls (`rchar`, `wchar`, `syscr`, `syscw`, page-cache hits
/// included) and bytes sent to the block device (`write_bytes`).
fn io_counters() -> [u64; 5] {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    [
        field("rchar"),
        field("wchar"),
        field("syscr"),
        field("syscw"),
        field("write_bytes"),
    ]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn quantile<T: Copy + Default>(v: &[T], q: f64) -> T {
    if v.is_empty() {
        return T::default();
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Figures of one mode.
struct ModeResult {
    name: &'static str,
    max_batch: usize,
    window_s: f64,
    actions: u64,
    errors: u64,
    commits: usize,
    batch_mean: f64,
    batch_p50: f64,
    batch_p99: f64,
    batch_max: f64,
    commit_mean_us: f64,
    commit_p99_us: f64,
    wait_mean_us: f64,
    wait_p50_us: f64,
    wait_p99_us: f64,
    wait_p999_us: f64,
    wait_max_us: f64,
    process_cpu_s: f64,
    writer_cpu_s: f64,
    /// Seconds the writer thread ran, and its voluntary and involuntary context switches, in the window.
    writer_run_s: f64,
    writer_blocks: f64,
    writer_preempts: f64,
    /// Seconds the writer spent inside commits (sum of `gamehub_store_commit_seconds`).
    writer_commit_s: f64,
    /// CPU seconds other processes used, and the hypervisor stole, during the window (noise).
    others_cpu_s: f64,
    steal_s: f64,
    /// Deltas of [`io_counters`] over the window.
    io: [u64; 5],
    db_bytes: u64,
    load_before: String,
    load_after: String,
}

impl ModeResult {
    fn actions_per_s(&self) -> f64 {
        self.actions as f64 / self.window_s
    }

    fn json(&self) -> Value {
        json!({
            "mode": self.name,
            "max_batch": self.max_batch,
            "window_s": self.window_s,
            "durable_actions": self.actions,
            "durable_actions_per_s": self.actions_per_s(),
            "write_errors": self.errors,
            "commits": self.commits,
            "commits_per_s": self.commits as f64 / self.window_s,
            "batch_size": {
                "mean": self.batch_mean, "p50": self.batch_p50,
                "p99": self.batch_p99, "max": self.batch_max,
            },
            "commit_time_us": { "mean": self.commit_mean_us, "p99": self.commit_p99_us },
            "ack_wait_us": {
                "mean": self.wait_mean_us, "p50": self.wait_p50_us, "p99": self.wait_p99_us,
                "p99_9": self.wait_p999_us, "max": self.wait_max_us,
            },
            "cpu_s": {
                "process": self.process_cpu_s, "writer_thread": self.writer_cpu_s,
                "other_processes": self.others_cpu_s,
                "stolen": self.steal_s,
            },
            "writer_busy": self.writer_cpu_s / self.window_s,
            "writer_thread": {
                "in_commits_s": self.writer_commit_s,
                "on_cpu_s": self.writer_run_s,
                "off_cpu_s": (self.window_s - self.writer_run_s).max(0.0),
                "voluntary_switches": self.writer_blocks,
                "involuntary_switches": self.writer_preempts,
            },
            "io_per_action": {
                "read_syscall_bytes": self.io[0] as f64 / self.actions.max(1) as f64,
                "write_syscall_bytes": self.io[1] as f64 / self.actions.max(1) as f64,
                "read_syscalls": self.io[2] as f64 / self.actions.max(1) as f64,
                "write_syscalls": self.io[3] as f64 / self.actions.max(1) as f64,
                "block_device_write_bytes": self.io[4] as f64 / self.actions.max(1) as f64,
            },
            "db_bytes_after": self.db_bytes,
            "loadavg_before": self.load_before,
            "loadavg_after": self.load_after,
        })
    }
}

struct Recorded {
    on: Arc<AtomicBool>,
    batch: Arc<Samples>,
    commit: Arc<Samples>,
}

async fn run_mode(
    args: &Args,
    base: &Path,
    name: &'static str,
    max_batch: usize,
    rec: &Recorded,
) -> Result<ModeResult> {
    let dir = base.join(format!("w6-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("w6.db");
    let mut options = StoreOptions::new(&path);
    options.sync = args.sync;
    options.max_batch = max_batch;
    let before: Vec<u32> = writer_threads();
    let store = Store::open(&options).context("opening the store")?;
    // The thread names itself once it runs: look until it has.
    let mut writer_tid = None;
    for _ in 0..100 {
        writer_tid = writer_threads().into_iter().find(|t| !before.contains(t));
        if writer_tid.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if writer_tid.is_none() {
        eprintln!("w6: warning: cannot find the writer thread; its figures will be NaN");
    }

    // Every room is created (as a room's first write does) before the warm-up starts.
    let fixture = Arc::new(Fixture::new()?);
    let rooms: Vec<String> = (0..args.rooms)
        .map(|_| {
            let mut id = uuid::Uuid::new_v4().simple().to_string();
            id.truncate(12);
            id
        })
        .collect();
    let created = Arc::new(Barrier::new(args.rooms + 1));
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let acked = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = rooms
        .iter()
        .enumerate()
        .map(|(i, room)| {
            let pace = (args.rate > 0.0).then(|| {
                let interval = Duration::from_secs_f64(args.rooms as f64 / args.rate);
                (interval, interval.mul_f64(i as f64 / args.rooms as f64))
            });
            tokio::spawn(room_task(
                store.clone(),
                room.clone(),
                phase.clone(),
                fixture.clone(),
                acked.clone(),
                created.clone(),
                pace,
            ))
        })
        .collect();
    created.wait().await;

    eprintln!(
        "w6: {name}: {} rooms, warm-up {:.1} s, then {:.1} s measured",
        args.rooms, args.warmup, args.seconds
    );
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    let load_before = loadavg();
    rec.batch.take();
    rec.commit.take();
    let cpu0 = cpu_seconds(Thread::Process);
    let wcpu0 = cpu_seconds(Thread::Id(writer_tid));
    let io0 = io_counters();
    let (busy0, steal0) = machine_cpu_seconds();
    let sched0 = sched_of(writer_tid);
    rec.on.store(true, Ordering::Release);
    phase.store(MEASURE, Ordering::Release);
    let start = Instant::now();
    let window = Duration::from_secs_f64(args.seconds);
    let mut last = 0;
    while start.elapsed() < window {
        let left = window.saturating_sub(start.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        let now = acked.load(Ordering::Relaxed);
        eprintln!(
            "w6: {name}: {:>4.1} s  {:>9} acked  ({:.0}/s in the last interval)",
            start.elapsed().as_secs_f64(),
            now,
            (now - last) as f64 / left.min(Duration::from_secs(1)).as_secs_f64()
        );
        last = now;
    }
    phase.store(STOP, Ordering::Release);
    rec.on.store(false, Ordering::Release);
    let window_s = start.elapsed().as_secs_f64();
    let cpu1 = cpu_seconds(Thread::Process);
    let wcpu1 = cpu_seconds(Thread::Id(writer_tid));
    let io1 = io_counters();
    let (busy1, steal1) = machine_cpu_seconds();
    let sched1 = sched_of(writer_tid);
    let load_after = loadavg();

    let mut waits = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let tally = t.await.context("a room task panicked")?;
        waits.extend(tally.waits);
        errors += tally.errors;
    }
    store.flush().await.context("flushing")?;
    drop(store);
    let db_bytes = ["w6.db", "w6.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    // The writer thread closes the database once the last handle is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    std::fs::remove_dir_all(&dir).ok();

    waits.sort_unstable();
    let mut batches = rec.batch.take();
    batches.sort_by(f64::total_cmp);
    let mut commits = rec.commit.take();
    commits.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(ModeResult {
        name,
        max_batch,
        window_s,
        actions: waits.len() as u64,
        errors,
        commits: batches.len(),
        batch_mean: mean(&batches),
        batch_p50: quantile(&batches, 0.50),
        batch_p99: quantile(&batches, 0.99),
        batch_max: batches.last().copied().unwrap_or(0.0),
        commit_mean_us: mean(&commits) * 1e6,
        commit_p99_us: quantile(&commits, 0.99) * 1e6,
        wait_mean_us: if waits.is_empty() {
            0.0
        } else {
            waits.iter().sum::<u64>() as f64 / waits.len() as f64 / 1000.0
        },
        wait_p50_us: us(quantile(&waits, 0.50)),
        wait_p99_us: us(quantile(&waits, 0.99)),
        wait_p999_us: us(quantile(&waits, 0.999)),
        wait_max_us: us(waits.last().copied().unwrap_or(0)),
        process_cpu_s: cpu1 - cpu0,
        writer_cpu_s: wcpu1 - wcpu0,
        writer_run_s: sched1[0] - sched0[0],
        writer_blocks: sched1[1] - sched0[1],
        writer_preempts: sched1[2] - sched0[2],
        writer_commit_s: commits.iter().sum(),
        others_cpu_s: ((busy1 - busy0) - (cpu1 - cpu0)).max(0.0),
        steal_s: steal1 - steal0,
        io: std::array::from_fn(|i| io1[i].saturating_sub(io0[i])),
        db_bytes,
        load_before,
        load_after,
    })
}

/// One line of a command's output, or `unknown`.
fn command_line(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The machine, for the record.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_string(), |(_, v)| v.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu_model,
        "mem_total_gib": mem_kb as f64 / 1024.0 / 1024.0,
        "kernel": command_line("uname", &["-r"]),
        "rustc": command_line("rustc", &["--version"]),
    })
}

fn sync_name(sync: SyncMode) -> &'static str {
    match sync {
        SyncMode::Normal => "normal",
        SyncMode::Full => "full",
    }
}

fn print_table(args: &Args, fs: &(String, String, String), results: &[ModeResult]) {
    println!();
    println!(
        "W6 store: {} rooms, {}, {:.1} s measured per mode (+{:.1} s warm-up), sync={}, database on {} ({} at {})",
        args.rooms,
        if args.rate > 0.0 {
            format!("offered {:.0} actions/s", args.rate)
        } else {
            "as fast as commits allow".to_string()
        },
        args.seconds,
        args.warmup,
        sync_name(args.sync),
        fs.0,
        fs.1,
        fs.2
    );
    println!(
        "{:<24} {:>10} {:>9} {:>18} {:>10} {:>26} {:>7} {:>12}",
        "mode",
        "actions/s",
        "commits/s",
        "batch mean/p50/p99",
        "commit ms",
        "ack wait ms p50/p99/p99.9",
        "writer",
        "KiB w/action"
    );
    for r in results {
        println!(
            "{:<24} {:>10.0} {:>9.0} {:>18} {:>10.3} {:>26} {:>6.0}% {:>12.1}",
            format!("{} ({})", r.name, r.max_batch),
            r.actions_per_s(),
            r.commits as f64 / r.window_s,
            format!("{:.0}/{:.0}/{:.0}", r.batch_mean, r.batch_p50, r.batch_p99),
            r.commit_mean_us / 1000.0,
            format!(
                "{:.2}/{:.2}/{:.2}",
                r.wait_p50_us / 1000.0,
                r.wait_p99_us / 1000.0,
                r.wait_p999_us / 1000.0
            ),
            100.0 * r.writer_cpu_s / r.window_s,
            r.io[1] as f64 / 1024.0 / r.actions.max(1) as f64
        );
    }
    println!(
        "(batch: actions per commit, from the store's gamehub_store_batch_size; commit ms: time the writer spends per commit; \
         writer: the writer thread's CPU time over the window; KiB w/action: bytes through write syscalls per acked action)"
    );
    for r in results {
        println!(
            "writer thread, {}: {:.2} s of the {:.2} s window inside commits; {:.2} s on a CPU; blocked {:.0} times, preempted {:.0} times",
            r.name,
            r.writer_commit_s,
            r.window_s,
            r.writer_run_s,
            r.writer_blocks,
            r.writer_preempts
        );
    }
    for r in results {
        println!(
            "noise, {}: other processes used {:.2} CPU-s (stolen {:.2}) of the {:.1} s window on {} cores (this process {:.2}); loadavg {} -> {}",
            r.name,
            r.others_cpu_s,
            r.steal_s,
            r.window_s,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            r.process_cpu_s,
            r.load_before,
            r.load_after
        );
    }
    if let ([group, single], true) = (results, args.rate <= 0.0) {
        println!(
            "speedup of group commit over one transaction per action: {:.1}x; target >= 50000 durable actions/s: {}",
            group.actions_per_s() / single.actions_per_s(),
            if group.actions_per_s() >= 50_000.0 {
                "met"
            } else {
                "MISSED"
            }
        );
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.rooms == 0 || !(args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--rooms must be at least 1 and --seconds in (0, 600]");
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        bail!("--rate must be 0 (unlimited) or a positive number of actions/s");
    }
    if !(0.0..=60.0).contains(&args.warmup) {
        bail!("--warmup must be in [0, 60]");
    }
    let on = Arc::new(AtomicBool::new(false));
    let samples = || {
        Arc::new(Samples {
            on: on.clone(),
            values: Mutex::new(Vec::new()),
        })
    };
    let rec = Recorded {
        on: on.clone(),
        batch: samples(),
        commit: samples(),
    };
    metrics::set_global_recorder(CommitRecorder {
        batch: rec.batch.clone(),
        commit: rec.commit.clone(),
    })
    .map_err(|_| anyhow::anyhow!("a metrics recorder is already installed"))?;

    let base = args
        .dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/tmp"));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let fs = filesystem_of(&base);
    if fs.0 == "tmpfs" || fs.0 == "ramfs" {
        eprintln!("w6: warning: {} is on {}, not a disk", base.display(), fs.0);
    }
    let started_at = command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]);

    let mut results = Vec::new();
    for (name, max_batch) in [("group commit", 1024), ("one tx per action", 1)] {
        results.push(run_mode(&args, &base, name, max_batch, &rec).await?);
    }
    print_table(&args, &fs, &results);

    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let speedup = results[0].actions_per_s() / results[1].actions_per_s();
    let report = json!({
        "workload": "W6 store",
        "started_at": started_at,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "rooms": args.rooms,
        "offered_rate_per_s": if args.rate > 0.0 { json!(args.rate) } else { json!("unlimited") },
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "sync": sync_name(args.sync),
        "snapshot_every": SNAPSHOT_EVERY,
        "record_bytes": record_bytes()?,
        "database_dir": base.canonicalize().unwrap_or(base.clone()),
        "filesystem": { "type": fs.0, "device": fs.1, "mount": fs.2 },
        "machine": machine(),
        "modes": results.iter().map(ModeResult::json).collect::<Vec<_>>(),
        "speedup_group_over_single": speedup,
        "target_durable_actions_per_s": 50_000,
        "target_met": (args.rate <= 0.0).then(|| results[0].actions_per_s() >= 50_000.0),
    });
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("results written to {}", args.out.display());
    if errors > 0 {
        bail!("{errors} writes failed; the figures above do not count them");
    }
    Ok(())
}
