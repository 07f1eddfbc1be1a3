//! W3 play: rooms of two tic-tac-toe bots playing legal moves at a paced
//! total rate; every move's durable ack round trip goes into a histogram.
//!
//! The hub acknowledges `room:action` only once the move is committed to
//! SQLite, so the ack round trip is the latency of a durable action. After a
//! game ends the pair starts a new room (counted apart from the moves).

use super::tictactoe::{Bot, Pacer, Pair, PlayError, disconnect_pairs};
use super::{load_config, progress_bar, source_ips};
use crate::client::{ClientConfig, Overflow};
use crate::report::{Errors, Latency, ServerProbe, ServerUsage, latency_histogram};
use crate::target::require_loopback;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// What the table and JSON say about the `arena` half of W3.
pub const ARENA_STATUS: &str = "not yet (no arena game in the hub)";

/// Sockets connected at the same time during setup.
const CONNECTS_IN_FLIGHT: usize = 64;

/// What W3 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W3Options {
    /// Server base URL (loopback only).
    pub url: String,
    /// Rooms played at once (two bots each).
    pub rooms: usize,
    /// Target moves per second over all rooms; 0 = each room as fast as its acks come back.
    pub rate: f64,
    /// Seconds of play measured.
    pub seconds: f64,
    /// Seconds of play before the measured ones, left out of every figure
    /// (a fresh server's first moves pay for cold caches, a JIT, a young database).
    pub warmup_secs: f64,
    /// Server pid, to read its CPU time and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// What W3 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W3Result {
    /// The options it ran with.
    pub options: W3Options,
    /// Seconds to connect every bot (guest token + CONNECT).
    pub setup_secs: f64,
    /// Moves acknowledged ok in the measured seconds.
    pub actions: u64,
    /// `actions / seconds`.
    pub actions_per_sec: f64,
    /// Ack round trip of every acknowledged move.
    pub ack: Latency,
    /// Games played to their end in the measured seconds.
    pub games_finished: u64,
    /// Rooms created over the whole run, warm-up included (the first of each pair too).
    pub rooms_created: u64,
    /// Server CPU and RSS over the play, with `server_pid`.
    pub server: Option<ServerUsage>,
    /// Server CPU seconds per 1,000 acknowledged moves, with `server_pid`.
    pub cpu_secs_per_thousand_actions: Option<f64>,
    /// The `arena` game of W3: [`ARENA_STATUS`].
    pub arena: String,
    /// Refused or unanswered requests, lost connections.
    pub errors: Errors,
}

/// Counters shared by the pairs, for progress and totals.
#[derive(Default)]
struct Counters {
    actions: AtomicU64,
    games: AtomicU64,
    rooms: AtomicU64,
}

