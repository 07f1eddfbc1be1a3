//! Starting the servers under comparison: gamehub, the peers and the floor, each pinned to its own core.

use serde::Serialize;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to print `listening on http://ADDR`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server the runner can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// This hub (`gamehub`, release build).
    Gamehub,
    /// socket.io 4.8 on Node.js (`loadtest/peers/node`).
    Node,
    /// python-socketio 5 on aiohttp (`loadtest/peers/python`).
    Python,
    /// The bare WebSocket broadcast server (`loadtest floor`); W2 only.
    Floor,
}

impl ServerKind {
    /// Every kind, in report order.
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Gamehub,
        ServerKind::Node,
        ServerKind::Python,
        ServerKind::Floor,
    ];

    /// Whether it speaks socket.io (the floor does not, so it runs W2 only, over bare WebSocket).
    pub fn speaks_socketio(self) -> bool {
        self != ServerKind::Floor
    }

    /// Whether it hosts tic-tac-toe games (W3): not the floor.
    pub fn plays_games(self) -> bool {
        self != ServerKind::Floor
    }

    /// Whether its instances can share rooms through Redis (W4): gamehub and
    /// the Node peer (`@socket.io/redis-adapter`); the python peer has no adapter.
    pub fn clusters(self) -> bool {
        matches!(self, ServerKind::Gamehub | ServerKind::Node)
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Gamehub => "gamehub",
            ServerKind::Node => "node",
            ServerKind::Python => "python",
            ServerKind::Floor => "floor",
        })
    }
}

/// Where the servers' programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `gamehub` binary.
    pub hub_bin: PathBuf,
    /// `loadtest/peers`, holding `node/server.js` and `python/.venv` + `server.py`.
    pub peers_dir: PathBuf,
    /// The `loadtest` binary, run as `loadtest floor`.
    pub loadtest_bin: PathBuf,
    /// Core to pin servers to with `taskset`, if any.
    pub server_core: Option<usize>,
    /// Where each server's stderr goes (`<kind>.log`).
    pub log_dir: PathBuf,
}

impl Programs {
    /// The command that runs `kind` (before pinning), and the database file it creates, if any.
    fn command(&self, kind: ServerKind) -> Result<(Command, Option<PathBuf>), String> {
        let need = |path: &Path, hint: &str| {
            if path.exists() {
                Ok(())
            } else {
                Err(format!("{} is missing: {hint}", path.display()))
            }
        };
        let mut command;
        let mut database = None;
        match kind {
            ServerKind::Gamehub => {
                need(
                    &self.hub_bin,
                    "build it with `cargo build --release -p gamehub`",
                )?;
                command = Command::new(&self.hub_bin);
                let db = std::env::temp_dir().join(format!(
                    "gamehub-compare-{}-{}.db",
                    std::process::id(),
                    unique()
                ));
                command.env("DB_PATH", &db);
                database = Some(db);
                command
                    .env("SECRET_KEY", "loadtest-compare-secret-key-0123456789abcdef")
                    // Load is the point here: per-socket limits would only turn it into errors.
                    .env("RATE_LIMIT_PER_SEC", "1000")
                    .env("RATE_LIMIT_BURST", "1000")
                    .env("MAX_ROOMS", "1000000")
                    // The `listening on` line is an info event of the server module.
                    .env("RUST_LOG", "warn,gamehub::server=info")
                    .env("LOG_FORMAT", "text");
            }
            ServerKind::Node => {
                let script = self.peers_dir.join("node/server.js");
                need(&script, "run scripts/peers-setup")?;
                need(
                    &self.peers_dir.join("node/node_modules"),
                    "run scripts/peers-setup",
                )?;
                command = Command::new("node");
                command.arg(script);
            }
            ServerKind::Python => {
                let python = self.peers_dir.join("python/.venv/bin/python");
                need(&python, "run scripts/peers-setup")?;
                command = Command::new(python);
                command.arg(self.peers_dir.join("python/server.py"));
            }
            ServerKind::Floor => {
                need(
                    &self.loadtest_bin,
                    "build it with `cargo build --release -p gamehub-loadtest`",
                )?;
                command = Command::new(&self.loadtest_bin);
                command.arg("floor");
            }
        }
        command.env("PORT", "0").env("HOST", "127.0.0.1");
        Ok((command, database))
    }

