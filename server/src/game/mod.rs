//! The game trait the hub drives without knowing any rules, and the catalogue of games.

pub mod tictactoe;

use crate::error::HubError;
use protocol::RoomStatus;
use serde_json::{Map, Value};

/// Who looks at the game: a seat, or a spectator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// The player in this seat.
    Seat(u8),
    /// Anyone without a seat.
    Spectator,
}

impl Audience {
    /// The seat, or `None` for spectators.
    pub fn seat(self) -> Option<u8> {
        match self {
            Audience::Seat(s) => Some(s),
            Audience::Spectator => None,
        }
    }
}

/// One event a game emits. Most events look the same to everybody; a game
/// with hidden information adds per-audience versions (a card shown to its
/// owner, hidden from the rest).
#[derive(Debug, Clone, PartialEq)]
pub struct GameEvent {
    /// What everybody without an override sees.
    pub public: Value,
    /// What a given audience sees instead.
    pub overrides: Vec<(Audience, Value)>,
}

impl GameEvent {
    /// An event everybody sees the same.
    pub fn public(event: impl serde::Serialize) -> Self {
        Self {
            public: to_value(event),
            overrides: Vec::new(),
        }
    }

    /// The version of this event `audience` may see.
    pub fn for_audience(&self, audience: Audience) -> &Value {
        self.overrides
            .iter()
            .find(|(a, _)| *a == audience)
            .map(|(_, v)| v)
            .unwrap_or(&self.public)
    }
}

/// How one finished game ended for each seat, for the leaderboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatResult {
    /// This seat won.
    Win,
    /// This seat lost.
    Loss,
    /// Nobody won.
    Draw,
}

/// The rules of one game. The room actor owns the value and is the only caller,
/// so implementations need no locking. Every method is synchronous and quick:
/// a room runs one call at a time.
pub trait Game: Send + Sync + 'static {
    /// Seats the game has.
    fn max_players(&self) -> u8;

    /// Where the game is.
    fn status(&self) -> RoomStatus;

    /// A player took `seat`; `seated` is how many seats are now taken.
    /// Returns events such as `game_started`.
    fn seated(&mut self, seat: u8, seated: u8) -> Vec<GameEvent>;

    /// The player of `seat` gives up (left during play, or did not return in time).
    fn forfeit(&mut self, seat: u8) -> Vec<GameEvent>;

    /// Validates `action` from `seat` and, only when it is legal, applies it.
    /// An error must leave the game exactly as it was.
    fn apply(&mut self, seat: u8, action: &Value) -> Result<Vec<GameEvent>, HubError>;

    /// What `audience` may see now.
    fn view(&self, audience: Audience) -> Value;

    /// Per-seat results once finished; `None` while not finished.
    fn results(&self) -> Option<Vec<SeatResult>>;

    /// How the room keeps this game on disk.
    fn persistence(&self) -> Persistence {
        Persistence::Journal
    }

    /// The whole game state as bytes (rmp-serde), for snapshots. [`restore`]
    /// with these bytes must give back a game that behaves identically.
    fn snapshot(&self) -> Vec<u8>;
}

/// How a room keeps its game on disk: each game declares its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Turn-based: every accepted change is journaled before it is
    /// acknowledged, and the whole room is snapshotted every `SNAPSHOT_EVERY`
    /// events. Replaying the journal after a snapshot rebuilds the room, so a
    /// game under this policy must be deterministic given its state and inputs
    /// (randomness comes from a seeded generator kept in the state).
    Journal,
    // Real-time games (arena, not yet) will add a policy that snapshots on an
    // interval and at the end instead of journaling each input.
}

/// The games this hub can host, by name.
pub const GAMES: &[&str] = &[protocol::games::tictactoe::NAME];

/// Creates a game by name with its options; unknown names and bad options are `bad_request`.
pub fn create(name: &str, options: Option<&Map<String, Value>>) -> Result<Box<dyn Game>, HubError> {
    match name {
        protocol::games::tictactoe::NAME => Ok(Box::new(tictactoe::TicTacToe::new(options)?)),
        other => Err(HubError::BadRequest(format!(
            "unknown game `{other}`; this server hosts: {}",
            GAMES.join(", ")
        ))),
    }
}

/// Rebuilds a game of `name` from its [`Game::snapshot`] bytes.
pub fn restore(name: &str, bytes: &[u8]) -> Result<Box<dyn Game>, HubError> {
    match name {
        protocol::games::tictactoe::NAME => Ok(Box::new(tictactoe::TicTacToe::restore(bytes)?)),
        other => Err(HubError::Internal(format!(
            "cannot restore unknown game `{other}`"
        ))),
    }
}

/// Decodes a game's snapshot.
pub fn decode_snapshot<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, HubError> {
    rmp_serde::from_slice(bytes)
        .map_err(|e| HubError::Internal(format!("corrupt game snapshot: {e}")))
}

/// Encodes a game's snapshot.
pub fn encode_snapshot(state: &impl serde::Serialize) -> Vec<u8> {
    // Game states are plain data: encoding cannot fail.
    rmp_serde::to_vec_named(state).unwrap_or_default()
}

/// Parses a game's typed action, turning serde's complaint into a `bad_request`.
pub fn parse_action<T: serde::de::DeserializeOwned>(action: &Value) -> Result<T, HubError> {
    T::deserialize(action).map_err(|e| HubError::BadRequest(format!("invalid action: {e}")))
}

/// Serializes a protocol type that cannot fail to serialize (plain structs and enums).
pub fn to_value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
