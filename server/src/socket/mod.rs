//! The socket.io side: authentication at connect, one handler per event, and disconnects.

mod request;
mod session;

pub use session::{Session, SessionRef};

use crate::error::HubError;
use crate::hub::Hub;
use protocol::event_names as ev;
use protocol::events::{
    ActionDone, LobbyList, RoomAction, RoomChat, RoomCreate, RoomJoin, RoomLeave, RoomList,
    RoomSync,
};
use protocol::{Empty, ErrorCode};
use request::{Req, respond};
use serde::Deserialize;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use std::sync::Arc;
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

/// Registers the `/` namespace and every event handler on `io`.
pub fn register(io: &SocketIo, hub: Hub) {
    let auth_hub = hub.clone();
    let authenticate = move |s: SocketRef, TryData(auth): TryData<ConnectAuth>| {
        let hub = auth_hub.clone();
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
            // socketioxide sends CONNECT before it runs the connect handler in a
            // task of its own, so an event sent right after `connect` could find
            // no handler yet. The middleware runs before CONNECT: register here.
            install_handlers(&s, &hub);
            Ok::<(), Refused>(())
        }
    };
    io.ns("/", (async || {}).with(authenticate));
}

/// Every event handler of an authenticated socket, and its disconnect handler.
fn install_handlers(s: &SocketRef, hub: &Hub) {
    metrics::gauge!("gamehub_connected_sockets").increment(1);
    macro_rules! on {
        ($event:expr, $handler:ident) => {{
            let hub = hub.clone();
            s.on($event, move |s: SocketRef, req, ack: AckSender| {
                let hub = hub.clone();
                async move {
                    let started = Instant::now();
                    let result = $handler(&hub, &s, req).await;
                    respond(ack, $event, started, result);
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
        s.on(ev::ROOM_ACTION, move |s: SocketRef, req: Req<RoomAction>, ack: AckSender| {
            let hub = hub.clone();
            async move {
                let started = Instant::now();
                let (game, result) = room_action(&hub, &s, req).await;
                let code = result.as_ref().err().map_or("ok", |e| e.code().as_str());
                metrics::counter!("gamehub_actions_total", "game" => game.clone(), "code" => code).increment(1);
                metrics::histogram!("gamehub_action_duration_seconds", "game" => game).record(started.elapsed().as_secs_f64());
                respond(ack, ev::ROOM_ACTION, started, result);
            }
        });
    }
    let rooms = hub.rooms().clone();
    s.on_disconnect(move |s: SocketRef| async move {
        metrics::gauge!("gamehub_connected_sockets").decrement(1);
        if let Some(session) = s.extensions.get::<SessionRef>() {
            for room in session.take_rooms() {
                if let Some(handle) = rooms.find(&room) {
                    handle.socket_gone(s.id);
                }
            }
        }
    });
}

async fn lobby_list(
    hub: &Hub,
    _s: &SocketRef,
    Req(req): Req<LobbyList>,
) -> Result<RoomList, HubError> {
    let (_, req) = req?;
    Ok(RoomList {
        rooms: hub.rooms().list(req.game.as_deref()),
    })
}

async fn room_create(
    hub: &Hub,
    s: &SocketRef,
    Req(req): Req<RoomCreate>,
) -> Result<protocol::events::Joined, HubError> {
    let (session, req) = req?;
    if hub.is_draining() {
        return Err(HubError::Unavailable(
            "this server is shutting down; reconnect and retry".into(),
        ));
    }
    let joined = hub
        .rooms()
        .create(req, session.player.clone(), s.clone())
        .await?;
    session.joined(joined.room.id.as_str().into());
    Ok(joined)
}

async fn room_join(
    hub: &Hub,
    s: &SocketRef,
    Req(req): Req<RoomJoin>,
) -> Result<protocol::events::Joined, HubError> {
    let (session, req) = req?;
    let room = hub.rooms().get(&req.room_id)?;
    let joined = room
        .join(session.player.clone(), s.clone(), req.role)
        .await?;
    session.joined(room.id().clone());
    Ok(joined)
}

async fn room_leave(hub: &Hub, s: &SocketRef, Req(req): Req<RoomLeave>) -> Result<Empty, HubError> {
    let (session, req) = req?;
    let room = hub.rooms().get(&req.room_id)?;
    room.leave(s.id).await?;
    session.left(&req.room_id);
    Ok(Empty {})
}

async fn room_action(
    hub: &Hub,
    s: &SocketRef,
    Req(req): Req<RoomAction>,
) -> (String, Result<ActionDone, HubError>) {
    let (_, req) = match req {
        Ok(r) => r,
        Err(e) => return (String::from("unknown"), Err(e)),
    };
    let room = match hub.rooms().get(&req.room_id) {
        Ok(room) => room,
        Err(e) => return (String::from("unknown"), Err(e)),
    };
    let game = room.game().to_string();
    if !req
        .action
        .get("type")
        .is_some_and(serde_json::Value::is_string)
    {
        return (
            game,
            Err(HubError::BadRequest(
                "`action` must be an object with a string `type`".into(),
            )),
        );
    }
    (
        game,
        room.action(s.id, req.action)
            .await
            .map(|seq| ActionDone { seq }),
    )
}

async fn room_chat(hub: &Hub, s: &SocketRef, Req(req): Req<RoomChat>) -> Result<Empty, HubError> {
    let (_, req) = req?;
    let chars = req.text.chars().count();
    if chars == 0 || chars > MAX_CHAT_CHARS {
        return Err(HubError::BadRequest(format!(
            "chat text must be 1..{MAX_CHAT_CHARS} characters (got {chars})"
        )));
    }
    hub.rooms().get(&req.room_id)?.chat(s.id, req.text).await?;
    Ok(Empty {})
}

async fn room_sync(
    hub: &Hub,
    s: &SocketRef,
    Req(req): Req<RoomSync>,
) -> Result<protocol::events::Synced, HubError> {
    let (_, req) = req?;
    hub.rooms()
        .get(&req.room_id)?
        .sync(s.id, req.since_seq)
        .await
}

/// Tells every connected socket the server is going away.
pub async fn announce_draining(io: &SocketIo, retry_in_ms: u64) {
    let msg = protocol::events::Draining { retry_in_ms };
    if let Err(e) = io.emit(ev::SERVER_DRAINING, &msg).await {
        warn!(cause = %e, "could not announce draining");
    }
}
