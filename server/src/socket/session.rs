//! Per-socket session: who the socket is, its rate limit, and the rooms it joined.

use crate::auth::Player;
use crate::room::RoomId;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The session of one socket, kept in the socket's extensions.
pub struct Session {
    /// The verified player behind the socket.
    pub player: Player,
    /// Largest event payload this socket may send, in bytes.
    pub max_payload: usize,
    limiter: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    /// Rooms this socket joined, so a disconnect can tell each of them.
    rooms: Mutex<Vec<RoomId>>,
}

/// Shared session pointer (socket extensions hand out clones).
pub type SessionRef = Arc<Session>;

impl Session {
    /// A session allowing `per_sec` events per second with bursts of `burst`.
    pub fn new(player: Player, max_payload: usize, per_sec: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            player,
            max_payload,
            limiter: RateLimiter::direct_with_clock(quota, TokioClock::default()),
            rooms: Mutex::new(Vec::new()),
        }
    }

    /// Takes one event from the budget; false when the socket is over its limit.
    pub fn allow(&self) -> bool {
        self.limiter.check().is_ok()
    }

    /// Remembers that the socket joined `room`.
    pub fn joined(&self, room: RoomId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if !rooms.contains(&room) {
            rooms.push(room);
        }
    }

    /// Forgets `room`.
    pub fn left(&self, room: &str) {
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| &**r != room);
    }

    /// Every room the socket is in, emptying the list.
    pub fn take_rooms(&self) -> Vec<RoomId> {
        std::mem::take(&mut *self.rooms.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A governor clock on tokio's time, so tests can pause and advance it.
#[derive(Debug, Clone)]
pub struct TokioClock {
    epoch: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            epoch: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().duration_since(self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::PlayerRef;

    #[tokio::test(start_paused = true)]
    async fn rate_limit_refills_with_time() {
        let player = Arc::new(PlayerRef {
            id: "p".into(),
            name: "p".into(),
        });
        let s = Session::new(player, 1024, 2, 3);
        assert!(s.allow() && s.allow() && s.allow(), "the burst passes");
        assert!(!s.allow(), "over the burst is refused");
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(!s.allow(), "not yet refilled");
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(s.allow(), "one event refilled after 1/rate seconds");
        assert!(!s.allow());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(s.allow() && s.allow() && s.allow());
        assert!(!s.allow(), "the bucket never exceeds the burst");
    }
}
