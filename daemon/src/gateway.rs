//! The gateway as its readers see it: a narrow, read-only view for the HTTP API, the web page,
//! the health rows and the demo's table (devices, live state, compliance, alerts, counters).
//! Built by `topology`; read by `http`, `sources::internal` and `demo`, none of which needs
//! the wiring.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use crate::buffer::Buffer;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::prom::Prom;
use crate::registry::Registry;
use crate::sinks::alerts::ChannelMetrics;
use crate::sinks::metrics::{placed, Placed};
use crate::sinks::SinkMetrics;
use crate::sources::modbus::map::RegisterMap;
use crate::sources::modbus::DeviceMetrics;
use crate::transforms::aggregate::metrics::StandardsMetrics;
use crate::transforms::aggregate::task::Latest;
use crate::transforms::alert::metrics::AlertMetrics;
use crate::transforms::alert::store::Store;
use crate::transforms::Live;

/// State shared by the pipeline and its readers.
#[derive(Clone)]
pub struct Shared {
    pub registry: Arc<Registry>,
    pub live: Arc<Mutex<Live>>,
    /// Devices that publish but are not declared.
    pub pending: Arc<Mutex<crate::transforms::pending::Pending>>,
    /// The ingest queue, for messages of an adopted device (set once the sources start; weak,
    /// so the pipeline still ends when its sources do).
    pub ingest: Arc<std::sync::OnceLock<tokio::sync::mpsc::WeakSender<crate::event::RawMessage>>>,
    /// Reloads the configuration file (none for a daemon not started from one).
    pub reload: Option<Arc<crate::reload::Reloader>>,
    pub metrics: Arc<Metrics>,
    /// Every component's counters, for `/metrics`, `/health` and the health rows.
    pub telemetry: Arc<Telemetry>,
    pub started: std::time::Instant,
    /// Current compliance rows (day, month, quarter and year windows of the latest day).
    pub compliance: Latest,
    /// Active and recent alerts, outboxes and runtime silences (when alerts are configured).
    pub alerts: Option<Arc<Mutex<Store>>>,
    /// Wakes the alert evaluator (e.g. a silence was added).
    pub alerts_changed: Arc<tokio::sync::Notify>,
    /// What the web page and API need from the configuration.
    pub view: Arc<View>,
}

/// Where each component's counters are: the components own and count them; this only knows
/// where they are, and puts their families together for `GET /metrics`.
pub struct Telemetry {
    pub ingest: Arc<Metrics>,
    pub buffer: Arc<Buffer>,
    pub sinks: Vec<Arc<SinkMetrics>>,
    pub standards: Arc<StandardsMetrics>,
    /// The standards engine's reader in the buffer.
    pub standards_reader: Option<usize>,
    /// The alert evaluator's reader in the buffer (its backlog).
    pub alerts_reader: Option<usize>,
    pub alerts: Arc<AlertMetrics>,
    /// The alert channels' counters (a reload may add or remove channels).
    pub channels: Arc<Mutex<Vec<Arc<ChannelMetrics>>>>,
    /// Polled Modbus devices (set once the sources start).
    pub modbus: std::sync::OnceLock<Vec<Arc<DeviceMetrics>>>,
    pub pending: Arc<Mutex<crate::transforms::pending::Pending>>,
    pub reload: std::sync::OnceLock<Arc<crate::reload::Reloader>>,
}

impl Telemetry {
    /// Each sink with its place in the buffer.
    pub fn sinks(&self) -> Vec<Placed<'_>> {
        placed(&self.sinks, &self.buffer)
    }

    pub fn modbus(&self) -> &[Arc<DeviceMetrics>] {
        self.modbus.get().map(Vec::as_slice).unwrap_or_default()
    }

    /// Prometheus text of every component; `alerts`: the alert store when alerting runs.
    pub fn render(&self, alerts: Option<&Mutex<Store>>) -> String {
        let mut p = Prom::new();
        self.ingest.render(&mut p);
        let sinks = self.sinks();
        p.family(
            "meili_queue_depth",
            "gauge",
            "Items waiting in a pipeline queue.",
            std::iter::once((
                "queue=\"ingest\"".to_string(),
                self.ingest.ingest_queue_depth.load(Relaxed) as f64,
            ))
            .chain(sinks.iter().map(|s| {
                (
                    format!("queue=\"sink\",sink=\"{}\"", s.sink.name),
                    s.sink.queue_depth.load(Relaxed) as f64,
                )
            })),
        );
        crate::sinks::metrics::render(&sinks, &mut p, crate::time::unix_now_ms());
        let reader = self.standards_reader.map(|i| self.buffer.reader_stats(i));
        self.standards.render(reader, &mut p);
        DeviceMetrics::render(self.modbus(), &mut p);
        self.buffer.metrics.render(&mut p);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .render(&mut p);
        if let Some(r) = self.reload.get() {
            r.render(&mut p);
        }
        if let Some(store) = alerts {
            let store = store.lock().unwrap_or_else(|e| e.into_inner());
            self.alerts.render(&store, &mut p);
            if let Some(i) = self.alerts_reader {
                p.gauge(
                    "meili_alerts_backlog_rows",
                    "Buffered rows the alert evaluator has not read yet (its lag behind ingest).",
                    self.buffer.reader_stats(i).backlog() as f64,
                );
            }
            let channels = self.channels.lock().map(|c| c.clone()).unwrap_or_default();
            ChannelMetrics::render(&channels, &store, &mut p);
        }
        p.finish()
    }
}

/// What the API needs from the configuration.
pub struct View {
    pub tz: jiff::tz::TimeZone,
    /// `daemon.timezone` (IANA), for pages that show times in the gateway's zone.
    pub tz_name: String,
    pub toilet_hours: String,
    pub prefix: String,
    pub maps: BTreeMap<PathBuf, Arc<RegisterMap>>,
    pub max_silences: usize,
    pub max_silence_days: u64,
    /// `daemon.adopt_file`, from the configuration file's folder.
    pub adopt_file: Option<PathBuf>,
    /// `{data_dir}/reports`: reports written there (`meilid report --out`) are served.
    pub reports_dir: PathBuf,
}

impl View {
    pub fn from_config(c: &Config) -> View {
        View {
            tz: jiff::tz::TimeZone::get(&c.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
            tz_name: c.daemon.timezone.clone(),
            toilet_hours: c.standards.toilets.opening_hours.clone(),
            prefix: c.topic_prefix().to_string(),
            maps: c.modbus_maps.clone(),
            max_silences: c.alerts.max_silences,
            max_silence_days: c.alerts.max_silence_days,
            adopt_file: c.daemon.adopt_file.as_ref().map(|f| {
                let base = c.files.first().and_then(|m| m.parent());
                base.unwrap_or(std::path::Path::new(".")).join(f)
            }),
            reports_dir: crate::report::monthly::reports_dir(&c.daemon.data_dir),
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
