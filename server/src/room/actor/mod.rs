//! The room actor: one task per room that owns the game, the seats and the
//! event log, and handles one request at a time. Every change of state is
//! journaled and committed before it is broadcast or acknowledged
//! ([`durable`]); events go out once per audience ([`publish`]); who is in
//! the room and how sockets join its channels is in [`members`].

mod durable;
mod members;
mod publish;

use super::Member;
use super::fanout::{Fanout, Outgoing};
use super::handle::{Posted, Reply, RoomMsg};
use super::{Channels, RoomId};
use crate::auth::{Player, unix_now};
use crate::error::HubError;
use crate::game::{Audience, Game, GameEvent};
use crate::store::{Input, Store};
use protocol::events::{ChatLine, RoomEvent, Synced};
use protocol::{PlayerInfo, PlayerRef, RoomInfo, RoomStatus, event_names};
use serde_json::Value;
use socketioxide::socket::Sid;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What a room needs from the hub around it.
#[derive(Clone)]
pub(super) struct RoomEnv {
    pub fanout: Arc<dyn Fanout>,
    pub store: Store,
    pub node_id: String,
    pub grace: Duration,
    pub linger: Duration,
    pub event_log_len: usize,
    pub snapshot_every: u64,
    pub shutdown: CancellationToken,
}

struct Seat {
    player: Player,
    /// The player's sockets in this room (several tabs share one seat, on any instance).
    sockets: Vec<Member>,
    /// When the seat is forfeited or freed if nobody comes back.
    deadline: Option<Instant>,
}

pub(super) struct RoomActor {
    id: RoomId,
    game_name: String,
    game: Box<dyn Game>,
    channels: Channels,
    seats: Vec<Option<Seat>>,
    spectators: Vec<Member>,
    /// Seq of the latest committed event.
    seq: u64,
    /// Position of the latest committed journal entry.
    jseq: u64,
    /// Events committed since the last snapshot.
    since_snapshot: u64,
    /// The room row is not in the database yet (a new room's first commit adds it).
    unsaved: bool,
    /// The latest events, for `room:sync`.
    log: VecDeque<(u64, GameEvent)>,
    created_at: u64,
    /// Status as last committed (and counted in the rooms gauge).
    status: RoomStatus,
    close_at: Option<Instant>,
    /// The room could not be rebuilt after a failed commit and is closing.
    broken: bool,
    /// Membership changed since the lobby view was last published.
    dirty: bool,
    info: watch::Sender<RoomInfo>,
    env: RoomEnv,
}

impl RoomActor {
    /// A new, empty room; its database row is written with its first change.
    pub(super) fn new(
        id: RoomId,
        game_name: String,
        game: Box<dyn Game>,
        env: RoomEnv,
    ) -> (Self, watch::Receiver<RoomInfo>) {
        Self::assemble(
            id,
            game_name,
            game,
            unix_now().as_millis() as u64,
            true,
            env,
        )
    }

