//! A sink's counters and their `meili_sink_*` and `meili_buffer_*{sink}` families. The sink's
//! place in the buffer (backlog, rows the buffer dropped before it read them) is the buffer's
//! [`ReaderStats`]; the rest is counted here by the sink.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::buffer::{Buffer, ReaderStats};
use crate::prom::Prom;

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub name: String,
    pub kind: &'static str,
    pub rows_written: AtomicU64,
    pub batches_written: AtomicU64,
    pub write_errors_retryable: AtomicU64,
    pub write_errors_permanent: AtomicU64,
    /// Rows the sink gave up on: refused by the server as data, or left unwritten at
    /// shutdown. (Rows the buffer dropped before the sink read them are in its [`ReaderStats`].)
    pub rows_dropped: AtomicU64,
    /// Rows encoded and waiting for the next write.
    pub rows_pending: AtomicU64,
    /// Pipeline batches queued in front of the sink (sinks read the buffer directly: 0).
    pub queue_depth: AtomicI64,
    pub up: AtomicBool,
    /// Append time (unix ms) of the oldest record this sink is working on; 0 when caught up.
    pub oldest_unacked_unix_ms: AtomicI64,
    /// Unix seconds of the last successful write.
    pub last_success_unix: AtomicI64,
    /// [`crate::sinks::SinkState`] as u8.
    pub state: AtomicU8,
    /// Requests split after a 413 or a refusal as data.
    pub request_splits: AtomicU64,
    /// The last write error, for `/health`.
    pub last_error: Mutex<String>,
}

impl SinkMetrics {
    pub fn set_last_error(&self, e: &str) {
        let mut g = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        g.clear();
        g.push_str(&e[..e.floor_char_boundary(500)]);
    }

    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Seconds since the oldest record this sink is working on was appended (0 when caught up).
    pub fn oldest_age_secs(&self, now_ms: i64) -> f64 {
        let t = self.oldest_unacked_unix_ms.load(Relaxed);
        if t > 0 {
            (now_ms - t).max(0) as f64 / 1000.0
        } else {
            0.0
        }
    }
}

/// A sink with its reader in the buffer.
pub struct Placed<'a> {
    pub sink: &'a SinkMetrics,
    pub reader: Option<&'a ReaderStats>,
}

impl Placed<'_> {
    /// Rows lost for this sink: refused as data, left at shutdown, or dropped by the buffer.
    pub fn rows_dropped(&self) -> u64 {
        self.sink.rows_dropped.load(Relaxed) + self.reader.map_or(0, ReaderStats::dropped)
    }

    pub fn backlog_rows(&self) -> i64 {
        self.reader.map_or(0, ReaderStats::backlog)
    }
}

/// Each sink with its reader stats, in configuration order.
pub fn placed<'a>(sinks: &'a [Arc<SinkMetrics>], buffer: &'a Buffer) -> Vec<Placed<'a>> {
    sinks
        .iter()
        .map(|s| Placed {
            sink: s,
            reader: buffer.reader(&s.name).map(|i| buffer.reader_stats(i)),
        })
        .collect()
}

/// The `meili_sink_*` families and the sinks' `meili_buffer_*` ones.
pub fn render(sinks: &[Placed<'_>], p: &mut Prom, now_ms: i64) {
    let g = |a: &AtomicU64| a.load(Relaxed) as f64;
    let per = |f: &dyn Fn(&Placed<'_>) -> f64| -> Vec<(String, f64)> {
        sinks
            .iter()
            .map(|s| {
                let m = s.sink;
                (format!("sink=\"{}\",type=\"{}\"", m.name, m.kind), f(s))
            })
            .collect()
    };
    p.family(
        "meili_sink_rows_written_total",
        "counter",
        "Rows the sink's server acknowledged.",
        per(&|s| g(&s.sink.rows_written)),
    );
    p.family(
        "meili_sink_batches_written_total",
        "counter",
        "Write requests that succeeded.",
        per(&|s| g(&s.sink.batches_written)),
    );
    p.family(
        "meili_sink_write_errors_total",
        "counter",
        "Failed write requests (unavailable: server unreachable or 5xx; refused: 401/403/404 and other configuration errors). Both are retried; nothing is dropped for them.",
        sinks.iter().flat_map(|s| {
            let m = s.sink;
            [
                (
                    format!("sink=\"{}\",class=\"unavailable\"", m.name),
                    g(&m.write_errors_retryable),
                ),
                (
                    format!("sink=\"{}\",class=\"refused\"", m.name),
                    g(&m.write_errors_permanent),
                ),
            ]
        }),
    );
    p.family(
        "meili_sink_rows_dropped_total",
        "counter",
        "Rows lost for this sink: refused by the database as rows (field type conflict, unparsable), dropped by when_full = drop_oldest, or destroyed by buffer damage.",
        per(&|s| s.rows_dropped() as f64),
    );
    p.family(
        "meili_sink_rows_pending",
        "gauge",
        "Rows encoded and waiting for the next write.",
        per(&|s| g(&s.sink.rows_pending)),
    );
    p.family(
        "meili_sink_up",
        "gauge",
        "1 when the last write succeeded.",
        per(&|s| f64::from(u8::from(s.sink.up.load(Relaxed)))),
    );
    p.family(
        "meili_sink_state",
        "gauge",
        "0 ok, 1 unavailable (retrying), 2 refused (credentials, permissions, database or bucket; held and retried).",
        per(&|s| f64::from(s.sink.state.load(Relaxed))),
    );
    p.family(
        "meili_sink_request_splits_total",
        "counter",
        "Write requests split in two after a 413 or a refusal naming the data.",
        per(&|s| g(&s.sink.request_splits)),
    );
    p.family(
        "meili_sink_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful write.",
        per(&|s| s.sink.last_success_unix.load(Relaxed) as f64),
    );
    p.family(
        "meili_buffer_backlog_rows",
        "gauge",
        "Rows in the disk buffer the sink has not written yet.",
        per(&|s| s.backlog_rows() as f64),
    );
    p.family(
        "meili_buffer_oldest_unwritten_age_seconds",
        "gauge",
        "Age of the oldest buffered record the sink is trying to write (0 when caught up).",
        per(&|s| s.sink.oldest_age_secs(now_ms)),
    );
}
