//! The hub W5 runs itself, so it can `kill -9` it and start it again on the
//! same database, port and `NODE_ID`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// How long a start may take until `listening on http://ADDR`.
const START_LIMIT: Duration = Duration::from_secs(60);

/// Signs the tokens; fixed so that tokens stay valid across the restart.
const SECRET_KEY: &str = "loadtest-w5-churn-secret-0123456789abcdef";

/// How to start the hub: the same every time.
#[derive(Debug, Clone)]
pub(super) struct HubSpec {
    bin: PathBuf,
    port: u16,
    db: PathBuf,
    log: PathBuf,
    grace_secs: u64,
}

/// A running hub; SIGKILLed if dropped.
#[derive(Debug)]
pub(super) struct HubProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its pid.
    pub pid: Option<u32>,
}

impl HubSpec {
    /// A hub from `bin` on a free loopback port, its database and log in `dir`,
    /// holding the seats of disconnected players for `grace_secs`.
    pub(super) fn new(bin: &Path, dir: &Path, grace_secs: u64) -> Result<HubSpec, String> {
        if !bin.is_file() {
            return Err(format!(
                "the hub binary {} is missing: build it (`cargo build --release -p gamehub`) or pass --hub-bin",
                bin.display()
            ));
        }
        // Port 0 would give the restarted hub another port: pick one now and
        // keep it, as a supervisor restarting a service does.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free port: {e}"))?
            .port();
        Ok(HubSpec {
            bin: bin.to_owned(),
            port,
            db: dir.join("gamehub.db"),
            log: dir.join("gamehub.log"),
            grace_secs,
        })
    }

    /// Starts the hub and waits until it listens.
    pub(super) async fn start(&self) -> Result<HubProcess, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        let mut child = Command::new(&self.bin)
            // A REDIS_URL from the caller's environment would make it a cluster instance.
            .env_remove("REDIS_URL")
            .env("HOST", "127.0.0.1")
            .env("PORT", self.port.to_string())
            .env("DB_PATH", &self.db)
            .env("NODE_ID", "loadtest-w5")
            .env("SECRET_KEY", SECRET_KEY)
            // Bots and churn share one source address and move far faster than people.
            .env("RATE_LIMIT_PER_SEC", "100000")
            .env("RATE_LIMIT_BURST", "100000")
            .env("RECONNECT_GRACE_SECS", self.grace_secs.to_string())
            // Every game leaves a finished room for ROOM_LINGER_SECS: keep few, allow many.
            .env("ROOM_LINGER_SECS", "10")
            .env("MAX_ROOMS", "1000000")
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or("the hub's stdout is not piped")?;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(copy_log(stdout, self.log.clone(), tx));
        match tokio::time::timeout(START_LIMIT, rx).await {
            Ok(Ok(url)) => Ok(HubProcess { child, url, pid }),
            Ok(Err(_)) => Err(format!(
                "the hub exited before listening; see {}",
                self.log.display()
            )),
            Err(_) => Err(format!(
                "the hub did not print `listening on http://ADDR` within {} s; see {}",
                START_LIMIT.as_secs(),
                self.log.display()
            )),
        }
    }
}

impl HubProcess {
    /// SIGKILL, and wait until the process is gone (its database lock with it).
    pub(super) async fn kill9(mut self) -> Result<(), String> {
        self.child
            .start_kill()
            .map_err(|e| format!("killing the hub: {e}"))?;
        self.child
            .wait()
            .await
            .map(|_| ())
            .map_err(|e| format!("reaping the hub: {e}"))
    }
}

/// Appends the hub's stdout to `log`, sending the `listening on` address
/// once; keeps reading so the hub never blocks on a full pipe.
async fn copy_log(
    stdout: tokio::process::ChildStdout,
    log: PathBuf,
    listening: oneshot::Sender<String>,
) {
    let mut listening = Some(listening);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .await
        .ok();
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((_, rest)) = line.split_once("listening on http://") {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            if let Some(tx) = listening.take() {
                let _ = tx.send(format!("http://{addr}")); // the starter gave up waiting
            }
        }
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(format!("{line}\n").as_bytes()).await;
        }
    }
}
