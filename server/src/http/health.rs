//! Liveness and readiness probes.

use crate::hub::Hub;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// How long the storage check may take before it counts as failed.
const STORAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health/live`: the process can serve at all.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "live"}))
}

/// `GET /health/ready`: 200 when every check passes, else 503 naming the failing ones.
pub async fn ready(State(hub): State<Hub>) -> (StatusCode, Json<Value>) {
    let mut checks = Map::new();
    let storage = match tokio::time::timeout(STORAGE_CHECK_TIMEOUT, hub.store().check_ready()).await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("failing: {e}")),
        Err(_) => Err("failing: no answer within 2 s".to_string()),
    };
    let accepting = if hub.is_draining() {
        Err("failing: draining for shutdown".to_string())
    } else {
        Ok(())
    };
    let mut results = vec![("storage", storage), ("accepting", accepting)];
    if let Some(cluster) = hub.cluster() {
        let redis = if cluster.is_up() {
            Ok(())
        } else {
            Err("failing: Redis does not answer; other instances cannot be reached".to_string())
        };
        results.push(("redis", redis));
    }
    let mut ready = true;
    for (name, result) in results {
        ready &= result.is_ok();
        checks.insert(
            name.into(),
            Value::String(result.err().unwrap_or_else(|| "ok".into())),
        );
    }
    let status = if ready { "ready" } else { "not_ready" };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({"status": status, "checks": checks})))
}
