//! The engine inside the daemon: a reader of the durable buffer, like a sink.
//!
//! - It reads raw rows from its saved position, counts them, and every `emit_interval_secs`
//!   appends the recomputed results to the same buffer, so the sinks deliver them with the
//!   raw readings.
//! - Every `checkpoint_interval_secs` (and at shutdown) it saves its whole state with the
//!   buffer position in `{data_dir}/standards/state.json` (temporary file, fsync, rename,
//!   fsync of the directory), and only then releases that part of the buffer. A state is only
//!   saved when the results of everything in it are in the buffer.
//! - After a crash the engine resumes from the saved position; the readings after it are read
//!   again, and counting a reading twice is impossible (same device and `ts` count once), so a
//!   restart neither loses nor double-counts a day.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::metrics::StandardsMetrics;
use super::report::ComplianceRow;
use super::Engine;
use crate::buffer::stateful::{State, StatefulReader, StepError};

/// Rows read per step.
const STEP_ROWS: u64 = 2_048;

/// Where the engine keeps its state.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("standards").join("state.json")
}

impl State for Engine {
    fn next_id(&self) -> u64 {
        self.next_id
    }
    fn set_next_id(&mut self, id: u64) {
        self.next_id = id;
    }
    fn save(&self) -> Result<Vec<u8>, serde_json::Error> {
        Engine::save(self)
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        Engine::restore(self, bytes)
    }
}

/// Latest compliance rows (the windows of the latest day with figures), shared with the HTTP
/// API and the demo.
pub type Latest = Arc<Mutex<Vec<ComplianceRow>>>;

pub struct Task {
    /// The engine with its buffer position ([`StatefulReader::open`] restores both).
    pub engine: StatefulReader<Engine>,
    pub metrics: Arc<StandardsMetrics>,
    pub latest: Latest,
    pub emit_every: Duration,
    pub checkpoint_every: Duration,
    /// The configuration in effect: targets changed by a reload are taken in.
    pub config: Option<crate::reload::Applied>,
    /// Where complete days are archived for the reports (`None`: not archived).
    pub archive: Option<PathBuf>,
}

/// Results waiting to be appended: line protocol, rows, archive lines by file, and the
/// watermark they were computed at.
type Pending = Option<(String, u32, Archived, i64)>;
type Archived = std::collections::BTreeMap<PathBuf, String>;

