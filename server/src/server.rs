//! [`run`]: start every part of the hub on a bound listener and serve until shutdown.

use crate::auth::Tokens;
use crate::cluster::{self, Cluster};
use crate::config::{Config, ParserKind};
use crate::hub::Hub;
use crate::room::Rooms;
use crate::room::{Fanout, IoFanout};
use crate::store::Store;
use crate::store::backup::{BackupError, DbLock};
use crate::{http, socket, telemetry};
use anyhow::Context;
use axum::http::HeaderValue;
use axum::serve::ListenerExt;
use socketioxide::adapter::Adapter;
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};
use socketioxide_redis::{FredAdapter, RedisAdapterCtr};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::{info, warn};

/// Largest socket.io packet the transports accept at all. Events between
/// `MAX_PAYLOAD_BYTES` and this get a `payload_too_large` ack; beyond it the
/// transport closes the connection, as socket.io servers do.
const TRANSPORT_CAP_BYTES: usize = 1024 * 1024;

/// Tries at subscribing to the cluster's channels at start.
const SUBSCRIBE_ATTEMPTS: u32 = 3;

/// How long `server:draining` gets to reach clients before sockets are closed.
const DRAIN_NOTICE: Duration = Duration::from_millis(300);

/// Serves the hub on `listener` until `shutdown` resolves, then drains:
/// not ready, `server:draining` to every socket, stop accepting, stop rooms,
/// all within `SHUTDOWN_TIMEOUT_SECS`. Holds the lock file `<DB_PATH>.lock`
/// until it returns, so that a second server and `gamehub restore` keep off
/// the database.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    info!(config = %config.describe(), "starting gamehub {}", env!("CARGO_PKG_VERSION"));

    let _db_lock = DbLock::acquire(&config.db_path).or_else(|e| match e {
        BackupError::Locked { .. } => Err(anyhow::Error::new(e)),
        e => Err(e).with_context(|| {
            format!(
                "cannot open the database at DB_PATH={}",
                config.db_path.display()
            )
        }),
    })?;
    let store = Store::open(&config.store_options()).with_context(|| {
        format!(
            "cannot open the database at DB_PATH={}",
            config.db_path.display()
        )
    })?;
    let secret = match &config.secret_key {
        Some(secret) => secret.clone(),
        None => store
            .setting_or_insert("secret_key", random_secret())
            .await
            .context("cannot read or keep the generated SECRET_KEY in the database")?,
    };
    let tokens = Tokens::new(
        secret.as_bytes(),
        Duration::from_secs(config.token_ttl_secs),
    );
    let metrics = telemetry::metrics();

    let transport_cap = TRANSPORT_CAP_BYTES.max(config.max_payload_bytes * 2);
    let builder = SocketIo::builder()
        .max_payload(transport_cap as u64)
        .ws_max_message_size(transport_cap)
        .ws_read_buffer_size(config.ws_read_buffer_bytes);
    let builder = match config.socketio_parser {
        ParserKind::Json => builder.with_parser(ParserConfig::common()),
        ParserKind::Msgpack => builder.with_parser(ParserConfig::msgpack()),
    };
    let options = config.cluster_options();
    let mut parts = Parts {
        listener,
        config,
        store,
        tokens,
        metrics,
        cluster: None,
    };
    let Some(options) = options else {
        let register = |io: &SocketIo, hub: Hub| {
            socket::register(io, hub);
            std::future::ready(Ok(()))
        };
        return serve(
            parts,
            builder,
            Arc::new(AtomicBool::new(true)),
            register,
            shutdown,
        )
        .await;
    };

    // A cluster: socket.io broadcasts cross instances through the Redis adapter.
    let cluster = Cluster::connect(options.clone()).await?;
    let adapter_client = cluster::connect_adapter_client(&options).await?;
    let adapter_config = cluster::adapter_config(&options);
    let resubscriber = adapter_client.clone();
    let adapter = RedisAdapterCtr::new_with_fred_config(adapter_client, adapter_config)
        .await
        .context("cannot set up the socket.io Redis adapter")?;
    let builder = builder.with_adapter::<FredAdapter<_>>(adapter);
    let up = cluster.up_flag();
    parts.cluster = Some(cluster);
    let register = |io: &SocketIo<FredAdapter<_>>, hub: Hub| {
        let io = io.clone();
        async move {
            // Subscribing can time out on a machine busy at start; registering
            // the namespace again replaces it, so a few tries are safe.
            let mut attempt = 1;
            loop {
                match socket::register(&io, hub.clone()).await {
                    Ok(()) => break,
                    Err(e) if attempt < SUBSCRIBE_ATTEMPTS => {
                        warn!(cause = %e, attempt, "subscribing to the cluster's channels failed; trying again");
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => {
                        return Err(anyhow::anyhow!(
                            "cannot subscribe to the cluster's channels: {e}"
                        ));
                    }
                }
            }
            cluster::keep_subscribed(resubscriber);
            Ok(())
        }
    };
    serve(parts, builder, up, register, shutdown).await
}

