//! Starts the real hub in-process on 127.0.0.1:0 with a fresh database, and
//! gives tests typed helpers over the load tester's socket.io client.

#![allow(dead_code)] // each test file uses a different part of this

use gamehub::Config;
use loadtest::client::{Client, ClientError};
use protocol::events::{Joined, RoomEvent};
use protocol::{Ack, ErrorCode, PlayerRef};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A hub running for one test.
pub struct TestServer {
    pub url: String,
    pub db_dir: PathBuf,
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Stops the hub the way SIGTERM would and waits for `run` to return.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("not shut down twice");
        tokio::time::timeout(Duration::from_secs(15), task).await??
    }

    /// Stops the hub gracefully and starts it again on the same database (on a new port).
    pub async fn restart(mut self) -> TestServer {
        let config = self.config.clone();
        let db_dir = std::mem::take(&mut self.db_dir);
        self.shutdown().await.expect("clean shutdown");
        launch(config, db_dir).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if !self.db_dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.db_dir);
        }
    }
}

/// Defaults for tests: a fixed secret and a private database directory.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.host = [127, 0, 0, 1].into();
    config.port = 0;
    config.secret_key = Some("test-secret-test-secret-test-secret!".into());
    config
}

/// Starts the hub with `tweak` applied to the test defaults.
pub async fn start_server_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let db_dir = std::env::temp_dir().join(format!("gamehub-test-{}", uuid_like()));
    std::fs::create_dir_all(&db_dir).expect("temp dir");
    let mut config = test_config();
    config.db_path = db_dir.join("gamehub.db");
    tweak(&mut config);
    launch(config, db_dir).await
}

async fn launch(config: Config, db_dir: PathBuf) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(gamehub::run(listener, config.clone(), async {
        let _ = stopped.await;
    }));
    TestServer {
        url: format!("http://{addr}"),
        db_dir,
        config,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Starts the hub with the test defaults.
pub async fn start_server() -> TestServer {
    start_server_with(|_| {}).await
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connected, authenticated player.
pub struct Player {
    pub me: PlayerRef,
    pub token: String,
    pub client: Client,
}

impl Player {
    /// Gets a guest token for `name` and connects with it.
    pub async fn join(url: &str, name: &str) -> Player {
        let (token, me) = loadtest::http::guest_token(url, name)
            .await
            .expect("guest token");
        let client = Client::connect(url, Some(json!({ "token": token })))
            .await
            .expect("connect");
        Player { me, token, client }
    }

    /// Connects again with the same token (a reconnect, or a second tab).
    pub async fn reconnect(url: &str, me: &PlayerRef, token: &str) -> Player {
        let client = Client::connect(url, Some(json!({ "token": token })))
            .await
            .expect("connect");
        Player {
            me: me.clone(),
            token: token.to_string(),
            client,
        }
    }

    /// Sends `event` with `data` and returns the ack, ok or error.
    pub async fn ask<T: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        event: &str,
        data: &T,
    ) -> Ack<R> {
        self.client.emit_with_ack(event, data).await.expect("ack")
    }

    /// Sends `event` and returns the ok body, failing the test on an error ack.
    pub async fn ok<T: Serialize + ?Sized, R: DeserializeOwned>(&self, event: &str, data: &T) -> R {
        match self.ask(event, data).await {
            Ack::Ok(r) => r,
            Ack::Err(e) => panic!("{event} failed: {e}"),
        }
    }

    /// Sends `event` and returns the error code, failing the test on an ok ack.
    pub async fn err<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> ErrorCode {
        match self.ask::<T, Value>(event, data).await {
            Ack::Ok(v) => panic!("{event} unexpectedly succeeded: {v}"),
            Ack::Err(e) => {
                assert!(!e.message.is_empty(), "every error carries a message");
                e.code
            }
        }
    }

    /// Creates a tic-tac-toe room.
    pub async fn create(&self) -> Joined {
        self.ok("room:create", &json!({"game": "tictactoe"})).await
    }

    /// Places a mark; returns the ack's seq.
    pub async fn place(&self, room: &str, cell: u8) -> Ack<Value> {
        self.ask(
            "room:action",
            &json!({"roomId": room, "action": {"type": "place", "cell": cell}}),
        )
        .await
    }

    /// The next `room:event`, skipping other pushes.
    pub async fn next_room_event(&mut self) -> RoomEvent {
        let v = self
            .client
            .wait_for_event("room:event", Duration::from_secs(5))
            .await
            .expect("room:event");
        serde_json::from_value(v).expect("RoomEvent shape")
    }

    /// Every `room:event` until one of type `kind` (inclusive).
    pub async fn events_until(&mut self, kind: &str) -> Vec<RoomEvent> {
        let mut seen = Vec::new();
        loop {
            let ev = self.next_room_event().await;
            let done = ev.event["type"] == kind;
            seen.push(ev);
            if done {
                return seen;
            }
        }
    }
}

/// Whether connecting with `auth` is refused with `connect_error` "unauthorized".
pub async fn refused(url: &str, auth: Option<Value>) -> bool {
    matches!(Client::connect(url, auth).await, Err(ClientError::ConnectRefused { message }) if message == "unauthorized")
}
