//! One socket's connection: the handshake, and the task that owns the WebSocket afterwards.

use super::packet::{self, EnginePacket, MAIN_NSP, OpenPacket, SocketPacket};
use super::{ClientConfig, ClientError, DisconnectReason, Event, Overflow, Parser, msgpack};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};
use tracing::debug;

/// How long a closing side waits for the peer to finish the WebSocket close handshake.
pub(super) const CLOSE_WAIT: Duration = Duration::from_secs(1);

type Ws = WebSocketStream<TcpStream>;
type AckSender = oneshot::Sender<Vec<Value>>;

/// State the [`super::Client`] and its task both see. No lock is held across an await.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Acks awaited, by id: the task resolves them, the caller removes them when it gives up.
    pending: Mutex<HashMap<u64, AckSender>>,
    pub(super) next_ack_id: AtomicU64,
    /// 0 while connected, else a [`DisconnectReason`] code.
    state: AtomicU8,
    pub(super) events_received: AtomicU64,
    pub(super) events_dropped: AtomicU64,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, HashMap<u64, AckSender>> {
        // Nothing panics while holding the lock, so a poisoned map is still sound.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Awaits ack `id`; the guard forgets it when dropped.
    pub(super) fn register_ack(&self, id: u64, tx: AckSender) -> PendingAck<'_> {
        self.pending().insert(id, tx);
        PendingAck { shared: self, id }
    }

    pub(super) fn reason(&self) -> Option<DisconnectReason> {
        match self.state.load(Ordering::Acquire) {
            0 => None,
            1 => Some(DisconnectReason::Client),
            2 => Some(DisconnectReason::Server),
            3 => Some(DisconnectReason::TransportClose),
            4 => Some(DisconnectReason::TransportError),
            _ => Some(DisconnectReason::PingTimeout),
        }
    }

    fn set_closed(&self, reason: DisconnectReason) {
        let code = match reason {
            DisconnectReason::Client => 1,
            DisconnectReason::Server => 2,
            DisconnectReason::TransportClose => 3,
            DisconnectReason::TransportError => 4,
            DisconnectReason::PingTimeout => 5,
        };
        self.state.store(code, Ordering::Release);
    }
}

/// Removes its ack from [`Shared::pending`] when the waiting call ends, however it ends.
pub(super) struct PendingAck<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingAck<'_> {
    fn drop(&mut self) {
        self.shared.pending().remove(&self.id);
    }
}

/// What the [`super::Client`] asks its task to do.
#[derive(Debug)]
pub(super) enum Outgoing {
    /// Send this WebSocket frame (text for JSON, binary for msgpack).
    Frame(Message),
    /// Send `41`, close the WebSocket, stop.
    Disconnect,
}

/// Connects the WebSocket and runs the Engine.IO open and socket.io CONNECT.
/// Returns the socket, the open packet and the socket.io sid.
pub(super) async fn handshake(
    config: &ClientConfig,
    url: &str,
    auth: Option<&Value>,
) -> Result<(Ws, OpenPacket, String), ClientError> {
    let (addr, authority) = super::split_base_url(url)?;
    let ws_url = format!("ws://{authority}{}?EIO=4&transport=websocket", config.path);
    let tcp = super::connect_tcp(&addr, config.source_ip).await?;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(0)
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size));
    let (mut ws, _response) =
        tokio_tungstenite::client_async_with_config(ws_url, tcp, Some(ws_config)).await?;

    let open = loop {
        let frame = next_text(&mut ws).await?;
        match packet::decode_engine(&frame)? {
            EnginePacket::Open(open) => break open,
            EnginePacket::Noop => {}
            other => {
                return Err(ClientError::Handshake(format!(
                    "expected the Engine.IO open packet, got {other:?}"
                )));
            }
        }
    };

    let connect = match config.parser {
        Parser::Json => Message::text(packet::encode_connect(MAIN_NSP, auth)),
        Parser::Msgpack => Message::binary(
            msgpack::encode_connect(MAIN_NSP, auth).map_err(ClientError::EncodeMsgpack)?,
        ),
    };
    ws.send(connect).await?;
    loop {
        let frame = next_frame(&mut ws).await?;
        let packet = match &frame {
            Message::Binary(bytes) if config.parser == Parser::Msgpack => msgpack::decode(bytes)?,
            Message::Text(text) => match packet::decode_engine(text)? {
                EnginePacket::Ping(payload) => {
                    ws.send(Message::text(packet::encode_pong(payload))).await?;
                    continue;
                }
                EnginePacket::Close => {
                    return Err(ClientError::Handshake(
                        "the server closed the session before CONNECT".into(),
                    ));
                }
                EnginePacket::Message(msg) => packet::decode_socket(msg)?,
                _ => continue,
            },
            _ => continue,
        };
        match packet {
            SocketPacket::Connect {
                nsp: MAIN_NSP,
                data,
            } => {
                let sid = data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str);
                let sid = sid.ok_or_else(|| {
                    ClientError::Handshake(format!("CONNECT answer without a sid: {data:?}"))
                })?;
                return Ok((ws, open, sid.to_owned()));
            }
            SocketPacket::ConnectError {
                nsp: MAIN_NSP,
                data,
            } => {
                return Err(ClientError::ConnectRefused {
                    message: refusal_message(data),
                });
            }
            _ => {}
        }
    }
}

