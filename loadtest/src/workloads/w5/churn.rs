//! W5's steady churn: fresh guests connect, list the lobby or watch a game,
//! and leave, at a fixed rate, through the kill and the restart.

use crate::client::{Client, ClientConfig, Overflow};
use crate::http::guest_token_from;
use crate::report::Errors;
use protocol::events::{Joined, LobbyList, RoomJoin, RoomList};
use protocol::games::tictactoe;
use protocol::{Ack, Role, event_names};
use rand::Rng;
use serde::Serialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// Churn connections under way at once; a tick that finds none free is skipped.
const IN_FLIGHT: usize = 512;

/// The rooms being played, one slot per pair, for churn guests to watch.
#[derive(Debug)]
pub(super) struct RoomSlots(Mutex<Vec<Option<String>>>);

impl RoomSlots {
    pub(super) fn new(pairs: usize) -> RoomSlots {
        RoomSlots(Mutex::new(vec![None; pairs]))
    }

    /// Pair `i` now plays in `room`.
    pub(super) fn set(&self, i: usize, room: &str) {
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(room.to_owned());
        }
    }

    /// A random pair's room, if it has one.
    fn pick(&self) -> Option<String> {
        let slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.is_empty() {
            return None;
        }
        slots[rand::rng().random_range(0..slots.len())].clone()
    }
}

/// When the hub was down: from the kill until the restarted hub listened.
#[derive(Debug, Default)]
pub(super) struct Outage(Mutex<(Option<Instant>, Option<Instant>)>);

impl Outage {
    pub(super) fn killed(&self, at: Instant) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).0 = Some(at);
    }

    pub(super) fn listening(&self, at: Instant) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(at);
    }

    /// True when an attempt from `start` to `end` overlapped the outage.
    fn overlaps(&self, start: Instant, end: Instant) -> bool {
        let (killed, listening) = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        killed.is_some_and(|k| end >= k) && listening.is_none_or(|l| start <= l)
    }
}

/// What the churn did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChurnStats {
    /// Target new connections per second.
    pub target_per_sec: f64,
    /// Share of them that list the lobby (the others watch a game).
    pub lobby_share: f64,
    /// Seconds the churn ran.
    pub seconds: f64,
    /// Connections started.
    pub attempted: u64,
    /// Connections that got through CONNECT.
    pub connected: u64,
    /// `connected / seconds`.
    pub connects_per_sec: f64,
    /// Connections that also listed or watched, and left.
    pub completed: u64,
    /// Ticks skipped because [`IN_FLIGHT`] connections were still under way.
    pub skipped: u64,
    /// Failures of attempts that overlapped the outage (expected: the hub was down).
    pub failed_during_outage: u64,
    /// Failures of attempts while the hub was up.
    pub errors: Errors,
}

#[derive(Default)]
struct Counters {
    attempted: AtomicU64,
    connected: AtomicU64,
    completed: AtomicU64,
    skipped: AtomicU64,
    failed_during_outage: AtomicU64,
}

