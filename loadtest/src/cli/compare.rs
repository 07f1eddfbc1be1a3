//! `loadtest compare`: the side-by-side runner's flags.

use loadtest::compare::{self, CompareOptions, Programs, ServerKind, Suite};
use std::path::PathBuf;

/// The quick suite (or `--full`) against gamehub, the Node and python peers
/// and the floor, each figure also as a ratio; see `loadtest::compare`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Servers to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ServerKind::ALL)]
    servers: Vec<ServerKind>,
    /// The large sizes: W1 with 100k sockets, a longer W2 ladder with 10 s steps.
    #[arg(long)]
    full: bool,
    /// Workloads to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Suite::ALL)]
    workloads: Vec<Suite>,
    /// W1 sockets per server [default: 10000, 100000 with --full].
    #[arg(long)]
    w1_sockets: Option<usize>,
    /// W1 hold, seconds.
    #[arg(long, default_value_t = 30.0)]
    w1_hold: f64,
    /// W2 rooms.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// W2 players per room.
    #[arg(long, default_value_t = 10)]
    players: usize,
    /// W2 ladder, messages per second per player, comma-separated
    /// [default: 0.2,0.5,1,2,5,7.5,10,15,20; with --full also 30, 40].
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Seconds of sending per W2 step [default: 5, 10 with --full].
    #[arg(long)]
    step_secs: Option<f64>,
    /// W3 rooms (two bots each).
    #[arg(long, default_value_t = 500)]
    w3_rooms: usize,
    /// W3 target moves per second over all rooms, comma-separated, rising;
    /// each on a fresh server, stopping after the first one not reached.
    #[arg(long, value_delimiter = ',', default_values_t = [1000.0, 5000.0, 10000.0])]
    w3_rates: Vec<f64>,
    /// W3 seconds of play measured per rate.
    #[arg(long, default_value_t = 10.0)]
    w3_secs: f64,
    /// W3 seconds of play before the measured ones (a fresh server warms up).
    #[arg(long, default_value_t = 2.0)]
    w3_warmup: f64,
    /// W4 rooms (players per room: --players).
    #[arg(long, default_value_t = 100)]
    w4_rooms: usize,
    /// W4 messages per second per player.
    #[arg(long, default_value_t = 2.0)]
    w4_rate: f64,
    /// W4 seconds of sending, in each of its two runs.
    #[arg(long, default_value_t = 10.0)]
    w4_secs: f64,
    /// Redis host:port (loopback) for W4; the instances use a key prefix of their own.
    #[arg(long, default_value = "127.0.0.1:6379")]
    redis: String,
    /// W6 rooms writing at once.
    #[arg(long, default_value_t = 1000)]
    w6_rooms: usize,
    /// W6 measured seconds per commit mode.
    #[arg(long, default_value_t = 10.0)]
    w6_secs: f64,
    /// Where compare.json, the charts and the servers' logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The gamehub binary [default: `gamehub` next to this program].
    #[arg(long)]
    hub_bin: Option<PathBuf>,
    /// The peers' folder [default: this crate's `peers/`].
    #[arg(long)]
    peers_dir: Option<PathBuf>,
    /// Don't pin the servers to core 0 and the generator to core 1.
    #[arg(long)]
    no_pin: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub(super) async fn run(args: Args) -> Result<(), String> {
    let w1_sockets = args
        .w1_sockets
        .unwrap_or(if args.full { 100_000 } else { 10_000 });
    let mut w3_rates = args.w3_rates;
    w3_rates.sort_by(f64::total_cmp);
    w3_rates.dedup();
    let mut rates = args.rates.unwrap_or_else(|| {
        // 7.5 and 15 Hz: a server whose limit lies between 5 and 10 or 10 and
        // 20 Hz would otherwise be rated at half of what it sustains.
        let mut rates = vec![0.2, 0.5, 1.0, 2.0, 5.0, 7.5, 10.0, 15.0, 20.0];
        if args.full {
            rates.extend([30.0, 40.0]);
        }
        rates
    });
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = !args.no_pin && cores >= 2;
    if pinned {
        compare::pin_self(1)?;
    }
    // Each socket is a file descriptor on both sides; children inherit the limit.
    let held = if args.workloads.contains(&Suite::W1) {
        w1_sockets
    } else {
        0
    };
    let needed = held.max(args.w3_rooms * 2) + 2_000;
    raise_open_files(needed);
    if let Some(limit) = open_files_limit().filter(|&limit| limit < needed) {
        return Err(format!(
            "W1 with {w1_sockets} sockets (or W3 with {} rooms) needs about {needed} open files in the generator and in \
             each server, but the limit here is {limit} and could not be raised (raising the hard \
             limit needs root with CAP_SYS_RESOURCE: `ulimit -Hn {needed}` before running); \
             pass a smaller --w1-sockets",
            args.w3_rooms
        ));
    }
    let loadtest_bin = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let hub_bin = args
        .hub_bin
        .unwrap_or_else(|| loadtest_bin.with_file_name("gamehub"));
    let peers_dir = args
        .peers_dir
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers"));
    let options = CompareOptions {
        servers: args.servers,
        workloads: args.workloads,
        w1_sockets,
        w1_hold_secs: args.w1_hold,
        w2_rooms: args.rooms,
        w2_players: args.players,
        w2_rates: rates,
        w2_step_secs: args.step_secs.unwrap_or(if args.full { 10.0 } else { 5.0 }),
        w3_rooms: args.w3_rooms,
        w3_rates,
        w3_secs: args.w3_secs,
        w3_warmup_secs: args.w3_warmup,
        w4_rooms: args.w4_rooms,
        w4_rate_hz: args.w4_rate,
        w4_secs: args.w4_secs,
        redis: args.redis,
        w6_rooms: args.w6_rooms,
        w6_secs: args.w6_secs,
        pinned,
        programs: Programs {
            hub_bin,
            peers_dir,
            loadtest_bin,
            server_core: pinned.then_some(0),
            log_dir: args.out.join("logs"),
        },
        out_dir: args.out,
        progress: !args.quiet,
    };
    compare::compare(options).await.map(|_| ())
}

/// Raises this process's open-file limit to at least `wanted` with `prlimit`
/// (util-linux; std cannot call setrlimit without unsafe code). The caller
/// checks the limit it got.
fn raise_open_files(wanted: usize) {
    if open_files_limit().is_some_and(|c| c >= wanted) {
        return;
    }
    let pid = std::process::id().to_string();
    let limit = format!("--nofile={wanted}:{wanted}");
    let raised = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !raised {
        eprintln!("warning: could not raise the open-file limit to {wanted} (prlimit)");
    }
}

/// This process's soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}
