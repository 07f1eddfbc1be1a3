//! Turning an incoming event into a typed request, and answering it.
//!
//! [`Req`] runs the checks every event shares, in order: the socket's rate
//! limit, the payload size, then the payload's shape. Handlers get a
//! `Result`, so each one answers bad input with an error ack and never panics.

use super::session::SessionRef;
use crate::error::HubError;
use protocol::Ack;
use serde::Serialize;
use serde::de::DeserializeOwned;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A checked request of type `T` from a session, or why it was refused.
pub struct Req<T>(pub Result<(SessionRef, T), HubError>);

impl<A: Adapter, T: DeserializeOwned> FromMessageParts<A> for Req<T> {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        Ok(Req(check(s, v, ack_id)))
    }
}

fn check<A: Adapter, T: DeserializeOwned>(
    s: &Arc<Socket<A>>,
    v: &mut Value,
    ack_id: &Option<i64>,
) -> Result<(SessionRef, T), HubError> {
    let session = s.extensions.get::<SessionRef>().ok_or_else(|| {
        HubError::Unauthorized("this socket has no session; reconnect with a token".into())
    })?;
    if !session.allow() {
        metrics::counter!("gamehub_rate_limited_total").increment(1);
        return Err(HubError::RateLimited(
            "too many events from this socket; slow down",
        ));
    }
    let limit = session.max_payload;
    let size = match v {
        Value::Str(text, bins) => {
            text.len() + bins.as_ref().map_or(0, |b| b.iter().map(|b| b.len()).sum())
        }
        Value::Bytes(bytes) => bytes.len(),
    };
    if size > limit {
        return Err(HubError::PayloadTooLarge { size, limit });
    }
    let TryData(data) =
        TryData::<Object<T>>::from_message_parts(s, v, ack_id).unwrap_or_else(|e| match e {});
    match data {
        Ok(Object(data)) => Ok((session, data)),
        // `socket.emit("lobby:list", cb)`: no payload reads as `{}` where that is a valid request.
        Err(_) if has_no_argument(v) => serde_json::from_str("{}")
            .map(|data| (session, data))
            .map_err(|_| {
                HubError::BadRequest(
                    "this event needs a payload object; see docs/protocol.md".into(),
                )
            }),
        Err(e) => Err(HubError::BadRequest(format!("malformed payload: {e}"))),
    }
}

/// Whether a packet carries only its event name (`["lobby:list"]`), in either parser.
fn has_no_argument(v: &Value) -> bool {
    match v {
        Value::Str(text, _) => {
            serde_json::from_str::<Vec<serde::de::IgnoredAny>>(text).is_ok_and(|a| a.len() == 1)
        }
        // The msgpack parser hands over the packet's `data` array alone.
        Value::Bytes(bytes) => {
            rmp_serde::from_slice::<Vec<serde::de::IgnoredAny>>(bytes).is_ok_and(|a| a.len() == 1)
        }
    }
}

/// A payload that must be an object (a map): serde would otherwise also read
/// a struct from an array, field by field, and `[roomId, action]` would pass.
struct Object<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for OnlyMaps<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a payload object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(OnlyMaps(std::marker::PhantomData))
            .map(Object)
    }
}

/// The metrics of one kind of answer, labelled `label = value`: a counter by
/// answer code and a duration histogram. The handles of the common answer
/// (`ok`) are looked up once: finding a labelled metric by name on every
/// event cost more than sending its ack (callgrind, W2 in `docs/benchmarks.md`).
pub struct AnswerMetrics {
    counter: &'static str,
    label: &'static str,
    value: &'static str,
    ok: metrics::Counter,
    duration: metrics::Histogram,
}

/// Label of a `room:action` whose room is not on this instance.
pub const REMOTE_GAME: &str = "remote";
/// Label of a `room:action` refused before its room was known.
pub const UNKNOWN_GAME: &str = "unknown";

impl AnswerMetrics {
    /// Registers the handles with the installed recorder.
    fn new(
        counter: &'static str,
        histogram: &'static str,
        label: &'static str,
        value: &'static str,
    ) -> Self {
        Self {
            counter,
            label,
            value,
            ok: metrics::counter!(counter, label => value, "code" => "ok"),
            duration: metrics::histogram!(histogram, label => value),
        }
    }

    /// `gamehub_events_total` and `gamehub_event_duration_seconds` of `event`.
    pub fn event(event: &'static str) -> Self {
        Self::new(
            "gamehub_events_total",
            "gamehub_event_duration_seconds",
            "event",
            event,
        )
    }

    /// `gamehub_actions_total` and `gamehub_action_duration_seconds` of
    /// `game`: a name from [`crate::game::GAMES`], [`REMOTE_GAME`] or
    /// [`UNKNOWN_GAME`] (any other name counts as unknown). Made once per
    /// process, so the game label is never copied per action.
    pub fn action(game: &str) -> &'static AnswerMetrics {
        static ALL: OnceLock<Vec<AnswerMetrics>> = OnceLock::new();
        let all = ALL.get_or_init(|| {
            crate::game::GAMES
                .iter()
                .copied()
                .chain([REMOTE_GAME, UNKNOWN_GAME])
                .map(|game| {
                    Self::new(
                        "gamehub_actions_total",
                        "gamehub_action_duration_seconds",
                        "game",
                        game,
                    )
                })
                .collect()
        });
        all.iter()
            .find(|m| m.value == game)
            .or_else(|| all.iter().find(|m| m.value == UNKNOWN_GAME))
            .expect("the unknown game's metrics are always made")
    }

    /// Counts one answer by code and records how long it took.
    pub fn record<T>(&self, started: Instant, result: &Result<T, HubError>) {
        match result {
            Ok(_) => self.ok.increment(1),
            Err(e) => {
                metrics::counter!(self.counter, self.label => self.value, "code" => e.code().as_str())
                    .increment(1);
            }
        }
        self.duration.record(started.elapsed().as_secs_f64());
    }
}

/// Answers an event: the ok body or the error, and counts it by event and code.
pub fn respond<A: Adapter, T: Serialize>(
    ack: AckSender<A>,
    metrics: &AnswerMetrics,
    started: Instant,
    result: Result<T, HubError>,
) {
    metrics.record(started, &result);
    let ack_value: Ack<T> = result.map_err(|e| e.body()).into();
    // No ack callback, or the socket is gone: nobody to answer.
    let _ = ack.send(&ack_value);
}
