//! The lock file that says a gamehub is running on a database.

use super::{BackupError, io_err, with_suffix};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
