//! socket.io packets with the msgpack parser (`socket.io-msgpack-parser`, gamehub's `SOCKETIO_PARSER=msgpack`).
//!
//! Each socket.io packet is one binary WebSocket frame holding a msgpack map
//! `{"type": n, "nsp": "/", "data"?: ..., "id"?: n}`: an event's `data` is the
//! array `[name, args...]`, an ack's the array of its arguments, a CONNECT's
//! the auth object. Engine.IO's own packets (open, ping, pong) stay text
//! frames, handled by [`super::packet`]. Decoding reuses [`SocketPacket`], so
//! the connection task treats both parsers' packets alike.

use super::packet::{PacketError, SocketPacket};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A packet as written: `data` and `id` are left out when `None`.
#[derive(Serialize)]
struct Out<'a, D: Serialize> {
    r#type: u8,
    nsp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
}

/// A packet as read; `nsp` borrows from the frame.
#[derive(Deserialize)]
struct In<'a> {
    r#type: u8,
    #[serde(borrow)]
    nsp: &'a str,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    id: Option<u64>,
}

/// An event's `data`: `[name, args...]`, serialized in place.
struct EventData<'a, A> {
    name: &'a str,
    args: A,
}

impl<'a, T, A> Serialize for EventData<'a, A>
where
    T: Serialize + ?Sized + 'a,
    A: Iterator<Item = &'a T> + ExactSizeIterator + Clone,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(1 + self.args.len()))?;
        seq.serialize_element(self.name)?;
        for arg in self.args.clone() {
            seq.serialize_element(arg)?;
        }
        seq.end()
    }
}

fn encode<D: Serialize>(
    kind: u8,
    nsp: &str,
    data: Option<D>,
    id: Option<u64>,
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(&Out {
        r#type: kind,
        nsp,
        data,
        id,
    })
}

/// CONNECT to `nsp`, with the auth object if any.
pub fn encode_connect(
    nsp: &str,
    auth: Option<&Value>,
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    encode(0, nsp, auth, None)
}

/// DISCONNECT from `nsp`.
pub fn encode_disconnect(nsp: &str) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    encode::<()>(1, nsp, None, None)
}

/// An event with one argument, asking for ack `id` if set.
pub fn encode_event<T: Serialize + ?Sized>(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    data: &T,
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let data = EventData {
        name: event,
        args: std::iter::once(data),
    };
    encode(2, nsp, Some(data), id)
}

/// An event with any number of arguments (even none).
pub fn encode_event_args(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &[Value],
) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let data = EventData {
        name: event,
        args: args.iter(),
    };
    encode(2, nsp, Some(data), id)
}

/// An ack; for tests and fake servers, as [`super::packet::encode_ack`].
pub fn encode_ack(nsp: &str, id: u64, args: &[Value]) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    encode(3, nsp, Some(args), Some(id))
}

/// Decodes one binary frame.
pub fn decode(frame: &[u8]) -> Result<SocketPacket<'_>, PacketError> {
    if frame.is_empty() {
        return Err(PacketError::Empty);
    }
    let packet: In<'_> =
        rmp_serde::from_slice(frame).map_err(|e| PacketError::Json(format!("msgpack: {e}")))?;
    let nsp = packet.nsp;
    Ok(match packet.r#type {
        0 => {
            if packet.data.as_ref().is_some_and(|d| !d.is_object()) {
                return Err(PacketError::BadPayload("CONNECT data must be an object"));
            }
            SocketPacket::Connect {
                nsp,
                data: packet.data,
            }
        }
        1 => SocketPacket::Disconnect { nsp },
        2 | 5 => {
            let Some(Value::Array(mut args)) = packet.data else {
                return Err(PacketError::BadPayload("an event must be an array"));
            };
            if !args.first().is_some_and(Value::is_string) {
                return Err(PacketError::BadPayload("an event must start with its name"));
            }
            let Value::String(event) = args.remove(0) else {
                return Err(PacketError::BadPayload("an event must start with its name"));
            };
            SocketPacket::Event {
                nsp,
                id: packet.id,
                event,
                args,
                attachments: 0,
            }
        }
        3 | 6 => {
            let id = packet.id.ok_or(PacketError::BadAckId)?;
            let args = match packet.data {
                Some(Value::Array(args)) => args,
                None => Vec::new(),
                Some(_) => return Err(PacketError::BadPayload("an ack must be an array")),
            };
            SocketPacket::Ack {
                nsp,
                id,
                args,
                attachments: 0,
            }
        }
        4 => SocketPacket::ConnectError {
            nsp,
            data: packet.data.unwrap_or(Value::Null),
        },
        other => {
            return Err(PacketError::UnknownSocketType(char::from(
                b'0' + other.min(9),
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip() {
        let frame = encode_event(
            "/",
            Some(7),
            "room:chat",
            &json!({"roomId": "r", "text": "hi"}),
        )
        .unwrap();
        let packet = decode(&frame).unwrap();
        assert_eq!(
            packet,
            SocketPacket::Event {
                nsp: "/",
                id: Some(7),
                event: "room:chat".to_owned(),
                args: vec![json!({"roomId": "r", "text": "hi"})],
                attachments: 0,
            }
        );
        let frame = encode_event_args("/", None, "x", &[]).unwrap();
        assert!(
            matches!(decode(&frame).unwrap(), SocketPacket::Event { id: None, ref args, .. } if args.is_empty())
        );
    }

    #[test]
    fn the_wire_shape_is_the_parsers_map() {
        // What socket.io-msgpack-parser (and socketioxide) write for `42["a",1]` with ack 3.
        let frame = encode_event("/", Some(3), "a", &1).unwrap();
        let value: Value = rmp_serde::from_slice(&frame).unwrap();
        assert_eq!(
            value,
            json!({"type": 2, "nsp": "/", "data": ["a", 1], "id": 3})
        );
        let connect: Value = rmp_serde::from_slice(&encode_connect("/", None).unwrap()).unwrap();
        assert_eq!(connect, json!({"type": 0, "nsp": "/"}));
    }

    #[test]
    fn acks_connects_and_errors_decode() {
        let ack = encode_ack("/", 9, &[json!({"ok": true})]).unwrap();
        assert_eq!(
            decode(&ack).unwrap(),
            SocketPacket::Ack {
                nsp: "/",
                id: 9,
                args: vec![json!({"ok": true})],
                attachments: 0
            }
        );
        let refused = rmp_serde::to_vec_named(
            &json!({"type": 4, "nsp": "/", "data": {"message": "unauthorized"}}),
        )
        .unwrap();
        assert_eq!(
            decode(&refused).unwrap(),
            SocketPacket::ConnectError {
                nsp: "/",
                data: json!({"message": "unauthorized"})
            }
        );
        let connected =
            rmp_serde::to_vec_named(&json!({"type": 0, "nsp": "/", "data": {"sid": "s1"}}))
                .unwrap();
        assert!(matches!(
            decode(&connected).unwrap(),
            SocketPacket::Connect { data: Some(_), .. }
        ));
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        for junk in [
            &b""[..],
            b"\xc1",
            b"\x93\x01\x02\x03",
            b"\x82\xa4type\x09\xa3nsp\xa1/",
        ] {
            assert!(decode(junk).is_err(), "{junk:?}");
        }
        let no_name =
            rmp_serde::to_vec_named(&json!({"type": 2, "nsp": "/", "data": [1]})).unwrap();
        assert!(decode(&no_name).is_err());
    }
}
