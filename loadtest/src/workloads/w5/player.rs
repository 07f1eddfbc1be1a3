//! W5's players: a pair of bots plays paced moves and records every
//! acknowledged one; when the hub dies, each bot reconnects as a socket.io
//! client would (backoff with jitter), re-joins its room with the same token,
//! and checks that every move it was acknowledged is on the board.

use super::churn::RoomSlots;
use crate::client::ClientConfig;
use crate::report::{Errors, latency_histogram};
use crate::workloads::tictactoe::{AckedMove, Board, Bot, Pacer, Pair, PlayError};
use hdrhistogram::Histogram;
use protocol::events::Joined;
use protocol::{ErrorCode, RoomStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// socket.io's reconnection delays: `delay * 2^attempt`, at most `max`, each
/// moved by up to ±`jitter` of itself at random (`randomizationFactor`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    pub delay: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Backoff {
    /// The wait before reconnect attempt `attempt` (from 0).
    pub(super) fn wait(&self, attempt: u32, rng: &mut StdRng) -> Duration {
        let base = self
            .delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        let deviation = base.mul_f64(rng.random::<f64>() * self.jitter);
        let moved = if rng.random::<bool>() {
            base.saturating_add(deviation)
        } else {
            base.saturating_sub(deviation)
        };
        moved.min(self.max)
    }
}

/// What one bot knows to be durable in its current room.
#[derive(Debug, Default, Clone)]
struct Ledger {
    /// The room its create or join was acknowledged in.
    room: Option<String>,
    seat: u8,
    /// Its acknowledged moves in `room`.
    moves: Vec<AckedMove>,
    /// The move that ended the game in `room` was acknowledged (to either bot).
    game_over_acked: bool,
    /// A move sent whose ack never came: the hub may or may not have applied it.
    unacked_cell: Option<u8>,
}

/// An acknowledged action the restarted hub does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostAction {
    /// The move, as acknowledged.
    #[serde(flatten)]
    pub action: AckedMove,
    /// What the re-join showed instead.
    pub why: String,
}

/// Totals the pairs add to while they run, for progress and the result.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub actions: AtomicU64,
    pub games: AtomicU64,
    pub rooms: AtomicU64,
    pub back: AtomicU64,
}

/// What every pair shares.
pub(super) struct Plan {
    pub url: String,
    pub config: ClientConfig,
    pub backoff: Backoff,
    /// When the hub is killed; a connection lost before it is an error.
    pub kill_at: Instant,
    /// Reconnecting stops here.
    pub recover_by: Instant,
    pub counters: Counters,
    pub rooms: Arc<RoomSlots>,
}

/// How one pair ended.
pub(super) struct Outcome {
    /// The pair's bots, to leave at the end (`None` only in unit tests).
    pub pair: Option<Pair>,
    pub ack_histogram: Histogram<u64>,
    pub errors: Errors,
    /// When each bot was back in its seat with its state checked (or had nothing to check).
    pub back_at: Vec<Instant>,
    /// Bots not back by the deadline.
    pub not_back: u64,
    /// Acknowledged moves found on the re-joined board.
    pub verified: u64,
    /// Bots whose finished room was (rightly) not reopened.
    pub finished_not_reopened: u64,
    pub lost: Vec<LostAction>,
}

/// Plays until the connection drops, then recovers and checks.
pub(super) async fn run(
    mut pair: Pair,
    index: usize,
    mut pacer: Option<Pacer>,
    plan: Arc<Plan>,
    mut rng: StdRng,
) -> Outcome {
    let mut ledgers = [Ledger::default(), Ledger::default()];
    let mut histogram = latency_histogram();
    let mut errors = Errors::default();
    play(
        &mut pair,
        index,
        &mut ledgers,
        &mut pacer,
        &plan,
        &mut rng,
        &mut histogram,
        &mut errors,
    )
    .await;
    if Instant::now() + Duration::from_millis(100) < plan.kill_at {
        errors.add("a connection was lost before the kill");
    }
    let [a, b] = &mut pair.bots;
    let (mut rng_a, mut rng_b) = (StdRng::from_rng(&mut rng), StdRng::from_rng(&mut rng));
    let (ra, rb) = tokio::join!(
        rejoin(a, &ledgers[0], &plan, &mut rng_a),
        rejoin(b, &ledgers[1], &plan, &mut rng_b)
    );
    let mut outcome = Outcome {
        pair: Some(pair),
        ack_histogram: histogram,
        errors,
        back_at: Vec::new(),
        not_back: 0,
        verified: 0,
        finished_not_reopened: 0,
        lost: Vec::new(),
    };
    for (i, rejoined) in [ra, rb].into_iter().enumerate() {
        check(&mut outcome, &ledgers, i, rejoined);
    }
    plan.counters
        .back
        .fetch_add(outcome.back_at.len() as u64, Ordering::Relaxed);
    outcome
}

