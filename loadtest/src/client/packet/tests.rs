//! Unit tests of the packet codec: every packet type, both directions, and malformed input.

use super::*;
use serde_json::json;

fn event(frame: &str) -> (Option<u64>, String, Vec<Value>) {
    match decode_socket(frame) {
        Ok(SocketPacket::Event {
            id, event, args, ..
        }) => (id, event, args),
        other => panic!("{frame:?} decoded as {other:?}"),
    }
}

#[test]
fn open_packet() {
    let frame = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    let EnginePacket::Open(open) = decode_engine(frame).unwrap() else {
        panic!("not an open packet")
    };
    assert_eq!(open.sid, "lv_VI97HAXpY6yYWAAAC");
    assert_eq!(open.ping_interval, 25000);
    assert_eq!(open.ping_timeout, 20000);
    assert_eq!(open.max_payload, Some(1_000_000));
}

#[test]
fn open_packet_without_max_payload() {
    let frame = r#"0{"sid":"a","pingInterval":300,"pingTimeout":200}"#;
    assert!(matches!(
        decode_engine(frame),
        Ok(EnginePacket::Open(OpenPacket {
            max_payload: None,
            ping_interval: 300,
            ..
        }))
    ));
}

#[test]
fn bad_open_packets_are_errors() {
    for frame in [
        "0",
        "0{}",
        "0{\"sid\":1}",
        "0[1,2]",
        "0{\"sid\":\"a\",\"pingInterval\":-1}",
    ] {
        assert!(
            matches!(decode_engine(frame), Err(PacketError::BadOpen(_))),
            "{frame:?}"
        );
    }
}

#[test]
fn engine_packet_types() {
    assert_eq!(decode_engine("1"), Ok(EnginePacket::Close));
    assert_eq!(decode_engine("2"), Ok(EnginePacket::Ping("")));
    assert_eq!(decode_engine("2probe"), Ok(EnginePacket::Ping("probe")));
    assert_eq!(decode_engine("3"), Ok(EnginePacket::Pong("")));
    assert_eq!(
        decode_engine("42[\"a\"]"),
        Ok(EnginePacket::Message("2[\"a\"]"))
    );
    assert_eq!(decode_engine("4"), Ok(EnginePacket::Message("")));
    assert_eq!(decode_engine("5"), Ok(EnginePacket::Upgrade));
    assert_eq!(decode_engine("6"), Ok(EnginePacket::Noop));
}

#[test]
fn ping_is_answered_with_matching_pong() {
    assert_eq!(encode_pong(""), "3");
    assert_eq!(encode_pong("probe"), "3probe");
    let EnginePacket::Ping(p) = decode_engine("2probe").unwrap() else {
        panic!()
    };
    assert_eq!(
        decode_engine(&encode_pong(p)),
        Ok(EnginePacket::Pong("probe"))
    );
}

#[test]
fn bad_engine_frames_are_errors() {
    assert_eq!(decode_engine(""), Err(PacketError::Empty));
    assert_eq!(decode_engine("7"), Err(PacketError::UnknownEngineType('7')));
    assert_eq!(decode_engine("x"), Err(PacketError::UnknownEngineType('x')));
    assert_eq!(
        decode_engine("é2"),
        Err(PacketError::UnknownEngineType('é'))
    );
}

#[test]
fn connect_with_and_without_auth() {
    assert_eq!(encode_connect(MAIN_NSP, None), "40");
    assert_eq!(
        encode_connect(MAIN_NSP, Some(&json!({"token": "abc"}))),
        r#"40{"token":"abc"}"#
    );
    assert_eq!(encode_connect("/admin", None), "40/admin,");
    assert_eq!(
        encode_connect("/admin", Some(&json!({"token": "t"}))),
        r#"40/admin,{"token":"t"}"#
    );
}

