//! The real hub binary on a free loopback port for the loadtest's tests, killed (and its database removed) on drop.
//!
//! The binary is `GAMEHUB_BIN`, else `target/debug/gamehub`; a test fails,
//! rather than skips, when it is missing.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running hub.
pub struct Hub {
    pub child: Child,
    pub url: String,
    db: PathBuf,
}

impl Hub {
    /// Starts the hub with the test defaults plus `env`.
    pub fn start(env: &[(&str, &str)]) -> Hub {
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
            "gamehub-loadtest-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut command = Command::new(&bin);
        command
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DB_PATH", &db)
            .env("SECRET_KEY", "loadtest-test-secret-key-0123456789abcdef")
            .env("RATE_LIMIT_PER_SEC", "1000")
            .env("RATE_LIMIT_BURST", "1000")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "text");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
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
