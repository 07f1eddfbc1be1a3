//! The `loadtest` command line: one subcommand per workload, a table at the end, JSON on request.
//!
//! W3 to W6 and the side-by-side runner keep their flags and tables in
//! modules of their own (`cli/w3.rs` ..., `cli/compare.rs`).

mod compare;
mod w3;
mod w4;
mod w5;
mod w6;

use clap::{Parser, Subcommand};
use loadtest::client::Parser as WireParser;
use loadtest::report::{print_table, write_json};
use loadtest::workloads::{W1Options, W1Result, W2Options, W2Result, w1, w2, w2_floor};
use std::path::{Path, PathBuf};

/// Benchmark workloads against a gamehub server on loopback.
///
/// The hub limits each socket to RATE_LIMIT_PER_SEC events/s (30 by default):
/// for W2 above ~25 Hz start it with RATE_LIMIT_PER_SEC and RATE_LIMIT_BURST raised.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version)]
pub struct Args {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// W1 idle: N authenticated sockets in lobby rooms of 10, held without traffic.
    W1 {
        #[command(flatten)]
        common: Common,
        /// Sockets to connect (rounded up to rooms of 10).
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Seconds to hold them idle.
        #[arg(long, default_value_t = 30.0)]
        hold: f64,
        /// The socket.io parser the server speaks (its SOCKETIO_PARSER).
        #[arg(long, value_enum, default_value_t = WireParser::Json)]
        parser: WireParser,
    },
    /// W2 fan-out: R rooms x P players, each sending `room:chat` at F Hz.
    W2 {
        #[command(flatten)]
        common: Common,
        /// Rooms.
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Players per room.
        #[arg(long, default_value_t = 10)]
        players: usize,
        /// Messages per second per player.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Seconds to wait for the last deliveries after sending.
        #[arg(long, default_value_t = 2.0)]
        drain: f64,
        /// The target is the floor (`loadtest floor`): bare WebSocket, no socket.io.
        #[arg(long)]
        floor: bool,
        /// The socket.io parser the server speaks (its SOCKETIO_PARSER).
        #[arg(long, value_enum, default_value_t = WireParser::Json)]
        parser: WireParser,
    },
    W3(w3::Args),
    W4(w4::Args),
    W5(w5::Args),
    W6(w6::Args),
    /// The side-by-side suite: W1, W2, W3, W4 and W6 against gamehub, the peers and the floor, with ratios.
    ///
    /// Needs release binaries (`cargo build --release -p gamehub -p gamehub-loadtest`),
    /// the peers installed (`scripts/peers-setup`) and, for W4, Redis;
    /// `scripts/bench` does all of it and runs it.
    Compare(compare::Args),
    /// The floor: a bare WebSocket broadcast server (no socket.io) to run W2 against.
    Floor {
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port to listen on; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Server base URL; only loopback addresses are accepted.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Server pid, to read its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the result as JSON to this file [default: target/bench/<workload>.json].
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Runs the chosen workload and prints its table.
pub async fn run(args: Args) -> Result<(), String> {
    match args.workload {
        Workload::W1 {
            common,
            sockets,
            hold,
            parser,
        } => {
            let result = w1(W1Options {
                url: common.url.clone(),
                sockets,
                hold_secs: hold,
                server_pid: common.server_pid,
                parser,
                progress: !common.quiet,
            })
            .await?;
            print_table("W1 idle", &w1_rows(&result));
            save(&common, "w1", &result)
        }
        Workload::W2 {
            common,
            rooms,
            players,
            rate,
            seconds,
            drain,
            floor,
            parser,
        } => {
            let options = W2Options {
                url: common.url.clone(),
                rooms,
                players,
                rate_hz: rate,
                seconds,
                drain_secs: drain,
                server_pid: common.server_pid,
                parser,
                progress: !common.quiet,
            };
            let result = if floor {
                w2_floor(options).await?
            } else {
                w2(options).await?
            };
            print_table("W2 fan-out", &w2_rows(&result));
            let title = format!(
                "W2 latency by percentile ({:.0} deliveries/s)",
                result.deliveries_per_sec
            );
            latency_chart(
                &common,
                "w2",
                &title,
                &[(common.url.clone(), result.latency)],
            )?;
            save(&common, "w2", &result)
        }
        Workload::Compare(args) => compare::run(args).await,
        Workload::Floor { host, port } => {
            if !host.is_loopback() {
                return Err(format!("--host {host}: the floor listens on loopback only"));
            }
            let listener = tokio::net::TcpListener::bind((host, port))
                .await
                .map_err(|e| format!("binding {host}:{port}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            // The same line as the hub and the peers print, for the runner to read.
            println!("listening on http://{addr}");
            tokio::select! {
                served = loadtest::floor::serve(listener) => served.map_err(|e| format!("floor: {e}")),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Workload::W3(args) => w3::run(args).await,
        Workload::W4(args) => w4::run(args).await,
        Workload::W5(args) => w5::run(args).await,
        Workload::W6(args) => w6::run(args).await,
    }
}

/// Writes `result` to `--json`, or to `target/bench/<workload>.json`.
fn save<T: serde::Serialize>(common: &Common, workload: &str, result: &T) -> Result<(), String> {
    let path = common
        .json
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/bench/{workload}.json")));
    write_json(&path, result).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Where charts go: next to `--json`, else `target/bench`.
fn bench_dir(common: &Common) -> PathBuf {
    common
        .json
        .as_deref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("target/bench"), PathBuf::from)
}

fn row(key: &str, value: impl std::fmt::Display) -> (String, String) {
    (key.to_owned(), value.to_string())
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map_or_else(|| "- (no --server-pid)".to_owned(), show)
}

fn w1_rows(r: &W1Result) -> Vec<(String, String)> {
    vec![
        row(
            "sockets connected",
            format!("{} of {}", r.connected, r.options.sockets),
        ),
        row(
            "connects/s (token+connect+join)",
            format!("{:.0}", r.connects_per_sec),
        ),
        row("still connected after hold", r.connected_after_hold),
        row(
            "server RSS baseline",
            opt(r.rss_baseline_kb, |kb| format!("{kb} KiB")),
        ),
        row(
            "server RSS per socket",
            opt(r.rss_per_socket_kb, |kb| format!("{kb:.1} KiB")),
        ),
        row(
            "server CPU while idle",
            opt(r.idle_cpu_percent, |p| format!("{p:.2} % of a core")),
        ),
        row("errors", errors_text(r.errors.count, &r.errors.first)),
    ]
}

fn w2_rows(r: &W2Result) -> Vec<(String, String)> {
    let o = &r.options;
    let l = &r.latency;
    vec![
        row(
            "rooms x players @ rate",
            format!(
                "{} x {} @ {} Hz for {} s",
                o.rooms, o.players, o.rate_hz, o.seconds
            ),
        ),
        row("messages sent", r.messages_sent),
        row(
            "deliveries",
            format!("{} of {} expected", r.deliveries, r.expected_deliveries),
        ),
        row("delivery ratio", format!("{:.6}", r.delivery_ratio)),
        row("deliveries/s", format!("{:.0}", r.deliveries_per_sec)),
        row("latency p50 / p90 / p99 / p99.9", percentiles(l)),
        row("latency max", format!("{:.2} ms", l.max_ms)),
        row("server CPU", cpu(r.server)),
        row(
            "server CPU-s per 1M deliveries",
            opt(r.cpu_secs_per_million_deliveries, |c| format!("{c:.2}")),
        ),
        row("server RSS before / after", rss(r.server)),
        row("errors", errors_text(r.errors.count, &r.errors.first)),
    ]
}

fn errors_text(count: u64, first: &[String]) -> String {
    match first.first() {
        None => count.to_string(),
        Some(e) => format!("{count} (first: {e})"),
    }
}

/// Draws `series` by percentile to `<workload>-latency.svg`, next to the JSON.
fn latency_chart(
    common: &Common,
    workload: &str,
    title: &str,
    series: &[(String, loadtest::report::Latency)],
) -> Result<(), String> {
    let chart = bench_dir(common).join(format!("{workload}-latency.svg"));
    loadtest::chart::latency_by_percentile(&chart, title, series)?;
    println!("\nwrote {}", chart.display());
    Ok(())
}

/// Writes `result` to `path`, for the workloads that name their JSON file in
/// full rather than through [`Common`] (W5 and W6 start no server of `--url`).
fn write_result<T: serde::Serialize>(path: &Path, result: &T) -> Result<(), String> {
    write_json(path, result).map_err(|e| format!("writing {}: {e}", path.display()))?;
    println!("\nwrote {}", path.display());
    Ok(())
}

/// A latency's p50 / p90 / p99 / p99.9.
fn percentiles(l: &loadtest::report::Latency) -> String {
    format!(
        "{:.2} / {:.2} / {:.2} / {:.2} ms",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms
    )
}

/// A server's CPU time over the run.
fn cpu(usage: Option<loadtest::report::ServerUsage>) -> String {
    opt(usage, |s| format!("{:.2} s", s.cpu_secs))
}

/// A server's RSS before and after the run.
fn rss(usage: Option<loadtest::report::ServerUsage>) -> String {
    opt(usage, |s| {
        format!("{} / {} KiB", s.rss_before_kb, s.rss_after_kb)
    })
}

/// The play target of W3 and W5: moves per second over all rooms, 0 for unpaced.
fn move_target(rate: f64) -> String {
    if rate > 0.0 {
        format!("{rate} moves/s")
    } else {
        "as fast as acks allow".to_owned()
    }
}
