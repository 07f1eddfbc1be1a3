//! A lean async socket.io v5 client (Engine.IO v4, WebSocket transport only, JSON parser).
//!
//! One [`Client`] is one socket on the main namespace `/`. It owns one tokio
//! task that reads the WebSocket, answers pings, resolves acks and queues
//! server pushes in a bounded channel, so many thousands of clients cost a
//! task and a few small buffers each.
//!
//! ```no_run
//! # async fn demo() -> Result<(), loadtest::ClientError> {
//! use loadtest::Client;
//! use std::time::Duration;
//!
//! let (token, _player) = loadtest::http::guest_token("http://127.0.0.1:3000", "alice").await?;
//! let mut client = Client::connect("http://127.0.0.1:3000", Some(serde_json::json!({ "token": token }))).await?;
//! let ack: serde_json::Value = client.emit_with_ack("lobby:list", &serde_json::json!({})).await?;
//! let event = client.wait_for_event("room:event", Duration::from_secs(1)).await?;
//! client.disconnect().await;
//! # Ok(()) }
//! ```

mod conn;
mod error;
pub mod msgpack;
pub mod packet;
mod tcp;

pub use error::ClientError;
pub(crate) use tcp::connect_tcp;

use conn::{Connection, Outgoing, Shared};
use packet::MAIN_NSP;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A server push: the event name and its first argument (`Null` if it had none).
pub type Event = (String, Value);

/// The socket.io parser, which must match the server's (`SOCKETIO_PARSER` on gamehub).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Parser {
    /// The default parser: text frames such as `42["event",{...}]`.
    #[default]
    Json,
    /// `socket.io-msgpack-parser`: one binary frame per packet ([`msgpack`]).
    Msgpack,
}

/// What the connection task does with a server push when the event buffer is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Stop reading the socket until the application takes an event, so the
    /// server feels TCP backpressure. Acks and pings wait meanwhile too.
    #[default]
    Wait,
    /// Drop the push, count it in [`ClientStats::events_dropped`], keep reading.
    Drop,
}

/// Knobs of a [`Client`]. `Default` suits tests; the load generator shrinks the buffers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limit for TCP connect, WebSocket upgrade, Engine.IO open and socket.io CONNECT together.
    pub connect_timeout: Duration,
    /// How long `emit_with_ack` waits for the answer.
    pub ack_timeout: Duration,
    /// Server pushes buffered until the application reads them.
    pub event_capacity: usize,
    /// What happens to a push when `event_capacity` is reached.
    pub overflow: Overflow,
    /// Outgoing packets buffered before `emit` waits.
    pub outgoing_capacity: usize,
    /// The socket.io path on the server.
    pub path: String,
    /// WebSocket read buffer, allocated up front for every socket: the main
    /// per-socket memory cost, so small (larger messages still arrive whole).
    pub read_buffer_size: usize,
    /// Largest WebSocket message accepted from the server.
    pub max_message_size: usize,
    /// Local address to connect from (port chosen by the kernel), e.g. one of
    /// 127.0.0.x: one source address gives at most ~28k sockets to one server
    /// port (the ephemeral port range), so the load generator spreads many
    /// sockets over several. `None` lets the kernel choose.
    pub source_ip: Option<IpAddr>,
    /// The socket.io parser to speak.
    pub parser: Parser,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(5),
            event_capacity: 1024,
            overflow: Overflow::Wait,
            outgoing_capacity: 32,
            path: "/socket.io/".to_owned(),
            read_buffer_size: 4 * 1024,
            max_message_size: 16 << 20,
            source_ip: None,
            parser: Parser::Json,
        }
    }
}

/// Why a client is no longer connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// [`Client::disconnect`] was called.
    Client,
    /// The server sent a socket.io DISCONNECT (`41`).
    Server,
    /// The server closed the Engine.IO session (`1`) or the WebSocket.
    TransportClose,
    /// The WebSocket failed: I/O or protocol error.
    TransportError,
    /// No ping from the server within `pingInterval + pingTimeout`.
    PingTimeout,
}

/// Counters of one client, for the load generator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Server pushes received on `/`, delivered or not.
    pub events_received: u64,
    /// Pushes dropped because the buffer was full ([`Overflow::Drop`] only).
    pub events_dropped: u64,
}

/// A connected socket.io socket on namespace `/`.
///
/// Emitting takes `&self`, reading pushes takes `&mut self`. Dropping the
/// client aborts its task and closes the TCP connection without a socket.io
/// DISCONNECT, as a lost network would; [`Client::disconnect`] leaves cleanly.
#[derive(Debug)]
pub struct Client {
    /// socket.io session id (the `sid` of the CONNECT answer).
    sid: String,
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    events: mpsc::Receiver<Event>,
    task: JoinHandle<()>,
    ack_timeout: Duration,
    parser: Parser,
}

