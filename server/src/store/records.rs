//! What a room writes to its journal and snapshots (rmp-serde, self-describing).

use crate::game::{Audience, GameEvent};
use protocol::PlayerRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A state change of a room, as it was applied. Replaying the inputs after a
/// snapshot, in order, through the same game code rebuilds the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Input {
    /// A player took `seat`.
    Seat {
        /// The seat.
        seat: u8,
        /// Who.
        player: PlayerRef,
    },
    /// The seat was freed before the game started.
    Unseat {
        /// The seat.
        seat: u8,
    },
    /// A game action from `seat`.
    Action {
        /// The seat that acted.
        seat: u8,
        /// The action as received.
        action: Value,
    },
    /// The player of `seat` forfeited.
    Forfeit {
        /// The seat.
        seat: u8,
    },
    /// No change of state; only events (a player disconnected or came back).
    Notice,
}

/// One event with its `seq` and per-audience versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event's seq.
    pub seq: u64,
    /// What everybody without an override sees.
    pub public: Value,
    /// Versions for particular audiences (`None` = spectators, `Some(n)` = seat n).
    pub overrides: Vec<(Option<u8>, Value)>,
}

impl StoredEvent {
    /// The stored form of `event` numbered `seq`.
    pub fn new(seq: u64, event: &GameEvent) -> Self {
        let overrides = event
            .overrides
            .iter()
            .map(|(a, v)| (a.seat(), v.clone()))
            .collect();
        Self {
            seq,
            public: event.public.clone(),
            overrides,
        }
    }

    /// Back to a game event.
    pub fn into_event(self) -> (u64, GameEvent) {
        let overrides = self
            .overrides
            .into_iter()
            .map(|(who, v)| (who.map_or(Audience::Spectator, Audience::Seat), v))
            .collect();
        (
            self.seq,
            GameEvent {
                public: self.public,
                overrides,
            },
        )
    }
}

/// One journal record: the input and the events it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// What changed.
    pub input: Input,
    /// The events it produced, with their seqs.
    pub events: Vec<StoredEvent>,
}

/// A room's whole state at one journal position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    /// The last journal entry included.
    pub jseq: u64,
    /// The room's seq at that point.
    pub seq: u64,
    /// Who holds each seat.
    pub seats: Vec<Option<PlayerRef>>,
    /// The game's own snapshot bytes.
    pub game: Vec<u8>,
}

/// Encodes a record for the database.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Most records are a few hundred bytes: one allocation instead of a
    // Vec that grows five times from empty.
    let mut bytes = Vec::with_capacity(256);
    // Records are plain data (strings, numbers, JSON values): encoding cannot fail.
    match rmp_serde::encode::write_named(&mut bytes, value) {
        Ok(()) => bytes,
        Err(_) => Vec::new(),
    }
}

/// Encodes the [`JournalEntry`] of `input` and the numbered `events` it
/// produced, byte for byte as `encode(&JournalEntry { .. })` would, without
/// copying the events into [`StoredEvent`]s first: a room commits, then
/// broadcasts and keeps the same events.
pub fn encode_entry(input: &Input, events: &[(u64, GameEvent)]) -> Vec<u8> {
    /// [`JournalEntry`], borrowed (same fields, same order).
    #[derive(Serialize)]
    struct EntryRef<'a> {
        input: &'a Input,
        events: Vec<EventRef<'a>>,
    }
    /// [`StoredEvent`], borrowed (same fields, same order).
    #[derive(Serialize)]
    struct EventRef<'a> {
        seq: u64,
        public: &'a Value,
        overrides: Vec<(Option<u8>, &'a Value)>,
    }
    let events = events
        .iter()
        .map(|(seq, event)| EventRef {
            seq: *seq,
            public: &event.public,
            overrides: event
                .overrides
                .iter()
                .map(|(audience, v)| (audience.seat(), v))
                .collect(),
        })
        .collect();
    encode(&EntryRef { input, events })
}

/// Decodes a record from the database.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

/// A room as the database holds it, for recovery at start.
#[derive(Debug, Clone)]
pub struct StoredRoom {
    /// Room id.
    pub id: String,
    /// Game name.
    pub game: String,
    /// Creation time, ms since the epoch.
    pub created_at: u64,
    /// The latest snapshot, if any was taken.
    pub snapshot: Option<RoomSnapshot>,
    /// Journal entries after the snapshot (to replay), in order, with their jseq.
    pub journal: Vec<(u64, JournalEntry)>,
    /// Events from just before the snapshot, so `room:sync` can still serve them.
    pub earlier_events: Vec<StoredEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_borrowed_entry_encodes_as_the_owned_one() {
        let input = Input::Action {
            seat: 0,
            action: json!({"type": "place", "cell": 4}),
        };
        let events = vec![
            (
                7,
                GameEvent {
                    public: json!({"type": "placed", "seat": 0, "cell": 4}),
                    overrides: vec![
                        (Audience::Seat(1), json!({"hand": [1, 2]})),
                        (Audience::Spectator, json!(null)),
                    ],
                },
            ),
            (8, GameEvent::public(json!({"type": "game_over"}))),
        ];
        let owned = JournalEntry {
            input: input.clone(),
            events: events
                .iter()
                .map(|(seq, ev)| StoredEvent::new(*seq, ev))
                .collect(),
        };
        let bytes = encode_entry(&input, &events);
        assert_eq!(bytes, encode(&owned));
        assert_eq!(decode::<JournalEntry>(&bytes).unwrap(), owned);
    }

    #[test]
    fn records_round_trip_through_msgpack() {
        let entry = JournalEntry {
            input: Input::Action {
                seat: 1,
                action: json!({"type": "place", "cell": 4}),
            },
            events: vec![StoredEvent {
                seq: 7,
                public: json!({"type": "placed", "seat": 1, "cell": 4}),
                overrides: vec![(Some(1), json!({"secret": [1, 2]})), (None, json!(null))],
            }],
        };
        let back: JournalEntry = decode(&encode(&entry)).unwrap();
        assert_eq!(back, entry);
    }
}
