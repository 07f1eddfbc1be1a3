//! Bodies of the HTTP API under `/api/v1`.

use crate::error::ErrorBody;
use crate::room::{PlayerRef, RoomInfo};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/auth/guest` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestAuthRequest {
    /// Display name: 1..24 characters after trimming, no control characters.
    pub name: String,
}

/// `POST /api/v1/auth/guest` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestAuthResponse {
    /// Signed token to pass as `auth: { token }` when connecting.
    pub token: String,
    /// The player the token names.
    pub player: PlayerRef,
}

/// `GET /api/v1/rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomsResponse {
    /// Every listed room.
    pub rooms: Vec<RoomInfo>,
}

/// One row of the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The player.
    pub player: PlayerRef,
    /// Games won.
    pub wins: u32,
    /// Games lost.
    pub losses: u32,
    /// Games drawn.
    pub draws: u32,
    /// Elo rating, starting at 1000.
    pub rating: f64,
}

/// `GET /api/v1/leaderboard` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardResponse {
    /// Best first.
    pub entries: Vec<LeaderboardEntry>,
}

/// Body of every HTTP error: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// What went wrong.
    pub error: ErrorBody,
}
