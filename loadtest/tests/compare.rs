//! The side-by-side runner against the real servers at tiny sizes: gamehub
//! (the built `target/debug/gamehub`, or `GAMEHUB_BIN`), the Node and python
//! peers (installed by `scripts/peers-setup`) and the floor (`loadtest floor`).
//! Correctness only: every server is started, measured and stopped, every
//! message is delivered, every workload a server can run ran without errors,
//! and the report and charts are written. W4 needs Redis (env `REDIS_URL`,
//! else 127.0.0.1:6379, which `scripts/setup` makes sure answers).

use loadtest::compare::{CompareOptions, Programs, ServerKind, Suite, compare};
use std::path::PathBuf;

/// `host:port` of the Redis the W4 instances share.
fn redis_addr() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    url.trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_runs_the_suite_at_tiny_sizes() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let hub_bin = std::env::var_os("GAMEHUB_BIN")
        .map_or_else(|| crate_dir.join("../target/debug/gamehub"), PathBuf::from);
    assert!(
        hub_bin.is_file(),
        "the hub binary {} is missing: build it first with `cargo build -p gamehub`",
        hub_bin.display()
    );
    let peers_dir = crate_dir.join("peers");
    assert!(
        peers_dir.join("node/node_modules").is_dir() && peers_dir.join("python/.venv").is_dir(),
        "the peers are not installed: run scripts/peers-setup (scripts/setup does)"
    );
    let out_dir = std::env::temp_dir().join(format!("gamehub-compare-test-{}", std::process::id()));
    let options = CompareOptions {
        servers: ServerKind::ALL.to_vec(),
        workloads: Suite::ALL.to_vec(),
        w1_sockets: 20,
        w1_hold_secs: 0.5,
        w2_rooms: 2,
        w2_players: 5,
        w2_rates: vec![1.0, 2.0],
        w2_step_secs: 1.0,
        w3_rooms: 2,
        w3_rates: vec![20.0, 40.0],
        w3_secs: 2.0,
        w3_warmup_secs: 0.5,
        w4_rooms: 2,
        w4_rate_hz: 2.0,
        w4_secs: 1.0,
        redis: redis_addr(),
        w6_rooms: 10,
        w6_secs: 1.0,
        out_dir: out_dir.clone(),
        pinned: false,
        programs: Programs {
            hub_bin,
            peers_dir,
            loadtest_bin: PathBuf::from(env!("CARGO_BIN_EXE_loadtest")),
            server_core: None,
            log_dir: out_dir.join("logs"),
        },
        progress: false,
    };
    let report = compare(options).await.expect("the suite runs");

    assert_eq!(report.servers.len(), 4);
    for server in &report.servers {
        let kind = server.kind;
        // A machine slow enough to miss p99 ≤ 50 ms at these rates may end the
        // ladder without a passing step; anything else is a failure.
        let allowed = |p: &String| p.starts_with("W2: no ladder step passed");
        assert!(
            server.problems.iter().all(allowed),
            "{kind}: {:?}",
            server.problems
        );
        if kind.speaks_socketio() {
            let w1 = server.w1.unwrap_or_else(|| panic!("{kind}: no W1"));
            assert_eq!(w1.sockets, 20, "{kind}: {w1:?}");
            assert_eq!(w1.errors, 0, "{kind}: {w1:?}");
            assert!(w1.rss_per_socket_kb.is_some(), "{kind}: {w1:?}");
        } else {
            assert!(server.w1.is_none(), "the floor runs W2 only");
        }
        assert!(!server.w2_steps.is_empty(), "{kind}: no W2 step ran");
        for step in server.w2_steps.iter().chain(&server.w2_at_80) {
            assert_eq!(step.errors, 0, "{kind}: {step:?}");
            assert_eq!(step.delivery_ratio, 1.0, "{kind}: {step:?}");
            assert!(step.cpu_secs_per_million.is_some(), "{kind}: {step:?}");
        }
        if kind.plays_games() {
            assert_eq!(server.w3_steps.len(), 2, "{kind}: {:?}", server.w3_steps);
            for step in &server.w3_steps {
                assert_eq!(step.errors, 0, "{kind}: {step:?}");
                assert!(step.actions_per_sec > 0.0, "{kind}: {step:?}");
                assert!(step.games > 0, "{kind}: no game finished: {step:?}");
            }
        } else {
            assert!(server.w3_steps.is_empty(), "{kind} plays no games");
        }
        if kind.clusters() {
            let w4 = server
                .w4
                .as_ref()
                .unwrap_or_else(|| panic!("{kind}: no W4"));
            assert_eq!(w4.errors, 0, "{kind}: {w4:?}");
            assert_eq!(w4.baseline_delivery, 1.0, "{kind}: {w4:?}");
            assert_eq!(w4.split_delivery, 1.0, "{kind}: {w4:?}");
        } else {
            assert!(server.w4.is_none(), "{kind} has no Redis adapter");
        }
        if kind == ServerKind::Gamehub {
            let w6 = server.w6.as_ref().expect("gamehub: no W6");
            assert_eq!(w6.errors, 0, "{w6:?}");
            assert!(w6.group_per_sec > 0.0 && w6.single_per_sec > 0.0, "{w6:?}");
        } else {
            assert!(server.w6.is_none(), "{kind} keeps no journal");
        }
        assert!(
            !server.version.contains('?'),
            "{kind}: version {}",
            server.version
        );
    }

    let json = std::fs::read_to_string(out_dir.join("compare.json")).expect("compare.json written");
    let json: serde_json::Value = serde_json::from_str(&json).expect("compare.json is JSON");
    assert_eq!(json["servers"].as_array().map(Vec::len), Some(4));
    for chart in ["w2-latency.svg", "w2-ladder.svg", "w3-play.svg"] {
        let svg = std::fs::read_to_string(out_dir.join(chart)).expect("chart written");
        assert!(svg.contains("<svg") && svg.contains("gamehub"), "{chart}");
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
