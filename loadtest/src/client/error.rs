//! Errors of the socket.io client and of the HTTP helpers.

use super::packet::PacketError;
use serde_json::Value;

/// Everything that can go wrong talking to a gamehub server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://host[:port]` or `ws://host[:port]`.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// TCP connect, read or write failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket handshake or the WebSocket itself failed (boxed: the error is large).
    #[error("WebSocket error: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server broke the Engine.IO or socket.io handshake.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// A frame from the server could not be decoded where one was required.
    #[error("bad packet from the server: {0}")]
    Packet(#[from] PacketError),
    /// The server refused the socket.io CONNECT (`44{"message": ...}`); gamehub
    /// sends `"unauthorized"` for a missing, forged or expired token.
    #[error("connection refused by the server: {message}")]
    ConnectRefused {
        /// The `message` of the CONNECT_ERROR packet.
        message: String,
    },
    /// No answer within the configured time (connect, ack, or awaited event).
    #[error("timed out")]
    Timeout,
    /// The connection is closed (by either side), so the request cannot complete.
    #[error("disconnected")]
    Disconnected,
    /// An event came that is not the one expected.
    #[error("expected event {expected:?}, got {got:?} with {data}")]
    UnexpectedEvent {
        /// The event name asked for.
        expected: String,
        /// The event name received.
        got: String,
        /// Its first argument.
        data: Value,
    },
    /// The payload to send could not be serialized to JSON.
    #[error("cannot serialize the payload: {0}")]
    Encode(#[source] serde_json::Error),
    /// The payload to send could not be serialized to msgpack.
    #[error("cannot serialize the payload to msgpack: {0}")]
    EncodeMsgpack(#[source] rmp_serde::encode::Error),
    /// An ack or HTTP body did not have the shape asked for.
    #[error("cannot decode {value} as the expected type: {source}")]
    Decode {
        /// What the server sent (JSON, or the HTTP body as a string).
        value: Value,
        /// Why it did not fit.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP response could not be parsed.
    #[error("malformed HTTP response: {0}")]
    BadHttpResponse(&'static str),
    /// An HTTP request got a status other than 2xx.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The body, as text.
        body: String,
    },
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::WebSocket(Box::new(e))
    }
}
