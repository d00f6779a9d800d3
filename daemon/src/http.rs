//! HTTP: `GET /health` (JSON) and `GET /metrics` (Prometheus text).

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

use crate::topology::Shared;

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

pub async fn serve(listener: tokio::net::TcpListener, shared: Shared, stop: CancellationToken) {
    let app = router(shared);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "HTTP server failed.");
    }
}

async fn health(State(s): State<Shared>) -> impl IntoResponse {
    let m = &s.metrics;
    let sinks: Vec<_> = m
        .sinks
        .iter()
        .map(|k| {
            let written = k.batches_written.load(Relaxed);
            let errors = k.write_errors_retryable.load(Relaxed);
            let up = k.up.load(Relaxed) || (written == 0 && errors == 0);
            serde_json::json!({"name": k.name, "type": k.kind, "up": up, "rows_written": k.rows_written.load(Relaxed)})
        })
        .collect();
    let degraded = sinks.iter().any(|s| s["up"] == false);
    Json(serde_json::json!({
        "status": if degraded { "degraded" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "mqtt_connected": m.mqtt_connected.load(Relaxed),
        "devices": s.registry.len(),
        "readings_accepted": m.accepted_total(),
        "readings_rejected": m.rejected_total(),
        "sinks": sinks,
    }))
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}
