//! `gamehub backup` and `gamehub restore` on the real binary, beside a real server.
//!
//! Backs up a serving hub's database, checks that a restore and a second
//! server are refused while it runs, stops it with SIGTERM, restores, and
//! checks that the restarted hub serves the room the backup holds and not the
//! one created after it.

use loadtest::client::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Bound on every wait for the binary.
const WAIT: Duration = Duration::from_secs(20);

/// `gamehub` with a test environment (nothing inherited that could change it).
fn gamehub(db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gamehub"));
    cmd.env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DB_PATH", db)
        .env("SECRET_KEY", "backup-test-secret-backup-test-secret!")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A running `gamehub` process, killed if the test drops it.
struct Server {
    child: Child,
    url: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server and waits for its `listening on http://ADDR` line.
    async fn start(db: &Path) -> Server {
        let (mut child, output, mut lines) = spawn(db);
        let url = tokio::time::timeout(WAIT, async {
            while let Some(line) = lines.recv().await {
                if let Some(at) = line.find("listening on http://") {
                    return Some(line[at + "listening on ".len()..].trim().to_string());
                }
            }
            None
        })
        .await;
        match url {
            Ok(Some(url)) => Server { child, url, output },
            _ => {
                let _ = child.kill().await;
                panic!(
                    "gamehub did not announce its address:\n{}",
                    output.lock().unwrap()
                )
            }
        }
    }

    /// SIGTERM, then waits for the graceful exit.
    async fn terminate(mut self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("gamehub stops within the bound after SIGTERM")
            .expect("wait");
        assert!(
            exit.success(),
            "exit after SIGTERM: {exit}\n{}",
            self.output.lock().unwrap()
        );
    }
}

/// Starts `gamehub` on `db`; its output lines go to the channel and, all of
/// them, to the shared text.
fn spawn(db: &Path) -> (Child, Arc<Mutex<String>>, mpsc::UnboundedReceiver<String>) {
    let mut child = gamehub(db).spawn().expect("start gamehub");
    let output = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::unbounded_channel();
    forward(
        child.stdout.take().expect("stdout"),
        output.clone(),
        tx.clone(),
    );
    forward(child.stderr.take().expect("stderr"), output.clone(), tx);
    (child, output, rx)
}

/// Keeps reading `pipe` so the child never blocks on a full pipe.
fn forward(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<String>>,
    tx: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line); // the test may have stopped listening
        }
    });
}

/// Runs a `gamehub` command to its end: exit status and all its output.
async fn run(db: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut cmd = gamehub(db);
    cmd.args(args);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("gamehub {args:?} did not finish in time"))
        .expect("run gamehub");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// Creates a room as a new guest; returns its id and the connected client (the room's only seat holder).
async fn create_room(url: &str, name: &str) -> (String, Client) {
    let (token, _) = loadtest::http::guest_token(url, name)
        .await
        .expect("guest token");
    let client = Client::connect(url, Some(json!({ "token": token })))
        .await
        .expect("connect");
    let ack: Value = client
        .emit_with_ack("room:create", &json!({"game": "tictactoe"}))
        .await
        .expect("room:create ack");
    assert_eq!(ack["ok"], true, "{ack}");
    let id = ack["room"]["id"].as_str().expect("room id").to_string();
    (id, client)
}

async fn listed_rooms(url: &str) -> Vec<String> {
    let body: Value = loadtest::http::get(url, "/api/v1/rooms")
        .await
        .expect("GET /api/v1/rooms")
        .ok_json()
        .expect("rooms");
    body["rooms"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

/// A fresh directory, removed at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_then_restore_after_stopping() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "gamehub-backup-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let db = dir.0.join("gamehub.db");
    let saved = dir.0.join("saved.db");
    let saved_arg = saved.to_str().unwrap();

    let server = Server::start(&db).await;
    let (kept_room, alice) = create_room(&server.url, "alice").await;

    // Backup while it serves.
    let (status, out) = run(&db, &["backup", saved_arg]).await;
    assert!(status.success(), "backup failed: {out}");
    assert!(out.contains("integrity_check: ok"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("rooms:") && l.split_whitespace().last() == Some("1")),
        "the backup holds the room: {out}"
    );
    assert!(saved.is_file());

    // Again without --force: refused, the backup untouched.
    let before = std::fs::read(&saved).unwrap();
    let (status, out) = run(&db, &["backup", saved_arg]).await;
    assert!(!status.success() && out.contains("--force"), "{out}");
    assert_eq!(std::fs::read(&saved).unwrap(), before);

    // A room the backup does not hold.
    let (later_room, bob) = create_room(&server.url, "bob").await;

    // Restore and a second server are refused while it runs.
    let (status, out) = run(&db, &["restore", saved_arg]).await;
    assert!(!status.success(), "restore while serving: {out}");
    assert!(out.contains("running"), "{out}");
    let (status, out) = run(&db, &["serve"]).await;
    assert!(!status.success(), "a second gamehub started: {out}");
    assert!(
        out.contains("another gamehub") && out.contains("is running on the database"),
        "{out}"
    );

    drop((alice, bob));
    server.terminate().await;

    let (status, out) = run(&db, &["restore", saved_arg]).await;
    assert!(status.success(), "restore failed: {out}");
    assert!(out.contains("previous database kept as"), "{out}");
    assert!(dir.0.join("gamehub.db.before-restore").is_file());

    let server = Server::start(&db).await;
    let rooms = listed_rooms(&server.url).await;
    assert!(rooms.contains(&kept_room), "{rooms:?}");
    assert!(!rooms.contains(&later_room), "{rooms:?}");
    server.terminate().await;
}
