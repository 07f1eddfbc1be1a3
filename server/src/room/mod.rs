//! Rooms: one actor task per room owns its game and members; a [`RoomHandle`]
//! is the only way in; the [`Rooms`] registry maps ids to handles.

mod actor;
mod call;
pub mod fanout;
mod handle;
mod registry;

pub use call::{RoomAnswer, RoomCall, unexpected};
pub use fanout::{Fanout, IoFanout, personal_room};
pub use handle::RoomHandle;
pub use registry::Rooms;

use crate::game::Audience;
use std::sync::Arc;

/// A socket in a room, wherever it is connected.
#[derive(Debug, Clone)]
pub struct Member {
    /// The socket's id.
    pub sid: socketioxide::socket::Sid,
    /// The `NODE_ID` of the instance the socket is connected to.
    pub node: Arc<str>,
    /// The player behind the socket.
    pub player: crate::auth::Player,
}

/// A room id: short, random, cheap to clone.
pub type RoomId = Arc<str>;

/// A fresh room id: 12 lowercase hex characters (48 random bits).
fn new_room_id() -> RoomId {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(12);
    id.into()
}

/// Names of the socket.io rooms one game room broadcasts to. Every member is
/// in `all`; each audience (a seat, or the spectators) also has a room of its
/// own, so a per-audience view is serialized once per audience.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    all: String,
    prefix: String,
}

impl Channels {
    fn new(id: &str) -> Self {
        Self {
            all: format!("room:{id}"),
            prefix: format!("room:{id}#"),
        }
    }

    fn audience(&self, audience: Audience) -> String {
        match audience {
            Audience::Seat(s) => format!("{}seat{s}", self.prefix),
            Audience::Spectator => format!("{}spectators", self.prefix),
        }
    }
}
