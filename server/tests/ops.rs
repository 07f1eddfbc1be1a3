//! Health, metrics and graceful shutdown of the real server.

mod common;

use common::{Player, start_server};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn health_and_metrics_answer() {
    let server = start_server().await;
    let live = loadtest::http::get(&server.url, "/health/live")
        .await
        .unwrap();
    assert_eq!(live.status, 200);
    let ready = loadtest::http::get(&server.url, "/health/ready")
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
    let body: Value = ready.json().unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["storage"], "ok");

    let p = Player::join(&server.url, "m").await;
    p.create().await;
    let _ = p.place("nope", 1).await;
    let metrics = loadtest::http::get(&server.url, "/metrics")
        .await
        .unwrap()
        .body;
    for name in [
        "gamehub_connected_sockets",
        "gamehub_rooms{",
        "gamehub_actions_total{",
        "gamehub_action_duration_seconds_bucket",
        "gamehub_mailbox_full_total",
        "gamehub_rate_limited_total",
        "gamehub_events_total{",
        // The create above went through a room's mailbox and was committed.
        "gamehub_room_mailbox_wait_seconds_bucket",
        "gamehub_room_commit_wait_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_tells_every_socket_and_returns() {
    let server = start_server().await;
    let mut p = Player::join(&server.url, "d").await;
    let url = server.url.clone();
    let stopping = tokio::spawn(server.shutdown());
    let msg = p
        .client
        .wait_for_event("server:draining", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(msg["retryInMs"].as_u64().is_some());
    stopping.await.unwrap().expect("run returns Ok");
    assert!(
        loadtest::http::get(&url, "/health/live").await.is_err(),
        "no longer listening"
    );
}
