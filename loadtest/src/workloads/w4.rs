//! W4 cluster: W2 with each room's players split over two instances that share
//! one Redis, against plain W2 on the first instance alone, in one run.
//!
//! The baseline is W2 with the same sizes on `url`. The split run creates
//! each room on `url`; the first half of its players join through `url`, the
//! second half through `url2`, so every broadcast has to cross Redis. Only
//! the W2 subset of the contract is used (guest tokens, `room:create`,
//! `room:join`, `room:chat`), so any server with a Redis adapter can be the
//! target, not only the hub.

use super::w2::{FanOut, Setup, join_and_fan_out, validate as validate_w2, w2_probing};
use super::{W2Options, W2Result};
use crate::client::Parser;
use crate::report::{Errors, Latency, ServerProbe, ServerUsage};
use crate::target::require_loopback;
use serde::Serialize;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What W4 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W4Options {
    /// First instance (rooms are created here; the baseline runs here alone). Loopback only.
    pub url: String,
    /// Second instance, sharing Redis with the first. Loopback only.
    pub url2: String,
    /// Rooms.
    pub rooms: usize,
    /// Players per room (all of them send and receive), split half and half.
    pub players: usize,
    /// Messages per second each player sends.
    pub rate_hz: f64,
    /// How long players send, in each of the two runs.
    pub seconds: f64,
    /// How long to wait after sending for the last deliveries.
    pub drain_secs: f64,
    /// Pid of the first instance, for its CPU and RSS.
    pub server_pid: Option<u32>,
    /// Pid of the second instance.
    pub server_pid2: Option<u32>,
    /// Redis `host:port` (loopback), asked for its pid with `INFO server`.
    pub redis: String,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// What the split run measured (the baseline is a [`W2Result`]).
#[derive(Debug, Clone, Serialize)]
pub struct SplitRun {
    /// Seconds to get every socket connected and in its room.
    pub setup_secs: f64,
    /// Setup requests answered `unavailable` and retried (joins forwarded
    /// to the room's owner that did not come back in time).
    pub setup_retries: u64,
    /// `room:chat` messages sent.
    pub messages_sent: u64,
    /// `messages_sent * players`.
    pub expected_deliveries: u64,
    /// `room:chat` pushes received.
    pub deliveries: u64,
    /// `deliveries / expected_deliveries`.
    pub delivery_ratio: f64,
    /// Deliveries per second of the sending window.
    pub deliveries_per_sec: f64,
    /// Send-to-receive latency of every delivery.
    pub latency: Latency,
    /// Players that received no `room:chat` at all: joined (the join was
    /// acknowledged) but never in the room's broadcast.
    pub silent_members: u64,
    /// The first instance's CPU and RSS, with `server_pid`.
    pub server: Option<ServerUsage>,
    /// The second instance's, with `server_pid2`.
    pub server2: Option<ServerUsage>,
    /// CPU seconds of both instances per million deliveries, with both pids.
    pub cpu_secs_per_million_deliveries: Option<f64>,
    /// Failed acks, malformed pushes, lost connections.
    pub errors: Errors,
}

/// What W4 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W4Result {
    /// The options it ran with.
    pub options: W4Options,
    /// Plain W2 on `url` alone.
    pub baseline: W2Result,
    /// The same sizes with the players split over `url` and `url2`.
    pub split: SplitRun,
    /// Split p50 minus baseline p50, ms.
    pub added_p50_ms: f64,
    /// Split p99 minus baseline p99, ms.
    pub added_p99_ms: f64,
    /// Redis's pid, from `INFO server`.
    pub redis_pid: Option<u32>,
    /// Why Redis's CPU is not reported, when it is not.
    pub redis_note: Option<String>,
    /// Redis's CPU and RSS over the baseline's sending and draining.
    pub redis_baseline: Option<ServerUsage>,
    /// Redis's CPU and RSS over the split run's sending and draining.
    pub redis_split: Option<ServerUsage>,
}

impl W4Options {
    /// The W2 options of the baseline: the same sizes and pace on `url` alone.
    /// The split run goes at the same pace, over both instances.
    fn baseline(&self) -> W2Options {
        W2Options {
            url: self.url.clone(),
            rooms: self.rooms,
            players: self.players,
            rate_hz: self.rate_hz,
            seconds: self.seconds,
            drain_secs: self.drain_secs,
            server_pid: self.server_pid,
            // Only the W2 subset of the contract, so any server can be the target.
            parser: Parser::Json,
            progress: self.progress,
        }
    }
}

/// Bounds: W2's for the baseline, then what splitting a room over two
/// instances and reading Redis need.
fn validate(o: &W4Options) -> Result<(), String> {
    validate_w2(&o.baseline())?;
    require_loopback(&o.url2).map_err(|e| e.to_string())?;
    if o.players < 2 {
        return Err("--players must be at least 2 to split a room over two instances".to_owned());
    }
    require_loopback(&format!("http://{}", o.redis)).map_err(|e| format!("--redis: {e}"))?;
    Ok(())
}

