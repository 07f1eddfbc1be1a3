//! Promise 5 in-process: two hubs sharing one Redis play as one. Needs Redis
//! at REDIS_URL (default redis://127.0.0.1:6379; `scripts/setup` starts one
//! when none answers); each test uses a key prefix of its own.

mod common;

use common::{Player, start_server_with};
use futures_util::future::join_all;
use protocol::events::{Joined, RoomList, Synced};
use protocol::{ErrorCode, RoomStatus};
use serde_json::json;
use std::time::Duration;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn pair(tag: &str) -> (common::TestServer, common::TestServer) {
    pair_with(tag, |_| {}).await
}

/// Two instances of one cluster, with `tweak` applied to both configs.
async fn pair_with(
    tag: &str,
    tweak: impl Fn(&mut gamehub::Config),
) -> (common::TestServer, common::TestServer) {
    let prefix = format!("gamehub-test-{tag}-{}", std::process::id());
    let start = |node: &'static str| {
        let prefix = prefix.clone();
        let tweak = &tweak;
        start_server_with(move |c| {
            c.node_id = node.into();
            c.redis_url = Some(redis_url());
            c.redis_prefix = prefix;
            c.directory_ttl_secs = 2;
            c.forward_timeout_ms = 1500;
            tweak(c);
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

/// Joins `room` as a spectator as a client would: `unavailable` means "retry
/// shortly", so up to 5 tries. Whether the join was acknowledged `ok`.
async fn watch(player: &Player, room: &str) -> bool {
    for _ in 0..5 {
        match player
            .ask::<_, Joined>("room:join", &json!({"roomId": room, "role": "spectator"}))
            .await
        {
            protocol::Ack::Ok(_) => return true,
            protocol::Ack::Err(e) if e.code == ErrorCode::Unavailable => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            protocol::Ack::Err(e) => panic!("room:join failed: {e}"),
        }
    }
    false
}

/// Says `text` in `room`, whatever the answer (a busy cluster may refuse some).
async fn say(player: &Player, room: &str, text: &str) {
    let _ = player
        .ask::<_, serde_json::Value>("room:chat", &json!({"roomId": room, "text": text}))
        .await;
}

/// Whether a `room:chat` saying `text` reaches `player` within 20 s.
async fn hears(player: &mut Player, text: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match player.client.wait_for_event("room:chat", left).await {
            Ok(line) if line["text"] == text => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// W4's finding: under a burst of joins forwarded to the rooms' owner while
/// broadcasts cross Redis, a cluster message dropped by a subscriber that fell
/// behind left joins acknowledged `ok` whose socket never got a single
/// broadcast. Every acknowledged join must deliver.
#[tokio::test]
async fn a_burst_of_remote_joins_delivers_to_every_acknowledged_member() {
    const ROOMS: usize = 40;
    const WATCHERS: usize = 10; // per room, every one connected to the other instance
    let (a, b) = pair_with("burst", |c| {
        c.rate_limit_per_sec = 1000;
        c.rate_limit_burst = 1000;
    })
    .await;
    let mut owners = Vec::new();
    for i in 0..ROOMS {
        owners.push(Player::join(&a.url, &format!("owner-{i}")).await);
    }
    let rooms: Vec<String> = join_all(owners.iter().map(|o| o.create()))
        .await
        .into_iter()
        .map(|j| j.room.id)
        .collect();
    let mut watchers = Vec::new();
    for i in 0..ROOMS * WATCHERS {
        watchers.push(Player::join(&b.url, &format!("watcher-{i}")).await);
    }
    // The other instance knows every room before the burst (its directory).
    for _ in 0..50 {
        let listed: RoomList = watchers[0].ok("lobby:list", &json!({})).await;
        if listed.rooms.len() == ROOMS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every watcher joins at once, while every room chatters until they are done.
    let joining = std::sync::atomic::AtomicBool::new(true);
    let noise = join_all(owners.iter().zip(&rooms).map(|(owner, room)| {
        let joining = &joining;
        async move {
            while joining.load(std::sync::atomic::Ordering::Relaxed) {
                say(owner, room, "noise").await;
            }
        }
    }));
    let joins = async {
        let joined = join_all(
            watchers
                .iter()
                .enumerate()
                .map(|(i, w)| watch(w, &rooms[i % ROOMS])),
        )
        .await;
        joining.store(false, std::sync::atomic::Ordering::Relaxed);
        joined
    };
    let (joined, _) = tokio::join!(joins, noise);
    assert!(
        joined.iter().all(|ok| *ok),
        "{} of {} joins still unavailable after 5 tries",
        joined.iter().filter(|ok| !**ok).count(),
        joined.len()
    );

    // One more line per room; every acknowledged member hears it.
    for (owner, room) in owners.iter().zip(&rooms) {
        say(owner, room, "ping").await;
    }
    let got = join_all(watchers.iter_mut().map(|w| hears(w, "ping"))).await;
    let deaf: Vec<usize> = (0..got.len()).filter(|i| !got[*i]).collect();
    assert!(
        deaf.is_empty(),
        "{} of {} acknowledged members never heard their room (watchers {deaf:?})",
        deaf.len(),
        got.len()
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A socket that disconnects while its join is forwarded to the room's owner
/// must not hold the seat as if connected: the owner cannot confirm its
/// membership (the socket is gone), or the joining instance tells it the
/// socket went, and the room announces the disconnect either way.
#[tokio::test]
async fn a_socket_gone_while_its_remote_join_is_on_the_way_is_not_left_seated() {
    let (a, b) = pair("gone").await;
    let mut alice = Player::join(&a.url, "alice").await;
    let bob = Player::join(&b.url, "bob").await;
    let room = alice.create().await.room.id;
    bob.client
        .emit("room:join", &json!({"roomId": room}))
        .await
        .unwrap();
    bob.client.disconnect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(event) = alice.client.wait_for_event("room:event", left).await else {
            panic!("bob's seat was never announced disconnected; alice saw {seen:?}");
        };
        if event["event"]["type"] == "player_disconnected" {
            assert_eq!(event["event"]["seat"], 1);
            break;
        }
        seen.push(event["event"].clone());
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
