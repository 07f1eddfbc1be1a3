//! Promise 1 and 2 across a restart: acknowledged moves are kept, seats are
//! held, and `room:sync` replays what a player missed, in order, no gap.

mod common;

use common::{Player, start_server_with};
use protocol::events::{Joined, Synced};
use protocol::{ErrorCode, RoomStatus};
use serde_json::json;

#[tokio::test]
async fn a_game_resumes_after_a_restart_with_the_same_seats_and_history() {
    // Snapshot every 3 events, so recovery uses a snapshot and a journal tail.
    let server = start_server_with(|c| c.snapshot_every = 3).await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    for (p, cell) in [(&alice, 0), (&bob, 4), (&alice, 8)] {
        p.place(&room, cell).await.into_result().unwrap();
    }
    let before: Synced = alice
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;
    let Synced::Events { events: history } = before else {
        panic!("events")
    };
    let (a, b) = (
        (alice.me.clone(), alice.token.clone()),
        (bob.me.clone(), bob.token.clone()),
    );
    drop((alice, bob));

    let server = server.restart().await;
    let alice = Player::reconnect(&server.url, &a.0, &a.1).await;
    let mut bob = Player::reconnect(&server.url, &b.0, &b.1).await;

    let lobby: serde_json::Value = loadtest::http::get(&server.url, "/api/v1/rooms")
        .await
        .unwrap()
        .ok_json()
        .unwrap();
    assert_eq!(
        lobby["rooms"][0]["id"],
        room.as_str(),
        "the room is listed again"
    );
    assert_eq!(
        lobby["rooms"][0]["players"][0]["connected"], false,
        "seats held for their players"
    );

    let back: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(back.seat, Some(1));
    assert_eq!(back.room.status, RoomStatus::Playing);
    assert_eq!(
        back.state["board"],
        json!([0, null, null, null, 1, null, null, null, 0])
    );
    assert_eq!(back.state["turn"], 1);

    // The history before the restart is still served, then the disconnects
    // the players' departure caused, then bob's return: no gap, no duplicate.
    let after: Synced = bob
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;
    let Synced::Events { events } = after else {
        panic!("events")
    };
    assert_eq!(
        &events[..history.len()],
        &history[..],
        "same events, same seqs"
    );
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    let (last, between) = events[history.len()..].split_last().unwrap();
    assert_eq!(last.event, json!({"type": "player_reconnected", "seat": 1}));
    assert!(
        between
            .iter()
            .all(|e| e.event["type"] == "player_disconnected"),
        "{between:?}"
    );

    // Play continues where it stopped; the seat that is not to move is still refused.
    let _: Joined = alice.ok("room:join", &json!({"roomId": room})).await;
    assert_eq!(
        alice.place(&room, 1).await.into_result().unwrap_err().code,
        ErrorCode::NotYourTurn
    );
    bob.place(&room, 2).await.into_result().unwrap();
    let ev = bob.events_until("placed").await;
    assert_eq!(ev.last().unwrap().event["cell"], 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_finished_game_is_not_reopened_and_keeps_its_result() {
    let server = start_server_with(|_| {}).await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let room = alice.create().await.room.id;
    let _: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    for (p, cell) in [(&alice, 0), (&bob, 3), (&alice, 1), (&bob, 4), (&alice, 2)] {
        p.place(&room, cell).await.into_result().unwrap();
    }
    drop((alice, bob));
    let server = server.restart().await;
    let rooms: serde_json::Value = loadtest::http::get(&server.url, "/api/v1/rooms")
        .await
        .unwrap()
        .ok_json()
        .unwrap();
    assert_eq!(rooms["rooms"], json!([]));
    let board: serde_json::Value =
        loadtest::http::get(&server.url, "/api/v1/leaderboard?game=tictactoe")
            .await
            .unwrap()
            .ok_json()
            .unwrap();
    assert_eq!(board["entries"][0]["player"]["name"], "alice");
    assert_eq!(board["entries"][0]["wins"], 1);
    server.shutdown().await.unwrap();
}
