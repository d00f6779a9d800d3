//! Sinks: where validated readings leave. One task per configured sink reads the disk buffer
//! from its own acknowledged position, writes batches (by row count or delay), retries with
//! exponential backoff while the server is unreachable, and acknowledges to the buffer only
//! what the server accepted. Whatever is unwritten at shutdown stays in the buffer.

pub mod alerts;
pub mod file;
pub mod influxdb;
pub mod line_protocol;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buffer::{Buffer, Cursor, ReadStats};
use crate::config::{BatchConfig, Config, SinkConfig};
use crate::metrics::SinkMetrics;

/// A write that failed.
#[cfg(test)]
mod tests;

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
}

/// Build every configured sink with its metrics.
pub fn build_all(config: &Config) -> Result<Vec<Sink>, SinkBuildError> {
    config
        .sinks
        .iter()
        .map(|s| {
            let s = s.get_ref();
            let writer = Writer::build(s, &config.daemon.data_dir)?;
            Ok(Sink::new(writer, s.batch().clone(), &s.name()))
        })
        .collect()
}

/// How a sink task is told to finish.
#[derive(Clone)]
pub struct SinkControl {
    /// Cancelled once every reading is in the buffer: write what is there, then stop.
    pub stop: CancellationToken,
    /// Cancelled at the end of the shutdown grace period: stop now (the rest stays buffered).
    pub abort: CancellationToken,
}

impl Sink {
    pub fn new(writer: Writer, batch: BatchConfig, name: &str) -> Sink {
        let metrics = Arc::new(SinkMetrics {
            name: name.into(),
            kind: writer.type_name(),
            ..SinkMetrics::default()
        });
        Sink {
            writer,
            batch,
            metrics,
        }
    }

    pub fn name(&self) -> &str {
        &self.metrics.name
    }

