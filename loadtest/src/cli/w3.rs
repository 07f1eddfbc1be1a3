//! `loadtest w3`: its flags and its table.

use super::{
    Common, cpu, errors_text, latency_chart, move_target, opt, percentiles, row, rss, save,
};
use loadtest::report::print_table;
use loadtest::workloads::{W3Options, W3Result, w3};

/// W3 play: R tictactoe rooms of two bots playing legal moves; durable ack round trips.
///
/// Start the hub with RATE_LIMIT_PER_SEC and RATE_LIMIT_BURST raised, and
/// ROOM_LINGER_SECS lowered (or MAX_ROOMS raised): each game leaves a
/// finished room behind for ROOM_LINGER_SECS (300 s by default), and the
/// hub answers `capacity` once MAX_ROOMS (10000) rooms are open.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    common: Common,
    /// Rooms played at once (two bots each).
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Target moves per second over all rooms; 0 = as fast as acks allow.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds of play measured.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of play before the measured ones, left out of every figure.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
}

pub(super) async fn run(args: Args) -> Result<(), String> {
    let common = args.common;
    let result = w3(W3Options {
        url: common.url.clone(),
        rooms: args.rooms,
        rate: args.rate,
        seconds: args.seconds,
        warmup_secs: args.warmup,
        server_pid: common.server_pid,
        progress: !common.quiet,
    })
    .await?;
    print_table("W3 play", &rows(&result));
    let title = format!(
        "W3 durable ack round trip by percentile ({:.0} moves/s)",
        result.actions_per_sec
    );
    latency_chart(&common, "w3", &title, &[(common.url.clone(), result.ack)])?;
    save(&common, "w3", &result)
}

fn rows(r: &W3Result) -> Vec<(String, String)> {
    let o = &r.options;
    let l = &r.ack;
    let target = move_target(o.rate);
    vec![
        row(
            "tictactoe rooms, target, time",
            format!(
                "{} rooms (2 bots each), {target}, {} s after {} s of warm-up",
                o.rooms, o.seconds, o.warmup_secs
            ),
        ),
        row("moves acknowledged", r.actions),
        row("moves/s achieved", format!("{:.0}", r.actions_per_sec)),
        row("ack round trip p50 / p90 / p99 / p99.9", percentiles(l)),
        row("ack round trip max", format!("{:.2} ms", l.max_ms)),
        row("games finished", r.games_finished),
        row("rooms created", r.rooms_created),
        row("server CPU", cpu(r.server)),
        row(
            "server CPU-s per 1,000 moves",
            opt(r.cpu_secs_per_thousand_actions, |c| format!("{c:.4}")),
        ),
        row("server RSS before / after", rss(r.server)),
        row("arena", &r.arena),
        row("errors", errors_text(r.errors.count, &r.errors.first)),
    ]
}
