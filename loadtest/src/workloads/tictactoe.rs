//! Tic-tac-toe bots for W3 and W5: guests that play legal random moves, each
//! learning its game only from its own acks and `room:event` pushes.
//!
//! A [`Bot`] is one socket with its [`Board`]; a [`Pair`] is the two bots of
//! one room (the creator takes seat 0 and moves first, the other joins as a
//! player). The pair moves whichever bot's own board says it is its turn.

use crate::client::{Client, ClientConfig, ClientError, Event};
use crate::http::guest_token_from;
use futures_util::StreamExt;
use protocol::events::{ActionDone, Joined, RoomAction, RoomCreate, RoomEvent, RoomJoin};
use protocol::games::tictactoe::{self, Action};
use protocol::{Ack, ErrorBody, ErrorCode, Role, RoomStatus, event_names};
use rand::Rng;
use rand::rngs::StdRng;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a bot waits for a push it needs (its turn, its own move's events).
pub(crate) const EVENT_WAIT: Duration = Duration::from_secs(20);

/// Why a bot could not go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlayError {
    /// The connection ended (or could not be made): reconnect to go on.
    #[error("disconnected")]
    Disconnected,
    /// The server answered a request with an error ack.
    #[error("{event} refused: {error}")]
    Refused {
        /// The request.
        event: &'static str,
        /// The error ack's body.
        error: ErrorBody,
    },
    /// No answer, or no expected push, in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server sent something that breaks the contract (a bad view, a gap in `seq`).
    #[error("protocol: {0}")]
    Protocol(String),
}

impl PlayError {
    fn from_client(e: ClientError, what: &'static str) -> PlayError {
        match e {
            ClientError::Timeout => PlayError::Timeout(what),
            ClientError::Disconnected => PlayError::Disconnected,
            other => PlayError::Protocol(format!("{what}: {other}")),
        }
    }

