//! `gamehub backup` and `gamehub restore`, and the lock file that says a gamehub is running on a database.
//!
//! [`backup`] copies the database with SQLite's online backup API while a
//! server may be writing to it: a few pages per step with a pause between
//! steps, and the whole copy in one pass once the server's commits have made
//! SQLite start over a few times (in WAL mode that pass does not hold up the
//! server's writes). The copy is written next to the target, converted to a
//! single self-contained file (no `-wal`), checked with `integrity_check`, and
//! only then renamed to the target name.
//!
//! [`restore`] needs the database to itself: it takes the same lock a serving
//! process holds ([`DbLock`], on `<DB_PATH>.lock`), checks the backup, keeps
//! the current database as `<DB_PATH>.before-restore`, and copies the backup
//! into `DB_PATH` with the backup API, in one transaction.

use super::migrations::latest_version;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Pages an online backup copies per step (4 MiB with SQLite's 4 KiB pages).
const PAGES_PER_STEP: i32 = 1024;
/// Pause between steps, so a busy server's writer has the disk to itself now and then.
const STEP_PAUSE: Duration = Duration::from_millis(10);
/// After the server's commits have made SQLite restart the copy this many
/// times, the rest is copied in one pass.
const MAX_RESTARTS: u32 = 3;
/// How long the copy keeps retrying a source that answers busy or locked.
const BUSY_LIMIT: Duration = Duration::from_secs(30);
/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of `integrity_check` output kept in an error.
const PROBLEMS_SHOWN: usize = 10;

/// Why a backup or restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database file at `DB_PATH`.
    #[error("there is no database at {0} (check DB_PATH or --db-path)")]
    NoDatabase(PathBuf),
    /// The backup file to restore does not exist.
    #[error("there is no backup file at {0}")]
    NoBackup(PathBuf),
    /// The backup target exists and `--force` was not given.
    #[error("{0} already exists; choose another name, or pass --force to overwrite it")]
    TargetExists(PathBuf),
    /// The file named on the command line is the database at `DB_PATH` itself.
    #[error("{0} is the database at DB_PATH itself; name another file")]
    SameFile(PathBuf),
    /// The backup to restore is `<DB_PATH>.before-restore`, which the restore itself overwrites.
    #[error(
        "{0} is where restore keeps the database it replaces; \
         rename it, then restore it under its new name"
    )]
    KeptCopy(PathBuf),
    /// Another process holds `<DB_PATH>.lock`: a server runs on the database (or a restore does).
    #[error(
        "another gamehub{} is running on the database {db}: it holds the lock file {lock}; stop it first",
        holder(.pid)
    )]
    Locked {
        /// The database.
        db: PathBuf,
        /// Its lock file.
        lock: PathBuf,
        /// The holder's process id, as it wrote it into the lock file.
        pid: Option<u32>,
    },
    /// The file is not a SQLite database, or its pages are damaged.
    #[error("{file} is damaged or not a SQLite database: {detail}")]
    Corrupt {
        /// The file checked.
        file: PathBuf,
        /// SQLite's error, or the first lines of `integrity_check`.
        detail: String,
    },
    /// The file is a SQLite database without gamehub's schema (`user_version` 0).
    #[error("{0} is not a gamehub database (its schema version is 0)")]
    NotGamehub(PathBuf),
    /// The file was written by a newer gamehub, whose schema this binary does not know.
    #[error(
        "{file} has schema version {found}, newer than this gamehub knows ({latest}); \
         restore it with the gamehub release that wrote it, or a newer one"
    )]
    TooNew {
        /// The backup file.
        file: PathBuf,
        /// Its `user_version`.
        found: u32,
        /// The latest version this binary migrates to.
        latest: u32,
    },
    /// SQLite failed while working on `file`.
    #[error("{doing} {file}: {cause}")]
    Sqlite {
        /// What was being done, e.g. `cannot copy the database`.
        doing: &'static str,
        /// The file concerned.
        file: PathBuf,
        /// SQLite's error (in the message, so not a `source()` too).
        cause: rusqlite::Error,
    },
    /// The file system failed while working on `file`.
    #[error("{doing} {file}: {cause}")]
    Io {
        /// What was being done, e.g. `cannot rename the copy to`.
        doing: &'static str,
        /// The file concerned.
        file: PathBuf,
        /// The OS error (in the message, so not a `source()` too).
        cause: io::Error,
    },
}

fn holder(pid: &Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}

fn sqlite_err(doing: &'static str, file: &Path) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let file = file.to_path_buf();
    move |cause| BackupError::Sqlite { doing, file, cause }
}

fn io_err(doing: &'static str, file: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let file = file.to_path_buf();
    move |cause| BackupError::Io { doing, file, cause }
}

