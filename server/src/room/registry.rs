//! [`Rooms`]: the sharded map from room id to handle, the room limit, and room start-up.

use super::actor::{RoomActor, RoomEnv};
use super::handle::{Posted, RoomHandle, mailbox};
use super::{Fanout, Member};
use super::{RoomId, new_room_id};
use crate::config::Config;
use crate::error::HubError;
use crate::game;
use crate::store::Store;
use dashmap::DashMap;
use protocol::events::{Joined, RoomCreate};
use protocol::{Role, RoomInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::error;

/// Every room this instance hosts.
#[derive(Clone)]
pub struct Rooms {
    inner: Arc<Inner>,
}

struct Inner {
    map: DashMap<RoomId, RoomHandle>,
    /// Rooms open or being opened; kept apart from `map.len()` so the limit holds under races.
    count: AtomicUsize,
    max_rooms: usize,
    mailbox: usize,
    env: RoomEnv,
    tasks: TaskTracker,
    /// Woken when a room opens or closes, so the cluster directory can say so at once.
    changed: Arc<Notify>,
}

impl Rooms {
    /// An empty registry whose rooms broadcast through `fanout`.
    pub fn new(
        config: &Config,
        fanout: Arc<dyn Fanout>,
        store: Store,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let env = RoomEnv {
            fanout,
            store,
            node_id: config.node_id.clone(),
            grace: config.reconnect_grace(),
            linger: config.room_linger(),
            event_log_len: config.event_log_len,
            snapshot_every: config.snapshot_every,
            shutdown,
        };
        Self {
            inner: Arc::new(Inner {
                map: DashMap::new(),
                count: AtomicUsize::new(0),
                max_rooms: config.max_rooms,
                mailbox: config.room_mailbox,
                env,
                tasks,
                changed: Arc::new(Notify::new()),
            }),
        }
    }

    /// The handle of room `id`, or `room_not_found`.
    pub fn get(&self, id: &str) -> Result<RoomHandle, HubError> {
        self.inner
            .map
            .get(id)
            .map(|h| h.clone())
            .ok_or_else(|| HubError::RoomNotFound(id.to_string()))
    }

    /// The handle of room `id`, if it is open.
    pub fn find(&self, id: &str) -> Option<RoomHandle> {
        self.inner.map.get(id).map(|h| h.clone())
    }

    /// Rooms as the lobby shows them, optionally of one game, oldest first.
    pub fn list(&self, game: Option<&str>) -> Vec<RoomInfo> {
        let mut rooms: Vec<RoomInfo> = self
            .inner
            .map
            .iter()
            .map(|entry| entry.value().info())
            .filter(|info| game.is_none_or(|g| info.game == g))
            .collect();
        rooms.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        rooms
    }

    /// How many rooms are open.
    pub fn len(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Whether no room is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a room of `req.game` and seats its creator in seat 0.
    pub async fn create(&self, req: RoomCreate, member: Member) -> Result<Joined, HubError> {
        let game = game::create(&req.game, req.options.as_ref())?;
        self.reserve()?;
        let id = new_room_id();
        let (tx, rx) = mailbox(self.inner.mailbox);
        let handle_game: Arc<str> = req.game.as_str().into();
        let (actor, info) = RoomActor::new(id.clone(), req.game, game, self.inner.env.clone());
        let handle = RoomHandle::new(id.clone(), handle_game, tx, info);
        self.inner.map.insert(id.clone(), handle.clone());
        self.spawn(id, actor, rx);
        let joined = handle.join(member, Role::Player).await;
        self.inner.changed.notify_one();
        joined
    }

    /// Resolves when a room opened or closed since the last call.
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    /// Tells every room that the sockets of instance `node` are gone.
    pub fn node_gone(&self, node: Arc<str>) {
        for entry in self.inner.map.iter() {
            entry.value().node_gone(node.clone());
        }
    }

    /// Reopens this node's unfinished rooms from the database, each with its
    /// seats held for the reconnect grace period. Recovered rooms count
    /// toward `MAX_ROOMS` but are never refused for it. Returns how many.
    pub async fn recover(&self) -> Result<usize, crate::store::StoreError> {
        let env = &self.inner.env;
        let stored = env
            .store
            .load_rooms(env.node_id.clone(), env.event_log_len)
            .await?;
        let mut recovered = 0;
        for room in stored {
            let id = room.id.clone();
            let game: Arc<str> = room.game.as_str().into();
            match RoomActor::restore(room, env.clone()) {
                Ok((actor, info)) => {
                    let id: RoomId = id.as_str().into();
                    let (tx, rx) = mailbox(self.inner.mailbox);
                    self.inner.count.fetch_add(1, Ordering::AcqRel);
                    self.inner
                        .map
                        .insert(id.clone(), RoomHandle::new(id.clone(), game, tx, info));
                    self.spawn(id, actor, rx);
                    recovered += 1;
                }
                Err(e) => {
                    error!(room = %id, cause = %e, "cannot recover the room; it stays in the database")
                }
            }
        }
        Ok(recovered)
    }

    /// Takes one place under `MAX_ROOMS`, or answers `capacity`.
    fn reserve(&self) -> Result<(), HubError> {
        let max = self.inner.max_rooms;
        self.inner
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| HubError::Capacity(max))
    }

    /// Runs the actor, and removes the room when it ends, even by a panic:
    /// one room's crash closes that room and touches no other.
    fn spawn(&self, id: RoomId, actor: RoomActor, rx: mpsc::Receiver<Posted>) {
        let task = self.inner.tasks.spawn(actor.run(rx));
        let this = self.clone();
        self.inner.tasks.spawn(async move {
            if let Err(e) = task.await {
                error!(room = %id, cause = %e, "room task crashed; the room is closed");
            }
            this.inner.map.remove(&id);
            this.inner.count.fetch_sub(1, Ordering::AcqRel);
            this.inner.changed.notify_one();
        });
    }
}