#[test]
fn connect_ok() {
    assert_eq!(
        decode_socket(r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#),
        Ok(SocketPacket::Connect {
            nsp: "/",
            data: Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"}))
        })
    );
    assert_eq!(
        decode_socket("0"),
        Ok(SocketPacket::Connect {
            nsp: "/",
            data: None
        })
    );
    assert_eq!(
        decode_socket(r#"0/admin,{"sid":"x"}"#),
        Ok(SocketPacket::Connect {
            nsp: "/admin",
            data: Some(json!({"sid": "x"}))
        })
    );
    assert_eq!(
        decode_socket("0[1]"),
        Err(PacketError::BadPayload("CONNECT data must be an object"))
    );
}

#[test]
fn connect_error() {
    assert_eq!(
        decode_socket(r#"4{"message":"unauthorized"}"#),
        Ok(SocketPacket::ConnectError {
            nsp: "/",
            data: json!({"message": "unauthorized"})
        })
    );
    assert_eq!(
        decode_socket(r#"4/admin,{"message":"no","data":{"x":1}}"#),
        Ok(SocketPacket::ConnectError {
            nsp: "/admin",
            data: json!({"message": "no", "data": {"x": 1}})
        })
    );
    assert_eq!(
        decode_socket(r#"4"Invalid namespace""#),
        Ok(SocketPacket::ConnectError {
            nsp: "/",
            data: json!("Invalid namespace")
        })
    );
    assert_eq!(
        decode_socket("4"),
        Ok(SocketPacket::ConnectError {
            nsp: "/",
            data: Value::Null
        })
    );
}

#[test]
fn disconnect() {
    assert_eq!(encode_disconnect(MAIN_NSP), "41");
    assert_eq!(encode_disconnect("/admin"), "41/admin,");
    assert_eq!(
        decode_socket("1"),
        Ok(SocketPacket::Disconnect { nsp: "/" })
    );
    assert_eq!(
        decode_socket("1/admin,"),
        Ok(SocketPacket::Disconnect { nsp: "/admin" })
    );
    assert_eq!(
        decode_socket("1/admin"),
        Ok(SocketPacket::Disconnect { nsp: "/admin" })
    );
}

#[test]
fn event_without_ack_id() {
    assert_eq!(
        encode_event(MAIN_NSP, None, "room:chat", &json!({"text": "hi"})).unwrap(),
        r#"42["room:chat",{"text":"hi"}]"#
    );
    assert_eq!(
        event(r#"2["room:event",{"seq":1}]"#),
        (None, "room:event".to_owned(), vec![json!({"seq": 1})])
    );
}

#[test]
fn event_with_ack_id() {
    assert_eq!(
        encode_event(MAIN_NSP, Some(0), "lobby:list", &json!({})).unwrap(),
        r#"420["lobby:list",{}]"#
    );
    assert_eq!(
        event(r#"27["x",1]"#),
        (Some(7), "x".to_owned(), vec![json!(1)])
    );
}

#[test]
fn multi_digit_ack_ids() {
    let frame = encode_event(MAIN_NSP, Some(12345), "e", &[1, 2]).unwrap();
    assert_eq!(frame, r#"4212345["e",[1,2]]"#);
    assert_eq!(
        event(&frame[1..]),
        (Some(12345), "e".to_owned(), vec![json!([1, 2])])
    );
    assert_eq!(
        decode_socket(r#"3987654321[{"ok":true}]"#),
        Ok(SocketPacket::Ack {
            nsp: "/",
            id: 987_654_321,
            args: vec![json!({"ok": true})],
            attachments: 0
        })
    );
    let max = format!("3{}[]", u64::MAX);
    assert!(matches!(
        decode_socket(&max),
        Ok(SocketPacket::Ack { id: u64::MAX, .. })
    ));
    let too_big = format!("3{}0[]", u64::MAX);
    assert_eq!(decode_socket(&too_big), Err(PacketError::BadAckId));
}

#[test]
fn event_args_zero_one_many() {
    assert_eq!(
        encode_event_args(MAIN_NSP, Some(3), "e", &[]).unwrap(),
        r#"423["e"]"#
    );
    assert_eq!(
        encode_event_args(MAIN_NSP, None, "e", &[json!("str")]).unwrap(),
        r#"42["e","str"]"#
    );
    assert_eq!(
        encode_event_args(
            MAIN_NSP,
            Some(1),
            "e",
            &[json!(1), json!(null), json!({"a": [true]})]
        )
        .unwrap(),
        r#"421["e",1,null,{"a":[true]}]"#
    );
    assert_eq!(event(r#"2["e"]"#), (None, "e".to_owned(), vec![]));
}

#[test]
fn event_names_and_data_are_escaped() {
    let frame = encode_event(MAIN_NSP, None, "a\"b", "line\nbreak é").unwrap();
    assert_eq!(frame, "42[\"a\\\"b\",\"line\\nbreak é\"]");
    assert_eq!(
        event(&frame[1..]),
        (None, "a\"b".to_owned(), vec![json!("line\nbreak é")])
    );
}

#[test]
fn ack_packet() {
    assert_eq!(
        decode_socket(r#"35[{"ok":false,"error":{"code":"room_full","message":"x"}}]"#),
        Ok(SocketPacket::Ack {
            nsp: "/",
            id: 5,
            args: vec![json!({"ok": false, "error": {"code": "room_full", "message": "x"}})],
            attachments: 0
        })
    );
    assert!(matches!(
        decode_socket("30[]"),
        Ok(SocketPacket::Ack { id: 0, ref args, .. }) if args.is_empty()
    ));
    assert_eq!(
        encode_ack(MAIN_NSP, 9, &[json!({"ok": true})]).unwrap(),
        r#"439[{"ok":true}]"#
    );
    assert_eq!(encode_ack("/x", 9, &[]).unwrap(), "43/x,9[]");
}

#[test]
fn namespace_prefix() {
    let frame = encode_event("/admin", Some(42), "e", &1).unwrap();
    assert_eq!(frame, r#"42/admin,42["e",1]"#);
    let packet = decode_socket(&frame[1..]).unwrap();
    assert_eq!(packet.nsp(), "/admin");
    assert!(matches!(packet, SocketPacket::Event { id: Some(42), .. }));
    assert_eq!(
        decode_socket(r#"3/admin,7["x"]"#).map(|p| p.nsp().to_owned()),
        Ok("/admin".to_owned())
    );
}

#[test]
fn binary_packets_decode_with_placeholders() {
    let placeholder = json!({"_placeholder": true, "num": 0});
    assert_eq!(
        decode_socket(r#"51-["upload",{"_placeholder":true,"num":0}]"#),
        Ok(SocketPacket::Event {
            nsp: "/",
            id: None,
            event: "upload".to_owned(),
            args: vec![placeholder.clone()],
            attachments: 1
        })
    );
    assert_eq!(
        decode_socket(r#"62-/admin,12[{"_placeholder":true,"num":0},2]"#),
        Ok(SocketPacket::Ack {
            nsp: "/admin",
            id: 12,
            args: vec![placeholder, json!(2)],
            attachments: 2
        })
    );
    assert_eq!(decode_socket(r#"5["e"]"#), Err(PacketError::BadAttachments));
    assert_eq!(
        decode_socket(r#"5x-["e"]"#),
        Err(PacketError::BadAttachments)
    );
}

#[test]
fn malformed_socket_packets_are_errors_not_panics() {
    let cases: &[&str] = &[
        "",
        "7",
        "9[]",
        "x",
        "é",
        "2",
        "2[",
        "2{}",
        "2[]",
        "2[1,2]",
        "2\"e\"",
        "21",
        "3",
        "3[]",
        "3x[]",
        "31{}",
        "31",
        "2/admin",
        "2/admin,",
        "0{",
        "5-",
        "5-[]",
        "6",
        "2[\"e\"]trailing",
    ];
    for frame in cases {
        assert!(decode_socket(frame).is_err(), "{frame:?} should not decode");
    }
    // Arbitrary bytes and truncations of valid frames never panic.
    let valid = r#"62-/admin,12[{"_placeholder":true,"num":0},"é",{"a":[1,2,3]}]"#;
    for end in 0..=valid.len() {
        if let Some(prefix) = valid.get(..end) {
            let _ = decode_socket(prefix);
            let _ = decode_engine(prefix);
        }
    }
}

#[test]
fn encode_reports_serialization_errors() {
    use std::collections::HashMap;
    // Non-string map keys cannot be JSON: an error, not a panic.
    let mut bad = HashMap::new();
    bad.insert(vec![1u8], 1);
    assert!(encode_event(MAIN_NSP, None, "e", &bad).is_err());
}
