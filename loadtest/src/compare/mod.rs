//! The side-by-side runner: the quick (or `--full`) suite against gamehub, the peers and the floor in one run.
//!
//! Each server is started fresh for each workload, pinned to one core with
//! `taskset` while the generator is pinned to the other, and measured with
//! the same workload code:
//!
//! - **W1 idle** (socket.io servers): N sockets in lobby rooms of 10, held;
//!   RSS per socket, connects/s, idle CPU.
//! - **W2 fan-out**: a ladder of rates on R rooms x P players; each step
//!   passes while p99 ≤ 50 ms, delivery ≥ 99.9 % and no errors. The best
//!   passing step is the *max sustained* rate; then one longer run at 80 % of
//!   it gives p50/p99 and server CPU-seconds per million deliveries. A step
//!   where the generator itself used ≥ 90 % of its core ends the ladder and
//!   marks the maximum as a lower bound ("generator-bound").
//! - **W3 play** (servers that host tic-tac-toe): bot pairs at a few rising
//!   move rates, a fresh server per rate, until a rate is not reached;
//!   moves/s, ack p50/p99, CPU-seconds per 1,000 moves. gamehub's acks are
//!   durable (after the SQLite commit), the peers' are from memory.
//! - **W4 cluster** (servers that share rooms through Redis: gamehub, Node):
//!   W2 on one instance, then each room split over two instances; deliveries/s,
//!   added latency, CPU of both instances and of Redis.
//! - **W6 store** (gamehub only: the peers keep no journal): group commit
//!   versus one transaction per action, in this process.
//!
//! Every figure of gamehub is also printed as a ratio to each peer and to
//! the floor; `target/bench/compare.json` holds everything and two SVG charts
//! are drawn next to it.

mod charts;
mod cluster;
mod play;
mod servers;
mod store;
mod table;

pub use cluster::ClusterFigures;
pub use play::PlayStep;
pub use servers::{Programs, ServerKind, watch_listening};
pub use store::StoreFigures;

use crate::client::Parser;
use crate::procfs;
use crate::report::{Latency, write_json};
use crate::workloads::{W1Options, W2Options, W2Result, w1, w2, w2_floor};
use serde::Serialize;
use std::path::PathBuf;

/// p99 above this fails a W2 step (workloads.md).
pub const MAX_P99_MS: f64 = 50.0;
/// Delivery below this fails a W2 step (workloads.md).
pub const MIN_DELIVERY: f64 = 0.999;
/// Generator CPU (percent of its core) at which a step is generator-bound.
pub const GENERATOR_BOUND_PERCENT: f64 = 90.0;

/// A workload of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// W1 idle.
    W1,
    /// W2 fan-out (ladder and 80 % run).
    W2,
    /// W3 play.
    W3,
    /// W4 cluster (needs Redis).
    W4,
    /// W6 store.
    W6,
}

impl Suite {
    /// Every workload, in run order.
    pub const ALL: [Suite; 5] = [Suite::W1, Suite::W2, Suite::W3, Suite::W4, Suite::W6];
}

/// What the runner runs.
#[derive(Debug, Clone, Serialize)]
pub struct CompareOptions {
    /// Servers to measure, in report order.
    pub servers: Vec<ServerKind>,
    /// Workloads to run.
    pub workloads: Vec<Suite>,
    /// W1 sockets per server.
    pub w1_sockets: usize,
    /// W1 hold, seconds.
    pub w1_hold_secs: f64,
    /// W2 rooms.
    pub w2_rooms: usize,
    /// W2 players per room.
    pub w2_players: usize,
    /// W2 ladder: messages per second per player, rising.
    pub w2_rates: Vec<f64>,
    /// Seconds of sending per ladder step (the 80 % run takes twice as long).
    pub w2_step_secs: f64,
    /// W3 rooms (two bots each).
    pub w3_rooms: usize,
    /// W3 target moves per second over all rooms, rising.
    pub w3_rates: Vec<f64>,
    /// W3 seconds of play measured per rate.
    pub w3_secs: f64,
    /// W3 seconds of play before the measured ones, per rate.
    pub w3_warmup_secs: f64,
    /// W4 rooms (players per room as W2's).
    pub w4_rooms: usize,
    /// W4 messages per second per player.
    pub w4_rate_hz: f64,
    /// W4 seconds of sending, in each of its two runs.
    pub w4_secs: f64,
    /// Redis `host:port` (loopback) the W4 instances share.
    pub redis: String,
    /// W6 rooms writing at once.
    pub w6_rooms: usize,
    /// W6 measured seconds per commit mode.
    pub w6_secs: f64,
    /// Where results go.
    pub out_dir: PathBuf,
    /// Whether the generator pinned itself to one core and the servers to the other.
    pub pinned: bool,
    /// Where the servers' programs are.
    #[serde(skip)]
    pub programs: Programs,
    /// Draw progress bars.
    #[serde(skip)]
    pub progress: bool,
}

