//! The standards engine's counters and their `meili_standards_*` families.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::buffer::ReaderStats;
use crate::prom::Prom;

#[derive(Debug, Default)]
pub struct StandardsMetrics {
    /// Readings by outcome: counted, duplicate, late, unreadable.
    pub readings: [AtomicU64; 4],
    pub emissions: AtomicU64,
    pub rows_emitted: AtomicU64,
    pub checkpoints: AtomicU64,
    pub checkpoint_errors: AtomicU64,
    pub watermark_unix: AtomicI64,
    /// The watermark as of the last emission whose complete days are archived: a month the
    /// reports take as closed is closed by this one.
    pub archived_watermark_unix: AtomicI64,
    /// The archive of complete days (`archive.rs`).
    pub archive_bytes: AtomicU64,
    pub archive_errors: AtomicU64,
    /// Reports of closed periods written by the daemon, failed, and pruned files.
    pub reports_written: AtomicU64,
    pub report_failures: AtomicU64,
    pub reports_pruned: AtomicU64,
}

impl StandardsMetrics {
    pub const OUTCOMES: [&'static str; 4] = ["counted", "duplicate", "late", "unreadable"];

    /// `reader`: the engine's place in the buffer (its backlog and dropped rows).
    pub fn render(&self, reader: Option<&ReaderStats>, p: &mut Prom) {
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        p.family(
            "meili_standards_readings_total",
            "counter",
            "Readings seen by the standards engine, by outcome (late: its day had closed).",
            Self::OUTCOMES
                .iter()
                .zip(&self.readings)
                .map(|(o, a)| (format!("outcome=\"{o}\""), g(a))),
        );
        p.counter(
            "meili_standards_rows_emitted_total",
            "Result rows (daily measurements and compliance) the engine wrote to the buffer.",
            g(&self.rows_emitted),
        );
        p.counter(
            "meili_standards_checkpoints_total",
            "Engine state saves.",
            g(&self.checkpoints),
        );
        p.counter(
            "meili_standards_checkpoint_errors_total",
            "Engine state saves that failed (retried).",
            g(&self.checkpoint_errors),
        );
        p.gauge(
            "meili_standards_watermark_timestamp_seconds",
            "Newest reading time the engine has seen (event time).",
            self.watermark_unix.load(Relaxed) as f64,
        );
        p.counter(
            "meili_standards_archive_bytes_total",
            "Bytes of complete days appended to the archive the reports are made from.",
            g(&self.archive_bytes),
        );
        p.counter(
            "meili_standards_archive_errors_total",
            "Complete days that could not be archived (their month's report lacks them; meilid report over an export recomputes it).",
            g(&self.archive_errors),
        );
        p.counter(
            "meili_reports_written_total",
            "Reports of closed months, quarters and years the daemon wrote into data_dir/reports.",
            g(&self.reports_written),
        );
        p.counter(
            "meili_report_failures_total",
            "Reports that could not be written (retried after an hour).",
            g(&self.report_failures),
        );
        p.counter(
            "meili_reports_pruned_total",
            "Archive months and report files removed by [reports] keep_months or max_disk_bytes.",
            g(&self.reports_pruned),
        );
        p.gauge(
            "meili_standards_archived_watermark_timestamp_seconds",
            "The engine's watermark as of the last emission whose complete days are archived (reports of closed months follow it).",
            self.archived_watermark_unix.load(Relaxed) as f64,
        );
        if let Some(r) = reader {
            p.gauge(
                "meili_standards_backlog_rows",
                "Buffered rows the standards engine has not saved as counted yet.",
                r.backlog() as f64,
            );
            p.counter(
                "meili_standards_rows_dropped_total",
                "Rows the engine never read because a full buffer dropped them (when_full = drop_oldest).",
                r.dropped() as f64,
            );
        }
    }
}