    /// Starts `kind` on a free loopback port and waits for its `listening on` line.
    pub fn start(&self, kind: ServerKind) -> Result<Running, String> {
        self.start_with(kind, &[], "")
    }

    /// [`Programs::start`] with extra environment; `name` tells instances of
    /// one kind apart in the log file's name (`<kind>-<name>.log`).
    pub fn start_with(
        &self,
        kind: ServerKind,
        env: &[(&str, &str)],
        name: &str,
    ) -> Result<Running, String> {
        let (mut plain, database) = self.command(kind)?;
        plain.envs(env.iter().copied());
        let mut command = match self.server_core {
            // taskset execs the program, so the child's pid is the server's.
            Some(core) => {
                let mut pinned = Command::new("taskset");
                pinned
                    .arg("-c")
                    .arg(core.to_string())
                    .arg(plain.get_program());
                pinned.args(plain.get_args());
                for (key, value) in plain.get_envs() {
                    match value {
                        Some(value) => pinned.env(key, value),
                        None => pinned.env_remove(key),
                    };
                }
                pinned
            }
            None => plain,
        };
        std::fs::create_dir_all(&self.log_dir)
            .map_err(|e| format!("creating {}: {e}", self.log_dir.display()))?;
        let log_path = if name.is_empty() {
            self.log_dir.join(format!("{kind}.log"))
        } else {
            self.log_dir.join(format!("{kind}-{name}.log"))
        };
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {kind}: {e}"))?;
        let rx = watch_listening(child.stdout.take().expect("stdout is piped"));
        let mut running = Running {
            kind,
            pid: child.id(),
            child,
            url: String::new(),
            database,
        };
        running.url = rx.recv_timeout(START_TIMEOUT).map_err(|_| {
            format!(
                "{kind} did not print `listening on http://ADDR` within {} s (see {})",
                START_TIMEOUT.as_secs(),
                log_path.display()
            )
        })?;
        Ok(running)
    }
}

/// A started server; killed when dropped.
#[derive(Debug)]
pub struct Running {
    /// What it is.
    pub kind: ServerKind,
    /// Its process id, for `/proc` readings.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    /// The hub's temporary database, removed with the server.
    database: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(db) = &self.database {
            for suffix in ["", "-wal", "-shm", ".lock"] {
                let mut path = db.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Nanoseconds since the epoch, to keep temporary file names apart.
fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The version each server runs, for the report: the hub's own, the pinned
/// peer packages, the runtimes.
pub fn version(kind: ServerKind, programs: &Programs) -> String {
    let output = |program: &Path, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let text = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&text).trim().to_owned()
            })
            .unwrap_or_else(|| "?".to_owned())
    };
    match kind {
        ServerKind::Gamehub => output(&programs.hub_bin, "--version"),
        ServerKind::Node => format!(
            "socket.io {} on Node.js {}",
            package_version(
                &programs
                    .peers_dir
                    .join("node/node_modules/socket.io/package.json")
            ),
            output(Path::new("node"), "--version")
        ),
        ServerKind::Python => {
            let pins = std::fs::read_to_string(programs.peers_dir.join("python/requirements.txt"))
                .unwrap_or_default();
            let pin = |name: &str| {
                pins.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}==")))
                    .unwrap_or("?")
                    .to_owned()
            };
            format!(
                "python-socketio {} on aiohttp {}, {}",
                pin("python-socketio"),
                pin("aiohttp"),
                output(
                    &programs.peers_dir.join("python/.venv/bin/python"),
                    "--version"
                )
            )
        }
        ServerKind::Floor => format!("tokio-tungstenite (loadtest {})", env!("CARGO_PKG_VERSION")),
    }
}

/// The `"version"` of an npm `package.json`.
fn package_version(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("version")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Reads a server's stdout on a thread of its own, for as long as the server
/// writes (so it never blocks on a full pipe), and sends the base URL of its
/// first `listening on http://ADDR` line: gamehub, the peers and the floor
/// all print one once they are bound.
pub fn watch_listening(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some((_, rest)) = line.split_once("listening on http://") {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(format!("http://{addr}"));
                }
            }
        }
    });
    rx
}
