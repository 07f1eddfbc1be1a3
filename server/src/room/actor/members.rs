//! Who is in a room: joining as a player or spectator, taking or getting
//! back a seat, leaving, sockets going away, and moving member sockets in and
//! out of the room's broadcast channels.

use super::RoomActor;
use crate::error::HubError;
use crate::game::Audience;
use crate::room::Member;
use crate::store::Input;
use protocol::events::{Joined, LifecycleEvent};
use protocol::{PlayerRef, Role, RoomStatus};
use socketioxide::socket::Sid;
use tokio::time::Instant;
use tracing::warn;

impl RoomActor {
    pub(super) async fn join(&mut self, member: Member, role: Role) -> Result<Joined, HubError> {
        let (sid, node) = (member.sid, member.node.clone());
        let audience = match role {
            Role::Spectator => {
                if let Some(seat) = self.seat_of_socket(sid) {
                    return Err(HubError::BadRequest(format!(
                        "you hold seat {seat} in room `{}`; leave it before watching as a spectator",
                        self.id
                    )));
                }
                if !self.spectators.iter().any(|m| m.sid == sid) {
                    self.spectators.push(member);
                }
                Audience::Spectator
            }
            Role::Player => {
                // A spectator taking a seat leaves the broadcast rooms first, so
                // that it too gets exactly the events after its join's `seq`.
                let was_spectator = self.spectators.iter().position(|m| m.sid == sid);
                if let Some(pos) = was_spectator {
                    self.spectators.swap_remove(pos);
                    self.move_out(sid, &node, Audience::Spectator).await;
                }
                match self.take_seat(&member).await {
                    Ok(seat) => Audience::Seat(seat),
                    Err(e) => {
                        if was_spectator.is_some() {
                            self.spectators.push(member);
                            // Logged if it fails; the caller gets the seat's error.
                            let _ = self.move_in(sid, &node, Audience::Spectator).await;
                        }
                        return Err(e);
                    }
                }
            }
        };
        // Join the broadcast rooms only now: the joiner gets exactly the events after `seq`.
        if let Err(e) = self.move_in(sid, &node, audience).await {
            // Not `ok` without the broadcasts: the socket counts as gone (a
            // seat keeps its player for the grace period), and a retry
            // gets the seat back.
            self.move_out(sid, &node, audience).await;
            self.socket_gone(sid).await;
            return Err(e);
        }
        let seat = match audience {
            Audience::Seat(s) => Some(s),
            Audience::Spectator => None,
        };
        Ok(Joined {
            room: self.room_info(),
            seat,
            seq: self.seq,
            state: self.game.view(audience),
        })
    }

    /// Puts socket `sid` (connected to instance `node`) into the room's
    /// broadcast channels for `audience`; `unavailable` when that is not known
    /// to be done (another instance that did not confirm it).
    pub(super) async fn move_in(
        &self,
        sid: Sid,
        node: &str,
        audience: Audience,
    ) -> Result<(), HubError> {
        let channels = vec![self.channels.all.clone(), self.channels.audience(audience)];
        self.env.fanout.join(sid, node, channels).await.map_err(|e| {
            warn!(room = %self.id, %sid, cause = %e, "could not add a socket to the room's channels");
            HubError::Unavailable(format!(
                "server {node}, where this socket is connected, could not confirm it now receives room `{}`'s broadcasts; retry shortly",
                self.id
            ))
        })
    }

    /// Takes socket `sid` (connected to instance `node`) out of the room's broadcast channels for `audience`.
    pub(super) async fn move_out(&self, sid: Sid, node: &str, audience: Audience) {
        let channels = vec![self.channels.all.clone(), self.channels.audience(audience)];
        if let Err(e) = self.env.fanout.leave(sid, node, channels).await {
            warn!(room = %self.id, %sid, cause = %e, "could not take a socket out of the room's channels");
        }
    }

    /// The player's own seat back, or a free seat while the game waits for players.
    pub(super) async fn take_seat(&mut self, member: &Member) -> Result<u8, HubError> {
        if let Some(seat) = self.seat_of_player(&member.player.id) {
            let was_away = self.seats[usize::from(seat)]
                .as_ref()
                .is_some_and(|s| s.sockets.is_empty());
            // Once the game is over, coming and going is no longer news. The
            // return is recorded first: if that fails, the socket is not seated.
            if was_away && self.game.status() != RoomStatus::Finished {
                self.notice(LifecycleEvent::PlayerReconnected { seat })
                    .await?;
            }
            if let Some(s) = self.seats[usize::from(seat)].as_mut() {
                if !s.sockets.iter().any(|m| m.sid == member.sid) {
                    s.sockets.push(member.clone());
                }
                s.deadline = None;
            }
            return Ok(seat);
        }
        match self.game.status() {
            RoomStatus::Finished => return Err(HubError::GameOver),
            RoomStatus::Playing => return Err(HubError::RoomFull(self.id.to_string())),
            RoomStatus::Waiting => {}
        }
        let free = self
            .seats
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| HubError::RoomFull(self.id.to_string()))?;
        let seat = free as u8;
        self.change(Input::Seat {
            seat,
            player: PlayerRef::clone(&member.player),
        })
        .await?;
        if let Some(s) = self.seats[free].as_mut() {
            s.player = member.player.clone();
            s.sockets.push(member.clone());
        }
        Ok(seat)
    }

    pub(super) async fn leave(&mut self, sid: Sid) -> Result<(), HubError> {
        if let Some(pos) = self.spectators.iter().position(|m| m.sid == sid) {
            let spectator = self.spectators.swap_remove(pos);
            self.move_out(sid, &spectator.node, Audience::Spectator)
                .await;
            return Ok(());
        }
        let seat = self.seat_of_socket(sid).ok_or_else(|| self.not_in_room())?;
        self.give_up_seat(seat).await?;
        // Leaving gives up the seat for every tab of the player, wherever they are.
        let seat_channel = self.channels.audience(Audience::Seat(seat));
        let channels = vec![self.channels.all.clone(), seat_channel.clone()];
        if let Err(e) = self.env.fanout.leave_all(seat_channel, channels).await {
            warn!(room = %self.id, seat, cause = %e, "could not take the seat's sockets out of the room's channels");
        }
        if let Some(s) = self.seats[usize::from(seat)].as_mut() {
            s.sockets.clear();
            s.deadline = None;
        }
        Ok(())
    }

    pub(super) async fn socket_gone(&mut self, sid: Sid) {
        self.spectators.retain(|m| m.sid != sid);
        let Some(seat) = self.seat_of_socket(sid) else {
            return;
        };
        let grace = self.env.grace;
        let finished = self.game.status() == RoomStatus::Finished;
        let Some(s) = self.seats[usize::from(seat)].as_mut() else {
            return;
        };
        s.sockets.retain(|m| m.sid != sid);
        if s.sockets.is_empty() && !finished {
            s.deadline = Some(Instant::now() + grace);
            if let Err(e) = self
                .notice(LifecycleEvent::PlayerDisconnected { seat })
                .await
            {
                warn!(room = %self.id, seat, cause = %e, "could not record a disconnect");
            }
        }
    }
}
