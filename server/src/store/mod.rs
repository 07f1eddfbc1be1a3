//! SQLite storage: settings (the generated token secret), players' results and the leaderboard.
//!
//! One connection behind a `std::sync::Mutex`, used only inside
//! `spawn_blocking`, so no async task ever waits on SQLite or holds the lock
//! across an await. Writes here are rare (one per finished game). Rooms'
//! moves are not stored yet: a restart loses games in progress (durable
//! rooms are the next step; see docs/architecture.md).

mod migrations;

use crate::game::SeatResult;
use protocol::PlayerRef;
use protocol::http::LeaderboardEntry;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Rating every player starts with.
pub const START_RATING: f64 = 1000.0;
/// Elo K-factor: how far one game moves a rating.
const ELO_K: f64 = 32.0;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought up to date.
    #[error("migrating the database schema: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The blocking task running the query died.
    #[error("storage task failed: {0}")]
    Task(String),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    /// Fails when the file cannot be opened or written, so a bad `DB_PATH`
    /// stops the start with a clear message.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrations().to_latest(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in another query poisoned the lock; the connection itself is still sound.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The setting `key`, or `value` stored as it when there is none yet.
    pub async fn setting_or_insert(
        &self,
        key: &'static str,
        value: String,
    ) -> Result<String, StoreError> {
        self.with_conn(move |c| {
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

    /// Checks that the database answers and takes writes (for `/health/ready`).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES ('health_check', datetime('now'))
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [],
            )?;
            Ok(())
        })
        .await
    }

    /// Records one finished game: each player's result and new rating, in one transaction.
    pub async fn record_result(
        &self,
        game: String,
        seats: Vec<(PlayerRef, SeatResult)>,
    ) -> Result<(), StoreError> {
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let mut ratings = Vec::with_capacity(seats.len());
            for (player, _) in &seats {
                tx.execute(
                    "INSERT INTO players (id, name) VALUES (?1, ?2)
                     ON CONFLICT(id) DO UPDATE SET name = excluded.name",
                    params![player.id, player.name],
                )?;
                let rating: Option<f64> = tx
                    .query_row(
                        "SELECT rating FROM results WHERE game = ?1 AND player_id = ?2",
                        params![game, player.id],
                        |r| r.get(0),
                    )
                    .optional()?;
                ratings.push(rating.unwrap_or(START_RATING));
            }
            let outcomes: Vec<SeatResult> = seats.iter().map(|(_, r)| *r).collect();
            let new_ratings = elo(&ratings, &outcomes);
            for ((player, result), rating) in seats.iter().zip(new_ratings) {
                let (w, l, d) = match result {
                    SeatResult::Win => (1, 0, 0),
                    SeatResult::Loss => (0, 1, 0),
                    SeatResult::Draw => (0, 0, 1),
                };
                tx.execute(
                    "INSERT INTO results (game, player_id, wins, losses, draws, rating)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(game, player_id) DO UPDATE SET
                       wins = wins + excluded.wins, losses = losses + excluded.losses,
                       draws = draws + excluded.draws, rating = excluded.rating",
                    params![game, player.id, w, l, d, rating],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The best `limit` players of `game`, by rating then wins.
    pub async fn leaderboard(
        &self,
        game: String,
        limit: u32,
    ) -> Result<Vec<LeaderboardEntry>, StoreError> {
        self.with_conn(move |c| {
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
}

/// New Elo ratings: each seat is scored against every other seat (win 1, draw ½, loss 0),
/// with K shared over the opponents so a many-seat game moves ratings as much as a duel.
fn elo(ratings: &[f64], outcomes: &[SeatResult]) -> Vec<f64> {
    let n = ratings.len();
    if n < 2 {
        return ratings.to_vec();
    }
    let score = |a: SeatResult, b: SeatResult| match (a, b) {
        (SeatResult::Win, SeatResult::Win)
        | (SeatResult::Loss, SeatResult::Loss)
        | (SeatResult::Draw, _)
        | (_, SeatResult::Draw) => 0.5,
        (SeatResult::Win, SeatResult::Loss) => 1.0,
        (SeatResult::Loss, SeatResult::Win) => 0.0,
    };
    let k = ELO_K / (n - 1) as f64;
    (0..n)
        .map(|i| {
            let delta: f64 = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let expected = 1.0 / (1.0 + 10f64.powf((ratings[j] - ratings[i]) / 400.0));
                    k * (score(outcomes[i], outcomes[j]) - expected)
                })
                .sum();
            ratings[i] + delta
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elo_moves_equal_players_by_half_k() {
        let r = elo(&[1000.0, 1000.0], &[SeatResult::Win, SeatResult::Loss]);
        assert_eq!(r, vec![1016.0, 984.0]);
        let d = elo(&[1000.0, 1000.0], &[SeatResult::Draw, SeatResult::Draw]);
        assert_eq!(d, vec![1000.0, 1000.0]);
    }

    #[tokio::test]
    async fn results_accumulate_into_the_leaderboard() {
        let dir = tempdir();
        let store = Store::open(&dir.join("t.db")).unwrap();
        let a = PlayerRef {
            id: "a".into(),
            name: "alice".into(),
        };
        let b = PlayerRef {
            id: "b".into(),
            name: "bob".into(),
        };
        store
            .record_result(
                "tictactoe".into(),
                vec![(a.clone(), SeatResult::Win), (b.clone(), SeatResult::Loss)],
            )
            .await
            .unwrap();
        store
            .record_result(
                "tictactoe".into(),
                vec![(a.clone(), SeatResult::Draw), (b.clone(), SeatResult::Draw)],
            )
            .await
            .unwrap();
        let top = store.leaderboard("tictactoe".into(), 10).await.unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(
            (top[0].player.name.as_str(), top[0].wins, top[0].draws),
            ("alice", 1, 1)
        );
        assert_eq!(
            (top[1].player.name.as_str(), top[1].losses, top[1].draws),
            ("bob", 1, 1)
        );
        assert!(top[0].rating > 1000.0 && top[1].rating < 1000.0);
        assert!(
            store
                .leaderboard("chess".into(), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_setting_is_kept_once() {
        let dir = tempdir();
        let path = dir.join("t.db");
        let first = Store::open(&path)
            .unwrap()
            .setting_or_insert("k", "one".into())
            .await
            .unwrap();
        let second = Store::open(&path)
            .unwrap()
            .setting_or_insert("k", "two".into())
            .await
            .unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("one", "one"));
    }

    fn tempdir() -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gamehub-store-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
