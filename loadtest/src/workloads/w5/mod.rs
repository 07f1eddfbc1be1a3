//! W5 churn: clients in tic-tac-toe games plus a steady connect/disconnect
//! churn; the hub is killed with SIGKILL and restarted on the same database,
//! and every client comes back to its seat and checks its acknowledged moves.
//!
//! W5 starts the hub itself ([`hub`]), so it can kill it. Pairs of bots play
//! as in W3 and write down every acknowledged move ([`player`]); guests come
//! and go meanwhile ([`churn`]). At the kill every client sees its connection
//! drop, reconnects with its own token after socket.io's backoff, re-joins
//! its room and compares the board with what it was acknowledged. Any
//! acknowledged move missing is listed in [`W5Result::lost`].

mod churn;
mod hub;
mod player;

pub use churn::ChurnStats;
pub use player::LostAction;

use super::tictactoe::{Pacer, disconnect_pairs};
use super::w3::connect_pairs;
use super::{progress_bar, source_ips};
use crate::procfs::ProcSample;
use crate::report::{Errors, Latency, ServerProbe, ServerUsage, latency_histogram};
use churn::{Outage, RoomSlots};
use hub::HubSpec;
use player::{Backoff, Counters, Plan};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What W5 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W5Options {
    /// The `gamehub` binary to start, kill and restart.
    pub hub_bin: PathBuf,
    /// Clients in games (rounded up to pairs, one room each).
    pub clients: usize,
    /// Target moves per second over all games; 0 = as fast as acks allow.
    pub rate: f64,
    /// New churn connections per second (0 = none).
    pub churn: f64,
    /// Share of the churn guests that list the lobby (0..=1); the others watch a game.
    pub lobby_share: f64,
    /// Seconds of play before the kill.
    pub warmup_secs: f64,
    /// Seconds after the kill for every client to be back; then the run ends.
    pub recover_secs: f64,
    /// First reconnect delay (socket.io's `reconnectionDelay`), ms.
    pub reconnect_delay_ms: u64,
    /// Largest reconnect delay (`reconnectionDelayMax`), ms.
    pub reconnect_delay_max_ms: u64,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// Seconds from the kill until a share of the clients were back.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BackTimes {
    /// Half of them.
    pub p50_secs: Option<f64>,
    /// 99 %.
    pub p99_secs: Option<f64>,
    /// All of them.
    pub p100_secs: Option<f64>,
}

/// What W5 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W5Result {
    /// The options it ran with.
    pub options: W5Options,
    /// Clients in games (twice the pairs).
    pub clients: usize,
    /// Seconds to connect them.
    pub setup_secs: f64,
    /// Moves acknowledged before the kill.
    pub actions: u64,
    /// Ack round trips of those moves.
    pub ack: Latency,
    /// Games played to their end before the kill.
    pub games_finished: u64,
    /// Rooms created.
    pub rooms_created: u64,
    /// Seconds from SIGKILL until the restarted hub printed `listening on`.
    pub kill_to_listening_secs: f64,
    /// The first hub's CPU and RSS over the play before the kill.
    pub hub_play: Option<ServerUsage>,
    /// The restarted hub's CPU from its start (recovery of the rooms
    /// included) to the end, and its RSS then (`rss_before_kb` is 0).
    pub hub_restarted: Option<ServerUsage>,
    /// When the clients were back in their seats with their state checked.
    pub back: BackTimes,
    /// Clients back (seated with their moves checked, or rightly without a room).
    pub clients_back: usize,
    /// Clients not back by the deadline (their moves are unchecked).
    pub clients_not_back: u64,
    /// Acknowledged moves found on the board after the restart.
    pub verified_actions: u64,
    /// Clients whose acknowledged game end meant a room that is not reopened (by design).
    pub finished_not_reopened: u64,
    /// Acknowledged moves the restarted hub did not have. Must be empty.
    pub lost: Vec<LostAction>,
    /// The churn's figures.
    pub churn: ChurnStats,
    /// Errors of the players (refusals, timeouts, clients not back).
    pub errors: Errors,
    /// The hub's log, kept (with its database) when something was lost or not back.
    pub kept_dir: Option<PathBuf>,
}

impl W5Result {
    /// True when no acknowledged move was lost and every client came back.
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.clients_not_back == 0
    }
}

