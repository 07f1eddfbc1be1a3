//! `loadtest w6`: its flags and its tables.

use super::{errors_text, row, write_result};
use gamehub::store::{Checkpoints, SyncMode};
use loadtest::report::print_table;
use loadtest::workloads::w6::{CommitMode, ModeResult, W6Modes};
use loadtest::workloads::{W6Options, W6Result, w6};
use std::path::PathBuf;

/// W6 store: journal appends through gamehub's store in this process, group
/// commit versus one transaction per action, on this disk.
///
/// Needs no server. Each mode runs on a fresh database under --dir (deleted
/// afterwards), which must be on the disk under test, not tmpfs. Build with
/// --release: a debug store is several times slower.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Rooms writing at once, one write in flight each.
    #[arg(long, default_value_t = 1000)]
    rooms: usize,
    /// Measured seconds per mode.
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// Warm-up seconds per mode, left out of every figure.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Offered actions/s over all rooms; 0 = as fast as commits allow.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Commit durability: normal (survives a crash of the process) or full (an fsync per commit).
    #[arg(long, value_enum, default_value_t = SyncMode::Normal)]
    sync: SyncMode,
    /// Who checkpoints the WAL: thread (a thread of its own, as the server
    /// does) or in-commit (SQLite's automatic checkpoint inside a commit, as before).
    #[arg(long, value_enum, default_value_t = Checkpoints::Thread)]
    checkpoints: Checkpoints,
    /// Which commit modes: group, single (one transaction per action), or both.
    #[arg(long, value_enum, default_value_t = W6Modes::Both)]
    mode: W6Modes,
    /// Group commit's most writes per transaction (the server's STORE_MAX_BATCH).
    #[arg(long, default_value_t = 1024)]
    max_batch: usize,
    /// Journal entries kept before each snapshot (the server's EVENT_LOG_LEN).
    #[arg(long, default_value_t = 1024)]
    journal_keep: u64,
    /// A snapshot every this many moves (the server's SNAPSHOT_EVERY).
    #[arg(long, default_value_t = 100)]
    snapshot_every: u64,
    /// Where the fresh databases go.
    #[arg(long, default_value = "target/bench/tmp")]
    dir: PathBuf,
    /// Write the result as JSON to this file (an SVG of the ack wait goes next to it).
    #[arg(long, default_value = "target/bench/w6.json")]
    json: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(super) async fn run(args: Args) -> Result<(), String> {
    let result = w6(W6Options {
        rooms: args.rooms,
        seconds: args.seconds,
        warmup_secs: args.warmup,
        rate: args.rate,
        sync: args.sync,
        checkpoints: args.checkpoints,
        modes: args.mode,
        max_batch: args.max_batch,
        journal_keep: args.journal_keep,
        snapshot_every: args.snapshot_every,
        dir: args.dir,
        progress: !args.quiet,
    })
    .await?;
    for mode in &result.modes {
        print_table(&title(&result, mode), &mode_rows(mode));
    }
    print_table("W6 store: summary", &summary_rows(&result));

    write_result(&args.json, &result)?;
    let chart = args.json.with_extension("svg");
    let series: Vec<(String, _)> = result
        .modes
        .iter()
        .map(|m| (m.mode.name().to_owned(), m.ack_wait))
        .collect();
    loadtest::chart::latency_by_percentile(&chart, "W6 ack wait by percentile", &series)?;
    println!("wrote {}", chart.display());
    if result.errors.count > 0 {
        return Err(format!(
            "{} writes failed or did not read back; the figures above leave them out",
            result.errors.count
        ));
    }
    Ok(())
}

fn title(r: &W6Result, m: &ModeResult) -> String {
    let o = &r.options;
    let load = if o.rate > 0.0 {
        format!("{:.0} actions/s offered", o.rate)
    } else {
        "as fast as commits allow".to_owned()
    };
    let sync = match o.sync {
        SyncMode::Normal => "normal",
        SyncMode::Full => "full",
    };
    let checkpoints = match o.checkpoints {
        Checkpoints::Thread => "own thread",
        Checkpoints::InCommit => "in commit",
    };
    format!(
        "W6 store: {} (max_batch {}), {} rooms, {load}, sync={sync}, checkpoints {checkpoints}",
        m.mode.name(),
        m.max_batch,
        o.rooms
    )
}