/// Whether SQLite could not read the file as a database at all.
fn unreadable(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

/// A database file as checked after a backup or restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The file checked: the backup, or `DB_PATH` after a restore.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: u32,
    /// Rows in `rooms`.
    pub rooms: u64,
    /// Rows in `room_journal`.
    pub journal_entries: u64,
    /// Where a restore kept the database it replaced (`<DB_PATH>.before-restore`).
    pub previous: Option<PathBuf>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "file:            {}", self.file.display())?;
        writeln!(f, "size:            {} bytes", self.bytes)?;
        writeln!(f, "schema version:  {}", self.schema_version)?;
        writeln!(f, "rooms:           {}", self.rooms)?;
        writeln!(f, "journal entries: {}", self.journal_entries)?;
        write!(f, "integrity_check: ok")?;
        if let Some(previous) = &self.previous {
            write!(f, "\nprevious database kept as {}", previous.display())?;
        }
        Ok(())
    }
}

/// The lock file of the database at `db`: `<db>.lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    with_suffix(db, ".lock")
}

/// An exclusive advisory lock on `<DB_PATH>.lock`. A serving gamehub holds it
/// for as long as it runs, and `restore` while it works; a second one is
/// refused with [`BackupError::Locked`]. The OS drops the lock when the
/// process ends, however it ends (`kill -9` included), so there is never a
/// stale lock to clean up; the file itself stays.
#[derive(Debug)]
pub struct DbLock {
    /// Open for as long as the lock is held; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl DbLock {
    /// Takes the lock of the database at `db` without waiting, creating the
    /// lock file if needed, and writes this process's id into it (if it can).
    pub fn acquire(db: &Path) -> Result<DbLock, BackupError> {
        let path = lock_path(db);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("cannot open the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text); // the pid is only a hint
                return Err(BackupError::Locked {
                    db: db.to_path_buf(),
                    lock: path,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err("cannot lock", &path)(e)),
        }
        // Only a hint for the message above: a full disk must not stop here.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(DbLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Copies the database at `db` to `target` while a server may be writing to
/// it, checks the copy, and reports what it holds. Refuses to overwrite
/// `target` unless `force`. Nothing is left under `target`'s name unless the
/// whole copy succeeded and passed `integrity_check`.
pub fn backup(db: &Path, target: &Path, force: bool) -> Result<Report, BackupError> {
    backup_paced(db, target, force, Pace::ONLINE)
}

/// Replaces the database at `db` with the backup `file`: refuses while a
/// gamehub runs on `db`, refuses a backup that fails `integrity_check` or
/// whose schema is newer than this binary's, and keeps the database it
/// replaces as `<db>.before-restore`.
pub fn restore(db: &Path, file: &Path) -> Result<Report, BackupError> {
    let _lock = DbLock::acquire(db)?;
    if !file.is_file() {
        return Err(BackupError::NoBackup(file.to_path_buf()));
    }
    if same_file(db, file) {
        return Err(BackupError::SameFile(file.to_path_buf()));
    }
    let keep = kept_path(db);
    if same_file(&keep, file) {
        return Err(BackupError::KeptCopy(file.to_path_buf()));
    }
    // A read-only connection to a WAL-mode file creates `-wal` and `-shm` and
    // cannot remove them; those this restore creates, it removes.
    let absent: Vec<PathBuf> = sidecars(file).into_iter().filter(|p| !p.exists()).collect();
    let tidy = Tidy(absent);
    let source = open(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err("cannot open the backup", file))?;
    let checked = inspect(&source, file)?;
    if checked.schema_version == 0 {
        return Err(BackupError::NotGamehub(file.to_path_buf()));
    }
    if checked.schema_version > latest_version() {
        return Err(BackupError::TooNew {
            file: file.to_path_buf(),
            found: checked.schema_version,
            latest: latest_version(),
        });
    }

    let previous = if db.exists() {
        keep_previous(db, &keep)?;
        Some(keep)
    } else {
        None
    };
    // What was in them is in `.before-restore` now; left here, SQLite would
    // apply them to the restored file.
    remove_sidecars(db)?;
    let mut dest = open_restore_target(db)?;
    copy_pages(&source, &mut dest, Pace::OFFLINE)
        .map_err(sqlite_err("cannot copy the backup into", db))?;
    drop(dest);
    drop(source);
    drop(tidy);

    let restored = open(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err("cannot open the restored database", db))?;
    let mut report = inspect(&restored, db)?;
    drop(restored);
    report.bytes = file_size(db)?;
    report.previous = previous;
    Ok(report)
}

/// How an online copy proceeds.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Pages per step; negative copies everything in one step.
    pages_per_step: i32,
    /// Sleep between steps.
    pause: Duration,
    /// Restarts (the source changed under the copy) before the rest goes in one pass.
    max_restarts: u32,
}

impl Pace {
    /// Beside a running server.
    const ONLINE: Pace = Pace {
        pages_per_step: PAGES_PER_STEP,
        pause: STEP_PAUSE,
        max_restarts: MAX_RESTARTS,
    };
    /// Nobody else writes: one step.
    const OFFLINE: Pace = Pace {
        pages_per_step: -1,
        pause: Duration::ZERO,
        max_restarts: 0,
    };
}

fn backup_paced(db: &Path, target: &Path, force: bool, pace: Pace) -> Result<Report, BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_path_buf()));
    }
    if same_file(db, target) {
        return Err(BackupError::SameFile(target.to_path_buf()));
    }
    if target.exists() && !force {
        return Err(BackupError::TargetExists(target.to_path_buf()));
    }
    let source = open(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err("cannot open the database", db))?;
    let partial = write_copy(&source, db, target, pace)?;
    drop(source);

    let copy = open(partial.path(), OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err("cannot open the copy", target))?;
    let mut report = inspect(&copy, target)?;
    drop(copy);
    if report.schema_version == 0 {
        return Err(BackupError::NotGamehub(db.to_path_buf()));
    }
    report.bytes = file_size(partial.path())?;
    partial.persist(target)?;
    Ok(report)
}

