//! The benchmark peers (`loadtest/peers`, installed by `scripts/peers-setup`)
//! play tic-tac-toe as W3 needs: each runs the library's W3 unchanged and
//! finishes every game it starts, and a scripted game (acks, error codes and
//! the pushes each socket gets) reads the same on each peer as on the hub
//! (`target/debug/gamehub`, or `GAMEHUB_BIN`).

mod hub;

use hub::Hub;
use loadtest::Client;
use loadtest::compare::{Programs, ServerKind};
use loadtest::workloads::{W3Options, w3};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// How long a push the script expects may take.
const PUSH_WAIT: Duration = Duration::from_secs(5);

/// Where the peers are, for [`Programs::start`], which starts one on a free
/// loopback port (as the side-by-side runner does) and kills it when dropped.
fn peers() -> Programs {
    let peers_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers");
    assert!(
        peers_dir.join("node/node_modules").is_dir() && peers_dir.join("python/.venv").is_dir(),
        "the peers are not installed: run scripts/peers-setup (scripts/setup does)"
    );
    Programs {
        // Only the peers are started here: the hub's path is not read.
        hub_bin: PathBuf::new(),
        peers_dir,
        loadtest_bin: PathBuf::from(env!("CARGO_BIN_EXE_loadtest")),
        server_core: None,
        // Each peer's stderr, as `<kind>.log`.
        log_dir: std::env::temp_dir().join(format!("gamehub-peers-w3-{}", std::process::id())),
    }
}

