//! The gamehub wire contract v1 as Rust types.
//!
//! Every payload that crosses the wire (HTTP bodies, socket.io events, acks,
//! game actions, events and views) has a type here, so neither the server nor
//! any client builds JSON by hand. Field names are camelCase on the wire.
//! Requests sent by clients reject unknown fields; answers from the server do
//! not, so clients keep working when the contract grows by addition.
#![warn(missing_docs)]

mod ack;
mod error;
pub mod events;
pub mod games;
pub mod http;
mod room;

pub use ack::{Ack, Empty};
pub use error::{ErrorBody, ErrorCode};
pub use room::{PlayerInfo, PlayerRef, Role, RoomInfo, RoomStatus, SeatedPlayer};

/// Names of the socket.io events of the contract, so no caller spells them by hand.
pub mod event_names {
    /// `lobby:list`: list rooms.
    pub const LOBBY_LIST: &str = "lobby:list";
    /// `room:create`: create a room and take seat 0.
    pub const ROOM_CREATE: &str = "room:create";
    /// `room:join`: join a room as player or spectator.
    pub const ROOM_JOIN: &str = "room:join";
    /// `room:leave`: leave a room.
    pub const ROOM_LEAVE: &str = "room:leave";
    /// `room:action`: play a game action.
    pub const ROOM_ACTION: &str = "room:action";
    /// `room:chat`: client to server, a chat line; server to client, a chat line from someone.
    pub const ROOM_CHAT: &str = "room:chat";
    /// `room:sync`: fetch missed events.
    pub const ROOM_SYNC: &str = "room:sync";
    /// `room:event`: server to client, one room event with its `seq`.
    pub const ROOM_EVENT: &str = "room:event";
    /// `server:draining`: server to client, the instance is shutting down.
    pub const SERVER_DRAINING: &str = "server:draining";
}
