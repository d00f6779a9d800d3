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
use crate::buffer::stateful::{State, StatefulReader, StepError};
use crate::gateway::Telemetry;
use crate::time::unix_now;
use crate::transforms::aggregate::task::Latest;
use crate::transforms::Live;

const STEP_ROWS: u64 = 4_096;

pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts").join("state.json")
}

impl State for Evaluator {
    fn next_id(&self) -> u64 {
        self.next_id
    }
    fn set_next_id(&mut self, id: u64) {
        self.next_id = id;
    }
    fn save(&self) -> Result<Vec<u8>, serde_json::Error> {
        Evaluator::save(self)
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        Evaluator::restore(self, bytes)
    }
}

pub struct Task {
    /// The evaluator with its buffer position ([`StatefulReader::open`] restores both).
    pub evaluator: StatefulReader<Evaluator>,
    pub counters: Arc<super::metrics::AlertMetrics>,
    /// What gateway rules look at (sinks, Modbus devices).
    pub telemetry: Arc<Telemetry>,
    pub live: Arc<Mutex<Live>>,
    pub compliance: Latest,
    pub tick_every: Duration,
    pub checkpoint_every: Duration,
    /// Woken when outboxes have something new.
    /// Bumped when the outbox has something new: each channel holds a receiver, so a change
    /// is seen even when it lands while the channel is busy (a `Notify::notify_waiters` would
    /// be lost then, and the channel wait for its 1 s safety poll).
    pub outbox: tokio::sync::watch::Sender<u64>,
    /// Delivery workers ask for a save after delivering (so a restart does not resend).
    pub save_requested: Arc<Notify>,
    /// The configuration in effect: rules and silences changed by a reload are taken in.
    pub config: Option<crate::reload::Applied>,
}

fn version(e: &Evaluator) -> (usize, usize, usize) {
    let s = e.store.lock().unwrap_or_else(|p| p.into_inner());
    let queued: usize = s.outbox.values().map(|q| q.len()).sum();
    let transitions: u64 = s.transitions.values().sum();
    (s.active.len(), queued, transitions as usize)
}

/// The shortest time between two saves of the alert state for changed alerts.
const MIN_SAVE_GAP: Duration = Duration::from_millis(250);

impl Task {
    pub async fn run(mut self, stop: CancellationToken) {
        let started = unix_now();
        let mut appended = self.evaluator.watch();
        let mut pace = crate::buffer::pace::Pace::new(std::time::Duration::from_millis(10));
        let (mut last_tick, mut last_save) = (Instant::now() - self.tick_every, Instant::now());
        let mut dirty = false;
        // Changes not yet announced to the channel workers (they are once saved).
        let mut announce = false;
        loop {
            appended.mark_unchanged();
            let Some(before) = self.evaluator.state().map(|e| version(e)) else {
                return;
            };
            let step = self
                .evaluator
                .step(STEP_ROWS, |e, lines| e.ingest_lines(lines, unix_now()))
                .await;
            let records = match step {
                Ok((read, ())) => read.records,
                Err(StepError::Lost) => {
                    tracing::error!("Alert evaluation step failed; alerts stop.");
                    return;
                }
                Err(err) => {
                    tracing::error!(error = %err, "Alert evaluator cannot read the buffer; retrying.");
                    0
                }
            };
            self.take_reload();
            if last_tick.elapsed() >= self.tick_every {
                last_tick = Instant::now();
                self.tick(started);
            }
            let changed = self.evaluator.state().map(|e| version(e)) != Some(before);
            dirty |= changed;
            announce |= changed;
            let stopping = stop.is_cancelled() && records == 0;
            let unsaved = self.evaluator.unsaved();
            let due = last_save.elapsed() >= self.checkpoint_every && unsaved;
            // A changed alert is saved at once, but not more often than MIN_SAVE_GAP: with
            // thousands of devices the state is large and alerts change every step.
            let gap = last_save.elapsed() >= MIN_SAVE_GAP;
            if (dirty && gap) || due || (stopping && (unsaved || dirty)) {
                match self.evaluator.save().await {
                    Ok(()) => {
                        dirty = false;
                        last_save = Instant::now();
                        self.counters.checkpoints.fetch_add(1, Relaxed);
                        // Deliveries go out only after the alert is saved: a crash cannot
                        // forget one that a centre has already been told about.
                        if std::mem::take(&mut announce) {
                            self.outbox.send_modify(|v| *v += 1);
                        }
                    }
                    Err(StepError::Lost) => {
                        tracing::error!("Alert save task failed; alerts stop.");
                        return;
                    }
                    Err(err) => {
                        self.counters.checkpoint_errors.fetch_add(1, Relaxed);
                        tracing::error!(error = %err, "Cannot save alert state; retrying.");
                    }
                }
            }
            if stopping {
                tracing::info!("Alert evaluator stopped.");
                return;
            }
            if records == 0 {
                let mut wait = self.tick_every.saturating_sub(last_tick.elapsed());
                if dirty {
                    wait = wait.min(MIN_SAVE_GAP.saturating_sub(last_save.elapsed()));
                }
                let reloaded = async {
                    match &mut self.config {
                        Some(c) => c.changed().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = appended.changed() => pace.wait().await,
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.save_requested.notified() => dirty = true,
                    Some(()) = reloaded => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
    }

    /// Rules and silences from a reload, if one applied any.
    fn take_reload(&mut self) {
        let Some(config) = self.config.as_mut().and_then(|c| c.take()) else {
            return;
        };
        if let Some(e) = self.evaluator.state() {
            let c = e.reconfigure(&config.alerts, unix_now());
            if !c.is_empty() {
                tracing::info!(added = ?c.added, changed = ?c.changed, removed = ?c.removed,
                    silences_changed = c.silences_changed, "Alert rules reloaded.");
            }
        }
    }

    /// Evaluate the gateway rules (offline devices, sinks' backlog, compliance, Modbus).
    fn tick(&mut self, started: i64) {
        let rows = self
            .compliance
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = self.evaluator.state() {
            e.tick(&super::GatewayView {
                now: unix_now(),
                started,
                live: &live,
                telemetry: &self.telemetry,
                compliance: &rows,
            });
        }
    }
}
