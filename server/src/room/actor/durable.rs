//! Every change of a room is journaled and committed before anyone hears of
//! it: [`RoomActor::change`] applies an input, commits it with its events
//! (plus a snapshot every `SNAPSHOT_EVERY` events, the room's status, and the
//! results when the game ends) as one atomic write, and only then broadcasts
//! and acknowledges. A failed commit rebuilds the room from what the database
//! holds, so nothing unwritten is ever seen. The same [`RoomActor::apply_input`]
//! replays the journal when a room is recovered at start.

use super::{RoomActor, RoomEnv, Seat};
use crate::error::HubError;
use crate::game::{self, GameEvent, SeatResult};
use crate::room::RoomId;
use crate::store::{Input, JournalEntry, RoomSnapshot, StoredRoom, WriteOp, encode, encode_entry};
use protocol::events::LifecycleEvent;
use protocol::{PlayerRef, RoomStatus, SeatedPlayer};
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, warn};

impl RoomActor {
    /// Rebuilds a room from the database: its snapshot, then the journal after
    /// it replayed through the game. Every seated player starts disconnected,
    /// with the reconnect grace period to come back.
    pub(in crate::room) fn restore(
        stored: StoredRoom,
        env: RoomEnv,
    ) -> Result<(Self, watch::Receiver<protocol::RoomInfo>), HubError> {
        let id: RoomId = stored.id.as_str().into();
        let grace = env.grace;
        let fresh = game::create(&stored.game, None)?;
        let (mut actor, _) = Self::assemble(
            id,
            stored.game.clone(),
            fresh,
            stored.created_at,
            false,
            env,
        );
        actor.load(stored)?;
        let deadline = Instant::now() + grace;
        for seat in actor.seats.iter_mut().flatten() {
            seat.deadline = Some(deadline);
        }
        let (tx, rx) = watch::channel(actor.room_info());
        actor.info = tx;
        Ok((actor, rx))
    }

    /// Replaces the room's state with `stored` (sockets are the caller's concern).
    fn load(&mut self, stored: StoredRoom) -> Result<(), HubError> {
        self.log.clear();
        match stored.snapshot {
            Some(snap) => {
                self.game = game::restore(&stored.game, &snap.game)?;
                self.seats = snap
                    .seats
                    .into_iter()
                    .map(|p| {
                        p.map(|player| Seat {
                            player: Arc::new(player),
                            sockets: Vec::new(),
                            deadline: None,
                        })
                    })
                    .collect();
                self.seq = snap.seq;
                self.jseq = snap.jseq;
            }
            None => {
                self.game = game::create(&stored.game, None)?;
                self.seats = (0..self.game.max_players()).map(|_| None).collect();
                self.seq = 0;
                self.jseq = 0;
            }
        }
        for event in stored.earlier_events {
            let (seq, ev) = event.into_event();
            self.remember(seq, ev);
        }
        self.since_snapshot = 0;
        for (jseq, entry) in stored.journal {
            let JournalEntry { input, events } = entry;
            let replayed = self.apply_input(&input)?;
            if replayed.len() != events.len() && !matches!(input, Input::Notice) {
                warn!(room = %self.id, jseq, "replay produced {} events where the journal has {}", replayed.len(), events.len());
            }
            for event in events {
                let (seq, ev) = event.into_event();
                self.seq = seq;
                self.since_snapshot += 1;
                self.remember(seq, ev);
            }
            self.jseq = jseq;
        }
        let status = self.game.status();
        self.set_status(status);
        self.dirty = true;
        Ok(())
    }