    /// The error code of a refused request.
    pub(crate) fn code(&self) -> Option<ErrorCode> {
        match self {
            PlayError::Refused { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

/// One bot's picture of its current room, from the join ack and the pushes after it.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    /// The room.
    pub room_id: String,
    /// Each cell's owner seat.
    pub cells: [Option<u8>; 9],
    /// The seat to move.
    pub turn: u8,
    /// Where the game is.
    pub status: RoomStatus,
    /// `seq` of the last room event applied.
    pub seq: u64,
}

impl Board {
    /// The board a `room:create` / `room:join` ack describes.
    pub(crate) fn from_joined(joined: &Joined) -> Result<Board, PlayError> {
        let view = tictactoe::View::deserialize(&joined.state)
            .map_err(|e| PlayError::Protocol(format!("tictactoe view {}: {e}", joined.state)))?;
        Ok(Board {
            room_id: joined.room.id.clone(),
            cells: view.board,
            turn: view.turn,
            status: view.status,
            seq: joined.seq,
        })
    }

    /// Applies one pushed event of this room; events the join ack already
    /// covered are skipped, a gap in `seq` is an error.
    fn apply(&mut self, event: &RoomEvent) -> Result<(), PlayError> {
        if event.seq <= self.seq {
            return Ok(());
        }
        if event.seq != self.seq + 1 {
            return Err(PlayError::Protocol(format!(
                "room {}: event seq {} after {}",
                self.room_id, event.seq, self.seq
            )));
        }
        self.seq = event.seq;
        // Lifecycle events (`player_joined`, ...) are not game events: nothing to change.
        match tictactoe::Event::deserialize(&event.event) {
            Ok(tictactoe::Event::GameStarted) => self.status = RoomStatus::Playing,
            Ok(tictactoe::Event::Placed { seat, cell }) => {
                let slot = self.cells.get_mut(usize::from(cell)).ok_or_else(|| {
                    PlayError::Protocol(format!("placed on cell {cell}: {}", event.event))
                })?;
                *slot = Some(seat);
                self.turn = 1 - seat.min(1);
            }
            Ok(tictactoe::Event::GameOver { .. }) => self.status = RoomStatus::Finished,
            Err(_) => {}
        }
        Ok(())
    }

    /// True when a line is complete or the board is full.
    pub(crate) fn ended(cells: &[Option<u8>; 9]) -> bool {
        const LINES: [[usize; 3]; 8] = [
            [0, 1, 2],
            [3, 4, 5],
            [6, 7, 8],
            [0, 3, 6],
            [1, 4, 7],
            [2, 5, 8],
            [0, 4, 8],
            [2, 4, 6],
        ];
        LINES.iter().any(|l| {
            cells[l[0]].is_some() && cells[l[0]] == cells[l[1]] && cells[l[1]] == cells[l[2]]
        }) || cells.iter().all(Option::is_some)
    }

    /// A random free cell, if any.
    fn random_free_cell(&self, rng: &mut StdRng) -> Option<u8> {
        let free: Vec<u8> = (0..9u8)
            .filter(|&c| self.cells[usize::from(c)].is_none())
            .collect();
        (!free.is_empty()).then(|| free[rng.random_range(0..free.len())])
    }
}

/// One acknowledged move, as W5 records it to check after a restart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AckedMove {
    /// The room.
    pub room: String,
    /// The mover's seat.
    pub seat: u8,
    /// The cell placed.
    pub cell: u8,
    /// `seq` of the ack.
    pub seq: u64,
}

/// A guest socket that plays tic-tac-toe.
pub(crate) struct Bot {
    /// The guest token, kept to reconnect as the same player.
    pub token: String,
    /// The local address it connects from (`None`: the kernel's choice).
    pub source_ip: Option<IpAddr>,
    pub client: Client,
    events: mpsc::Receiver<Event>,
    /// The current room, once a create or join was acknowledged.
    pub board: Option<Board>,
    /// The seat in the current room.
    pub seat: u8,
}

impl Bot {
    /// A new guest named `name` connected to `url` (from `config.source_ip`,
    /// token request included).
    pub(crate) async fn connect(
        url: &str,
        config: &ClientConfig,
        name: &str,
    ) -> Result<Bot, String> {
        let (token, _player) = guest_token_from(url, name, config.source_ip)
            .await
            .map_err(|e| format!("guest token for {name}: {e}"))?;
        Bot::connect_as(url, config, token)
            .await
            .map_err(|e| format!("connect {name}: {e}"))
    }

    /// Connects with an existing token (a reconnect keeps the player): from
    /// `config.source_ip`, which the bot keeps for its reconnects.
    pub(crate) async fn connect_as(
        url: &str,
        config: &ClientConfig,
        token: String,
    ) -> Result<Bot, ClientError> {
        let mut client = Client::connect_with(config, url, Some(json!({ "token": token }))).await?;
        let events = client.take_events();
        Ok(Bot {
            token,
            source_ip: config.source_ip,
            client,
            events,
            board: None,
            seat: 0,
        })
    }

    /// Creates a `tictactoe` room, taking seat 0.
    pub(crate) async fn create(&mut self) -> Result<(), PlayError> {
        let create = RoomCreate {
            game: tictactoe::NAME.to_owned(),
            options: None,
        };
        let joined = self
            .request_joined(event_names::ROOM_CREATE, &create)
            .await?;
        self.seat = 0;
        self.board = Some(Board::from_joined(&joined)?);
        Ok(())
    }

    /// Joins `room_id` as a player: a free seat, or this player's own seat back.
    /// Returns the ack, which the bot's board now reflects.
    pub(crate) async fn join(&mut self, room_id: &str) -> Result<Joined, PlayError> {
        let join = RoomJoin {
            room_id: room_id.to_owned(),
            role: Role::Player,
        };
        let joined = self.request_joined(event_names::ROOM_JOIN, &join).await?;
        let seat = joined.seat.ok_or_else(|| {
            PlayError::Protocol(format!("joined {room_id} as a player without a seat"))
        })?;
        self.seat = seat;
        self.board = Some(Board::from_joined(&joined)?);
        Ok(joined)
    }

    async fn request_joined<T: serde::Serialize>(
        &self,
        event: &'static str,
        payload: &T,
    ) -> Result<Joined, PlayError> {
        match self
            .client
            .emit_with_ack::<_, Ack<Joined>>(event, payload)
            .await
        {
            Ok(Ack::Ok(joined)) => Ok(joined),
            Ok(Ack::Err(error)) => Err(PlayError::Refused { event, error }),
            Err(e) => Err(PlayError::from_client(e, event)),
        }
    }

    /// True when this bot's own board says it is to move.
    pub(crate) fn my_turn(&self) -> bool {
        self.board
            .as_ref()
            .is_some_and(|b| b.status == RoomStatus::Playing && b.turn == self.seat)
    }

    /// True when this bot's own board shows the game over.
    pub(crate) fn game_over(&self) -> bool {
        self.board
            .as_ref()
            .is_some_and(|b| b.status == RoomStatus::Finished)
    }

    /// A random free cell of the current board.
    pub(crate) fn choose_cell(&self, rng: &mut StdRng) -> Result<u8, PlayError> {
        let board = self
            .board
            .as_ref()
            .ok_or_else(|| PlayError::Protocol("moving without a room".to_owned()))?;
        board.random_free_cell(rng).ok_or_else(|| {
            PlayError::Protocol(format!("room {}: no free cell on its turn", board.room_id))
        })
    }

    /// Places `cell` and waits for the ack; returns the move and the ack
    /// round trip. The board changes only through the pushes that follow.
    pub(crate) async fn place(&self, cell: u8) -> Result<(AckedMove, Duration), PlayError> {
        let room_id = self
            .board
            .as_ref()
            .map(|b| b.room_id.clone())
            .ok_or_else(|| PlayError::Protocol("moving without a room".to_owned()))?;
        let action = RoomAction {
            room_id: room_id.clone(),
            action: serde_json::to_value(Action::Place {
                cell: i64::from(cell),
            })
            .map_err(|e| PlayError::Protocol(format!("encoding a move: {e}")))?,
        };
        let sent = Instant::now();
        let ack = self
            .client
            .emit_with_ack::<_, Ack<ActionDone>>(event_names::ROOM_ACTION, &action)
            .await;
        let rtt = sent.elapsed();
        match ack {
            Ok(Ack::Ok(done)) => Ok((
                AckedMove {
                    room: room_id,
                    seat: self.seat,
                    cell,
                    seq: done.seq,
                },
                rtt,
            )),
            Ok(Ack::Err(error)) => Err(PlayError::Refused {
                event: event_names::ROOM_ACTION,
                error,
            }),
            Err(e) => Err(PlayError::from_client(e, event_names::ROOM_ACTION)),
        }
    }

    /// Applies one push to the board (pushes of other rooms are ignored).
    fn on_event(&mut self, event: Option<Event>) -> Result<(), PlayError> {
        let (name, data) = event.ok_or(PlayError::Disconnected)?;
        if name != event_names::ROOM_EVENT {
            return Ok(());
        }
        let event = RoomEvent::deserialize(&data)
            .map_err(|e| PlayError::Protocol(format!("room:event {data}: {e}")))?;
        match self.board.as_mut() {
            Some(board) if board.room_id == event.room_id => board.apply(&event),
            _ => Ok(()),
        }
    }

    /// Reads pushes until the board has caught up with `seq` (the ack of its
    /// own move), so it knows whether that move ended the game.
    pub(crate) async fn catch_up(&mut self, seq: u64) -> Result<(), PlayError> {
        let deadline = Instant::now() + EVENT_WAIT;
        while self.board.as_ref().is_some_and(|b| b.seq < seq) {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| PlayError::Timeout("the events of an acknowledged move"))?;
            self.on_event(event)?;
        }
        Ok(())
    }
}

/// Paces one room's moves: a tick every `period` from `first`. Ticks missed
/// by a slow room are skipped, not made up in a burst (W2's senders skip too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacer {
    next: Instant,
    period: Duration,
}

