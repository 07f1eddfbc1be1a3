//! Whole games over the real server with a Rust socket.io client: win, draw,
//! spectators, chat, leaderboard, seat return and sync.

mod common;

use common::{Player, start_server, start_server_with};
use protocol::events::{RoomList, Synced};
use protocol::http::LeaderboardResponse;
use protocol::{Ack, Empty, ErrorCode, RoomStatus};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn two_guests_play_to_a_win_and_the_leaderboard_counts_it() {
    let server = start_server().await;
    let mut alice = Player::join(&server.url, "alice").await;
    let mut bob = Player::join(&server.url, "bob").await;

    let created = alice.create().await;
    assert_eq!(
        (created.seat, created.seq, created.room.status),
        (Some(0), 1, RoomStatus::Waiting)
    );
    let room = created.room.id.clone();

    let joined: protocol::events::Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(
        (joined.seat, joined.seq),
        (Some(1), 3),
        "player_joined then game_started"
    );
    assert_eq!(joined.room.status, RoomStatus::Playing);
    assert_eq!(joined.state["turn"], 0);

    // Alice sees bob arrive and the game start, in order.
    let evs = alice.events_until("game_started").await;
    assert_eq!(evs.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(evs[0].event["player"]["name"], "bob");

    // X at 0, 1, 2 wins; O at 3, 4.
    for (who, cell) in [(0, 0), (1, 3), (0, 1), (1, 4)] {
        let p = if who == 0 { &alice } else { &bob };
        assert!(matches!(p.place(&room, cell).await, Ack::Ok(_)));
    }
    let last = alice
        .place(&room, 2)
        .await
        .into_result()
        .expect("winning move");
    assert_eq!(last["seq"], 9, "the ack names the seq of game_over");

    let bob_saw = bob.events_until("game_over").await;
    let seqs: Vec<u64> = bob_saw.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (4..=9).collect::<Vec<_>>(),
        "every event once, in order, no gap"
    );
    assert_eq!(
        bob_saw.last().unwrap().event,
        json!({"type": "game_over", "winner": 0, "reason": "line"})
    );

    assert_eq!(
        bob.place(&room, 8).await.into_result().unwrap_err().code,
        ErrorCode::GameOver
    );

    // The result reaches the leaderboard (written just after the game ends).
    let mut board = LeaderboardResponse { entries: vec![] };
    for _ in 0..50 {
        board = loadtest::http::get(&server.url, "/api/v1/leaderboard?game=tictactoe")
            .await
            .unwrap()
            .ok_json()
            .unwrap();
        if board.entries.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(board.entries.len(), 2);
    assert_eq!(
        (board.entries[0].player.name.as_str(), board.entries[0].wins),
        ("alice", 1)
    );
    assert_eq!(
        (
            board.entries[1].player.name.as_str(),
            board.entries[1].losses
        ),
        ("bob", 1)
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn spectators_see_every_move_but_cannot_act() {
    let server = start_server().await;
    let mut alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let mut carol = Player::join(&server.url, "carol").await;
    let room = alice.create().await.room.id;
    let _: protocol::events::Joined = bob.ok("room:join", &json!({"roomId": room})).await;

    let watching: protocol::events::Joined = carol
        .ok("room:join", &json!({"roomId": room, "role": "spectator"}))
        .await;
    assert_eq!(watching.seat, None);
    assert_eq!(watching.room.spectators, 1);
    assert_eq!(
        carol.place(&room, 4).await.into_result().unwrap_err().code,
        ErrorCode::NotInRoom
    );

    alice.place(&room, 4).await.into_result().unwrap();
    let ev = carol.next_room_event().await;
    assert_eq!(
        (ev.seq, ev.event["type"].as_str(), ev.event["cell"].as_u64()),
        (watching.seq + 1, Some("placed"), Some(4))
    );

    // Chat reaches everyone, spectator included, with the sender's name.
    let _: Empty = carol
        .ok("room:chat", &json!({"roomId": room, "text": "nice"}))
        .await;
    let line = alice
        .client
        .wait_for_event("room:chat", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (line["from"]["name"].as_str(), line["text"].as_str()),
        (Some("carol"), Some("nice"))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reconnecting_player_gets_the_same_seat_and_syncs_what_they_missed() {
    let server = start_server().await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: protocol::events::Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    alice.place(&room, 0).await.into_result().unwrap();
    let (me, token) = (bob.me.clone(), bob.token.clone());
    bob.client.disconnect().await;

    // Play goes on: the disconnect is announced; alice cannot move twice.
    assert_eq!(
        alice.place(&room, 1).await.into_result().unwrap_err().code,
        ErrorCode::NotYourTurn
    );

    let bob = Player::reconnect(&server.url, &me, &token).await;
    let back: protocol::events::Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(back.seat, Some(1), "the same seat, not a new one");
    assert_eq!(back.state["board"][0], 0);
    assert_eq!(back.room.players.len(), 2);

    // A second tab with the same token shares the seat.
    let tab = Player::reconnect(&server.url, &me, &token).await;
    let tab_join: protocol::events::Joined = tab.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(tab_join.seat, Some(1));

    let synced: Synced = bob
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 3}))
        .await;
    let Synced::Events { events } = synced else {
        panic!("expected events")
    };
    let kinds: Vec<(u64, String)> = events
        .iter()
        .map(|e| (e.seq, e.event["type"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (4, "placed".into()),
            (5, "player_disconnected".into()),
            (6, "player_reconnected".into())
        ],
        "exactly the events after seq 3, in order"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_player_who_does_not_return_within_the_grace_period_forfeits() {
    let server = start_server_with(|c| c.reconnect_grace_secs = 1).await;
    let mut alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: protocol::events::Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    bob.client.disconnect().await;
    let evs = alice.events_until("game_over").await;
    let kinds: Vec<&str> = evs
        .iter()
        .map(|e| e.event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "player_joined",
            "game_started",
            "player_disconnected",
            "game_over"
        ]
    );
    assert_eq!(
        evs.last().unwrap().event,
        json!({"type": "game_over", "winner": 0, "reason": "forfeit"})
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn lobby_lists_rooms_by_game_over_socket_and_http() {
    let server = start_server().await;
    let alice = Player::join(&server.url, "alice").await;
    let room = alice.create().await.room.id;
    let listed: RoomList = alice.ok("lobby:list", &json!({"game": "tictactoe"})).await;
    assert_eq!(
        listed
            .rooms
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        vec![room.as_str()]
    );
    let none: RoomList = alice.ok("lobby:list", &json!({"game": "chess"})).await;
    assert!(none.rooms.is_empty());
    let http: Value = loadtest::http::get(&server.url, "/api/v1/rooms")
        .await
        .unwrap()
        .ok_json()
        .unwrap();
    assert_eq!(http["rooms"][0]["id"], room.as_str());
    assert_eq!(http["rooms"][0]["players"][0]["connected"], true);
    server.shutdown().await.unwrap();
}
