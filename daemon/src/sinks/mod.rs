//! Sinks: where validated readings leave. One task per configured sink reads the disk buffer
//! from its own acknowledged position, writes batches (by row count or delay), retries with
//! exponential backoff while the server is unreachable, and acknowledges to the buffer only
//! what the server accepted. Whatever is unwritten at shutdown stays in the buffer.

pub mod alerts;
pub mod commands;
pub mod file;
pub mod influxdb;
pub mod metrics;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buffer::{Buffer, Cursor, ReadStats};
use crate::config::{BatchConfig, Config, SinkConfig};
pub use metrics::SinkMetrics;

#[cfg(test)]
mod tests;

/// A write that failed, by what the sink does about it.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Network trouble, timeout, 5xx, 429: the same body is sent again after a backoff.
    #[error("unavailable: {0}")]
    Unavailable(#[from] Unavailable),
    /// Authentication, permission or configuration (401, 403, 404, other 4xx): nothing is
    /// dropped; the body is held and retried with backoff, and the sink reports unhealthy.
    #[error("refused: {0}")]
    Refused(Answer),
    /// 413: the body is split in two at a line boundary and each half written.
    #[error("too large: {0}")]
    TooLarge(Answer),
    /// The server refused the body as data (a 400 naming unparsable lines or a type conflict,
    /// without saying how many rows): the body is split until the refused rows stand alone.
    #[error("bad data: {0}")]
    BadData(Answer),
    /// The server wrote the body except `dropped` rows it refused as rows.
    #[error("partial write, {dropped} rows refused: {answer}")]
    Partial { dropped: u64, answer: Answer },
}

/// Why a server could not take a write now.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// Connection refused, reset, DNS … (the request's URL left out).
    #[error("{}", crate::redact::http_error(.0))]
    Http(#[from] reqwest::Error),
    /// The client library's own error, with secrets removed from its text.
    #[error("{0}")]
    Client(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// 5xx, 408, 429.
    #[error("{0}")]
    Server(Answer),
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// A server's answer to a write it did not take: the status and what it said.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body.trim())
    }
}

/// The buffer could not be read (retried after a second).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Buffer(#[from] crate::buffer::BufferError),
    #[error("the read task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What the sink is doing about its writes, for `/health` and `meili_sink_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SinkState {
    Ok = 0,
    /// The server cannot be reached (buffering, retrying).
    Unavailable = 1,
    /// The server refuses the writes (credentials, permissions, database or bucket name).
    Refused = 2,
}

impl SinkState {
    pub fn from_u8(v: u8) -> SinkState {
        match v {
            1 => SinkState::Unavailable,
            2 => SinkState::Refused,
            _ => SinkState::Ok,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SinkState::Ok => "ok",
            SinkState::Unavailable => "unavailable",
            SinkState::Refused => "refused",
        }
    }
}

/// The offset of the line boundary nearest the middle of `body`, if it holds two lines or more.
fn split_point(body: &[u8]) -> Option<usize> {
    let mid = body.len() / 2;
    let after = body[mid..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| mid + i + 1)
        .filter(|&i| i < body.len());
    let before = body[..mid]
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .filter(|&i| i > 0);
    after.or(before)
}

