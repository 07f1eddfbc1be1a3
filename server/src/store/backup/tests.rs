//! Tests of backup, restore and the lock file.

use super::*;
use crate::store::{Store, StoreOptions, WriteOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A fresh directory, removed with what it holds at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("gamehub-backup-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A migrated database in WAL mode holding `rooms`, each with one journal entry.
fn make_db(path: &Path, rooms: &[&str]) {
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    super::super::migrations::migrations()
        .to_latest(&mut conn)
        .unwrap();
    for room in rooms {
        add_room(&conn, room);
    }
}

fn add_room(conn: &Connection, room: &str) {
    conn.execute(
        "INSERT INTO rooms (id, game, node_id, created_at, status)
         VALUES (?1, 'tictactoe', 'node-0', 0, 'waiting')",
        [room],
    )
    .unwrap();
    let entry = crate::store::encode(&crate::store::JournalEntry {
        input: crate::store::Input::Notice,
        events: vec![],
    });
    conn.execute(
        "INSERT INTO room_journal (part, room_id, jseq, entry) VALUES (0, ?1, 1, ?2)",
        rusqlite::params![room, entry],
    )
    .unwrap();
}

fn room_ids(path: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn.prepare("SELECT id FROM rooms ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_backup_taken_while_a_writer_commits_is_complete_and_consistent() {
    let dir = TempDir::new();
    let db = dir.join("live.db");
    let copy = dir.join("copy.db");
    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = Store::open(&StoreOptions::new(&db)).unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let room = format!("room-{n:06}");
                    // A room and its journal entry commit together.
                    store
                        .write(vec![
                            WriteOp::CreateRoom {
                                id: room.clone(),
                                game: "tictactoe".into(),
                                node: "node-0".into(),
                                created_at: n,
                            },
                            WriteOp::Journal {
                                room,
                                jseq: 1,
                                entry: vec![7; 512],
                            },
                        ])
                        .await
                        .unwrap();
                    committed.store(n, Ordering::Release);
                }
            });
        })
    };
    // Let the database grow to many pages, so the copy takes many steps.
    let deadline = Instant::now() + Duration::from_secs(20);
    while committed.load(Ordering::Acquire) < 300 {
        assert!(Instant::now() < deadline, "the writer is too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = committed.load(Ordering::Acquire);
    let pace = Pace {
        pages_per_step: 4,
        pause: Duration::from_millis(2),
        max_restarts: 3,
    };
    let report = backup_paced(&db, &copy, false, pace).unwrap();
    stop.store(true, Ordering::Release);
    writer.join().expect("the writer failed");
    let after = committed.load(Ordering::Acquire);

    assert!(
        (before..=after).contains(&report.rooms),
        "{before} committed before the backup, {after} in all, {} in the copy",
        report.rooms
    );
    assert_eq!(
        report.journal_entries, report.rooms,
        "no transaction is half in the copy"
    );
    assert_eq!(report.file, copy);
    assert_eq!(report.bytes, fs::metadata(&copy).unwrap().len());
    assert_eq!(report.schema_version, latest_version());
    assert!(room_ids(&copy).contains(&format!("room-{before:06}")));
    assert_eq!(
        files_in(&dir)
            .iter()
            .filter(|f| f.starts_with("copy"))
            .collect::<Vec<_>>(),
        ["copy.db"],
        "one self-contained file, no partial or -wal left"
    );
}

#[test]
fn a_backup_does_not_overwrite_a_file_without_force() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let copy = dir.join("copy.db");
    make_db(&db, &["a"]);
    fs::write(&copy, b"keep me").unwrap();

    let err = backup(&db, &copy, false).unwrap_err();
    assert!(matches!(err, BackupError::TargetExists(_)), "{err}");
    assert!(err.to_string().contains("copy.db") && err.to_string().contains("--force"));
    assert_eq!(fs::read(&copy).unwrap(), b"keep me");

    let report = backup(&db, &copy, true).unwrap();
    assert_eq!((report.rooms, report.journal_entries), (1, 1));
    assert_eq!(room_ids(&copy), ["a"]);

    let err = backup(&db, &db, true).unwrap_err();
    assert!(matches!(err, BackupError::SameFile(_)), "{err}");
}

