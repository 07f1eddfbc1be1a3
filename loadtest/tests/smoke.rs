//! Smoke test of W1 and W2 against the real hub binary: correctness only, no timing assertions.
//!
//! The hub is the built `gamehub` binary (env `GAMEHUB_BIN`, else
//! `target/debug/gamehub`); the test fails, rather than skips, when it is missing.

use loadtest::workloads::{W1Options, W2Options, w1, w2};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A hub process on a free loopback port, killed (and its database removed) on drop.
struct Hub {
    child: Child,
    url: String,
    db: PathBuf,
}

impl Hub {
    fn start() -> Hub {
        let bin = std::env::var_os("GAMEHUB_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/gamehub"),
            PathBuf::from,
        );
        assert!(
            bin.is_file(),
            "the hub binary {} is missing: build it first with `cargo build -p gamehub` \
             (or point GAMEHUB_BIN at one)",
            bin.display()
        );
        let db = std::env::temp_dir().join(format!(
            "gamehub-loadtest-smoke-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut child = Command::new(&bin)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", &db)
            .env("SECRET_KEY", "loadtest-smoke-secret-key-0123456789abcdef")
            .env("RATE_LIMIT_PER_SEC", "1000")
            .env("RATE_LIMIT_BURST", "1000")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "text")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keep reading so the hub never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("listening on http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(format!("http://{addr}"));
                    }
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the hub did not print `listening on http://ADDR` within 30 s");
            }
        };
        Hub { child, url, db }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.db.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w2_and_w1_against_the_hub() {
    let hub = Hub::start();
    let pid = Some(hub.child.id());

    let r = w2(W2Options {
        url: hub.url.clone(),
        rooms: 2,
        players: 10,
        rate_hz: 2.0,
        seconds: 2.0,
        drain_secs: 5.0,
        server_pid: pid,
        progress: false,
    })
    .await
    .expect("W2 runs");
    assert_eq!(r.errors.count, 0, "W2 errors: {:?}", r.errors.first);
    assert!(r.messages_sent > 0, "{r:?}");
    assert_eq!(r.expected_deliveries, r.messages_sent * 10, "{r:?}");
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    assert_eq!(r.delivery_ratio, 1.0);
    assert_eq!(r.latency.count, r.deliveries);
    let server = r.server.expect("server usage with a pid");
    assert!(server.rss_after_kb > 0);
    assert!(r.cpu_secs_per_million_deliveries.is_some());

    let r = w1(W1Options {
        url: hub.url.clone(),
        sockets: 20,
        hold_secs: 1.0,
        server_pid: pid,
        progress: false,
    })
    .await
    .expect("W1 runs");
    assert_eq!(r.errors.count, 0, "W1 errors: {:?}", r.errors.first);
    assert_eq!(r.connected, 20);
    assert_eq!(r.connected_after_hold, 20);
    assert!(r.rss_per_socket_kb.is_some() && r.idle.is_some());
}

#[tokio::test]
async fn non_loopback_targets_are_refused() {
    let options = W2Options {
        url: "http://192.0.2.1:3000".to_owned(),
        rooms: 1,
        players: 2,
        rate_hz: 1.0,
        seconds: 1.0,
        drain_secs: 0.0,
        server_pid: None,
        progress: false,
    };
    let err = w2(options).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    let err = w1(W1Options {
        url: "http://example.com:80".to_owned(),
        sockets: 10,
        hold_secs: 0.0,
        server_pid: None,
        progress: false,
    })
    .await
    .unwrap_err();
    assert!(err.contains("loopback"), "{err}");
}
