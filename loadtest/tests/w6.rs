//! Smoke test of W6 on the real store: correctness only, no timing assertions.

use loadtest::workloads::w6::{CommitMode, W6Modes};
use loadtest::workloads::{W6Options, w6};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_commit_and_read_back_every_action() {
    let dir = std::env::temp_dir().join(format!(
        "gamehub-w6-smoke-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = w6(W6Options {
        rooms: 10,
        seconds: 1.0,
        warmup_secs: 0.2,
        modes: W6Modes::Both,
        // Small, so that pruning (past 8192 rows and twice what rooms need) can
        // start within the second and the read-back checks what it left.
        journal_keep: 5,
        snapshot_every: 10,
        dir: dir.clone(),
        ..W6Options::new()
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(result.errors.count, 0, "{:?}", result.errors.first);
    let modes: Vec<CommitMode> = result.modes.iter().map(|m| m.mode).collect();
    assert_eq!(modes, vec![CommitMode::Group, CommitMode::Single]);
    for mode in &result.modes {
        assert!(mode.actions > 0, "{:?} acknowledged nothing", mode.mode);
        assert_eq!(mode.readback.rooms, 10, "{:?}", mode.mode);
        // The read-back holds every acknowledged action, warm-up included:
        // at least those of the window.
        assert!(
            mode.readback.actions >= mode.actions,
            "{:?}: {} read back, {} acknowledged in the window",
            mode.mode,
            mode.readback.actions,
            mode.actions
        );
        assert_eq!(mode.ack_wait.count, mode.actions);
    }
    assert!(result.speedup_group_over_single.is_some());
    assert_eq!(result.targets.len(), 1, "flat out judges throughput");
}