#[test]
fn a_failed_backup_leaves_nothing_under_the_target_name() {
    let dir = TempDir::new();
    let copy = dir.join("copy.db");

    let err = backup(&dir.join("missing.db"), &copy, false).unwrap_err();
    assert!(matches!(err, BackupError::NoDatabase(_)), "{err}");
    assert!(err.to_string().contains("missing.db"));

    // A SQLite file that is not a gamehub database: copied, checked, refused.
    let empty = dir.join("empty.db");
    Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); PRAGMA journal_mode=WAL;")
        .unwrap();
    let err = backup(&empty, &copy, false).unwrap_err();
    assert!(matches!(err, BackupError::NotGamehub(_)), "{err}");
    assert_eq!(files_in(&dir), ["empty.db"], "no partial file is left");

    let err = backup(&empty, &dir.join("no-such-dir/copy.db"), true).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("no-such-dir/copy.db: its directory does not exist"),
        "{err}"
    );
}

#[test]
fn a_database_has_one_lock_holder_at_a_time() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let first = DbLock::acquire(&db).unwrap();
    assert_eq!(first.path(), dir.join("gamehub.db.lock"));
    let err = DbLock::acquire(&db).unwrap_err();
    let BackupError::Locked { pid, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*pid, Some(std::process::id()));
    assert!(
        err.to_string().contains("another gamehub")
            && err.to_string().contains("is running on the database"),
        "{err}"
    );
    drop(first);
    DbLock::acquire(&db).unwrap();
}

#[test]
fn restore_is_refused_while_the_lock_is_held() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let copy = dir.join("copy.db");
    make_db(&db, &["a"]);
    backup(&db, &copy, false).unwrap();
    make_db(&db, &["b"]);

    let server = DbLock::acquire(&db).unwrap();
    let err = restore(&db, &copy).unwrap_err();
    assert!(matches!(err, BackupError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("running"), "{err}");
    assert_eq!(room_ids(&db), ["a", "b"], "the database is untouched");
    assert!(!kept_path(&db).exists());

    drop(server);
    restore(&db, &copy).unwrap();
    assert_eq!(room_ids(&db), ["a"]);
}

#[test]
fn restore_replaces_the_database_and_keeps_the_previous_one() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let copy = dir.join("copy.db");
    let keep = dir.join("gamehub.db.before-restore");
    make_db(&db, &["a"]);
    backup(&db, &copy, false).unwrap();

    // The database as a `kill -9` leaves it: room b only in the -wal file.
    let crashed = dir.join("crashed.db");
    {
        let conn = Connection::open(&db).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        add_room(&conn, "b");
        fs::copy(&db, &crashed).unwrap();
        fs::copy(with_suffix(&db, "-wal"), with_suffix(&crashed, "-wal")).unwrap();
    }
    fs::rename(&crashed, &db).unwrap();
    fs::rename(with_suffix(&crashed, "-wal"), with_suffix(&db, "-wal")).unwrap();
    // An older keepsake, with a stale -wal of its own, is replaced.
    fs::write(&keep, b"an old keepsake").unwrap();
    fs::write(with_suffix(&keep, "-wal"), b"stale").unwrap();

    let report = restore(&db, &copy).unwrap();
    assert_eq!(report.file, db);
    assert_eq!((report.rooms, report.journal_entries), (1, 1));
    assert_eq!(report.schema_version, latest_version());
    assert_eq!(report.previous.as_deref(), Some(keep.as_path()));
    assert!(report.to_string().contains("previous database kept as"));
    assert_eq!(room_ids(&db), ["a"]);
    assert_eq!(
        room_ids(&keep),
        ["a", "b"],
        "the crash's last commit is kept"
    );
    assert_eq!(
        files_in(&dir),
        [
            "copy.db",
            "gamehub.db",
            "gamehub.db.before-restore",
            "gamehub.db.lock"
        ]
    );

    // The restored database opens as a store.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rooms = runtime.block_on(async {
        let store = Store::open(&StoreOptions::new(&db)).unwrap();
        store.load_rooms("node-0".into(), 10).await.unwrap()
    });
    assert_eq!(rooms.len(), 1);
}

