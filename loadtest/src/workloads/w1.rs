//! W1 idle: many authenticated sockets in lobby rooms of 10, held without traffic; memory and CPU.

use super::{disconnect_all, load_config, progress_bar, setup_rooms, source_ips};
use crate::client::Overflow;
use crate::report::{Errors, ServerProbe, ServerUsage};
use crate::target::require_loopback;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// Sockets per lobby room: one creates it, nine join as spectators.
pub const ROOM_SIZE: usize = 10;

/// What W1 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W1Options {
    /// Server base URL (loopback only).
    pub url: String,
    /// Sockets to connect (rounded up to whole rooms of [`ROOM_SIZE`]).
    pub sockets: usize,
    /// Seconds to hold them idle.
    pub hold_secs: f64,
    /// Server pid, to read its CPU time and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// What W1 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W1Result {
    /// The options it ran with.
    pub options: W1Options,
    /// Sockets that got connected and into their room.
    pub connected: usize,
    /// Seconds from the first guest token to the last join.
    pub setup_secs: f64,
    /// `connected / setup_secs`; each connect includes its guest token and room join.
    pub connects_per_sec: f64,
    /// Sockets still connected at the end of the hold.
    pub connected_after_hold: usize,
    /// Server RSS before the first socket, KiB (with `server_pid`).
    pub rss_baseline_kb: Option<u64>,
    /// (RSS at the end of the hold - baseline) / connected, KiB (with `server_pid`).
    pub rss_per_socket_kb: Option<f64>,
    /// Server CPU and RSS over the hold (with `server_pid`).
    pub idle: Option<ServerUsage>,
    /// Server CPU while idle, percent of one core (with `server_pid`).
    pub idle_cpu_percent: Option<f64>,
    /// Failed tokens, connects or joins; lost connections.
    pub errors: Errors,
}

/// Runs W1: connects the sockets in rooms, holds them, and reports.
pub async fn w1(options: W1Options) -> Result<W1Result, String> {
    require_loopback(&options.url).map_err(|e| e.to_string())?;
    if options.sockets == 0 || options.sockets > 200_000 {
        return Err("--sockets must be 1..=200000".to_owned());
    }
    if !(0.0..=3600.0).contains(&options.hold_secs) {
        return Err("--hold must be in [0, 3600] seconds".to_owned());
    }
    let sources = source_ips(&options.url, options.sockets)?;
    let probe = ServerProbe::new(options.server_pid).map_err(|e| format!("server pid: {e}"))?;
    let baseline = probe.sample();
    let rooms = options.sockets.div_ceil(ROOM_SIZE);
    let config = load_config(Overflow::Drop, 16);

    let start = Instant::now();
    let bar = progress_bar(options.progress, (rooms * ROOM_SIZE) as u64, "connect");
    let results = setup_rooms(&options.url, &config, &sources, rooms, ROOM_SIZE, &bar).await;
    bar.finish_and_clear();
    let setup_secs = start.elapsed().as_secs_f64();
    let mut errors = Errors::default();
    let mut clients = Vec::with_capacity(rooms * ROOM_SIZE);
    for result in results {
        match result {
            Ok((_, members)) => clients.extend(members),
            Err(e) => errors.add(e),
        }
    }
    let connected = clients.len();

    let held = probe.sample();
    let hold = Duration::from_secs_f64(options.hold_secs);
    let bar = progress_bar(options.progress, hold.as_millis() as u64, "hold ms");
    let hold_end = Instant::now() + hold;
    while Instant::now() < hold_end {
        let step = hold_end
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(200));
        tokio::time::sleep(step).await;
        bar.set_position(
            hold.as_millis() as u64
                - hold_end
                    .saturating_duration_since(Instant::now())
                    .as_millis() as u64,
        );
    }
    bar.finish_and_clear();
    let after = probe.sample();
    let connected_after_hold = clients.iter().filter(|c| c.is_connected()).count();
    for _ in connected_after_hold..connected {
        errors.add("a socket was disconnected during the hold");
    }
    disconnect_all(clients).await;

    let idle = probe.usage(held, after);
    let rss_per_socket_kb = match (baseline, after) {
        (Some(b), Some(a)) if connected > 0 => {
            Some((a.rss_kb as f64 - b.rss_kb as f64) / connected as f64)
        }
        _ => None,
    };
    Ok(W1Result {
        connected,
        setup_secs,
        connects_per_sec: if setup_secs > 0.0 {
            connected as f64 / setup_secs
        } else {
            0.0
        },
        connected_after_hold,
        rss_baseline_kb: baseline.map(|b| b.rss_kb),
        rss_per_socket_kb,
        idle_cpu_percent: idle
            .filter(|_| options.hold_secs > 0.0)
            .map(|u| u.cpu_secs / options.hold_secs * 100.0),
        idle,
        errors,
        options,
    })
}
