//! The socket.io side: authentication at connect, one handler per event, and disconnects.

mod handshake;
mod request;
mod session;

pub use handshake::detach_head;
pub use session::{Session, SessionRef};

use crate::error::HubError;
use crate::hub::Hub;
use crate::room::{Member, RoomAnswer, RoomCall, personal_room, unexpected};
use protocol::event_names as ev;
use protocol::events::{
    ActionDone, Joined, LobbyList, RoomAction, RoomChat, RoomCreate, RoomJoin, RoomLeave, RoomList,
    RoomSync, Synced,
};
use protocol::{Empty, ErrorCode};
use request::{AnswerMetrics, REMOTE_GAME, Req, UNKNOWN_GAME, respond};
use serde::Deserialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide_core::adapter::DefinedAdapter;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::{debug, warn};

/// Longest chat line, in characters.
pub const MAX_CHAT_CHARS: usize = 500;

/// The `auth` object of a connect: `{ token }`.
#[derive(Deserialize)]
struct ConnectAuth {
    token: String,
}

/// Why a connect was refused; clients see `connect_error` with this text.
#[derive(Debug)]
enum Refused {
    /// Missing, forged or expired token: `"unauthorized"`, as the contract says.
    Unauthorized,
    /// The server is shutting down: `"unavailable"`; reconnect (to another instance) later.
    Draining,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = match self {
            Refused::Unauthorized => ErrorCode::Unauthorized,
            Refused::Draining => ErrorCode::Unavailable,
        };
        f.write_str(code.as_str())
    }
}

/// Registers the `/` namespace and every event handler on `io`. With a
/// cluster adapter the answer is a future that subscribes to the cluster.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, hub: Hub) -> A::InitRes {
    let authenticate = move |s: SocketRef<A>, TryData(auth): TryData<ConnectAuth>| {
        let hub = hub.clone();
        async move {
            if hub.is_draining() {
                return Err(Refused::Draining);
            }
            let token = auth.map_err(|_| Refused::Unauthorized)?.token;
            let player = hub.tokens().verify(&token).map_err(|e| {
                debug!(cause = %e, "connect refused");
                Refused::Unauthorized
            })?;
            let c = hub.config();
            let session = Session::new(
                Arc::new(player),
                c.max_payload_bytes,
                c.rate_limit_per_sec,
                c.rate_limit_burst,
            );
            s.extensions.insert::<SessionRef>(Arc::new(session));
            // Rooms on other instances address this socket through a room of
            // its own; this instance's rooms reach it directly, so a single
            // instance saves the room (about 0.4 KB per socket).
            if hub.cluster().is_some() {
                s.join(personal_room(s.id));
            }
            // socketioxide sends CONNECT before it runs the connect handler in a
            // task of its own, so an event sent right after `connect` could find
            // no handler yet. The middleware runs before CONNECT: register here.
            install_handlers(&s, &hub);
            metrics::gauge!("gamehub_connected_sockets").increment(1);
            Ok::<(), Refused>(())
        }
    };
    io.ns("/", (async || {}).with(authenticate))
}

/// This socket as a room member.
fn member<A: Adapter>(hub: &Hub, s: &SocketRef<A>, session: &SessionRef) -> Member {
    Member {
        sid: s.id,
        node: hub.node().clone(),
        player: session.player.clone(),
    }
}

/// Every event handler of an authenticated socket, and its disconnect handler.
fn install_handlers<A: Adapter>(s: &SocketRef<A>, hub: &Hub) {
    // One set of metric handles per event for the whole process, made at its first answer.
    macro_rules! on {
        ($event:expr, $handler:ident) => {{
            let hub = hub.clone();
            s.on($event, move |s: SocketRef<A>, req, ack: AckSender<A>| {
                let hub = hub.clone();
                async move {
                    static METRICS: OnceLock<AnswerMetrics> = OnceLock::new();
                    let started = Instant::now();
                    let result = $handler(&hub, &s, req).await;
                    respond(
                        ack,
                        METRICS.get_or_init(|| AnswerMetrics::event($event)),
                        started,
                        result,
                    );
                }
            });
        }};
    }
    on!(ev::LOBBY_LIST, lobby_list);
    on!(ev::ROOM_CREATE, room_create);
    on!(ev::ROOM_JOIN, room_join);
    on!(ev::ROOM_LEAVE, room_leave);
    on!(ev::ROOM_CHAT, room_chat);
    on!(ev::ROOM_SYNC, room_sync);
    {
        let hub = hub.clone();
        s.on(
            ev::ROOM_ACTION,
            move |s: SocketRef<A>, req: Req<RoomAction>, ack: AckSender<A>| {
                let hub = hub.clone();
                async move {
                    let started = Instant::now();
                    let (action_metrics, result) = room_action(&hub, &s, req).await;
                    action_metrics.record(started, &result);
                    static METRICS: OnceLock<AnswerMetrics> = OnceLock::new();
                    respond(
                        ack,
                        METRICS.get_or_init(|| AnswerMetrics::event(ev::ROOM_ACTION)),
                        started,
                        result,
                    );
                }
            },
        );
    }
    let hub = hub.clone();
    s.on_disconnect(move |s: SocketRef<A>| async move {
        metrics::gauge!("gamehub_connected_sockets").decrement(1);
        let Some(session) = s.extensions.get::<SessionRef>() else {
            return;
        };
        for room in session.take_rooms() {
            tokio::spawn(tell_gone(hub.clone(), room, member(&hub, &s, &session)));
        }
    });
}

