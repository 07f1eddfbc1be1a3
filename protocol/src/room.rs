//! Room and player descriptions shared by the lobby, acks and events.

use serde::{Deserialize, Serialize};

/// A player as others see them: `{"id", "name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerRef {
    /// Stable player id, from the token.
    pub id: String,
    /// Display name, 1..24 characters.
    pub name: String,
}

/// A seated player as events describe them: `{"id", "name", "seat"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatedPlayer {
    /// Stable player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seat index, from 0.
    pub seat: u8,
}

/// A seated player in [`RoomInfo`]: `{"id", "name", "seat", "connected"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerInfo {
    /// Stable player id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Seat index, from 0.
    pub seat: u8,
    /// Whether at least one of the player's sockets is in the room now.
    pub connected: bool,
}

/// Where a room is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    /// Seats are open; the game has not started.
    Waiting,
    /// The game is on.
    Playing,
    /// The game has ended.
    Finished,
}

impl RoomStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomStatus::Waiting => "waiting",
            RoomStatus::Playing => "playing",
            RoomStatus::Finished => "finished",
        }
    }
}

/// How a client joins a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Take a seat (or get one's own seat back).
    #[default]
    Player,
    /// Watch without a seat.
    Spectator,
}

/// A room as the lobby lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomInfo {
    /// Room id.
    pub id: String,
    /// Game name, e.g. `"tictactoe"`.
    pub game: String,
    /// Where the room is in its life.
    pub status: RoomStatus,
    /// Seated players, by seat.
    pub players: Vec<PlayerInfo>,
    /// How many seats the room has.
    pub max_players: u8,
    /// How many spectator sockets watch the room.
    pub spectators: u32,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: u64,
    /// The `NODE_ID` of the instance that owns the room (an addition to v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}