fn mode_rows(m: &ModeResult) -> Vec<(String, String)> {
    let l = &m.ack_wait;
    let mut rows = vec![
        row(
            "durable actions/s: window / first 2 s / second half",
            format!(
                "{:.0} / {} / {:.0}  ({} in {:.1} s)",
                m.actions_per_sec,
                m.first_2s_per_sec
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}")),
                m.steady_per_sec,
                m.actions,
                m.window_secs
            ),
        ),
        row(
            "actions/s, second by second",
            m.per_second
                .iter()
                .map(|r| format!("{:.1}k", r / 1000.0))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        row(
            "ack wait p50 / p90 / p99 / p99.9 / max",
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2} / {:.2} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
            ),
        ),
    ];
    match &m.commits {
        Some(c) => rows.extend([
            row(
                "commits/s; actions per commit mean / p50 / p99 / max",
                format!(
                    "{:.0}; {:.1} / {} / {} / {}",
                    c.commits as f64 / m.window_secs,
                    c.batch_mean,
                    c.batch_p50,
                    c.batch_p99,
                    c.batch_max
                ),
            ),
            row(
                "journal rows pruned / carried forward per action",
                format!(
                    "{:.2} / {:.3}",
                    c.pruned_rows as f64 / m.actions.max(1) as f64,
                    c.carried_rows as f64 / m.actions.max(1) as f64
                ),
            ),
            row(
                "commit time mean / p99 / max",
                format!(
                    "{:.3} / {:.3} / {:.3} ms ({:.2} s inside commits)",
                    c.commit_mean_ms, c.commit_p99_ms, c.commit_max_ms, c.in_commits_secs
                ),
            ),
        ]),
        None => rows.push(row("commits", "- (another metrics recorder was installed)")),
    }
    rows.extend([
        row(
            "writer thread",
            m.writer.map_or_else(
                || "- (not found)".to_owned(),
                |w| {
                    format!(
                        "{:.0} % busy; on a CPU {:.2} s; blocked {} times, preempted {} times",
                        100.0 * w.cpu_secs / m.window_secs,
                        w.on_cpu_secs,
                        w.voluntary_switches,
                        w.involuntary_switches
                    )
                },
            ),
        ),
        row(
            "WAL: largest / checkpoints passive, restart / checkpointer CPU",
            format!(
                "{:.1} MiB / {}, {} / {}",
                m.wal_max_bytes as f64 / 1024.0 / 1024.0,
                m.commits
                    .map_or_else(|| "-".to_owned(), |c| c.passive_checkpoints.to_string()),
                m.commits
                    .map_or_else(|| "-".to_owned(), |c| c.restart_checkpoints.to_string()),
                m.checkpointer_cpu_secs
                    .map_or_else(|| "- (in commits)".to_owned(), |s| format!("{s:.2} s")),
            ),
        ),
        row(
            "CPU per action: writer thread / whole process",
            format!(
                "{} / {:.2} µs",
                m.writer.map_or_else(
                    || "-".to_owned(),
                    |w| format!("{:.2}", w.on_cpu_secs * 1e6 / m.actions.max(1) as f64)
                ),
                m.process_cpu_secs * 1e6 / m.actions.max(1) as f64
            ),
        ),
        row(
            "written / read per action (syscalls)",
            format!(
                "{:.2} / {:.2} KiB ({:.2} / {:.2} calls); {:.2} KiB to the device",
                m.io_per_action.write_bytes / 1024.0,
                m.io_per_action.read_bytes / 1024.0,
                m.io_per_action.write_calls,
                m.io_per_action.read_calls,
                m.io_per_action.device_write_bytes / 1024.0
            ),
        ),
        row(
            "database + WAL at the end",
            format!("{:.1} MiB", m.db_bytes as f64 / 1024.0 / 1024.0),
        ),
        row(
            "read back (as recovery reads it)",
            format!(
                "{} rooms, {} acknowledged actions, in {:.2} s",
                m.readback.rooms, m.readback.actions, m.readback.load_secs
            ),
        ),
        row(
            "noise: CPU-s of other processes / stolen",
            format!(
                "{:.2} / {:.2} of {:.1} (this process {:.2}); loadavg {} -> {}",
                m.noise.others_cpu_secs,
                m.noise.stolen_secs,
                m.window_secs * std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
                m.process_cpu_secs,
                m.noise.loadavg.0,
                m.noise.loadavg.1
            ),
        ),
        row("errors", errors_text(m.errors.count, &m.errors.first)),
    ]);
    rows
}

fn summary_rows(r: &W6Result) -> Vec<(String, String)> {
    let mut rows = vec![row(
        "record bytes: journal entry / snapshot",
        format!(
            "{} / {}",
            r.record_bytes.journal_entry, r.record_bytes.snapshot
        ),
    )];
    if let Some(fs) = &r.filesystem {
        rows.push(row(
            "database filesystem",
            format!("{} ({} at {})", fs.kind, fs.device, fs.mount),
        ));
    }
    if let Some(s) = r.speedup_group_over_single {
        rows.push(row(
            "speedup of group commit (second halves)",
            format!("{s:.1}x over {}", CommitMode::Single.name()),
        ));
    }
    for t in &r.targets {
        rows.push(row(
            &format!("target: {}", t.what),
            format!(
                "{:.2} measured, target {} -> {}",
                t.measured,
                t.target,
                if t.met { "met" } else { "MISSED" }
            ),
        ));
    }
    rows.push(row("errors", errors_text(r.errors.count, &r.errors.first)));
    rows
}