/// Copies `source` (the database at `db`) to a file next to `target`, as one
/// self-contained file in rollback-journal mode; the caller checks it, then
/// moves it into place with [`Partial::persist`].
fn write_copy(
    source: &Connection,
    db: &Path,
    target: &Path,
    pace: Pace,
) -> Result<Partial, BackupError> {
    let partial = Partial::next_to(target)?;
    let mut dest =
        Connection::open(partial.path()).map_err(sqlite_err("cannot create the copy", target))?;
    copy_pages(source, &mut dest, pace).map_err(sqlite_err("cannot copy the database", db))?;
    drop(dest);
    // The copy's header says WAL, as the source's does. Make it one file that
    // can be moved and copied on its own.
    let dest = open(partial.path(), OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err("cannot open the copy", target))?;
    dest.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0))
        .map_err(sqlite_err("cannot take the copy out of WAL mode", target))?;
    drop(dest);
    Ok(partial)
}

/// Copies every page of `from` into `to` with SQLite's backup API, `pace`
/// pages at a time. When another connection writes to `from`, SQLite starts
/// the copy over at the next step; after `pace.max_restarts` of those the
/// rest goes in one step, which in WAL mode reads a snapshot without
/// blocking writers.
fn copy_pages(from: &Connection, to: &mut Connection, pace: Pace) -> rusqlite::Result<()> {
    let backup = Backup::new(from, to)?;
    let mut pages = pace.pages_per_step;
    let mut restarts = 0;
    let mut last_remaining = None;
    let mut busy_since = None;
    loop {
        match backup.step(pages)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {
                busy_since = None;
                let remaining = backup.progress().remaining;
                if last_remaining.is_some_and(|last| remaining >= last) {
                    restarts += 1;
                    if restarts >= pace.max_restarts {
                        pages = -1;
                    }
                }
                last_remaining = Some(remaining);
            }
            // Busy, Locked, and whatever later SQLite versions add: wait and retry.
            _ => {
                if busy_since.get_or_insert_with(Instant::now).elapsed() > BUSY_LIMIT {
                    return Err(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some(format!(
                            "still busy or locked after {} s",
                            BUSY_LIMIT.as_secs()
                        )),
                    ));
                }
            }
        }
        std::thread::sleep(pace.pause);
    }
}

/// Runs `integrity_check` on `conn` (the database at `file`) and reads what
/// the report shows; `bytes` is left for the caller to fill once the
/// connection is closed.
fn inspect(conn: &Connection, file: &Path) -> Result<Report, BackupError> {
    let damaged = |e: rusqlite::Error| {
        if unreadable(&e) {
            BackupError::Corrupt {
                file: file.to_path_buf(),
                detail: e.to_string(),
            }
        } else {
            sqlite_err("cannot check", file)(e)
        }
    };
    let problems = conn
        .prepare(&format!("PRAGMA integrity_check({PROBLEMS_SHOWN})"))
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(damaged)?;
    if problems != ["ok"] {
        return Err(BackupError::Corrupt {
            file: file.to_path_buf(),
            detail: format!("integrity_check: {}", problems.join("; ")),
        });
    }
    let schema_version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(damaged)?;
    Ok(Report {
        file: file.to_path_buf(),
        bytes: 0,
        schema_version,
        rooms: count_rows(conn, "rooms").map_err(damaged)?,
        journal_entries: count_rows(conn, "room_journal").map_err(damaged)?,
        previous: None,
    })
}

/// Rows in `table`; 0 when an older schema has no such table.
fn count_rows(conn: &Connection, table: &str) -> rusqlite::Result<u64> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get(0)
    })
}