/// One server's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// Which server.
    pub kind: ServerKind,
    /// What it runs (versions).
    pub version: String,
    /// W1, for socket.io servers when it ran.
    pub w1: Option<W1Figures>,
    /// Every W2 ladder step, in order.
    pub w2_steps: Vec<Step>,
    /// The W2 run at 80 % of the max sustained rate.
    pub w2_at_80: Option<Step>,
    /// Every W3 rate run, in order.
    pub w3_steps: Vec<PlayStep>,
    /// W4, for servers that cluster through Redis.
    pub w4: Option<ClusterFigures>,
    /// W6, for gamehub.
    pub w6: Option<StoreFigures>,
    /// Why some part did not run or failed, if so.
    pub problems: Vec<String>,
}

impl ServerReport {
    /// The best passing W2 step.
    pub fn w2_max(&self) -> Option<&Step> {
        self.w2_steps.iter().rev().find(|s| s.passed)
    }

    /// True if the ladder stopped because the generator saturated.
    pub fn generator_bound(&self) -> bool {
        self.w2_steps.last().is_some_and(|s| s.generator_bound)
    }
}

/// W1 figures of one server.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct W1Figures {
    /// Sockets held to the end.
    pub sockets: usize,
    /// Connects per second (guest token + connect + join).
    pub connects_per_sec: f64,
    /// Server RSS growth per socket, KiB.
    pub rss_per_socket_kb: Option<f64>,
    /// Server CPU while idle, percent of a core.
    pub idle_cpu_percent: Option<f64>,
    /// Errors during the run.
    pub errors: u64,
}

/// One W2 run.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Messages per second per player.
    pub rate_hz: f64,
    /// Deliveries per second asked for: rooms x players x players x rate.
    pub offered_per_sec: f64,
    /// Deliveries per second that arrived.
    pub deliveries_per_sec: f64,
    /// Received / expected.
    pub delivery_ratio: f64,
    /// Send-to-receive latency.
    pub latency: Latency,
    /// Server CPU-seconds per million deliveries.
    pub cpu_secs_per_million: Option<f64>,
    /// Generator CPU over the step, percent of one core.
    pub generator_cpu_percent: f64,
    /// Errors during the step.
    pub errors: u64,
    /// The step met p99 ≤ 50 ms, delivery ≥ 99.9 % and had no errors.
    pub passed: bool,
    /// The generator used ≥ 90 % of its core.
    pub generator_bound: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// This machine: CPU model and count.
    pub machine: String,
    /// The options it ran with.
    pub options: CompareOptions,
    /// One report per server, in `options.servers` order.
    pub servers: Vec<ServerReport>,
}

/// Runs the suite, prints the tables and writes `compare.json` and the charts.
pub async fn compare(options: CompareOptions) -> Result<CompareReport, String> {
    if options.servers.is_empty() {
        return Err("no servers to compare".to_owned());
    }
    let mut servers = Vec::new();
    for &kind in &options.servers {
        eprintln!("== {kind}");
        servers.push(measure(kind, &options).await);
    }
    let report = CompareReport {
        date: now_utc(),
        machine: machine(),
        options,
        servers,
    };
    table::print(&report);
    let dir = &report.options.out_dir;
    let json = dir.join("compare.json");
    write_json(&json, &report).map_err(|e| format!("writing {}: {e}", json.display()))?;
    let charts = charts::draw(&report, dir)?;
    println!("\nwrote {}", json.display());
    for path in charts {
        println!("wrote {}", path.display());
    }
    Ok(report)
}

/// The chosen workloads that `kind` can run, in order, each on a fresh server.
async fn measure(kind: ServerKind, options: &CompareOptions) -> ServerReport {
    let mut report = ServerReport {
        kind,
        version: servers::version(kind, &options.programs),
        w1: None,
        w2_steps: Vec::new(),
        w2_at_80: None,
        w3_steps: Vec::new(),
        w4: None,
        w6: None,
        problems: Vec::new(),
    };
    let runs = |suite| options.workloads.contains(&suite);
    if runs(Suite::W1) && kind.speaks_socketio() {
        match run_w1(kind, options).await {
            Ok(figures) => report.w1 = Some(figures),
            Err(e) => report.problems.push(format!("W1: {e}")),
        }
    }
    if runs(Suite::W2)
        && let Err(e) = run_w2(kind, options, &mut report).await
    {
        report.problems.push(format!("W2: {e}"));
    }
    if runs(Suite::W3) && kind.plays_games() {
        match play::run(kind, options).await {
            Ok(steps) => {
                if let Some(failed) = steps.iter().find(|s| s.errors > 0) {
                    report.problems.push(format!(
                        "W3: {} errors at {}/s, first: {}",
                        failed.errors,
                        failed.target_per_sec,
                        failed.first_error.as_deref().unwrap_or("?")
                    ));
                }
                report.w3_steps = steps;
            }
            Err(e) => report.problems.push(format!("W3: {e}")),
        }
    }
    if runs(Suite::W4) && kind.clusters() {
        match cluster::run(kind, options).await {
            Ok(figures) => {
                if let Some(first) = &figures.first_error {
                    report
                        .problems
                        .push(format!("W4: {} errors, first: {first}", figures.errors));
                }
                report.w4 = Some(figures);
            }
            Err(e) => report.problems.push(format!("W4: {e}")),
        }
    }
    if runs(Suite::W6) && kind == ServerKind::Gamehub {
        match store::run(options).await {
            Ok(figures) => {
                if figures.errors > 0 {
                    report.problems.push(format!(
                        "W6: {} failed writes or mismatches",
                        figures.errors
                    ));
                }
                report.w6 = Some(figures);
            }
            Err(e) => report.problems.push(format!("W6: {e}")),
        }
    }
    report
}

