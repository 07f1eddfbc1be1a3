//! Smoke tests of the workloads against the real hub binary: correctness only, no timing assertions.
//!
//! The hub is the built `gamehub` binary (env `GAMEHUB_BIN`, else
//! `target/debug/gamehub`); the tests fail, rather than skip, when it is
//! missing. W4 also needs Redis (env `REDIS_URL`, else
//! `redis://127.0.0.1:6379`), with a key prefix of its own per run.

use loadtest::client::Parser;
use loadtest::workloads::{
    W1Options, W2Options, W3Options, W4Options, W5Options, w1, w2, w3, w4, w5,
};
mod hub;

use hub::{Hub, hub_bin};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

// The sizes each workload runs at here: small enough for seconds, large
// enough that every room has several players. Tests set pids and targets.

fn w1_options(url: &str) -> W1Options {
    W1Options {
        url: url.to_owned(),
        sockets: 20,
        hold_secs: 1.0,
        server_pid: None,
        parser: Parser::Json,
        progress: false,
    }
}

fn w2_options(url: &str) -> W2Options {
    W2Options {
        url: url.to_owned(),
        rooms: 2,
        players: 10,
        rate_hz: 2.0,
        seconds: 2.0,
        drain_secs: 5.0,
        server_pid: None,
        parser: Parser::Json,
        progress: false,
    }
}

fn w3_options(url: &str) -> W3Options {
    W3Options {
        url: url.to_owned(),
        rooms: 3,
        rate: 60.0,
        seconds: 2.0,
        warmup_secs: 0.0,
        server_pid: None,
        progress: false,
    }
}