/// Where a restore keeps the database it replaces: `<db>.before-restore`.
fn kept_path(db: &Path) -> PathBuf {
    with_suffix(db, ".before-restore")
}

/// Keeps the database at `db` as `keep`, replacing an older one. Through SQLite when it can read it (so commits still in `-wal` after
/// a crash are kept too); byte for byte when it cannot.
fn keep_previous(db: &Path, keep: &Path) -> Result<(), BackupError> {
    let through_sqlite = open(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err("cannot open the current database", db))
        .and_then(|conn| write_copy(&conn, db, keep, Pace::OFFLINE));
    let partial = match through_sqlite {
        Ok(partial) => partial,
        Err(BackupError::Sqlite { ref cause, .. }) if unreadable(cause) => {
            let partial = Partial::next_to(keep)?;
            fs::copy(db, partial.path()).map_err(io_err("cannot copy the current database", db))?;
            partial
        }
        Err(e) => return Err(e),
    };
    partial.persist(keep)
}

/// Opens `db` to receive a restore, in rollback-journal mode so the copy
/// commits as one transaction. A file SQLite cannot read at all (already kept
/// byte for byte) is emptied first; its inode, owner and mode stay.
fn open_restore_target(db: &Path) -> Result<Connection, BackupError> {
    let attempt = || {
        let conn = open(
            db,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        conn.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0))?;
        Ok::<_, rusqlite::Error>(conn)
    };
    match attempt() {
        Ok(conn) => Ok(conn),
        Err(e) if unreadable(&e) => {
            OpenOptions::new()
                .write(true)
                .open(db)
                .and_then(|f| f.set_len(0))
                .map_err(io_err("cannot empty the damaged database", db))?;
            attempt().map_err(sqlite_err("cannot open the database", db))
        }
        Err(e) => Err(sqlite_err("cannot open the database", db)(e)),
    }
}

/// Opens the existing file `path` (never creating it unless `flags` say so).
fn open(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A file being written next to its final name; removed (with any SQLite
/// side files) when dropped before [`Partial::persist`].
struct Partial {
    path: PathBuf,
    persisted: bool,
}

impl Partial {
    fn next_to(target: &Path) -> Result<Partial, BackupError> {
        if !dir_of(target).is_dir() {
            return Err(BackupError::Io {
                doing: "cannot write",
                file: target.to_path_buf(),
                cause: io::Error::new(io::ErrorKind::NotFound, "its directory does not exist"),
            });
        }
        let partial = Partial {
            path: with_suffix(target, &format!(".partial-{}", std::process::id())),
            persisted: false,
        };
        // A leftover of an earlier attempt by a process with the same id.
        remove_if_exists(&partial.path)?;
        remove_sidecars(&partial.path)?;
        Ok(partial)
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file durable and renames it to `target`, replacing it.
    fn persist(mut self, target: &Path) -> Result<(), BackupError> {
        File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(io_err("cannot write the copy to disk for", target))?;
        // Side files of an older `target` would be applied to the new one.
        remove_sidecars(target)?;
        fs::rename(&self.path, target).map_err(io_err("cannot rename the copy to", target))?;
        self.persisted = true;
        // The rename itself is durable once the directory is.
        File::open(dir_of(target))
            .and_then(|d| d.sync_all())
            .map_err(io_err("cannot write to disk the directory of", target))
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path); // best effort: nothing to report it to
            let _ = remove_sidecars(&self.path);
        }
    }
}

/// Files to remove when dropped.
struct Tidy(Vec<PathBuf>);

impl Drop for Tidy {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = fs::remove_file(path); // best effort: they are empty
        }
    }
}

/// SQLite's side files of the database at `path`.
fn sidecars(path: &Path) -> [PathBuf; 3] {
    ["-wal", "-shm", "-journal"].map(|s| with_suffix(path, s))
}

fn remove_sidecars(path: &Path) -> Result<(), BackupError> {
    sidecars(path).iter().try_for_each(|p| remove_if_exists(p))
}

fn remove_if_exists(path: &Path) -> Result<(), BackupError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("cannot remove", path)(e)),
        _ => Ok(()),
    }
}

fn file_size(path: &Path) -> Result<u64, BackupError> {
    fs::metadata(path)
        .map(|m| m.len())
        .map_err(io_err("cannot read the size of", path))
}

/// The directory `path` is in.
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Whether `a` and `b` name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `path` with `suffix` appended to its file name (`x.db` → `x.db.lock`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions, WriteOp};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// A fresh directory, removed with what it holds at the end of the test.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let dir = std::env::temp_dir()
                .join(format!("gamehub-backup-{}", uuid::Uuid::new_v4().simple()));
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
            "INSERT INTO room_journal (room_id, jseq, entry) VALUES (?1, 1, ?2)",
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
}
