//! The benchmark workloads (see `shared/bench/workloads.md`) and the room setup they share.
//!
//! Each workload is a library function taking its options and returning a
//! result struct, so the `loadtest` binary and the smoke test run the same code.
//! W3 and W5 share the tic-tac-toe bots of [`tictactoe`]; W4 reuses W2's core.

mod deliveries;
mod tictactoe;
pub mod w1;
pub mod w2;
pub mod w2_floor;
pub mod w3;
pub mod w4;
pub mod w5;
pub mod w6;

pub use tictactoe::AckedMove;
pub use w1::{W1Options, W1Result, w1};
pub use w2::{W2Options, W2Result, w2};
pub use w2_floor::w2_floor;
pub use w3::{W3Options, W3Result, w3};
pub use w4::{SplitRun, W4Options, W4Result, w4};
pub use w5::{W5Options, W5Result, w5};
pub use w6::{W6Options, W6Result, w6};

use crate::client::{Client, ClientConfig, ClientError, Overflow, split_base_url};
use crate::http::guest_token_from;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use indicatif::{ProgressBar, ProgressStyle};
use protocol::events::{Joined, RoomCreate, RoomJoin};
use protocol::{Ack, ErrorCode, Role, event_names};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Rooms set up at the same time (each connects its members one after another).
const SETUP_ROOMS_IN_FLIGHT: usize = 64;

/// A client config for many sockets: small buffers, generous timeouts.
pub(crate) fn load_config(overflow: Overflow, event_capacity: usize) -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(20),
        ack_timeout: Duration::from_secs(20),
        event_capacity,
        overflow,
        outgoing_capacity: 16,
        read_buffer_size: 4 * 1024,
        ..ClientConfig::default()
    }
}

/// One authenticated, connected socket: guest token from the HTTP API, then CONNECT.
/// A refused or reset TCP connection (a server's full accept queue during a
/// burst of connects) is retried after a short backoff, as a browser would;
/// anything else fails at once.
async fn connect_guest(url: &str, config: &ClientConfig, name: &str) -> Result<Client, String> {
    let mut attempt = 1;
    loop {
        let result = async {
            let (token, _player) = guest_token_from(url, name, config.source_ip)
                .await
                .map_err(|e| (transient(&e), format!("guest token for {name}: {e}")))?;
            Client::connect_with(config, url, Some(json!({ "token": token })))
                .await
                .map_err(|e| (transient(&e), format!("connect {name}: {e}")))
        }
        .await;
        match result {
            Err((true, _)) if attempt < SETUP_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
            other => return other.map_err(|(_, message)| message),
        }
    }
}

/// Whether a connect failed for a reason that a moment's wait can cure.
fn transient(error: &ClientError) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, ConnectionReset};
    matches!(error, ClientError::Io(e) if matches!(e.kind(), ConnectionRefused | ConnectionReset))
}

/// Attempts of a setup request answered `unavailable` before giving up.
const SETUP_ATTEMPTS: u32 = 5;

/// Sends `event` with `payload` and expects an ok `Joined` ack; returns the room id.
/// An `unavailable` answer (in a cluster: the room's owner did not answer
/// in time, "retry shortly") is retried a few times, as a client would;
/// each retry is counted in `retries`.
async fn join_ack<T: serde::Serialize>(
    client: &Client,
    event: &str,
    payload: &T,
    retries: &AtomicU64,
) -> Result<String, String> {
    let mut attempt = 1;
    loop {
        match client.emit_with_ack::<_, Ack<Joined>>(event, payload).await {
            Ok(Ack::Ok(joined)) => return Ok(joined.room.id),
            Ok(Ack::Err(e)) if e.code == ErrorCode::Unavailable && attempt < SETUP_ATTEMPTS => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250) * attempt).await;
                attempt += 1;
            }
            Ok(Ack::Err(e)) => return Err(format!("{event}: {e}")),
            Err(e) => return Err(format!("{event}: {e}")),
        }
    }
}

/// The server that member `i` of a room of `size` goes through: the members
/// are split into `urls.len()` equal runs, in order (the creator, member 0,
/// always through the first).
fn url_of_member<'a>(urls: &[&'a str], i: usize, size: usize) -> &'a str {
    urls[i * urls.len() / size.max(1)]
}

