//! Requests to the instance that owns a room, and their answers, over Redis
//! pub/sub: each instance listens on `<prefix>:rpc:<node>` for requests and on
//! `<prefix>:reply:<node>` for the replies to its own.

use super::Cluster;
use crate::auth::unix_now;
use crate::error::HubError;
use crate::room::{Member, RoomAnswer, RoomCall, Rooms};
use fred::prelude::{EventInterface, PubsubInterface};
use protocol::{ErrorBody, PlayerRef};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::warn;

#[derive(Serialize, Deserialize)]
struct Request {
    id: u64,
    /// The asking instance, where the reply goes.
    from: String,
    room: String,
    /// The member socket and its player.
    sid: String,
    player: PlayerRef,
    call: RoomCall,
    /// When the caller stops waiting (ms since the epoch). A request that
    /// arrives later is dropped unserved: the caller has already answered
    /// `unavailable`, and a request held back by a reconnecting client must
    /// not be played seconds after its player was told it failed.
    expires_at: u64,
}

#[derive(Serialize, Deserialize)]
struct Reply {
    id: u64,
    result: Result<RoomAnswer, ErrorBody>,
}

fn requests(cluster: &Cluster, node: &str) -> String {
    cluster.key(&format!("rpc:{node}"))
}

fn replies(cluster: &Cluster, node: &str) -> String {
    cluster.key(&format!("reply:{node}"))
}

/// Subscribes to this instance's channels and serves them until `stop`.
pub(super) async fn start(
    cluster: Cluster,
    rooms: Rooms,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let node = cluster.node().to_string();
    let (req_channel, reply_channel) = (requests(&cluster, &node), replies(&cluster, &node));
    let mut messages = cluster.inner.subscriber.message_rx();
    cluster
        .inner
        .subscriber
        .subscribe(vec![req_channel.clone(), reply_channel.clone()])
        .await?;
    // Subscribe again by itself after Redis comes back.
    super::link::keep_subscribed(cluster.inner.subscriber.clone());
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                m = messages.recv() => m,
                _ = stop.cancelled() => return,
            };
            let message = match message {
                Ok(m) => m,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    // More than REDIS_PUBSUB_BUFFER behind: these are gone.
                    metrics::counter!("gamehub_cluster_messages_dropped_total").increment(n);
                    warn!(
                        missed = n,
                        "cluster messages were dropped under load; callers time out"
                    );
                    continue;
                }
                Err(_) => return,
            };
            let Some(text) = message.value.as_string() else {
                continue;
            };
            if *message.channel == *req_channel {
                match serde_json::from_str::<Request>(&text) {
                    Ok(req) => {
                        let (cluster, rooms) = (cluster.clone(), rooms.clone());
                        tokio::spawn(async move { serve(cluster, rooms, req).await });
                    }
                    Err(e) => warn!(cause = %e, "unreadable cluster request"),
                }
            } else if *message.channel == *reply_channel {
                match serde_json::from_str::<Reply>(&text) {
                    Ok(reply) => {
                        if let Some((_, waiting)) = cluster.inner.pending.remove(&reply.id) {
                            let _ = waiting.send(reply.result); // the caller timed out meanwhile
                        }
                    }
                    Err(e) => warn!(cause = %e, "unreadable cluster reply"),
                }
            }
        }
    });
    Ok(())
}

/// Serves a request from another instance in one of our rooms, and replies.
async fn serve(cluster: Cluster, rooms: Rooms, req: Request) {
    if unix_now().as_millis() as u64 > req.expires_at {
        warn!(room = %req.room, from = %req.from, "dropped a forwarded call that arrived after its caller gave up");
        return;
    }
    let result = match req.sid.parse() {
        Ok(sid) => {
            let member = Member {
                sid,
                node: req.from.as_str().into(),
                player: Arc::new(req.player),
            };
            match rooms.get(&req.room) {
                Ok(room) => room.call(member, req.call).await,
                Err(e) => Err(e),
            }
        }
        Err(_) => Err(HubError::BadRequest(format!(
            "`{}` is not a socket id",
            req.sid
        ))),
    };
    let reply = Reply {
        id: req.id,
        result: result.map_err(|e| e.body()),
    };
    let json = serde_json::to_string(&reply).unwrap_or_default();
    let to = replies(&cluster, &req.from);
    if let Err(e) = cluster.inner.client.publish::<(), _, _>(to, json).await {
        warn!(cause = %e, "could not send a reply to another instance");
    }
}

/// Sends `call` to `owner` and waits for its answer, at most `FORWARD_TIMEOUT_MS`.
pub(super) async fn call(
    cluster: &Cluster,
    owner: &str,
    room: &str,
    member: Member,
    call: RoomCall,
) -> Result<RoomAnswer, HubError> {
    let inner = &cluster.inner;
    let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
    let req = Request {
        id,
        from: cluster.node().to_string(),
        room: room.to_string(),
        sid: member.sid.to_string(),
        player: PlayerRef::clone(&member.player),
        call,
        expires_at: (unix_now() + inner.options.forward_timeout).as_millis() as u64,
    };
    let (tx, rx) = oneshot::channel();
    inner.pending.insert(id, tx);
    let unavailable = || {
        HubError::Unavailable(format!(
            "server {owner}, which holds room `{room}`, did not answer in time; retry shortly"
        ))
    };
    let json = serde_json::to_string(&req).unwrap_or_default();
    // One deadline for sending and answering: a publish stuck on a Redis that
    // just went away counts against it too.
    let exchange = async {
        inner
            .client
            .publish::<(), _, _>(requests(cluster, owner), json)
            .await
            .ok()?;
        rx.await.ok()
    };
    match tokio::time::timeout(inner.options.forward_timeout, exchange).await {
        Ok(Some(result)) => result.map_err(HubError::Remote),
        _ => {
            inner.pending.remove(&id);
            metrics::counter!("gamehub_cluster_forwards_unanswered_total").increment(1);
            Err(unavailable())
        }
    }
}
