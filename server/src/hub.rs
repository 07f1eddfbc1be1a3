//! [`Hub`]: the state every handler shares (config, rooms, store, tokens,
//! cluster link, drain flag), and the one way to reach a room from a socket.

use crate::auth::Tokens;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::HubError;
use crate::room::{Member, RoomAnswer, RoomCall, RoomHandle, Rooms};
use crate::store::Store;
use protocol::RoomInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared state of one running hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    rooms: Rooms,
    store: Store,
    tokens: Tokens,
    draining: AtomicBool,
    node: Arc<str>,
    cluster: Option<Cluster>,
}

impl Hub {
    /// Bundles the parts of a running hub.
    pub fn new(
        config: Config,
        rooms: Rooms,
        store: Store,
        tokens: Tokens,
        cluster: Option<Cluster>,
    ) -> Self {
        let node = config.node_id.as_str().into();
        let draining = AtomicBool::new(false);
        Self {
            inner: Arc::new(Inner {
                config,
                rooms,
                store,
                tokens,
                draining,
                node,
                cluster,
            }),
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The rooms this instance owns.
    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Token issuer and verifier.
    pub fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// This instance's `NODE_ID`.
    pub fn node(&self) -> &Arc<str> {
        &self.inner.node
    }

    /// The cluster link, when `REDIS_URL` is set.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.inner.cluster.as_ref()
    }

    /// Serves `call` in room `room`: here when this instance owns it, else
    /// at its owner through the cluster.
    pub async fn call_room(
        &self,
        room: &str,
        member: Member,
        call: RoomCall,
    ) -> Result<RoomAnswer, HubError> {
        self.call_room_found(self.inner.rooms.find(room), room, member, call)
            .await
    }

    /// [`Hub::call_room`] for a caller that has looked `room` up among this
    /// instance's rooms already (`local`), so the hot path looks once.
    pub async fn call_room_found(
        &self,
        local: Option<RoomHandle>,
        room: &str,
        member: Member,
        call: RoomCall,
    ) -> Result<RoomAnswer, HubError> {
        match (local, &self.inner.cluster) {
            (Some(local), _) => local.call(member, call).await,
            // Boxed: forwarding over Redis is a large future, and every event
            // handler's future (moved into a task of its own per event) would
            // otherwise be as large, also on a single node.
            (None, Some(cluster)) => Box::pin(cluster.forward(room, member, call)).await,
            (None, None) => Err(HubError::RoomNotFound(room.to_string())),
        }
    }

    /// The lobby: every open room of every live instance, optionally of one game, oldest first.
    pub fn list_rooms(&self, game: Option<&str>) -> Vec<RoomInfo> {
        let mut rooms = self.inner.rooms.list(game);
        if let Some(cluster) = &self.inner.cluster {
            rooms.extend(cluster.remote_rooms(game));
            rooms.sort_by(|a, b| {
                a.created_at
                    .cmp(&b.created_at)
                    .then_with(|| a.id.cmp(&b.id))
            });
        }
        rooms
    }

    /// Whether the hub is shutting down (not ready, refusing new work).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Marks the hub as shutting down.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }
}
