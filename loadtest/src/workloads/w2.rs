//! W2 fan-out: rooms of players chatting at a fixed rate; delivery ratio and latency of every push.
//!
//! Each `room:chat` text is a [`stamp`]: the send time in nanoseconds since
//! the run started. The server broadcasts it to the whole room, sender
//! included, so every message is expected `players` times.

use super::deliveries::{Counters, Deliveries, collect, drain, stamp};
use super::{disconnect_all, load_config, progress_bar, setup_rooms};
use crate::client::{Client, ClientConfig, Event, Overflow, Parser};
use crate::report::{Errors, Latency, ServerProbe, ServerUsage};
use crate::target::require_loopback;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use protocol::events::RoomChat;
use protocol::{Ack, Empty, event_names};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// What W2 runs.
#[derive(Debug, Clone, Serialize)]
pub struct W2Options {
    /// Server base URL (loopback only).
    pub url: String,
    /// Rooms.
    pub rooms: usize,
    /// Players per room (all of them send and receive).
    pub players: usize,
    /// Messages per second each player sends.
    pub rate_hz: f64,
    /// How long players send.
    pub seconds: f64,
    /// How long to wait after sending for the last deliveries.
    pub drain_secs: f64,
    /// Server pid, to read its CPU time and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// The socket.io parser the server speaks (`SOCKETIO_PARSER` on gamehub).
    pub parser: Parser,
    /// Draw a progress bar on stderr.
    #[serde(skip)]
    pub progress: bool,
}

/// What W2 measured.
#[derive(Debug, Clone, Serialize)]
pub struct W2Result {
    /// The options it ran with.
    pub options: W2Options,
    /// Seconds to get every socket connected and in its room.
    pub setup_secs: f64,
    /// `room:chat` messages sent.
    pub messages_sent: u64,
    /// `messages_sent * players`.
    pub expected_deliveries: u64,
    /// `room:chat` pushes received (from this run's senders).
    pub deliveries: u64,
    /// `deliveries / expected_deliveries`.
    pub delivery_ratio: f64,
    /// Deliveries per second of the sending window.
    pub deliveries_per_sec: f64,
    /// Send-to-receive latency of every delivery.
    pub latency: Latency,
    /// Server CPU and RSS over sending and draining, with `server_pid`.
    pub server: Option<ServerUsage>,
    /// Server CPU seconds per million deliveries, with `server_pid`.
    pub cpu_secs_per_million_deliveries: Option<f64>,
    /// Failed acks, malformed pushes, lost connections.
    pub errors: Errors,
}

/// Runs W2: sets up the rooms, sends for `seconds`, drains, and reports.
/// Fails before sending if the options are out of bounds or any socket cannot join.
pub async fn w2(options: W2Options) -> Result<W2Result, String> {
    w2_probing(options, &[]).await.map(|(result, _)| result)
}

/// [`w2`], also reading `extra` probes (W4: Redis) over the same window as
/// the server; returns their usage in order.
pub(crate) async fn w2_probing(
    options: W2Options,
    extra: &[ServerProbe],
) -> Result<(W2Result, Vec<Option<ServerUsage>>), String> {
    validate(&options)?;
    let probe = ServerProbe::new(options.server_pid).map_err(|e| format!("server pid: {e}"))?;
    let probes: Vec<ServerProbe> = std::iter::once(probe)
        .chain(extra.iter().copied())
        .collect();
    let (setup, mut run) = join_and_fan_out(&[&options.url], &options, &probes).await?;
    let extra_usage = run.usage.split_off(1);
    Ok((run.into_w2_result(options, setup.secs), extra_usage))
}

/// How the rooms of a fan-out run were set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Setup {
    /// Seconds to get every socket connected and in its room.
    pub secs: f64,
    /// Setup requests retried (see `join_ack`).
    pub retries: u64,
}

/// A whole fan-out run with `options`' sizes and pace, W2's and W4's split
/// run alike: joins the rooms through `urls` (see [`join_members`]), then
/// runs [`fan_out`] on them, reading `probes`.
pub(crate) async fn join_and_fan_out(
    urls: &[&str],
    options: &W2Options,
    probes: &[ServerProbe],
) -> Result<(Setup, FanOut), String> {
    let start = Instant::now();
    let (members, retries) = join_members(
        urls,
        options.rooms,
        options.players,
        options.parser,
        options.progress,
    )
    .await?;
    let setup = Setup {
        secs: start.elapsed().as_secs_f64(),
        retries,
    };
    let run = fan_out(members, options, probes).await?;
    Ok((setup, run))
}