/// A lobby room of `size` sockets: the first creates a `tictactoe` room (and
/// takes seat 0), the rest join it as spectators, all at once. Member `i`
/// connects through [`url_of_member`] of `urls` (one URL for W1 and W2, two
/// for W4). Each socket joined ticks `progress`. Returns the room id and the
/// sockets, creator first; if any socket fails, the ones set up are dropped
/// and the error returned. Retried requests are counted in `retries`.
pub(crate) async fn setup_room(
    urls: &[&str],
    config: &ClientConfig,
    tag: &str,
    size: usize,
    progress: &ProgressBar,
    retries: &AtomicU64,
) -> Result<(String, Vec<Client>), String> {
    let creator = connect_guest(urls[0], config, &format!("{tag}-0")).await?;
    let create = RoomCreate {
        game: "tictactoe".to_owned(),
        options: None,
    };
    let room_id = join_ack(&creator, event_names::ROOM_CREATE, &create, retries).await?;
    progress.inc(1);
    let join = RoomJoin {
        room_id: room_id.clone(),
        role: Role::Spectator,
    };
    let mut joining: FuturesUnordered<_> = (1..size)
        .map(|i| {
            let name = format!("{tag}-{i}");
            let join = &join;
            let url = url_of_member(urls, i, size);
            async move {
                let client = connect_guest(url, config, &name).await?;
                join_ack(&client, event_names::ROOM_JOIN, join, retries).await?;
                progress.inc(1);
                Ok::<_, String>(client)
            }
        })
        .collect();
    let mut members = vec![creator];
    while let Some(member) = joining.next().await {
        members.push(member?);
    }
    Ok((room_id, members))
}

/// Sets up `rooms` lobby rooms of `size` sockets through `urls` (see
/// [`setup_room`]), [`SETUP_ROOMS_IN_FLIGHT`] at a time; one result per room,
/// in no particular order. With `sources`, room `r` connects from
/// `sources[r % len]` (see [`source_ips`]).
pub(crate) async fn setup_rooms(
    urls: &[&str],
    config: &ClientConfig,
    sources: &[IpAddr],
    rooms: usize,
    size: usize,
    progress: &ProgressBar,
    retries: &AtomicU64,
) -> Vec<Result<(String, Vec<Client>), String>> {
    // Guest names are 1..24 characters: a per-run prefix keeps them apart across runs.
    let run = std::process::id() % 10_000;
    futures_util::stream::iter(0..rooms)
        .map(|r| {
            let tag = format!("lt{run}r{r}");
            let config = ClientConfig {
                source_ip: sources.get(r % sources.len().max(1)).copied(),
                ..config.clone()
            };
            async move { setup_room(urls, &config, &tag, size, progress, retries).await }
        })
        .buffer_unordered(SETUP_ROOMS_IN_FLIGHT)
        .collect()
        .await
}

/// Source addresses for `sockets` sockets to `url`: none (the kernel picks)
/// up to [`SOCKETS_PER_SOURCE`], else enough of 127.0.0.1, 127.0.0.2, ... to
/// stay under it per address. Each socket also makes one HTTP request (its
/// guest token) from the same address, and the server keeps those closed
/// connections in TIME_WAIT, so the budget per address counts both.
pub(crate) fn source_ips(url: &str, sockets: usize) -> Result<Vec<IpAddr>, String> {
    let needed = (sockets * 2).div_ceil(SOCKETS_PER_SOURCE);
    if needed <= 1 {
        return Ok(Vec::new());
    }
    let (addr, _) = split_base_url(url).map_err(|e| e.to_string())?;
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let v4 = host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok();
    if !v4 || needed > 254 {
        return Err(format!(
            "{sockets} sockets need {needed} source addresses of 127.0.0.x: \
             use an IPv4 loopback URL (http://127.0.0.1:PORT) and at most {} sockets",
            254 * SOCKETS_PER_SOURCE / 2
        ));
    }
    Ok((1..=needed as u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect())
}

/// Connections per source address: below the ~28k ports of Linux's default
/// ephemeral range (32768-60999), with room for other programs.
pub const SOCKETS_PER_SOURCE: usize = 25_000;

/// Leaves cleanly with every client, many at a time.
pub(crate) async fn disconnect_all(clients: Vec<Client>) {
    futures_util::stream::iter(clients)
        .for_each_concurrent(256, |client| client.disconnect())
        .await;
}

/// A progress bar of `len` steps, or a hidden one when `show` is false.
pub(crate) fn progress_bar(show: bool, len: u64, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!(
        "{what:>8} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {{msg}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
