//! The room directory: every instance writes its rooms under a key that
//! expires unless refreshed (the heartbeat), and reads everyone else's. It
//! answers "who owns room X", lists the lobby of the whole cluster, and
//! notices instances that stopped answering, whose sockets are then gone.

use super::Cluster;
use crate::room::Rooms;
use fred::prelude::{Expiration, KeysInterface, SetsInterface};
use protocol::RoomInfo;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What this instance knows of the others, as of the last refresh.
#[derive(Default)]
pub(super) struct Directory {
    /// Instances whose entry has not expired.
    pub alive: HashSet<String>,
    /// When each instance's entry was last seen. An instance counts as gone
    /// (its sockets leave our rooms) only when unseen for a whole TTL, so one
    /// empty read (Redis restarted without its data) drops nobody.
    last_seen: HashMap<String, Instant>,
    /// Room id to owning instance. Rooms of instances that stopped answering
    /// stay, so their rooms answer `unavailable` rather than `room_not_found`.
    pub owners: HashMap<String, String>,
    /// Rooms of the other live instances.
    pub rooms: Vec<RoomInfo>,
}

impl Directory {
    /// Notes the instances whose entries were read at `now`, and answers
    /// (and forgets) those unseen for longer than `ttl`.
    fn seen(&mut self, alive: &HashSet<String>, now: Instant, ttl: Duration) -> Vec<String> {
        for node in alive {
            self.last_seen.insert(node.clone(), now);
        }
        let gone: Vec<String> = self
            .last_seen
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(**seen) > ttl)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &gone {
            self.last_seen.remove(node);
        }
        gone
    }

    /// After an outage of the link, every known instance gets a fresh TTL to
    /// announce itself again, starting `lag` from now: another instance's link
    /// may come back that much later than this one's.
    pub fn resumed(&mut self, lag: Duration) {
        self.resumed_at(Instant::now(), lag);
    }

    fn resumed_at(&mut self, now: Instant, lag: Duration) {
        for seen in self.last_seen.values_mut() {
            *seen = now + lag;
        }
    }
}

/// One instance's entry.
#[derive(Serialize, Deserialize)]
struct NodeEntry {
    node: String,
    rooms: Vec<RoomInfo>,
}

/// Heartbeats and refreshes every third of the directory TTL until `stop`.
pub(super) fn start(cluster: Cluster, rooms: Rooms, stop: CancellationToken) {
    let every = cluster.inner.options.directory_ttl / 3;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // A room opened or closed here: tell the others now, not at the next beat.
                _ = rooms.changed() => {}
                _ = stop.cancelled() => break,
            }
            if !cluster.is_up() {
                continue;
            }
            if let Err(e) = publish(&cluster, &rooms).await {
                warn!(cause = %e, "could not publish this instance's rooms to the directory");
            }
            refresh(&cluster).await;
        }
        // Leave the directory at once on a clean stop, rather than at TTL.
        let key = cluster.key(&format!("node:{}", cluster.node()));
        let _: Result<(), _> = cluster.inner.client.del(key).await;
    });
}

async fn publish(cluster: &Cluster, rooms: &Rooms) -> Result<(), fred::error::Error> {
    let node = cluster.node().to_string();
    let entry = NodeEntry {
        node: node.clone(),
        rooms: rooms.list(None),
    };
    let json = serde_json::to_string(&entry).unwrap_or_default();
    let ttl = cluster.inner.options.directory_ttl.as_millis() as i64;
    let client = &cluster.inner.client;
    client
        .set::<(), _, _>(
            cluster.key(&format!("node:{node}")),
            json,
            Some(Expiration::PX(ttl)),
            None,
            false,
        )
        .await?;
    client.sadd::<(), _, _>(cluster.key("nodes"), node).await
}

/// Reads every instance's entry, and tells this instance's rooms about
/// instances that stopped answering since the last refresh.
pub(super) async fn refresh(cluster: &Cluster) {
    let client = &cluster.inner.client;
    let nodes: Vec<String> = match client.smembers(cluster.key("nodes")).await {
        Ok(nodes) => nodes,
        Err(e) => return warn!(cause = %e, "could not read the directory"),
    };
    if nodes.is_empty() {
        return;
    }
    let keys: Vec<String> = nodes
        .iter()
        .map(|n| cluster.key(&format!("node:{n}")))
        .collect();
    let entries: Vec<Option<String>> = match client.mget(keys).await {
        Ok(entries) => entries,
        Err(e) => return warn!(cause = %e, "could not read the directory"),
    };
    let me = cluster.node().to_string();
    let mut alive = HashSet::new();
    let mut owners = HashMap::new();
    let mut remote = Vec::new();
    let mut expired = Vec::new();
    for (node, entry) in nodes.into_iter().zip(entries) {
        match entry.and_then(|json| serde_json::from_str::<NodeEntry>(&json).ok()) {
            Some(entry) => {
                alive.insert(node.clone());
                for room in entry.rooms {
                    owners.insert(room.id.clone(), node.clone());
                    if node != me {
                        remote.push(room);
                    }
                }
            }
            None => expired.push(node),
        }
    }
    let ttl = cluster.inner.options.directory_ttl;
    let gone: Vec<String> = {
        let mut dir = cluster
            .inner
            .directory
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let gone = dir.seen(&alive, Instant::now(), ttl);
        // Keep the owners of rooms on instances that are down.
        for (room, node) in dir.owners.drain() {
            if !alive.contains(&node) {
                owners.entry(room).or_insert(node);
            }
        }
        dir.alive = alive;
        dir.owners = owners;
        dir.rooms = remote;
        gone
    };
    if !expired.is_empty() {
        let _: Result<(), _> = client.srem(cluster.key("nodes"), expired).await;
    }
    if let Some(rooms) = cluster.inner.rooms.get() {
        for node in gone.into_iter().filter(|n| *n != me) {
            info!(node = %node, "an instance stopped answering; its sockets leave our rooms");
            rooms.node_gone(node.as_str().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Directory;
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    const TTL: Duration = Duration::from_secs(2);

    fn set(nodes: &[&str]) -> HashSet<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn an_instance_is_gone_only_when_unseen_for_a_whole_ttl() {
        let mut dir = Directory::default();
        let t0 = Instant::now();
        assert!(dir.seen(&set(&["a", "b"]), t0, TTL).is_empty());
        // An empty read (Redis restarted without its data) drops nobody.
        assert!(dir.seen(&set(&[]), t0 + TTL, TTL).is_empty());
        assert_eq!(
            dir.seen(&set(&["a"]), t0 + TTL + Duration::from_millis(1), TTL),
            ["b"]
        );
        // Once gone, it is not reported again.
        assert!(dir.seen(&set(&["a"]), t0 + 3 * TTL, TTL).is_empty());
    }

    #[test]
    fn after_an_outage_the_others_get_a_ttl_counted_from_when_they_can_be_back() {
        let mut dir = Directory::default();
        let t0 = Instant::now();
        assert!(dir.seen(&set(&["a", "b"]), t0, TTL).is_empty());
        // The link was down for a long time; it is back at t1, and another
        // instance's link may come back up to `lag` later.
        let t1 = t0 + 10 * TTL;
        let lag = Duration::from_millis(2200);
        dir.resumed_at(t1, lag);
        assert!(dir.seen(&set(&["a"]), t1 + TTL, TTL).is_empty());
        assert!(dir.seen(&set(&["a"]), t1 + lag + TTL, TTL).is_empty());
        assert_eq!(
            dir.seen(&set(&["a"]), t1 + lag + TTL + Duration::from_millis(1), TTL),
            ["b"]
        );
    }
}
