//! The rooms' journal on disk: appending in insertion order, and reading a room back.
//!
//! Rows of `room_journal` get rising `id`s, so a commit's entries fill the
//! table's last pages whatever rooms they belong to. Finding one room's rows
//! goes through the index `(part, room_id, jseq)`: the writer starts a new
//! `part` every `StoreOptions::journal_part_rows` rows, so each commit's index inserts
//! land in the current part's few pages rather than one page per room, and a
//! reader seeks once per part (the table holds a bounded number of parts, see
//! [`super::prune`]). Pruning moves a still-needed row to the current part
//! with a new `id`, so a room's rows are read back sorted by `jseq`, not `id`.

use super::StoreError;
use super::records::{JournalEntry, RoomSnapshot, StoredRoom, decode};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// The writer's side of the journal: appending entries in the current part
/// (and how full it is), and keeping each open room's head.
pub(super) struct Appender {
    part: i64,
    rows: u64,
    /// Rows in a part before the next one starts.
    part_rows: u64,
    /// Entries a room keeps before its latest snapshot.
    keep: u64,
}

impl Appender {
    /// Starts a fresh part after whatever the database holds.
    pub(super) fn open(conn: &Connection, part_rows: u64, keep: u64) -> rusqlite::Result<Self> {
        let last: Option<i64> =
            conn.query_row("SELECT max(part) FROM room_journal", [], |r| r.get(0))?;
        Ok(Self {
            part: last.map_or(0, |p| p + 1),
            rows: 0,
            part_rows: part_rows.max(1),
            keep,
        })
    }

    /// The part rows go to now.
    pub(super) fn part(&self) -> i64 {
        self.part
    }

    /// Appends one entry of `room`, refused (with SQLite's constraint error)
    /// unless `jseq` is past the room's last one.
    pub(super) fn append(
        &self,
        c: &Connection,
        room: &str,
        jseq: u64,
        entry: &[u8],
    ) -> rusqlite::Result<()> {
        let advanced = c
            .prepare_cached(
                "INSERT INTO room_journal_heads (room_id, jseq) VALUES (?1, ?2)
                 ON CONFLICT(room_id) DO UPDATE SET jseq = excluded.jseq
                 WHERE excluded.jseq > room_journal_heads.jseq",
            )?
            .execute(params![room, jseq])?;
        if advanced == 0 {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                Some(format!(
                    "journal entry {jseq} of room {room} is not after the room's last one"
                )),
            ));
        }
        c.prepare_cached(
            "INSERT INTO room_journal (part, room_id, jseq, entry) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![self.part, room, jseq, entry])?;
        Ok(())
    }

    /// A snapshot of `room` at `jseq` was written: its entries up to
    /// `jseq - keep` are no longer needed.
    pub(super) fn snapshot_taken(
        &self,
        c: &Connection,
        room: &str,
        jseq: u64,
    ) -> rusqlite::Result<()> {
        let keep_after = jseq as i64 - self.keep.min(i64::MAX as u64) as i64;
        c.prepare_cached("UPDATE room_journal_heads SET keep_after = ?2 WHERE room_id = ?1")?
            .execute(params![room, keep_after])?;
        Ok(())
    }

    /// `room` closed for good: none of its entries are needed any more.
    pub(super) fn room_closed(&self, c: &Connection, room: &str) -> rusqlite::Result<()> {
        c.prepare_cached("DELETE FROM room_journal_heads WHERE room_id = ?1")?
            .execute([room])?;
        Ok(())
    }

    /// Whether `rows` more fill the current part.
    pub(super) fn fills_part(&self, rows: u64) -> bool {
        self.rows + rows >= self.part_rows
    }

    /// Counts `rows` committed; starts the next part once this one is full.
    pub(super) fn committed(&mut self, rows: u64) {
        self.rows += rows;
        if self.rows >= self.part_rows {
            self.part += 1;
            self.rows = 0;
        }
    }
}

