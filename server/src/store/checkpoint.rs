//! The checkpointer thread: copies committed WAL frames into the database
//! file from a connection of its own, so that no commit waits for it.
//!
//! Left to SQLite, the connection that commits runs a checkpoint whenever the
//! WAL passes 1000 pages (`wal_autocheckpoint`), inside that commit, fsyncs
//! included: on the one writer thread, every write queued behind it waited
//! (that set the ack wait's p99 near 10 ms at 10k actions/s). Here the writer
//! has `wal_autocheckpoint=0`, and this thread runs a `PASSIVE` checkpoint
//! every [`EVERY`], which copies frames while the writer goes on committing.
//! A passive checkpoint rarely catches up with a busy writer, and SQLite only
//! starts the WAL over once one has, so past [`RESTART_ABOVE_PAGES`] a
//! `RESTART` checkpoint waits for the writer to finish its transaction, holds
//! off the next one while it copies what the last passive one left (little),
//! and makes the next commit write from the start of the WAL again.

use super::{StoreError, SyncMode};
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};
use tracing::warn;

/// How often the WAL is checkpointed.
pub const EVERY: Duration = Duration::from_millis(100);
/// WAL size, in pages, past which a checkpoint holds the writer off long
/// enough to start the WAL over (64 MiB of 4 KiB pages).
pub const RESTART_ABOVE_PAGES: i64 = 16_384;
/// The thread's name.
pub const THREAD: &str = "gamehub-store-checkpointer";

/// Starts the checkpointer on `path`. It runs until the returned sender
/// (kept by the writer thread) is dropped.
pub(super) fn start(path: &Path, sync: SyncMode) -> Result<SyncSender<()>, StoreError> {
    let conn = Connection::open(path)?;
    // A RESTART waits this long for the writer's transaction to end.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    let (keep, stop) = sync_channel(1);
    std::thread::Builder::new()
        .name(THREAD.into())
        .spawn(move || run(conn, stop))
        .map_err(|e| StoreError::Task(format!("cannot start the checkpointer thread: {e}")))?;
    Ok(keep)
}

fn run(conn: Connection, stop: Receiver<()>) {
    let mut failing = false;
    // Nothing is ever sent: the writer dropping its sender is the signal.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(EVERY) {
        let outcome = checkpoint(&conn, "PASSIVE").and_then(|(log, _)| {
            if log > RESTART_ABOVE_PAGES {
                checkpoint(&conn, "RESTART")?;
            }
            Ok(())
        });
        match outcome {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            Ok(()) => {}
            // Logged once per failing spell; the writer's commits report the fault too.
            Err(e) if !failing => {
                failing = true;
                warn!(cause = %e, "WAL checkpoint failed; the WAL grows until one succeeds");
            }
            Err(_) => {}
        }
    }
}

/// Runs one checkpoint in `mode`; returns the WAL's pages and how many of
/// them are in the database file now.
fn checkpoint(conn: &Connection, mode: &'static str) -> rusqlite::Result<(i64, i64)> {
    let started = Instant::now();
    let (busy, log, done): (bool, i64, i64) =
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    metrics::counter!("gamehub_store_checkpoints_total", "mode" => mode, "busy" => if busy { "yes" } else { "no" })
        .increment(1);
    metrics::histogram!("gamehub_store_checkpoint_seconds", "mode" => mode)
        .record(started.elapsed().as_secs_f64());
    metrics::gauge!("gamehub_store_wal_pages").set(log as f64);
    Ok((log, done))
}
