//! The ack envelope: `{"ok": true, ...}` or `{"ok": false, "error": {...}}`.

use crate::error::{ErrorBody, ErrorCode};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The answer to every client event: the ok body flattened next to `"ok": true`,
/// or an [`ErrorBody`] under `"error"` next to `"ok": false`.
#[derive(Debug, Clone, PartialEq)]
pub enum Ack<T> {
    /// `{"ok": true, ...T}`
    Ok(T),
    /// `{"ok": false, "error": {...}}`
    Err(ErrorBody),
}

impl<T> Ack<T> {
    /// A failed ack with this code and message.
    pub fn err(code: ErrorCode, message: impl Into<String>) -> Self {
        Ack::Err(ErrorBody::new(code, message))
    }

    /// The ack as a `Result`.
    pub fn into_result(self) -> Result<T, ErrorBody> {
        match self {
            Ack::Ok(t) => Ok(t),
            Ack::Err(e) => Err(e),
        }
    }
}

impl<T> From<Result<T, ErrorBody>> for Ack<T> {
    fn from(r: Result<T, ErrorBody>) -> Self {
        match r {
            Ok(t) => Ack::Ok(t),
            Err(e) => Ack::Err(e),
        }
    }
}

/// An ok body with no fields: `{"ok": true}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Serialize)]
struct OkRepr<'a, T> {
    ok: bool,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct ErrRepr<'a> {
    ok: bool,
    error: &'a ErrorBody,
}

impl<T: Serialize> Serialize for Ack<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ack::Ok(body) => OkRepr { ok: true, body }.serialize(s),
            Ack::Err(error) => ErrRepr { ok: false, error }.serialize(s),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Ack<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Clients read acks far less often than the server writes them, so going
        // through a JSON value keeps this simple and works for any format.
        let mut value = serde_json::Value::deserialize(d)?;
        let obj = value
            .as_object_mut()
            .ok_or_else(|| D::Error::custom("an ack must be an object"))?;
        match obj.remove("ok") {
            Some(serde_json::Value::Bool(true)) => {
                T::deserialize(value).map(Ack::Ok).map_err(D::Error::custom)
            }
            Some(serde_json::Value::Bool(false)) => {
                let error = obj
                    .remove("error")
                    .ok_or_else(|| D::Error::custom("a failed ack must carry `error`"))?;
                ErrorBody::deserialize(error)
                    .map(Ack::Err)
                    .map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom("an ack must carry a boolean `ok`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Seq {
        seq: u64,
    }

    #[test]
    fn ok_ack_flattens_its_body() {
        let ack = Ack::Ok(Seq { seq: 4 });
        assert_eq!(
            serde_json::to_value(&ack).unwrap(),
            json!({"ok": true, "seq": 4})
        );
        let back: Ack<Seq> = serde_json::from_value(json!({"ok": true, "seq": 4})).unwrap();
        assert_eq!(back, ack);
    }

    #[test]
    fn empty_ok_ack_is_just_ok() {
        assert_eq!(
            serde_json::to_value(Ack::Ok(Empty {})).unwrap(),
            json!({"ok": true})
        );
    }

    #[test]
    fn error_ack_carries_code_and_message() {
        let ack: Ack<Seq> = Ack::err(ErrorCode::RoomFull, "both seats are taken");
        let v = serde_json::to_value(&ack).unwrap();
        assert_eq!(
            v,
            json!({"ok": false, "error": {"code": "room_full", "message": "both seats are taken"}})
        );
        let back: Ack<Seq> = serde_json::from_value(v).unwrap();
        assert_eq!(back, ack);
    }
}