/// The next text or binary frame during the handshake; control frames are skipped.
async fn next_frame(ws: &mut Ws) -> Result<Message, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => return Ok(message),
            Some(Ok(Message::Close(_))) | None => {
                return Err(ClientError::Handshake(
                    "the server closed the WebSocket".into(),
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(_)) => {}
        }
    }
}

/// The next text frame during the handshake; binary and control frames are skipped.
async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Close(_))) | None => {
                return Err(ClientError::Handshake(
                    "the server closed the WebSocket".into(),
                ));
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(_)) => {}
        }
    }
}

/// The `message` of a CONNECT_ERROR (`{"message": ...}` in v5, a bare string in older servers).
fn refusal_message(data: Value) -> String {
    match data {
        Value::String(message) => message,
        Value::Object(mut map) => match map.remove("message") {
            Some(Value::String(message)) => message,
            Some(other) => other.to_string(),
            None => Value::Object(map).to_string(),
        },
        other => other.to_string(),
    }
}

/// What the task does after handling one input.
enum Step {
    Continue,
    /// A server ping came: the server is alive until `liveness` from now.
    Pinged,
    Stop(DisconnectReason),
}

/// The per-socket task: owns the WebSocket once the handshake is done.
pub(super) struct Connection {
    pub(super) ws: Ws,
    pub(super) parser: Parser,
    pub(super) shared: std::sync::Arc<Shared>,
    pub(super) outgoing: mpsc::Receiver<Outgoing>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) overflow: Overflow,
    /// `pingInterval + pingTimeout`: silence longer than this means the server is gone.
    pub(super) liveness: Duration,
}

impl Connection {
    pub(super) async fn run(mut self) {
        let reason = self.serve().await;
        debug!(?reason, "socket.io connection ended");
        // Order matters: refuse new requests, publish the state, then fail the
        // waiting acks (dropping their senders), so no caller waits for nothing.
        self.outgoing.close();
        self.shared.set_closed(reason);
        self.shared.pending().clear();
    }