/// Runs W5: starts the hub, sets up the games, plays and churns, kills and
/// restarts the hub, waits for the clients to come back, and reports.
pub async fn w5(options: W5Options) -> Result<W5Result, String> {
    validate(&options)?;
    let dir = std::env::temp_dir().join(format!(
        "gamehub-w5-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let outcome = run(&options, &dir).await;
    let keep = outcome.as_ref().map_or(true, |r| !r.passed());
    if keep {
        eprintln!(
            "w5: the hub's database and log are kept in {}",
            dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    outcome.map(|mut r| {
        r.kept_dir = keep.then_some(dir);
        r
    })
}

async fn run(options: &W5Options, dir: &std::path::Path) -> Result<W5Result, String> {
    // Seats must outlast the whole recovery window, or slow clients forfeit.
    let grace_secs = options.recover_secs.ceil() as u64 + 60;
    let spec = HubSpec::new(&options.hub_bin, dir, grace_secs)?;
    let hub = spec.start().await?;
    let url = hub.url.clone();
    let first_probe = ServerProbe::new(hub.pid).map_err(|e| format!("hub pid: {e}"))?;

    let pairs_wanted = options.clients.div_ceil(2);
    let setup_start = Instant::now();
    let pairs = connect_pairs(&url, pairs_wanted, options.progress).await?;
    let setup_secs = setup_start.elapsed().as_secs_f64();

    let start = Instant::now() + Duration::from_millis(50);
    let kill_at = start + Duration::from_secs_f64(options.warmup_secs);
    let rooms = Arc::new(RoomSlots::new(pairs.len()));
    let plan = Arc::new(Plan {
        url: url.clone(),
        config: super::load_config(crate::client::Overflow::Wait, 64),
        backoff: Backoff {
            delay: Duration::from_millis(options.reconnect_delay_ms),
            max: Duration::from_millis(options.reconnect_delay_max_ms),
            jitter: 0.5,
        },
        kill_at,
        recover_by: kill_at + Duration::from_secs_f64(options.recover_secs),
        counters: Counters::default(),
        rooms: Arc::clone(&rooms),
    });
    let n = pairs.len();
    let period = (options.rate > 0.0).then(|| Duration::from_secs_f64(n as f64 / options.rate));
    let tasks: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, pair)| {
            let pacer = period.map(|p| Pacer::new(start + p.mul_f64(i as f64 / n as f64), p));
            let rng = StdRng::seed_from_u64(i as u64);
            tokio::spawn(player::run(pair, i, pacer, Arc::clone(&plan), rng))
        })
        .collect();
    let outage = Arc::new(Outage::default());
    let (stop_churn, churn_stop) = watch::channel(false);
    // A closed connection keeps its port in TIME_WAIT for a minute: spread a
    // minute of churn (token requests included) over source addresses.
    let churn_sources = source_ips(&url, (options.churn * 60.0) as usize)?;
    let churn_task = tokio::spawn(churn::churn(
        url,
        churn_sources,
        options.churn,
        options.lobby_share,
        rooms,
        Arc::clone(&outage),
        churn_stop,
    ));

    let before_play = first_probe.sample();
    let bar = progress_bar(
        options.progress,
        (options.warmup_secs * 1000.0) as u64,
        "play ms",
    );
    while Instant::now() < kill_at {
        tokio::time::sleep(Duration::from_millis(100).min(kill_at - Instant::now())).await;
        bar.set_position(start.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "moves {} games {}",
            plan.counters.actions.load(Ordering::Relaxed),
            plan.counters.games.load(Ordering::Relaxed)
        ));
    }
    bar.finish_and_clear();

    let hub_play = first_probe.usage(before_play, first_probe.sample());
    let killed_at = Instant::now();
    outage.killed(killed_at);
    hub.kill9().await?;
    let actions = plan.counters.actions.load(Ordering::Relaxed);
    let games_finished = plan.counters.games.load(Ordering::Relaxed);
    let restarted = spec.start().await;
    let listening_at = Instant::now();
    outage.listening(listening_at);
    let hub = match restarted {
        Ok(hub) => hub,
        Err(e) => {
            let _ = stop_churn.send(true);
            tasks.iter().for_each(tokio::task::JoinHandle::abort);
            return Err(format!("restarting the hub: {e}"));
        }
    };

    let second_probe = ServerProbe::new(hub.pid).map_err(|e| format!("hub pid: {e}"))?;
    let clients = n * 2;
    let bar = progress_bar(options.progress, clients as u64, "back");
    while Instant::now() < plan.recover_by && tasks.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(plan.counters.back.load(Ordering::Relaxed));
    }
    bar.finish_and_clear();
    let _ = stop_churn.send(true);
    // From the restarted process's start: its recovery of the rooms included.
    let hub_restarted = second_probe.usage(
        Some(ProcSample {
            cpu_secs: 0.0,
            rss_kb: 0,
        }),
        second_probe.sample(),
    );

    let mut histogram = latency_histogram();
    let mut errors = Errors::default();
    let mut back_secs = Vec::with_capacity(clients);
    let (mut not_back, mut verified, mut finished_not_reopened) = (0, 0, 0);
    let mut lost = Vec::new();
    let mut pairs = Vec::with_capacity(n);
    for task in tasks {
        let o = task.await.map_err(|e| format!("player task: {e}"))?;
        histogram
            .add(&o.ack_histogram)
            .map_err(|e| format!("merging histograms: {e}"))?;
        errors.merge(o.errors);
        back_secs.extend(
            o.back_at
                .iter()
                .map(|at| at.saturating_duration_since(killed_at).as_secs_f64()),
        );
        not_back += o.not_back;
        verified += o.verified;
        finished_not_reopened += o.finished_not_reopened;
        lost.extend(o.lost);
        pairs.extend(o.pair);
    }
    let churn = churn_task.await.map_err(|e| format!("churn task: {e}"))?;
    disconnect_pairs(pairs).await;
    hub.kill9().await?;

    back_secs.sort_by(f64::total_cmp);
    Ok(W5Result {
        clients,
        setup_secs,
        actions,
        ack: Latency::from_micros(&histogram),
        games_finished,
        rooms_created: plan.counters.rooms.load(Ordering::Relaxed),
        kill_to_listening_secs: (listening_at - killed_at).as_secs_f64(),
        hub_play,
        hub_restarted,
        back: BackTimes {
            p50_secs: share_back(&back_secs, clients, 0.50),
            p99_secs: share_back(&back_secs, clients, 0.99),
            p100_secs: share_back(&back_secs, clients, 1.0),
        },
        clients_back: back_secs.len(),
        clients_not_back: not_back,
        verified_actions: verified,
        finished_not_reopened,
        lost,
        churn,
        errors,
        kept_dir: None,
        options: options.clone(),
    })
}