    fn assemble(
        id: RoomId,
        game_name: String,
        game: Box<dyn Game>,
        created_at: u64,
        unsaved: bool,
        env: RoomEnv,
    ) -> (Self, watch::Receiver<RoomInfo>) {
        let status = game.status();
        metrics::gauge!("gamehub_rooms", "game" => game_name.clone(), "status" => status.as_str())
            .increment(1);
        let mut actor = Self {
            channels: Channels::new(&id),
            seats: (0..game.max_players()).map(|_| None).collect(),
            id,
            game_name,
            game,
            spectators: Vec::new(),
            seq: 0,
            jseq: 0,
            since_snapshot: 0,
            unsaved,
            log: VecDeque::new(),
            created_at,
            status,
            close_at: None,
            broken: false,
            dirty: true,
            info: watch::channel(RoomInfo {
                id: String::new(),
                game: String::new(),
                status,
                players: Vec::new(),
                max_players: 0,
                spectators: 0,
                created_at,
                node: None,
            })
            .0,
            env,
        };
        let info = actor.room_info();
        let (tx, rx) = watch::channel(info);
        actor.info = tx;
        (actor, rx)
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Posted>) {
        // A recovered room may have nobody to wait for: decide before waiting.
        // (A new room is about to seat its creator.)
        if !self.unsaved {
            self.after_change();
        }
        debug!(room = %self.id, game = %self.game_name, "room opened");
        // One wait on the shutdown token for the room's whole life: a fresh
        // `cancelled()` in every turn of the loop would join and leave the
        // token's waiter list (a lock each) at every message.
        let shutdown = self.env.shutdown.clone();
        let mut stopping = std::pin::pin!(shutdown.cancelled());
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                posted = rx.recv() => match posted {
                    Some(Posted { msg, at }) => {
                        static WAIT: OnceLock<metrics::Histogram> = OnceLock::new();
                        WAIT.get_or_init(|| metrics::histogram!("gamehub_room_mailbox_wait_seconds"))
                            .record(at.elapsed().as_secs_f64());
                        self.handle(msg).await;
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.on_deadline().await;
                }
                _ = &mut stopping => break,
            }
            self.after_change();
            if self.close_at.is_some_and(|t| t <= Instant::now()) {
                break;
            }
        }
        // Whatever is still queued gets an honest answer instead of a dropped reply.
        rx.close();
        while let Ok(Posted { msg, .. }) = rx.try_recv() {
            self.refuse_closed(msg);
        }
        self.close().await;
    }

    async fn handle(&mut self, msg: RoomMsg) {
        // Actions, chat and sync never change who is in the room.
        self.dirty |= matches!(
            msg,
            RoomMsg::Join { .. }
                | RoomMsg::Leave { .. }
                | RoomMsg::SocketGone { .. }
                | RoomMsg::NodeGone { .. }
        );
        match msg {
            RoomMsg::Join {
                member,
                role,
                reply,
            } => {
                let r = self.join(member, role).await;
                send(reply, r);
            }
            RoomMsg::Leave { sid, reply } => {
                let r = self.leave(sid).await;
                send(reply, r);
            }
            RoomMsg::Action { sid, action, reply } => {
                let r = self.action(sid, action).await;
                send(reply, r);
            }
            RoomMsg::Chat { sid, text, reply } => {
                let r = self.chat(sid, text).await;
                send(reply, r);
            }
            RoomMsg::Sync {
                sid,
                since_seq,
                reply,
            } => {
                let r = self.sync(sid, since_seq);
                send(reply, r);
            }
            RoomMsg::SocketGone { sid } => self.socket_gone(sid).await,
            RoomMsg::NodeGone { node } => {
                // Every socket of a dead instance is gone, told or not.
                let gone: Vec<Sid> = self
                    .seats
                    .iter()
                    .flatten()
                    .flat_map(|s| s.sockets.iter())
                    .chain(self.spectators.iter())
                    .filter(|m| *m.node == *node)
                    .map(|m| m.sid)
                    .collect();
                for sid in gone {
                    self.socket_gone(sid).await;
                }
            }
        }
    }

    fn refuse_closed(&self, msg: RoomMsg) {
        let gone = || HubError::RoomNotFound(self.id.to_string());
        match msg {
            RoomMsg::Join { reply, .. } => send(reply, Err(gone())),
            RoomMsg::Leave { reply, .. } => send(reply, Err(gone())),
            RoomMsg::Action { reply, .. } => send(reply, Err(gone())),
            RoomMsg::Chat { reply, .. } => send(reply, Err(gone())),
            RoomMsg::Sync { reply, .. } => send(reply, Err(gone())),
            RoomMsg::SocketGone { .. } | RoomMsg::NodeGone { .. } => {}
        }
    }

    // ------------------------------------------------------------ requests

    async fn action(&mut self, sid: Sid, action: Value) -> Result<u64, HubError> {
        let seat = match self.seat_of_socket(sid) {
            Some(seat) => seat,
            None if self.spectators.iter().any(|m| m.sid == sid) => {
                return Err(HubError::NotInRoom(format!(
                    "you watch room `{}` as a spectator; only seated players can act",
                    self.id
                )));
            }
            None => return Err(self.not_in_room()),
        };
        self.change(Input::Action { seat, action }).await
    }

    async fn chat(&mut self, sid: Sid, text: String) -> Result<(), HubError> {
        let from = match self.seat_of_socket(sid) {
            Some(seat) => self.seats[usize::from(seat)]
                .as_ref()
                .map(|s| PlayerRef::clone(&s.player)),
            None => self
                .spectators
                .iter()
                .find(|m| m.sid == sid)
                .map(|m| PlayerRef::clone(&m.player)),
        }
        .ok_or_else(|| self.not_in_room())?;
        let line = ChatLine {
            room_id: self.id.to_string(),
            from,
            text,
            ts: unix_now().as_millis() as u64,
        };
        let to = self.channels.all.clone();
        if let Err(e) = self
            .env
            .fanout
            .emit(
                to,
                Vec::new(),
                event_names::ROOM_CHAT,
                Outgoing::Chat(&line),
            )
            .await
        {
            warn!(room = %self.id, cause = %e, "chat broadcast failed");
        }
        Ok(())
    }

    fn sync(&self, sid: Sid, since_seq: u64) -> Result<Synced, HubError> {
        let audience = self.audience_of(sid).ok_or_else(|| self.not_in_room())?;
        if since_seq >= self.seq {
            return Ok(Synced::Events { events: Vec::new() });
        }
        let oldest_kept = self
            .log
            .front()
            .map(|(seq, _)| *seq)
            .unwrap_or(self.seq + 1);
        if since_seq + 1 < oldest_kept {
            return Ok(Synced::Snapshot {
                seq: self.seq,
                state: self.game.view(audience),
            });
        }
        let events = self
            .log
            .iter()
            .filter(|(seq, _)| *seq > since_seq)
            .map(|(seq, ev)| RoomEvent {
                room_id: self.id.to_string(),
                seq: *seq,
                event: ev.for_audience(audience).clone(),
            })
            .collect();
        Ok(Synced::Events { events })
    }

    // ------------------------------------------------------------ time

    fn next_deadline(&self) -> Option<Instant> {
        self.seats
            .iter()
            .flatten()
            .filter_map(|s| s.deadline)
            .chain(self.close_at)
            .min()
    }

    async fn on_deadline(&mut self) {
        let now = Instant::now();
        let expired: Vec<u8> = self
            .seats
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .and_then(|s| s.deadline)
                    .filter(|d| *d <= now)
                    .map(|_| i as u8)
            })
            .collect();
        for seat in expired {
            info!(room = %self.id, seat, "reconnect grace period over");
            match self.give_up_seat(seat).await {
                Ok(()) => {
                    if let Some(s) = self.seats[usize::from(seat)].as_mut() {
                        s.deadline = None;
                    }
                }
                // The seat stays held; try again after another grace period.
                Err(e) => {
                    warn!(room = %self.id, seat, cause = %e, "could not give up a seat");
                    if let Some(s) = self.seats[usize::from(seat)].as_mut() {
                        s.deadline = Some(now + self.env.grace);
                    }
                }
            }
        }
    }

    /// The seat's player is gone for good: forfeit during play, free the seat while waiting.
    async fn give_up_seat(&mut self, seat: u8) -> Result<(), HubError> {
        let input = match self.game.status() {
            RoomStatus::Waiting => Input::Unseat { seat },
            RoomStatus::Playing => Input::Forfeit { seat },
            RoomStatus::Finished => return Ok(()),
        };
        self.change(input).await.map(|_| ())
    }

    /// Publishes the lobby view and decides when an idle or finished room closes.
    fn after_change(&mut self) {
        if self.status == RoomStatus::Finished && self.close_at.is_none() {
            self.close_at = Some(Instant::now() + self.env.linger);
        }
        if self.status == RoomStatus::Waiting
            && self.seats.iter().all(Option::is_none)
            && self.spectators.is_empty()
        {
            // Nobody holds a seat and nobody watches: close now.
            self.close_at = Some(Instant::now());
        }
        if std::mem::take(&mut self.dirty) {
            self.info.send_replace(self.room_info());
        }
    }

    // ------------------------------------------------------------ lookups

    fn seat_of_player(&self, player_id: &str) -> Option<u8> {
        self.seats
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.player.id == player_id))
            .map(|i| i as u8)
    }

    fn seat_of_socket(&self, sid: Sid) -> Option<u8> {
        self.seats
            .iter()
            .position(|s| {
                s.as_ref()
                    .is_some_and(|s| s.sockets.iter().any(|m| m.sid == sid))
            })
            .map(|i| i as u8)
    }

    fn audience_of(&self, sid: Sid) -> Option<Audience> {
        match self.seat_of_socket(sid) {
            Some(seat) => Some(Audience::Seat(seat)),
            None => self
                .spectators
                .iter()
                .any(|m| m.sid == sid)
                .then_some(Audience::Spectator),
        }
    }

    fn not_in_room(&self) -> HubError {
        HubError::NotInRoom(format!(
            "you have not joined room `{}`; send room:join first",
            self.id
        ))
    }

    fn room_info(&self) -> RoomInfo {
        RoomInfo {
            id: self.id.to_string(),
            game: self.game_name.clone(),
            status: self.game.status(),
            players: self
                .seats
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref().map(|s| PlayerInfo {
                        id: s.player.id.clone(),
                        name: s.player.name.clone(),
                        seat: i as u8,
                        connected: !s.sockets.is_empty(),
                    })
                })
                .collect(),
            max_players: self.game.max_players(),
            spectators: self.spectators.len() as u32,
            created_at: self.created_at,
            node: Some(self.env.node_id.clone()),
        }
    }
}

impl Drop for RoomActor {
    /// Runs however the room ends, a panic included, so the gauge stays true.
    fn drop(&mut self) {
        metrics::gauge!("gamehub_rooms", "game" => self.game_name.clone(), "status" => self.status.as_str()).decrement(1);
    }
}

fn send<T>(reply: Reply<T>, result: Result<T, HubError>) {
    let _ = reply.send(result); // the caller went away: nobody to answer
}
