//! Running several hubs as one: Redis carries socket.io broadcasts (through
//! the socketioxide-redis adapter), a directory of every instance's rooms,
//! requests forwarded to the instance that owns a room, and confirmed
//! membership changes for sockets of other instances.
//!
//! Each instance owns the rooms it creates; their state stays in its actor
//! and its SQLite. Other instances reach a room through [`Cluster::forward`].
//! While Redis is away, [`Cluster::is_up`] is false: `/health/ready` fails,
//! forwarded calls answer `unavailable`, and rooms keep serving this
//! instance's own sockets; everything resumes when Redis comes back.

mod directory;
mod link;
pub mod membership;
mod rpc;

pub use link::{connect_adapter_client, keep_subscribed};

use crate::error::HubError;
use crate::room::{Member, RoomAnswer, RoomCall, Rooms};
use dashmap::DashMap;
use directory::Directory;
use fred::clients::{Client, SubscriberClient};
use protocol::{ErrorBody, RoomInfo};
use socketioxide_redis::RedisAdapterConfig;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Looks at the directory before a room counts as not found, and the pause between them.
const LOOKUPS: u32 = 4;
const LOOKUP_PAUSE: Duration = Duration::from_millis(100);

/// What the cluster needs from the configuration.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `REDIS_URL`.
    pub url: String,
    /// `REDIS_PREFIX`: keys and channels start with it, so clusters can share a Redis.
    pub prefix: String,
    /// `NODE_ID` of this instance.
    pub node: Arc<str>,
    /// How long a directory entry lives without a heartbeat.
    pub directory_ttl: Duration,
    /// How long a forwarded call may take before it answers `unavailable`.
    pub forward_timeout: Duration,
    /// `REDIS_PUBSUB_BUFFER`: messages each subscription holds while this
    /// instance is busy, before it loses some.
    pub pubsub_buffer: usize,
}

/// The socket.io Redis adapter's settings for the cluster of `options`.
pub fn adapter_config(options: &ClusterOptions) -> RedisAdapterConfig {
    RedisAdapterConfig::new()
        .with_prefix(format!("{}-sio", options.prefix))
        // The hub asks the adapter only to confirm membership changes: all
        // their tries fit in a forwarded call's deadline.
        .with_request_timeout(options.forward_timeout / membership::ATTEMPTS)
        // Between fred's subscription and the adapter's reader; beyond it the
        // adapter drops messages ("fred driver dropped a message").
        .with_stream_buffer(options.pubsub_buffer)
}

/// This instance's link to the others; cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    options: ClusterOptions,
    /// Commands: directory reads and writes, publishing requests and replies.
    client: Client,
    /// Subscriptions to this instance's request and reply channels.
    subscriber: SubscriberClient,
    /// Whether Redis answers; shared with the rooms' fanout.
    up: Arc<AtomicBool>,
    /// Forwarded calls waiting for their reply, by id.
    pending: DashMap<u64, oneshot::Sender<Result<RoomAnswer, ErrorBody>>>,
    next_id: AtomicU64,
    directory: RwLock<Directory>,
    /// This instance's rooms, once started: told when another instance is gone.
    rooms: std::sync::OnceLock<Rooms>,
}

