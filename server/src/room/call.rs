//! [`RoomCall`]: one request to a room from one member socket, in a form that
//! can be served here or sent to the instance that owns the room.

use super::{Member, RoomHandle};
use crate::error::HubError;
use protocol::Role;
use protocol::events::{Joined, Synced};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a member asks of a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RoomCall {
    /// `room:join`
    Join {
        /// Player or spectator.
        role: Role,
    },
    /// `room:leave`
    Leave,
    /// `room:action`
    Action {
        /// The game action.
        action: Value,
    },
    /// `room:chat`
    Chat {
        /// The line.
        text: String,
    },
    /// `room:sync`
    Sync {
        /// The last seq the member has.
        since_seq: u64,
    },
    /// The member's socket disconnected.
    SocketGone,
}

/// What a room answers, by call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum RoomAnswer {
    /// To `Join`.
    Joined(Joined),
    /// To `Action`: the seq of the last event it produced.
    Seq {
        /// The seq.
        seq: u64,
    },
    /// To `Sync`.
    Synced(Synced),
    /// To `Leave`, `Chat` and `SocketGone`.
    Done,
}

impl RoomHandle {
    /// Serves `call` from `member` in this (local) room.
    pub async fn call(&self, member: Member, call: RoomCall) -> Result<RoomAnswer, HubError> {
        let sid = member.sid;
        Ok(match call {
            RoomCall::Join { role } => RoomAnswer::Joined(self.join(member, role).await?),
            RoomCall::Leave => {
                self.leave(sid).await?;
                RoomAnswer::Done
            }
            RoomCall::Action { action } => RoomAnswer::Seq {
                seq: self.action(sid, action).await?,
            },
            RoomCall::Chat { text } => {
                self.chat(sid, text).await?;
                RoomAnswer::Done
            }
            RoomCall::Sync { since_seq } => RoomAnswer::Synced(self.sync(sid, since_seq).await?),
            RoomCall::SocketGone => {
                self.socket_gone(sid);
                RoomAnswer::Done
            }
        })
    }
}

/// The answer a caller expected was not the one that came (a bug, or a newer peer).
pub fn unexpected(answer: RoomAnswer) -> HubError {
    HubError::Internal(format!("the room answered with an unexpected {answer:?}"))
}
