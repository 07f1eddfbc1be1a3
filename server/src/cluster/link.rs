//! The Redis connections, and the watch that says whether Redis answers.

use super::Cluster;
use anyhow::Context;
use fred::clients::{Client, SubscriberClient};
use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
use fred::types::RespVersion;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often Redis is pinged, and how long a ping may take.
const WATCH_EVERY: Duration = Duration::from_millis(1000);

fn builder(url: &str) -> anyhow::Result<Builder> {
    let mut config =
        Config::from_url(url).with_context(|| format!("invalid setting REDIS_URL: `{url}`"))?;
    // The socket.io adapter needs RESP3; fred does not read it from the URL.
    config.version = RespVersion::RESP3;
    let mut builder = Builder::from_config(config);
    // Reconnect forever, every half second; commands give up after a second
    // instead of queueing while Redis is away.
    builder.set_policy(ReconnectPolicy::new_constant(0, 500));
    builder.with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1));
    builder.with_connection_config(|c| {
        c.connection_timeout = Duration::from_secs(2);
        c.max_command_attempts = 1;
    });
    Ok(builder)
}

/// The command client and the subscriber for this instance's own channels.
pub(super) async fn connect(url: &str) -> anyhow::Result<(Client, SubscriberClient)> {
    let b = builder(url)?;
    let client = b.build().context("invalid setting REDIS_URL")?;
    client
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={url}"))?;
    let subscriber = b
        .build_subscriber_client()
        .context("invalid setting REDIS_URL")?;
    subscriber
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={url}"))?;
    Ok((client, subscriber))
}

/// A subscriber client for the socket.io adapter. Once the adapter has
/// subscribed, call [`SubscriberClient::manage_subscriptions`] on a clone so
/// it subscribes again after Redis comes back (not before: with nothing to
/// subscribe to yet, its first round would send an empty SUBSCRIBE).
pub async fn connect_adapter_client(url: &str) -> anyhow::Result<SubscriberClient> {
    let client = builder(url)?
        .build_subscriber_client()
        .context("invalid setting REDIS_URL")?;
    client
        .init()
        .await
        .with_context(|| format!("cannot reach Redis at REDIS_URL={url}"))?;
    Ok(client)
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
            }
        }
    });
}
