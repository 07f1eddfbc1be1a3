//! Engine.IO v4 and socket.io v5 text packets (default JSON parser): pure encode and decode.
//!
//! Over the WebSocket transport one WebSocket text frame carries exactly one
//! Engine.IO packet: a type digit followed by its payload. An Engine.IO
//! `message` (`4`) carries one socket.io packet:
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//! ```
//!
//! so `42["chat","hi"]` is an event, `4213["room:join",{...}]` an event asking
//! for ack 13, `4313[{"ok":true}]` the answer, `40{"token":"t"}` a CONNECT to
//! `/` with auth, `44{"message":"unauthorized"}` a refused connect. The
//! socket.io encoders here return the whole WebSocket frame text, `4` included.
//! Nothing here panics on bad input: every decoder returns [`PacketError`].

use serde::Serialize;
use serde::ser::Error as _;
use serde_json::Value;
use std::fmt::Write as _;

/// The main namespace, which is the only one gamehub uses.
pub const MAIN_NSP: &str = "/";

/// Engine.IO `pong` with no payload: the answer to a server `ping` (`2`).
pub const PONG: &str = "3";

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The frame was empty.
    #[error("empty packet")]
    Empty,
    /// The Engine.IO type is not one of `0`..=`6`.
    #[error("unknown Engine.IO packet type {0:?}")]
    UnknownEngineType(char),
    /// The socket.io type is not one of `0`..=`6`.
    #[error("unknown socket.io packet type {0:?}")]
    UnknownSocketType(char),
    /// The Engine.IO `open` payload is not the expected JSON object.
    #[error("bad Engine.IO open packet: {0}")]
    BadOpen(String),
    /// A binary packet whose attachment count is missing or not a number.
    #[error("bad attachment count")]
    BadAttachments,
    /// An ack id that is missing (on an ACK) or does not fit in a `u64`.
    #[error("missing or invalid ack id")]
    BadAckId,
    /// The payload is not valid JSON.
    #[error("invalid JSON payload: {0}")]
    Json(String),
    /// The payload is JSON of the wrong shape for the packet type.
    #[error("bad payload: {0}")]
    BadPayload(&'static str),
}

/// The Engine.IO handshake the server sends first: `0{"sid", "pingInterval", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket {
    /// Engine.IO session id.
    pub sid: String,
    /// Milliseconds between two server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong; the client also waits this long
    /// past `ping_interval` for the next ping before giving up on the server.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes, when it says.
    #[serde(default)]
    pub max_payload: Option<u64>,
}

/// One decoded Engine.IO packet; payloads borrow from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnginePacket<'a> {
    /// `0`: handshake.
    Open(OpenPacket),
    /// `1`: the server closes the session.
    Close,
    /// `2`: heartbeat from the server, to be answered with a pong carrying the same payload.
    Ping(&'a str),
    /// `3`: answer to a ping.
    Pong(&'a str),
    /// `4`: a socket.io packet, still encoded.
    Message(&'a str),
    /// `5`: transport upgrade (not used over WebSocket only).
    Upgrade,
    /// `6`: no-op.
    Noop,
}

/// Decodes one Engine.IO text frame.
pub fn decode_engine(frame: &str) -> Result<EnginePacket<'_>, PacketError> {
    let (kind, rest) = split_type(frame)?;
    Ok(match kind {
        '0' => EnginePacket::Open(
            serde_json::from_str(rest).map_err(|e| PacketError::BadOpen(e.to_string()))?,
        ),
        '1' => EnginePacket::Close,
        '2' => EnginePacket::Ping(rest),
        '3' => EnginePacket::Pong(rest),
        '4' => EnginePacket::Message(rest),
        '5' => EnginePacket::Upgrade,
        '6' => EnginePacket::Noop,
        other => return Err(PacketError::UnknownEngineType(other)),
    })
}

/// The pong answering a ping that carried `payload` (usually empty).
pub fn encode_pong(payload: &str) -> String {
    let mut out = String::with_capacity(1 + payload.len());
    out.push_str(PONG);
    out.push_str(payload);
    out
}

/// One decoded socket.io packet; the namespace borrows from the frame.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketPacket<'a> {
    /// `0`: CONNECT. From the server, `data` is `{"sid": ...}`.
    Connect {
        /// Namespace, `/` when the frame names none.
        nsp: &'a str,
        /// The JSON object after the header, if any.
        data: Option<Value>,
    },
    /// `1`: DISCONNECT from the namespace.
    Disconnect {
        /// Namespace.
        nsp: &'a str,
    },
    /// `2` EVENT, or `5` BINARY_EVENT when `attachments > 0`.
    Event {
        /// Namespace.
        nsp: &'a str,
        /// Set when the sender asks for an ack.
        id: Option<u64>,
        /// Event name: the first element of the JSON array.
        event: String,
        /// The remaining elements. Binary attachments stay as their
        /// `{"_placeholder": true, "num": n}` objects.
        args: Vec<Value>,
        /// Count of binary attachment frames that follow (0 for `2`).
        attachments: u32,
    },
    /// `3` ACK, or `6` BINARY_ACK when `attachments > 0`.
    Ack {
        /// Namespace.
        nsp: &'a str,
        /// Id of the event this answers.
        id: u64,
        /// The ack arguments (the JSON array, possibly empty).
        args: Vec<Value>,
        /// Count of binary attachment frames that follow (0 for `3`).
        attachments: u32,
    },
    /// `4`: CONNECT_ERROR. In v5 `data` is `{"message": ..., "data"?: ...}`.
    ConnectError {
        /// Namespace.
        nsp: &'a str,
        /// The error payload (`Null` if the frame had none).
        data: Value,
    },
}

