//! The client's msgpack parser against the real hub started with `SOCKETIO_PARSER=msgpack`.

mod hub;

use hub::Hub;
use loadtest::client::{Client, ClientConfig, ClientError, Parser};
use loadtest::http::guest_token;
use protocol::events::{Joined, RoomChat, RoomCreate};
use protocol::{Ack, Empty, ErrorCode, event_names};
use serde_json::{Value, json};
use std::time::Duration;

fn msgpack() -> ClientConfig {
    ClientConfig {
        parser: Parser::Msgpack,
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn a_room_and_a_chat_over_msgpack() {
    let hub = Hub::start(&[("SOCKETIO_PARSER", "msgpack")]);
    let (token, player) = guest_token(&hub.url, "packer").await.unwrap();
    let mut client = Client::connect_with(&msgpack(), &hub.url, Some(json!({ "token": token })))
        .await
        .expect("connects with msgpack");

    let create = RoomCreate {
        game: "tictactoe".to_owned(),
        options: None,
    };
    let joined = match client
        .emit_with_ack::<_, Ack<Joined>>(event_names::ROOM_CREATE, &create)
        .await
        .unwrap()
    {
        Ack::Ok(joined) => joined,
        Ack::Err(e) => panic!("room:create refused: {e}"),
    };
    assert_eq!(joined.seat, Some(0));
    assert_eq!(joined.room.game, "tictactoe");

    let chat = RoomChat {
        room_id: joined.room.id.clone(),
        text: "hello in msgpack".to_owned(),
    };
    let ack: Ack<Empty> = client
        .emit_with_ack(event_names::ROOM_CHAT, &chat)
        .await
        .unwrap();
    assert!(matches!(ack, Ack::Ok(_)), "{ack:?}");
    let push = client
        .wait_for_event(event_names::ROOM_CHAT, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(push["text"], "hello in msgpack");
    assert_eq!(push["roomId"], Value::String(joined.room.id.clone()));
    assert_eq!(push["from"]["id"], Value::String(player.id.clone()));

    // Bad input gets the contract's error ack over msgpack too.
    let bad = client
        .emit_args_with_ack(
            event_names::ROOM_CHAT,
            vec![json!({"roomId": joined.room.id, "text": ""})],
        )
        .await
        .unwrap();
    let bad: Ack<Empty> = serde_json::from_value(bad).unwrap();
    match bad {
        Ack::Err(e) => assert_eq!(e.code, ErrorCode::BadRequest),
        Ack::Ok(_) => panic!("an empty chat text was accepted"),
    }
    client.disconnect().await;
}

#[tokio::test]
async fn a_forged_token_is_refused_over_msgpack() {
    let hub = Hub::start(&[("SOCKETIO_PARSER", "msgpack")]);
    let err = Client::connect_with(&msgpack(), &hub.url, Some(json!({ "token": "forged" })))
        .await
        .unwrap_err();
    match err {
        ClientError::ConnectRefused { message } => assert_eq!(message, "unauthorized"),
        other => panic!("expected a refused connect, got {other:?}"),
    }
}

#[tokio::test]
async fn a_json_client_gets_nowhere_with_a_msgpack_hub() {
    // The parsers must match: a JSON CONNECT is not understood, so the connect fails or times out.
    let hub = Hub::start(&[("SOCKETIO_PARSER", "msgpack")]);
    let (token, _) = guest_token(&hub.url, "texter").await.unwrap();
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    let result = Client::connect_with(&config, &hub.url, Some(json!({ "token": token }))).await;
    assert!(result.is_err(), "a JSON client connected to a msgpack hub");
}