impl Client {
    /// Connects to `url` (`http://host:port`) with the default config, sending
    /// `auth` (e.g. `{"token": "..."}`) with the CONNECT.
    ///
    /// A refused CONNECT is [`ClientError::ConnectRefused`] with the server's message.
    pub async fn connect(url: &str, auth: Option<Value>) -> Result<Client, ClientError> {
        Self::connect_with(&ClientConfig::default(), url, auth).await
    }

    /// [`Client::connect`] with an explicit config.
    pub async fn connect_with(
        config: &ClientConfig,
        url: &str,
        auth: Option<Value>,
    ) -> Result<Client, ClientError> {
        let handshake = conn::handshake(config, url, auth.as_ref());
        let (ws, open, sid) = tokio::time::timeout(config.connect_timeout, handshake)
            .await
            .map_err(|_| ClientError::Timeout)??;

        let shared = Arc::new(Shared::default());
        let (out_tx, out_rx) = mpsc::channel(config.outgoing_capacity.max(1));
        let (ev_tx, ev_rx) = mpsc::channel(config.event_capacity.max(1));
        let liveness = Duration::from_millis(open.ping_interval.saturating_add(open.ping_timeout));
        let connection = Connection {
            ws,
            parser: config.parser,
            shared: Arc::clone(&shared),
            outgoing: out_rx,
            events: ev_tx,
            overflow: config.overflow,
            liveness,
        };
        let task = tokio::spawn(connection.run());
        Ok(Client {
            sid,
            shared,
            outgoing: out_tx,
            events: ev_rx,
            task,
            ack_timeout: config.ack_timeout,
            parser: config.parser,
        })
    }

    /// The socket.io session id the server gave this socket.
    pub fn id(&self) -> &str {
        &self.sid
    }

    /// False once the connection has ended, whoever ended it. Pushes received
    /// before that can still be read.
    pub fn is_connected(&self) -> bool {
        self.shared.reason().is_none()
    }

