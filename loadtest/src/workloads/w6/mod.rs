//! W6 store: journal appends through gamehub's real store, group commit
//! versus one transaction per action, on this disk.
//!
//! No server and no sockets: this process opens `gamehub::store::Store` on a
//! fresh database and runs one tokio task per room ([`rooms`]), each writing
//! what a tictactoe room writes per move and waiting for the commit before
//! its next one, as a room waits before it acknowledges. Each mode (group
//! commit with the server's `max_batch`, or `max_batch` 1) gets its own
//! database, a warm-up, then a measured window ([`measure`]): durable
//! actions/s (overall, first two seconds, second half), actions per commit,
//! commit time, journal rows pruned and WAL checkpoints from the store's own
//! metrics ([`recorder`]), the ack wait, the writer's and checkpointer's CPU,
//! I/O per action, and how busy the rest of the machine was. Finally the database is read back as recovery reads it
//! ([`verify`]). With a `rate`, the rooms act at a fixed total pace, to read
//! the ack wait at a given load.

mod measure;
mod recorder;
mod rooms;
mod verify;

pub use measure::{IoPerAction, ModeResult, Noise, WriterUsage};
pub use recorder::CommitStats;
pub use rooms::RecordBytes;
pub use verify::Readback;

use crate::procfs::{self, Filesystem};
use crate::report::Errors;
use gamehub::store::{Checkpoints, SyncMode};
use serde::{Serialize, Serializer};
use std::path::PathBuf;

/// Durable actions/s W6 must reach with group commit (steady state).
pub const TARGET_ACTIONS_PER_SEC: f64 = 50_000.0;
/// Largest p99 ack wait, ms, at the load W3 asks for ([`TARGET_P99_RATE`]).
pub const TARGET_P99_MS: f64 = 5.0;
/// The offered load the p99 target is stated at, actions/s.
pub const TARGET_P99_RATE: f64 = 10_000.0;

/// Which commit modes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum W6Modes {
    /// Group commit only.
    Group,
    /// One transaction per action only.
    Single,
    /// Group commit, then one transaction per action.
    Both,
}

/// One way of committing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitMode {
    /// Whatever is waiting, up to `max_batch` writes, in one transaction.
    Group,
    /// Each write in a transaction of its own (`max_batch` 1).
    Single,
}

impl CommitMode {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            CommitMode::Group => "group commit",
            CommitMode::Single => "one transaction per action",
        }
    }

    fn short_name(self) -> &'static str {
        match self {
            CommitMode::Group => "group",
            CommitMode::Single => "single",
        }
    }

    fn max_batch(self, options: &W6Options) -> usize {
        match self {
            CommitMode::Group => options.max_batch,
            CommitMode::Single => 1,
        }
    }
}

/// What W6 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W6Options {
    /// Concurrent rooms, each with one write in flight at a time.
    pub rooms: usize,
    /// Measured seconds per mode.
    pub seconds: f64,
    /// Warm-up seconds per mode, left out of every figure.
    pub warmup_secs: f64,
    /// Offered actions/s over all rooms, each room at an even pace; 0: as
    /// fast as commits allow (the throughput test).
    pub rate: f64,
    /// Commit durability.
    #[serde(serialize_with = "sync_name")]
    pub sync: SyncMode,
    /// Who checkpoints the WAL (the server's way is a thread of its own).
    #[serde(serialize_with = "checkpoints_name")]
    pub checkpoints: Checkpoints,
    /// Which modes.
    pub modes: W6Modes,
    /// Group commit's `max_batch` (the server's `STORE_MAX_BATCH`).
    pub max_batch: usize,
    /// Journal entries kept before each snapshot (the server's `EVENT_LOG_LEN`).
    pub journal_keep: u64,
    /// A snapshot every this many moves (the server's `SNAPSHOT_EVERY`).
    pub snapshot_every: u64,
    /// Where the fresh databases go (on the disk under test, not tmpfs).
    pub dir: PathBuf,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

impl W6Options {
    /// The defaults: 1000 rooms flat out for 15 s per mode after 1 s of
    /// warm-up, the server's default store settings, both modes, databases
    /// under `target/bench/tmp`.
    pub fn new() -> Self {
        Self {
            rooms: 1000,
            seconds: 15.0,
            warmup_secs: 1.0,
            rate: 0.0,
            sync: SyncMode::Normal,
            checkpoints: Checkpoints::Thread,
            modes: W6Modes::Both,
            max_batch: 1024,
            journal_keep: 1024,
            snapshot_every: 100,
            dir: PathBuf::from("target/bench/tmp"),
            progress: false,
        }
    }
}

impl Default for W6Options {
    fn default() -> Self {
        Self::new()
    }
}

fn sync_name<S: Serializer>(sync: &SyncMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match sync {
        SyncMode::Normal => "normal",
        SyncMode::Full => "full",
    })
}

fn checkpoints_name<S: Serializer>(c: &Checkpoints, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match c {
        Checkpoints::Thread => "thread",
        Checkpoints::InCommit => "in-commit",
    })
}

