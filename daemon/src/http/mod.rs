//! HTTP: `GET /` (the technician's web page), `GET /health` (JSON), `GET /metrics`
//! (Prometheus text), and the API of CONTRACT §5 (docs/api.md), behind `auth` (tokens, login
//! session, Host check) and `server` (connection limits and timeouts); the public listener
//! serves only the toilet feed. Silences: `silences.rs`; device commands: `commands.rs`;
//! adopting a pending device: `adopt.rs`; reloading the configuration: `reload.rs`.

mod adopt;
mod api;
pub mod auth;
mod commands;
mod page;
mod reload;
mod reports;
pub mod server;
mod silences;

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tokio_util::sync::CancellationToken;

use crate::gateway::Shared;

/// Request bodies larger than this are refused (413).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers read: the gateway's view, who may call, the listeners' counters.
#[derive(Clone)]
pub struct Api {
    pub gw: Shared,
    pub auth: std::sync::Arc<auth::Auth>,
    pub http: std::sync::Arc<server::HttpMetrics>,
    /// Commands to devices through the `[mqtt]` broker (none without one).
    pub commands: Option<std::sync::Arc<crate::sinks::commands::Commands>>,
}

impl std::ops::Deref for Api {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.gw
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("device commands: {0}")]
    Commands(#[from] crate::sinks::alerts::ChannelError),
    #[error("HTTP listener on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Bind the main listener (and the public one, if configured) and serve until `stop`;
/// returns the main listener's address.
pub async fn start(
    config: &crate::config::Config,
    gw: Shared,
    stop: CancellationToken,
) -> Result<std::net::SocketAddr, StartError> {
    let listen = config.daemon.http_listen;
    let api = Api {
        gw,
        auth: std::sync::Arc::new(auth::Auth::from_config(&config.http, listen)?),
        http: std::sync::Arc::default(),
        commands: match &config.mqtt {
            Some(m) => Some(std::sync::Arc::new(crate::sinks::commands::Commands::new(
                m,
            )?)),
            None => None,
        },
    };
    if config.http.insecure_no_auth && !listen.ip().is_loopback() {
        tracing::warn!(listen = %listen,
            "http.insecure_no_auth: the API, page and metrics are open to anyone who reaches this address.");
    }
    let bind = |addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let listener = bind(listen).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: listen,
        source,
    })?;
    let limits = server::Limits::from_config(&config.http);
    let metrics = std::sync::Arc::clone(&api.http);
    tokio::spawn(server::serve(
        listener,
        router(api.clone()),
        limits,
        std::sync::Arc::clone(&metrics),
        false,
        stop.clone(),
    ));
    if let Some(public) = config.daemon.public_listen {
        let l = bind(public).await?;
        tracing::info!(listen = %public, "Public HTTP listener (toilet feed only).");
        tokio::spawn(server::serve(
            l,
            public_router(api),
            limits,
            metrics,
            true,
            stop,
        ));
    }
    Ok(addr)
}

/// The main listener: everything, behind the guard.
pub fn router(shared: Api) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/health/live", get(live))
        .route("/metrics", get(metrics))
        .route("/", get(page::index))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/devices", get(api::devices))
        .route("/api/v1/devices/pending", get(api::pending))
        .route(
            "/api/v1/devices/pending/{site}/{id}/adopt",
            post(adopt::adopt),
        )
        .route("/api/v1/devices/{site}/{id}", get(api::device))
        .route("/api/v1/devices/{site}/{id}/cmd", post(commands::send))
        .route("/api/v1/reload", post(reload::reload))
        .route("/api/v1/compliance", get(api::compliance))
        .route("/api/v1/toilets.geojson", get(api::toilets))
        .route("/api/v1/reports", get(reports::list))
        .route("/api/v1/reports/{name}", get(reports::file))
        .route("/api/v1/silences", post(silences::add))
        .route("/api/v1/silences/{id}", delete(silences::remove))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

/// The public listener: the read-only public feed, nothing else, no authentication.
pub fn public_router(shared: Api) -> Router {
    Router::new()
        .route("/api/v1/toilets.geojson", get(api::toilets))
        .layer(axum::extract::DefaultBodyLimit::max(1024))
        .with_state(shared)
}

/// `ok` (200); `degraded` (200: a database unreachable, readings kept in the buffer; MQTT
/// reconnecting); `unhealthy` (503: nothing flows and an operator must act: a database
/// refusing the writes, the buffer unable to append, MQTT down for over
/// `daemon.mqtt_unhealthy_after_secs` or stopped).
/// `GET /health`: `ok` and `degraded` answer 200, `unhealthy` 503 (operations.md, Health).
async fn health(State(s): State<Api>) -> impl IntoResponse {
    let (status, body) = assess(&s);
    let code = if status == "unhealthy" {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::OK
    };
    (code, Json(body))
}