    /// Why the connection ended, or `None` while it is up.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.shared.reason()
    }

    /// Counters so far.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            events_received: self.shared.events_received.load(Ordering::Relaxed),
            events_dropped: self.shared.events_dropped.load(Ordering::Relaxed),
        }
    }

    /// Sends `42["event",data]`, without asking for an ack.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), ClientError> {
        let frame = self.event_frame(None, event, data)?;
        self.send(frame).await
    }

    /// Sends `42["event",args...]` with any number of arguments, without asking for an ack.
    pub async fn emit_args(&self, event: &str, args: &[Value]) -> Result<(), ClientError> {
        let frame = match self.parser {
            Parser::Json => packet::encode_event_args(MAIN_NSP, None, event, args)
                .map(Message::text)
                .map_err(ClientError::Encode)?,
            Parser::Msgpack => msgpack::encode_event_args(MAIN_NSP, None, event, args)
                .map(Message::binary)
                .map_err(ClientError::EncodeMsgpack)?,
        };
        self.send(frame).await
    }

    /// Sends `42<id>["event",data]` and decodes the first argument of the
    /// answering `43<id>[...]` as `R` (`Null` if the ack had none).
    ///
    /// Fails with [`ClientError::Timeout`] after `ack_timeout`, with
    /// [`ClientError::Disconnected`] if the connection ends first, and with
    /// [`ClientError::Decode`] (holding the raw answer) if it is not an `R`.
    pub async fn emit_with_ack<T, R>(&self, event: &str, data: &T) -> Result<R, ClientError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let id = self.shared.next_ack_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.event_frame(Some(id), event, data)?;
        let value = self.request(id, frame).await?;
        R::deserialize(&value).map_err(|source| ClientError::Decode { value, source })
    }

    /// Sends `42<id>["event",args...]` with any arguments, even none or ones of
    /// the wrong type, and returns the first argument of the ack (`Null` if none).
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<Value, ClientError> {
        let id = self.shared.next_ack_id.fetch_add(1, Ordering::Relaxed);
        let frame = match self.parser {
            Parser::Json => packet::encode_event_args(MAIN_NSP, Some(id), event, &args)
                .map(Message::text)
                .map_err(ClientError::Encode)?,
            Parser::Msgpack => msgpack::encode_event_args(MAIN_NSP, Some(id), event, &args)
                .map(Message::binary)
                .map_err(ClientError::EncodeMsgpack)?,
        };
        self.request(id, frame).await
    }

    /// The next server push, in arrival order; `None` once the connection has
    /// ended and every push received before has been read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Takes the stream of server pushes out of the client, so one task can
    /// read pushes while others emit through a shared `&Client`. Afterwards
    /// [`Client::next_event`] on the client returns `None` at once; dropping
    /// the returned receiver makes the connection task discard later pushes.
    pub fn take_events(&mut self) -> mpsc::Receiver<Event> {
        let (_, mut closed) = mpsc::channel(1);
        closed.close();
        std::mem::replace(&mut self.events, closed)
    }

    /// The next server push if one is already buffered.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The next push, which must be `name`: returns its first argument, or
    /// [`ClientError::UnexpectedEvent`] if another event comes first.
    pub async fn expect_event(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let (got, data) = tokio::time::timeout(timeout, self.events.recv())
            .await
            .map_err(|_| ClientError::Timeout)?
            .ok_or(ClientError::Disconnected)?;
        if got == name {
            Ok(data)
        } else {
            Err(ClientError::UnexpectedEvent {
                expected: name.to_owned(),
                got,
                data,
            })
        }
    }

    /// Skips pushes until one named `name` arrives and returns its first argument.
    pub async fn wait_for_event(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (got, data) = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| ClientError::Timeout)?
                .ok_or(ClientError::Disconnected)?;
            if got == name {
                return Ok(data);
            }
        }
    }

    /// Leaves cleanly: sends `41`, closes the WebSocket, and waits (briefly)
    /// for the connection task to finish. Unread pushes are discarded.
    pub async fn disconnect(mut self) {
        // Unblocks a task waiting for room in a full event buffer.
        self.events.close();
        if self.outgoing.send(Outgoing::Disconnect).await.is_ok() {
            let _ = tokio::time::timeout(conn::CLOSE_WAIT * 2, &mut self.task).await;
        }
    }

    /// An event frame in this client's parser.
    fn event_frame<T: Serialize + ?Sized>(
        &self,
        id: Option<u64>,
        event: &str,
        data: &T,
    ) -> Result<Message, ClientError> {
        match self.parser {
            Parser::Json => packet::encode_event(MAIN_NSP, id, event, data)
                .map(Message::text)
                .map_err(ClientError::Encode),
            Parser::Msgpack => msgpack::encode_event(MAIN_NSP, id, event, data)
                .map(Message::binary)
                .map_err(ClientError::EncodeMsgpack),
        }
    }

    async fn send(&self, frame: Message) -> Result<(), ClientError> {
        self.outgoing
            .send(Outgoing::Frame(frame))
            .await
            .map_err(|_| ClientError::Disconnected)
    }

    /// Registers ack `id`, sends `frame`, and waits for the ack's first argument.
    async fn request(&self, id: u64, frame: Message) -> Result<Value, ClientError> {
        let (tx, rx) = oneshot::channel();
        // Registered before sending so the answer cannot beat it; removed on
        // every way out, timeout and cancellation included.
        let _pending = self.shared.register_ack(id, tx);
        self.send(frame).await?;
        match tokio::time::timeout(self.ack_timeout, rx).await {
            Ok(Ok(args)) => Ok(args.into_iter().next().unwrap_or(Value::Null)),
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => Err(ClientError::Timeout),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Splits `http://host[:port][/...]` (or `ws://`) into the TCP address
/// (`host:port`, port 80 by default) and the authority as written (for `Host`).
pub(crate) fn split_base_url(url: &str) -> Result<(String, &str), ClientError> {
    let invalid = |reason| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = if let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
    {
        rest
    } else if url.starts_with("https://") || url.starts_with("wss://") {
        return Err(invalid("TLS is not supported; use http:// or ws://"));
    } else {
        return Err(invalid("expected http://host:port"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("expected http://host:port"));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let addr = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |url| {
            split_base_url(url)
                .map(|(addr, auth)| (addr, auth.to_owned()))
                .unwrap()
        };
        assert_eq!(
            ok("http://127.0.0.1:3000"),
            ("127.0.0.1:3000".into(), "127.0.0.1:3000".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:3000/"),
            ("127.0.0.1:3000".into(), "127.0.0.1:3000".into())
        );
        assert_eq!(
            ok("ws://localhost:8080/x?y"),
            ("localhost:8080".into(), "localhost:8080".into())
        );
        assert_eq!(
            ok("http://example.com"),
            ("example.com:80".into(), "example.com".into())
        );
        assert_eq!(
            ok("http://[::1]:9000"),
            ("[::1]:9000".into(), "[::1]:9000".into())
        );
        assert_eq!(ok("http://[::1]"), ("[::1]:80".into(), "[::1]".into()));
        for bad in [
            "",
            "127.0.0.1:3000",
            "https://x:1",
            "wss://x",
            "http://",
            "http:///x",
            "ftp://x",
        ] {
            assert!(
                matches!(split_base_url(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }
}
