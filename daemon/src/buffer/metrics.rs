//! The buffer's counters: buffer-wide ([`BufferMetrics`], the `meili_buffer_*` families) and
//! per reader ([`ReaderStats`]: its backlog and the rows the buffer dropped before it read them).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::prom::Prom;

/// Buffer-wide counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BufferMetrics {
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub records_appended: AtomicU64,
    pub rows_appended: AtomicU64,
    pub fsyncs: AtomicU64,
    pub full_refusals: AtomicU64,
    pub recovery_cut_bytes: AtomicU64,
    pub recovery_cut_segments: AtomicU64,
    /// Damaged records skipped (found at start or while reading), each counted once.
    pub corrupt_records: AtomicU64,
    /// Readings in them (where intact records on both sides tell).
    pub corrupt_rows: AtomicU64,
    pub corrupt_bytes: AtomicU64,
    /// Impossible or unreadable reader positions (reset to the oldest record).
    pub position_errors: AtomicU64,
    /// Failed position writes (the segments are still freed; the reader may repeat rows).
    pub position_write_errors: AtomicU64,
    /// 1 while the last append failed on the file system (full disk, I/O error).
    pub append_failing: AtomicU64,
    /// While appends are refused: 1 `max_bytes` is reached (`block`), 2 the disk is below
    /// `min_free_bytes`; 0 otherwise.
    pub full_blocking: AtomicU64,
}

/// One reader's place in the buffer, kept by the buffer.
#[derive(Debug, Default)]
pub struct ReaderStats {
    pub name: String,
    /// Rows appended that this reader has not acknowledged yet.
    pub backlog_rows: AtomicI64,
    /// Rows this reader never read: dropped by `when_full = "drop_oldest"` or destroyed by damage.
    pub rows_dropped: AtomicU64,
}

impl ReaderStats {
    pub fn new(name: String) -> ReaderStats {
        ReaderStats {
            name,
            ..ReaderStats::default()
        }
    }

    pub fn backlog(&self) -> i64 {
        self.backlog_rows.load(Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.rows_dropped.load(Relaxed)
    }
}

impl BufferMetrics {
    /// What opening the buffer found (its size, cut tails, impossible positions).
    pub(super) fn recovered(&self, bytes: u64, r: &super::Recovery) {
        self.bytes.store(bytes, Relaxed);
        self.recovery_cut_bytes
            .store(r.cut.iter().map(|c| c.1).sum(), Relaxed);
        self.recovery_cut_segments
            .store(r.cut.len() as u64, Relaxed);
        self.position_errors
            .store(r.position_errors.len() as u64, Relaxed);
    }

    /// The buffer-wide `meili_buffer_*` families.
    pub fn render(&self, p: &mut Prom) {
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        p.gauge(
            "meili_buffer_bytes",
            "Bytes of the disk buffer's segment files.",
            g(&self.bytes),
        );
        p.gauge(
            "meili_buffer_segments",
            "Segment files in the disk buffer.",
            g(&self.segments),
        );
        p.counter(
            "meili_buffer_records_appended_total",
            "Records (chunks) appended.",
            g(&self.records_appended),
        );
        p.counter(
            "meili_buffer_rows_appended_total",
            "Readings appended.",
            g(&self.rows_appended),
        );
        p.counter(
            "meili_buffer_fsyncs_total",
            "fdatasync calls.",
            g(&self.fsyncs),
        );
        p.counter(
            "meili_buffer_full_refusals_total",
            "Appends refused because the buffer was full (when_full = block).",
            g(&self.full_refusals),
        );
        p.gauge(
            "meili_buffer_recovery_cut_bytes",
            "Bytes cut from damaged segment tails when the buffer was opened.",
            g(&self.recovery_cut_bytes),
        );
        p.gauge(
            "meili_buffer_recovery_cut_segments",
            "Segments whose damaged tail was cut when the buffer was opened.",
            g(&self.recovery_cut_segments),
        );
        for (name, help, v) in [
            ("meili_buffer_corrupt_records_total", "Damaged records skipped (at start or while reading), each counted once.", &self.corrupt_records),
            ("meili_buffer_corrupt_rows_total", "Readings in the damaged records (from the running counts of the intact records around them).", &self.corrupt_rows),
            ("meili_buffer_corrupt_bytes_total", "Bytes of the damaged runs skipped.", &self.corrupt_bytes),
            ("meili_buffer_position_errors_total", "Reader positions found impossible or unreadable at start (the reader restarts at the oldest record).", &self.position_errors),
            ("meili_buffer_position_write_errors_total", "Failed position writes (segments are freed anyway; a restart may write some rows twice).", &self.position_write_errors),
        ] {
            p.counter(name, help, g(v));
        }
        p.gauge(
            "meili_buffer_append_failing",
            "1 while appends fail on the file system (disk full, I/O error): nothing is acknowledged meanwhile.",
            g(&self.append_failing),
        );
    }
}