/// Paced play: a room, moves by whichever bot's turn it is, a new room after
/// each game, every ack written in the ledgers. Returns once a connection drops.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
async fn play(
    pair: &mut Pair,
    index: usize,
    ledgers: &mut [Ledger; 2],
    pacer: &mut Option<Pacer>,
    plan: &Plan,
    rng: &mut StdRng,
    histogram: &mut Histogram<u64>,
    errors: &mut Errors,
) {
    let counters = &plan.counters;
    let mut need_room = true;
    // Ends by a dropped connection; the deadline only bounds a run in which
    // the kill never reached this pair's sockets.
    while Instant::now() < plan.recover_by {
        let step = async {
            if need_room {
                counters.rooms.fetch_add(1, Ordering::Relaxed);
                let room = pair
                    .new_room_with(|bot, room| {
                        ledgers[bot] = Ledger {
                            room: Some(room.to_owned()),
                            seat: bot as u8,
                            ..Ledger::default()
                        };
                    })
                    .await?;
                plan.rooms.set(index, &room);
                need_room = false;
            }
            if let Some(pacer) = pacer.as_mut() {
                pair.wait(Some(pacer.next_tick())).await?;
            }
            pair.wait(None).await?;
            if let Some(mover) = pair.mover().filter(|_| !pair.game_over()) {
                let bot = &mut pair.bots[mover];
                let cell = bot.choose_cell(rng)?;
                ledgers[mover].unacked_cell = Some(cell);
                let (acked, rtt) = bot.place(cell).await?;
                ledgers[mover].unacked_cell = None;
                ledgers[mover].moves.push(acked.clone());
                histogram.saturating_record((rtt.as_micros() as u64).max(1));
                counters.actions.fetch_add(1, Ordering::Relaxed);
                bot.catch_up(acked.seq).await?;
                if bot.game_over() {
                    counters.games.fetch_add(1, Ordering::Relaxed);
                    // The move that ended the game was acknowledged: a fact for the pair.
                    for ledger in ledgers.iter_mut() {
                        ledger.game_over_acked = true;
                    }
                }
            }
            need_room = pair.game_over();
            Ok::<_, PlayError>(())
        };
        match step.await {
            Ok(()) => {}
            Err(_) if pair.bots.iter().any(|b| !b.client.is_connected()) => return,
            Err(e) => {
                errors.add(&e);
                // A refused move leaves the room and the ledger as they were:
                // the bot tries again. Anything else: a new room.
                need_room = need_room || e.code().is_none() || pair.game_over();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How a bot's re-join went.
enum Rejoined {
    /// Back in the room: the ack and when it came.
    Joined(Box<Joined>, Instant),
    /// The room answered `room_not_found` (or `game_over`), at this instant.
    Gone(ErrorCode, Instant),
    /// Its create or join had not been acknowledged: nothing to check.
    NoRoom(Instant),
    /// Not back by the deadline.
    NotBack(String),
}

/// Reconnects `bot` with its token (backing off between attempts) and re-joins its room.
async fn rejoin(bot: &mut Bot, ledger: &Ledger, plan: &Plan, rng: &mut StdRng) -> Rejoined {
    let mut attempt = 0;
    let mut last = String::from("never tried");
    loop {
        if !bot.client.is_connected() {
            let wait = plan.backoff.wait(attempt, rng);
            attempt += 1;
            if Instant::now() + wait >= plan.recover_by {
                return Rejoined::NotBack(format!("not back in time; last: {last}"));
            }
            tokio::time::sleep(wait).await;
            let config = ClientConfig {
                source_ip: bot.source_ip,
                ..plan.config.clone()
            };
            match Bot::connect_as(&plan.url, &config, bot.token.clone()).await {
                Ok(fresh) => *bot = fresh,
                Err(e) => {
                    last = format!("connect: {e}");
                    continue;
                }
            }
        }
        let Some(room) = &ledger.room else {
            return Rejoined::NoRoom(Instant::now());
        };
        match bot.join(room).await {
            Ok(joined) => return Rejoined::Joined(Box::new(joined), Instant::now()),
            Err(PlayError::Refused { error, .. })
                if matches!(error.code, ErrorCode::RoomNotFound | ErrorCode::GameOver) =>
            {
                return Rejoined::Gone(error.code, Instant::now());
            }
            Err(e) => {
                last = format!("room:join: {e}");
                if Instant::now() >= plan.recover_by {
                    return Rejoined::NotBack(format!("not back in time; last: {last}"));
                }
                if bot.client.is_connected() {
                    // Refused for now (e.g. `unavailable` while starting): ask again shortly.
                    tokio::time::sleep(plan.backoff.wait(0, rng)).await;
                }
            }
        }
    }
}

/// Checks bot `i`'s re-join against what it was acknowledged.
fn check(outcome: &mut Outcome, ledgers: &[Ledger; 2], i: usize, rejoined: Rejoined) {
    let ledger = &ledgers[i];
    let lose_all = |outcome: &mut Outcome, why: &str| {
        outcome.lost.extend(ledger.moves.iter().map(|m| LostAction {
            action: m.clone(),
            why: why.to_owned(),
        }));
    };
    match rejoined {
        Rejoined::NotBack(why) => {
            outcome.not_back += 1;
            outcome.errors.add(why);
        }
        Rejoined::NoRoom(at) => outcome.back_at.push(at),
        Rejoined::Gone(code, at) => {
            let room = ledger.room.as_deref().unwrap_or_default();
            if may_have_ended(ledgers, room) {
                // Finished rooms are not reopened after a restart (by design).
                outcome.finished_not_reopened += 1;
                outcome.back_at.push(at);
            } else {
                lose_all(
                    outcome,
                    &format!("room:join answered {code:?}: the room is gone"),
                );
            }
        }
        Rejoined::Joined(joined, at) => {
            let Ok(board) = Board::from_joined(&joined) else {
                outcome
                    .errors
                    .add(format!("unreadable state after re-join: {}", joined.state));
                return;
            };
            let before = outcome.lost.len();
            if joined.seat != Some(ledger.seat) {
                lose_all(
                    outcome,
                    &format!("seat {} came back as {:?}", ledger.seat, joined.seat),
                );
            }
            let last_seq = ledger.moves.iter().map(|m| m.seq).max().unwrap_or(0);
            for m in &ledger.moves {
                if board.cells[usize::from(m.cell)] == Some(m.seat) {
                    outcome.verified += 1;
                } else {
                    outcome.lost.push(LostAction {
                        action: m.clone(),
                        why: format!(
                            "cell holds {:?} after the restart",
                            board.cells[usize::from(m.cell)]
                        ),
                    });
                }
            }
            if joined.seq < last_seq {
                lose_all(
                    outcome,
                    &format!("the room is at seq {} after the restart", joined.seq),
                );
            }
            if ledger.game_over_acked && board.status != RoomStatus::Finished {
                lose_all(
                    outcome,
                    &format!(
                        "the game was over; after the restart it is {:?}",
                        board.status
                    ),
                );
            }
            if outcome.lost.len() == before {
                outcome.back_at.push(at);
            }
        }
    }
}

/// True when the game in `room` was over, or may have ended by a move whose ack never came.
fn may_have_ended(ledgers: &[Ledger; 2], room: &str) -> bool {
    let in_room = || ledgers.iter().filter(|l| l.room.as_deref() == Some(room));
    if in_room().any(|l| l.game_over_acked) {
        return true;
    }
    let mut cells = [None; 9];
    for m in in_room().flat_map(|l| &l.moves) {
        cells[usize::from(m.cell)] = Some(m.seat);
    }
    in_room().any(|l| {
        l.unacked_cell.is_some_and(|cell| {
            let mut after = cells;
            after[usize::from(cell)] = Some(l.seat);
            Board::ended(&after)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max_with_jitter() {
        let backoff = Backoff {
            delay: Duration::from_millis(1000),
            max: Duration::from_millis(5000),
            jitter: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let first = backoff.wait(0, &mut rng);
            assert!((500..=1500).contains(&first.as_millis()), "{first:?}");
            let second = backoff.wait(1, &mut rng);
            assert!((1000..=3000).contains(&second.as_millis()), "{second:?}");
            assert!(backoff.wait(10, &mut rng) <= backoff.max);
        }
    }

    fn ledger(room: &str, seat: u8, cells: &[u8]) -> Ledger {
        Ledger {
            room: Some(room.to_owned()),
            seat,
            moves: cells
                .iter()
                .enumerate()
                .map(|(i, &cell)| AckedMove {
                    room: room.to_owned(),
                    seat,
                    cell,
                    seq: 3 + i as u64,
                })
                .collect(),
            ..Ledger::default()
        }
    }

    fn joined(room: &str, seat: u8, seq: u64, board: serde_json::Value) -> Joined {
        serde_json::from_value(serde_json::json!({
            "room": {"id": room, "game": "tictactoe", "status": "playing", "players": [],
                     "maxPlayers": 2, "spectators": 0, "createdAt": 0},
            "seat": seat, "seq": seq,
            "state": {"board": board, "turn": 0, "status": "playing"},
        }))
        .unwrap()
    }

    fn outcome() -> Outcome {
        Outcome {
            pair: None,
            ack_histogram: latency_histogram(),
            errors: Errors::default(),
            back_at: Vec::new(),
            not_back: 0,
            verified: 0,
            finished_not_reopened: 0,
            lost: Vec::new(),
        }
    }

    #[test]
    fn a_missing_acknowledged_move_is_listed_as_lost() {
        let ledgers = [ledger("r", 0, &[0, 1]), ledger("r", 1, &[4])];
        let now = Instant::now();
        let kept = serde_json::json!([0, 0, null, null, 1, null, null, null, null]);
        let mut o = outcome();
        check(
            &mut o,
            &ledgers,
            0,
            Rejoined::Joined(Box::new(joined("r", 0, 9, kept)), now),
        );
        assert_eq!((o.verified, o.lost.len(), o.back_at.len()), (2, 0, 1));

        let lost_cell_1 = serde_json::json!([0, null, null, null, 1, null, null, null, null]);
        let mut o = outcome();
        check(
            &mut o,
            &ledgers,
            0,
            Rejoined::Joined(Box::new(joined("r", 0, 9, lost_cell_1)), now),
        );
        assert_eq!(o.verified, 1);
        assert_eq!(o.lost.len(), 1);
        assert_eq!(o.lost[0].action.cell, 1);
        assert!(
            o.back_at.is_empty(),
            "a client with a lost move is not back with full state"
        );

        let mut o = outcome();
        check(
            &mut o,
            &ledgers,
            1,
            Rejoined::Gone(ErrorCode::RoomNotFound, now),
        );
        assert_eq!(
            o.lost.len(),
            1,
            "a game in progress vanished with its moves"
        );
    }

    #[test]
    fn a_gone_room_is_excused_only_by_a_game_end() {
        let mut ledgers = [ledger("r", 0, &[0, 1]), ledger("r", 1, &[4, 5])];
        assert!(
            !may_have_ended(&ledgers, "r"),
            "a game in progress must come back"
        );
        ledgers[0].unacked_cell = Some(8);
        assert!(
            !may_have_ended(&ledgers, "r"),
            "cell 8 makes no line for seat 0"
        );
        ledgers[0].unacked_cell = Some(2);
        assert!(
            may_have_ended(&ledgers, "r"),
            "cell 2 completes the top row"
        );
        ledgers[0].unacked_cell = None;
        ledgers[1].game_over_acked = true;
        assert!(may_have_ended(&ledgers, "r"));
        assert!(!may_have_ended(&ledgers, "other"));
    }
}
