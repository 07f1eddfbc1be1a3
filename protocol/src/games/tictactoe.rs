//! `tictactoe`: two seats, seat 0 first, starts when both seats are taken.

use crate::room::RoomStatus;
use serde::{Deserialize, Serialize};

/// The game's name on the wire.
pub const NAME: &str = "tictactoe";

/// A move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `{"type": "place", "cell": 0..8}`
    Place {
        /// Cell index 0..8, row by row from the top left. Any integer parses, so
        /// that an out-of-range cell is an illegal move (`invalid_action`) rather
        /// than a malformed payload.
        cell: i64,
    },
}

/// Why a game ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Three in a row.
    Line,
    /// Board full, no line.
    Draw,
    /// A player left, or did not come back within the grace period.
    Forfeit,
}

/// Events of the game itself (the room adds `player_*` events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Both seats are taken; seat 0 moves.
    GameStarted,
    /// A mark was placed.
    Placed {
        /// Whose mark.
        seat: u8,
        /// Where.
        cell: u8,
    },
    /// The game ended.
    GameOver {
        /// The winning seat; `null` for a draw.
        winner: Option<u8>,
        /// Why.
        reason: EndReason,
    },
}

/// What every player and spectator sees (tic-tac-toe hides nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Each cell's owner seat, or `null`.
    pub board: [Option<u8>; 9],
    /// The seat to move.
    pub turn: u8,
    /// Where the game is.
    pub status: RoomStatus,
    /// The winning seat, once finished with a winner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes_match_the_contract() {
        let a: Action = serde_json::from_value(json!({"type": "place", "cell": 4})).unwrap();
        assert_eq!(a, Action::Place { cell: 4 });
        assert!(
            serde_json::from_value::<Action>(json!({"type": "place", "cell": 4, "x": 1})).is_err()
        );
        assert_eq!(
            serde_json::to_value(Event::GameOver {
                winner: None,
                reason: EndReason::Draw
            })
            .unwrap(),
            json!({"type": "game_over", "winner": null, "reason": "draw"})
        );
        assert_eq!(
            serde_json::to_value(Event::GameStarted).unwrap(),
            json!({"type": "game_started"})
        );
        let v = View {
            board: [None; 9],
            turn: 0,
            status: RoomStatus::Waiting,
            winner: None,
        };
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            json!({"board": [null,null,null,null,null,null,null,null,null], "turn": 0, "status": "waiting"})
        );
    }
}
