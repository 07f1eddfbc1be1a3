//! Promise 5 in-process: two hubs sharing one Redis play as one. Needs Redis
//! at REDIS_URL (default redis://127.0.0.1:6379; `scripts/setup` starts one
//! when none answers); each test uses a key prefix of its own.

mod common;

use common::{Player, start_server_with};
use protocol::events::{Joined, RoomList, Synced};
use protocol::{ErrorCode, RoomStatus};
use serde_json::json;
use std::time::Duration;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn pair(tag: &str) -> (common::TestServer, common::TestServer) {
    let prefix = format!("gamehub-test-{tag}-{}", std::process::id());
    let start = |node: &'static str| {
        let prefix = prefix.clone();
        start_server_with(move |c| {
            c.node_id = node.into();
            c.redis_url = Some(redis_url());
            c.redis_prefix = prefix;
            c.directory_ttl_secs = 2;
            c.forward_timeout_ms = 1500;
        })
    };
    (start("node-a").await, start("node-b").await)
}

#[tokio::test]
async fn players_on_two_instances_play_in_one_room() {
    let (a, b) = pair("play").await;
    let alice = Player::join(&a.url, "alice").await;
    let mut bob = Player::join(&b.url, "bob").await;
    let mut carol = Player::join(&b.url, "carol").await;
    let created = alice.create().await;
    let room = created.room.id.clone();
    assert_eq!(created.room.node.as_deref(), Some("node-a"));

    // The lobby of the other instance lists the room with its owner (after a heartbeat).
    let mut listed = RoomList { rooms: vec![] };
    for _ in 0..40 {
        listed = bob.ok("lobby:list", &json!({})).await;
        if !listed.rooms.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        listed
            .rooms
            .iter()
            .map(|r| (r.id.as_str(), r.node.as_deref()))
            .collect::<Vec<_>>(),
        vec![(room.as_str(), Some("node-a"))]
    );

    let joined: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(
        (joined.seat, joined.room.status),
        (Some(1), RoomStatus::Playing)
    );
    let watching: Joined = carol
        .ok("room:join", &json!({"roomId": room, "role": "spectator"}))
        .await;
    assert_eq!(watching.seq, 3);

    // X wins on the top row; every move crosses instances both ways.
    for (p, cell) in [(&alice, 0), (&bob, 4), (&alice, 1), (&bob, 8), (&alice, 2)] {
        p.place(&room, cell).await.into_result().unwrap();
    }
    assert_eq!(
        bob.place(&room, 5).await.into_result().unwrap_err().code,
        ErrorCode::GameOver
    );
    let seen = carol.events_until("game_over").await;
    assert_eq!(
        seen.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (4..=9).collect::<Vec<_>>(),
        "once each, in order"
    );
    let mine = bob.events_until("game_over").await;
    assert_eq!(
        mine.last().unwrap().event,
        json!({"type": "game_over", "winner": 0, "reason": "line"})
    );

    let synced: Synced = bob
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;
    let Synced::Events { events } = synced else {
        panic!("events")
    };
    assert_eq!(events.len(), 9);
    let _: protocol::Empty = carol
        .ok("room:chat", &json!({"roomId": room, "text": "gg"}))
        .await;
    let mut alice = alice;
    let line = alice
        .client
        .wait_for_event("room:chat", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(line["from"]["name"], "carol");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_room_whose_owner_is_gone_answers_unavailable() {
    let (a, b) = pair("owner").await;
    let alice = Player::join(&a.url, "alice").await;
    let bob = Player::join(&b.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    a.shutdown().await.unwrap();
    let code = bob.place(&room, 4).await.into_result().unwrap_err().code;
    assert_eq!(code, ErrorCode::Unavailable);
    b.shutdown().await.unwrap();
}
