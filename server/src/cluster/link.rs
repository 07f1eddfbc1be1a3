//! The Redis connections, and the watch that says whether Redis answers.

use super::{Cluster, ClusterOptions};
use crate::config::mask_password;
use anyhow::Context;
use fred::clients::{Client, SubscriberClient};
use fred::prelude::{
    Builder, ClientLike, Config, EventInterface, PubsubInterface, ReconnectPolicy,
};
use fred::types::RespVersion;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long one Redis command may take before it fails (instead of queueing
/// while Redis is away); generous enough for a busy machine at start.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// How often Redis is pinged, and how long a ping may take.
const WATCH_EVERY: Duration = Duration::from_millis(1000);

/// How long fred waits between attempts to reconnect.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

fn builder(url: &str) -> anyhow::Result<Builder> {
    let mut config = Config::from_url(url)
        .with_context(|| format!("invalid setting REDIS_URL: `{}`", mask_password(url)))?;
    // The socket.io adapter needs RESP3; fred does not read it from the URL.
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    // Reconnect forever, every half second; commands give up after
    // COMMAND_TIMEOUT instead of queueing while Redis is away.
    builder.set_policy(ReconnectPolicy::new_constant(
        0,
        RECONNECT_EVERY.as_millis() as u32,
    ));
    builder.with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT);
    builder.with_connection_config(|c| {
        c.connection_timeout = Duration::from_secs(2);
        c.max_command_attempts = 1;
    });
    Ok(builder)
}

/// A builder for subscribers. fred hands each pub/sub message to its
/// readers through a broadcast channel of fixed size; a reader further
/// behind than that (this instance busy) loses the oldest. fred's default,
/// 32, was overrun by a burst of a few hundred forwarded joins.
fn subscriber_builder(options: &ClusterOptions) -> anyhow::Result<Builder> {
    let mut builder = builder(&options.url)?;
    builder.with_performance_config(|p| p.broadcast_channel_capacity = options.pubsub_buffer);
    Ok(builder)
}

/// The command client and the subscriber for this instance's own channels.
pub(super) async fn connect(
    options: &ClusterOptions,
) -> anyhow::Result<(Client, SubscriberClient)> {
    let url = &options.url;
    let client = builder(url)?.build().context("invalid setting REDIS_URL")?;
    client
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={}", mask_password(url)))?;
    let subscriber = subscriber_builder(options)?
        .build_subscriber_client()
        .context("invalid setting REDIS_URL")?;
    subscriber
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={}", mask_password(url)))?;
    Ok((client, subscriber))
}

/// A subscriber client for the socket.io adapter. Pass a clone to
/// [`keep_subscribed`] once the adapter has subscribed.
pub async fn connect_adapter_client(options: &ClusterOptions) -> anyhow::Result<SubscriberClient> {
    let url = &options.url;
    let client = subscriber_builder(options)?
        .build_subscriber_client()
        .context("invalid setting REDIS_URL")?;
    client
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={}", mask_password(url)))?;
    Ok(client)
}

/// Subscribes `client` again to everything it tracks after each reconnect.
/// fred's own `manage_subscriptions` sends SUBSCRIBE and PSUBSCRIBE even when
/// it has no such channels, which Redis refuses, and then never restores the
/// sharded channels the socket.io adapter uses; this skips what is empty.
pub fn keep_subscribed(client: SubscriberClient) {
    tokio::spawn(async move {
        let mut reconnects = client.reconnect_rx();
        while reconnects.recv().await.is_ok() {
            if let Err(e) = resubscribe(&client).await {
                warn!(cause = %e, "could not subscribe again after Redis came back; retrying at the next reconnect");
            }
        }
    });
}

async fn resubscribe(client: &SubscriberClient) -> fred::prelude::FredResult<()> {
    fn names<T: ToString>(set: std::collections::BTreeSet<T>) -> Vec<String> {
        set.into_iter().map(|s| s.to_string()).collect()
    }
    let channels = names(client.tracked_channels());
    if !channels.is_empty() {
        client.subscribe(channels).await?;
    }
    let patterns = names(client.tracked_patterns());
    if !patterns.is_empty() {
        client.psubscribe(patterns).await?;
    }
    // One by one: sharded channels of several hash slots may not share a command.
    for channel in names(client.tracked_shard_channels()) {
        client.ssubscribe(channel).await?;
    }
    Ok(())
}

/// Pings Redis every second and keeps [`Cluster::is_up`] true to that.
pub(super) fn watch(cluster: Cluster, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let inner = &cluster.inner;
            let ping = tokio::time::timeout(WATCH_EVERY, inner.client.ping::<String>(None)).await;
            let sub_ok = inner.subscriber.is_connected();
            let up = matches!(ping, Ok(Ok(_))) && sub_ok;
            let was = inner.up.swap(up, Ordering::AcqRel);
            if was && !up {
                warn!(
                    "Redis does not answer: not ready; forwarded calls answer unavailable; local rooms go on"
                );
            } else if !was && up {
                info!("Redis answers again: cluster delivery resumes");
                // Redis may have come back empty: give every instance a full
                // directory TTL to announce itself again before any counts as
                // gone, counted from when the slowest could have noticed (its
                // reconnect attempt and its own ping come up to
                // RECONNECT_EVERY + WATCH_EVERY after ours) and beaten once.
                let ttl = inner.options.directory_ttl;
                cluster.directory_resumed(RECONNECT_EVERY + WATCH_EVERY + ttl / 3);
            }
        }
    });
}
