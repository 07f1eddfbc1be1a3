//! The one writer thread: takes writes from a bounded channel, commits as many
//! as are waiting in one transaction (group commit), and answers each writer
//! once its batch is committed. One write that is refused is rolled back
//! alone (the batch goes again with a savepoint per write); a commit that
//! fails fails its whole batch. Each commit also prunes a little of the
//! journal's oldest end when it is due ([`super::prune`]).

use super::StoreError;
use super::journal::Appender;
use super::prune::Pruner;
use super::rating::{START_RATING, elo};
use crate::game::SeatResult;
use protocol::PlayerRef;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

/// One change to the database.
#[derive(Debug)]
pub enum WriteOp {
    /// A new room.
    CreateRoom {
        /// Room id.
        id: String,
        /// Game name.
        game: String,
        /// Owning instance.
        node: String,
        /// ms since the epoch.
        created_at: u64,
    },
    /// One journal record of a room (msgpack [`super::JournalEntry`]).
    Journal {
        /// Room id.
        room: String,
        /// Position in the room's journal, from 1.
        jseq: u64,
        /// Encoded entry.
        entry: Vec<u8>,
    },
    /// The room's latest snapshot (msgpack [`super::RoomSnapshot`]).
    Snapshot {
        /// Room id.
        room: String,
        /// The last journal entry it includes.
        jseq: u64,
        /// Encoded snapshot.
        state: Vec<u8>,
    },
    /// The room's status: `waiting`, `playing`, `finished`, or `closed` (gone, not to recover).
    RoomStatus {
        /// Room id.
        room: String,
        /// New status.
        status: &'static str,
    },
    /// A finished game's results for the leaderboard.
    Result {
        /// Game name.
        game: String,
        /// Each seated player's result.
        seats: Vec<(PlayerRef, SeatResult)>,
    },
    /// Grows the database by 64 KiB and shrinks it back: proves writes still fit.
    Probe,
}

/// A group of ops that commit together, and whom to tell.
pub(super) struct Write {
    pub ops: Vec<WriteOp>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// The writer thread's connection and what it keeps between commits.
pub(super) struct Writer {
    pub conn: Connection,
    pub appender: Appender,
    pub pruner: Pruner,
    pub max_batch: usize,
    pub healthy: Arc<AtomicBool>,
    /// Dropped with the writer, which stops the checkpointer thread.
    pub _checkpointer: Option<SyncSender<()>>,
}

impl Writer {
    /// Runs the writer until every sender is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Write>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            // Woken by a lone write: give the CPU back once before taking the
            // batch. Where the writer shares a core with the rooms (one core
            // for the whole hub), they go on and queue more writes for the
            // same commit instead of one commit each (W3 at 10k moves/s:
            // ~30 writes per commit instead of ~3, ~15 % less CPU per move).
            // With a core of its own, nothing else is waiting and this
            // returns at once.
            if rx.is_empty() {
                std::thread::yield_now();
            }
            while batch.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            let started = Instant::now();
            let size = batch.len();
            let outcome = self.commit(&batch);
            // Health is known before anyone hears back, so a caller that checks
            // readiness right after a failed write sees the failure.
            let ok = match &outcome {
                Ok(outcomes) => outcomes
                    .iter()
                    .all(|o| o.as_ref().map_or_else(|e| !is_storage_fault(e), |_| true)),
                Err(_) => false,
            };
            self.healthy.store(ok, Ordering::Release);
            answer(&mut batch, outcome);
            metrics::histogram!("gamehub_store_batch_size").record(size as f64);
            metrics::histogram!("gamehub_store_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            if !ok {
                metrics::counter!("gamehub_store_commit_failures_total").increment(1);
            }
        }
    }

    /// Commits `batch` in one transaction, then a pruning step. A write that
    /// is refused is rolled back alone and the others commit. `Err` when the
    /// transaction itself failed, and with it every write of the batch.
    fn commit(&mut self, batch: &[Write]) -> rusqlite::Result<Vec<rusqlite::Result<()>>> {
        let mut tx = self.conn.transaction()?;
        // Writes are almost never refused, so the batch first goes in as one
        // piece. If one is refused, all is rolled back and the batch goes
        // again with each write in a savepoint of its own: a savepoint costs
        // a copy of every page its write touches first.
        let whole = batch
            .iter()
            .try_for_each(|write| apply_all(&tx, &self.appender, &write.ops));
        let outcomes: Vec<rusqlite::Result<()>> = match whole {
            Ok(()) => batch.iter().map(|_| Ok(())).collect(),
            Err(_) => {
                tx.rollback()?;
                tx = self.conn.transaction()?;
                batch
                    .iter()
                    .map(|write| apply_alone(&mut tx, &self.appender, &write.ops))
                    .collect()
            }
        };
        let appended = batch
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(write, _)| journal_rows(&write.ops))
            .sum();
        if self.appender.fills_part(appended)
            && let Err(e) = self.pruner.recount(&tx)
        {
            warn!(cause = %e, "cannot count the journal rows rooms need; pruning goes by the last count");
        }
        let pruned = self.pruner.step(&mut tx, appended, self.appender.part());
        tx.commit()?;
        self.appender.committed(appended);
        match pruned {
            Ok(p) if p.removed > 0 => {
                metrics::counter!("gamehub_store_journal_pruned_total").increment(p.removed);
                metrics::counter!("gamehub_store_journal_carried_total").increment(p.carried);
            }
            Ok(_) => {}
            // Only the pruning step was rolled back; it is tried again at the next commit.
            Err(e) => warn!(cause = %e, "pruning the journal failed"),
        }
        Ok(outcomes)
    }
}

