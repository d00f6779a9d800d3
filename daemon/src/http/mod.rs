//! HTTP: `GET /` (the technician's web page), `GET /health` (JSON), `GET /metrics`
//! (Prometheus text), and the API of CONTRACT §5 (docs/api.md).

mod api;
mod page;

pub use api::View;

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

use crate::topology::Shared;

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/", get(page::index))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/devices", get(api::devices))
        .route("/api/v1/devices/{site}/{id}", get(api::device))
        .route("/api/v1/compliance", get(api::compliance))
        .route("/api/v1/toilets.geojson", get(api::toilets))
        .route("/api/v1/silences", post(add_silence))
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

/// Active alerts (with whether a silence holds them back), recently resolved ones, what each
/// channel still has to deliver, and runtime silences.
async fn alerts(State(s): State<Shared>) -> impl IntoResponse {
    let Some(store) = &s.alerts else {
        return Json(
            serde_json::json!({"active": [], "recent": [], "outbox": {}, "silences": [], "configured": false}),
        );
    };
    let st = store.lock().unwrap_or_else(|e| e.into_inner());
    let active: Vec<_> = st
        .active
        .values()
        .map(|a| {
            let mut v = serde_json::to_value(&a.alert).unwrap_or_default();
            v["silenced"] = serde_json::json!(a.silenced);
            v
        })
        .collect();
    let outbox: serde_json::Map<String, serde_json::Value> = st
        .outbox
        .iter()
        .map(|(k, q)| (k.clone(), serde_json::json!(q.len())))
        .collect();
    Json(serde_json::json!({
        "active": active,
        "recent": st.recent,
        "outbox": outbox,
        "silences": st.silences,
        "configured": true,
    }))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSilence {
    #[serde(default)]
    sites: Vec<String>,
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    rules: Vec<String>,
    /// From now for this long, unless `starts` and `ends` are given.
    duration_mins: Option<u32>,
    starts: Option<String>,
    ends: Option<String>,
    #[serde(default)]
    comment: String,
}

/// A technician's maintenance window: matching alerts are tracked but not delivered.
async fn add_silence(
    State(s): State<Shared>,
    Json(n): Json<NewSilence>,
) -> Result<Json<crate::config::alerts::SilenceConfig>, (axum::http::StatusCode, String)> {
    use axum::http::StatusCode;
    let Some(store) = &s.alerts else {
        return Err((
            StatusCode::NOT_FOUND,
            "no [[alerts.rules]] configured".into(),
        ));
    };
    let now = jiff::Timestamp::now();
    let parse = |t: &str| {
        t.parse::<jiff::Timestamp>().map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("{t:?} is not an RFC 3339 time"),
            )
        })
    };
    let (starts, ends) = match (&n.starts, &n.ends, n.duration_mins) {
        (Some(a), Some(b), None) => (parse(a)?, parse(b)?),
        (None, None, Some(m)) if m > 0 => (
            now,
            now.checked_add(jiff::SignedDuration::from_mins(i64::from(m)))
                .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?,
        ),
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "give duration_mins, or starts and ends".into(),
            ))
        }
    };
    if ends <= starts {
        return Err((StatusCode::BAD_REQUEST, "ends must be after starts".into()));
    }
    if n.sites.is_empty() && n.devices.is_empty() && n.rules.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "name sites, devices or rules: a silence of everything is a config change".into(),
        ));
    }
    let silence = crate::config::alerts::SilenceConfig {
        sites: n.sites,
        devices: n.devices,
        rules: n.rules,
        starts: starts.to_string(),
        ends: ends.to_string(),
        comment: n.comment,
    };
    tracing::info!(?silence, "Silence added.");
    store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .silences
        .push(silence.clone());
    s.alerts_changed.notify_one();
    Ok(Json(silence))
}
