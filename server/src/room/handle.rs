//! [`RoomHandle`]: the one way into a room. Each request travels through the
//! room's bounded mailbox and, when it needs an answer, carries a oneshot.

use super::{Member, RoomId};
use crate::error::HubError;
use protocol::events::{Joined, Synced};
use protocol::{Role, RoomInfo};
use serde_json::Value;
use socketioxide::socket::Sid;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// A reply channel.
pub(super) type Reply<T> = oneshot::Sender<Result<T, HubError>>;

/// What a room actor can be asked.
pub(super) enum RoomMsg {
    Join {
        member: Member,
        role: Role,
        reply: Reply<Joined>,
    },
    Leave {
        sid: Sid,
        reply: Reply<()>,
    },
    Action {
        sid: Sid,
        action: Value,
        reply: Reply<u64>,
    },
    Chat {
        sid: Sid,
        text: String,
        reply: Reply<()>,
    },
    Sync {
        sid: Sid,
        since_seq: u64,
        reply: Reply<Synced>,
    },
    /// Every socket of a dead instance is gone (no answer).
    NodeGone {
        node: Arc<str>,
    },
    /// A member socket disconnected (no answer).
    SocketGone {
        sid: Sid,
    },
}

/// A message in a room's mailbox, with when it was posted: the actor records
/// how long it waited (`gamehub_room_mailbox_wait_seconds`).
pub(super) struct Posted {
    pub msg: RoomMsg,
    pub at: Instant,
}

impl Posted {
    fn now(msg: RoomMsg) -> Self {
        Self {
            msg,
            at: Instant::now(),
        }
    }
}

/// A room's bounded mailbox: the handle's end and the actor's end.
pub(super) fn mailbox(len: usize) -> (mpsc::Sender<Posted>, mpsc::Receiver<Posted>) {
    mpsc::channel(len)
}

/// Cheap, cloneable address of one room.
#[derive(Clone)]
pub struct RoomHandle {
    id: RoomId,
    game: Arc<str>,
    tx: mpsc::Sender<Posted>,
    info: watch::Receiver<RoomInfo>,
}

impl RoomHandle {
    pub(super) fn new(
        id: RoomId,
        game: Arc<str>,
        tx: mpsc::Sender<Posted>,
        info: watch::Receiver<RoomInfo>,
    ) -> Self {
        Self { id, game, tx, info }
    }

    /// The room's game name.
    pub fn game(&self) -> &str {
        &self.game
    }

    /// The room's id.
    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The room as the lobby shows it, as of its last change.
    pub fn info(&self) -> RoomInfo {
        self.info.borrow().clone()
    }

    /// Joins `member` as a player or spectator.
    pub async fn join(&self, member: Member, role: Role) -> Result<Joined, HubError> {
        self.request(|reply| RoomMsg::Join {
            member,
            role,
            reply,
        })
        .await
    }

    /// Takes the socket out of the room (a seated player gives up the seat).
    pub async fn leave(&self, sid: Sid) -> Result<(), HubError> {
        self.request(|reply| RoomMsg::Leave { sid, reply }).await
    }

    /// Plays `action` for the seat of `sid`; answers the `seq` of the last event it produced.
    pub async fn action(&self, sid: Sid, action: Value) -> Result<u64, HubError> {
        self.request(|reply| RoomMsg::Action { sid, action, reply })
            .await
    }

    /// Sends a chat line to everyone in the room.
    pub async fn chat(&self, sid: Sid, text: String) -> Result<(), HubError> {
        self.request(|reply| RoomMsg::Chat { sid, text, reply })
            .await
    }

    /// Events after `since_seq`, or the whole view when the gap is too old.
    pub async fn sync(&self, sid: Sid, since_seq: u64) -> Result<Synced, HubError> {
        self.request(|reply| RoomMsg::Sync {
            sid,
            since_seq,
            reply,
        })
        .await
    }

    /// Tells the room a member socket is gone. This must not be lost, so when
    /// the mailbox is full it waits for room in a task of its own.
    pub fn socket_gone(&self, sid: Sid) {
        self.tell(RoomMsg::SocketGone { sid });
    }

    /// Sends a message that must not be lost: when the mailbox is full it
    /// waits for room in a task of its own.
    fn tell(&self, msg: RoomMsg) {
        if let Err(mpsc::error::TrySendError::Full(msg)) = self.tx.try_send(Posted::now(msg)) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(msg).await; // the room closed meanwhile: nothing to tell
            });
        }
    }

    /// Tells the room every socket of instance `node` is gone.
    pub fn node_gone(&self, node: Arc<str>) {
        self.tell(RoomMsg::NodeGone { node });
    }

    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> RoomMsg) -> Result<T, HubError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Posted::now(make(reply)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    metrics::counter!("gamehub_mailbox_full_total").increment(1);
                    HubError::RateLimited("the room is busy; retry in a moment")
                }
                mpsc::error::TrySendError::Closed(_) => HubError::RoomNotFound(self.id.to_string()),
            })?;
        answer.await.map_err(|_| {
            HubError::Internal(format!(
                "room `{}` stopped while handling the request",
                self.id
            ))
        })?
    }
}
