//! Reloading the configuration while running (SIGHUP, `POST /api/v1/reload`).
//!
//! The file is read and validated first: an invalid one keeps the running configuration, every
//! error is logged with file:line and `meili_config_reload_failures_total` counts it. A valid
//! one applies what can change without stopping the pipeline — devices added in the file or
//! its `include`s join the registry at once (as an adopted device does), so no reading in
//! flight is lost or counted twice; alert rules and silences go to the alert evaluator, alert
//! channels to their workers and the standards' targets to the engine (all through
//! [`Reloader::subscribe`]). It reports,
//! without applying, what needs a restart: changed or removed devices and any other section
//! that differs (daemon, http, mqtt, buffer, sinks, validate, the rest of standards and
//! alerts, provision). docs/operations.md, "Reload".

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::config::{self, Config, DeviceConfig};
use crate::prom::Prom;
use crate::registry::Registry;

/// What one reload did.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    /// Devices taken in (`site/id`).
    pub added: Vec<String>,
    /// Other changes applied: `standards targets`, `alert rules`, `alert silences`,
    /// `alert channels`.
    pub applied: Vec<String>,
    /// What changed in the file but takes a restart to apply.
    pub restart_needed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReloadError(pub String);

pub struct Reloader {
    path: PathBuf,
    running: Mutex<Config>,
    registry: Arc<Registry>,
    /// Alert rules run (an evaluator exists only when the daemon started with rules).
    alerting: bool,
    /// The configuration in effect, for the tasks that take changes while running.
    applied: tokio::sync::watch::Sender<Arc<Config>>,
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

fn key(d: &DeviceConfig) -> String {
    format!("{}/{}", d.site, d.id)
}

impl Reloader {
    /// For a daemon started from `config` (its main file is read again on reload).
    pub fn new(config: &Config, registry: Arc<Registry>) -> Option<Reloader> {
        Some(Reloader {
            path: config.files.first()?.clone(),
            running: Mutex::new(config.clone()),
            registry,
            alerting: !config.alerts.rules.is_empty(),
            applied: tokio::sync::watch::Sender::new(Arc::new(config.clone())),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The configuration in effect; changes when a reload applies something.
    pub fn subscribe(&self) -> Applied {
        let rx = self.applied.subscribe();
        let seen = Arc::clone(&rx.borrow());
        Applied { rx, seen }
    }

    /// Read the file again and apply what can be applied (blocking: file I/O).
    pub fn reload(&self) -> Result<Outcome, ReloadError> {
        let new = match config::load(&self.path) {
            Ok(c) => c,
            Err(errors) => {
                self.failures.fetch_add(1, Relaxed);
                for e in &errors.0 {
                    tracing::error!("Reload: {e}");
                }
                tracing::error!(
                    errors = errors.0.len(),
                    "Reload refused; the running configuration stays."
                );
                return Err(ReloadError(errors.to_string()));
            }
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Outcome::default();
        let before: std::collections::HashMap<String, String> = running
            .devices
            .iter()
            .map(|d| (key(d.get_ref()), format!("{:?}", d.get_ref())))
            .collect();
        let mut kept = std::collections::HashSet::new();
        for d in new.devices.iter().map(|d| d.get_ref()) {
            let k = key(d);
            match before.get(&k) {
                Some(old) if *old == format!("{d:?}") => {}
                Some(_) => out.restart_needed.push(format!("device {k} changed")),
                None if self.registry.find(&d.site, &d.id).is_some() => {}
                None => match self.registry.adopt(d.clone()) {
                    Ok(_) => out.added.push(k.clone()),
                    Err(e) => out.restart_needed.push(format!("device {k}: {e}")),
                },
            }
            kept.insert(k);
        }
        for k in before.keys().filter(|k| !kept.contains(*k)) {
            out.restart_needed.push(format!("device {k} removed"));
        }
        self.take_live_changes(&mut running, &new, &mut out);
        out.restart_needed.extend(changed_sections(&running, &new));
        // What is running now: the added devices join; the rest stays as started.
        for d in new
            .devices
            .iter()
            .filter(|d| out.added.contains(&key(d.get_ref())))
        {
            running.devices.push(d.clone());
        }
        if !out.added.is_empty() || !out.applied.is_empty() {
            self.applied.send_replace(Arc::new(running.clone()));
        }
        self.reloads.fetch_add(1, Relaxed);
        tracing::info!(added = ?out.added, applied = ?out.applied, restart_needed = ?out.restart_needed, "Configuration reloaded.");
        Ok(out)
    }

    /// Alert rules, silences and the standards' targets: copied into `running`, so they no
    /// longer count as differences, and named in `out`.
    fn take_live_changes(&self, running: &mut Config, new: &Config, out: &mut Outcome) {
        if running.standards.targets != new.standards.targets {
            running.standards.targets = new.standards.targets.clone();
            out.applied.push("standards targets".into());
        }
        let rules = format!("{:?}", running.alerts.rules) != format!("{:?}", new.alerts.rules);
        let silences = running.alerts.silences != new.alerts.silences;
        if !self.alerting {
            if rules {
                out.restart_needed.push(
                    "[[alerts.rules]] added: the daemon started without rules, so alerting \
                     starts with a restart"
                        .into(),
                );
            }
            return;
        }
        if rules {
            running.alerts.rules = new.alerts.rules.clone();
            out.applied.push("alert rules".into());
        }
        if silences {
            running.alerts.silences = new.alerts.silences.clone();
            out.applied.push("alert silences".into());
        }
        // Channels: compared by their Debug form (secrets redacted).
        let (a, b) = (&running.alerts, &new.alerts);
        let channels = |x: &config::alerts::AlertsConfig| {
            format!(
                "{:?}{:?}{:?}{:?}{:?}",
                x.webhooks, x.wecom, x.dingtalk, x.mqtt, x.alertmanager
            )
        };
        if channels(a) != channels(b) {
            running.alerts.webhooks = new.alerts.webhooks.clone();
            running.alerts.wecom = new.alerts.wecom.clone();
            running.alerts.dingtalk = new.alerts.dingtalk.clone();
            running.alerts.mqtt = new.alerts.mqtt.clone();
            running.alerts.alertmanager = new.alerts.alertmanager.clone();
            out.applied.push("alert channels".into());
        }
    }

    pub fn render(&self, p: &mut Prom) {
        p.counter(
            "meili_config_reloads_total",
            "Configuration reloads applied (SIGHUP, POST /api/v1/reload).",
            self.reloads.load(Relaxed) as f64,
        );
        p.counter(
            "meili_config_reload_failures_total",
            "Reloads refused because the configuration did not validate (the running one stays).",
            self.failures.load(Relaxed) as f64,
        );
    }
}

/// A task's view of the configuration in effect.
pub struct Applied {
    rx: tokio::sync::watch::Receiver<Arc<Config>>,
    seen: Arc<Config>,
}

impl Applied {
    /// The configuration, if a reload changed it since the last call.
    pub fn take(&mut self) -> Option<Arc<Config>> {
        let now = Arc::clone(&self.rx.borrow_and_update());
        if Arc::ptr_eq(&now, &self.seen) {
            return None;
        }
        self.seen = Arc::clone(&now);
        Some(now)
    }

    /// Wait for a reload that applied something (then call [`Applied::take`]).
    pub async fn changed(&mut self) -> Option<()> {
        self.rx.changed().await.ok()
    }
}

/// Sections other than the devices that differ (compared by their Debug form; secrets are
/// redacted there, so a changed password alone is not noticed).
/// A section's name and its comparable form.
type Section = (&'static str, fn(&Config) -> String);

fn changed_sections(a: &Config, b: &Config) -> Vec<String> {
    let sections: [Section; 9] = [
        ("daemon", |c| format!("{:?}", c.daemon)),
        ("http", |c| format!("{:?}", c.http)),
        ("mqtt", |c| format!("{:?}", c.mqtt)),
        ("buffer", |c| format!("{:?}", c.buffer)),
        // Without the spans: moving a section in the file is no change.
        ("sinks", |c| {
            format!(
                "{:?}",
                c.sinks.iter().map(|s| s.get_ref()).collect::<Vec<_>>()
            )
        }),
        ("validate", |c| format!("{:?}", c.validate)),
        ("standards", |c| format!("{:?}", c.standards)),
        ("alerts", |c| format!("{:?}", c.alerts)),
        ("provision", |c| format!("{:?}", c.provision)),
    ];
    sections
        .iter()
        .filter(|(_, show)| show(a) != show(b))
        .map(|(name, _)| format!("[{name}] changed"))
        .collect()
}
