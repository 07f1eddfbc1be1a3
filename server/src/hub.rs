//! [`Hub`]: the state every handler shares (config, rooms, store, tokens, drain flag).

use crate::auth::Tokens;
use crate::config::Config;
use crate::room::Rooms;
use crate::store::Store;
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
}

impl Hub {
    /// Bundles the parts of a running hub.
    pub fn new(config: Config, rooms: Rooms, store: Store, tokens: Tokens) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                rooms,
                store,
                tokens,
                draining: AtomicBool::new(false),
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

    /// Marks the hub as shutting down.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }
}
