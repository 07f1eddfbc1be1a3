//! After a mode: the database read back the way recovery reads it at start,
//! checked against every room's last acknowledged move.

use super::rooms::{NODE, RoomOutcome};
use crate::report::Errors;
use gamehub::store::Store;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// What the read-back found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Readback {
    /// Rooms recovery found.
    pub rooms: usize,
    /// Acknowledged moves that recovery rebuilds (each room's snapshot plus
    /// the journal after it reaches its last acknowledged move).
    pub actions: u64,
    /// Seconds `Store::load_rooms` took (what a restart would wait for).
    pub load_secs: f64,
}

/// Loads every room as recovery does (`keep` entries before each snapshot)
/// and checks, per room, that the snapshot and the journal after it lead
/// without a gap to its last acknowledged move, and that each entry holds
/// the event of its move. Each mismatch is an error.
pub(super) async fn read_back(
    store: &Store,
    rooms: &[RoomOutcome],
    keep: u64,
    errors: &mut Errors,
) -> Readback {
    let started = Instant::now();
    let loaded = match store.load_rooms(NODE.to_owned(), keep as usize).await {
        Ok(loaded) => loaded,
        Err(e) => {
            errors.add(format!("reading the rooms back: {e}"));
            return Readback::default();
        }
    };
    let load_secs = started.elapsed().as_secs_f64();
    let mut readback = Readback {
        rooms: loaded.len(),
        actions: 0,
        load_secs,
    };
    let acked: HashMap<&str, u64> = rooms.iter().map(|r| (r.id.as_str(), r.last_jseq)).collect();
    if loaded.len() != rooms.len() {
        errors.add(format!(
            "recovery found {} rooms of the {} written",
            loaded.len(),
            rooms.len()
        ));
    }
    for room in loaded {
        let Some(&last) = acked.get(room.id.as_str()) else {
            errors.add(format!(
                "recovery found room {} that was not written",
                room.id
            ));
            continue;
        };
        let from = room.snapshot.as_ref().map_or(0, |s| s.jseq);
        let jseqs: Vec<u64> = room.journal.iter().map(|(j, _)| *j).collect();
        let events_match = room
            .journal
            .iter()
            .all(|(j, e)| e.events.len() == 1 && e.events[0].seq == *j);
        if jseqs != (from + 1..=last).collect::<Vec<_>>() || !events_match {
            errors.add(format!(
                "room {}: acknowledged up to move {last}, but recovery rebuilds snapshot {from} \
                 and journal {:?}..{:?} ({} entries)",
                room.id,
                jseqs.first(),
                jseqs.last(),
                jseqs.len()
            ));
            continue;
        }
        readback.actions += last;
    }
    readback
}
