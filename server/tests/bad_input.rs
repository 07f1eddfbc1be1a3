//! Promise 3: a bad payload costs its sender an error ack and nothing more.

mod common;

use common::{Player, refused, start_server, start_server_with};
use protocol::ErrorCode;
use protocol::events::{Joined, Synced};
use serde_json::{Value, json};

/// Every error the contract lets a single node produce from outside, case by case.
#[tokio::test]
async fn every_bad_input_gets_its_code_and_changes_nothing() {
    let server = start_server_with(|c| c.max_payload_bytes = 1024).await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let carol = Player::join(&server.url, "carol").await;
    let room = alice.create().await.room.id;
    let room = room.as_str();

    // Before the game starts a move is illegal.
    assert_eq!(
        alice.place(room, 0).await.into_result().unwrap_err().code,
        ErrorCode::InvalidAction
    );
    let _: Joined = bob.ok("room:join", &json!({"roomId": room})).await;
    alice.place(room, 4).await.into_result().unwrap();
    let before: Synced = alice
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;

    let action = |a: Value| json!({"roomId": room, "action": a});
    let cases: Vec<(&str, &str, Value, ErrorCode)> = vec![
        (
            "unknown field",
            "room:join",
            json!({"roomId": room, "x": 1}),
            ErrorCode::BadRequest,
        ),
        (
            "wrong type",
            "room:join",
            json!({"roomId": 5}),
            ErrorCode::BadRequest,
        ),
        (
            "missing field",
            "room:action",
            json!({"roomId": room}),
            ErrorCode::BadRequest,
        ),
        (
            "not an object",
            "room:create",
            json!("tictactoe"),
            ErrorCode::BadRequest,
        ),
        (
            "unknown game",
            "room:create",
            json!({"game": "chess"}),
            ErrorCode::BadRequest,
        ),
        (
            "unknown action",
            "room:action",
            action(json!({"type": "jump"})),
            ErrorCode::BadRequest,
        ),
        (
            "action without type",
            "room:action",
            action(json!({"cell": 1})),
            ErrorCode::BadRequest,
        ),
        (
            "cell of wrong type",
            "room:action",
            action(json!({"type": "place", "cell": "a"})),
            ErrorCode::BadRequest,
        ),
        (
            "cell 9",
            "room:action",
            action(json!({"type": "place", "cell": 9})),
            ErrorCode::InvalidAction,
        ),
        (
            "occupied cell",
            "room:action",
            action(json!({"type": "place", "cell": 4})),
            ErrorCode::InvalidAction,
        ),
        (
            "unknown room",
            "room:join",
            json!({"roomId": "nope"}),
            ErrorCode::RoomNotFound,
        ),
        (
            "act in unknown room",
            "room:action",
            json!({"roomId": "nope", "action": {"type": "place", "cell": 1}}),
            ErrorCode::RoomNotFound,
        ),
        (
            "empty chat",
            "room:chat",
            json!({"roomId": room, "text": ""}),
            ErrorCode::BadRequest,
        ),
        (
            "chat over 500",
            "room:chat",
            json!({"roomId": room, "text": "x".repeat(501)}),
            ErrorCode::BadRequest,
        ),
        (
            "payload over limit",
            "room:chat",
            json!({"roomId": room, "text": "x".repeat(2000)}),
            ErrorCode::PayloadTooLarge,
        ),
        (
            "negative seq",
            "room:sync",
            json!({"roomId": room, "sinceSeq": -1}),
            ErrorCode::BadRequest,
        ),
    ];
    // Bob is seated and it is his turn, so only the payload is wrong.
    for (what, event, payload, code) in cases {
        assert_eq!(bob.err(event, &payload).await, code, "{what}");
    }
    assert_eq!(
        alice.place(room, 0).await.into_result().unwrap_err().code,
        ErrorCode::NotYourTurn
    );
    // Acting, chatting, syncing and leaving in a room one has not joined.
    let not_in = [
        ("room:action", action(json!({"type": "place", "cell": 1}))),
        ("room:chat", json!({"roomId": room, "text": "hi"})),
        ("room:sync", json!({"roomId": room, "sinceSeq": 0})),
        ("room:leave", json!({"roomId": room})),
    ];
    for (event, payload) in not_in {
        assert_eq!(
            carol.err(event, &payload).await,
            ErrorCode::NotInRoom,
            "{event} by an outsider"
        );
    }
    assert_eq!(
        carol.err("room:join", &json!({"roomId": room})).await,
        ErrorCode::RoomFull
    );

    // Nothing changed, nobody was disconnected, and play goes on.
    let after: Synced = alice
        .ok("room:sync", &json!({"roomId": room, "sinceSeq": 0}))
        .await;
    assert_eq!(before, after);
    assert!(
        alice.client.is_connected() && bob.client.is_connected() && carol.client.is_connected()
    );
    bob.place(room, 0)
        .await
        .into_result()
        .expect("play continues");

    // An event without an ack callback is handled silently; the socket keeps working.
    alice
        .client
        .emit("room:action", &json!({"roomId": room, "bogus": true}))
        .await
        .unwrap();
    alice.client.emit_args("room:join", &[]).await.unwrap();
    alice
        .place(room, 1)
        .await
        .into_result()
        .expect("still works");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flood_over_the_rate_limit_is_refused_for_that_socket_only() {
    let server = start_server_with(|c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let alice = Player::join(&server.url, "alice").await;
    let bob = Player::join(&server.url, "bob").await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(
            match alice.ask::<_, Value>("lobby:list", &json!({})).await {
                protocol::Ack::Ok(_) => None,
                protocol::Ack::Err(e) => Some(e.code),
            },
        );
    }
    assert_eq!(&codes[..3], &[None, None, None], "the burst passes");
    assert!(
        codes[3..]
            .iter()
            .all(|c| *c == Some(ErrorCode::RateLimited)),
        "{codes:?}"
    );
    let _: Value = bob.ok("lobby:list", &json!({})).await;
    assert!(alice.client.is_connected());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_room_limit_answers_capacity() {
    let server = start_server_with(|c| c.max_rooms = 1).await;
    let alice = Player::join(&server.url, "alice").await;
    alice.create().await;
    assert_eq!(
        alice
            .err("room:create", &json!({"game": "tictactoe"}))
            .await,
        ErrorCode::Capacity
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connecting_without_a_valid_token_is_unauthorized() {
    let server = start_server().await;
    assert!(refused(&server.url, None).await, "no auth");
    assert!(
        refused(&server.url, Some(json!({"token": "forged"}))).await,
        "garbage token"
    );
    assert!(
        refused(&server.url, Some(json!({"token": 42}))).await,
        "wrong type"
    );
    // A token signed by another server's secret.
    let other =
        start_server_with(|c| c.secret_key = Some("another-secret-another-secret-another".into()))
            .await;
    let (foreign, _) = loadtest::http::guest_token(&other.url, "eve")
        .await
        .unwrap();
    assert!(
        refused(&server.url, Some(json!({"token": foreign}))).await,
        "foreign token"
    );
    server.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
}

#[tokio::test]
async fn guest_names_are_checked() {
    let server = start_server().await;
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(25)}),
        json!({"name": "a\u{1}b"}),
        json!({"nme": "a"}),
    ] {
        let r = loadtest::http::post_json(&server.url, "/api/v1/auth/guest", &bad)
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{bad}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (_, me) = loadtest::http::guest_token(&server.url, "  ann  ")
        .await
        .unwrap();
    assert_eq!(me.name, "ann");
    server.shutdown().await.unwrap();
}