/// Runs the churn against `url` at `per_sec` until `stop` turns true, then
/// waits for the connections under way. A share `lobby_share` of the guests
/// (at random) list the lobby, the others join a random game as spectators.
/// Guest `n` connects from `sources[n % len]` (none: the kernel's choice).
pub(super) async fn churn(
    url: String,
    sources: Vec<IpAddr>,
    per_sec: f64,
    lobby_share: f64,
    rooms: Arc<RoomSlots>,
    outage: Arc<Outage>,
    mut stop: watch::Receiver<bool>,
) -> ChurnStats {
    let start = Instant::now();
    let counters = Arc::new(Counters::default());
    let errors = Arc::new(Mutex::new(Errors::default()));
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let config = Arc::new(ClientConfig {
        connect_timeout: Duration::from_secs(10),
        ack_timeout: Duration::from_secs(10),
        event_capacity: 4,
        overflow: Overflow::Drop,
        outgoing_capacity: 4,
        read_buffer_size: 4 * 1024,
        ..ClientConfig::default()
    });
    let run = std::process::id() % 10_000;
    let mut n: u64 = 0;
    if per_sec > 0.0 {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sec));
        // A tick the runtime woke up late for is made up at once: the target
        // is a count per second, and [`IN_FLIGHT`] bounds any catching up.
        tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                counters.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            n += 1;
            counters.attempted.fetch_add(1, Ordering::Relaxed);
            let guest = Guest {
                url: url.clone(),
                config: Arc::clone(&config),
                source_ip: sources.get(n as usize % sources.len().max(1)).copied(),
                name: format!("c{run}n{n}"),
                watch: if rand::rng().random_bool(lobby_share) {
                    None
                } else {
                    rooms.pick()
                },
                counters: Arc::clone(&counters),
            };
            let (outage, errors) = (Arc::clone(&outage), Arc::clone(&errors));
            tokio::spawn(async move {
                let started = Instant::now();
                if let Err(e) = guest.visit().await {
                    if outage.overlaps(started, Instant::now()) {
                        guest
                            .counters
                            .failed_during_outage
                            .fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.lock().unwrap_or_else(PoisonError::into_inner).add(e);
                    }
                }
                drop(permit);
            });
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // Every visit is bounded by its timeouts; all permits back means all done.
    let _ = slots.acquire_many(IN_FLIGHT as u32).await;
    let connected = counters.connected.load(Ordering::Relaxed);
    let errors = errors
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    ChurnStats {
        target_per_sec: per_sec,
        lobby_share,
        seconds,
        attempted: counters.attempted.load(Ordering::Relaxed),
        connected,
        connects_per_sec: if seconds > 0.0 {
            connected as f64 / seconds
        } else {
            0.0
        },
        completed: counters.completed.load(Ordering::Relaxed),
        skipped: counters.skipped.load(Ordering::Relaxed),
        failed_during_outage: counters.failed_during_outage.load(Ordering::Relaxed),
        errors,
    }
}

/// One churn guest.
struct Guest {
    url: String,
    config: Arc<ClientConfig>,
    source_ip: Option<IpAddr>,
    name: String,
    /// The game to watch; `None` lists the lobby instead.
    watch: Option<String>,
    counters: Arc<Counters>,
}

impl Guest {
    async fn visit(&self) -> Result<(), String> {
        let (token, _) = guest_token_from(&self.url, &self.name, self.source_ip)
            .await
            .map_err(|e| format!("guest token: {e}"))?;
        let config = ClientConfig {
            source_ip: self.source_ip,
            ..ClientConfig::clone(&self.config)
        };
        let client = Client::connect_with(&config, &self.url, Some(json!({ "token": token })))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        self.counters.connected.fetch_add(1, Ordering::Relaxed);
        let done = match &self.watch {
            Some(room) => {
                let join = RoomJoin {
                    room_id: room.clone(),
                    role: Role::Spectator,
                };
                match client
                    .emit_with_ack::<_, Ack<Joined>>(event_names::ROOM_JOIN, &join)
                    .await
                {
                    Ok(Ack::Ok(_)) => Ok(()),
                    // The game ended and its room closed meanwhile: nothing wrong.
                    Ok(Ack::Err(e)) if e.code == protocol::ErrorCode::RoomNotFound => Ok(()),
                    Ok(Ack::Err(e)) => Err(format!("room:join as spectator: {e}")),
                    Err(e) => Err(format!("room:join as spectator: {e}")),
                }
            }
            None => {
                let list = LobbyList {
                    game: Some(tictactoe::NAME.to_owned()),
                };
                match client
                    .emit_with_ack::<_, Ack<RoomList>>(event_names::LOBBY_LIST, &list)
                    .await
                {
                    Ok(Ack::Ok(_)) => Ok(()),
                    Ok(Ack::Err(e)) => Err(format!("lobby:list: {e}")),
                    Err(e) => Err(format!("lobby:list: {e}")),
                }
            }
        };
        client.disconnect().await;
        done?;
        self.counters.completed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