/// One room as stored, read inside one read transaction: its latest
/// snapshot, the journal after it, and up to `log_len` entries before it.
pub(super) fn load_room(
    c: &Connection,
    id: String,
    game: String,
    created_at: u64,
    log_len: usize,
) -> Result<StoredRoom, StoreError> {
    let snapshot = snapshot_of(c, &id)?;
    let from = from_jseq(snapshot.as_ref(), log_len);
    let mut rows = Vec::new();
    let mut next_part = c.prepare_cached("SELECT min(part) FROM room_journal WHERE part > ?1")?;
    let mut in_part = c.prepare_cached(
        "SELECT jseq, entry FROM room_journal WHERE part = ?1 AND room_id = ?2 AND jseq > ?3",
    )?;
    let mut part = i64::MIN;
    while let Some(p) = next_part.query_row([part], |r| r.get::<_, Option<i64>>(0))? {
        let found = in_part.query_map(params![p, id, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in found {
            rows.push(row?);
        }
        part = p;
    }
    assemble(id, game, created_at, snapshot, rows)
}

/// A room to recover: its `rooms` row, its snapshot, where its journal
/// starts, and the rows found so far.
struct Wanted {
    id: String,
    game: String,
    created_at: u64,
    snapshot: Option<RoomSnapshot>,
    from: u64,
    rows: Vec<(u64, Vec<u8>)>,
}

/// Every unfinished room of `node`, read in one pass over the journal
/// (which pruning keeps to about what these rooms need), inside one read
/// transaction. A room whose records cannot be read is logged and left out,
/// so one damaged room does not keep the others from coming back.
pub(super) fn load_rooms(
    c: &Connection,
    node: &str,
    log_len: usize,
) -> Result<Vec<StoredRoom>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT id, game, created_at FROM rooms
         WHERE node_id = ?1 AND status IN ('waiting', 'playing') ORDER BY created_at, id",
    )?;
    let heads = stmt
        .query_map([node], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut wanted = Vec::with_capacity(heads.len());
    for (id, game, created_at) in heads {
        match snapshot_of(c, &id) {
            Ok(snapshot) => wanted.push(Wanted {
                from: from_jseq(snapshot.as_ref(), log_len),
                id,
                game,
                created_at,
                snapshot,
                rows: Vec::new(),
            }),
            Err(e) => unreadable(&id, &e),
        }
    }
    let index: HashMap<String, usize> = wanted
        .iter()
        .enumerate()
        .map(|(i, w)| (w.id.clone(), i))
        .collect();
    if !index.is_empty() {
        let mut scan = c.prepare("SELECT room_id, jseq, entry FROM room_journal")?;
        let mut rows = scan.query([])?;
        while let Some(row) = rows.next()? {
            let room = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let Some(&i) = index.get(room) else {
                continue;
            };
            let jseq: u64 = row.get(1)?;
            if jseq > wanted[i].from {
                wanted[i].rows.push((jseq, row.get(2)?));
            }
        }
    }
    let mut rooms = Vec::with_capacity(wanted.len());
    for w in wanted {
        let id = w.id.clone();
        match assemble(w.id, w.game, w.created_at, w.snapshot, w.rows) {
            Ok(room) => rooms.push(room),
            Err(e) => unreadable(&id, &e),
        }
    }
    Ok(rooms)
}

fn unreadable(room: &str, e: &StoreError) {
    tracing::error!(room = %room, cause = %e, "cannot read the room; it stays in the database");
}

fn snapshot_of(c: &Connection, id: &str) -> Result<Option<RoomSnapshot>, StoreError> {
    c.prepare_cached("SELECT state FROM room_snapshots WHERE room_id = ?1")?
        .query_row([id], |r| r.get::<_, Vec<u8>>(0))
        .optional()?
        .map(|bytes| decode(&bytes))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("snapshot of room {id}: {e}")))
}

/// The last jseq not read back: `log_len` entries before the snapshot.
fn from_jseq(snapshot: Option<&RoomSnapshot>, log_len: usize) -> u64 {
    snapshot
        .map_or(0, |s| s.jseq)
        .saturating_sub(log_len as u64)
}

/// Decodes a room's rows (in any order) into what recovery replays.
fn assemble(
    id: String,
    game: String,
    created_at: u64,
    snapshot: Option<RoomSnapshot>,
    mut rows: Vec<(u64, Vec<u8>)>,
) -> Result<StoredRoom, StoreError> {
    rows.sort_unstable_by_key(|(jseq, _)| *jseq);
    let after = snapshot.as_ref().map_or(0, |s| s.jseq);
    let mut journal = Vec::new();
    let mut earlier_events = Vec::new();
    for (jseq, bytes) in rows {
        let entry: JournalEntry = decode(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("journal {jseq} of room {id}: {e}")))?;
        if jseq <= after {
            earlier_events.extend(entry.events);
        } else {
            journal.push((jseq, entry));
        }
    }
    Ok(StoredRoom {
        id,
        game,
        created_at,
        snapshot,
        journal,
        earlier_events,
    })
}