impl SocketPacket<'_> {
    /// The namespace the packet belongs to.
    pub fn nsp(&self) -> &str {
        match self {
            SocketPacket::Connect { nsp, .. }
            | SocketPacket::Disconnect { nsp }
            | SocketPacket::Event { nsp, .. }
            | SocketPacket::Ack { nsp, .. }
            | SocketPacket::ConnectError { nsp, .. } => nsp,
        }
    }
}

/// Decodes a socket.io packet: the payload of an Engine.IO `message`, without the `4`.
pub fn decode_socket(msg: &str) -> Result<SocketPacket<'_>, PacketError> {
    let (kind, mut rest) = split_type(msg)?;
    if !('0'..='6').contains(&kind) {
        return Err(PacketError::UnknownSocketType(kind));
    }

    let mut attachments = 0;
    if kind == '5' || kind == '6' {
        let (count, after) = rest.split_once('-').ok_or(PacketError::BadAttachments)?;
        attachments = count.parse().map_err(|_| PacketError::BadAttachments)?;
        rest = after;
    }

    let mut nsp = MAIN_NSP;
    if rest.starts_with('/') {
        (nsp, rest) = rest.split_once(',').unwrap_or((rest, ""));
    }

    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits == 0 {
        None
    } else {
        Some(
            rest[..digits]
                .parse::<u64>()
                .map_err(|_| PacketError::BadAckId)?,
        )
    };
    let payload = &rest[digits..];
    let json = || -> Result<Value, PacketError> {
        serde_json::from_str(payload).map_err(|e| PacketError::Json(e.to_string()))
    };

    Ok(match kind {
        '0' => {
            let data = if payload.is_empty() {
                None
            } else {
                Some(json()?)
            };
            if data.as_ref().is_some_and(|d| !d.is_object()) {
                return Err(PacketError::BadPayload("CONNECT data must be an object"));
            }
            SocketPacket::Connect { nsp, data }
        }
        '1' => SocketPacket::Disconnect { nsp },
        '2' | '5' => {
            let Value::Array(mut args) = json()? else {
                return Err(PacketError::BadPayload("an event must be a JSON array"));
            };
            if !args.first().is_some_and(Value::is_string) {
                return Err(PacketError::BadPayload("an event must start with its name"));
            }
            let Value::String(event) = args.remove(0) else {
                return Err(PacketError::BadPayload("an event must start with its name"));
            };
            SocketPacket::Event {
                nsp,
                id,
                event,
                args,
                attachments,
            }
        }
        '3' | '6' => {
            let id = id.ok_or(PacketError::BadAckId)?;
            let Value::Array(args) = json()? else {
                return Err(PacketError::BadPayload("an ack must be a JSON array"));
            };
            SocketPacket::Ack {
                nsp,
                id,
                args,
                attachments,
            }
        }
        _ => {
            let data = if payload.is_empty() {
                Value::Null
            } else {
                json()?
            };
            SocketPacket::ConnectError { nsp, data }
        }
    })
}

/// `40[nsp,][auth]`: CONNECT to `nsp`, with the auth object if any.
pub fn encode_connect(nsp: &str, auth: Option<&Value>) -> String {
    let mut out = header('0', nsp, None);
    if let Some(auth) = auth {
        out.push_str(&auth.to_string());
    }
    out
}

/// `41[nsp,]`: DISCONNECT from `nsp`.
pub fn encode_disconnect(nsp: &str) -> String {
    header('1', nsp, None)
}

/// `42[nsp,][id]["event",data]`: an event with one argument, asking for ack `id` if set.
pub fn encode_event<T: Serialize + ?Sized>(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    data: &T,
) -> Result<String, serde_json::Error> {
    encode_array(header('2', nsp, id), Some(event), std::iter::once(data))
}

/// `42[nsp,][id]["event",args...]`: an event with any number of arguments (even none).
pub fn encode_event_args(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &[Value],
) -> Result<String, serde_json::Error> {
    encode_array(header('2', nsp, id), Some(event), args.iter())
}

/// `43[nsp,]id[args...]`: an ack. Clients of gamehub never need to send one;
/// this exists so tests and fake servers can build the frames a server sends.
pub fn encode_ack(nsp: &str, id: u64, args: &[Value]) -> Result<String, serde_json::Error> {
    encode_array(header('3', nsp, Some(id)), None, args.iter())
}

/// `4<type>[nsp,][id]`.
fn header(kind: char, nsp: &str, id: Option<u64>) -> String {
    let mut out = String::with_capacity(32);
    out.push('4');
    out.push(kind);
    if nsp != MAIN_NSP {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = id {
        // Writing to a String cannot fail.
        let _ = write!(out, "{id}");
    }
    out
}

/// Appends the JSON array `[first?, items...]` to `head`, serializing each item in place.
fn encode_array<'a, T: Serialize + ?Sized + 'a>(
    head: String,
    first: Option<&str>,
    items: impl Iterator<Item = &'a T>,
) -> Result<String, serde_json::Error> {
    let mut buf = head.into_bytes();
    buf.push(b'[');
    let mut sep = false;
    if let Some(first) = first {
        serde_json::to_writer(&mut buf, first)?;
        sep = true;
    }
    for item in items {
        if sep {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, item)?;
        sep = true;
    }
    buf.push(b']');
    String::from_utf8(buf).map_err(serde_json::Error::custom)
}

/// Splits off the leading type digit, without slicing inside a multi-byte character.
fn split_type(frame: &str) -> Result<(char, &str), PacketError> {
    let mut chars = frame.chars();
    let kind = chars.next().ok_or(PacketError::Empty)?;
    Ok((kind, chars.as_str()))
}

#[cfg(test)]
mod tests;
