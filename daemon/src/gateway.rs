//! The gateway as its readers see it: a narrow, read-only view for the HTTP API, the web page,
//! the health rows and the demo's table (devices, live state, compliance, alerts, counters).
//! Built by `topology`; read by `http`, `sources::internal` and `demo`, none of which needs
//! the wiring.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::sources::modbus::map::RegisterMap;
use crate::transforms::aggregate::task::Latest;
use crate::transforms::Live;

/// State shared by the pipeline and its readers.
#[derive(Clone)]
pub struct Shared {
    pub registry: Arc<Registry>,
    pub live: Arc<Mutex<Live>>,
    pub metrics: Arc<Metrics>,
    pub started: std::time::Instant,
    /// Current compliance rows (day, month, quarter and year windows of the latest day).
    pub compliance: Latest,
    /// Active and recent alerts, outboxes and runtime silences (when alerts are configured).
    pub alerts: Option<Arc<Mutex<crate::transforms::alert::store::Store>>>,
    /// Wakes the alert evaluator (e.g. a silence was added).
    pub alerts_changed: Arc<tokio::sync::Notify>,
    /// What the web page and API need from the configuration.
    pub view: Arc<View>,
}

/// What the API needs from the configuration.
pub struct View {
    pub tz: jiff::tz::TimeZone,
    pub toilet_hours: String,
    pub prefix: String,
    pub maps: BTreeMap<PathBuf, Arc<RegisterMap>>,
    pub max_silences: usize,
    pub max_silence_days: u64,
}

impl View {
    pub fn from_config(c: &Config) -> View {
        View {
            tz: jiff::tz::TimeZone::get(&c.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
            toilet_hours: c.standards.toilets.opening_hours.clone(),
            prefix: c.topic_prefix().to_string(),
            maps: c.modbus_maps.clone(),
            max_silences: c.alerts.max_silences,
            max_silence_days: c.alerts.max_silence_days,
        }
    }

    pub fn rfc3339(&self, unix: i64) -> Option<String> {
        let t = jiff::Timestamp::from_second(unix).ok()?;
        Some(
            t.to_zoned(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
        )
    }
}