fn journal_rows(ops: &[WriteOp]) -> u64 {
    ops.iter()
        .filter(|op| matches!(op, WriteOp::Journal { .. }))
        .count() as u64
}

/// Tells every writer of the batch how its write went.
fn answer(batch: &mut Vec<Write>, outcome: rusqlite::Result<Vec<rusqlite::Result<()>>>) {
    match outcome {
        Ok(outcomes) => {
            for (write, outcome) in batch.drain(..).zip(outcomes) {
                let outcome = outcome.map_err(|e| {
                    warn!(cause = %e, "a write was refused and rolled back");
                    StoreError::Write(e.to_string())
                });
                let _ = write.done.send(outcome); // the writer went away: nothing to tell
            }
        }
        Err(e) => {
            error!(cause = %e, writes = batch.len(), "commit failed; nothing in this batch was stored");
            for write in batch.drain(..) {
                let _ = write.done.send(Err(StoreError::Write(e.to_string()))); // the writer went away
            }
        }
    }
}

/// Whether an error says the storage itself failed, rather than one write being wrong.
fn is_storage_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::SystemIoFailure
                | C::ReadOnly
                | C::CannotOpen
                | C::DatabaseCorrupt
                | C::NotADatabase
        )
    )
}

/// Applies one write's ops; on an error some may have been applied.
fn apply_all(c: &Connection, appender: &Appender, ops: &[WriteOp]) -> rusqlite::Result<()> {
    ops.iter().try_for_each(|op| apply(c, appender, op))
}

/// Applies one write inside its own savepoint, so its failure leaves the rest of the batch.
fn apply_alone(
    tx: &mut Transaction<'_>,
    appender: &Appender,
    ops: &[WriteOp],
) -> rusqlite::Result<()> {
    let sp = tx.savepoint()?;
    apply_all(&sp, appender, ops)?; // dropping `sp` unreleased rolls it back
    sp.commit()
}

fn apply(c: &Connection, appender: &Appender, op: &WriteOp) -> rusqlite::Result<()> {
    match op {
        WriteOp::CreateRoom {
            id,
            game,
            node,
            created_at,
        } => {
            c.prepare_cached(
                "INSERT INTO rooms (id, game, node_id, created_at, status) VALUES (?1, ?2, ?3, ?4, 'waiting')",
            )?
            .execute(params![id, game, node, created_at])?;
        }
        WriteOp::Journal { room, jseq, entry } => appender.append(c, room, *jseq, entry)?,
        WriteOp::Snapshot { room, jseq, state } => {
            c.prepare_cached(
                "INSERT INTO room_snapshots (room_id, jseq, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT(room_id) DO UPDATE SET jseq = excluded.jseq, state = excluded.state",
            )?
            .execute(params![room, jseq, state])?;
            appender.snapshot_taken(c, room, *jseq)?;
        }
        WriteOp::RoomStatus { room, status } => {
            c.prepare_cached("UPDATE rooms SET status = ?2 WHERE id = ?1")?
                .execute(params![room, status])?;
            if *status == "closed" {
                appender.room_closed(c, room)?;
            }
        }
        WriteOp::Result { game, seats } => record_result(c, game, seats)?,
        WriteOp::Probe => {
            c.execute(
                "INSERT INTO health_probe (filler) VALUES (zeroblob(65536))",
                [],
            )?;
            c.execute("DELETE FROM health_probe", [])?;
        }
    }
    Ok(())
}

fn record_result(
    c: &Connection,
    game: &str,
    seats: &[(PlayerRef, SeatResult)],
) -> rusqlite::Result<()> {
    let mut ratings = Vec::with_capacity(seats.len());
    for (player, _) in seats {
        c.prepare_cached(
            "INSERT INTO players (id, name) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET name = excluded.name",
        )?
        .execute(params![player.id, player.name])?;
        let rating: Option<f64> = c
            .prepare_cached("SELECT rating FROM results WHERE game = ?1 AND player_id = ?2")?
            .query_row(params![game, player.id], |r| r.get(0))
            .optional()?;
        ratings.push(rating.unwrap_or(START_RATING));
    }
    let outcomes: Vec<SeatResult> = seats.iter().map(|(_, r)| *r).collect();
    for ((player, result), rating) in seats.iter().zip(elo(&ratings, &outcomes)) {
        let (w, l, d) = match result {
            SeatResult::Win => (1, 0, 0),
            SeatResult::Loss => (0, 1, 0),
            SeatResult::Draw => (0, 0, 1),
        };
        c.prepare_cached(
            "INSERT INTO results (game, player_id, wins, losses, draws, rating)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(game, player_id) DO UPDATE SET
               wins = wins + excluded.wins, losses = losses + excluded.losses,
               draws = draws + excluded.draws, rating = excluded.rating",
        )?
        .execute(params![game, player.id, w, l, d, rating])?;
    }
    Ok(())
}