    /// Applies `input` to the game and seats and returns the events it makes.
    /// Shared by live play and journal replay, so both take the same path.
    pub(super) fn apply_input(&mut self, input: &Input) -> Result<Vec<GameEvent>, HubError> {
        match input {
            Input::Seat { seat, player } => {
                let slot = self
                    .seats
                    .get_mut(usize::from(*seat))
                    .ok_or_else(|| HubError::Internal(format!("seat {seat} does not exist")))?;
                *slot = Some(Seat {
                    player: Arc::new(player.clone()),
                    sockets: Vec::new(),
                    deadline: None,
                });
                let joined = SeatedPlayer {
                    id: player.id.clone(),
                    name: player.name.clone(),
                    seat: *seat,
                };
                let mut events = vec![GameEvent::public(LifecycleEvent::PlayerJoined {
                    player: joined,
                })];
                let seated = self.seats.iter().filter(|s| s.is_some()).count() as u8;
                events.extend(self.game.seated(*seat, seated));
                Ok(events)
            }
            Input::Unseat { seat } => {
                if let Some(slot) = self.seats.get_mut(usize::from(*seat)) {
                    *slot = None;
                }
                Ok(vec![GameEvent::public(LifecycleEvent::PlayerLeft {
                    seat: *seat,
                })])
            }
            Input::Action { seat, action } => {
                if !action.get("type").is_some_and(serde_json::Value::is_string) {
                    return Err(HubError::BadRequest(
                        "`action` must be an object with a string `type`".into(),
                    ));
                }
                self.game.apply(*seat, action)
            }
            Input::Forfeit { seat } => Ok(self.game.forfeit(*seat)),
            Input::Notice => Ok(Vec::new()),
        }
    }

    /// Applies `input`, commits it with its events, then broadcasts them.
    /// Answers the seq of the last event. A refused input changes nothing; a
    /// failed commit answers `internal` and leaves the room as stored.
    pub(super) async fn change(&mut self, input: Input) -> Result<u64, HubError> {
        let events = self.apply_input(&input)?;
        self.commit(input, events).await
    }

    /// Records and broadcasts an event that changes no game state.
    pub(super) async fn notice(&mut self, event: LifecycleEvent) -> Result<u64, HubError> {
        self.commit(Input::Notice, vec![GameEvent::public(event)])
            .await
    }

    async fn commit(&mut self, input: Input, events: Vec<GameEvent>) -> Result<u64, HubError> {
        let first = self.seq + 1;
        let numbered: Vec<(u64, GameEvent)> = (first..).zip(events).collect();
        let jseq = self.jseq + 1;
        let last_seq = self.seq + numbered.len() as u64;
        let status = self.game.status();

        let room = self.id.to_string();
        let mut ops = Vec::with_capacity(4);
        if self.unsaved {
            ops.push(WriteOp::CreateRoom {
                id: room.clone(),
                game: self.game_name.clone(),
                node: self.env.node_id.clone(),
                created_at: self.created_at,
            });
        }
        ops.push(WriteOp::Journal {
            room: room.clone(),
            jseq,
            entry: encode_entry(&input, &numbered),
        });
        let since_snapshot = self.since_snapshot + numbered.len() as u64;
        let snapshot_due =
            since_snapshot >= self.env.snapshot_every || status == RoomStatus::Finished;
        if snapshot_due {
            let snap = RoomSnapshot {
                jseq,
                seq: last_seq,
                seats: self
                    .seats
                    .iter()
                    .map(|s| s.as_ref().map(|s| PlayerRef::clone(&s.player)))
                    .collect(),
                game: self.game.snapshot(),
            };
            ops.push(WriteOp::Snapshot {
                room: room.clone(),
                jseq,
                state: encode(&snap),
            });
        }
        if status != self.status {
            ops.push(WriteOp::RoomStatus {
                room,
                status: status.as_str(),
            });
            if status == RoomStatus::Finished {
                ops.extend(self.results_op());
            }
        }

        let sent = Instant::now();
        let written = self.env.store.write(ops).await;
        static WAIT: OnceLock<metrics::Histogram> = OnceLock::new();
        WAIT.get_or_init(|| metrics::histogram!("gamehub_room_commit_wait_seconds"))
            .record(sent.elapsed().as_secs_f64());
        if let Err(e) = written {
            error!(room = %self.id, cause = %e, "commit failed; rebuilding the room from the database");
            self.rollback().await;
            return Err(HubError::Internal(format!(
                "the move could not be saved ({e}); nothing changed, retry later"
            )));
        }
        self.unsaved = false;
        self.jseq = jseq;
        self.since_snapshot = if snapshot_due { 0 } else { since_snapshot };
        self.seq = last_seq;
        self.set_status(status);
        self.publish(numbered).await;
        Ok(last_seq)
    }