impl Cluster {
    /// Connects to Redis (failing when it cannot be reached at start).
    pub async fn connect(options: ClusterOptions) -> anyhow::Result<Self> {
        describe_metrics();
        let (client, subscriber) = link::connect(&options).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                client,
                subscriber,
                up: Arc::new(AtomicBool::new(true)),
                pending: DashMap::new(),
                next_id: AtomicU64::new(1),
                directory: RwLock::new(Directory::default()),
                rooms: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The flag that says whether Redis answers (the rooms' fanout reads it).
    pub fn up_flag(&self) -> Arc<AtomicBool> {
        self.inner.up.clone()
    }

    /// Whether Redis answers now.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// This instance's `NODE_ID`.
    pub fn node(&self) -> &Arc<str> {
        &self.inner.options.node
    }

    /// Starts the background work: serving requests from other instances,
    /// the directory heartbeat, and watching Redis. Stops with `stop`.
    pub async fn start(&self, rooms: Rooms, stop: CancellationToken) -> anyhow::Result<()> {
        let _ = self.inner.rooms.set(rooms.clone()); // started once
        rpc::start(self.clone(), rooms.clone(), stop.clone()).await?;
        directory::start(self.clone(), rooms.clone(), stop.clone());
        link::watch(self.clone(), stop);
        Ok(())
    }

    /// Serves `call` in room `room`, which this instance does not hold, at the instance that owns it.
    pub async fn forward(
        &self,
        room: &str,
        member: Member,
        call: RoomCall,
    ) -> Result<RoomAnswer, HubError> {
        if !self.is_up() {
            return Err(HubError::Unavailable(
                "the cluster link (Redis) is down, so rooms of other servers cannot be reached; retry shortly".into(),
            ));
        }
        let owner = match self.owner_of(room) {
            Some(owner) => owner,
            None => self
                .look_up(room)
                .await
                .ok_or_else(|| HubError::RoomNotFound(room.to_string()))?,
        };
        if *owner == **self.node() {
            return Err(HubError::RoomNotFound(room.to_string()));
        }
        if !self.is_alive(&owner) {
            return Err(HubError::Unavailable(format!(
                "room `{room}` lives on server {owner}, which is not answering; it comes back when that server does"
            )));
        }
        rpc::call(self, &owner, room, member, call).await
    }

    /// Every room of the other live instances, optionally of one game.
    pub fn remote_rooms(&self, game: Option<&str>) -> Vec<RoomInfo> {
        let dir = self
            .inner
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        dir.rooms
            .iter()
            .filter(|r| game.is_none_or(|g| r.game == g))
            .cloned()
            .collect()
    }

    /// The owner of a room newer than our last look at the directory: its
    /// owner announces a new room at once, so a few quick looks find it.
    async fn look_up(&self, room: &str) -> Option<String> {
        for attempt in 0..LOOKUPS {
            if attempt > 0 {
                tokio::time::sleep(LOOKUP_PAUSE).await;
            }
            directory::refresh(self).await;
            if let Some(owner) = self.owner_of(room) {
                return Some(owner);
            }
        }
        None
    }

    fn owner_of(&self, room: &str) -> Option<String> {
        let dir = self
            .inner
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        dir.owners.get(room).cloned()
    }

    fn is_alive(&self, node: &str) -> bool {
        let dir = self
            .inner
            .directory
            .read()
            .unwrap_or_else(|p| p.into_inner());
        dir.alive.contains(node)
    }

    /// The link came back after an outage (Redis may have lost the directory);
    /// the other instances may notice it up to `lag` later than this one.
    fn directory_resumed(&self, lag: std::time::Duration) {
        let mut dir = self
            .inner
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner());
        dir.resumed(lag);
    }

    fn key(&self, parts: &str) -> String {
        format!("{}:{parts}", self.inner.options.prefix)
    }
}

/// The cluster's metrics, at zero from the start.
fn describe_metrics() {
    use metrics::describe_counter;
    describe_counter!(
        "gamehub_cluster_messages_dropped_total",
        "forwarded calls and replies this instance lost because it fell REDIS_PUBSUB_BUFFER behind"
    );
    describe_counter!(
        "gamehub_cluster_forwards_unanswered_total",
        "calls forwarded to another instance and answered unavailable: no answer within FORWARD_TIMEOUT_MS, or not sent"
    );
    describe_counter!(
        "gamehub_cluster_membership_retries_total",
        "membership changes for sockets of other instances sent again because they were not seen done"
    );
    describe_counter!(
        "gamehub_cluster_membership_failures_total",
        "membership changes for sockets of other instances never confirmed (the join answers unavailable)"
    );
    for name in [
        "gamehub_cluster_messages_dropped_total",
        "gamehub_cluster_forwards_unanswered_total",
        "gamehub_cluster_membership_retries_total",
        "gamehub_cluster_membership_failures_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}
