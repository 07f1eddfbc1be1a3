//! The simulated rooms: each writes what a tictactoe room writes per move and
//! waits for the commit before its next move, as a room waits before it acks.

use crate::report::{Errors, latency_histogram};
use gamehub::game::{self, GameEvent};
use gamehub::store::{Input, JournalEntry, RoomSnapshot, Store, StoredEvent, WriteOp, encode};
use hdrhistogram::Histogram;
use protocol::PlayerRef;
use protocol::games::tictactoe::Event;
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// The instance name the rooms are written under (recovery reads them back by it).
pub(super) const NODE: &str = "w6-node";

/// Phases every room task reads.
pub(super) const WARMUP: u8 = 0;
pub(super) const MEASURE: u8 = 1;
pub(super) const STOP: u8 = 2;

/// The bytes of a room's writes that do not change per move.
pub(super) struct Fixture {
    /// Two seated players.
    seats: Vec<Option<PlayerRef>>,
    /// A real tictactoe game's snapshot bytes, three moves in.
    game: Vec<u8>,
    /// A snapshot goes with every this many moves (the server's `SNAPSHOT_EVERY`).
    snapshot_every: u64,
}

impl Fixture {
    pub(super) fn new(snapshot_every: u64) -> Result<Self, String> {
        let mut g = game::create("tictactoe", None).map_err(|e| e.to_string())?;
        g.seated(0, 1);
        g.seated(1, 2);
        for (seat, cell) in [(0u8, 4u8), (1, 0), (0, 8)] {
            g.apply(seat, &json!({"type": "place", "cell": cell}))
                .map_err(|e| e.to_string())?;
        }
        // Player ids are 32 hex characters, as the server's guest ids.
        let player = |n: &str| PlayerRef {
            id: format!("{:032x}", rand::random::<u128>()),
            name: n.to_owned(),
        };
        Ok(Self {
            seats: vec![Some(player("alice")), Some(player("bob"))],
            game: g.snapshot(),
            snapshot_every: snapshot_every.max(1),
        })
    }

    /// What a tictactoe room writes for its move number `jseq`: the journal
    /// entry of one `place` action and its `placed` event (one event per
    /// move, so seq = jseq), and every `snapshot_every` moves a snapshot too.
    pub(super) fn move_ops(&self, room: &str, jseq: u64) -> Vec<WriteOp> {
        let seat = (jseq % 2) as u8;
        let cell = (jseq % 9) as u8;
        let event = GameEvent::public(Event::Placed { seat, cell });
        let entry = JournalEntry {
            input: Input::Action {
                seat,
                action: json!({"type": "place", "cell": cell}),
            },
            events: vec![StoredEvent::new(jseq, &event)],
        };
        let mut ops = vec![WriteOp::Journal {
            room: room.to_owned(),
            jseq,
            entry: encode(&entry),
        }];
        if jseq.is_multiple_of(self.snapshot_every) {
            let snap = RoomSnapshot {
                jseq,
                seq: jseq,
                seats: self.seats.clone(),
                game: self.game.clone(),
            };
            ops.push(WriteOp::Snapshot {
                room: room.to_owned(),
                jseq,
                state: encode(&snap),
            });
        }
        ops
    }

    /// Sizes of an encoded journal entry and snapshot.
    pub(super) fn record_bytes(&self) -> RecordBytes {
        let size = |op: &WriteOp| match op {
            WriteOp::Journal { entry, .. } => entry.len(),
            WriteOp::Snapshot { state, .. } => state.len(),
            _ => 0,
        };
        let room = room_id();
        let with_snapshot = self.move_ops(&room, self.snapshot_every);
        RecordBytes {
            journal_entry: with_snapshot.first().map_or(0, size),
            snapshot: with_snapshot.get(1).map_or(0, size),
        }
    }
}

/// Sizes of what a room writes, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RecordBytes {
    /// One encoded journal entry (a `place` action and its event).
    pub journal_entry: usize,
    /// One encoded snapshot (two seats and the game).
    pub snapshot: usize,
}

/// A room id like the server's: 12 random hex characters.
pub(super) fn room_id() -> String {
    format!("{:012x}", rand::random::<u64>() >> 16)
}

/// What the rooms of one mode share.
pub(super) struct Shared {
    /// [`WARMUP`], [`MEASURE`] or [`STOP`].
    pub phase: AtomicU8,
    /// Writes acknowledged inside the measured window.
    pub acked: AtomicU64,
    /// Ack wait of each of those, in microseconds.
    pub waits: Mutex<Histogram<u64>>,
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            phase: AtomicU8::new(WARMUP),
            acked: AtomicU64::new(0),
            waits: Mutex::new(latency_histogram()),
        }
    }
}

/// What one room did, for the read-back.
pub(super) struct RoomOutcome {
    pub id: String,
    /// Its last acknowledged move (every move before it was acknowledged too).
    pub last_jseq: u64,
    pub errors: Errors,
}

/// How a room paces its moves: flat out, or one every `interval` starting
/// `offset` in (so the rooms of a rate spread evenly).
#[derive(Debug, Clone, Copy)]
pub(super) enum Pace {
    FlatOut,
    Every {
        interval: Duration,
        offset: Duration,
    },
}

/// One room: creates itself, waits for every room to exist, then moves
/// until told to stop, each move waiting for its commit. A room that falls
/// behind its pace acts at once, as a real one would, without catching up.
pub(super) async fn room_task(
    store: Store,
    id: String,
    fixture: Arc<Fixture>,
    shared: Arc<Shared>,
    created: Arc<Barrier>,
    pace: Pace,
) -> RoomOutcome {
    let mut outcome = RoomOutcome {
        id,
        last_jseq: 0,
        errors: Errors::default(),
    };
    let create = vec![WriteOp::CreateRoom {
        id: outcome.id.clone(),
        game: "tictactoe".into(),
        node: NODE.into(),
        created_at: 0,
    }];
    if let Err(e) = store.write(create).await {
        outcome
            .errors
            .add(format!("creating room {}: {e}", outcome.id));
    }
    created.wait().await;
    let mut next = match pace {
        Pace::FlatOut => None,
        Pace::Every { interval, offset } => Some((tokio::time::Instant::now() + offset, interval)),
    };
    loop {
        if let Some((at, interval)) = next.as_mut() {
            tokio::time::sleep_until(*at).await;
            *at = (*at + *interval).max(tokio::time::Instant::now());
        }
        if shared.phase.load(Ordering::Acquire) == STOP {
            return outcome;
        }
        let jseq = outcome.last_jseq + 1;
        let ops = fixture.move_ops(&outcome.id, jseq);
        let sent = Instant::now();
        let result = store.write(ops).await;
        let wait = sent.elapsed();
        match result {
            Ok(()) => {
                outcome.last_jseq = jseq;
                // A write counts in the window when its ack arrives inside it.
                if shared.phase.load(Ordering::Acquire) == MEASURE {
                    let us = wait.as_micros().max(1) as u64;
                    shared
                        .waits
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .saturating_record(us);
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) => {
                // The room cannot know what the store kept: it stops, as a
                // real room rebuilds itself from the database.
                outcome
                    .errors
                    .add(format!("room {} move {jseq}: {e}", outcome.id));
                return outcome;
            }
        }
    }
}