    fn results_op(&self) -> Option<WriteOp> {
        let results = self.game.results()?;
        let seats: Vec<(PlayerRef, SeatResult)> = self
            .seats
            .iter()
            .zip(results)
            .filter_map(|(s, r)| s.as_ref().map(|s| (PlayerRef::clone(&s.player), r)))
            .collect();
        Some(WriteOp::Result {
            game: self.game_name.clone(),
            seats,
        })
    }

    fn set_status(&mut self, status: RoomStatus) {
        if status == self.status {
            return;
        }
        metrics::gauge!("gamehub_rooms", "game" => self.game_name.clone(), "status" => self.status.as_str()).decrement(1);
        metrics::gauge!("gamehub_rooms", "game" => self.game_name.clone(), "status" => status.as_str()).increment(1);
        self.status = status;
        self.dirty = true;
    }

    /// After a failed commit, takes the state back to what the database holds,
    /// keeping the players' sockets. If even that fails, the room closes; it
    /// comes back from the database at the next start.
    async fn rollback(&mut self) {
        let loaded = self
            .env
            .store
            .load_room(self.id.to_string(), self.env.event_log_len)
            .await;
        let stored = match loaded {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                warn!(room = %self.id, "the room was never saved; closing it");
                self.close_at = Some(Instant::now());
                return;
            }
            Err(e) => {
                error!(room = %self.id, cause = %e, "cannot reload the room; closing it until the next start");
                self.broken = true;
                self.close_at = Some(Instant::now());
                return;
            }
        };
        let old_seats = std::mem::take(&mut self.seats);
        if let Err(e) = self.load(stored) {
            error!(room = %self.id, cause = %e, "cannot rebuild the room; closing it until the next start");
            self.broken = true;
            self.close_at = Some(Instant::now());
            return;
        }
        for old in old_seats.into_iter().flatten() {
            if let Some(seat) = self
                .seats
                .iter_mut()
                .flatten()
                .find(|s| s.player.id == old.player.id)
            {
                seat.sockets = old.sockets;
                seat.deadline = old.deadline;
            }
        }
        let status = self.game.status();
        self.set_status(status);
    }

    /// Takes the members out of the broadcast rooms, and marks a room that
    /// closes before its game ended as closed, so it is not recovered. A room
    /// that closes because it could not be rebuilt keeps its status: the next
    /// start tries again from what the database holds.
    pub(super) async fn close(&mut self) {
        tracing::debug!(room = %self.id, "room closed");
        let shutting_down = self.env.shutdown.is_cancelled();
        if !shutting_down && !self.unsaved && !self.broken && self.status != RoomStatus::Finished {
            let write = vec![WriteOp::RoomStatus {
                room: self.id.to_string(),
                status: "closed",
            }];
            if let Err(e) = self.env.store.write(write).await {
                warn!(room = %self.id, cause = %e, "could not mark the room closed; it will reopen empty at the next start");
            }
        }
        let mut channels = vec![
            self.channels.all.clone(),
            self.channels.audience(crate::game::Audience::Spectator),
        ];
        channels.extend(
            (0..self.seats.len() as u8)
                .map(|s| self.channels.audience(crate::game::Audience::Seat(s))),
        );
        if let Err(e) = self
            .env
            .fanout
            .leave_all(self.channels.all.clone(), channels)
            .await
        {
            warn!(room = %self.id, cause = %e, "could not take the members out of the room's channels");
        }
    }
}