async fn run_w1(kind: ServerKind, options: &CompareOptions) -> Result<W1Figures, String> {
    let server = options.programs.start(kind)?;
    let result = w1(W1Options {
        url: server.url.clone(),
        sockets: options.w1_sockets,
        hold_secs: options.w1_hold_secs,
        server_pid: Some(server.pid),
        parser: Parser::Json,
        progress: options.progress,
    })
    .await?;
    Ok(W1Figures {
        sockets: result.connected_after_hold,
        connects_per_sec: result.connects_per_sec,
        rss_per_socket_kb: result.rss_per_socket_kb,
        idle_cpu_percent: result.idle_cpu_percent,
        errors: result.errors.count,
    })
}

async fn run_w2(
    kind: ServerKind,
    options: &CompareOptions,
    report: &mut ServerReport,
) -> Result<(), String> {
    let server = options.programs.start(kind)?;
    for &rate in &options.w2_rates {
        let step = w2_step(
            kind,
            &server.url,
            server.pid,
            options,
            rate,
            options.w2_step_secs,
        )
        .await?;
        eprintln!(
            "   {rate} Hz: {:.0}/s, p99 {:.2} ms, ratio {:.4}, generator {:.0} %{}",
            step.deliveries_per_sec,
            step.latency.p99_ms,
            step.delivery_ratio,
            step.generator_cpu_percent,
            if step.passed { "" } else { "  (fails)" }
        );
        let stop = !step.passed || step.generator_bound;
        report.w2_steps.push(step);
        if stop {
            break;
        }
    }
    let Some(max) = report.w2_max() else {
        return Err(format!(
            "no ladder step passed (lowest rate {} Hz)",
            options.w2_rates.first().copied().unwrap_or_default()
        ));
    };
    let rate = max.rate_hz * 0.8;
    drop(server);
    // A fresh server, so the figure is not coloured by the ladder's overload.
    let server = options.programs.start(kind)?;
    let step = w2_step(
        kind,
        &server.url,
        server.pid,
        options,
        rate,
        options.w2_step_secs * 2.0,
    )
    .await?;
    report.w2_at_80 = Some(step);
    Ok(())
}

/// One W2 run at `rate_hz` for `seconds`, with the generator's own CPU.
async fn w2_step(
    kind: ServerKind,
    url: &str,
    pid: u32,
    options: &CompareOptions,
    rate_hz: f64,
    seconds: f64,
) -> Result<Step, String> {
    let w2_options = W2Options {
        url: url.to_owned(),
        rooms: options.w2_rooms,
        players: options.w2_players,
        rate_hz,
        seconds,
        drain_secs: 2.0,
        server_pid: Some(pid),
        parser: Parser::Json,
        progress: options.progress,
    };
    let me = std::process::id();
    let before = procfs::sample(me).map_err(|e| format!("own /proc: {e}"))?;
    let started = std::time::Instant::now();
    let result: W2Result = if kind.speaks_socketio() {
        w2(w2_options).await?
    } else {
        w2_floor(w2_options).await?
    };
    let after = procfs::sample(me).map_err(|e| format!("own /proc: {e}"))?;
    // Setup (connects, joins) is inside this window too; it is short next to the sending.
    let generator_cpu_percent =
        (after.cpu_secs - before.cpu_secs) / started.elapsed().as_secs_f64() * 100.0;
    let players = options.w2_players as f64;
    let passed = result.latency.p99_ms <= MAX_P99_MS
        && result.delivery_ratio >= MIN_DELIVERY
        && result.errors.count == 0;
    Ok(Step {
        rate_hz,
        offered_per_sec: options.w2_rooms as f64 * players * players * rate_hz,
        deliveries_per_sec: result.deliveries_per_sec,
        delivery_ratio: result.delivery_ratio,
        latency: result.latency,
        cpu_secs_per_million: result.cpu_secs_per_million_deliveries,
        generator_cpu_percent,
        errors: result.errors.count,
        passed,
        generator_bound: generator_cpu_percent >= GENERATOR_BOUND_PERCENT,
    })
}

/// Pins this process (all its threads) to `core` with `taskset`.
pub fn pin_self(core: usize) -> Result<(), String> {
    let status = std::process::Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &core.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset failed: {status}"))
    }
}

/// The current UTC time, from `date` (std has no calendar).
fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// `N x MODEL` from `/proc/cpuinfo`.
fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let count = info.lines().filter(|l| l.starts_with("processor")).count();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{count} x {model}")
}