/// Runs W4: the baseline on `url`, then the split run, and reports both.
pub async fn w4(options: W4Options) -> Result<W4Result, String> {
    validate(&options)?;
    let w2_options = options.baseline();
    let probe2 = ServerProbe::new(options.server_pid2).map_err(|e| format!("server pid 2: {e}"))?;
    let (redis_pid, redis_note) = match redis_pid(&options.redis).await {
        Ok(pid) => match ServerProbe::new(Some(pid)) {
            Ok(_) => (Some(pid), None),
            Err(e) => (Some(pid), Some(format!("cannot read /proc/{pid}: {e}"))),
        },
        Err(e) => (None, Some(e)),
    };
    let redis = ServerProbe::new(redis_pid.filter(|_| redis_note.is_none()))
        .map_err(|e| format!("redis pid: {e}"))?;

    let (baseline, redis_baseline) = w2_probing(w2_options.clone(), &[redis]).await?;

    let probe1 = ServerProbe::new(options.server_pid).map_err(|e| format!("server pid: {e}"))?;
    let urls = [options.url.as_str(), options.url2.as_str()];
    let (setup, run) = join_and_fan_out(&urls, &w2_options, &[probe1, probe2, redis]).await?;
    let split = split_run(&run, setup);

    Ok(W4Result {
        added_p50_ms: split.latency.p50_ms - baseline.latency.p50_ms,
        added_p99_ms: split.latency.p99_ms - baseline.latency.p99_ms,
        baseline,
        split,
        redis_pid,
        redis_note,
        redis_baseline: redis_baseline.first().copied().flatten(),
        redis_split: run.usage[2],
        options,
    })
}

fn split_run(run: &FanOut, setup: Setup) -> SplitRun {
    let (server, server2) = (run.usage[0], run.usage[1]);
    let both = server.zip(server2).map(|(a, b)| a.cpu_secs + b.cpu_secs);
    SplitRun {
        setup_secs: setup.secs,
        setup_retries: setup.retries,
        messages_sent: run.messages_sent,
        expected_deliveries: run.expected_deliveries,
        deliveries: run.deliveries,
        delivery_ratio: run.delivery_ratio(),
        deliveries_per_sec: run.deliveries_per_sec(),
        latency: run.latency,
        silent_members: run.silent_members,
        server,
        server2,
        cpu_secs_per_million_deliveries: run.cpu_secs_per_million(both),
        errors: run.errors.clone(),
    }
}

/// Redis's pid: the `process_id:` line of `INFO server`, asked over a plain
/// TCP connection in RESP (no Redis client needed for one command).
pub async fn redis_pid(addr: &str) -> Result<u32, String> {
    let ask = async {
        let stream = TcpStream::connect(addr).await?;
        let mut stream = BufReader::new(stream);
        stream
            .get_mut()
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            .await?;
        let mut header = String::new();
        stream.read_line(&mut header).await?;
        let len = match header.strip_prefix('$') {
            Some(len) => len.trim().parse::<usize>().ok(),
            None => None,
        };
        let Some(len) = len.filter(|&len| len <= 1 << 20) else {
            return Ok(Err(format!("unexpected answer to INFO: {}", header.trim())));
        };
        let mut body = vec![0; len];
        stream.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(Ok(String::from_utf8_lossy(&body).into_owned()))
    };
    let info = tokio::time::timeout(Duration::from_secs(3), ask)
        .await
        .map_err(|_| format!("Redis at {addr} did not answer INFO in time"))?
        .map_err(|e| format!("Redis at {addr}: {e}"))?
        .map_err(|e| format!("Redis at {addr}: {e}"))?;
    info_process_id(&info).ok_or_else(|| format!("Redis at {addr}: no process_id in INFO server"))
}

/// The `process_id:N` line of an `INFO` answer.
fn info_process_id(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> W4Options {
        W4Options {
            url: "http://127.0.0.1:3000".to_owned(),
            url2: "http://127.0.0.1:3001".to_owned(),
            rooms: 2,
            players: 10,
            rate_hz: 2.0,
            seconds: 2.0,
            drain_secs: 2.0,
            server_pid: None,
            server_pid2: None,
            redis: "127.0.0.1:6379".to_owned(),
            progress: false,
        }
    }

    #[test]
    fn bounds() {
        assert!(validate(&options()).is_ok());
        let bad = [
            // W2's bounds, through the baseline.
            W4Options {
                url: "http://192.168.1.1:3000".to_owned(),
                ..options()
            },
            W4Options {
                rate_hz: 0.0,
                ..options()
            },
            // W4's own.
            W4Options {
                url2: "http://192.168.1.2:3000".to_owned(),
                ..options()
            },
            W4Options {
                players: 1,
                ..options()
            },
            W4Options {
                redis: "192.168.1.3:6379".to_owned(),
                ..options()
            },
        ];
        for o in bad {
            assert!(validate(&o).is_err(), "{o:?}");
        }
    }

    #[test]
    fn process_id_from_info() {
        let info = "# Server\r\nredis_version:7.2.4\r\nprocess_id:4242\r\nrun_id:abc\r\n";
        assert_eq!(info_process_id(info), Some(4242));
        assert_eq!(info_process_id("# Server\r\n"), None);
    }
}