fn w4_options(url: &str, url2: &str, redis: &str) -> W4Options {
    W4Options {
        url: url.to_owned(),
        url2: url2.to_owned(),
        rooms: 2,
        players: 10,
        rate_hz: 2.0,
        seconds: 2.0,
        drain_secs: 5.0,
        server_pid: None,
        server_pid2: None,
        redis: redis.to_owned(),
        progress: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w2_and_w1_against_the_hub() {
    let hub = Hub::start(&[]);
    let pid = Some(hub.child.id());

    let r = w2(W2Options {
        server_pid: pid,
        ..w2_options(&hub.url)
    })
    .await
    .expect("W2 runs");
    assert_eq!(r.errors.count, 0, "W2 errors: {:?}", r.errors.first);
    assert!(r.messages_sent > 0, "{r:?}");
    assert_eq!(r.expected_deliveries, r.messages_sent * 10, "{r:?}");
    assert_eq!(r.deliveries, r.expected_deliveries, "{r:?}");
    assert_eq!(r.delivery_ratio, 1.0);
    assert_eq!(r.latency.count, r.deliveries);
    let server = r.server.expect("server usage with a pid");
    assert!(server.rss_after_kb > 0);
    assert!(r.cpu_secs_per_million_deliveries.is_some());

    let r = w1(W1Options {
        server_pid: pid,
        ..w1_options(&hub.url)
    })
    .await
    .expect("W1 runs");
    assert_eq!(r.errors.count, 0, "W1 errors: {:?}", r.errors.first);
    assert_eq!(r.connected, 20);
    assert_eq!(r.connected_after_hold, 20);
    assert!(r.rss_per_socket_kb.is_some() && r.idle.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w3_plays_durable_moves() {
    // Each game leaves a finished room behind for ROOM_LINGER_SECS.
    let hub = Hub::start(&[("ROOM_LINGER_SECS", "1")]);
    let r = w3(W3Options {
        server_pid: Some(hub.child.id()),
        ..w3_options(&hub.url)
    })
    .await
    .expect("W3 runs");
    assert_eq!(r.errors.count, 0, "W3 errors: {:?}", r.errors.first);
    assert!(r.actions > 0, "{r:?}");
    assert_eq!(r.ack.count, r.actions);
    assert!(r.rooms_created >= 3, "{r:?}");
    assert!(r.games_finished <= r.rooms_created, "{r:?}");
    assert!(r.cpu_secs_per_thousand_actions.is_some());
    assert!(r.arena.starts_with("not yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w4_delivers_everything_across_two_instances() {
    let redis = redis_url();
    let prefix = format!(
        "loadtest-smoke-w4-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let instance = |node: &str| {
        Hub::start(&[
            ("REDIS_URL", &redis),
            ("REDIS_PREFIX", &prefix),
            ("NODE_ID", node),
            ("DIRECTORY_TTL_SECS", "2"),
        ])
    };
    let (a, b) = (instance("smoke-a"), instance("smoke-b"));
    let redis_addr = redis
        .trim_start_matches("redis://")
        .rsplit('@')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let r = w4(W4Options {
        server_pid: Some(a.child.id()),
        server_pid2: Some(b.child.id()),
        ..w4_options(&a.url, &b.url, &redis_addr)
    })
    .await
    .expect("W4 runs");
    for (run, ratio, errors) in [
        ("baseline", r.baseline.delivery_ratio, &r.baseline.errors),
        ("split", r.split.delivery_ratio, &r.split.errors),
    ] {
        assert_eq!(errors.count, 0, "W4 {run} errors: {:?}", errors.first);
        assert_eq!(ratio, 1.0, "W4 {run}: {r:?}");
    }
    assert!(r.split.messages_sent > 0);
    assert!(r.split.server.is_some() && r.split.server2.is_some());
    assert!(r.redis_pid.is_some(), "{:?}", r.redis_note);
    drop((a, b));
    // The instances' directory set outlives them (their entries expire by themselves).
    redis_del(&r.options.redis, &format!("{prefix}:nodes")).await;
}

/// `DEL key` in raw RESP: the test's only Redis command, not worth a client.
async fn redis_del(addr: &str, key: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut redis = tokio::net::TcpStream::connect(addr).await.expect("Redis");
    let command = format!("*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len());
    redis.write_all(command.as_bytes()).await.expect("DEL sent");
    let mut answer = [0u8; 16];
    let n = redis.read(&mut answer).await.expect("DEL answered");
    assert!(
        answer[..n].starts_with(b":"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn w5_loses_no_acknowledged_move_across_kill_9() {
    let r = w5(W5Options {
        hub_bin: hub_bin(),
        clients: 20,
        rate: 40.0,
        churn: 10.0,
        lobby_share: 0.5,
        warmup_secs: 2.0,
        recover_secs: 30.0,
        reconnect_delay_ms: 300,
        reconnect_delay_max_ms: 2000,
        progress: false,
    })
    .await
    .expect("W5 runs");
    assert!(r.lost.is_empty(), "lost acknowledged moves: {:?}", r.lost);
    assert_eq!(r.clients, 20);
    assert_eq!(r.clients_back, 20, "{r:?}");
    assert_eq!(r.clients_not_back, 0);
    assert!(r.back.p100_secs.is_some());
    assert!(r.actions > 0 && r.verified_actions > 0, "{r:?}");
    assert_eq!(r.errors.count, 0, "W5 errors: {:?}", r.errors.first);
    assert_eq!(
        r.churn.errors.count, 0,
        "churn errors: {:?}",
        r.churn.errors.first
    );
    assert!(r.churn.completed > 0, "{:?}", r.churn);
    assert!(r.passed() && r.kept_dir.is_none());
}

#[tokio::test]
async fn non_loopback_targets_are_refused() {
    // The sizes are valid, so only the target can be what is refused.
    let err = w2(w2_options("http://192.0.2.1:3000")).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    let err = w1(w1_options("http://example.com:80")).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    let err = w3(w3_options("http://10.1.2.3:3000")).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
    let options = w4_options(
        "http://127.0.0.1:1",
        "http://192.0.2.7:3000",
        "127.0.0.1:6379",
    );
    let err = w4(options).await.unwrap_err();
    assert!(err.contains("loopback"), "{err}");
}
