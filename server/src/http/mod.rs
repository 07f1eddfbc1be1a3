//! The HTTP API (`/api/v1`), health probes and metrics, as one axum router.

mod api;
mod error;
mod health;

pub use error::AppError;

use crate::hub::Hub;
use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;

/// Largest HTTP request body the API reads (a guest name needs far less).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Every HTTP route of the hub (socket.io is layered on top in `server::run`).
pub fn router(hub: Hub, metrics: PrometheusHandle) -> Router {
    let api = Router::new()
        .route("/api/v1/auth/guest", post(api::guest))
        .route("/api/v1/rooms", get(api::rooms))
        .route("/api/v1/leaderboard", get(api::leaderboard))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(hub);
    api.route(
        "/metrics",
        get(move || std::future::ready(metrics.render())),
    )
}