impl Task {
    /// Run until `stop` and caught up with the buffer; then emit and save a last time.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut appended = self.engine.watch();
        let mut pace = crate::buffer::pace::Pace::new(std::time::Duration::from_millis(20));
        let (mut last_emit, mut last_save) = (Instant::now(), Instant::now());
        let mut pending: Pending = None;
        // A saved state's complete days were archived before it was saved.
        if let Some(e) = self.engine.state() {
            self.metrics
                .archived_watermark_unix
                .store(e.watermark.max(0), Relaxed);
        }
        loop {
            appended.mark_unchanged();
            let records = match self
                .engine
                .step(STEP_ROWS, |e, lines| e.ingest_lines(lines))
                .await
            {
                Ok((read, counts)) => {
                    for (a, n) in self.metrics.readings.iter().zip(counts) {
                        a.fetch_add(n, Relaxed);
                    }
                    read.records
                }
                Err(StepError::Lost) => {
                    tracing::error!("Standards engine step failed; stopping the engine.");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "Standards engine cannot read the buffer; retrying.");
                    0
                }
            };
            let Some(eng) = self.engine.state() else {
                return;
            };
            self.metrics
                .watermark_unix
                .store(eng.watermark.max(0), Relaxed);
            let stopping = stop.is_cancelled() && records == 0;
            let retargeted = self.take_reload();
            if pending.is_none()
                && (last_emit.elapsed() >= self.emit_every || stopping || retargeted)
            {
                last_emit = Instant::now();
                pending = self.emit();
            }
            if let Some((text, rows, archived, wm)) = pending.take() {
                pending = self.append(text, rows, archived, wm).await;
            }
            let save_due = last_save.elapsed() >= self.checkpoint_every || stopping;
            if pending.is_none() && save_due && self.engine.unsaved() {
                last_save = Instant::now();
                match self.engine.save().await {
                    Ok(()) => {
                        self.metrics.checkpoints.fetch_add(1, Relaxed);
                    }
                    Err(StepError::Lost) => {
                        tracing::error!("Standards save task failed; stopping the engine.");
                        return;
                    }
                    Err(e) => {
                        self.metrics.checkpoint_errors.fetch_add(1, Relaxed);
                        tracing::error!(error = %e, "Cannot save standards state; retrying.");
                    }
                }
            }
            if stopping {
                if pending.is_some() {
                    tracing::warn!("Standards results not appended at shutdown; they are recomputed at the next start.");
                }
                tracing::info!("Standards engine stopped.");
                return;
            }
            if records == 0 {
                let wait = self
                    .emit_every
                    .min(self.checkpoint_every)
                    .min(Duration::from_secs(1));
                let reloaded = async {
                    match &mut self.config {
                        Some(c) => c.changed().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = appended.changed() => pace.wait().await,
                    _ = tokio::time::sleep(wait) => {}
                    Some(()) = reloaded => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
    }

    /// Targets from a reload; true when they changed (the open days are emitted again).
    fn take_reload(&mut self) -> bool {
        let Some(config) = self.config.as_mut().and_then(|c| c.take()) else {
            return false;
        };
        let changed = self
            .engine
            .state()
            .is_some_and(|e| e.set_targets(&config.standards.targets));
        if changed {
            tracing::info!(targets = ?config.standards.targets, "Standards targets reloaded.");
        }
        changed
    }

    /// Recompute what changed; publish the latest day's compliance; the rows to append.
    fn emit(&mut self) -> Pending {
        let eng = self.engine.state()?;
        let out = eng.emit();
        let wm = eng.watermark.max(0);
        self.metrics.emissions.fetch_add(1, Relaxed);
        if out.days.is_empty() && out.compliance.is_empty() {
            self.metrics.archived_watermark_unix.store(wm, Relaxed);
            return None;
        }
        let today = eng.day_of(wm);
        let rows = eng.compliance_for(eng.latest_day().unwrap_or(today));
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = rows;
        let archived = match &self.archive {
            Some(_) => super::archive::lines_of(&out),
            None => Archived::new(),
        };
        let (text, rows) = out.to_lines();
        if rows == 0 && archived.is_empty() {
            self.metrics.archived_watermark_unix.store(wm, Relaxed);
            return None;
        }
        Some((text, rows, archived, wm))
    }

    /// Archive the complete days, then append results to the buffer (the sinks deliver
    /// them); kept for a retry if the append fails.
    async fn append(&self, text: String, rows: u32, archived: Archived, wm: i64) -> Pending {
        let b = Arc::clone(self.engine.buffer());
        let root = self.archive.clone();
        let r = tokio::task::spawn_blocking(move || {
            let kept = match (&root, archived.is_empty()) {
                (Some(root), false) => Some(super::archive::append(root, &archived)),
                _ => None,
            };
            let r = if rows > 0 {
                b.append_reserved(rows, text.as_bytes()).map(|_| ())
            } else {
                Ok(())
            };
            (text, r, kept)
        })
        .await;
        let Ok((text, r, kept)) = r else {
            tracing::error!("Standards append task failed.");
            return None;
        };
        match kept {
            Some(Ok(bytes)) => {
                self.metrics.archive_bytes.fetch_add(bytes, Relaxed);
            }
            Some(Err(e)) => {
                self.metrics.archive_errors.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "Cannot archive complete days for the reports.");
            }
            None => {}
        }
        // Archived, or counted as not: the reports may take the months closed by `wm`.
        self.metrics.archived_watermark_unix.store(wm, Relaxed);
        match r {
            Ok(()) => {
                self.metrics
                    .rows_emitted
                    .fetch_add(u64::from(rows), Relaxed);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot append standards results yet; retrying.");
                Some((text, rows, Archived::new(), wm))
            }
        }
    }
}
