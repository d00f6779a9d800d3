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

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::metrics::StandardsMetrics;
use super::report::ComplianceRow;
use super::Engine;
use crate::buffer::Buffer;

/// Rows read per step.
const STEP_ROWS: u64 = 2_048;

/// Where the engine keeps its state.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("standards").join("state.json")
}

/// Write `bytes` to `path` so that a crash leaves either the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Load the saved state into `engine`, or start at the reader's acknowledged position.
pub fn load(engine: &mut Engine, path: &Path, buffer: &Buffer, reader: usize) {
    match std::fs::read(path) {
        Ok(bytes) => match engine.restore(&bytes) {
            Ok(()) => {
                tracing::info!(path = %path.display(), next_id = engine.next_id, "Standards state restored.");
                return;
            }
            Err(e) => {
                // Keep the unreadable file for inspection; figures restart from the buffer.
                let aside = path.with_extension("unreadable");
                let _ = std::fs::rename(path, &aside);
                tracing::error!(error = %e, kept = %aside.display(), "Standards state unreadable; recomputing from the buffer.");
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "Cannot read standards state.")
        }
    }
    engine.next_id = buffer.cursor(reader).next_id;
}

/// Latest compliance rows (the windows of the latest day with figures), shared with the HTTP
/// API and the demo.
pub type Latest = Arc<Mutex<Vec<ComplianceRow>>>;

pub struct Task {
    pub engine: Engine,
    pub reader: usize,
    pub buffer: Arc<Buffer>,
    pub path: PathBuf,
    pub metrics: Arc<StandardsMetrics>,
    pub latest: Latest,
    pub emit_every: Duration,
    pub checkpoint_every: Duration,
}

impl Task {
    /// Run until `stop` and caught up with the buffer; then emit and save a last time.
    pub async fn run(self, stop: CancellationToken) {
        let Task {
            engine,
            reader,
            buffer,
            path,
            metrics,
            latest,
            emit_every,
            checkpoint_every,
        } = self;
        let mut engine = Some(engine);
        let mut cursor = Some(buffer.cursor_at(reader, engine.as_ref().map_or(0, |e| e.next_id)));
        let mut appended = buffer.watch();
        let (mut last_emit, mut last_save) = (Instant::now(), Instant::now());
        let mut pending: Option<(String, u32)> = None;
        let mut saved_id = engine.as_ref().map_or(0, |e| e.next_id);
        let mut unsaved_rows = 0u64;
        let mut body = Some(Vec::with_capacity(256 * 1024));
        loop {
            appended.mark_unchanged();
            // Read and count one step.
            let (Some(mut eng), Some(mut cur), Some(mut buf)) =
                (engine.take(), cursor.take(), body.take())
            else {
                return;
            };
            let b = Arc::clone(&buffer);
            let step = tokio::task::spawn_blocking(move || {
                buf.clear();
                let r = b.read(&mut cur, STEP_ROWS, u64::MAX, &mut buf);
                let counts = eng.ingest_lines(&buf);
                eng.next_id = cur.next_id;
                (eng, cur, buf, r, counts)
            })
            .await;
            let Ok((eng, cur, buf, read, counts)) = step else {
                tracing::error!("Standards engine step failed; stopping the engine.");
                return;
            };
            let records = match read {
                Ok(r) => {
                    unsaved_rows += r.rows;
                    r.records
                }
                Err(e) => {
                    tracing::error!(error = %e, "Standards engine cannot read the buffer; retrying.");
                    0
                }
            };
            for (a, n) in metrics.readings.iter().zip(counts) {
                a.fetch_add(n, Relaxed);
            }
            metrics.watermark_unix.store(eng.watermark.max(0), Relaxed);
            let (mut eng, cur) = (eng, cur);
            body = Some(buf);
            let stopping = stop.is_cancelled() && records == 0;
            if pending.is_none() && (last_emit.elapsed() >= emit_every || stopping) {
                last_emit = Instant::now();
                let out = eng.emit();
                metrics.emissions.fetch_add(1, Relaxed);
                if !out.days.is_empty() || !out.compliance.is_empty() {
                    let today = eng.day_of(eng.watermark.max(0));
                    let rows = eng.compliance_for(eng.latest_day().unwrap_or(today));
                    *latest.lock().unwrap_or_else(|e| e.into_inner()) = rows;
                    let lines = out.to_lines();
                    if lines.1 > 0 {
                        pending = Some(lines);
                    }
                }
            }
            if let Some((text, rows)) = pending.take() {
                let b = Arc::clone(&buffer);
                let r = tokio::task::spawn_blocking(move || {
                    let r = b.append_reserved(rows, text.as_bytes());
                    (text, r)
                })
                .await;
                match r {
                    Ok((_, Ok(_))) => {
                        metrics.rows_emitted.fetch_add(u64::from(rows), Relaxed);
                    }
                    Ok((text, Err(e))) => {
                        tracing::warn!(error = %e, "Cannot append standards results yet; retrying.");
                        pending = Some((text, rows));
                    }
                    Err(_) => tracing::error!("Standards append task failed."),
                }
            }
            let save_due = last_save.elapsed() >= checkpoint_every || stopping;
            if pending.is_none() && save_due && eng.next_id > saved_id {
                last_save = Instant::now();
                let p = path.clone();
                let saved = tokio::task::spawn_blocking(move || {
                    let r = eng
                        .save()
                        .map_err(std::io::Error::other)
                        .and_then(|bytes| write_atomically(&p, &bytes));
                    (eng, r)
                })
                .await;
                let Ok((e, r)) = saved else {
                    tracing::error!("Standards save task failed; stopping the engine.");
                    return;
                };
                eng = e;
                match r {
                    Ok(()) => {
                        metrics.checkpoints.fetch_add(1, Relaxed);
                        saved_id = eng.next_id;
                        if let Err(e) = buffer.ack(reader, saved_id, unsaved_rows) {
                            tracing::warn!(error = %e, "Cannot record the standards buffer position.");
                        }
                        unsaved_rows = 0;
                    }
                    Err(e) => {
                        metrics.checkpoint_errors.fetch_add(1, Relaxed);
                        tracing::error!(error = %e, path = %path.display(), "Cannot save standards state; retrying.");
                    }
                }
            }
            if stopping {
                if pending.is_some() {
                    tracing::warn!("Standards results not appended at shutdown; they are recomputed at the next start.");
                }
                tracing::info!(next_id = eng.next_id, "Standards engine stopped.");
                return;
            }
            engine = Some(eng);
            cursor = Some(cur);
            if records == 0 {
                let wait = emit_every.min(checkpoint_every).min(Duration::from_secs(1));
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
    }
}
