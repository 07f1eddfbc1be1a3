//! Pruning the journal: dropping the entries that snapshots have made
//! unnecessary, so the database stops growing and recovery reads only what
//! it replays.
//!
//! A room needs its entries after its latest snapshot (to replay them) and
//! `keep` entries before it (their events serve `room:sync` after a
//! restart). Each open room's head in `room_journal_heads` says so in
//! `keep_after` (set when a snapshot is written, see
//! [`super::journal::Appender`]); a room without a head (closed, or
//! finished and past a recount) needs nothing, since a finished room writes
//! a snapshot with each of its entries.
//!
//! Deleting a room's old entries one by one would dirty a page for nearly
//! every row, since rows of all rooms share pages in insertion order. So the
//! writer cuts the journal from its oldest end instead, in ranges of `id`:
//! rows of such a range that are still needed are first copied to the
//! current part (new `id`s), then the range goes. It does so only while the
//! journal holds more than twice the rows its rooms need (plus two parts), so
//! a row is rarely copied, and a little in each commit (twice the commit's
//! own appends, at least [`MIN_STEP`] rows), so no single commit pays for a
//! big cut.

use rusqlite::{Connection, Transaction, params};

/// Rows a pruning step may take even when the commit appended few.
const MIN_STEP: u64 = 256;

/// What one pruning step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pruned {
    /// Rows taken out of the oldest range.
    pub removed: u64,
    /// Of those, rows still needed, copied to the current part first.
    pub carried: u64,
}

/// The pruning policy and what it knows of the journal.
pub(super) struct Pruner {
    /// Rows per part (the slack kept beyond what rooms need).
    part_rows: u64,
    /// Rows the rooms need, as last counted (see [`Pruner::recount`]).
    needed: u64,
}

impl Pruner {
    /// A pruner for parts of `part_rows`; counts what the database's rooms need now.
    pub(super) fn new(conn: &Connection, part_rows: u64) -> rusqlite::Result<Self> {
        let mut pruner = Self {
            part_rows: part_rows.max(1),
            needed: 0,
        };
        pruner.recount(conn)?;
        Ok(pruner)
    }

    /// Drops the heads of rooms that are over (so there are about as many
    /// heads as open rooms; a notice of a finished room starts a new one),
    /// then counts again the rows the rooms need: each head's entries after
    /// its `keep_after`. Two passes over `room_journal_heads` (`CROSS JOIN`
    /// keeps SQLite from walking every room ever created instead), once per part.
    pub(super) fn recount(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "DELETE FROM room_journal_heads WHERE room_id IN (
                 SELECT h.room_id FROM room_journal_heads h
                 CROSS JOIN rooms r ON r.id = h.room_id
                 WHERE r.status IN ('finished', 'closed'))",
        )?
        .execute([])?;
        self.needed = conn
            .prepare_cached(
                "SELECT coalesce(sum(jseq - max(keep_after, 0)), 0) FROM room_journal_heads",
            )?
            .query_row([], |r| r.get::<_, i64>(0))?
            .max(0) as u64;
        Ok(())
    }

    /// Prunes inside `tx` (in a savepoint of its own, so a failure leaves the
    /// rest of the commit) up to twice `appended` of the oldest rows, if the
    /// journal is over its bound; carried rows go to `part`.
    pub(super) fn step(
        &self,
        tx: &mut Transaction<'_>,
        appended: u64,
        part: i64,
    ) -> rusqlite::Result<Pruned> {
        let (lo, hi): (Option<i64>, Option<i64>) = tx
            .prepare_cached(
                "SELECT (SELECT min(id) FROM room_journal), (SELECT max(id) FROM room_journal)",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Pruned::default());
        };
        // Ids are dense: rows are only ever removed from the low end.
        let rows = (hi - lo + 1) as u64;
        let bound = 2 * self.needed + 2 * self.part_rows;
        if rows <= bound {
            return Ok(Pruned::default());
        }
        let take = (rows - bound).min((2 * appended).max(MIN_STEP));
        let end = lo + take as i64;
        let sp = tx.savepoint()?;
        let carried = sp
            .prepare_cached(
                "INSERT INTO room_journal (part, room_id, jseq, entry)
                 SELECT ?3, j.room_id, j.jseq, j.entry FROM room_journal j
                 JOIN room_journal_heads h ON h.room_id = j.room_id
                 WHERE j.id >= ?1 AND j.id < ?2 AND j.jseq > h.keep_after
                 ORDER BY j.id",
            )?
            .execute(params![lo, end, part])?;
        let removed = sp
            .prepare_cached("DELETE FROM room_journal WHERE id >= ?1 AND id < ?2")?
            .execute(params![lo, end])?;
        sp.commit()?;
        Ok(Pruned {
            removed: removed as u64,
            carried: carried as u64,
        })
    }
}
