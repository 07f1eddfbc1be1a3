//! W6 in the runner: gamehub's store in this process, group commit versus
//! one transaction per action. Only gamehub keeps a journal: the peers
//! acknowledge from memory, so there is nothing of theirs to compare.

use super::CompareOptions;
use crate::workloads::w6::{CommitMode, ModeResult};
use crate::workloads::{W6Options, w6};
use serde::Serialize;

/// What W6 measured.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFigures {
    /// Group commit: durable actions/s in the steady half of the window.
    pub group_per_sec: f64,
    /// Group commit: mean writes per transaction.
    pub group_batch_mean: Option<f64>,
    /// Group commit: p99 wait from `Store::write` to its return, ms.
    pub group_ack_p99_ms: f64,
    /// One transaction per action: durable actions/s in the steady half.
    pub single_per_sec: f64,
    /// One transaction per action: p99 ack wait, ms.
    pub single_ack_p99_ms: f64,
    /// Failed writes and read-back mismatches over both modes.
    pub errors: u64,
}

/// Runs W6 (both modes, the server's default store settings) with databases under `options.out_dir/tmp`.
pub async fn run(options: &CompareOptions) -> Result<StoreFigures, String> {
    let result = w6(W6Options {
        rooms: options.w6_rooms,
        seconds: options.w6_secs,
        dir: options.out_dir.join("tmp"),
        progress: options.progress,
        ..W6Options::new()
    })
    .await?;
    let mode = |wanted: CommitMode| -> Result<&ModeResult, String> {
        result
            .modes
            .iter()
            .find(|m| m.mode == wanted)
            .ok_or_else(|| format!("W6 did not run {}", wanted.name()))
    };
    let (group, single) = (mode(CommitMode::Group)?, mode(CommitMode::Single)?);
    let figures = StoreFigures {
        group_per_sec: group.steady_per_sec,
        group_batch_mean: group.commits.as_ref().map(|c| c.batch_mean),
        group_ack_p99_ms: group.ack_wait.p99_ms,
        single_per_sec: single.steady_per_sec,
        single_ack_p99_ms: single.ack_wait.p99_ms,
        errors: result.errors.count,
    };
    eprintln!(
        "   W6: group commit {:.0}/s (p99 {:.2} ms), one per action {:.0}/s",
        figures.group_per_sec, figures.group_ack_p99_ms, figures.single_per_sec
    );
    Ok(figures)
}
