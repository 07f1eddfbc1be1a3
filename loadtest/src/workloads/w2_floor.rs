//! W2 against the floor ([`crate::floor`]): the same rooms, rate and 32-digit timestamps over bare WebSocket.
//!
//! No guest tokens, no socket.io, no acks: each player opens
//! `ws://HOST:PORT/?room=rN` and sends its timestamps as text messages; every
//! text message it receives is a delivery. Figures are reported in
//! [`W2Result`], so they line up with a socket.io run of the same options.

use super::deliveries::{Counters, Deliveries, collect, drain, stamp};
use super::w2::{FanOut, validate};
use super::{W2Options, W2Result, progress_bar};
use crate::client::{connect_tcp, split_base_url};
use crate::report::{Errors, Latency, ServerProbe};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = WebSocketStream<TcpStream>;

/// Sockets connected at the same time during setup.
const CONNECTS_IN_FLIGHT: usize = 64;

/// Runs W2 against a floor server at `options.url`.
pub async fn w2_floor(options: W2Options) -> Result<W2Result, String> {
    validate(&options)?;
    let probe = ServerProbe::new(options.server_pid).map_err(|e| format!("server pid: {e}"))?;
    let (addr, authority) = split_base_url(&options.url).map_err(|e| e.to_string())?;
    let epoch = Instant::now();
    let total = options.rooms * options.players;
    let bar = progress_bar(options.progress, total as u64, "connect");
    let sockets: Vec<Result<Ws, String>> = futures_util::stream::iter(0..total)
        .map(|i| {
            let url = format!("ws://{authority}/?room=r{}", i / options.players);
            let (addr, bar) = (&addr, &bar);
            async move {
                let tcp = connect_tcp(addr, None).await.map_err(|e| e.to_string())?;
                let (ws, _) = tokio_tungstenite::client_async(url, tcp)
                    .await
                    .map_err(|e| format!("floor connect: {e}"))?;
                bar.inc(1);
                Ok(ws)
            }
        })
        .buffer_unordered(CONNECTS_IN_FLIGHT)
        .collect()
        .await;
    bar.finish_and_clear();
    let sockets = sockets.into_iter().collect::<Result<Vec<_>, _>>()?;
    let setup_secs = epoch.elapsed().as_secs_f64();

    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let period = Duration::from_secs_f64(1.0 / options.rate_hz);
    let send_start = Instant::now() + Duration::from_millis(50);
    let send_end = send_start + Duration::from_secs_f64(options.seconds);
    let before = probe.sample();
    let mut senders = Vec::with_capacity(total);
    let mut receivers = Vec::with_capacity(total);
    for (i, ws) in sockets.into_iter().enumerate() {
        let (sink, stream) = ws.split();
        receivers.push(tokio::spawn(receive(
            stream,
            Deliveries::new(epoch, Arc::clone(&counters)),
            stop_rx.clone(),
        )));
        let first = send_start + period.mul_f64(i as f64 / total as f64);
        senders.push(tokio::spawn(send(
            sink,
            epoch,
            Arc::clone(&counters),
            first,
            period,
            send_end,
        )));
    }
    tokio::time::sleep_until(send_end).await;

    let mut errors = Errors::default();
    for sender in senders {
        errors.merge(sender.await.map_err(|e| format!("sender task: {e}"))?);
    }
    let messages_sent = counters.sent.load(Ordering::Relaxed);
    let expected = messages_sent * options.players as u64;
    drain(
        &counters,
        expected,
        Duration::from_secs_f64(options.drain_secs),
    )
    .await;
    let after = probe.sample();
    let _ = stop_tx.send(true);
    let received = collect(receivers).await?;
    errors.merge(received.errors);

    let run = FanOut {
        messages_sent,
        expected_deliveries: expected,
        deliveries: counters.received.load(Ordering::Relaxed),
        latency: Latency::from_micros(&received.histogram),
        usage: vec![probe.usage(before, after)],
        silent_members: if messages_sent > 0 {
            received.silent
        } else {
            0
        },
        errors,
        seconds: options.seconds,
    };
    Ok(run.into_w2_result(options, setup_secs))
}

/// Sends one timestamp per `period` from `first` until `end`, skipping ticks a slow generator missed.
async fn send(
    mut sink: SplitSink<Ws, Message>,
    epoch: Instant,
    counters: Arc<Counters>,
    first: Instant,
    period: Duration,
    end: Instant,
) -> Errors {
    let mut errors = Errors::default();
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while tick.tick().await < end {
        if let Err(e) = sink.send(Message::text(stamp(epoch))).await {
            errors.add(format!("floor send: {e}"));
            break;
        }
        counters.sent.fetch_add(1, Ordering::Relaxed);
    }
    errors
}

/// Records the latency of every text message until `stop` turns true.
async fn receive(
    mut stream: SplitStream<Ws>,
    mut deliveries: Deliveries,
    mut stop: watch::Receiver<bool>,
) -> (Histogram<u64>, Errors) {
    let mut errors = Errors::default();
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if !deliveries.record(text.as_str()) {
                        errors.add(format!("floor message without a send time: {text}"));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    errors.add(format!("floor socket: {e}"));
                    break;
                }
                None => {
                    errors.add("a floor socket was closed");
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    (deliveries.into_histogram(), errors)
}
