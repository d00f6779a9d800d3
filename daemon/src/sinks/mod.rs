//! Sinks: where validated readings leave. One task per configured sink, fed by its own bounded
//! queue; rows are encoded as line protocol on arrival, written in batches (by row count or
//! delay), retried with exponential backoff while the server is unreachable, and flushed on
//! shutdown within the grace period.

pub mod file;
pub mod influxdb;
pub mod line_protocol;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{BatchConfig, Config, SinkConfig};
use crate::event::Record;
use crate::metrics::SinkMetrics;
use crate::registry::Registry;

/// A write that failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Network trouble, timeout, 5xx, 429: the same body is sent again after a backoff.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The server refused the data (4xx): retrying cannot help; the rows are counted as dropped.
    #[error("refused: {0}")]
    Permanent(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SinkBuildError {
    #[error("sink {name}: {message}")]
    Invalid { name: String, message: String },
}

/// The protocol-specific part of a sink.
pub enum Writer {
    InfluxdbV1(influxdb::V1Writer),
    InfluxdbV2(influxdb::V2Writer),
    File(file::FileWriter),
}

impl Writer {
    pub fn build(
        config: &SinkConfig,
        data_dir: &std::path::Path,
    ) -> Result<Writer, SinkBuildError> {
        let invalid = |message: String| SinkBuildError::Invalid {
            name: config.name(),
            message,
        };
        Ok(match config {
            SinkConfig::InfluxdbV1(c) => {
                Writer::InfluxdbV1(influxdb::V1Writer::new(c).map_err(invalid)?)
            }
            SinkConfig::InfluxdbV2(c) => {
                Writer::InfluxdbV2(influxdb::V2Writer::new(c).map_err(invalid)?)
            }
            SinkConfig::File(c) => Writer::File(file::FileWriter::new(c, data_dir)),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Writer::InfluxdbV1(_) => "influxdb_v1",
            Writer::InfluxdbV2(_) => "influxdb_v2",
            Writer::File(_) => "file",
        }
    }

    async fn write(&mut self, body: &[u8]) -> Result<(), WriteError> {
        match self {
            Writer::InfluxdbV1(w) => w.write(body).await,
            Writer::InfluxdbV2(w) => w.write(body).await,
            Writer::File(w) => w.write(body).await,
        }
    }
}

pub struct Sink {
    writer: Writer,
    batch: BatchConfig,
    metrics: Arc<SinkMetrics>,
    registry: Arc<Registry>,
}

/// Build every configured sink with its metrics.
pub fn build_all(config: &Config, registry: &Arc<Registry>) -> Result<Vec<Sink>, SinkBuildError> {
    config
        .sinks
        .iter()
        .map(|s| {
            let s = s.get_ref();
            let writer = Writer::build(s, &config.daemon.data_dir)?;
            let metrics = Arc::new(SinkMetrics {
                name: s.name(),
                kind: writer.type_name(),
                ..SinkMetrics::default()
            });
            Ok(Sink {
                writer,
                batch: s.batch().clone(),
                metrics,
                registry: Arc::clone(registry),
            })
        })
        .collect()
}

impl Sink {
    pub fn new(writer: Writer, batch: BatchConfig, name: &str, registry: Arc<Registry>) -> Sink {
        let metrics = Arc::new(SinkMetrics {
            name: name.into(),
            kind: writer.type_name(),
            ..SinkMetrics::default()
        });
        Sink {
            writer,
            batch,
            metrics,
            registry,
        }
    }

    pub fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    pub fn queue_capacity(&self) -> usize {
        self.batch.queue_batches
    }

    /// Run until the queue closes (then flush), or until `abort` (the end of the shutdown grace
    /// period), when rows still unwritten are counted as dropped.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Arc<Vec<Record>>>, abort: CancellationToken) {
        let max_delay = Duration::from_millis(self.batch.max_delay_ms);
        let mut body: Vec<u8> = Vec::with_capacity(self.batch.max_rows * 96);
        let mut rows = 0usize;
        let mut flush_at: Option<Instant> = None;
        loop {
            let timer = async {
                match flush_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = rx.recv() => match m {
                    Some(batch) => {
                        self.metrics.queue_depth.store(rx.len() as i64, Relaxed);
                        for r in batch.iter() {
                            line_protocol::encode(&mut body, self.registry.get(r.device), &r.reading);
                        }
                        rows += batch.len();
                        self.metrics.rows_pending.store(rows as u64, Relaxed);
                        flush_at.get_or_insert_with(|| Instant::now() + max_delay);
                        if rows >= self.batch.max_rows {
                            self.flush(&mut body, &mut rows, &abort).await;
                            flush_at = None;
                        }
                    }
                    None => {
                        self.flush(&mut body, &mut rows, &abort).await;
                        break;
                    }
                },
                _ = timer => {
                    self.flush(&mut body, &mut rows, &abort).await;
                    flush_at = None;
                }
            }
        }
        tracing::info!(sink = %self.metrics.name, "Sink stopped.");
    }

    async fn flush(&mut self, body: &mut Vec<u8>, rows: &mut usize, abort: &CancellationToken) {
        if *rows == 0 {
            return;
        }
        let mut backoff = Duration::from_millis(self.batch.retry_min_backoff_ms);
        let max_backoff = Duration::from_millis(self.batch.retry_max_backoff_ms);
        let m = &self.metrics;
        loop {
            let result = tokio::select! {
                r = self.writer.write(body) => r,
                _ = abort.cancelled() => Err(WriteError::Retryable("shutdown grace period over".into())),
            };
            match result {
                Ok(()) => {
                    m.rows_written.fetch_add(*rows as u64, Relaxed);
                    m.batches_written.fetch_add(1, Relaxed);
                    m.up.store(true, Relaxed);
                    m.last_success_unix
                        .store(crate::transforms::validate::unix_now(), Relaxed);
                    break;
                }
                Err(WriteError::Permanent(e)) => {
                    m.write_errors_permanent.fetch_add(1, Relaxed);
                    m.rows_dropped.fetch_add(*rows as u64, Relaxed);
                    tracing::error!(sink = %m.name, rows = *rows, error = %e, "Sink refused a batch; its rows are dropped.");
                    break;
                }
                Err(WriteError::Retryable(e)) => {
                    m.write_errors_retryable.fetch_add(1, Relaxed);
                    m.up.store(false, Relaxed);
                    if abort.is_cancelled() {
                        m.rows_dropped.fetch_add(*rows as u64, Relaxed);
                        tracing::error!(sink = %m.name, rows = *rows, error = %e, "Shutdown grace period over; unwritten rows dropped.");
                        break;
                    }
                    tracing::warn!(sink = %m.name, rows = *rows, error = %e, retry_in_ms = backoff.as_millis() as u64, "Sink write failed; will retry.");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = abort.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
        body.clear();
        *rows = 0;
        m.rows_pending.store(0, Relaxed);
    }
}
