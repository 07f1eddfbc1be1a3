//! W3 in the runner: tic-tac-toe bots at a few rising move rates, a fresh server for each.

use super::CompareOptions;
use super::servers::ServerKind;
use crate::report::Latency;
use crate::workloads::{W3Options, w3};
use serde::Serialize;

/// A rate counts as reached when at least this share of its moves were acknowledged.
pub const REACHED_SHARE: f64 = 0.95;

/// One W3 run at one target rate.
#[derive(Debug, Clone, Serialize)]
pub struct PlayStep {
    /// Moves per second asked for, over all rooms.
    pub target_per_sec: f64,
    /// Moves acknowledged per second.
    pub actions_per_sec: f64,
    /// Ack round trip of every acknowledged move.
    pub ack: Latency,
    /// Games played to their end.
    pub games: u64,
    /// Server CPU-seconds per 1,000 acknowledged moves.
    pub cpu_secs_per_thousand: Option<f64>,
    /// Server RSS at the end, KiB.
    pub rss_after_kb: Option<u64>,
    /// Refused or unanswered requests, lost connections.
    pub errors: u64,
    /// The first error's text, if any.
    pub first_error: Option<String>,
    /// At least [`REACHED_SHARE`] of the target rate was acknowledged, without errors.
    pub reached: bool,
}

/// Runs W3 at each of `options.w3_rates` on a fresh `kind`, stopping after
/// the first rate the server does not reach (higher ones would only queue).
pub async fn run(kind: ServerKind, options: &CompareOptions) -> Result<Vec<PlayStep>, String> {
    let mut steps = Vec::new();
    for &rate in &options.w3_rates {
        // A fresh server (and, for gamehub, database) per rate: a database
        // grown by the previous rate would colour the next.
        let server = options.programs.start(kind)?;
        let result = w3(W3Options {
            url: server.url.clone(),
            rooms: options.w3_rooms,
            rate,
            seconds: options.w3_secs,
            warmup_secs: options.w3_warmup_secs,
            server_pid: Some(server.pid),
            progress: options.progress,
        })
        .await?;
        let step = PlayStep {
            target_per_sec: rate,
            actions_per_sec: result.actions_per_sec,
            ack: result.ack,
            games: result.games_finished,
            cpu_secs_per_thousand: result.cpu_secs_per_thousand_actions,
            rss_after_kb: result.server.map(|s| s.rss_after_kb),
            errors: result.errors.count,
            first_error: result.errors.first.first().cloned(),
            reached: result.errors.count == 0 && result.actions_per_sec >= rate * REACHED_SHARE,
        };
        eprintln!(
            "   W3 {rate}/s: {:.0} moves/s, ack p99 {:.2} ms{}",
            step.actions_per_sec,
            step.ack.p99_ms,
            if step.reached { "" } else { "  (not reached)" }
        );
        let reached = step.reached;
        steps.push(step);
        if !reached {
            break;
        }
    }
    Ok(steps)
}

/// The highest target rate reached.
pub fn best(steps: &[PlayStep]) -> Option<&PlayStep> {
    steps.iter().rev().find(|s| s.reached)
}

/// The steps of `a` and `b` at the highest target rate both reached.
pub fn common<'a>(a: &'a [PlayStep], b: &'a [PlayStep]) -> Option<(&'a PlayStep, &'a PlayStep)> {
    a.iter().filter(|s| s.reached).rev().find_map(|sa| {
        b.iter()
            .find(|sb| sb.reached && sb.target_per_sec == sa.target_per_sec)
            .map(|sb| (sa, sb))
    })
}