/// `GET /health/ready`: 200 only when `ok` (everything connected, every sink writing); 503
/// when degraded or unhealthy — for a load balancer or a monitor that pages on any problem.
async fn ready(State(s): State<Api>) -> impl IntoResponse {
    let (status, body) = assess(&s);
    let code = if status == "ok" {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// `GET /health/live`: 200 while the daemon answers at all — for a supervisor that restarts
/// a hung process; a degraded daemon must not be restarted for it.
async fn live(State(s): State<Api>) -> impl IntoResponse {
    Json(serde_json::json!({"status": "live", "uptime_s": s.started.elapsed().as_secs()}))
}

/// The daemon's health: `ok`, `degraded` or `unhealthy`, and the body of `/health`.
fn assess(s: &Api) -> (&'static str, serde_json::Value) {
    use crate::sinks::SinkState;
    let m = &s.metrics;
    let now = crate::transforms::validate::unix_now();
    let mut unhealthy: Vec<String> = Vec::new();
    let mut degraded: Vec<String> = Vec::new();
    let t = &s.telemetry;
    let sinks: Vec<_> = t
        .sinks()
        .iter()
        .map(|p| {
            let k = p.sink;
            let state = SinkState::from_u8(k.state.load(Relaxed));
            let reason = format!("sink {}: {}", k.name, k.last_error());
            match state {
                SinkState::Refused => unhealthy.push(reason),
                SinkState::Unavailable => degraded.push(reason),
                SinkState::Ok => {}
            }
            serde_json::json!({"name": k.name, "type": k.kind, "up": state == SinkState::Ok,
                "state": state.as_str(), "rows_written": k.rows_written.load(Relaxed),
                "backlog_rows": p.backlog_rows()})
        })
        .collect();
    let b = &t.buffer.metrics;
    if b.append_failing.load(Relaxed) > 0 {
        unhealthy.push("buffer: appends fail on the file system (disk full or I/O error); nothing is acknowledged".into());
    }
    match b.full_blocking.load(Relaxed) {
        1 => unhealthy.push("buffer: full (buffer.max_bytes); ingest waits for the sinks".into()),
        2 => unhealthy.push("buffer: the disk is below buffer.min_free_bytes; ingest waits for the sinks to free segments or for space".into()),
        _ => {}
    }
    if m.mqtt_enabled.load(Relaxed) {
        let error = m.mqtt_error.lock().map(|e| e.clone()).unwrap_or_default();
        let since = m.mqtt_down_since_unix.load(Relaxed);
        if m.mqtt_failed.load(Relaxed) {
            unhealthy.push(format!("mqtt: source stopped: {error}"));
        } else if since > 0 {
            let reason = if error.is_empty() {
                format!("mqtt: not connected for {} s", now - since)
            } else {
                format!("mqtt: not connected for {} s: {error}", now - since)
            };
            if now - since >= m.mqtt_unhealthy_after_secs.load(Relaxed) {
                unhealthy.push(reason);
            } else {
                degraded.push(reason);
            }
        }
    }
    let status = if !unhealthy.is_empty() {
        "unhealthy"
    } else if !degraded.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    let reasons: Vec<String> = unhealthy.into_iter().chain(degraded).collect();
    (
        status,
        serde_json::json!({
            "status": status,
            "reasons": reasons,
            "version": env!("CARGO_PKG_VERSION"),
            "build": env!("MEILI_VERSION"),
            "uptime_s": s.started.elapsed().as_secs(),
            "mqtt_connected": m.mqtt_connected.load(Relaxed),
            "devices": s.registry.len(),
            "readings_accepted": m.accepted_total(),
            "readings_rejected": m.rejected_total(),
            "sinks": sinks,
        }),
    )
}

async fn metrics(State(s): State<Api>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], {
        let mut out = s.telemetry.render(s.alerts.as_deref());
        s.http.render(&mut out);
        out
    })
}

/// Active alerts (with whether a silence holds them back), recently resolved ones, what each
/// channel still has to deliver, and runtime silences.
async fn alerts(State(s): State<Api>) -> impl IntoResponse {
    let Some(store) = &s.alerts else {
        return Json(
            serde_json::json!({"active": [], "recent": [], "outbox": {}, "silences": [], "historical": [], "configured": false}),
        );
    };
    let st = store.lock().unwrap_or_else(|e| e.into_inner());
    let active: Vec<_> = st
        .active
        .values()
        .map(|a| {
            let mut v = serde_json::to_value(&a.alert).unwrap_or_default();
            v["silenced"] = serde_json::json!(a.silenced);
            v["historical"] = serde_json::json!(a.historical);
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
        "historical": st.episodes,
        "backfill_pending": st.backfill,
        "configured": true,
    }))
}
