//! The socket.io client against a scripted in-process fake server speaking raw Engine.IO frames.

mod support;

use futures_util::SinkExt;
use loadtest::client::packet;
use loadtest::{Client, ClientConfig, ClientError, DisconnectReason, Overflow};
use serde_json::{Value, json};
use std::time::Duration;
use support::{WAIT, accept, fake_server, recv, recv_event, send};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

fn auth() -> Option<Value> {
    Some(json!({"token": "t0k"}))
}

#[tokio::test]
async fn connect_sends_auth_and_learns_sid() {
    let (auth_tx, auth_rx) = oneshot::channel();
    let (url, uri) = fake_server(|mut ws| async move {
        let _ = auth_tx.send(accept(&mut ws, 25_000, 20_000).await);
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    assert_eq!(client.id(), "sio1");
    assert!(client.is_connected());
    assert_eq!(client.disconnect_reason(), None);
    assert_eq!(uri.await.unwrap(), "/socket.io/?EIO=4&transport=websocket");
    assert_eq!(auth_rx.await.unwrap(), Some(json!({"token": "t0k"})));
}

#[tokio::test]
async fn connect_without_auth_sends_bare_connect() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        send(
            &mut ws,
            r#"0{"sid":"e","pingInterval":25000,"pingTimeout":20000}"#,
        )
        .await;
        let _ = tx.send(recv(&mut ws).await);
        send(&mut ws, r#"40{"sid":"s"}"#).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let _client = Client::connect(&url, None).await.unwrap();
    assert_eq!(rx.await.unwrap().as_deref(), Some("40"));
}

#[tokio::test]
async fn refused_connect_carries_the_message() {
    let (url, _) = fake_server(|mut ws| async move {
        send(
            &mut ws,
            r#"0{"sid":"e","pingInterval":25000,"pingTimeout":20000}"#,
        )
        .await;
        let _ = recv(&mut ws).await;
        send(&mut ws, r#"44{"message":"unauthorized"}"#).await;
        let _ = recv(&mut ws).await;
    })
    .await;
    match Client::connect(&url, auth()).await {
        Err(ClientError::ConnectRefused { message }) => assert_eq!(message, "unauthorized"),
        other => panic!("expected ConnectRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_times_out_when_the_server_is_mute() {
    let (url, _) = fake_server(|mut ws| async move {
        let _ = recv(&mut ws).await;
    })
    .await;
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let result = Client::connect_with(&config, &url, auth()).await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
}

#[tokio::test]
async fn connect_to_a_closed_port_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let result = Client::connect(&url, auth()).await;
    assert!(matches!(result, Err(ClientError::Io(_))), "{result:?}");
}

#[tokio::test]
async fn acks_resolve_by_id_even_out_of_order() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let (a, name_a, args_a) = recv_event(&mut ws).await;
        let (b, name_b, args_b) = recv_event(&mut ws).await;
        // Answer the second first.
        let ack_b = json!({"ok": true, "event": name_b, "args": args_b});
        send(
            &mut ws,
            packet::encode_ack("/", b.unwrap(), &[ack_b]).unwrap(),
        )
        .await;
        let ack_a = json!({"ok": true, "event": name_a, "args": args_a});
        send(
            &mut ws,
            packet::encode_ack("/", a.unwrap(), &[ack_a]).unwrap(),
        )
        .await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    let create = json!({"game": "tictactoe"});
    let (first, second) = tokio::join!(
        client.emit_with_ack::<_, Value>("room:create", &create),
        async {
            // Make sure this one is sent second.
            tokio::time::sleep(Duration::from_millis(50)).await;
            client
                .emit_with_ack::<_, Value>("lobby:list", &json!({}))
                .await
        }
    );
    assert_eq!(
        first.unwrap(),
        json!({"ok": true, "event": "room:create", "args": [{"game": "tictactoe"}]})
    );
    assert_eq!(
        second.unwrap(),
        json!({"ok": true, "event": "lobby:list", "args": [{}]})
    );
}

#[tokio::test]
async fn acks_decode_into_protocol_types() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let (id, _, _) = recv_event(&mut ws).await;
        let ack =
            json!({"ok": false, "error": {"code": "room_full", "message": "both seats taken"}});
        send(
            &mut ws,
            packet::encode_ack("/", id.unwrap(), &[ack]).unwrap(),
        )
        .await;
        let (id, _, _) = recv_event(&mut ws).await;
        send(
            &mut ws,
            packet::encode_ack("/", id.unwrap(), &[json!("not an ack")]).unwrap(),
        )
        .await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    let ack: protocol::Ack<protocol::Empty> = client
        .emit_with_ack("room:join", &json!({"roomId": "r1"}))
        .await
        .unwrap();
    match ack {
        protocol::Ack::Err(e) => assert_eq!(e.code, protocol::ErrorCode::RoomFull),
        other => panic!("{other:?}"),
    }
    let bad = client
        .emit_with_ack::<_, protocol::Ack<protocol::Empty>>("room:join", &json!({}))
        .await;
    match bad {
        Err(ClientError::Decode { value, .. }) => assert_eq!(value, json!("not an ack")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn raw_args_reach_the_wire_as_given() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (id, name, args) = recv_event(&mut ws).await;
            seen.push((name, args));
            // Ack with no argument at all.
            send(&mut ws, format!("43{}[]", id.unwrap())).await;
        }
        let _ = tx.send(seen);
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    assert_eq!(
        client
            .emit_args_with_ack("room:chat", vec![])
            .await
            .unwrap(),
        Value::Null
    );
    assert_eq!(
        client
            .emit_args_with_ack("room:chat", vec![json!("text")])
            .await
            .unwrap(),
        Value::Null
    );
    client
        .emit_args_with_ack("room:chat", vec![json!(1), json!({"a": 2})])
        .await
        .unwrap();
    assert_eq!(
        rx.await.unwrap(),
        vec![
            ("room:chat".to_owned(), vec![]),
            ("room:chat".to_owned(), vec![json!("text")]),
            ("room:chat".to_owned(), vec![json!(1), json!({"a": 2})]),
        ]
    );
}

#[tokio::test]
async fn ack_timeout_then_late_ack_is_ignored() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let (late, _, _) = recv_event(&mut ws).await;
        let (id, _, _) = recv_event(&mut ws).await;
        send(
            &mut ws,
            packet::encode_ack("/", late.unwrap(), &[json!("late")]).unwrap(),
        )
        .await;
        send(
            &mut ws,
            packet::encode_ack("/", id.unwrap(), &[json!("on time")]).unwrap(),
        )
        .await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let config = ClientConfig {
        ack_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let client = Client::connect_with(&config, &url, auth()).await.unwrap();
    let timed_out = client.emit_with_ack::<_, Value>("slow", &1).await;
    assert!(
        matches!(timed_out, Err(ClientError::Timeout)),
        "{timed_out:?}"
    );
    let answer: String = client.emit_with_ack("fast", &2).await.unwrap();
    assert_eq!(answer, "on time");
    assert!(client.is_connected());
}

#[tokio::test]
async fn emit_without_ack_has_no_id() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let _ = tx.send((recv(&mut ws).await, recv(&mut ws).await));
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    client
        .emit("room:chat", &json!({"roomId": "r", "text": "hi"}))
        .await
        .unwrap();
    client.emit_args("ping", &[]).await.unwrap();
    let (a, b) = rx.await.unwrap();
    assert_eq!(
        a.as_deref(),
        Some(r#"42["room:chat",{"roomId":"r","text":"hi"}]"#)
    );
    assert_eq!(b.as_deref(), Some(r#"42["ping"]"#));
}

#[tokio::test]
async fn pings_get_pongs_and_keep_the_connection_alive() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        // Liveness is 150 ms; pinging every 50 ms for 400 ms keeps the client up.
        accept(&mut ws, 100, 50).await;
        let mut pongs = Vec::new();
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send(&mut ws, "2").await;
            pongs.push(recv(&mut ws).await);
        }
        let _ = tx.send(pongs);
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    let pongs = rx.await.unwrap();
    assert!(pongs.iter().all(|p| p.as_deref() == Some("3")), "{pongs:?}");
    assert!(client.is_connected());
}

#[tokio::test]
async fn missing_pings_end_the_connection() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 50, 50).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    let end = tokio::time::timeout(WAIT, client.next_event())
        .await
        .unwrap();
    assert_eq!(end, None);
    assert!(!client.is_connected());
    assert_eq!(
        client.disconnect_reason(),
        Some(DisconnectReason::PingTimeout)
    );
}

#[tokio::test]
async fn pushes_arrive_in_order_and_junk_is_ignored() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        send(&mut ws, r#"42["room:event",{"seq":1}]"#).await;
        send(&mut ws, "garbage").await;
        send(&mut ws, "42garbage").await;
        send(&mut ws, "4").await;
        send(&mut ws, "").await;
        send(&mut ws, "6").await;
        send(&mut ws, r#"42/other,["room:event",{"seq":99}]"#).await;
        send(&mut ws, r#"451-["upload",{"_placeholder":true,"num":0}]"#).await;
        ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        send(&mut ws, r#"42["room:chat",{"text":"hi"}]"#).await;
        send(&mut ws, r#"42["server:draining"]"#).await;
        send(&mut ws, r#"42["room:event",{"seq":2},"extra"]"#).await;
        send(&mut ws, r#"42["room:event",{"seq":3}]"#).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    assert_eq!(
        client.expect_event("room:event", WAIT).await.unwrap(),
        json!({"seq": 1})
    );
    assert_eq!(
        client.next_event().await,
        Some(("upload".to_owned(), json!({"_placeholder": true, "num": 0})))
    );
    match client.expect_event("room:event", WAIT).await {
        Err(ClientError::UnexpectedEvent {
            expected,
            got,
            data,
        }) => {
            assert_eq!(
                (expected.as_str(), got.as_str()),
                ("room:event", "room:chat")
            );
            assert_eq!(data, json!({"text": "hi"}));
        }
        other => panic!("{other:?}"),
    }
    // `server:draining` with no argument is skipped by wait_for_event.
    assert_eq!(
        client.wait_for_event("room:event", WAIT).await.unwrap(),
        json!({"seq": 2})
    );
    assert_eq!(
        client.next_event().await,
        Some(("room:event".to_owned(), json!({"seq": 3})))
    );
    assert!(client.try_next_event().is_none());
    let nothing = client
        .expect_event("room:event", Duration::from_millis(50))
        .await;
    assert!(matches!(nothing, Err(ClientError::Timeout)), "{nothing:?}");
    assert_eq!(client.stats().events_received, 6);
    assert!(client.is_connected());
}

#[tokio::test]
async fn event_without_argument_is_null() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        send(&mut ws, r#"42["server:draining"]"#).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    assert_eq!(
        client.expect_event("server:draining", WAIT).await.unwrap(),
        Value::Null
    );
}

#[tokio::test]
async fn server_disconnect_ends_the_stream_and_fails_pending_acks() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        send(&mut ws, r#"42["room:event",{"seq":1}]"#).await;
        let _ = recv_event(&mut ws).await; // an ack that will never come
        send(&mut ws, "41").await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    let pending = client
        .emit_with_ack::<_, Value>("room:leave", &json!({}))
        .await;
    assert!(
        matches!(pending, Err(ClientError::Disconnected)),
        "{pending:?}"
    );
    // Pushes received before the disconnect are still delivered.
    assert_eq!(
        client.next_event().await,
        Some(("room:event".to_owned(), json!({"seq": 1})))
    );
    assert_eq!(client.next_event().await, None);
    assert!(!client.is_connected());
    assert_eq!(client.disconnect_reason(), Some(DisconnectReason::Server));
    let after = client.emit("room:chat", &json!({})).await;
    assert!(matches!(after, Err(ClientError::Disconnected)), "{after:?}");
    let after = client
        .emit_with_ack::<_, Value>("lobby:list", &json!({}))
        .await;
    assert!(matches!(after, Err(ClientError::Disconnected)), "{after:?}");
}

#[tokio::test]
async fn server_closing_the_socket_ends_the_stream() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        ws.close(None).await.unwrap();
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, client.next_event())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        client.disconnect_reason(),
        Some(DisconnectReason::TransportClose)
    );
}

#[tokio::test]
async fn client_disconnect_sends_41_then_closes() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let first = recv(&mut ws).await;
        let second = recv(&mut ws).await;
        let _ = tx.send((first, second));
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    tokio::time::timeout(WAIT, client.disconnect())
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap(), (Some("41".to_owned()), None));
}

