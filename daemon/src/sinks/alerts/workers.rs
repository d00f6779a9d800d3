//! The delivery workers, one per channel, and what a reload does to them: a channel whose
//! settings changed or that was removed is stopped after the delivery in flight, then a new
//! one starts; the others keep running. A changed channel keeps its outbox (nothing queued is
//! lost); a removed channel's outbox is dropped (logged with its size); an added channel
//! receives the notifications raised from then on. Channels are compared by their settings'
//! Debug form, where secrets are redacted: a changed secret alone takes a restart.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{build_all, run, ChannelMetrics};
use crate::config::Config;
use crate::reload::Applied;
use crate::transforms::alert::store::Store;

/// What identifies a channel's settings, per channel name (the names [`build_all`] gives).
fn shapes(c: &Config) -> Vec<(String, String)> {
    let a = &c.alerts;
    let mut out: Vec<(String, String)> = a
        .webhooks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let name = w.name.clone().unwrap_or_else(|| format!("webhook{i}"));
            (name, format!("{w:?}"))
        })
        .collect();
    for (list, prefix) in [(&a.wecom, "wecom"), (&a.dingtalk, "dingtalk")] {
        for (i, r) in list.iter().enumerate() {
            let name = r.name.clone().unwrap_or_else(|| format!("{prefix}{i}"));
            out.push((name, format!("{prefix} {r:?}")));
        }
    }
    if let Some(m) = &a.mqtt {
        out.push(("mqtt".into(), format!("{m:?} {:?}", c.mqtt)));
    }
    if let Some(m) = &a.alertmanager {
        out.push((
            "alertmanager".into(),
            format!("{m:?} {}", c.daemon.http_listen),
        ));
    }
    out
}

struct Worker {
    name: String,
    shape: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

pub struct Workers {
    running: Vec<Worker>,
    store: Arc<Mutex<Store>>,
    metrics: Arc<Mutex<Vec<Arc<ChannelMetrics>>>>,
    wake: tokio::sync::watch::Sender<u64>,
    delivered: Arc<Notify>,
    stop: CancellationToken,
    limits: (usize, usize),
}

impl Workers {
    /// Start a worker for every channel of `config`.
    pub fn start(
        config: &Config,
        channels: Vec<(String, super::Channel)>,
        store: Arc<Mutex<Store>>,
        metrics: Arc<Mutex<Vec<Arc<ChannelMetrics>>>>,
        wake: tokio::sync::watch::Sender<u64>,
        delivered: Arc<Notify>,
        stop: CancellationToken,
    ) -> Workers {
        let a = &config.alerts;
        let mut w = Workers {
            running: Vec::new(),
            store,
            metrics,
            wake,
            delivered,
            stop,
            limits: (a.outbox_max, a.recent_kept),
        };
        // The store's outboxes were set for these channels before its state was restored.
        let shapes = shapes(config);
        for (name, ch) in channels {
            let shape = shapes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            w.spawn(name, shape, ch);
        }
        w
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&mut self, name: String, shape: String, ch: super::Channel) {
        let m = Arc::new(ChannelMetrics {
            name: name.clone(),
            kind: ch.kind(),
            ..Default::default()
        });
        {
            let mut list = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
            list.retain(|x| x.name != name);
            list.push(Arc::clone(&m));
        }
        let stop = self.stop.child_token();
        let task = tokio::spawn(run(
            ch,
            m,
            Arc::clone(&self.store),
            self.wake.subscribe(),
            Arc::clone(&self.delivered),
            stop.clone(),
        ));
        self.running.push(Worker {
            name,
            shape,
            stop,
            task,
        });
    }

    /// Make the running channels those of `config`.
    async fn apply(&mut self, config: &Config) {
        let wanted = shapes(config);
        let unchanged = |w: &Worker| wanted.iter().any(|(n, s)| *n == w.name && *s == w.shape);
        if wanted.len() == self.running.len() && self.running.iter().all(unchanged) {
            return;
        }
        // Build first: a channel that cannot be built leaves every channel as it was.
        let built = match build_all(config) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "Reload: alert channels not changed.");
                return;
            }
        };
        let (keep, go): (Vec<Worker>, Vec<Worker>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(unchanged);
        self.running = keep;
        for w in go {
            w.stop.cancel();
            let _ = w.task.await;
            self.metrics
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|m| m.name != w.name);
            tracing::info!(channel = %w.name, "Reload: alert channel stopped.");
        }
        let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
        self.lock_store()
            .set_channels(&names, self.limits.0, self.limits.1);
        for (name, ch) in built {
            if self.running.iter().any(|w| w.name == name) {
                continue;
            }
            let shape = wanted
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            tracing::info!(channel = %name, "Reload: alert channel started.");
            self.spawn(name, shape, ch);
        }
        self.wake.send_modify(|v| *v += 1);
    }

    /// Run until `stop`, taking channel changes from reloads; then stop every worker.
    pub async fn supervise(mut self, mut applied: Option<Applied>) {
        loop {
            let reloaded = async {
                match &mut applied {
                    Some(a) => a.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(()) = reloaded => {}
                _ = self.stop.cancelled() => break,
            }
            if let Some(config) = applied.as_mut().and_then(|a| a.take()) {
                self.apply(&config).await;
            }
        }
        for w in self.running {
            w.stop.cancel();
            let _ = w.task.await;
        }
    }
}
