//! The HTTP listeners' accept loop with resource limits: a cap on open connections per
//! listener and per client address (over it, a connection is closed at once and counted),
//! a header-read timeout (which also bounds the idle time between kept-alive requests), and a
//! maximum connection lifetime. HTTP load therefore cannot use up the daemon's file
//! descriptors or stop ingest (docs/security.md).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

use super::auth::ClientAddr;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    pub connection_max: Duration,
}

impl Limits {
    pub fn from_config(h: &crate::config::http::HttpConfig) -> Limits {
        Limits {
            max_connections: h.max_connections,
            max_connections_per_client: h.max_connections_per_client,
            header_read_timeout: Duration::from_secs(h.header_read_timeout_secs),
            connection_max: Duration::from_secs(h.connection_max_secs),
        }
    }
}

/// Counters of one listener (`listener` label: `main` or `public`).
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    pub refused_max: AtomicU64,
    pub refused_per_client: AtomicU64,
}

/// What the HTTP layer counts; rendered after the daemon's own metrics.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    pub main: ListenerMetrics,
    pub public: ListenerMetrics,
    /// Requests refused by the guard, by reason.
    refused: [AtomicU64; 5],
}

const REFUSALS: [&str; 5] = ["host", "unauthenticated", "scope", "csrf", "login"];

impl HttpMetrics {
    pub fn refused(&self, reason: &str) {
        if let Some(i) = REFUSALS.iter().position(|r| *r == reason) {
            self.refused[i].fetch_add(1, Relaxed);
        }
    }

    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            out,
            "# HELP meili_http_requests_refused_total HTTP requests refused, by reason.\n# TYPE meili_http_requests_refused_total counter"
        );
        for (r, n) in REFUSALS.iter().zip(&self.refused) {
            let _ = writeln!(
                out,
                "meili_http_requests_refused_total{{reason=\"{r}\"}} {}",
                n.load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP meili_http_connections_open Open HTTP connections.\n# TYPE meili_http_connections_open gauge");
        for (name, l) in [("main", &self.main), ("public", &self.public)] {
            let _ = writeln!(
                out,
                "meili_http_connections_open{{listener=\"{name}\"}} {}",
                l.open.load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP meili_http_connections_refused_total HTTP connections closed at once: the listener's or the client's cap was reached.\n# TYPE meili_http_connections_refused_total counter");
        for (name, l) in [("main", &self.main), ("public", &self.public)] {
            for (reason, n) in [
                ("max_connections", &l.refused_max),
                ("per_client", &l.refused_per_client),
            ] {
                let _ = writeln!(
                    out,
                    "meili_http_connections_refused_total{{listener=\"{name}\",reason=\"{reason}\"}} {}",
                    n.load(Relaxed)
                );
            }
        }
    }
}

/// Releases a connection's place in the counts when it ends.
struct Slot {
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
    metrics: Arc<HttpMetrics>,
    public: bool,
}

impl Slot {
    fn listener(&self) -> &ListenerMetrics {
        if self.public {
            &self.metrics.public
        } else {
            &self.metrics.main
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.listener().open.fetch_sub(1, Relaxed);
        let mut m = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serve `app` on `listener` until `stop`; open connections then get 5 s to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    metrics: Arc<HttpMetrics>,
    public: bool,
    stop: CancellationToken,
) {
    let per_client: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conns = tokio_util::task::TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors or similar: wait rather than spin.
                    tracing::warn!(error = %e, "HTTP accept failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let l = if public {
            &metrics.public
        } else {
            &metrics.main
        };
        if l.open.load(Relaxed) as usize >= limits.max_connections {
            l.refused_max.fetch_add(1, Relaxed);
            drop(stream);
            continue;
        }
        let ip = peer.ip();
        {
            let mut m = per_client.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= limits.max_connections_per_client {
                l.refused_per_client.fetch_add(1, Relaxed);
                drop(m);
                drop(stream);
                continue;
            }
            *n += 1;
        }
        l.open.fetch_add(1, Relaxed);
        l.accepted.fetch_add(1, Relaxed);
        let slot = Slot {
            per_client: Arc::clone(&per_client),
            ip,
            metrics: Arc::clone(&metrics),
            public,
        };
        let app = app.clone();
        let builder = builder.clone();
        let stop = stop.clone();
        conns.spawn(connection(stream, peer, app, builder, limits, slot, stop));
    }
    conns.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), conns.wait()).await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    builder: hyper::server::conn::http1::Builder,
    limits: Limits,
    _slot: Slot,
    stop: CancellationToken,
) {
    let svc = tower::ServiceExt::map_request(app, move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        req
    });
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(limits.connection_max) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}
