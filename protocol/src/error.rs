//! Error codes of the contract and the error body every failed ack carries.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code the contract defines. Serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed payload, unknown fields, wrong types.
    BadRequest,
    /// Missing, forged or expired token.
    Unauthorized,
    /// No room with that id.
    RoomNotFound,
    /// Every seat of the room is taken.
    RoomFull,
    /// The caller is not in the room (or not seated, for actions).
    NotInRoom,
    /// The caller's seat is not the one to move.
    NotYourTurn,
    /// Legal shape, illegal move.
    InvalidAction,
    /// The game is finished.
    GameOver,
    /// Too many messages from this socket, or the room's mailbox is full.
    RateLimited,
    /// The payload is larger than the configured limit.
    PayloadTooLarge,
    /// The instance hosts as many rooms as it may.
    Capacity,
    /// The instance that owns the room cannot be reached.
    Unavailable,
    /// A fault of the server; nothing was changed.
    Internal,
}

impl ErrorCode {
    /// The wire spelling of the code, e.g. `"room_not_found"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RoomNotFound => "room_not_found",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::NotYourTurn => "not_your_turn",
            ErrorCode::InvalidAction => "invalid_action",
            ErrorCode::GameOver => "game_over",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::Capacity => "capacity",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Every code, in the order of the contract's table.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::RoomNotFound,
        ErrorCode::RoomFull,
        ErrorCode::NotInRoom,
        ErrorCode::NotYourTurn,
        ErrorCode::InvalidAction,
        ErrorCode::GameOver,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Capacity,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"code": CODE, "message": "human text"}`: the body of every error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// A message a person can act on.
    pub message: String,
}

impl ErrorBody {
    /// An error body with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_wire_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }
}
