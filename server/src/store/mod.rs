//! SQLite storage: rooms' journals and snapshots, players' results, settings.
//!
//! Writes go through one writer thread ([`writer`]) fed by a bounded channel;
//! it commits whatever is waiting in one transaction (group commit) and
//! answers each caller once that transaction is committed, so an ack that
//! waits on [`Store::write`] is only sent for what is on disk. Reads use a
//! connection of their own from `spawn_blocking`; no async task holds a lock
//! across an await.
//!
//! Durability: WAL mode with `synchronous=NORMAL` (the default, `DB_SYNC=normal`)
//! keeps every committed write through a crash or `kill -9` of the process;
//! `DB_SYNC=full` also keeps it through a power loss or kernel crash, at the
//! cost of an fsync per batch.
//!
//! The WAL is copied into the database file by a [`checkpoint`] thread of its
//! own, off the writer's path.
//!
//! [`backup`] copies the database while a server runs and restores a copy
//! while none does; a serving process holds [`backup::DbLock`] to say so.

pub mod backup;
pub mod checkpoint;
mod journal;
mod migrations;
mod prune;
mod rating;
mod records;
mod writer;

pub use migrations::latest_version;
pub use rating::START_RATING;
pub use records::{
    Input, JournalEntry, RoomSnapshot, StoredEvent, StoredRoom, decode, encode, encode_entry,
};
pub use writer::WriteOp;

use protocol::PlayerRef;
use protocol::http::LeaderboardEntry;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The name of the store's writer thread (benchmarks find it by this name).
pub const WRITER_THREAD: &str = "gamehub-store-writer";

/// Why storage failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// The schema could not be brought up to date.
    #[error("migrating the database schema: {0}")]
    Migration(String),
    /// A write (or its whole batch) was not committed.
    #[error("write not committed: {0}")]
    Write(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The writer thread is gone (shutting down, or it crashed).
    #[error("the storage writer has stopped")]
    Closed,
    /// A blocking read task died.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(e: rusqlite_migration::Error) -> Self {
        StoreError::Migration(e.to_string())
    }
}

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Survives a crash of the process (`synchronous=NORMAL` in WAL mode).
    Normal,
    /// Also survives a power loss or OS crash (`synchronous=FULL`): an fsync per batch.
    Full,
}

impl SyncMode {
    /// The `synchronous` pragma's value.
    fn pragma(self) -> &'static str {
        match self {
            SyncMode::Normal => "NORMAL",
            SyncMode::Full => "FULL",
        }
    }
}

/// Who copies the WAL into the database file (a checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Checkpoints {
    /// A thread of its own ([`checkpoint`]), so that no commit waits for one.
    Thread,
    /// SQLite's automatic checkpoint, inside the commit that takes the WAL
    /// past 1000 pages (how the store worked before; kept to measure the difference).
    InCommit,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Database file.
    pub path: PathBuf,
    /// Commit durability.
    pub sync: SyncMode,
    /// Most writes committed in one transaction.
    pub max_batch: usize,
    /// Writes queued for the writer before callers wait.
    pub queue: usize,
    /// Largest size the database may grow to, in MiB (0: no limit).
    pub max_size_mb: u64,
    /// Journal entries kept before each unfinished room's latest snapshot,
    /// whose events serve `room:sync` after a restart (the server passes
    /// `EVENT_LOG_LEN`); older ones are pruned.
    pub journal_keep: u64,
    /// Journal rows per part (see [`journal`]): larger parts make a commit
    /// touch more index pages, smaller ones make reading a room seek more.
    pub journal_part_rows: u64,
    /// Who checkpoints the WAL.
    pub checkpoints: Checkpoints,
}

