//! [`Fanout`]: a room's one way out. It broadcasts to socket.io rooms and moves
//! member sockets in and out of them, on this instance or, through the
//! adapter, on any other, so the room actor never needs a socket handle.

use crate::cluster::membership;
use futures_util::future::BoxFuture;
use protocol::events::{ChatLine, RoomEventRef};
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SocketIo};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The name of the socket.io room every socket of a cluster joins alone at
/// connect, so that a room on another instance can address it: `sid:<sid>`.
pub fn personal_room(sid: Sid) -> String {
    format!("sid:{sid}")
}

/// What a room sends.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outgoing<'a> {
    /// `room:event`
    Event(&'a RoomEventRef<'a>),
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

    /// Puts socket `sid`, connected to instance `node`, into `channels`.
    fn join<'a>(
        &'a self,
        sid: Sid,
        node: &'a str,
        channels: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Takes socket `sid`, connected to instance `node`, out of `channels`.
    fn leave<'a>(
        &'a self,
        sid: Sid,
        node: &'a str,
        channels: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// Takes every socket in `within` out of `channels`.
    fn leave_all(&self, within: String, channels: Vec<String>)
    -> BoxFuture<'_, Result<(), String>>;
}

/// [`Fanout`] over a socketioxide handle. With a cluster adapter, `cluster_up`
/// says whether the other instances can be reached; while they cannot, rooms
/// still reach this instance's sockets instead of failing for everyone (the
/// adapter asks the other instances first and gives up before acting locally).
pub struct IoFanout<A: Adapter> {
    io: SocketIo<A>,
    /// This instance's `NODE_ID`: its own sockets are handled without the cluster.
    node: Arc<str>,
    cluster_up: Arc<AtomicBool>,
}

impl<A: Adapter> IoFanout<A> {
    /// A fanout through `io` on instance `node`; `cluster_up` is shared with
    /// whatever watches the cluster link (always true for a single instance).
    pub fn new(io: SocketIo<A>, node: Arc<str>, cluster_up: Arc<AtomicBool>) -> Self {
        Self {
            io,
            node,
            cluster_up,
        }
    }

    fn everywhere(&self) -> bool {
        self.cluster_up.load(Ordering::Acquire)
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
            if self.everywhere() {
                let sent = self
                    .io
                    .to(to.clone())
                    .except(except.clone())
                    .emit(event, &payload)
                    .await;
                match sent {
                    // Only an adapter error means nothing was sent here yet; a
                    // socket that could not take the packet (closing, buffer
                    // full) was skipped and the others have it already.
                    Err(BroadcastError::Adapter(_)) => {}
                    other => return other.map_err(|e| e.to_string()),
                }
            }
            // The cluster link is down (or failed before anything was sent):
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

    fn join<'a>(
        &'a self,
        sid: Sid,
        node: &'a str,
        channels: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if node != &*self.node {
                // Confirmed by the socket's instance, or an error: a join
                // must not be answered `ok` without its broadcasts.
                return membership::join(&self.io, sid, channels)
                    .await
                    .map_err(|e| e.to_string());
            }
            // This instance's own socket, directly (already gone: nothing to do).
            if let Some(socket) = self.io.get_socket(sid) {
                socket.join(channels);
            }
            Ok(())
        })
    }

    fn leave<'a>(
        &'a self,
        sid: Sid,
        node: &'a str,
        channels: Vec<String>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if node != &*self.node {
                return membership::leave(&self.io, sid, channels)
                    .await
                    .map_err(|e| e.to_string());
            }
            // This instance's own socket, directly (already gone: nothing to do).
            if let Some(socket) = self.io.get_socket(sid) {
                socket.leave(channels);
            }
            Ok(())
        })
    }

    fn leave_all(
        &self,
        within: String,
        channels: Vec<String>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.everywhere()
                && self
                    .io
                    .within(within.clone())
                    .leave(channels.clone())
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            self.io
                .local()
                .within(within)
                .leave(channels)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