/// Runs W3: connects the bots, plays for `seconds`, and reports.
pub async fn w3(options: W3Options) -> Result<W3Result, String> {
    validate(&options)?;
    let probe = ServerProbe::new(options.server_pid).map_err(|e| format!("server pid: {e}"))?;
    let setup_start = Instant::now();
    let pairs = connect_pairs(&options.url, options.rooms, options.progress).await?;
    let setup_secs = setup_start.elapsed().as_secs_f64();

    let counters = Arc::new(Counters::default());
    let start = Instant::now() + Duration::from_millis(50);
    let measured_from = start + Duration::from_secs_f64(options.warmup_secs);
    let end = measured_from + Duration::from_secs_f64(options.seconds);
    // Each room moves once per `period`; the rooms' first ticks are spread over one period.
    let period =
        (options.rate > 0.0).then(|| Duration::from_secs_f64(options.rooms as f64 / options.rate));
    let n = pairs.len();
    let tasks: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, pair)| {
            let pacer = period.map(|p| Pacer::new(start + p.mul_f64(i as f64 / n as f64), p));
            let window = Window {
                from: measured_from,
                end,
            };
            tokio::spawn(play(pair, pacer, window, i as u64, Arc::clone(&counters)))
        })
        .collect();

    let bar = progress_bar(
        options.progress,
        ((options.warmup_secs + options.seconds) * 1000.0) as u64,
        "play ms",
    );
    tokio::time::sleep_until(measured_from).await;
    let before = probe.sample();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(start.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "moves {} games {}",
            counters.actions.load(Ordering::Relaxed),
            counters.games.load(Ordering::Relaxed)
        ));
    }
    bar.finish_and_clear();

    let mut histogram = latency_histogram();
    let mut errors = Errors::default();
    let mut pairs = Vec::with_capacity(n);
    for task in tasks {
        let (pair, h, pair_errors) = task.await.map_err(|e| format!("play task: {e}"))?;
        histogram
            .add(h)
            .map_err(|e| format!("merging histograms: {e}"))?;
        errors.merge(pair_errors);
        pairs.push(pair);
    }
    let after = probe.sample();
    disconnect_pairs(pairs).await;

    let actions = counters.actions.load(Ordering::Relaxed);
    let server = probe.usage(before, after);
    Ok(W3Result {
        setup_secs,
        actions,
        actions_per_sec: actions as f64 / options.seconds,
        ack: Latency::from_micros(&histogram),
        games_finished: counters.games.load(Ordering::Relaxed),
        rooms_created: counters.rooms.load(Ordering::Relaxed),
        cpu_secs_per_thousand_actions: server
            .filter(|_| actions > 0)
            .map(|s| s.cpu_secs / actions as f64 * 1000.0),
        server,
        arena: ARENA_STATUS.to_owned(),
        errors,
        options,
    })
}

/// Bounds that keep a run finite and on this machine.
fn validate(o: &W3Options) -> Result<(), String> {
    require_loopback(&o.url).map_err(|e| e.to_string())?;
    if o.rooms == 0 || o.rooms > 50_000 {
        return Err("--rooms must be 1..=50000".to_owned());
    }
    if !(0.0..=1_000_000.0).contains(&o.rate) {
        return Err(
            "--rate must be in [0, 1000000] moves/s (0 = as fast as acks allow)".to_owned(),
        );
    }
    if !(o.seconds > 0.0 && o.seconds <= 3600.0) {
        return Err("--seconds must be in (0, 3600]".to_owned());
    }
    if !(0.0..=3600.0).contains(&o.warmup_secs) {
        return Err("--warmup must be in [0, 3600] seconds".to_owned());
    }
    Ok(())
}

/// Connects `2 * rooms` guests, [`CONNECTS_IN_FLIGHT`] at a time, as pairs,
/// spread over 127.0.0.x source addresses when there are many (see
/// [`source_ips`]). Fails if any cannot connect.
pub(crate) async fn connect_pairs(
    url: &str,
    rooms: usize,
    progress: bool,
) -> Result<Vec<Pair>, String> {
    let sources = source_ips(url, rooms * 2)?;
    // Pushes are few (one per move) and read on every turn; waiting on a
    // full buffer rather than dropping keeps each bot's `seq` without gaps.
    let config = load_config(Overflow::Wait, 64);
    let bar = progress_bar(progress, (rooms * 2) as u64, "connect");
    // Guest names are 1..24 characters: a per-run prefix keeps them apart across runs.
    let run = std::process::id() % 10_000;
    let bots: Vec<Result<Bot, String>> = futures_util::stream::iter(0..rooms * 2)
        .map(|i| {
            let config = ClientConfig {
                source_ip: sources.get(i / 2 % sources.len().max(1)).copied(),
                ..config.clone()
            };
            let bar = &bar;
            async move {
                let bot = Bot::connect(url, &config, &format!("t{run}p{}s{}", i / 2, i % 2)).await;
                bar.inc(1);
                bot
            }
        })
        .buffered(CONNECTS_IN_FLIGHT)
        .collect()
        .await;
    bar.finish_and_clear();
    let mut pairs = Vec::with_capacity(rooms);
    let mut bots = bots.into_iter();
    while let (Some(a), Some(b)) = (bots.next(), bots.next()) {
        pairs.push(Pair { bots: [a?, b?] });
    }
    Ok(pairs)
}

