//! The store against real database files: round trips, recovery, pruning, faults.

use super::*;
use crate::game::SeatResult;
use rusqlite::{Connection, params};
use serde_json::json;
use std::path::Path;

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gamehub-store-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn results_accumulate_into_the_leaderboard() {
    let dir = tempdir();
    let store = Store::open(&StoreOptions::new(&dir.join("t.db"))).unwrap();
    let a = PlayerRef {
        id: "a".into(),
        name: "alice".into(),
    };
    let b = PlayerRef {
        id: "b".into(),
        name: "bob".into(),
    };
    let game = || "tictactoe".to_string();
    store
        .write(vec![WriteOp::Result {
            game: game(),
            seats: vec![(a.clone(), SeatResult::Win), (b.clone(), SeatResult::Loss)],
        }])
        .await
        .unwrap();
    store
        .write(vec![WriteOp::Result {
            game: game(),
            seats: vec![(a.clone(), SeatResult::Draw), (b.clone(), SeatResult::Draw)],
        }])
        .await
        .unwrap();
    let top = store.leaderboard(game(), 10).await.unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(
        (top[0].player.name.as_str(), top[0].wins, top[0].draws),
        ("alice", 1, 1)
    );
    assert_eq!(
        (top[1].player.name.as_str(), top[1].losses, top[1].draws),
        ("bob", 1, 1)
    );
    assert!(top[0].rating > START_RATING && top[1].rating < START_RATING);
    assert!(
        store
            .leaderboard("chess".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_setting_is_kept_once() {
    let dir = tempdir();
    let path = dir.join("t.db");
    let first = Store::open(&StoreOptions::new(&path))
        .unwrap()
        .setting_or_insert("k", "one".into())
        .await
        .unwrap();
    let second = Store::open(&StoreOptions::new(&path))
        .unwrap()
        .setting_or_insert("k", "two".into())
        .await
        .unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("one", "one"));
}

fn entry(seq: u64) -> Vec<u8> {
    encode(&JournalEntry {
        input: Input::Notice,
        events: vec![StoredEvent {
            seq,
            public: json!({"type": "x", "n": seq}),
            overrides: vec![],
        }],
    })
}

#[tokio::test]
async fn rooms_reload_from_snapshot_and_journal() {
    let dir = tempdir();
    let path = dir.join("t.db");
    let store = Store::open(&StoreOptions::new(&path)).unwrap();
    let room = || "r1".to_string();
    store
        .write(vec![WriteOp::CreateRoom {
            id: room(),
            game: "tictactoe".into(),
            node: "n".into(),
            created_at: 5,
        }])
        .await
        .unwrap();
    for j in 1..=5 {
        store
            .write(vec![WriteOp::Journal {
                room: room(),
                jseq: j,
                entry: entry(j),
            }])
            .await
            .unwrap();
    }
    let snap = RoomSnapshot {
        jseq: 3,
        seq: 3,
        seats: vec![None, None],
        game: vec![1, 2],
    };
    store
        .write(vec![WriteOp::Snapshot {
            room: room(),
            jseq: 3,
            state: encode(&snap),
        }])
        .await
        .unwrap();
    // A duplicate jseq is refused alone; the other write in its batch commits.
    let dup = store.write(vec![WriteOp::Journal {
        room: room(),
        jseq: 5,
        entry: entry(5),
    }]);
    let next = store.write(vec![WriteOp::Journal {
        room: room(),
        jseq: 6,
        entry: entry(6),
    }]);
    let (dup, next) = tokio::join!(dup, next);
    assert!(dup.is_err());
    next.unwrap();
    drop(store);

    let store = Store::open(&StoreOptions::new(&path)).unwrap();
    let rooms = store.load_rooms("n".into(), 2).await.unwrap();
    assert_eq!(rooms.len(), 1);
    let r = &rooms[0];
    assert_eq!(r.snapshot.as_ref(), Some(&snap));
    assert_eq!(
        r.journal.iter().map(|(j, _)| *j).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert_eq!(
        r.earlier_events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(
        store
            .load_rooms("other".into(), 2)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .write(vec![WriteOp::RoomStatus {
            room: room(),
            status: "finished",
        }])
        .await
        .unwrap();
    assert!(
        store.load_rooms("n".into(), 2).await.unwrap().is_empty(),
        "finished rooms stay finished"
    );
}

#[tokio::test]
async fn a_full_database_refuses_writes_and_reports_not_ready() {
    let dir = tempdir();
    let mut options = StoreOptions::new(&dir.join("t.db"));
    options.max_size_mb = 1;
    let store = Store::open(&options).unwrap();
    store.check_ready().await.unwrap();
    store
        .write(vec![WriteOp::CreateRoom {
            id: "r".into(),
            game: "g".into(),
            node: "n".into(),
            created_at: 0,
        }])
        .await
        .unwrap();
    let chunk = |seq| {
        encode(&JournalEntry {
            input: Input::Notice,
            events: vec![StoredEvent {
                seq,
                public: json!("x".repeat(64 * 1024)),
                overrides: vec![],
            }],
        })
    };
    let mut stored_ok = 0;
    let mut refused = None;
    for jseq in 1..=64 {
        match store
            .write(vec![WriteOp::Journal {
                room: "r".into(),
                jseq,
                entry: chunk(jseq),
            }])
            .await
        {
            Ok(()) => stored_ok += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        refused.is_some(),
        "a 1 MiB database cannot take 64 records of 64 KiB"
    );
    assert!(
        store.check_ready().await.is_err(),
        "not ready while the database cannot grow"
    );
    let rooms = store.load_rooms("n".into(), 10).await.unwrap();
    let stored: Vec<u64> = rooms[0].journal.iter().map(|(j, _)| *j).collect();
    assert_eq!(
        stored,
        (1..=stored_ok).collect::<Vec<_>>(),
        "nothing of the failed write is stored"
    );
}

fn create(room: &str) -> WriteOp {
    WriteOp::CreateRoom {
        id: room.into(),
        game: "tictactoe".into(),
        node: "n".into(),
        created_at: 1,
    }
}

fn journal(room: &str, jseq: u64) -> WriteOp {
    WriteOp::Journal {
        room: room.into(),
        jseq,
        entry: entry(jseq),
    }
}

fn snapshot(room: &str, jseq: u64) -> WriteOp {
    let snap = RoomSnapshot {
        jseq,
        seq: jseq,
        seats: vec![None, None],
        game: vec![],
    };
    WriteOp::Snapshot {
        room: room.into(),
        jseq,
        state: encode(&snap),
    }
}

fn status(room: &str, status: &'static str) -> WriteOp {
    WriteOp::RoomStatus {
        room: room.into(),
        status,
    }
}

/// One number from the database at `path`, through a connection of its own.
fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// A loaded room's journal jseqs (to replay) and its earlier events' seqs (for `room:sync`).
type Positions = (Vec<u64>, Vec<u64>);

fn jseqs(room: &StoredRoom) -> Positions {
    (
        room.journal.iter().map(|(j, _)| *j).collect(),
        room.earlier_events.iter().map(|e| e.seq).collect(),
    )
}

#[tokio::test]
async fn pruning_keeps_what_rooms_need_and_bounds_the_journal() {
    let dir = tempdir();
    let path = dir.join("t.db");
    let mut options = StoreOptions::new(&path);
    options.journal_keep = 3;
    options.journal_part_rows = 8;
    let store = Store::open(&options).unwrap();
    // Waiting with no snapshot: it needs both entries, however old they get.
    store
        .write(vec![create("idle"), journal("idle", 1), journal("idle", 2)])
        .await
        .unwrap();
    // Finished at 10 with its final snapshot, then one notice while it
    // lingers: a finished room snapshots with each entry, as rooms do.
    let mut done = vec![create("done")];
    done.extend((1..=10).map(|j| journal("done", j)));
    done.extend([snapshot("done", 10), status("done", "finished")]);
    store.write(done).await.unwrap();
    store
        .write(vec![journal("done", 11), snapshot("done", 11)])
        .await
        .unwrap();
    // Closed before it ended: it needs nothing.
    let mut gone = vec![create("gone")];
    gone.extend((1..=5).map(|j| journal("gone", j)));
    gone.push(status("gone", "closed"));
    store.write(gone).await.unwrap();
    // A long game, snapshotted every 10 entries, one write per move.
    store.write(vec![create("busy")]).await.unwrap();
    for j in 1..=1000 {
        let mut ops = vec![journal("busy", j)];
        if j % 10 == 0 {
            ops.push(snapshot("busy", j));
        }
        store.write(ops).await.unwrap();
    }

    let rows = count(&path, "SELECT count(*) FROM room_journal");
    assert!(rows <= 64, "{rows} journal rows left of 1018 written");
    let busy = store.load_room("busy".into(), 3).await.unwrap().unwrap();
    assert_eq!(busy.snapshot.as_ref().map(|s| s.jseq), Some(1000));
    assert_eq!(jseqs(&busy), (vec![], vec![998, 999, 1000]));
    let idle = store.load_room("idle".into(), 3).await.unwrap().unwrap();
    assert_eq!(jseqs(&idle), (vec![1, 2], vec![]));
    let done = store.load_room("done".into(), 3).await.unwrap().unwrap();
    assert_eq!(done.snapshot.as_ref().map(|s| s.jseq), Some(11));
    assert!(done.journal.is_empty());
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM room_journal WHERE room_id IN ('gone', 'done')"
        ),
        0,
        "rooms that are over keep nothing"
    );
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM room_journal_heads WHERE room_id IN ('gone', 'done')"
        ),
        0,
        "rooms that are over leave no head behind"
    );
    drop(store);

    let store = Store::open(&options).unwrap();
    let rooms = store.load_rooms("n".into(), 3).await.unwrap();
    let found: Vec<(&str, Positions)> = rooms.iter().map(|r| (r.id.as_str(), jseqs(r))).collect();
    assert_eq!(
        found,
        vec![
            ("busy", (vec![], vec![998, 999, 1000])),
            ("idle", (vec![1, 2], vec![]))
        ]
    );
    assert!(
        store.write(vec![journal("busy", 1000)]).await.is_err(),
        "a pruned room still refuses an entry it has"
    );
    store.write(vec![journal("busy", 1001)]).await.unwrap();
    store.write(vec![journal("idle", 3)]).await.unwrap();
}

#[tokio::test]
async fn a_version_2_database_upgrades_with_every_journal_entry() {
    let dir = tempdir();
    let path = dir.join("t.db");
    let mut conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    migrations::migrations().to_version(&mut conn, 2).unwrap();
    let rooms = ["b-room", "a-room", "c-room"];
    for room in rooms {
        conn.execute(
            "INSERT INTO rooms (id, game, node_id, created_at, status) VALUES (?1, 'tictactoe', 'n', 1, 'playing')",
            [room],
        )
        .unwrap();
    }
    // Enough rows for several parts, written interleaved as live rooms do.
    let per_room = 3000;
    let tx = conn.transaction().unwrap();
    for j in 1..=per_room {
        for room in rooms {
            tx.execute(
                "INSERT INTO room_journal (room_id, jseq, entry) VALUES (?1, ?2, ?3)",
                params![room, j, entry(j)],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);

    let store = Store::open(&StoreOptions::new(&path)).unwrap();
    assert_eq!(
        count(&path, "PRAGMA user_version"),
        i64::from(latest_version())
    );
    assert_eq!(
        count(&path, "SELECT count(*) FROM room_journal"),
        3 * per_room as i64
    );
    assert!(count(&path, "SELECT count(DISTINCT part) FROM room_journal") > 1);
    let loaded = store.load_rooms("n".into(), 10).await.unwrap();
    assert_eq!(loaded.len(), 3);
    for room in &loaded {
        assert_eq!(
            jseqs(room).0,
            (1..=per_room).collect::<Vec<_>>(),
            "{}",
            room.id
        );
        let (jseq, entry) = &room.journal[41];
        assert_eq!(entry.events[0].seq, *jseq, "entries keep their content");
    }
    assert!(
        store
            .write(vec![journal("a-room", per_room)])
            .await
            .is_err()
    );
    store
        .write(vec![journal("a-room", per_room + 1)])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_checkpointer_copies_commits_into_the_database_file() {
    let dir = tempdir();
    let path = dir.join("t.db");
    let store = Store::open(&StoreOptions::new(&path)).unwrap();
    let file_size = || std::fs::metadata(&path).unwrap().len();
    let before = file_size();
    store.write(vec![create("r")]).await.unwrap();
    // About 4 MiB of entries: they go to the WAL, since the writer never checkpoints.
    let big = |jseq| WriteOp::Journal {
        room: "r".into(),
        jseq,
        entry: vec![7; 64 * 1024],
    };
    for jseq in 1..=64 {
        store.write(vec![big(jseq)]).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while file_size() < before + 4 * 1024 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint copied the WAL into the database file ({} bytes)",
            file_size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
