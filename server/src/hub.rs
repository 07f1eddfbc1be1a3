//! [`Hub`]: the state every handler shares (config, rooms, store, tokens, drain flag).

use crate::auth::Tokens;
use crate::config::Config;
use crate::error::HubError;
use crate::room::{Member, RoomAnswer, RoomCall, Rooms};
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
}

impl Hub {
    /// Bundles the parts of a running hub.
    pub fn new(config: Config, rooms: Rooms, store: Store, tokens: Tokens) -> Self {
        let node = config.node_id.as_str().into();
        Self {
            inner: Arc::new(Inner {
                config,
                rooms,
                store,
                tokens,
                draining: AtomicBool::new(false),
                node,
            }),
        }
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The room registry.
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

    /// Whether the hub is shutting down (not ready, refusing new work).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// This instance's `NODE_ID`.
    pub fn node(&self) -> &Arc<str> {
        &self.inner.node
    }

    /// Serves `call` in room `room`: here when this instance owns it.
    pub async fn call_room(
        &self,
        room: &str,
        member: Member,
        call: RoomCall,
    ) -> Result<RoomAnswer, HubError> {
        self.inner.rooms.get(room)?.call(member, call).await
    }

    /// The lobby: every open room, optionally of one game.
    pub async fn list_rooms(&self, game: Option<&str>) -> Vec<RoomInfo> {
        self.inner.rooms.list(game)
    }

    /// Marks the hub as shutting down.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }
}
