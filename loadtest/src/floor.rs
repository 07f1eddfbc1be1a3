//! The floor: a bare tokio-tungstenite broadcast server, to show what the layers above raw WebSocket cost.
//!
//! No Engine.IO or socket.io framing, no acks, no auth, no validation, no
//! persistence: a client connects to `ws://HOST:PORT/?room=NAME`, and every
//! text message it sends goes to every socket in that room, itself included.
//! W2 against it (`loadtest w2 --floor`) sends the same 32-digit timestamps
//! as against a socket.io server, so its figures are the ceiling that the hub
//! and the peers are measured against.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Messages queued for one socket; beyond that a broadcast skips it.
const OUTBOX: usize = 1024;

/// One socket's outbox, with an id to find it again when it leaves.
type Member = (u64, mpsc::Sender<Message>);

/// Room name to its members. A broadcast clones the `Arc` under the lock and
/// sends after releasing it; joins and leaves replace the list.
type Rooms = Arc<Mutex<HashMap<String, Arc<Vec<Member>>>>>;

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    let rooms = Rooms::default();
    for id in 0.. {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(connection(tcp, id, Arc::clone(&rooms)));
    }
    Ok(())
}

// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
async fn connection(tcp: TcpStream, id: u64, rooms: Rooms) {
    let mut room = String::new();
    let read_room = |request: &Request, response: Response| {
        room = request
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("room=")))
            .unwrap_or_default()
            .to_owned();
        Ok(response)
    };
    // tungstenite zero-fills its read buffer before every read: its default
    // (128 KiB) would cost more than everything else here together.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(tcp, read_room, Some(config));
    let Ok(ws) = accepted.await else {
        return;
    };
    let mut ws = ws;
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOX);
    update(&rooms, &room, |members| members.push((id, tx)));

    // One task owns the socket: it reads, broadcasts, and writes what is
    // queued for it (everything queued, then one flush: one write for a burst).
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(message)) if message.is_text() => {
                    let members = lock(&rooms).get(&room).cloned().unwrap_or_default();
                    for (_, member) in members.iter() {
                        // A full outbox (a member not reading) loses the message,
                        // which W2 then reports as undelivered: the floor's overload.
                        let _ = member.try_send(message.clone());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(message) = rx.recv() => {
                let mut result = ws.feed(message).await;
                while let (Ok(()), Ok(more)) = (&result, rx.try_recv()) {
                    result = ws.feed(more).await;
                }
                if result.is_err() || ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    update(&rooms, &room, |members| members.retain(|(m, _)| *m != id));
}

/// Replaces `room`'s member list by a changed copy (dropping the room when empty).
fn update(rooms: &Rooms, room: &str, change: impl FnOnce(&mut Vec<Member>)) {
    let mut rooms = lock(rooms);
    let mut members = rooms.get(room).map(|m| m.to_vec()).unwrap_or_default();
    change(&mut members);
    if members.is_empty() {
        rooms.remove(room);
    } else {
        rooms.insert(room.to_owned(), Arc::new(members));
    }
}

fn lock(rooms: &Rooms) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<Member>>>> {
    // The map is left consistent at every step, so a panic elsewhere cannot poison its meaning.
    rooms.lock().unwrap_or_else(PoisonError::into_inner)
}