/// Connects `rooms` rooms of `players` through `urls` (see [`setup_rooms`])
/// and lists every member with its room id; fails if any socket cannot join.
/// Also returns how many setup requests were retried (see `join_ack`).
async fn join_members(
    urls: &[&str],
    rooms: usize,
    players: usize,
    parser: Parser,
    progress: bool,
) -> Result<(Vec<(String, Client)>, u64), String> {
    let config = ClientConfig {
        parser,
        ..load_config(Overflow::Wait, 1024)
    };
    let bar = progress_bar(progress, (rooms * players) as u64, "join");
    let retries = AtomicU64::new(0);
    let rooms = setup_rooms(urls, &config, &[], rooms, players, &bar, &retries).await;
    bar.finish_and_clear();
    let mut members = Vec::with_capacity(rooms.len() * players);
    for room in rooms {
        let (room_id, clients) = room?;
        members.extend(clients.into_iter().map(|c| (room_id.clone(), c)));
    }
    Ok((members, retries.into_inner()))
}

/// What one fan-out run measured.
#[derive(Debug)]
pub(crate) struct FanOut {
    /// `room:chat` messages sent.
    pub messages_sent: u64,
    /// `messages_sent * players`.
    pub expected_deliveries: u64,
    /// `room:chat` pushes received.
    pub deliveries: u64,
    /// Send-to-receive latency of every delivery.
    pub latency: Latency,
    /// Each probe's usage over sending and draining, in the order given.
    pub usage: Vec<Option<ServerUsage>>,
    /// Members that received no push at all (e.g. never added to the room's broadcast).
    pub silent_members: u64,
    /// Failed acks, malformed pushes, lost connections.
    pub errors: Errors,
    /// Seconds of sending.
    pub seconds: f64,
}

impl FanOut {
    /// The figures of a W2 run with `options` (the server's usage is the
    /// first probe's), as the socket.io and the floor runs both report them.
    pub fn into_w2_result(self, options: W2Options, setup_secs: f64) -> W2Result {
        let server = self.usage.first().copied().flatten();
        W2Result {
            setup_secs,
            messages_sent: self.messages_sent,
            expected_deliveries: self.expected_deliveries,
            deliveries: self.deliveries,
            delivery_ratio: self.delivery_ratio(),
            deliveries_per_sec: self.deliveries_per_sec(),
            latency: self.latency,
            cpu_secs_per_million_deliveries: self.cpu_secs_per_million(server.map(|s| s.cpu_secs)),
            server,
            errors: self.errors,
            options,
        }
    }

    /// `deliveries / expected_deliveries` (0 when nothing was expected).
    pub fn delivery_ratio(&self) -> f64 {
        if self.expected_deliveries == 0 {
            0.0
        } else {
            self.deliveries as f64 / self.expected_deliveries as f64
        }
    }

    /// Deliveries per second of the sending window.
    pub fn deliveries_per_sec(&self) -> f64 {
        self.deliveries as f64 / self.seconds
    }

    /// `cpu_secs` per million deliveries, when both are known and non-zero.
    pub fn cpu_secs_per_million(&self, cpu_secs: Option<f64>) -> Option<f64> {
        cpu_secs
            .filter(|_| self.deliveries > 0)
            .map(|cpu| cpu / self.deliveries as f64 * 1e6)
    }
}

/// The core of W2 (and of W4's split run): every member, already in its room,
/// sends `room:chat` at `options.rate_hz` for `options.seconds` and records
/// the latency of every push it gets; then waits up to `options.drain_secs`
/// for the last deliveries and leaves. `probes` (hubs, Redis) are
/// read before sending and after draining.
async fn fan_out(
    members: Vec<(String, Client)>,
    options: &W2Options,
    probes: &[ServerProbe],
) -> Result<FanOut, String> {
    let epoch = Instant::now();
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let period = Duration::from_secs_f64(1.0 / options.rate_hz);
    let send_start = Instant::now() + Duration::from_millis(50);
    let send_end = send_start + Duration::from_secs_f64(options.seconds);
    let before: Vec<_> = probes.iter().map(ServerProbe::sample).collect();
    let mut senders = Vec::with_capacity(members.len());
    let mut receivers = Vec::with_capacity(members.len());
    let n = members.len();
    for (i, (room_id, mut client)) in members.into_iter().enumerate() {
        let events = client.take_events();
        receivers.push(tokio::spawn(receive(
            events,
            Deliveries::new(epoch, Arc::clone(&counters)),
            stop_rx.clone(),
        )));
        // Spread the first sends over one period so the load is even.
        let first = send_start + period.mul_f64(i as f64 / n as f64);
        let sender = Sender {
            client: Arc::new(client),
            room_id,
            epoch,
            counters: Arc::clone(&counters),
        };
        senders.push(tokio::spawn(sender.run(first, period, send_end)));
    }

    let bar = progress_bar(
        options.progress,
        (options.seconds * 1000.0) as u64,
        "send ms",
    );
    while Instant::now() < send_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(send_start.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "sent {} delivered {}",
            counters.sent.load(Ordering::Relaxed),
            counters.received.load(Ordering::Relaxed)
        ));
    }
    bar.finish_and_clear();

    let mut errors = Errors::default();
    let mut clients = Vec::with_capacity(senders.len());
    for sender in senders {
        let (client, sender_errors) = sender.await.map_err(|e| format!("sender task: {e}"))?;
        errors.merge(sender_errors);
        clients.push(client);
    }
    let messages_sent = counters.sent.load(Ordering::Relaxed);
    let expected = messages_sent * options.players as u64;
    drain(
        &counters,
        expected,
        Duration::from_secs_f64(options.drain_secs),
    )
    .await;
    let after: Vec<_> = probes.iter().map(ServerProbe::sample).collect();

    let _ = stop_tx.send(true);
    let received = collect(receivers).await?;
    errors.merge(received.errors);
    let clients = clients.into_iter().filter_map(Arc::into_inner).collect();
    disconnect_all(clients).await;

    Ok(FanOut {
        // Nobody can have received anything when nothing was sent.
        silent_members: if messages_sent > 0 {
            received.silent
        } else {
            0
        },
        messages_sent,
        expected_deliveries: expected,
        deliveries: counters.received.load(Ordering::Relaxed),
        latency: Latency::from_micros(&received.histogram),
        usage: probes
            .iter()
            .zip(before.into_iter().zip(after))
            .map(|(probe, (b, a))| probe.usage(b, a))
            .collect(),
        errors,
        seconds: options.seconds,
    })
}