/// Everything `run` prepared that does not depend on the socket.io adapter.
struct Parts {
    listener: TcpListener,
    config: Config,
    store: Store,
    tokens: Tokens,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    cluster: Option<Cluster>,
}

/// Serves with the socket.io adapter of `builder` (local, or a cluster's).
/// `register` installs the socket handlers (and, for a cluster, subscribes).
async fn serve<A, R, F>(
    parts: Parts,
    builder: SocketIoBuilder<A>,
    cluster_up: Arc<AtomicBool>,
    register: R,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    A: Adapter,
    R: FnOnce(&SocketIo<A>, Hub) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let Parts {
        listener,
        config,
        store,
        tokens,
        metrics,
        cluster,
    } = parts;
    let (io_layer, io) = builder.build_layer();
    let fanout: Arc<dyn Fanout> = Arc::new(IoFanout::new(
        io.clone(),
        config.node_id.as_str().into(),
        cluster_up,
    ));

    let stop_rooms = CancellationToken::new();
    let tasks = TaskTracker::new();
    let rooms = Rooms::new(
        &config,
        fanout,
        store.clone(),
        stop_rooms.clone(),
        tasks.clone(),
    );
    let shutdown_timeout = Duration::from_secs(config.shutdown_timeout_secs);
    let drain_retry_ms = config.drain_retry_ms;
    let cors = cors_layer(&config.cors_origins)?;
    let recovered = rooms
        .recover()
        .await
        .context("cannot load unfinished rooms from the database")?;
    if recovered > 0 {
        info!(
            rooms = recovered,
            "recovered unfinished rooms; their players have the reconnect grace period to return"
        );
    }
    if let Some(cluster) = &cluster {
        cluster
            .start(rooms.clone(), stop_rooms.clone())
            .await
            .context("cannot start the cluster link")?;
    }
    let hub = Hub::new(config, rooms, store.clone(), tokens, cluster);
    register(&io, hub.clone()).await?;

    // Sessions keep their opening request's head: it must not hold on to hyper's read buffer.
    let app = http::router(hub.clone(), metrics)
        .layer(io_layer)
        .layer(axum::middleware::map_request(socket::detach_head))
        .layer(cors);

    let addr = listener.local_addr()?;
    info!("listening on http://{addr}");

    // Once `shutdown` fires: drain, then let axum stop accepting. The whole
    // shutdown shares one deadline, counted from the signal.
    let stop_accepting = CancellationToken::new();
    let drained = stop_accepting.clone();
    let draining_hub = hub.clone();
    let draining_io = io.clone();
    let (signalled_at, signal) = tokio::sync::watch::channel(None::<Instant>);
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: draining");
        let _ = signalled_at.send(Some(Instant::now())); // serve() still holds the receiver
        draining_hub.start_draining();
        socket::announce_draining(&draining_io, drain_retry_ms).await;
        tokio::time::sleep(DRAIN_NOTICE).await;
        // Only this instance's sockets: the others keep serving.
        if let Err(e) = draining_io.local().disconnect().await {
            warn!(cause = %e, "could not close every socket");
        }
        drained.cancel();
    });
    let deadline_of = |signal: &tokio::sync::watch::Receiver<Option<Instant>>| {
        signal.borrow().map_or_else(
            || Instant::now() + shutdown_timeout,
            |at| at + shutdown_timeout,
        )
    };
    let mut signal_for_serve = signal.clone();
    let serve_deadline = async move {
        match signal_for_serve.wait_for(Option::is_some).await.map(|t| *t) {
            Ok(Some(at)) => tokio::time::sleep_until(at + shutdown_timeout).await,
            _ => std::future::pending().await,
        }
    };

    // Events are small and must leave at once: without TCP_NODELAY, Nagle's
    // algorithm and delayed ACKs add ~40 ms to some pushes.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true); // a socket that refuses it still works, only slower
    });
    let serve = axum::serve(listener, app).with_graceful_shutdown(stop_accepting.cancelled_owned());
    tokio::select! {
        result = serve => result.context("serving HTTP")?,
        _ = serve_deadline => warn!("connections still open at SHUTDOWN_TIMEOUT_SECS; closing them"),
    }

    // The rest of the shutdown keeps to the same deadline.
    let deadline = deadline_of(&signal);
    stop_rooms.cancel();
    tasks.close();
    if tokio::time::timeout_at(deadline, tasks.wait())
        .await
        .is_err()
    {
        warn!("some rooms had not stopped at SHUTDOWN_TIMEOUT_SECS");
    }
    // Every acknowledged move is already committed; this waits for anything still queued.
    match tokio::time::timeout_at(deadline, store.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(cause = %e, "could not flush the database"),
        Err(_) => warn!("the database writer had not finished at SHUTDOWN_TIMEOUT_SECS"),
    }
    info!("stopped");
    Ok(())
}

fn cors_layer(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .with_context(|| format!("invalid setting CORS_ORIGINS: bad origin `{o}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any))
}

fn random_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
