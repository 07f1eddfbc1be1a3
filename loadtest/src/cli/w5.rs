//! `loadtest w5`: its flags and its table; exits nonzero when an acknowledged move was lost.

use super::{errors_text, move_target, opt, row, write_result};
use loadtest::report::{ServerUsage, print_table};
use loadtest::workloads::{W5Options, W5Result, w5};
use std::path::PathBuf;

/// W5 churn: clients in games plus connect/disconnect churn; kill -9 the hub, restart it, check every acknowledged move.
///
/// Starts the hub itself (--hub-bin) on a free loopback port with a
/// temporary database, fixed NODE_ID and SECRET_KEY, and raised rate limits.
/// Exits nonzero when any acknowledged move was lost or a client did not
/// come back. Each client is a file descriptor on both sides: raise
/// `ulimit -n` above twice --clients plus the churn.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The gamehub binary to start, kill and restart.
    #[arg(long, default_value = "target/release/gamehub")]
    hub_bin: PathBuf,
    /// Clients in tictactoe games (rounded up to pairs, one room per pair).
    #[arg(long, default_value_t = 5000)]
    clients: usize,
    /// Target moves per second over all games; 0 = as fast as acks allow.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// New churn connections per second (each lists the lobby or watches a game, then leaves).
    #[arg(long, default_value_t = 200.0)]
    churn: f64,
    /// Share of the churn guests that list the lobby (the others watch a random game).
    /// A full lobby is large (about 800 KB of JSON with 2,500 rooms), hence the low default.
    #[arg(long, default_value_t = 0.1)]
    lobby_share: f64,
    /// Seconds of play before the kill.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Seconds after the kill for every client to be back; the run ends then at the latest.
    #[arg(long, default_value_t = 60.0)]
    recover: f64,
    /// First reconnect delay in ms (socket.io's reconnectionDelay), doubled per attempt, ±50 % jitter.
    #[arg(long, default_value_t = 1000)]
    reconnect_delay_ms: u64,
    /// Largest reconnect delay in ms (socket.io's reconnectionDelayMax).
    #[arg(long, default_value_t = 5000)]
    reconnect_delay_max_ms: u64,
    /// Write the result as JSON to this file [default: target/bench/w5.json].
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(super) async fn run(args: Args) -> Result<(), String> {
    let result = w5(W5Options {
        hub_bin: args.hub_bin,
        clients: args.clients,
        rate: args.rate,
        churn: args.churn,
        lobby_share: args.lobby_share,
        warmup_secs: args.warmup,
        recover_secs: args.recover,
        reconnect_delay_ms: args.reconnect_delay_ms,
        reconnect_delay_max_ms: args.reconnect_delay_max_ms,
        progress: !args.quiet,
    })
    .await?;
    print_table("W5 churn", &rows(&result));
    let path = args
        .json
        .unwrap_or_else(|| PathBuf::from("target/bench/w5.json"));
    write_result(&path, &result)?;
    if !result.lost.is_empty() {
        println!("\nLOST acknowledged moves:");
        for lost in &result.lost {
            let a = &lost.action;
            println!(
                "  room {} seat {} cell {} (ack seq {}): {}",
                a.room, a.seat, a.cell, a.seq, lost.why
            );
        }
    }
    if result.passed() {
        Ok(())
    } else {
        Err(format!(
            "{} acknowledged moves lost, {} clients not back",
            result.lost.len(),
            result.clients_not_back
        ))
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "not reached".to_owned(), |s| format!("{s:.2} s"))
}

/// The hub's CPU time and its RSS at the end.
fn cpu_rss(usage: Option<ServerUsage>) -> String {
    opt(usage, |u| {
        format!("{:.2} s / {} KiB", u.cpu_secs, u.rss_after_kb)
    })
}

fn rows(r: &W5Result) -> Vec<(String, String)> {
    let o = &r.options;
    let c = &r.churn;
    let target = move_target(o.rate);
    vec![
        row(
            "clients in games, play target",
            format!("{} ({} rooms), {target}", r.clients, r.clients / 2),
        ),
        row(
            "before the kill (warmup)",
            format!(
                "{} s: {} moves acknowledged, {} games finished, ack p50 / p99 {:.2} / {:.2} ms",
                o.warmup_secs, r.actions, r.games_finished, r.ack.p50_ms, r.ack.p99_ms
            ),
        ),
        row("hub CPU / RSS over the warmup", cpu_rss(r.hub_play)),
        row(
            "kill -9 to listening again",
            format!("{:.2} s", r.kill_to_listening_secs),
        ),
        row(
            "restarted hub CPU / RSS (start to end)",
            cpu_rss(r.hub_restarted),
        ),
        row(
            "back in seat, state checked: 50 % / 99 % / 100 %",
            format!(
                "{} / {} / {}",
                secs(r.back.p50_secs),
                secs(r.back.p99_secs),
                secs(r.back.p100_secs)
            ),
        ),
        row(
            "clients back / not back",
            format!("{} / {}", r.clients_back, r.clients_not_back),
        ),
        row(
            "acknowledged moves checked on the board",
            r.verified_actions,
        ),
        row(
            "finished games not reopened (by design)",
            r.finished_not_reopened,
        ),
        row("LOST acknowledged moves (must be 0)", r.lost.len()),
        row(
            "churn connects/s achieved (target, lobby share)",
            format!(
                "{:.0} ({}, {})",
                c.connects_per_sec, c.target_per_sec, c.lobby_share
            ),
        ),
        row(
            "churn connections: completed / failed in the outage",
            format!(
                "{} of {} / {}",
                c.completed, c.attempted, c.failed_during_outage
            ),
        ),
        row("churn errors", errors_text(c.errors.count, &c.errors.first)),
        row("churn connections skipped (512 under way)", c.skipped),
        row("errors", errors_text(r.errors.count, &r.errors.first)),
    ]
}
