//! The hub's domain error: one variant per contract error code, with a message a person can act on.

use protocol::{ErrorBody, ErrorCode};

/// Why a request was refused. Each variant maps to one code of the contract.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    /// Malformed payload, unknown field, wrong type.
    #[error("{0}")]
    BadRequest(String),
    /// Missing, forged or expired token.
    #[error("{0}")]
    Unauthorized(String),
    /// No room with that id on this instance.
    #[error("room `{0}` does not exist (it may have finished and closed)")]
    RoomNotFound(String),
    /// Every seat is taken by someone else.
    #[error("every seat of room `{0}` is taken; join as a spectator instead")]
    RoomFull(String),
    /// The caller is not in the room, or not seated where a seat is needed.
    #[error("{0}")]
    NotInRoom(String),
    /// Another seat is to move.
    #[error("it is seat {0}'s turn")]
    NotYourTurn(u8),
    /// Legal shape, illegal move.
    #[error("{0}")]
    InvalidAction(String),
    /// The game has ended.
    #[error("the game is over; create or join another room")]
    GameOver,
    /// Too many requests from this socket, or the room is overloaded.
    #[error("{0}")]
    RateLimited(&'static str),
    /// Payload over `MAX_PAYLOAD_BYTES`.
    #[error("payload of {size} bytes is over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Size received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An HTTP request body over the API's limit.
    #[error("the request body is over the limit of {0} bytes")]
    BodyTooLarge(usize),
    /// `MAX_ROOMS` reached.
    #[error("this server already hosts its limit of {0} rooms; try again later")]
    Capacity(usize),
    /// The owner of the room cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the server; nothing was changed.
    #[error("internal error: {0}")]
    Internal(String),
    /// The answer of the instance that owns the room, passed on as it came.
    #[error("{}", .0.message)]
    Remote(ErrorBody),
}

impl HubError {
    /// The contract's code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            HubError::BadRequest(_) => ErrorCode::BadRequest,
            HubError::Unauthorized(_) => ErrorCode::Unauthorized,
            HubError::RoomNotFound(_) => ErrorCode::RoomNotFound,
            HubError::RoomFull(_) => ErrorCode::RoomFull,
            HubError::NotInRoom(_) => ErrorCode::NotInRoom,
            HubError::NotYourTurn(_) => ErrorCode::NotYourTurn,
            HubError::InvalidAction(_) => ErrorCode::InvalidAction,
            HubError::GameOver => ErrorCode::GameOver,
            HubError::RateLimited(_) => ErrorCode::RateLimited,
            HubError::PayloadTooLarge { .. } | HubError::BodyTooLarge(_) => {
                ErrorCode::PayloadTooLarge
            }
            HubError::Capacity(_) => ErrorCode::Capacity,
            HubError::Unavailable(_) => ErrorCode::Unavailable,
            HubError::Internal(_) => ErrorCode::Internal,
            HubError::Remote(body) => body.code,
        }
    }

    /// The error as it travels in an ack or HTTP body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string())
    }
}

impl From<HubError> for ErrorBody {
    fn from(e: HubError) -> Self {
        e.body()
    }
}