#[tokio::test]
async fn disconnect_works_while_the_event_buffer_is_full() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        for seq in 0..10 {
            send(&mut ws, format!(r#"42["room:event",{{"seq":{seq}}}]"#)).await;
        }
        let _ = tx.send(recv(&mut ws).await);
    })
    .await;
    let config = ClientConfig {
        event_capacity: 2,
        ..Default::default()
    };
    let client = Client::connect_with(&config, &url, auth()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(1), client.disconnect())
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap().as_deref(), Some("41"));
}

#[tokio::test]
async fn overflow_drop_counts_what_it_drops() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        for seq in 0..10 {
            send(&mut ws, format!(r#"42["room:event",{{"seq":{seq}}}]"#)).await;
        }
        let (id, _, _) = recv_event(&mut ws).await;
        send(
            &mut ws,
            packet::encode_ack("/", id.unwrap(), &[json!(true)]).unwrap(),
        )
        .await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let config = ClientConfig {
        event_capacity: 3,
        overflow: Overflow::Drop,
        ..Default::default()
    };
    let mut client = Client::connect_with(&config, &url, auth()).await.unwrap();
    // The ack comes after all ten pushes, so by then they were all handled.
    assert!(client.emit_with_ack::<_, bool>("x", &()).await.unwrap());
    let stats = client.stats();
    assert_eq!((stats.events_received, stats.events_dropped), (10, 7));
    for seq in 0..3 {
        assert_eq!(
            client.next_event().await,
            Some(("room:event".to_owned(), json!({"seq": seq})))
        );
    }
}

#[tokio::test]
async fn dropping_the_client_closes_the_connection() {
    let (tx, rx) = oneshot::channel();
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        let _ = tx.send(recv(&mut ws).await);
    })
    .await;
    let client = Client::connect(&url, auth()).await.unwrap();
    drop(client);
    let seen = tokio::time::timeout(WAIT, rx).await.unwrap().unwrap();
    assert_eq!(
        seen, None,
        "the server should see the socket end, not a packet"
    );
}

