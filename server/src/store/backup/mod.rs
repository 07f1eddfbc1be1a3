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

mod lock;

pub use lock::{DbLock, lock_path};

use super::migrations::latest_version;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
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

pub(super) fn io_err(doing: &'static str, file: &Path) -> impl FnOnce(io::Error) -> BackupError {
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
pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests;
