//! [`Fanout`]: a room's one way out. It broadcasts to socket.io rooms and moves
//! member sockets in and out of them, on this instance or, through the
//! adapter, on any other, so the room actor never needs a socket handle.

use futures_util::future::BoxFuture;
use protocol::events::{ChatLine, RoomEvent};
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The name of the socket.io room every socket joins alone at connect, so a
/// room on any instance can address it: `sid:<sid>`.
pub fn personal_room(sid: Sid) -> String {
    format!("sid:{sid}")
}

/// What a room sends.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outgoing<'a> {
    /// `room:event`
    Event(&'a RoomEvent),
    /// `room:chat`
    Chat(&'a ChatLine),
}

/// Broadcasting and membership for room actors.
pub trait Fanout: Send + Sync + 'static {
    /// Emits `event` once to every socket in `to` but not in `except`, on every instance.
    fn emit<'a>(
        &'a self,
        to: String,
        except: Vec<String>,
        event: &'static str,
        payload: Outgoing<'a>,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Puts socket `sid` (on any instance) into `channels`.
    fn join(&self, sid: Sid, channels: Vec<String>) -> BoxFuture<'_, Result<(), String>>;

    /// Takes socket `sid` (on any instance) out of `channels`.
    fn leave(&self, sid: Sid, channels: Vec<String>) -> BoxFuture<'_, Result<(), String>>;

    /// Takes every socket in `within` out of `channels`.
    fn leave_all(&self, within: String, channels: Vec<String>)
    -> BoxFuture<'_, Result<(), String>>;
}

/// [`Fanout`] over a socketioxide handle. With a cluster adapter, `cluster_up`
/// says whether the other instances can be reached; while they cannot, events
/// still reach this instance's sockets instead of failing for everyone.
pub struct IoFanout<A: Adapter> {
    io: SocketIo<A>,
    cluster_up: Arc<AtomicBool>,
}

impl<A: Adapter> IoFanout<A> {
    /// A fanout through `io`; `cluster_up` is shared with whatever watches the cluster link.
    pub fn new(io: SocketIo<A>, cluster_up: Arc<AtomicBool>) -> Self {
        Self { io, cluster_up }
    }
}

impl<A: Adapter> Fanout for IoFanout<A> {
    fn emit<'a>(
        &'a self,
        to: String,
        except: Vec<String>,
        event: &'static str,
        payload: Outgoing<'a>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if self.cluster_up.load(Ordering::Acquire) {
                let everywhere = self
                    .io
                    .to(to.clone())
                    .except(except.clone())
                    .emit(event, &payload)
                    .await;
                if everywhere.is_ok() {
                    return Ok(());
                }
            }
            // The cluster link is down (or just failed before anything was sent):
            // this instance's sockets still get the event; others sync on return.
            self.io
                .local()
                .to(to)
                .except(except)
                .emit(event, &payload)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn join(&self, sid: Sid, channels: Vec<String>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.io
                .to(personal_room(sid))
                .join(channels)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn leave(&self, sid: Sid, channels: Vec<String>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.io
                .to(personal_room(sid))
                .leave(channels)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn leave_all(
        &self,
        within: String,
        channels: Vec<String>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.io
                .within(within)
                .leave(channels)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