    pub fn metrics(&self) -> Arc<SinkMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Read the buffer from this sink's acknowledged position, write batches of up to
    /// `max_rows` rows (or what has waited `max_delay_ms`), acknowledge each written batch.
    ///
    /// While a backlog drains (more than two batches behind), each batch reserves
    /// `live_share_pct` of its rows for readings that arrived after the drain began, read by a
    /// second cursor, so live data is not held back until the backlog is gone. Only the backlog
    /// position is recorded; after a crash mid-drain the live rows are simply written again.
    pub async fn run(mut self, index: usize, buffer: Arc<Buffer>, ctl: SinkControl) {
        let max_delay = Duration::from_millis(self.batch.max_delay_ms);
        let max_rows = self.batch.max_rows as u64;
        let live_quota = max_rows * u64::from(self.batch.live_share_pct.min(90)) / 100;
        let mut appended = buffer.watch();
        let mut head = buffer.cursor(index);
        // The live cursor and the first id it owns, while a backlog drains.
        let mut live: Option<(Cursor, u64)> = None;
        let mut body: Vec<u8> = Vec::with_capacity(self.batch.max_rows * 100);
        let (mut head_rows, mut live_rows, mut first_ms) = (0u64, 0u64, 0u64);
        let mut deadline: Option<Instant> = None;
        loop {
            appended.mark_unchanged();
            if live.is_none()
                && live_quota > 0
                && self.metrics.backlog_rows.load(Relaxed) > 2 * max_rows as i64
            {
                let from = buffer.next_id();
                live = Some((buffer.cursor_at(index, from), from));
                tracing::info!(sink = %self.metrics.name, backlog_rows = self.metrics.backlog_rows.load(Relaxed), "Draining backlog; live data keeps a share of every batch.");
            }
            let mut progress = false;
            if let Some((cur, _)) = live.as_mut() {
                let want = live_quota
                    .saturating_sub(live_rows)
                    .min(max_rows - head_rows - live_rows);
                match read_into(&buffer, cur, want, u64::MAX, &mut body).await {
                    Ok(r) => {
                        live_rows += r.rows;
                        progress |= r.records > 0;
                    }
                    Err(e) => {
                        self.read_failed(e).await;
                        continue;
                    }
                }
            }
            let until = live.as_ref().map_or(u64::MAX, |(_, from)| *from);
            let want = max_rows.saturating_sub(head_rows + live_rows);
            match read_into(&buffer, &mut head, want, until, &mut body).await {
                Ok(r) => {
                    if head_rows == 0 && r.records > 0 {
                        first_ms = r.first_unix_ms;
                    }
                    head_rows += r.rows;
                    progress |= r.records > 0;
                }
                Err(e) => {
                    self.read_failed(e).await;
                    continue;
                }
            }
            let rows = head_rows + live_rows;
            if progress && deadline.is_none() {
                deadline = Some(Instant::now() + max_delay);
            }
            self.metrics.rows_pending.store(rows, Relaxed);
            self.metrics
                .oldest_unacked_unix_ms
                .store(first_ms as i64 * i64::from(head_rows > 0), Relaxed);
            let stopping = ctl.stop.is_cancelled();
            let due = deadline.is_some_and(|d| d <= Instant::now());
            // The backlog part is written up to the live cursor: write now and switch cursors.
            let backlog_done = live.as_ref().is_some_and(|(_, from)| head.next_id >= *from);
            if rows > 0 && (rows >= max_rows || due || stopping || backlog_done) {
                match self.flush(&body, rows, &ctl).await {
                    Flushed::Written | Flushed::Refused => {
                        if live_rows > 0 {
                            buffer.written_ahead(index, live_rows);
                        }
                        let mut position = head.next_id;
                        if live.as_ref().is_some_and(|(_, from)| head.next_id >= *from) {
                            // The backlog is written: the live cursor becomes the position.
                            if let Some((cur, _)) = live.take() {
                                position = cur.next_id;
                                head = cur;
                                tracing::info!(sink = %self.metrics.name, "Backlog drained.");
                            }
                        }
                        self.acknowledge(&buffer, index, position, head_rows).await;
                        body.clear();
                        (head_rows, live_rows, first_ms) = (0, 0, 0);
                        deadline = None;
                        self.metrics.rows_pending.store(0, Relaxed);
                        self.metrics.oldest_unacked_unix_ms.store(0, Relaxed);
                        continue;
                    }
                    Flushed::GaveUp => break,
                }
            }
            if stopping && rows == 0 {
                break;
            }
            if ctl.abort.is_cancelled() {
                break;
            }
            let timer = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = appended.changed() => {}
                _ = timer => {}
                _ = ctl.stop.cancelled(), if !stopping => {}
                _ = ctl.abort.cancelled() => {}
            }
        }
        let left = self.metrics.backlog_rows.load(Relaxed);
        tracing::info!(sink = %self.metrics.name, buffered_rows = left, "Sink stopped; unwritten rows stay in the buffer.");
    }

    async fn read_failed(&self, e: String) {
        tracing::error!(sink = %self.metrics.name, error = %e, "Buffer read failed; retrying in 1 s.");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    async fn acknowledge(&self, buffer: &Arc<Buffer>, index: usize, next_id: u64, rows: u64) {
        let b = Arc::clone(buffer);
        let outcome = tokio::task::spawn_blocking(move || b.ack(index, next_id, rows)).await;
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failure {
            tracing::error!(sink = %self.metrics.name, error = %e, "Could not record the acknowledgement; rows may be written again after a restart.");
        }
    }

    /// Write one batch, retrying retryable errors with backoff. While stopping, a failed write
    /// is not retried: the rows are safe in the buffer for the next start.
    async fn flush(&mut self, body: &[u8], rows: u64, ctl: &SinkControl) -> Flushed {
        let mut backoff = Duration::from_millis(self.batch.retry_min_backoff_ms);
        let max_backoff = Duration::from_millis(self.batch.retry_max_backoff_ms);
        let m = Arc::clone(&self.metrics);
        loop {
            let result = tokio::select! {
                r = self.writer.write(body) => r,
                _ = ctl.abort.cancelled() => return Flushed::GaveUp,
            };
            match result {
                Ok(()) => {
                    m.rows_written.fetch_add(rows, Relaxed);
                    m.batches_written.fetch_add(1, Relaxed);
                    m.up.store(true, Relaxed);
                    m.last_success_unix
                        .store(crate::transforms::validate::unix_now(), Relaxed);
                    return Flushed::Written;
                }
                Err(WriteError::Permanent(e)) => {
                    m.write_errors_permanent.fetch_add(1, Relaxed);
                    m.rows_dropped.fetch_add(rows, Relaxed);
                    tracing::error!(sink = %m.name, rows, error = %e, "Sink refused a batch; its rows are dropped.");
                    return Flushed::Refused;
                }
                Err(WriteError::Retryable(e)) => {
                    m.write_errors_retryable.fetch_add(1, Relaxed);
                    m.up.store(false, Relaxed);
                    if ctl.stop.is_cancelled() {
                        tracing::warn!(sink = %m.name, rows, error = %e, "Sink unreachable at shutdown; rows stay in the buffer.");
                        return Flushed::GaveUp;
                    }
                    tracing::warn!(sink = %m.name, rows, error = %e, retry_in_ms = backoff.as_millis() as u64, "Sink write failed; will retry.");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = ctl.stop.cancelled() => {}
                        _ = ctl.abort.cancelled() => return Flushed::GaveUp,
                    }
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }
}

/// Read from `cur` into `body` on the blocking pool (the buffer does file I/O).
async fn read_into(
    buffer: &Arc<Buffer>,
    cur: &mut Cursor,
    max_rows: u64,
    until: u64,
    body: &mut Vec<u8>,
) -> Result<ReadStats, String> {
    if max_rows == 0 {
        return Ok(ReadStats::default());
    }
    let (b, mut c, mut out) = (
        Arc::clone(buffer),
        std::mem::replace(cur, buffer.cursor_at(cur.sink, cur.next_id)),
        std::mem::take(body),
    );
    let (c, out, r) = tokio::task::spawn_blocking(move || {
        let r = b.read(&mut c, max_rows, until, &mut out);
        (c, out, r)
    })
    .await
    .map_err(|e| e.to_string())?;
    *cur = c;
    *body = out;
    r.map_err(|e| e.to_string())
}

enum Flushed {
    Written,
    /// Refused by the server (4xx): counted as dropped and acknowledged, so the sink moves on.
    Refused,
    /// Not written (shutdown): the rows stay in the buffer.
    GaveUp,
}