/// The part of a run whose moves count: from `from` (after the warm-up) to `end`.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: Instant,
    end: Instant,
}

/// One pair's play until `window.end`: a room, paced moves by whichever bot's
/// turn it is, a new room after each game. Moves acknowledged and games ended
/// before `window.from` are left out. Returns the pair, its ack histogram
/// and its errors (warm-up included: an error is an error). A refused or unanswered request is counted and the pair
/// goes on (in a new room if its board can no longer be trusted); a lost
/// connection ends its play.
async fn play(
    mut pair: Pair,
    mut pacer: Option<Pacer>,
    window: Window,
    seed: u64,
    counters: Arc<Counters>,
) -> (Pair, Histogram<u64>, Errors) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut histogram = latency_histogram();
    let mut errors = Errors::default();
    let mut in_room = false;
    let end = window.end;
    while Instant::now() < end {
        let step = async {
            if !in_room {
                counters.rooms.fetch_add(1, Ordering::Relaxed);
                pair.new_room().await?;
                in_room = true;
            }
            if let Some(pacer) = pacer.as_mut() {
                pair.wait(Some(pacer.next_tick().min(end))).await?;
                if Instant::now() >= end {
                    return Ok(());
                }
            }
            pair.wait(None).await?;
            if let Some(mover) = pair.mover().filter(|_| !pair.game_over()) {
                let bot = &mut pair.bots[mover];
                let cell = bot.choose_cell(&mut rng)?;
                let (acked, rtt) = bot.place(cell).await?;
                if Instant::now() >= window.from {
                    histogram.saturating_record((rtt.as_micros() as u64).max(1));
                    counters.actions.fetch_add(1, Ordering::Relaxed);
                }
                bot.catch_up(acked.seq).await?;
            }
            if pair.game_over() {
                if Instant::now() >= window.from {
                    counters.games.fetch_add(1, Ordering::Relaxed);
                }
                in_room = false;
            }
            Ok::<_, PlayError>(())
        };
        match step.await {
            Ok(()) => {}
            Err(PlayError::Disconnected) => {
                errors.add("a bot's connection was lost");
                break;
            }
            Err(e) => {
                errors.add(&e);
                // A refused move (e.g. `rate_limited`) leaves the board as it
                // was: try again on the next tick. Anything else: a new room.
                in_room = in_room && e.code().is_some() && !pair.game_over();
                // Not at full speed: a refusal such as `capacity` would repeat at once.
                let retry = pacer.as_mut().map_or_else(
                    || Instant::now() + Duration::from_millis(10),
                    Pacer::next_tick,
                );
                tokio::time::sleep_until(retry.min(end)).await;
            }
        }
    }
    (pair, histogram, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> W3Options {
        W3Options {
            url: "http://127.0.0.1:3000".to_owned(),
            rooms: 4,
            rate: 100.0,
            seconds: 2.0,
            warmup_secs: 0.0,
            server_pid: None,
            progress: false,
        }
    }

    #[test]
    fn bounds() {
        assert!(validate(&options()).is_ok());
        assert!(
            validate(&W3Options {
                rate: 0.0,
                ..options()
            })
            .is_ok()
        );
        let bad = [
            W3Options {
                url: "http://10.0.0.1:3000".to_owned(),
                ..options()
            },
            W3Options {
                rooms: 0,
                ..options()
            },
            W3Options {
                rate: -1.0,
                ..options()
            },
            W3Options {
                seconds: 0.0,
                ..options()
            },
            W3Options {
                warmup_secs: -1.0,
                ..options()
            },
        ];
        for o in bad {
            assert!(validate(&o).is_err(), "{o:?}");
        }
    }
}