    async fn serve(&mut self) -> DisconnectReason {
        let deadline = tokio::time::sleep(self.liveness);
        tokio::pin!(deadline);
        loop {
            let step = tokio::select! {
                frame = self.ws.next() => self.on_frame(frame).await,
                command = self.outgoing.recv() => self.on_command(command).await,
                () = &mut deadline => Step::Stop(DisconnectReason::PingTimeout),
            };
            match step {
                Step::Continue => {}
                Step::Pinged => deadline.as_mut().reset(Instant::now() + self.liveness),
                Step::Stop(reason) => return reason,
            }
        }
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, tungstenite::Error>>) -> Step {
        match frame {
            Some(Ok(Message::Text(text))) => self.on_text(&text).await,
            Some(Ok(Message::Binary(bytes))) if self.parser == Parser::Msgpack => {
                match msgpack::decode(&bytes) {
                    Ok(packet) => self.on_socket_packet(packet).await,
                    Err(e) => {
                        debug!(cause = %e, "ignoring an undecodable msgpack packet");
                        Step::Continue
                    }
                }
            }
            // Attachments of binary packets (JSON parser), and WebSocket pings (tungstenite answers those).
            Some(Ok(
                Message::Binary(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_),
            )) => Step::Continue,
            Some(Ok(Message::Close(_))) => {
                // One more read sends tungstenite's queued close reply.
                let _ = tokio::time::timeout(CLOSE_WAIT, self.ws.next()).await;
                Step::Stop(DisconnectReason::TransportClose)
            }
            None => Step::Stop(DisconnectReason::TransportClose),
            Some(Err(e)) => {
                debug!(cause = %e, "WebSocket failed");
                Step::Stop(DisconnectReason::TransportError)
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Step {
        match packet::decode_engine(text) {
            Ok(EnginePacket::Ping(payload)) => {
                match self.send(Message::text(packet::encode_pong(payload))).await {
                    Ok(()) => Step::Pinged,
                    Err(reason) => Step::Stop(reason),
                }
            }
            Ok(EnginePacket::Message(msg)) => match packet::decode_socket(msg) {
                Ok(packet) => self.on_socket_packet(packet).await,
                Err(e) => {
                    debug!(cause = %e, "ignoring an undecodable socket.io packet");
                    Step::Continue
                }
            },
            Ok(EnginePacket::Close) => {
                self.close().await;
                Step::Stop(DisconnectReason::TransportClose)
            }
            Ok(
                EnginePacket::Open(_)
                | EnginePacket::Pong(_)
                | EnginePacket::Upgrade
                | EnginePacket::Noop,
            ) => Step::Continue,
            Err(e) => {
                debug!(cause = %e, "ignoring an undecodable Engine.IO frame");
                Step::Continue
            }
        }
    }

    async fn on_socket_packet(&mut self, packet: SocketPacket<'_>) -> Step {
        if packet.nsp() != MAIN_NSP {
            return Step::Continue;
        }
        match packet {
            SocketPacket::Event { event, args, .. } => {
                let data = args.into_iter().next().unwrap_or(Value::Null);
                self.deliver((event, data)).await;
                Step::Continue
            }
            SocketPacket::Ack { id, args, .. } => {
                let waiter = self.shared.pending().remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(args); // the caller gave up meanwhile
                }
                Step::Continue
            }
            SocketPacket::Disconnect { .. } => {
                self.close().await;
                Step::Stop(DisconnectReason::Server)
            }
            SocketPacket::Connect { .. } | SocketPacket::ConnectError { .. } => Step::Continue,
        }
    }

    async fn deliver(&mut self, event: Event) {
        self.shared.events_received.fetch_add(1, Ordering::Relaxed);
        match self.overflow {
            Overflow::Wait => {
                let _ = self.events.send(event).await; // the client stopped reading pushes
            }
            Overflow::Drop => {
                if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(event) {
                    self.shared.events_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    async fn on_command(&mut self, command: Option<Outgoing>) -> Step {
        match command {
            Some(Outgoing::Frame(frame)) => match self.send(frame).await {
                Ok(()) => Step::Continue,
                Err(reason) => Step::Stop(reason),
            },
            Some(Outgoing::Disconnect) | None => {
                let goodbye = match self.parser {
                    Parser::Json => Message::text(packet::encode_disconnect(MAIN_NSP)),
                    Parser::Msgpack => match msgpack::encode_disconnect(MAIN_NSP) {
                        Ok(frame) => Message::binary(frame),
                        Err(_) => Message::text(packet::encode_disconnect(MAIN_NSP)),
                    },
                };
                let _ = self.send(goodbye).await;
                self.close().await;
                Step::Stop(DisconnectReason::Client)
            }
        }
    }

    async fn send(&mut self, frame: Message) -> Result<(), DisconnectReason> {
        self.ws.send(frame).await.map_err(|e| {
            debug!(cause = %e, "WebSocket write failed");
            DisconnectReason::TransportError
        })
    }

    /// Closes the WebSocket and waits briefly for the server's close frame.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusal_messages() {
        assert_eq!(
            refusal_message(json!({"message": "unauthorized"})),
            "unauthorized"
        );
        assert_eq!(
            refusal_message(json!({"message": "no", "data": {"why": 1}})),
            "no"
        );
        assert_eq!(
            refusal_message(json!("Invalid namespace")),
            "Invalid namespace"
        );
        assert_eq!(refusal_message(json!({"other": 1})), r#"{"other":1}"#);
        assert_eq!(refusal_message(Value::Null), "null");
    }

    #[test]
    fn reason_codes_round_trip() {
        let shared = Shared::default();
        assert_eq!(shared.reason(), None);
        for reason in [
            DisconnectReason::Client,
            DisconnectReason::Server,
            DisconnectReason::TransportClose,
            DisconnectReason::TransportError,
            DisconnectReason::PingTimeout,
        ] {
            shared.set_closed(reason);
            assert_eq!(shared.reason(), Some(reason));
        }
    }

    #[test]
    fn pending_ack_guard_forgets_its_id() {
        let shared = Shared::default();
        let (tx, _rx) = oneshot::channel();
        let guard = shared.register_ack(7, tx);
        assert!(shared.pending().contains_key(&7));
        drop(guard);
        assert!(shared.pending().is_empty());
    }
}
