//! Wiring: sources → ingest queue → validate → one bounded queue per sink → sinks.
//!
//! Shutdown order: the shutdown token stops the sources; validate ends when the ingest queue is
//! drained and closed; each sink ends when its queue closes, after a final flush. Sinks still
//! retrying when `shutdown_timeout_secs` has passed give up and count what they drop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::sinks::{self, SinkBuildError};
use crate::sources::MqttSource;
use crate::transforms::{validate, Live, Validator};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Sink(#[from] SinkBuildError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("HTTP listener on {addr}: {source}")]
    Http {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by the pipeline and the HTTP server.
#[derive(Clone)]
pub struct Shared {
    pub registry: Arc<Registry>,
    pub live: Arc<Mutex<Live>>,
    pub metrics: Arc<Metrics>,
    pub started: std::time::Instant,
}

/// A running daemon.
pub struct Daemon {
    pub shared: Shared,
    pub http_addr: std::net::SocketAddr,
    sources_stop: CancellationToken,
    sinks_abort: CancellationToken,
    http_stop: CancellationToken,
    sources: JoinSet<()>,
    pipeline: JoinSet<()>,
    grace: Duration,
}

impl Daemon {
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let data_dir = &config.daemon.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| DaemonError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let registry = Arc::new(Registry::from_config(&config));
        let sinks = sinks::build_all(&config, &registry)?;
        let metrics = Arc::new(Metrics::new(sinks.iter().map(|s| s.metrics()).collect()));
        let live = Arc::new(Mutex::new(Live::new(&registry)));
        let shared = Shared {
            registry: Arc::clone(&registry),
            live: Arc::clone(&live),
            metrics: Arc::clone(&metrics),
            started: std::time::Instant::now(),
        };

        let http_stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(config.daemon.http_listen)
            .await
            .map_err(|source| DaemonError::Http {
                addr: config.daemon.http_listen,
                source,
            })?;
        let http_addr = listener.local_addr().map_err(|source| DaemonError::Http {
            addr: config.daemon.http_listen,
            source,
        })?;
        tokio::spawn(crate::http::serve(
            listener,
            shared.clone(),
            http_stop.clone(),
        ));

        let sources_stop = CancellationToken::new();
        let sinks_abort = CancellationToken::new();
        let mut pipeline = JoinSet::new();
        let mut sink_txs = Vec::new();
        for sink in sinks {
            let (tx, rx) = mpsc::channel(sink.queue_capacity());
            sink_txs.push(tx);
            pipeline.spawn(sink.run(rx, sinks_abort.clone()));
        }
        let (ingest_tx, ingest_rx) = mpsc::channel(config.daemon.ingest_queue_messages);
        let prefix = config
            .mqtt
            .as_ref()
            .map_or("meili/v1", |m| m.topic_prefix.as_str());
        let validator = Validator::new(Arc::clone(&registry), prefix, config.validate.clone());
        pipeline.spawn(validate::run(
            validator,
            ingest_rx,
            sink_txs,
            live,
            Arc::clone(&metrics),
        ));

        let mut sources = JoinSet::new();
        if let Some(mqtt) = config.mqtt.clone() {
            let (m, stop) = (Arc::clone(&metrics), sources_stop.clone());
            let tx = ingest_tx.clone();
            sources.spawn(async move {
                if let Err(e) = MqttSource::new(mqtt).run(tx, m, stop).await {
                    tracing::error!(error = %e, "MQTT source failed.");
                }
            });
        }
        drop(ingest_tx);
        tracing::info!(devices = registry.len(), http = %http_addr, "meilid started.");
        Ok(Daemon {
            shared,
            http_addr,
            sources_stop,
            sinks_abort,
            http_stop,
            sources,
            pipeline,
            grace: Duration::from_secs(config.daemon.shutdown_timeout_secs),
        })
    }

    /// Stop the sources, drain and flush the pipeline (within the grace period), stop HTTP.
    pub async fn shutdown(mut self) {
        tracing::info!("Shutting down: stopping sources, flushing sinks.");
        self.sources_stop.cancel();
        while self.sources.join_next().await.is_some() {}
        let abort = self.sinks_abort.clone();
        let grace = self.grace;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abort.cancel();
        });
        while self.pipeline.join_next().await.is_some() {}
        timer.abort();
        self.http_stop.cancel();
        tracing::info!("meilid stopped.");
    }
}

/// Run the daemon until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DaemonError> {
    let daemon = Daemon::start(config).await?;
    shutdown.await;
    daemon.shutdown().await;
    Ok(())
}