/// Tells a room that a member socket is gone. A room on another instance may
/// be out of reach for a while (Redis or its owner down): keep trying, or its
/// seat would look connected forever and never reach the grace period.
async fn tell_gone(hub: Hub, room: crate::room::RoomId, member: Member) {
    const ATTEMPTS: u32 = 30;
    const PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
    for attempt in 1..=ATTEMPTS {
        match hub
            .call_room(&room, member.clone(), RoomCall::SocketGone)
            .await
        {
            Err(HubError::Unavailable(_)) if attempt < ATTEMPTS => tokio::time::sleep(PAUSE).await,
            // Done, or the room is gone and there is nobody left to tell.
            _ => return,
        }
    }
}

async fn lobby_list<A: Adapter>(
    hub: &Hub,
    _s: &SocketRef<A>,
    Req(req): Req<LobbyList>,
) -> Result<RoomList, HubError> {
    let (_, req) = req?;
    Ok(RoomList {
        rooms: hub.list_rooms(req.game.as_deref()),
    })
}

async fn room_create<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomCreate>,
) -> Result<Joined, HubError> {
    let (session, req) = req?;
    if hub.is_draining() {
        return Err(HubError::Unavailable(
            "this server is shutting down; reconnect and retry".into(),
        ));
    }
    let joined = hub.rooms().create(req, member(hub, s, &session)).await?;
    session.joined(joined.room.id.as_str().into());
    Ok(joined)
}

async fn room_join<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomJoin>,
) -> Result<Joined, HubError> {
    let (session, req) = req?;
    let call = RoomCall::Join { role: req.role };
    match hub
        .call_room(&req.room_id, member(hub, s, &session), call)
        .await
    {
        Ok(RoomAnswer::Joined(joined)) => {
            remember_room(hub, s, &session, &req.room_id);
            Ok(joined)
        }
        Ok(other) => Err(unexpected(other)),
        Err(e @ HubError::Unavailable(_)) => {
            // The owner may have seated the socket and lost only its answer.
            remember_room(hub, s, &session, &req.room_id);
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Notes that the socket is (or may be) a member of `room`, so that the room
/// hears when the socket goes: else its seat would look taken forever. A
/// socket that went while its join was on the way (the disconnect handler
/// found no room to tell) tells the room now.
fn remember_room<A: Adapter>(hub: &Hub, s: &SocketRef<A>, session: &SessionRef, room: &str) {
    session.joined(room.into());
    if !s.connected() {
        for room in session.take_rooms() {
            tokio::spawn(tell_gone(hub.clone(), room, member(hub, s, session)));
        }
    }
}

async fn room_leave<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomLeave>,
) -> Result<Empty, HubError> {
    let (session, req) = req?;
    hub.call_room(&req.room_id, member(hub, s, &session), RoomCall::Leave)
        .await?;
    session.left(&req.room_id);
    Ok(Empty {})
}

async fn room_action<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomAction>,
) -> (&'static AnswerMetrics, Result<ActionDone, HubError>) {
    let (session, req) = match req {
        Ok(r) => r,
        Err(e) => return (AnswerMetrics::action(UNKNOWN_GAME), Err(e)),
    };
    // One lookup of the room serves both the metrics' game and the call.
    let local = hub.rooms().find(&req.room_id);
    let metrics = AnswerMetrics::action(local.as_ref().map_or(REMOTE_GAME, |r| r.game()));
    let call = RoomCall::Action { action: req.action };
    let result = match hub
        .call_room_found(local, &req.room_id, member(hub, s, &session), call)
        .await
    {
        Ok(RoomAnswer::Seq { seq }) => Ok(ActionDone { seq }),
        Ok(other) => Err(unexpected(other)),
        Err(e) => Err(e),
    };
    (metrics, result)
}

async fn room_chat<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomChat>,
) -> Result<Empty, HubError> {
    let (session, req) = req?;
    let chars = req.text.chars().count();
    if chars == 0 || chars > MAX_CHAT_CHARS {
        return Err(HubError::BadRequest(format!(
            "chat text must be 1..{MAX_CHAT_CHARS} characters (got {chars})"
        )));
    }
    hub.call_room(
        &req.room_id,
        member(hub, s, &session),
        RoomCall::Chat { text: req.text },
    )
    .await?;
    Ok(Empty {})
}

async fn room_sync<A: Adapter>(
    hub: &Hub,
    s: &SocketRef<A>,
    Req(req): Req<RoomSync>,
) -> Result<Synced, HubError> {
    let (session, req) = req?;
    let call = RoomCall::Sync {
        since_seq: req.since_seq,
    };
    match hub
        .call_room(&req.room_id, member(hub, s, &session), call)
        .await?
    {
        RoomAnswer::Synced(synced) => Ok(synced),
        other => Err(unexpected(other)),
    }
}

/// Tells every connected socket of this instance the server is going away.
pub async fn announce_draining<A: Adapter>(io: &SocketIo<A>, retry_in_ms: u64) {
    let msg = protocol::events::Draining { retry_in_ms };
    if let Err(e) = io.local().emit(ev::SERVER_DRAINING, &msg).await {
        warn!(cause = %e, "could not announce draining");
    }
}