/// `dropped=N` in an InfluxDB partial-write message.
pub fn dropped_count(text: &str) -> Option<u64> {
    let rest = &text[text.find("dropped=")? + "dropped=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[derive(Debug, thiserror::Error)]
pub enum SinkBuildError {
    #[error("sink {name}: {source}")]
    Influxdb {
        name: String,
        source: influxdb::BuildError,
    },
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
        let invalid = |source| SinkBuildError::Influxdb {
            name: config.name(),
            source,
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
    /// Keep `seq` and `period_s` on raw rows (`seq_and_period_fields`).
    seq_period: bool,
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
            let mut sink = Sink::new(writer, s.batch().clone(), &s.name());
            sink.seq_period = s.seq_and_period_fields();
            Ok(sink)
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
            seq_period: false,
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
        let max_bytes = self.batch.max_bytes;
        let live_quota = max_rows * u64::from(self.batch.live_share_pct.min(90)) / 100;
        let strip = !self.seq_period;
        let mut appended = buffer.watch();
        let mut pace = crate::buffer::pace::Pace::new(std::time::Duration::from_millis(10));
        let mut head = buffer.cursor(index);
        // The live cursor and the first id it owns, while a backlog drains.
        let mut live: Option<(Cursor, u64)> = None;
        let mut body: Vec<u8> = Vec::with_capacity(self.batch.max_rows * 100);
        let (mut head_rows, mut live_rows, mut first_ms) = (0u64, 0u64, 0u64);
        let mut deadline: Option<Instant> = None;
        // After a full batch, a pause in the log writes what waits (the end of a burst).
        let (mut bursting, mut quiet_at): (bool, Option<Instant>) = (false, None);
        loop {
            appended.mark_unchanged();
            if live.is_none()
                && live_quota > 0
                && buffer.reader_stats(index).backlog() > 2 * max_rows as i64
            {
                let from = buffer.next_id();
                live = Some((buffer.cursor_at(index, from), from));
                tracing::info!(sink = %self.metrics.name, backlog_rows = buffer.reader_stats(index).backlog(), "Draining backlog; live data keeps a share of every batch.");
            }
            let mut progress = false;
            let mut full = false;
            if let Some((cur, _)) = live.as_mut() {
                let want = live_quota
                    .saturating_sub(live_rows)
                    .min(max_rows - head_rows - live_rows);
                match read_into(&buffer, cur, (want, max_bytes, u64::MAX), strip, &mut body).await {
                    Ok(r) => {
                        live_rows += r.rows;
                        progress |= r.records > 0;
                        full |= r.full;
                    }
                    Err(e) => {
                        self.read_failed(e).await;
                        continue;
                    }
                }
            }
            let until = live.as_ref().map_or(u64::MAX, |(_, from)| *from);
            let want = max_rows.saturating_sub(head_rows + live_rows);
            match read_into(
                &buffer,
                &mut head,
                (want, max_bytes, until),
                strip,
                &mut body,
            )
            .await
            {
                Ok(r) => {
                    if head_rows == 0 && r.records > 0 {
                        first_ms = r.first_unix_ms;
                    }
                    head_rows += r.rows;
                    progress |= r.records > 0;
                    full |= r.full;
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
            if progress && bursting {
                quiet_at = Some(Instant::now() + QUIET_AFTER_BURST);
            }
            self.metrics.rows_pending.store(rows, Relaxed);
            self.metrics
                .oldest_unacked_unix_ms
                .store(first_ms as i64 * i64::from(head_rows > 0), Relaxed);
            let stopping = ctl.stop.is_cancelled();
            let now = Instant::now();
            let due = deadline.is_some_and(|d| d <= now);
            // Set again by every read that found something, so only a still log gets here.
            let quiet = quiet_at.is_some_and(|q| q <= now);
            if quiet {
                quiet_at = None;
            }
            // The backlog part is written up to the live cursor: write now and switch cursors.
            let backlog_done = live.as_ref().is_some_and(|(_, from)| head.next_id >= *from);
            if rows > 0 && (rows >= max_rows || full || due || quiet || stopping || backlog_done) {
                bursting = rows >= max_rows || full;
                quiet_at = None;
                match self.flush(&body, rows, &ctl).await {
                    Flushed::Written => {
                        if live_rows > 0 {
                            buffer.written_ahead(index, live_rows);
                        }
                        let mut position = head.next_id;
                        if live.as_ref().is_some_and(|(_, from)| head.next_id >= *from) {
                            // The backlog is written: the live cursor becomes the position.
                            if let Some((mut cur, _)) = live.take() {
                                position = cur.next_id;
                                buffer.promote(&mut cur);
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
            let wake = deadline.into_iter().chain(quiet_at).min();
            let timer = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = appended.changed() => pace.wait().await,
                _ = timer => {}
                _ = ctl.stop.cancelled(), if !stopping => {}
                _ = ctl.abort.cancelled() => {}
            }
        }
        let left = buffer.reader_stats(index).backlog();
        tracing::info!(sink = %self.metrics.name, buffered_rows = left, "Sink stopped; unwritten rows stay in the buffer.");
    }

    async fn read_failed(&self, e: ReadError) {
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

    /// Write one batch. Unavailable or refusing servers are retried with backoff (the body is
    /// held, never dropped); a body too large or refused as data is split at line boundaries
    /// until each part is written or a single refused row stands alone, and only such rows
    /// (and those a partial write names) are dropped and counted. While stopping, a failed
    /// write is not retried: the rows are safe in the buffer for the next start.
    async fn flush(&mut self, body: &[u8], rows: u64, ctl: &SinkControl) -> Flushed {
        let mut backoff = Duration::from_millis(self.batch.retry_min_backoff_ms);
        let max_backoff = Duration::from_millis(self.batch.retry_max_backoff_ms);
        let m = Arc::clone(&self.metrics);
        // Parts still to write, the next on top.
        let mut parts: Vec<(usize, usize)> = vec![(0, body.len())];
        let mut dropped = 0u64;
        while let Some(&(a, b)) = parts.last() {
            let part = &body[a..b];
            let result = tokio::select! {
                r = self.writer.write(part) => r,
                _ = ctl.abort.cancelled() => return Flushed::GaveUp,
            };
            // Where a refused body would be cut in two (none for a single line).
            let split = match &result {
                Err(WriteError::TooLarge(_) | WriteError::BadData(_)) => split_point(part),
                _ => None,
            };
            let (state, e) = match (result, split) {
                (Ok(()), _) => {
                    parts.pop();
                    continue;
                }
                (
                    Err(WriteError::Partial {
                        dropped: n,
                        answer: message,
                    }),
                    _,
                ) => {
                    parts.pop();
                    dropped += n;
                    tracing::error!(sink = %m.name, rows = n, error = %message, "The database refused rows as rows (e.g. a field type conflict); the rest of the batch is written.");
                    continue;
                }
                (Err(WriteError::TooLarge(e) | WriteError::BadData(e)), Some(at)) => {
                    parts.pop();
                    parts.push((a + at, b));
                    parts.push((a, a + at));
                    m.request_splits.fetch_add(1, Relaxed);
                    tracing::debug!(sink = %m.name, bytes = part.len(), error = %e, "Splitting a refused request.");
                    continue;
                }
                (Err(WriteError::BadData(e)), None) => {
                    parts.pop();
                    dropped += 1;
                    let line = String::from_utf8_lossy(&part[..part.len().min(300)]);
                    tracing::error!(sink = %m.name, error = %e, line = %line.trim_end(), "The database refused this row; it is dropped.");
                    continue;
                }
                (Err(e @ (WriteError::Refused(_) | WriteError::TooLarge(_))), _) => {
                    (SinkState::Refused, e)
                }
                (Err(e @ WriteError::Unavailable(_)), _) => (SinkState::Unavailable, e),
            };
            if state == SinkState::Refused {
                m.write_errors_permanent.fetch_add(1, Relaxed);
            } else {
                m.write_errors_retryable.fetch_add(1, Relaxed);
            }
            m.up.store(false, Relaxed);
            m.state.store(state as u8, Relaxed);
            m.set_last_error(&e.to_string());
            if ctl.stop.is_cancelled() {
                tracing::warn!(sink = %m.name, rows, error = %e, "Sink failing at shutdown; rows stay in the buffer.");
                return Flushed::GaveUp;
            }
            if state == SinkState::Refused {
                tracing::error!(sink = %m.name, rows, error = %e, retry_in_ms = backoff.as_millis() as u64, "The database refuses the writes (check credentials, permissions, database or bucket); holding the rows and retrying.");
            } else {
                tracing::warn!(sink = %m.name, rows, error = %e, retry_in_ms = backoff.as_millis() as u64, "Sink write failed; will retry.");
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = ctl.stop.cancelled() => {}
                _ = ctl.abort.cancelled() => return Flushed::GaveUp,
            }
            backoff = (backoff * 2).min(max_backoff);
        }
        m.rows_written
            .fetch_add(rows.saturating_sub(dropped), Relaxed);
        m.rows_dropped.fetch_add(dropped, Relaxed);
        m.batches_written.fetch_add(1, Relaxed);
        m.up.store(true, Relaxed);
        m.state.store(SinkState::Ok as u8, Relaxed);
        m.last_success_unix
            .store(crate::transforms::validate::unix_now(), Relaxed);
        Flushed::Written
    }
}

/// How long the log must stay still after a full batch before what waits is written without
/// waiting out `max_delay_ms` (a burst has ended; at a steady pace batches fill by time).
const QUIET_AFTER_BURST: Duration = Duration::from_millis(10);

/// Read from `cur` into `body` on the blocking pool (the buffer does file I/O): up to
/// `(max_rows, max_bytes)` of the rows before record `until`, without `seq` and `period_s` if
/// `strip`.
async fn read_into(
    buffer: &Arc<Buffer>,
    cur: &mut Cursor,
    (max_rows, max_bytes, until): (u64, u64, u64),
    strip: bool,
    body: &mut Vec<u8>,
) -> Result<ReadStats, ReadError> {
    // The whole request is bounded: what is in the body already counts.
    let max_bytes = max_bytes.saturating_sub(body.len() as u64);
    if max_rows == 0 || (max_bytes == 0 && !body.is_empty()) {
        return Ok(ReadStats::default());
    }
    let (b, mut c, mut out) = (
        Arc::clone(buffer),
        std::mem::replace(cur, buffer.cursor_at(cur.sink, cur.next_id)),
        std::mem::take(body),
    );
    let (c, out, r) = tokio::task::spawn_blocking(move || {
        let from = out.len();
        let r = b.read_bounded(&mut c, max_rows, max_bytes, until, &mut out);
        if strip {
            crate::rows::line_protocol::strip_seq_period(&mut out, from);
        }
        (c, out, r)
    })
    .await?;
    *cur = c;
    *body = out;
    Ok(r?)
}

enum Flushed {
    /// Written, but for rows the server refused as rows (counted).
    Written,
    /// Not written (shutdown): the rows stay in the buffer.
    GaveUp,
}
