//! The alert evaluator inside the daemon: a reader of the durable buffer (like the standards
//! engine) plus a timer for gateway rules. Its state, the alert store with its outboxes, and
//! its buffer position are saved together in `{data_dir}/alerts/state.json` whenever an alert
//! changes and every `checkpoint_interval_secs`; the buffer is released only up to a saved
//! position.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Evaluator;
use crate::buffer::Buffer;
use crate::gateway::Telemetry;
use crate::time::unix_now;
use crate::transforms::aggregate::task::{write_atomically, Latest};
use crate::transforms::Live;

const STEP_ROWS: u64 = 4_096;

pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts").join("state.json")
}

/// Restore saved state, or start at the reader's acknowledged position.
pub fn load(e: &mut Evaluator, path: &Path, buffer: &Buffer, reader: usize) {
    match std::fs::read(path) {
        Ok(bytes) => match e.restore(&bytes) {
            Ok(()) => {
                let active = e.store.lock().map_or(0, |s| s.active.len());
                tracing::info!(path = %path.display(), active, "Alert state restored.");
                return;
            }
            Err(err) => {
                let aside = path.with_extension("unreadable");
                let _ = std::fs::rename(path, &aside);
                tracing::error!(error = %err, kept = %aside.display(), "Alert state unreadable; starting without active alerts.");
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::error!(error = %err, path = %path.display(), "Cannot read alert state.")
        }
    }
    e.next_id = buffer.cursor(reader).next_id;
}

pub struct Task {
    pub evaluator: Evaluator,
    pub reader: usize,
    pub buffer: Arc<Buffer>,
    pub path: PathBuf,
    pub counters: Arc<super::metrics::AlertMetrics>,
    /// What gateway rules look at (sinks, Modbus devices).
    pub telemetry: Arc<Telemetry>,
    pub live: Arc<Mutex<Live>>,
    pub compliance: Latest,
    pub tick_every: Duration,
    pub checkpoint_every: Duration,
    /// Woken when outboxes have something new.
    pub outbox: Arc<Notify>,
    /// Delivery workers ask for a save after delivering (so a restart does not resend).
    pub save_requested: Arc<Notify>,
}

fn version(e: &Evaluator) -> (usize, usize, usize) {
    let s = e.store.lock().unwrap_or_else(|p| p.into_inner());
    let queued: usize = s.outbox.values().map(|q| q.len()).sum();
    let transitions: u64 = s.transitions.values().sum();
    (s.active.len(), queued, transitions as usize)
}

impl Task {
    pub async fn run(self, stop: CancellationToken) {
        let Task {
            evaluator,
            reader,
            buffer,
            path,
            counters,
            telemetry,
            live,
            compliance,
            tick_every,
            checkpoint_every,
            outbox,
            save_requested,
        } = self;
        let started = unix_now();
        let mut ev = Some(evaluator);
        let mut cursor = Some(buffer.cursor_at(reader, ev.as_ref().map_or(0, |e| e.next_id)));
        let mut appended = buffer.watch();
        let mut body = Some(Vec::with_capacity(64 * 1024));
        let (mut last_tick, mut last_save) = (Instant::now() - tick_every, Instant::now());
        let (mut saved_id, mut unsaved_rows) = (ev.as_ref().map_or(0, |e| e.next_id), 0u64);
        let mut dirty = false;
        loop {
            appended.mark_unchanged();
            let (Some(mut e), Some(mut cur), Some(mut buf)) =
                (ev.take(), cursor.take(), body.take())
            else {
                return;
            };
            let before = version(&e);
            let b = Arc::clone(&buffer);
            let step = tokio::task::spawn_blocking(move || {
                buf.clear();
                let r = b.read(&mut cur, STEP_ROWS, u64::MAX, &mut buf);
                e.ingest_lines(&buf, unix_now());
                e.next_id = cur.next_id;
                (e, cur, buf, r)
            })
            .await;
            let Ok((mut e, cur, buf, read)) = step else {
                tracing::error!("Alert evaluation step failed; alerts stop.");
                return;
            };
            body = Some(buf);
            let records = match read {
                Ok(r) => {
                    unsaved_rows += r.rows;
                    r.records
                }
                Err(err) => {
                    tracing::error!(error = %err, "Alert evaluator cannot read the buffer; retrying.");
                    0
                }
            };
            if last_tick.elapsed() >= tick_every {
                last_tick = Instant::now();
                let rows = compliance.lock().map(|c| c.clone()).unwrap_or_default();
                let live = live.lock().unwrap_or_else(|p| p.into_inner());
                e.tick(&super::GatewayView {
                    now: unix_now(),
                    started,
                    live: &live,
                    telemetry: &telemetry,
                    compliance: &rows,
                });
            }
            let changed = version(&e) != before;
            dirty |= changed;
            let stopping = stop.is_cancelled() && records == 0;
            let due = last_save.elapsed() >= checkpoint_every && e.next_id > saved_id;
            if dirty || due || (stopping && e.next_id > saved_id) {
                let p = path.clone();
                let saved = tokio::task::spawn_blocking(move || {
                    let r = e
                        .save()
                        .map_err(std::io::Error::other)
                        .and_then(|bytes| write_atomically(&p, &bytes));
                    (e, r)
                })
                .await;
                let Ok((e2, r)) = saved else {
                    tracing::error!("Alert save task failed; alerts stop.");
                    return;
                };
                e = e2;
                match r {
                    Ok(()) => {
                        dirty = false;
                        last_save = Instant::now();
                        counters.checkpoints.fetch_add(1, Relaxed);
                        if e.next_id > saved_id {
                            saved_id = e.next_id;
                            if let Err(err) = buffer.ack(reader, saved_id, unsaved_rows) {
                                tracing::warn!(error = %err, "Cannot record the alert buffer position.");
                            }
                            unsaved_rows = 0;
                        }
                    }
                    Err(err) => {
                        counters.checkpoint_errors.fetch_add(1, Relaxed);
                        tracing::error!(error = %err, path = %path.display(), "Cannot save alert state; retrying.");
                    }
                }
            }
            // Deliveries go out only after the alert is saved: a crash cannot forget one
            // that a centre has already been told about.
            if changed {
                outbox.notify_waiters();
            }
            if stopping {
                tracing::info!("Alert evaluator stopped.");
                return;
            }
            ev = Some(e);
            cursor = Some(cur);
            if records == 0 {
                let wait = tick_every.saturating_sub(last_tick.elapsed());
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = save_requested.notified() => dirty = true,
                    _ = stop.cancelled() => {}
                }
            }
        }
    }
}
