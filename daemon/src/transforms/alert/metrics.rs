//! The alert evaluator's counters and the `meili_alert(s)_*` families of its store.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::store::Store;
use crate::config::alerts::Severity;
use crate::prom::Prom;

#[derive(Debug, Default)]
pub struct AlertMetrics {
    pub checkpoints: AtomicU64,
    pub checkpoint_errors: AtomicU64,
}

impl AlertMetrics {
    /// The evaluator's families; `store`: the alerts it keeps (firing, silenced, transitions).
    pub fn render(&self, store: &Store, p: &mut Prom) {
        p.family(
            "meili_alerts_active",
            "gauge",
            "Alerts firing now.",
            Severity::ALL.iter().map(|v| {
                let n = store
                    .active
                    .values()
                    .filter(|x| x.alert.severity == v.as_str())
                    .count();
                (format!("severity=\"{}\"", v.as_str()), n as f64)
            }),
        );
        p.gauge(
            "meili_alerts_silenced",
            "Firing alerts held back by a silence.",
            store.active.values().filter(|x| x.silenced).count() as f64,
        );
        p.family(
            "meili_alert_transitions_total",
            "counter",
            "Alerts that fired or resolved since start.",
            store.transitions.iter().map(|((rule, state), n)| {
                (format!("rule=\"{rule}\",state=\"{state}\""), *n as f64)
            }),
        );
        p.counter(
            "meili_alert_checkpoints_total",
            "Alert state saves.",
            self.checkpoints.load(Relaxed) as f64,
        );
        p.counter(
            "meili_alert_checkpoint_errors_total",
            "Failed alert state saves (retried).",
            self.checkpoint_errors.load(Relaxed) as f64,
        );
    }
}