#[tokio::test]
async fn tls_urls_are_refused() {
    let result = Client::connect("https://example.com", None).await;
    assert!(
        matches!(result, Err(ClientError::InvalidUrl { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn taken_events_arrive_while_the_client_is_shared() {
    let (url, _) = fake_server(|mut ws| async move {
        accept(&mut ws, 25_000, 20_000).await;
        send(&mut ws, r#"42["room:chat",{"text":"a"}]"#).await;
        let (id, event, _) = recv_event(&mut ws).await;
        assert_eq!(event, "room:chat");
        send(&mut ws, format!(r#"43{}[{{"ok":true}}]"#, id.unwrap())).await;
        while recv(&mut ws).await.is_some() {}
    })
    .await;
    let mut client = Client::connect(&url, auth()).await.unwrap();
    let mut events = client.take_events();
    assert_eq!(
        events.recv().await,
        Some(("room:chat".to_owned(), json!({"text": "a"})))
    );
    let shared = std::sync::Arc::new(client);
    let ack: Value = shared
        .emit_with_ack("room:chat", &json!({"text": "b"}))
        .await
        .unwrap();
    assert_eq!(ack, json!({"ok": true}));
    let mut client = std::sync::Arc::into_inner(shared).unwrap();
    assert_eq!(client.next_event().await, None);
    client.disconnect().await;
}