/// Seconds until `share` of `clients` were back, from the sorted back times;
/// `None` if fewer came back.
fn share_back(sorted: &[f64], clients: usize, share: f64) -> Option<f64> {
    let needed = ((clients as f64 * share).ceil() as usize).max(1);
    sorted.get(needed - 1).copied()
}

/// Bounds that keep a run finite.
fn validate(o: &W5Options) -> Result<(), String> {
    if o.clients < 2 || o.clients > 50_000 {
        return Err("--clients must be 2..=50000".to_owned());
    }
    if !(0.0..=1_000_000.0).contains(&o.rate) || !(0.0..=10_000.0).contains(&o.churn) {
        return Err(
            "--rate must be in [0, 1000000] and --churn in [0, 10000] per second".to_owned(),
        );
    }
    if !(o.warmup_secs > 0.0 && o.warmup_secs <= 3600.0) {
        return Err("--warmup must be in (0, 3600] seconds".to_owned());
    }
    if !(o.recover_secs > 0.0 && o.recover_secs <= 600.0) {
        return Err("--recover must be in (0, 600] seconds".to_owned());
    }
    if o.reconnect_delay_ms == 0 || o.reconnect_delay_ms > o.reconnect_delay_max_ms {
        return Err(
            "--reconnect-delay-ms must be at least 1 and at most --reconnect-delay-max-ms"
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_of_clients_back() {
        let sorted = [0.5, 0.7, 1.0, 2.0];
        assert_eq!(share_back(&sorted, 4, 0.5), Some(0.7));
        assert_eq!(share_back(&sorted, 4, 1.0), Some(2.0));
        assert_eq!(
            share_back(&sorted, 5, 0.99),
            None,
            "one of five never came back"
        );
        assert_eq!(share_back(&[], 0, 0.5), None);
    }
}