impl Pacer {
    /// Ticks at `first`, `first + period`, ...
    pub(crate) fn new(first: Instant, period: Duration) -> Pacer {
        Pacer {
            next: first,
            period,
        }
    }

    /// The instant of the next tick, moving past it.
    pub(crate) fn next_tick(&mut self) -> Instant {
        let now = Instant::now();
        if self.next + self.period < now && !self.period.is_zero() {
            let behind = (now - self.next).as_nanos() / self.period.as_nanos();
            self.next += self.period.mul_f64(behind as f64);
        }
        let tick = self.next;
        self.next += self.period;
        tick
    }
}

/// The two bots of one room.
pub(crate) struct Pair {
    pub bots: [Bot; 2],
}

impl Pair {
    /// Bot 0 creates a room, bot 1 joins it as a player: the game starts.
    pub(crate) async fn new_room(&mut self) -> Result<String, PlayError> {
        self.new_room_with(|_, _| {}).await
    }

    /// [`Pair::new_room`], calling `seated(bot, room)` as each bot's seat is acknowledged.
    pub(crate) async fn new_room_with(
        &mut self,
        mut seated: impl FnMut(usize, &str),
    ) -> Result<String, PlayError> {
        let [creator, joiner] = &mut self.bots;
        creator.create().await?;
        let room_id = creator
            .board
            .as_ref()
            .map(|b| b.room_id.clone())
            .unwrap_or_default();
        seated(0, &room_id);
        joiner.join(&room_id).await?;
        seated(1, &room_id);
        Ok(room_id)
    }