/// Bounds that keep a run finite and on this machine.
pub(crate) fn validate(o: &W2Options) -> Result<(), String> {
    require_loopback(&o.url).map_err(|e| e.to_string())?;
    if o.rooms == 0 || o.players == 0 || o.rooms * o.players > 100_000 {
        return Err("rooms x players must be 1..=100000".to_owned());
    }
    if !(o.rate_hz > 0.0 && o.rate_hz <= 1000.0) {
        return Err("--rate must be in (0, 1000] Hz".to_owned());
    }
    let seconds_ok = o.seconds > 0.0 && o.seconds <= 3600.0;
    if !seconds_ok || !(0.0..=60.0).contains(&o.drain_secs) {
        return Err("--seconds must be in (0, 3600] and the drain in [0, 60]".to_owned());
    }
    Ok(())
}

/// One player's sending side.
struct Sender {
    client: Arc<Client>,
    room_id: String,
    epoch: Instant,
    counters: Arc<Counters>,
}

impl Sender {
    /// Sends one chat per `period` from `first` until `end` (ticks missed by a
    /// slow generator are skipped, not sent late), then waits for every ack.
    async fn run(self, first: Instant, period: Duration, end: Instant) -> (Arc<Client>, Errors) {
        let mut errors = Errors::default();
        let mut tick = tokio::time::interval_at(first, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut acks = FuturesUnordered::new();
        let mut sending = true;
        loop {
            tokio::select! {
                at = tick.tick(), if sending => {
                    if at >= end {
                        sending = false;
                        continue;
                    }
                    let chat = RoomChat {
                        room_id: self.room_id.clone(),
                        text: stamp(self.epoch),
                    };
                    let client = &*self.client;
                    acks.push(async move {
                        client.emit_with_ack::<_, Ack<Empty>>(event_names::ROOM_CHAT, &chat).await
                    });
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Some(ack) = acks.next() => match ack {
                    Ok(Ack::Ok(Empty {})) => {}
                    Ok(Ack::Err(e)) => errors.add(format!("room:chat: {e}")),
                    Err(e) => errors.add(format!("room:chat: {e}")),
                },
                else => break,
            }
        }
        drop(acks);
        (self.client, errors)
    }
}

/// One player's receiving side: records the latency of every `room:chat`
/// push until `stop` turns true.
async fn receive(
    mut events: mpsc::Receiver<Event>,
    mut deliveries: Deliveries,
    mut stop: watch::Receiver<bool>,
) -> (Histogram<u64>, Errors) {
    let mut errors = Errors::default();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some((name, data)) if name == event_names::ROOM_CHAT => {
                    let text = data.get("text").and_then(|t| t.as_str());
                    if !text.is_some_and(|t| deliveries.record(t)) {
                        errors.add(format!("room:chat push without a send time: {data}"));
                    }
                }
                Some(_) => {}
                None => {
                    errors.add("a receiving socket was disconnected");
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    (deliveries.into_histogram(), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> W2Options {
        W2Options {
            url: "http://127.0.0.1:3000".to_owned(),
            rooms: 2,
            players: 10,
            rate_hz: 2.0,
            seconds: 2.0,
            drain_secs: 2.0,
            server_pid: None,
            parser: Parser::Json,
            progress: false,
        }
    }

    #[test]
    fn bounds() {
        assert!(validate(&options()).is_ok());
        let bad = [
            W2Options {
                url: "http://192.168.1.1:3000".to_owned(),
                ..options()
            },
            W2Options {
                rooms: 0,
                ..options()
            },
            W2Options {
                rate_hz: 0.0,
                ..options()
            },
            W2Options {
                seconds: f64::NAN,
                ..options()
            },
            W2Options {
                players: 100_001,
                rooms: 1,
                ..options()
            },
        ];
        for o in bad {
            assert!(validate(&o).is_err(), "{o:?}");
        }
    }
}
