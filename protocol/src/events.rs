//! socket.io event payloads: client requests, their ok bodies, and server pushes.

use crate::room::{PlayerRef, Role, RoomInfo, SeatedPlayer};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- requests

/// `lobby:list` payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LobbyList {
    /// Only rooms of this game.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game: Option<String>,
}

/// `room:create` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomCreate {
    /// Game name, e.g. `"tictactoe"`.
    pub game: String,
    /// Game options; each game documents its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `room:join` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoomJoin {
    /// Room id.
    pub room_id: String,
    /// `"player"` (default) or `"spectator"`.
    #[serde(default)]
    pub role: Role,
}

/// `room:leave` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoomLeave {
    /// Room id.
    pub room_id: String,
}

/// `room:action` payload. The action's shape belongs to the room's game.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoomAction {
    /// Room id.
    pub room_id: String,
    /// `{"type": string, ...}`, as the game defines.
    pub action: serde_json::Value,
}

/// `room:chat` payload (client to server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoomChat {
    /// Room id.
    pub room_id: String,
    /// 1..500 characters.
    pub text: String,
}

/// `room:sync` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoomSync {
    /// Room id.
    pub room_id: String,
    /// The last `seq` the client has; it gets every event after it.
    pub since_seq: u64,
}

// ---------------------------------------------------------------- ok bodies

/// Ok body of `lobby:list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomList {
    /// Listed rooms.
    pub rooms: Vec<RoomInfo>,
}

/// Ok body of `room:create` and `room:join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    /// The room as it is after the join.
    pub room: RoomInfo,
    /// The caller's seat; `null` for a spectator.
    pub seat: Option<u8>,
    /// `seq` of the room's latest event; the next `room:event` has `seq + 1`.
    pub seq: u64,
    /// What this caller may see of the game.
    pub state: serde_json::Value,
}

/// Ok body of `room:action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDone {
    /// `seq` of the (last) event the action produced.
    pub seq: u64,
}

/// Ok body of `room:sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Synced {
    /// Every event after `sinceSeq`, in order.
    Events {
        /// The missed events.
        events: Vec<RoomEvent>,
    },
    /// The gap is older than the room keeps: the whole current view instead.
    Snapshot {
        /// `seq` the state is at.
        seq: u64,
        /// The caller's view at `seq`.
        state: serde_json::Value,
    },
}

// ---------------------------------------------------------------- pushes

/// `room:event`: one event of a room, with its `seq` (rising by exactly 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomEvent {
    /// Room id.
    pub room_id: String,
    /// Position in the room's event stream, from 1.
    pub seq: u64,
    /// `{"type": ..., ...}`: a [`LifecycleEvent`] or a game's own event.
    pub event: serde_json::Value,
}

/// [`RoomEvent`] borrowed: the same JSON, for a sender that keeps its events
/// and would otherwise copy each one (and the room id) for every broadcast.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomEventRef<'a> {
    /// Room id.
    pub room_id: &'a str,
    /// Position in the room's event stream, from 1.
    pub seq: u64,
    /// `{"type": ..., ...}`: a [`LifecycleEvent`] or a game's own event.
    pub event: &'a serde_json::Value,
}

/// `room:chat` (server to client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    /// Room id.
    pub room_id: String,
    /// Who wrote it.
    pub from: PlayerRef,
    /// The text.
    pub text: String,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
}

/// `server:draining`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Draining {
    /// Reconnect after this delay.
    pub retry_in_ms: u64,
}

/// Events every room emits, whatever its game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// A player took a seat.
    PlayerJoined {
        /// Who, and where.
        player: SeatedPlayer,
    },
    /// A player gave up a seat before the game started (an addition to v1).
    PlayerLeft {
        /// The freed seat.
        seat: u8,
    },
    /// The last socket of a seated player left; the seat is held for the grace period.
    PlayerDisconnected {
        /// The seat.
        seat: u8,
    },
    /// A disconnected player is back.
    PlayerReconnected {
        /// The seat.
        seat: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::{RoomEvent, RoomEventRef};
    use serde_json::json;

    /// The borrowed form is only a cheaper way to send the same `room:event`.
    #[test]
    fn room_event_ref_serializes_as_room_event() {
        let event = json!({"type": "placed", "seat": 1, "cell": 4, "mark": "O"});
        let owned = RoomEvent {
            room_id: "a1b2c3d4e5f6".into(),
            seq: 42,
            event: event.clone(),
        };
        let borrowed = RoomEventRef {
            room_id: "a1b2c3d4e5f6",
            seq: 42,
            event: &event,
        };
        let sent = serde_json::to_string(&borrowed).unwrap();
        assert_eq!(sent, serde_json::to_string(&owned).unwrap());
        assert_eq!(serde_json::from_str::<RoomEvent>(&sent).unwrap(), owned);
    }
}