    /// With `until`, reads both bots' pushes until that instant; without,
    /// until a bot may move or the game is over (at most [`EVENT_WAIT`]).
    /// Either way a dropped connection ends the wait at once: `Disconnected`.
    pub(crate) async fn wait(&mut self, until: Option<Instant>) -> Result<(), PlayError> {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            if until.is_none() && (self.mover().is_some() || self.game_over()) {
                return Ok(());
            }
            let [a, b] = &mut self.bots;
            let limit = until.unwrap_or(deadline);
            tokio::select! {
                event = a.events.recv() => a.on_event(event)?,
                event = b.events.recv() => b.on_event(event)?,
                () = tokio::time::sleep_until(limit) => {
                    return match until {
                        Some(_) => Ok(()),
                        None => Err(PlayError::Timeout("a bot's turn")),
                    };
                }
            }
        }
    }

    /// The bot whose own board says it is to move.
    pub(crate) fn mover(&self) -> Option<usize> {
        self.bots.iter().position(Bot::my_turn)
    }

    /// True once either bot has seen the game end.
    pub(crate) fn game_over(&self) -> bool {
        self.bots.iter().any(Bot::game_over)
    }

    /// Leaves cleanly with both sockets.
    pub(crate) async fn disconnect(self) {
        let [a, b] = self.bots;
        tokio::join!(a.client.disconnect(), b.client.disconnect());
    }
}

/// Leaves cleanly with every pair, many at a time.
pub(crate) async fn disconnect_pairs(pairs: Vec<Pair>) {
    futures_util::stream::iter(pairs)
        .for_each_concurrent(128, Pair::disconnect)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn board() -> Board {
        Board {
            room_id: "r1".to_owned(),
            cells: [None; 9],
            turn: 0,
            status: RoomStatus::Waiting,
            seq: 2,
        }
    }

    fn event(seq: u64, event: serde_json::Value) -> RoomEvent {
        RoomEvent {
            room_id: "r1".to_owned(),
            seq,
            event,
        }
    }

    #[test]
    fn a_board_follows_the_events() {
        let mut b = board();
        b.apply(&event(2, json!({"type": "player_joined"})))
            .unwrap();
        assert_eq!(b.seq, 2, "an event the ack covered is skipped");
        b.apply(&event(3, json!({"type": "game_started"}))).unwrap();
        assert_eq!(b.status, RoomStatus::Playing);
        b.apply(&event(4, json!({"type": "placed", "seat": 0, "cell": 4})))
            .unwrap();
        assert_eq!((b.cells[4], b.turn, b.seq), (Some(0), 1, 4));
        b.apply(&event(5, json!({"type": "player_disconnected", "seat": 1})))
            .unwrap();
        b.apply(&event(
            6,
            json!({"type": "game_over", "winner": 0, "reason": "forfeit"}),
        ))
        .unwrap();
        assert_eq!(b.status, RoomStatus::Finished);
        assert!(b.apply(&event(8, json!({"type": "game_started"}))).is_err());
    }

    #[test]
    fn a_late_pacer_skips_missed_ticks() {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut pacer = Pacer::new(start - Duration::from_millis(55), period);
        let tick = pacer.next_tick();
        assert!(
            tick <= start && tick + period > start,
            "the latest missed tick"
        );
        assert_eq!(pacer.next_tick(), tick + period);
    }

    #[test]
    fn ends_on_a_line_or_a_full_board() {
        let mut cells = [None; 9];
        assert!(!Board::ended(&cells));
        for c in [0, 4, 8] {
            cells[c] = Some(1);
        }
        assert!(Board::ended(&cells));
        let full = [0, 1, 0, 0, 1, 1, 1, 0, 0].map(Some);
        assert!(Board::ended(&full));
        cells[4] = Some(0);
        assert!(!Board::ended(&cells));
    }

    #[test]
    fn random_cells_are_free() {
        let mut b = board();
        let mut rng = StdRng::seed_from_u64(7);
        for cell in [0, 1, 2, 3, 5, 6, 7, 8] {
            b.cells[cell] = Some(1);
        }
        assert_eq!(b.random_free_cell(&mut rng), Some(4));
        b.cells[4] = Some(0);
        assert_eq!(b.random_free_cell(&mut rng), None);
    }
}
