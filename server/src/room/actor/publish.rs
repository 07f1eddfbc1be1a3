//! Sending committed events out: one serialization for everyone, plus one per
//! audience that sees its own version, and keeping them for `room:sync`.

use super::RoomActor;
use crate::game::GameEvent;
use crate::room::fanout::Outgoing;
use protocol::event_names;
use protocol::events::RoomEventRef;
use serde_json::Value;
use tracing::warn;

impl RoomActor {
    /// Broadcasts committed events, in order, and keeps them in the sync log.
    pub(super) async fn publish(&mut self, events: Vec<(u64, GameEvent)>) {
        for (seq, event) in events {
            if let Err(e) = self.broadcast_one(seq, &event).await {
                warn!(room = %self.id, seq, cause = %e, "event broadcast failed");
            }
            self.remember(seq, event);
        }
    }

    /// Keeps `event` for `room:sync`, dropping the oldest beyond `EVENT_LOG_LEN`.
    pub(super) fn remember(&mut self, seq: u64, event: GameEvent) {
        self.log.push_back((seq, event));
        while self.log.len() > self.env.event_log_len {
            self.log.pop_front();
        }
    }

    async fn broadcast_one(&self, seq: u64, event: &GameEvent) -> Result<(), String> {
        let all = self.channels.all.clone();
        if event.overrides.is_empty() {
            return self.emit_event(all, Vec::new(), seq, &event.public).await;
        }
        let special: Vec<String> = event
            .overrides
            .iter()
            .map(|(a, _)| self.channels.audience(*a))
            .collect();
        let mut result = self.emit_event(all, special, seq, &event.public).await;
        for (audience, version) in &event.overrides {
            result = result.and(
                self.emit_event(self.channels.audience(*audience), Vec::new(), seq, version)
                    .await,
            );
        }
        result
    }

    async fn emit_event(
        &self,
        to: String,
        except: Vec<String>,
        seq: u64,
        event: &Value,
    ) -> Result<(), String> {
        let payload = RoomEventRef {
            room_id: &self.id,
            seq,
            event,
        };
        self.env
            .fanout
            .emit(
                to,
                except,
                event_names::ROOM_EVENT,
                Outgoing::Event(&payload),
            )
            .await
    }
}