#[test]
fn a_restore_is_undone_from_its_kept_copy_under_another_name() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let copy = dir.join("copy.db");
    make_db(&db, &["a"]);
    backup(&db, &copy, false).unwrap();
    make_db(&db, &["b"]);
    restore(&db, &copy).unwrap();

    let err = restore(&db, &kept_path(&db)).unwrap_err();
    assert!(matches!(err, BackupError::KeptCopy(_)), "{err}");
    let undo = dir.join("undo.db");
    fs::rename(kept_path(&db), &undo).unwrap();
    restore(&db, &undo).unwrap();
    assert_eq!(room_ids(&db), ["a", "b"]);
}

#[test]
fn restore_creates_a_missing_database() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let copy = dir.join("copy.db");
    make_db(&db, &["a"]);
    backup(&db, &copy, false).unwrap();
    let fresh = dir.join("fresh.db");
    let report = restore(&fresh, &copy).unwrap();
    assert_eq!(report.previous, None);
    assert_eq!(room_ids(&fresh), ["a"]);

    let err = restore(&fresh, &dir.join("nothing.db")).unwrap_err();
    assert!(matches!(err, BackupError::NoBackup(_)), "{err}");
}

#[test]
fn restore_refuses_a_damaged_backup() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    make_db(&db, &["a"]);

    let garbage = dir.join("garbage.db");
    fs::write(
        &garbage,
        (0..8192u32).map(|i| (i * 7 + 3) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let err = restore(&db, &garbage).unwrap_err();
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("garbage.db") && text.contains("not a database"),
        "{text}"
    );

    // A real backup with pages overwritten in the middle.
    let many: Vec<String> = (0..400).map(|i| format!("room-{i:04}")).collect();
    let big = dir.join("big.db");
    make_db(&big, &many.iter().map(String::as_str).collect::<Vec<_>>());
    let damaged = dir.join("damaged.db");
    backup(&big, &damaged, false).unwrap();
    let mut bytes = fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 8192].fill(0x5a);
    fs::write(&damaged, bytes).unwrap();
    let err = restore(&db, &damaged).unwrap_err();
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("damaged.db"), "{err}");

    assert_eq!(room_ids(&db), ["a"], "the database is untouched");
    assert!(!kept_path(&db).exists());
}

#[test]
fn restore_refuses_a_newer_schema() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let newer = dir.join("newer.db");
    make_db(&db, &["a"]);
    make_db(&newer, &["b"]);
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", latest_version() + 1)
        .unwrap();
    let err = restore(&db, &newer).unwrap_err();
    let BackupError::TooNew { found, latest, .. } = err else {
        panic!("{err}")
    };
    assert_eq!((found, latest), (latest_version() + 1, latest_version()));
    assert_eq!(room_ids(&db), ["a"]);
}

#[test]
fn a_wal_mode_copy_of_a_stopped_database_restores_too() {
    let dir = TempDir::new();
    let db = dir.join("gamehub.db");
    let raw = dir.join("raw.db");
    make_db(&raw, &["r"]);
    make_db(&db, &["a"]);
    let report = restore(&db, &raw).unwrap();
    assert_eq!(report.rooms, 1);
    assert_eq!(room_ids(&db), ["r"]);
    assert!(
        !files_in(&dir).iter().any(|f| f.starts_with("raw.db-")),
        "no side files are left beside the backup"
    );
}