async fn w3_plays_whole_games(kind: ServerKind) {
    let peer = peers()
        .start(kind)
        .unwrap_or_else(|e| panic!("starting the {kind} peer: {e}"));
    let rooms = 4;
    let r = w3(W3Options {
        url: peer.url.clone(),
        rooms,
        rate: 50.0,
        seconds: 2.0,
        warmup_secs: 0.0,
        server_pid: Some(peer.pid),
        progress: false,
    })
    .await
    .unwrap_or_else(|e| panic!("{kind}: W3 runs: {e}"));
    assert_eq!(r.errors.count, 0, "{kind}: W3 errors: {:?}", r.errors.first);
    assert_eq!(r.ack.count, r.actions, "{kind}: {r:?}");
    assert!(r.games_finished > 0, "{kind}: no game finished: {r:?}");
    // Every game runs to its end: only each pair's last room may be cut off by the clock.
    assert!(
        r.rooms_created >= r.games_finished && r.rooms_created - r.games_finished <= rooms as u64,
        "{kind}: {r:?}"
    );
    // A game ends after 5 to 9 moves.
    assert!(
        r.actions >= 5 * r.games_finished && r.actions <= 9 * r.rooms_created,
        "{kind}: {r:?}"
    );
    assert!(r.cpu_secs_per_thousand_actions.is_some(), "{kind}: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3_plays_whole_games_on_the_node_peer() {
    w3_plays_whole_games(ServerKind::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3_plays_whole_games_on_the_python_peer() {
    w3_plays_whole_games(ServerKind::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_game_reads_the_same_on_the_peers_as_on_the_hub() {
    let hub = Hub::start(&[]);
    let expected = scripted_game(&hub.url).await;
    // The hub's own transcript, spot-checked, so that three servers agreeing
    // on something wrong would still fail.
    let step = |label: &str| {
        expected
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no step `{label}`"))
    };
    assert_eq!(step("alice creates")["seq"], 1);
    assert_eq!(step("bob joins")["seq"], 3);
    assert_eq!(
        step("alice places 2 and wins"),
        json!({"ok": true, "seq": 9})
    );
    assert_eq!(
        step("bob moves out of turn")["error"]["code"],
        "not_your_turn"
    );
    let pushes = step("alice's pushes");
    let seqs: Vec<u64> = pushes
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (2..=9).collect::<Vec<_>>());
    drop(hub);

    for kind in [ServerKind::Node, ServerKind::Python] {
        let peer = peers()
            .start(kind)
            .unwrap_or_else(|e| panic!("starting the {kind} peer: {e}"));
        let got = scripted_game(&peer.url).await;
        for ((label, want), (_, have)) in expected.iter().zip(&got) {
            assert_eq!(have, want, "{kind}: {label}");
        }
        assert_eq!(got.len(), expected.len(), "{kind}");
    }
}

/// A guest socket and its player id.
async fn guest(url: &str, name: &str) -> (Client, String) {
    let (token, player) = loadtest::guest_token(url, name).await.expect("guest token");
    let client = Client::connect(url, Some(json!({ "token": token })))
        .await
        .expect("connect");
    (client, player.id)
}

async fn ask(client: &Client, event: &str, payload: Value) -> Value {
    client
        .emit_with_ack(event, &payload)
        .await
        .unwrap_or_else(|e| panic!("{event} {payload}: {e}"))
}

async fn place(client: &Client, room: &str, cell: Value) -> Value {
    let action = json!({"roomId": room, "action": {"type": "place", "cell": cell}});
    ask(client, "room:action", action).await
}

/// The `room:event` pushes `client` gets up to `seq`.
async fn pushes_until(client: &mut Client, seq: u64) -> Value {
    let mut pushes = Vec::new();
    loop {
        let push = client
            .wait_for_event("room:event", PUSH_WAIT)
            .await
            .unwrap_or_else(|e| panic!("waiting for seq {seq} after {pushes:?}: {e}"));
        let at = push["seq"].as_u64().expect("a numbered push");
        pushes.push(push);
        if at >= seq {
            return Value::Array(pushes);
        }
    }
}

/// Plays one scripted game with refused moves along the way; returns each
/// step's answer (or pushes), labelled and [`normalized`].
async fn scripted_game(url: &str) -> Vec<(String, Value)> {
    let (mut alice, alice_id) = guest(url, "alice").await;
    let (mut bob, bob_id) = guest(url, "bob").await;
    let (mut carol, carol_id) = guest(url, "carol").await;
    let (dave, dave_id) = guest(url, "dave").await;
    let mut steps: Vec<(&str, Value)> = Vec::new();

    let created = ask(&alice, "room:create", json!({"game": "tictactoe"})).await;
    let room = created["room"]["id"]
        .as_str()
        .expect("a room id")
        .to_owned();
    steps.push(("alice creates", created));
    let early = place(&alice, &room, json!(0)).await;
    steps.push(("alice moves before the game started", early));
    let joined = ask(&bob, "room:join", json!({"roomId": room})).await;
    steps.push(("bob joins", joined));
    let watching = ask(
        &carol,
        "room:join",
        json!({"roomId": room, "role": "spectator"}),
    )
    .await;
    steps.push(("carol watches", watching));
    steps.push((
        "carol, a spectator, moves",
        place(&carol, &room, json!(4)).await,
    ));
    steps.push((
        "dave, not in the room, moves",
        place(&dave, &room, json!(4)).await,
    ));
    steps.push(("bob moves out of turn", place(&bob, &room, json!(4)).await));
    steps.push((
        "alice places off the board",
        place(&alice, &room, json!(9)).await,
    ));
    steps.push((
        "alice's cell is a string",
        place(&alice, &room, json!("4")).await,
    ));
    let jump = json!({"roomId": room, "action": {"type": "jump"}});
    steps.push(("an unknown action", ask(&alice, "room:action", jump).await));
    let no_action = json!({"roomId": room});
    steps.push(("no action", ask(&alice, "room:action", no_action).await));
    let elsewhere = place(&alice, "0123456789abcdef", json!(4)).await;
    steps.push(("a room that does not exist", elsewhere));
    steps.push(("alice places 0", place(&alice, &room, json!(0)).await));
    steps.push(("bob places 3", place(&bob, &room, json!(3)).await));
    steps.push(("alice places 1", place(&alice, &room, json!(1)).await));
    steps.push((
        "bob places on alice's 1",
        place(&bob, &room, json!(1)).await,
    ));
    steps.push(("bob places 4", place(&bob, &room, json!(4)).await));
    let won = place(&alice, &room, json!(2)).await;
    let last = won["seq"]
        .as_u64()
        .expect("the winning move is acknowledged");
    steps.push(("alice places 2 and wins", won));
    steps.push((
        "alice moves after the end",
        place(&alice, &room, json!(5)).await,
    ));
    let late = ask(&dave, "room:join", json!({"roomId": room})).await;
    steps.push(("dave joins the finished game", late));
    steps.push(("alice's pushes", pushes_until(&mut alice, last).await));
    steps.push(("bob's pushes", pushes_until(&mut bob, last).await));
    steps.push(("carol's pushes", pushes_until(&mut carol, last).await));

    for client in [alice, bob, carol, dave] {
        client.disconnect().await;
    }
    let names = [
        (room, "<room>"),
        (alice_id, "<alice>"),
        (bob_id, "<bob>"),
        (carol_id, "<carol>"),
        (dave_id, "<dave>"),
    ];
    steps
        .into_iter()
        .map(|(label, answer)| (label.to_owned(), normalized(answer, &names)))
        .collect()
}

/// `v` without what differs from run to run or server to server by design:
/// ids become names, timestamps and the hub's `node` go, and an error keeps
/// only its code (the messages are each server's own words).
fn normalized(v: Value, names: &[(String, &str)]) -> Value {
    match v {
        Value::String(s) => Value::String(
            names
                .iter()
                .find(|(id, _)| *id == s)
                .map_or(s, |(_, name)| (*name).to_owned()),
        ),
        Value::Array(items) => items.into_iter().map(|i| normalized(i, names)).collect(),
        Value::Object(fields) => fields
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "createdAt" | "node" | "ts"))
            .map(|(k, v)| match k.as_str() {
                "error" => (k, json!({"code": v["code"]})),
                _ => (k, normalized(v, names)),
            })
            .collect(),
        other => other,
    }
}
