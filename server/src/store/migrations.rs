//! Versioned schema migrations (rusqlite_migration keeps the version in `user_version`).
//! Append new steps; never edit a step that has shipped.

use rusqlite_migration::{M, Migrations};

/// Every schema step, oldest first.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
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
    )])
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