/// What W6 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W6Result {
    /// The options it ran with.
    pub options: W6Options,
    /// When it started, seconds since the Unix epoch.
    pub started_unix_secs: u64,
    /// The machine.
    pub machine: Machine,
    /// The filesystem the databases were on.
    pub filesystem: Option<Filesystem>,
    /// Sizes of what a room writes.
    pub record_bytes: RecordBytes,
    /// One result per mode, in the order run.
    pub modes: Vec<ModeResult>,
    /// Group commit's steady actions/s over one transaction per action's, when both ran.
    pub speedup_group_over_single: Option<f64>,
    /// The targets this run can judge.
    pub targets: Vec<TargetCheck>,
    /// Every mode's errors together.
    pub errors: Errors,
}

/// One target and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetCheck {
    /// What is judged.
    pub what: String,
    /// The target.
    pub target: f64,
    /// What was measured.
    pub measured: f64,
    /// Whether it was met.
    pub met: bool,
}

/// The machine, for the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `MemTotal`, GiB.
    pub mem_total_gib: f64,
    /// Kernel release.
    pub kernel: String,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let mem_kb: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            mem_total_gib: mem_kb / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned()),
        }
    }
}

fn validate(o: &W6Options) -> Result<(), String> {
    if !(1..=100_000).contains(&o.rooms) {
        return Err("--rooms must be in 1..=100000".into());
    }
    if !(o.seconds > 0.0 && o.seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    if !(0.0..=60.0).contains(&o.warmup_secs) {
        return Err("--warmup must be in [0, 60]".into());
    }
    if !(0.0..=10_000_000.0).contains(&o.rate) {
        return Err(
            "--rate must be 0 (as fast as commits allow) or up to 10,000,000 actions/s".into(),
        );
    }
    if !(1..=65_536).contains(&o.max_batch) {
        return Err("--max-batch must be in 1..=65536".into());
    }
    if !(1..=1_000_000).contains(&o.snapshot_every) || o.journal_keep > 1_000_000 {
        return Err(
            "--snapshot-every must be in 1..=1000000 and --journal-keep at most 1000000".into(),
        );
    }
    Ok(())
}

/// Runs W6: each chosen mode on a fresh database, then the read-back.
/// Fails before measuring if the options are out of bounds or the
/// directory cannot be made; failed writes are counted in the result.
pub async fn w6(options: W6Options) -> Result<W6Result, String> {
    validate(&options)?;
    std::fs::create_dir_all(&options.dir)
        .map_err(|e| format!("creating {}: {e}", options.dir.display()))?;
    let filesystem = procfs::filesystem_of(&options.dir);
    if let Some(fs) = filesystem
        .as_ref()
        .filter(|fs| matches!(fs.kind.as_str(), "tmpfs" | "ramfs"))
    {
        eprintln!(
            "w6: warning: {} is on {}, not a disk: the figures say nothing about disks",
            options.dir.display(),
            fs.kind
        );
    }
    let started_unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let record_bytes = rooms::Fixture::new(options.snapshot_every)?.record_bytes();
    let modes: &[CommitMode] = match options.modes {
        W6Modes::Group => &[CommitMode::Group],
        W6Modes::Single => &[CommitMode::Single],
        W6Modes::Both => &[CommitMode::Group, CommitMode::Single],
    };
    let mut results = Vec::with_capacity(modes.len());
    let mut errors = Errors::default();
    for &mode in modes {
        let result = measure::run_mode(&options, mode, &options.dir).await?;
        errors.merge(result.errors.clone());
        results.push(result);
    }
    let of = |mode| results.iter().find(|r| r.mode == mode);
    let speedup_group_over_single = match (of(CommitMode::Group), of(CommitMode::Single)) {
        (Some(g), Some(s)) if s.steady_per_sec > 0.0 => Some(g.steady_per_sec / s.steady_per_sec),
        _ => None,
    };
    let targets = targets(&options, of(CommitMode::Group));
    Ok(W6Result {
        options,
        started_unix_secs,
        machine: Machine::read(),
        filesystem,
        record_bytes,
        modes: results,
        speedup_group_over_single,
        targets,
        errors,
    })
}

/// Flat out, group commit's steady state against [`TARGET_ACTIONS_PER_SEC`];
/// at a rate of at least [`TARGET_P99_RATE`], its p99 ack wait against [`TARGET_P99_MS`].
fn targets(options: &W6Options, group: Option<&ModeResult>) -> Vec<TargetCheck> {
    let Some(group) = group else {
        return Vec::new();
    };
    if options.rate == 0.0 {
        vec![TargetCheck {
            what: "durable actions/s, group commit, steady state".into(),
            target: TARGET_ACTIONS_PER_SEC,
            measured: group.steady_per_sec,
            met: group.steady_per_sec >= TARGET_ACTIONS_PER_SEC,
        }]
    } else if options.rate >= TARGET_P99_RATE {
        vec![TargetCheck {
            what: format!(
                "p99 ack wait, ms, group commit at {:.0} actions/s",
                options.rate
            ),
            target: TARGET_P99_MS,
            measured: group.ack_wait.p99_ms,
            met: group.ack_wait.p99_ms <= TARGET_P99_MS,
        }]
    } else {
        Vec::new()
    }
}
