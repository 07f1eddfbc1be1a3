//! Versioned schema migrations (rusqlite_migration keeps the version in `user_version`).
//! Append new steps; never edit a step that has shipped.

use rusqlite_migration::{M, Migrations};

/// The migrations to bring a database up to [`latest_version`].
pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(STEPS)
}

/// The schema version this binary migrates to (SQLite's `user_version` after
/// [`migrations`]). A database with a higher one was written by a newer gamehub.
pub fn latest_version() -> u32 {
    STEPS.len() as u32
}

/// Every schema step, oldest first; step `n` (from 1) sets `user_version` to `n`.
const STEPS: &[M<'static>] = &[
        // 1: settings, players and results.
        M::up(
            "CREATE TABLE settings (
             key   TEXT PRIMARY KEY,
             value TEXT NOT NULL
         );
         CREATE TABLE players (
             id   TEXT PRIMARY KEY,
             name TEXT NOT NULL
         );
         CREATE TABLE results (
             game      TEXT NOT NULL,
             player_id TEXT NOT NULL REFERENCES players(id),
             wins      INTEGER NOT NULL DEFAULT 0,
             losses    INTEGER NOT NULL DEFAULT 0,
             draws     INTEGER NOT NULL DEFAULT 0,
             rating    REAL NOT NULL,
             PRIMARY KEY (game, player_id)
         );
         CREATE INDEX results_by_rating ON results (game, rating DESC);",
        ),
        // 2: durable rooms.
        M::up(
            "CREATE TABLE rooms (
                 id         TEXT PRIMARY KEY,
                 game       TEXT NOT NULL,
                 node_id    TEXT NOT NULL,
                 created_at INTEGER NOT NULL,
                 status     TEXT NOT NULL CHECK (status IN ('waiting', 'playing', 'finished', 'closed'))
             );
             CREATE INDEX rooms_open_by_node ON rooms (node_id, status);
             CREATE TABLE room_journal (
                 room_id TEXT NOT NULL REFERENCES rooms(id),
                 jseq    INTEGER NOT NULL,
                 entry   BLOB NOT NULL,
                 PRIMARY KEY (room_id, jseq)
             ) WITHOUT ROWID;
             CREATE TABLE room_snapshots (
                 room_id TEXT PRIMARY KEY REFERENCES rooms(id),
                 jseq    INTEGER NOT NULL,
                 state   BLOB NOT NULL
             );
             CREATE TABLE health_probe (filler BLOB);",
        ),
        // 3: the journal in insertion order. Step 2 keyed it (room_id, jseq),
        // so every room's next entry landed on a leaf page of its own and a
        // commit of N rooms' actions wrote N pages. Now rows are appended in
        // `id` order (a commit fills the last few pages), `part` (a new one
        // every few thousand rows, see `store::journal`) keeps each index
        // insert inside a small recent region, and pruning deletes whole
        // ranges of old ids. `room_journal_heads` holds each open room's last
        // jseq, to refuse a duplicate or out-of-order entry as the old key
        // did, and `keep_after`: its entries up to there are no longer needed
        // (0 until its next snapshot). Existing entries keep their order,
        // numbered by (room_id, jseq).
        M::up(
            "CREATE TABLE room_journal_v3 (
                 id      INTEGER PRIMARY KEY,
                 part    INTEGER NOT NULL,
                 room_id TEXT NOT NULL REFERENCES rooms(id),
                 jseq    INTEGER NOT NULL,
                 entry   BLOB NOT NULL
             );
             INSERT INTO room_journal_v3 (id, part, room_id, jseq, entry)
                 SELECT n, (n - 1) / 4096, room_id, jseq, entry FROM (
                     SELECT row_number() OVER (ORDER BY room_id, jseq) AS n, room_id, jseq, entry
                     FROM room_journal
                 );
             DROP TABLE room_journal;
             ALTER TABLE room_journal_v3 RENAME TO room_journal;
             CREATE INDEX room_journal_by_part ON room_journal (part, room_id, jseq);
             CREATE TABLE room_journal_heads (
                 room_id    TEXT PRIMARY KEY,
                 jseq       INTEGER NOT NULL,
                 keep_after INTEGER NOT NULL DEFAULT 0
             ) WITHOUT ROWID;
             INSERT INTO room_journal_heads (room_id, jseq)
                 SELECT room_id, max(jseq) FROM room_journal GROUP BY room_id;",
        ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    #[test]
    fn latest_version_is_what_a_migrated_database_records() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::migrations().to_latest(&mut conn).unwrap();
        let version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::latest_version());
    }
}
