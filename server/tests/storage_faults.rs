//! Storage that fails: the server refuses to start on a database it cannot
//! write, and at run time a commit that fails answers `internal`, turns
//! `/health/ready` to 503, and acknowledges nothing that was not written.

mod common;

use common::{Player, start_server_with, test_config};
use protocol::events::{Joined, Synced};
use protocol::{Ack, ErrorCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gamehub-faults-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the hub on `db` and returns the error `run` stops with.
async fn start_error(db: &Path) -> String {
    let mut config = test_config();
    config.db_path = db.to_path_buf();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        gamehub::run(listener, config, std::future::pending()),
    )
    .await
    .expect("run returns instead of serving");
    format!("{:#}", result.expect_err("the server must refuse to start"))
}

#[tokio::test]
async fn refuses_to_start_where_the_database_cannot_be_created() {
    let err = start_error(Path::new("/proc/gamehub-no-such-dir/gamehub.db")).await;
    assert!(
        err.contains("DB_PATH") && err.contains("/proc/gamehub-no-such-dir/gamehub.db"),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");
}

#[tokio::test]
async fn refuses_to_start_on_a_read_only_database() {
    let dir = temp_dir("ro");
    let db = dir.join("gamehub.db");
    // An existing database, closed again at once (no connection or WAL lingers).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    // Root ignores file modes; the immutable attribute stops root too.
    let Some(_immutable) = Immutable::set(&db) else {
        println!("SKIPPED: chattr +i is not available on this filesystem");
        return;
    };
    let err = start_error(&db).await;
    assert!(err.contains(&format!("DB_PATH={}", db.display())), "{err}");
    assert!(err.contains("readonly"), "{err}");
}

#[tokio::test]
async fn refuses_to_start_on_a_full_disk() {
    let dir = temp_dir("full");
    // A real full disk: a 512 KiB tmpfs filled to the last byte.
    let Some(disk) = Tmpfs::mount(&dir, "512k") else {
        println!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    disk.fill_up();
    let db = dir.join("gamehub.db");
    let err = start_error(&db).await;
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        err.contains("DB_PATH") && err.contains(&db.display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("No space left on device") || err.contains("full"),
        "{err}"
    );
}

#[tokio::test]
async fn a_database_over_its_size_limit_refuses_to_start() {
    let dir = temp_dir("cap");
    let db = dir.join("gamehub.db");
    fill(&db, 2 * 1024 * 1024);
    let mut config = test_config();
    config.db_path = db.clone();
    config.db_max_size_mb = 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = gamehub::run(listener, config, std::future::pending()).await;
    let err = format!("{:#}", result.expect_err("refused"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(err.contains("DB_PATH=") && err.contains("full"), "{err}");
}

/// `chattr +i` on a file, undone on drop (even when the test fails).
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr").arg("+i").arg(path).status();
        ok.is_ok_and(|s| s.success())
            .then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Grows the database at `path` by about `bytes` from a connection of its own.
fn fill(path: &Path, bytes: usize) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c.execute_batch("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
        .unwrap();
    c.execute(
        "INSERT INTO filler (b) VALUES (zeroblob(?1))",
        [bytes as i64],
    )
    .unwrap();
}

/// A small tmpfs at `dir`, unmounted on drop; `None` where mounting is not allowed.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status();
        ok.is_ok_and(|s| s.success())
            .then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Writes zeros to a file until the disk is full.
    fn fill_up(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let _ = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .arg("bs=4k")
            .output();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn ready_status(url: &str) -> (u16, Value) {
    let r = loadtest::http::get(url, "/health/ready").await.unwrap();
    (r.status, r.json().unwrap())
}

#[tokio::test]
async fn a_failing_commit_answers_internal_flips_readiness_and_stores_nothing() {
    let dir = temp_dir("runtime");
    let Some(disk) = Tmpfs::mount(&dir, "8m") else {
        println!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    };
    let db = dir.join("gamehub.db");
    let server = start_server_with(|c| c.db_path = db.clone()).await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    alice.place(&room, 4).await.into_result().unwrap();
    let before: Synced = alice
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;

    // A reader holding a snapshot keeps SQLite from starting the WAL over
    // (which the store's checkpointer otherwise lets it do every 100 ms), so
    // the next commit must grow the WAL file rather than reuse its pages.
    let reader = rusqlite::Connection::open(&db).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    // The disk fills up under the running server.
    let filler = disk.fill_up();
    match bob.place(&room, 0).await {
        Ack::Err(e) => assert_eq!(e.code, ErrorCode::Internal, "{}", e.message),
        Ack::Ok(v) => panic!("a move that could not be written was acknowledged: {v}"),
    }
    drop(reader);
    let (status, body) = ready_status(&server.url).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["checks"]["storage"]
            .as_str()
            .unwrap()
            .starts_with("failing"),
        "{body}"
    );
    let after: Synced = alice
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;
    assert_eq!(before, after, "nothing of the refused move is seen");
    assert!(alice.client.is_connected() && bob.client.is_connected());

    // Space comes back: readiness recovers and the same move now succeeds.
    std::fs::remove_file(filler).unwrap();
    let (status, body) = ready_status(&server.url).await;
    assert_eq!(status, 200, "{body}");
    bob.place(&room, 0)
        .await
        .into_result()
        .expect("the move goes through once there is room");
    server.shutdown().await.unwrap();
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}