impl StoreOptions {
    /// Defaults for `path` (tests and tools).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            sync: SyncMode::Normal,
            max_batch: 1024,
            queue: 8192,
            max_size_mb: 0,
            journal_keep: 1024,
            journal_part_rows: 4096,
            checkpoints: Checkpoints::Thread,
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    reader: Arc<Mutex<Connection>>,
    writer: mpsc::Sender<writer::Write>,
    /// Whether the last commit succeeded.
    healthy: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating if needed) the database, migrates it, checks that it
    /// takes writes, and starts the writer thread. A database that cannot be
    /// opened or written fails here, so a bad `DB_PATH`, a read-only file or a
    /// full disk stops the start with a clear message.
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let mut conn = Connection::open(&options.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", options.sync.pragma())?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrations().to_latest(&mut conn)?;
        if options.max_size_mb > 0 {
            let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let pages = options.max_size_mb * 1024 * 1024 / page_size.max(1);
            conn.pragma_update(None, "max_page_count", pages)?;
        }
        // Prove now that the file takes writes, rather than failing the first move.
        let probe = conn.transaction()?;
        probe.execute(
            "INSERT INTO health_probe (filler) VALUES (zeroblob(65536))",
            [],
        )?;
        probe.execute("DELETE FROM health_probe", [])?;
        probe.commit()?;

        let reader = Connection::open(&options.path)?;
        reader.busy_timeout(Duration::from_secs(5))?;

        let checkpointer = match options.checkpoints {
            Checkpoints::Thread => {
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
                Some(checkpoint::start(&options.path, options.sync)?)
            }
            Checkpoints::InCommit => None,
        };
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let writer = writer::Writer {
            appender: journal::Appender::open(
                &conn,
                options.journal_part_rows,
                options.journal_keep,
            )?,
            pruner: prune::Pruner::new(&conn, options.journal_part_rows)?,
            conn,
            max_batch: options.max_batch.max(1),
            healthy: healthy.clone(),
            _checkpointer: checkpointer,
        };
        std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || writer.run(rx))
            .map_err(|e| StoreError::Task(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            reader: Arc::new(Mutex::new(reader)),
            writer: tx,
            healthy,
        })
    }

    /// Commits `ops` atomically; returns once they are on disk (or failed).
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(writer::Write { ops, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Returns once every write sent before it is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write(Vec::new()).await
    }

    /// Whether storage works: the writer runs, and the last commit (or a fresh
    /// probe that grows the file by a page) succeeded, and reads answer.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        if self.writer.is_closed() {
            return Err(StoreError::Closed);
        }
        if !self.healthy.load(Ordering::Acquire) {
            self.write(vec![WriteOp::Probe]).await?;
        }
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await?;
        Ok(())
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in another query poisoned the lock; the connection itself is still sound.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The setting `key`, or `value` stored as it when there is none yet.
    /// Used once at start, before any room writes, on the read connection.
    pub async fn setting_or_insert(
        &self,
        key: &'static str,
        value: String,
    ) -> Result<String, StoreError> {
        self.read(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, value],
            )?;
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    /// The best `limit` players of `game`, by rating then wins.
    pub async fn leaderboard(
        &self,
        game: String,
        limit: u32,
    ) -> Result<Vec<LeaderboardEntry>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.id, p.name, r.wins, r.losses, r.draws, r.rating
                 FROM results r JOIN players p ON p.id = r.player_id
                 WHERE r.game = ?1 ORDER BY r.rating DESC, r.wins DESC, p.name LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![game, limit], |r| {
                Ok(LeaderboardEntry {
                    player: PlayerRef {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    },
                    wins: r.get(2)?,
                    losses: r.get(3)?,
                    draws: r.get(4)?,
                    rating: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Every unfinished room of `node`, with what it takes to rebuild it:
    /// the latest snapshot, the journal after it, and up to `log_len` journal
    /// entries before it (their events serve `room:sync`).
    pub async fn load_rooms(
        &self,
        node: String,
        log_len: usize,
    ) -> Result<Vec<StoredRoom>, StoreError> {
        self.read(move |c| {
            // One read transaction: the writer's commits (and pruning) in the
            // meantime are not seen half-way.
            let tx = c.transaction()?;
            journal::load_rooms(&tx, &node, log_len)
        })
        .await
    }

    /// One room as stored (whatever its status), or `None` if it was never saved.
    pub async fn load_room(
        &self,
        id: String,
        log_len: usize,
    ) -> Result<Option<StoredRoom>, StoreError> {
        self.read(move |c| {
            let tx = c.transaction()?;
            let head = tx
                .query_row(
                    "SELECT game, created_at FROM rooms WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)),
                )
                .optional()?;
            head.map(|(game, created_at)| journal::load_room(&tx, id, game, created_at, log_len))
                .transpose()
        })
        .await
    }
}

#[cfg(test)]
mod tests;
