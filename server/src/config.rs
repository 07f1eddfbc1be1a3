//! The one typed configuration of the hub, from CLI flags and environment variables.
//!
//! Every setting has a default that runs a single node with nothing else
//! installed. `docs/operations.md` lists them all; keep the two in step.

use crate::store::{StoreOptions, SyncMode};
use clap::{Args, ValueEnum};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Which socket.io parser the hub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParserKind {
    /// The default socket.io JSON parser.
    Json,
    /// `socket.io-msgpack-parser` on the client.
    Msgpack,
}

/// Everything the server reads at start.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// SQLite database file (created if missing).
    #[arg(long, env = "DB_PATH", default_value = "gamehub.db")]
    pub db_path: PathBuf,

    /// Commit durability: `normal` survives a crash of the process (kill -9);
    /// `full` also survives a power loss or OS crash, with an fsync per batch.
    #[arg(long, env = "DB_SYNC", value_enum, default_value = "normal")]
    pub db_sync: SyncMode,

    /// Largest size the database may reach, in MiB; 0 for no limit. Past it,
    /// writes fail like on a full disk: moves answer `internal`, not ready.
    #[arg(long, env = "DB_MAX_SIZE_MB", default_value_t = 0)]
    pub db_max_size_mb: u64,

    /// Most writes the store commits in one transaction (group commit); 1 commits each alone.
    #[arg(long, env = "STORE_MAX_BATCH", default_value_t = 1024)]
    pub store_max_batch: usize,

    /// Writes queued for the store's writer before rooms wait.
    #[arg(long, env = "STORE_QUEUE", default_value_t = 8192)]
    pub store_queue: usize,

    /// A room is snapshotted after this many events (its journal is replayed from there at start).
    #[arg(long, env = "SNAPSHOT_EVERY", default_value_t = 100)]
    pub snapshot_every: u64,

    /// Redis to run as one cluster with other instances (e.g. `redis://127.0.0.1:6379`);
    /// unset, this instance runs alone.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so several clusters can share a Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "gamehub")]
    pub redis_prefix: String,

    /// Seconds an instance stays in the room directory without a heartbeat
    /// (heartbeats come every third of it); a dead instance's rooms leave the lobby after it.
    #[arg(long, env = "DIRECTORY_TTL_SECS", default_value_t = 6)]
    pub directory_ttl_secs: u64,

    /// Milliseconds a call forwarded to another instance may take before it answers `unavailable`.
    #[arg(long, env = "FORWARD_TIMEOUT_MS", default_value_t = 3000)]
    pub forward_timeout_ms: u64,

    /// Cluster messages (broadcasts, membership changes, forwarded calls and
    /// their replies) each Redis subscription holds while this instance is
    /// busy; more arriving meanwhile are lost, with a warning and a metric.
    #[arg(long, env = "REDIS_PUBSUB_BUFFER", default_value_t = 8192)]
    pub redis_pubsub_buffer: usize,

    /// Secret that signs tokens (at least 32 bytes). When unset, one is
    /// generated once and kept in the database so tokens survive restarts;
    /// every instance of a cluster must be given the same one.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// How long a guest token stays valid, in seconds.
    #[arg(long, env = "TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub token_ttl_secs: u64,

    /// This instance's stable name (the StatefulSet ordinal in k8s).
    #[arg(long, env = "NODE_ID", default_value = "node-0")]
    pub node_id: String,

    /// Origins allowed by CORS, comma-separated; `*` allows any.
    #[arg(long, env = "CORS_ORIGINS", default_value = "*", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Most rooms this instance hosts at once; more answer `capacity`.
    #[arg(long, env = "MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Largest event payload accepted, in bytes; larger answer `payload_too_large`.
    #[arg(long, env = "MAX_PAYLOAD_BYTES", default_value_t = 16 * 1024)]
    pub max_payload_bytes: usize,

    /// Bytes each WebSocket reads from the network at a time, and keeps
    /// allocated while idle; a larger message is read in several steps.
    #[arg(long, env = "WS_READ_BUFFER_BYTES", default_value_t = 1024)]
    pub ws_read_buffer_bytes: usize,

    /// Events per second one socket may send, on average.
    #[arg(long, env = "RATE_LIMIT_PER_SEC", default_value_t = 30)]
    pub rate_limit_per_sec: u32,

    /// Events one socket may send in a burst above the average.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 60)]
    pub rate_limit_burst: u32,

    /// Requests a room's mailbox holds before answering `rate_limited`.
    #[arg(long, env = "ROOM_MAILBOX", default_value_t = 256)]
    pub room_mailbox: usize,

    /// Events a room keeps in memory for `room:sync`; older gaps get the state instead.
    #[arg(long, env = "EVENT_LOG_LEN", default_value_t = 1024)]
    pub event_log_len: usize,

    /// Seconds a disconnected player keeps their seat before forfeiting.
    #[arg(long, env = "RECONNECT_GRACE_SECS", default_value_t = 60)]
    pub reconnect_grace_secs: u64,

    /// Seconds a finished room stays listed (and its players can read the end) before it closes.
    #[arg(long, env = "ROOM_LINGER_SECS", default_value_t = 300)]
    pub room_linger_secs: u64,

    /// socket.io parser: json or msgpack.
    #[arg(long, env = "SOCKETIO_PARSER", value_enum, default_value = "json")]
    pub socketio_parser: ParserKind,

    /// Seconds a shutdown may take before the process exits anyway.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 10)]
    pub shutdown_timeout_secs: u64,

    /// Delay, in ms, that `server:draining` tells clients to wait before reconnecting.
    #[arg(long, env = "DRAIN_RETRY_MS", default_value_t = 2000)]
    pub drain_retry_ms: u64,

    /// Log format: text or json. Levels come from RUST_LOG (default `info`).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// A setting whose value cannot work, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct ConfigError {
    /// Environment variable name of the setting.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Checks what clap's types cannot: ranges and relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name, reason: &str| {
            Err(ConfigError {
                name,
                reason: reason.to_string(),
            })
        };
        if let Some(secret) = &self.secret_key
            && secret.len() < 32
        {
            return bad("SECRET_KEY", "must be at least 32 bytes long");
        }
        if self.token_ttl_secs == 0 {
            return bad("TOKEN_TTL_SECS", "must be at least 1");
        }
        if self.node_id.is_empty() || self.node_id.len() > 64 {
            return bad("NODE_ID", "must be 1..64 characters");
        }
        if self.max_rooms == 0 {
            return bad("MAX_ROOMS", "must be at least 1");
        }
        if !(64..=1024 * 1024).contains(&self.max_payload_bytes) {
            return bad("MAX_PAYLOAD_BYTES", "must be between 64 and 1048576");
        }
        if !(64..=1024 * 1024).contains(&self.ws_read_buffer_bytes) {
            return bad("WS_READ_BUFFER_BYTES", "must be between 64 and 1048576");
        }
        if self.rate_limit_per_sec == 0 {
            return bad("RATE_LIMIT_PER_SEC", "must be at least 1");
        }
        if self.rate_limit_burst == 0 {
            return bad("RATE_LIMIT_BURST", "must be at least 1");
        }
        if self.directory_ttl_secs < 2 {
            return bad("DIRECTORY_TTL_SECS", "must be at least 2");
        }
        if self.forward_timeout_ms == 0 {
            return bad("FORWARD_TIMEOUT_MS", "must be at least 1");
        }
        if !(64..=1 << 20).contains(&self.redis_pubsub_buffer) {
            return bad("REDIS_PUBSUB_BUFFER", "must be between 64 and 1048576");
        }
        if self.redis_prefix.is_empty() {
            return bad("REDIS_PREFIX", "must not be empty");
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return bad("REDIS_URL", "must start with redis:// or rediss://");
        }
        if self.redis_url.is_some() && self.secret_key.is_none() {
            return bad(
                "SECRET_KEY",
                "must be set (the same on every instance) when REDIS_URL is set",
            );
        }
        if self.store_max_batch == 0 {
            return bad("STORE_MAX_BATCH", "must be at least 1");
        }
        if self.store_queue == 0 {
            return bad("STORE_QUEUE", "must be at least 1");
        }
        if self.snapshot_every == 0 {
            return bad("SNAPSHOT_EVERY", "must be at least 1");
        }
        if self.room_mailbox == 0 {
            return bad("ROOM_MAILBOX", "must be at least 1");
        }
        if self.event_log_len == 0 {
            return bad("EVENT_LOG_LEN", "must be at least 1");
        }
        if self.reconnect_grace_secs == 0 {
            return bad("RECONNECT_GRACE_SECS", "must be at least 1");
        }
        if self.cors_origins.is_empty() {
            return bad("CORS_ORIGINS", "name at least one origin, or `*`");
        }
        Ok(())
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        use clap::{Command, FromArgMatches};
        let matches = Config::augment_args(Command::new("gamehub"))
            .no_binary_name(true)
            .try_get_matches_from(std::iter::empty::<String>())
            .expect("defaults parse");
        Config::from_arg_matches(&matches).expect("defaults parse")
    }

    /// How the store opens the database.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            path: self.db_path.clone(),
            sync: self.db_sync,
            max_batch: self.store_max_batch,
            queue: self.store_queue,
            max_size_mb: self.db_max_size_mb,
            // What a room keeps in memory for `room:sync` is what its journal keeps on disk.
            journal_keep: self.event_log_len as u64,
            ..StoreOptions::new(&self.db_path)
        }
    }

    /// How the cluster connects, when `REDIS_URL` is set.
    pub fn cluster_options(&self) -> Option<crate::cluster::ClusterOptions> {
        self.redis_url
            .as_ref()
            .map(|url| crate::cluster::ClusterOptions {
                url: url.clone(),
                prefix: self.redis_prefix.clone(),
                node: self.node_id.as_str().into(),
                directory_ttl: Duration::from_secs(self.directory_ttl_secs),
                forward_timeout: Duration::from_millis(self.forward_timeout_ms),
                pubsub_buffer: self.redis_pubsub_buffer,
            })
    }

    /// The reconnect grace period.
    pub fn reconnect_grace(&self) -> Duration {
        Duration::from_secs(self.reconnect_grace_secs)
    }

    /// How long a finished room stays.
    pub fn room_linger(&self) -> Duration {
        Duration::from_secs(self.room_linger_secs)
    }

    /// The effective settings as `NAME=value` lines, the secret masked.
    pub fn describe(&self) -> String {
        let secret = match &self.secret_key {
            Some(_) => "***",
            None => "(generated, kept in the database)",
        };
        format!(
            "HOST={} PORT={} DB_PATH={} DB_SYNC={} DB_MAX_SIZE_MB={} STORE_MAX_BATCH={} STORE_QUEUE={} \
             SNAPSHOT_EVERY={} REDIS_URL={} REDIS_PREFIX={} DIRECTORY_TTL_SECS={} FORWARD_TIMEOUT_MS={} REDIS_PUBSUB_BUFFER={} SECRET_KEY={} TOKEN_TTL_SECS={} NODE_ID={} CORS_ORIGINS={} \
             MAX_ROOMS={} MAX_PAYLOAD_BYTES={} WS_READ_BUFFER_BYTES={} RATE_LIMIT_PER_SEC={} RATE_LIMIT_BURST={} \
             ROOM_MAILBOX={} EVENT_LOG_LEN={} RECONNECT_GRACE_SECS={} ROOM_LINGER_SECS={} \
             SOCKETIO_PARSER={} SHUTDOWN_TIMEOUT_SECS={} DRAIN_RETRY_MS={} LOG_FORMAT={}",
            self.host,
            self.port,
            self.db_path.display(),
            spelled(self.db_sync),
            self.db_max_size_mb,
            self.store_max_batch,
            self.store_queue,
            self.snapshot_every,
            self.redis_url
                .as_deref()
                .map(mask_password)
                .unwrap_or_else(|| "(unset: single instance)".into()),
            self.redis_prefix,
            self.directory_ttl_secs,
            self.forward_timeout_ms,
            self.redis_pubsub_buffer,
            secret,
            self.token_ttl_secs,
            self.node_id,
            self.cors_origins.join(","),
            self.max_rooms,
            self.max_payload_bytes,
            self.ws_read_buffer_bytes,
            self.rate_limit_per_sec,
            self.rate_limit_burst,
            self.room_mailbox,
            self.event_log_len,
            self.reconnect_grace_secs,
            self.room_linger_secs,
            spelled(self.socketio_parser),
            self.shutdown_timeout_secs,
            self.drain_retry_ms,
            spelled(self.log_format),
        )
    }
}

/// `redis://user:secret@host` printed as `redis://user:***@host`.
pub(crate) fn mask_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            }
        }
        _ => url.to_string(),
    }
}

/// The spelling of an enum setting as the operator writes it (`json`, not `Json`).
fn spelled<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_describe_masks_the_secret() {
        let mut c = Config::defaults();
        assert_eq!(c.port, 3000);
        c.validate().unwrap();
        c.secret_key = Some("s".repeat(40));
        let text = c.describe();
        assert!(text.contains("SECRET_KEY=***"), "{text}");
        assert!(!text.contains("ssss"));
        assert!(text.contains("SOCKETIO_PARSER=json"));
    }

    #[test]
    fn redis_passwords_are_masked() {
        assert_eq!(
            mask_password("redis://u:pw@h:6379/0"),
            "redis://u:***@h:6379/0"
        );
        assert_eq!(mask_password("redis://pw@h"), "redis://***@h");
        assert_eq!(mask_password("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn a_short_secret_is_refused_by_name() {
        let mut c = Config::defaults();
        c.secret_key = Some("short".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
    }
}
