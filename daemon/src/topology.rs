//! Wiring: sources → ingest queue → validate → disk buffer → sinks (each at its own position),
//! and the standards engine reading the same buffer, writing its results back into it.
//!
//! Shutdown order: the shutdown token stops the sources; validate ends when the ingest queue is
//! drained (everything acknowledged is then in the buffer); the engine counts the rest, writes
//! its results and saves its state; the sinks write what they can and stop. Whatever they could not write within `shutdown_timeout_secs` stays in the buffer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::buffer::stateful::StatefulReader;
use crate::buffer::Buffer;
use crate::config::Config;
pub use crate::gateway::Shared;
use crate::gateway::Telemetry;
use crate::registry::Registry;
use crate::sinks::alerts::Channel;
use crate::sinks::{self, SinkBuildError, SinkControl};
use crate::sources::MqttSource;
use crate::transforms::aggregate::{self, task::Latest, Engine};
use crate::transforms::{validate, Live, Validator};

/// The standards engine's name as a buffer reader (`ack-_standards`; not a valid sink name).
const ENGINE_READER: &str = "_standards";
/// The alert evaluator's name as a buffer reader (only when rules are configured).
const ALERTS_READER: &str = "_alerts";

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Sink(#[from] SinkBuildError),
    #[error(transparent)]
    Buffer(#[from] crate::buffer::BufferError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("alerts: {0}")]
    Alerts(#[from] crate::sinks::alerts::ChannelError),
    #[error(transparent)]
    Http(#[from] crate::http::StartError),
    #[error("buffer reader {0} was not opened")]
    Reader(&'static str),
    #[error(transparent)]
    Format(#[from] crate::datadir::FormatError),
}

/// A running daemon.
pub struct Daemon {
    pub shared: Shared,
    pub http_addr: std::net::SocketAddr,
    sources_stop: CancellationToken,
    ctl: SinkControl,
    http_stop: CancellationToken,
    sources: JoinSet<()>,
    validate: tokio::task::JoinHandle<()>,
    engine: Stoppable,
    health: Option<Stoppable>,
    alerts_stop: CancellationToken,
    alert_tasks: JoinSet<()>,
    alert_evaluator: Option<Stoppable>,
    sink_tasks: JoinSet<()>,
    grace: Duration,
}

/// A running task and the token that stops it.
type Stoppable = (CancellationToken, tokio::task::JoinHandle<()>);

/// The alert evaluator and its delivery channels, when rules are configured.
struct Alerting {
    store: Arc<Mutex<crate::transforms::alert::store::Store>>,
    channels: JoinSet<()>,
    evaluator: Stoppable,
}

impl Daemon {
    pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
        let data_dir = &config.daemon.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| DaemonError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        // Before anything in it is opened: a newer meilid's directory is left alone.
        crate::datadir::check(data_dir)?;
        let registry = Arc::new(Registry::from_config(&config));
        let sinks = sinks::build_all(&config)?;
        let channels = crate::sinks::alerts::build_all(&config)?;
        let alerting = !config.alerts.rules.is_empty();
        let buffer = open_buffer(&config, &sinks, alerting)?;
        let telemetry = Arc::new(Telemetry {
            ingest: Arc::default(),
            standards_reader: buffer.reader(ENGINE_READER),
            alerts_reader: buffer.reader(ALERTS_READER),
            buffer: Arc::clone(&buffer),
            sinks: sinks.iter().map(|s| s.metrics()).collect(),
            standards: Arc::default(),
            alerts: Arc::default(),
            channels: Arc::default(),
            modbus: std::sync::OnceLock::new(),
            pending: Arc::default(),
            reload: std::sync::OnceLock::new(),
        });
        let metrics = Arc::clone(&telemetry.ingest);
        let tz =
            jiff::tz::TimeZone::get(&config.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let alerts_stop = CancellationToken::new();
        let mut shared = shared_view(&config, &registry, &telemetry);
        let live = Arc::clone(&shared.live);
        let alerts = if alerting {
            Some(start_alerts(&config, &shared, channels, &alerts_stop)?)
        } else {
            if !channels.is_empty() {
                tracing::warn!(
                    "Alert channels are configured but no [[alerts.rules]]: nothing will be sent."
                );
            }
            None
        };
        shared.alerts = alerts.as_ref().map(|a| Arc::clone(&a.store));
        let http_stop = CancellationToken::new();
        let http_addr = crate::http::start(&config, shared.clone(), http_stop.clone()).await?;
        let ctl = SinkControl {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let mut sink_tasks = JoinSet::new();
        for sink in sinks {
            let reader = buffer
                .reader(sink.name())
                .ok_or(DaemonError::Reader("a sink"))?;
            sink_tasks.spawn(sink.run(reader, Arc::clone(&buffer), ctl.clone()));
        }
        let engine = start_engine(&config, &shared, tz)?;
        let health = (config.daemon.health_interval_secs > 0).then(|| {
            let stop = CancellationToken::new();
            let host = config.daemon.host.clone();
            let task = tokio::spawn(crate::sources::internal::run(
                shared.clone(),
                Arc::clone(&buffer),
                host.unwrap_or_else(crate::sources::internal::hostname),
                Duration::from_secs(config.daemon.health_interval_secs),
                stop.clone(),
            ));
            (stop, task)
        });
        let (ingest_tx, ingest_rx) = mpsc::channel(config.daemon.ingest_queue_messages);
        let _ = shared.ingest.set(ingest_tx.downgrade());
        let validator = Validator::new(
            Arc::clone(&registry),
            config.topic_prefix(),
            config.validate.clone(),
        );
        let linger = validate::Linger {
            wait: Duration::from_millis(config.buffer.commit_wait_ms),
            messages: config.mqtt.as_ref().map_or(1, |m| m.window()),
        };
        let stage = validate::Stage {
            validator,
            buffer: Arc::clone(&buffer),
            live,
            pending: Arc::clone(&shared.pending),
            metrics: Arc::clone(&metrics),
            linger,
            abort: ctl.abort.clone(),
        };
        let validate = tokio::spawn(validate::run(stage, ingest_rx));
        let sources_stop = CancellationToken::new();
        let sources = start_sources(&config, &shared, ingest_tx, &sources_stop);
        tracing::info!(devices = registry.len(), http = %http_addr, "meilid started.");
        let (alert_tasks, alert_evaluator) = match alerts {
            Some(a) => (a.channels, Some(a.evaluator)),
            None => (JoinSet::new(), None),
        };
        Ok(Daemon {
            shared,
            http_addr,
            sources_stop,
            ctl,
            http_stop,
            sources,
            validate,
            engine,
            health,
            alerts_stop,
            alert_tasks,
            alert_evaluator,
            sink_tasks,
            grace: Duration::from_secs(config.daemon.shutdown_timeout_secs),
        })
    }

    /// Stop the sources, drain and flush the pipeline (within the grace period), stop HTTP.
    pub async fn shutdown(mut self) {
        tracing::info!("Shutting down: stopping sources, flushing sinks.");
        self.sources_stop.cancel();
        while self.sources.join_next().await.is_some() {}
        let abort = self.ctl.abort.clone();
        let grace = self.grace;
        let timer = tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abort.cancel();
        });
        // Everything taken from the broker is in the buffer once validate ends.
        let _ = self.validate.await;
        // The last health rows go out with the final flush.
        if let Some((stop, t)) = self.health.take() {
            stop.cancel();
            let _ = t.await;
        }
        self.engine.0.cancel();
        let _ = self.engine.1.await;
        // Channels first, so the evaluator's last save records what they delivered.
        self.alerts_stop.cancel();
        while self.alert_tasks.join_next().await.is_some() {}
        if let Some((stop, t)) = self.alert_evaluator.take() {
            stop.cancel();
            let _ = t.await;
        }
        self.ctl.stop.cancel();
        while self.sink_tasks.join_next().await.is_some() {}
        timer.abort();
        self.http_stop.cancel();
        tracing::info!("meilid stopped.");
    }
}

/// The buffer with a reader per sink, the standards engine's and (with rules) the alert
/// evaluator's.
fn open_buffer(
    config: &Config,
    sinks: &[sinks::Sink],
    alerting: bool,
) -> Result<Arc<Buffer>, DaemonError> {
    let mut readers: Vec<String> = sinks.iter().map(|s| s.name().to_string()).collect();
    readers.push(ENGINE_READER.to_string());
    if alerting {
        readers.push(ALERTS_READER.to_string());
    }
    let dir = config.daemon.data_dir.join("buffer");
    let (buffer, recovery) = Buffer::open(&dir, config.buffer.clone(), readers)?;
    if recovery.records > 0 || !recovery.cut.is_empty() {
        tracing::info!(
            records = recovery.records,
            rows = recovery.rows,
            damaged_segments = recovery.cut.len(),
            "Buffer reopened."
        );
    }
    Ok(Arc::new(buffer))
}

/// The alert evaluator (restored from its state file) and a delivery task per channel.
fn start_alerts(
    config: &Config,
    shared: &Shared,
    channels: Vec<(String, Channel)>,
    stop: &CancellationToken,
) -> Result<Alerting, DaemonError> {
    use crate::transforms::alert::{task, Evaluator};
    let t = &shared.telemetry;
    let ev = Evaluator::new(
        &config.alerts,
        config.standards.clone(),
        Arc::clone(&shared.registry),
        shared.view.tz.clone(),
    )
    .with_page_url(
        config
            .alerts
            .page_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/", config.daemon.http_listen)),
    );
    // Before the state is restored: its outboxes are kept for exactly these channels.
    let names: Vec<String> = channels.iter().map(|(n, _)| n.clone()).collect();
    ev.store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .set_channels(&names, config.alerts.outbox_max, config.alerts.recent_kept);
    let reader = t
        .buffer
        .reader(ALERTS_READER)
        .ok_or(DaemonError::Reader(ALERTS_READER))?;
    let path = task::state_path(&config.daemon.data_dir);
    let store = Arc::clone(&ev.store);
    let ev = StatefulReader::open(ev, Arc::clone(&t.buffer), reader, path);
    let (wake, _) = tokio::sync::watch::channel(0u64);
    let workers = crate::sinks::alerts::workers::Workers::start(
        config,
        channels,
        Arc::clone(&store),
        Arc::clone(&t.channels),
        wake.clone(),
        Arc::clone(&shared.alerts_changed),
        stop.clone(),
    );
    let mut tasks = JoinSet::new();
    tasks.spawn(workers.supervise(shared.reload.as_ref().map(|r| r.subscribe())));
    let evaluator_stop = CancellationToken::new();
    let a = &config.alerts;
    let evaluator = tokio::spawn(
        task::Task {
            evaluator: ev,
            counters: Arc::clone(&t.alerts),
            telemetry: Arc::clone(t),
            live: Arc::clone(&shared.live),
            compliance: Arc::clone(&shared.compliance),
            tick_every: Duration::from_millis(a.evaluate_interval_ms.max(100)),
            checkpoint_every: Duration::from_secs(a.checkpoint_interval_secs.max(1)),
            outbox: wake,
            save_requested: Arc::clone(&shared.alerts_changed),
            config: shared.reload.as_ref().map(|r| r.subscribe()),
        }
        .run(evaluator_stop.clone()),
    );
    Ok(Alerting {
        store,
        channels: tasks,
        evaluator: (evaluator_stop, evaluator),
    })
}

/// The standards engine, restored from its state file, reading the buffer.
fn start_engine(
    config: &Config,
    shared: &Shared,
    tz: jiff::tz::TimeZone,
) -> Result<Stoppable, DaemonError> {
    let t = &shared.telemetry;
    let engine = Engine::new(
        config.standards.clone(),
        Arc::clone(&shared.registry),
        tz,
        false,
    );
    let reader = t
        .buffer
        .reader(ENGINE_READER)
        .ok_or(DaemonError::Reader(ENGINE_READER))?;
    let path = aggregate::task::state_path(&config.daemon.data_dir);
    let engine = StatefulReader::open(engine, Arc::clone(&t.buffer), reader, path);
    let stop = CancellationToken::new();
    let s = &config.standards;
    let auto = config.reports.auto;
    let engine = aggregate::task::Task {
        engine,
        metrics: Arc::clone(&t.standards),
        latest: Arc::clone(&shared.compliance),
        emit_every: Duration::from_secs(s.emit_interval_secs.max(1)),
        checkpoint_every: Duration::from_secs(s.checkpoint_interval_secs.max(1)),
        config: shared.reload.as_ref().map(|r| r.subscribe()),
        // Complete days are archived for the reports of closed months, when they are made.
        archive: auto.then(|| aggregate::archive::dir(&config.daemon.data_dir)),
    }
    .run(stop.clone());
    let reports = crate::report::monthly::Monthly {
        config: Arc::new(config.clone()),
        metrics: Arc::clone(&t.standards),
    };
    let reports_stop = stop.clone();
    let task = tokio::spawn(async move {
        let reports = async {
            if auto {
                reports.run(reports_stop).await;
            }
        };
        tokio::join!(engine, reports);
    });
    Ok((stop, task))
}

/// The MQTT source (behind the ingest queue's byte budget) and the Modbus pollers.
fn start_sources(
    config: &Config,
    shared: &Shared,
    ingest_tx: mpsc::Sender<crate::event::RawMessage>,
    stop: &CancellationToken,
) -> JoinSet<()> {
    let metrics = &shared.metrics;
    let mut sources = JoinSet::new();
    let ingest_bytes = config.daemon.ingest_queue_bytes;
    metrics.mqtt_unhealthy_after_secs.store(
        config.daemon.mqtt_unhealthy_after_secs as i64,
        std::sync::atomic::Ordering::Relaxed,
    );
    let budget = Arc::new(tokio::sync::Semaphore::new(ingest_bytes));
    let _ = metrics
        .ingest_budget
        .set((Arc::clone(&budget), ingest_bytes));
    if let Some(mqtt) = &config.mqtt {
        // One source per connection sharing the subscriptions; one ingest queue.
        for i in 0..mqtt.connections.max(1) {
            let (m, stop) = (Arc::clone(metrics), stop.clone());
            let tx = ingest_tx.clone();
            let source = MqttSource::new(mqtt.clone())
                .with_index(i)
                .with_budget(Arc::clone(&budget), ingest_bytes);
            sources.spawn(async move {
                if let Err(e) = source.run(tx, m, stop).await {
                    tracing::error!(error = %e, "MQTT source failed.");
                }
            });
        }
    }
    let (modbus_metrics, modbus_tasks) = crate::sources::modbus::start(
        config,
        &shared.registry,
        config.topic_prefix(),
        ingest_tx,
        stop.clone(),
    );
    let _ = shared.telemetry.modbus.set(modbus_metrics);
    for t in modbus_tasks {
        sources.spawn(async move {
            let _ = t.await;
        });
    }
    sources
}

/// The gateway's shared state, before the alerts start.
fn shared_view(config: &Config, registry: &Arc<Registry>, telemetry: &Arc<Telemetry>) -> Shared {
    let shared = Shared {
        registry: Arc::clone(registry),
        live: Arc::new(Mutex::new(Live::new(registry))),
        pending: Arc::clone(&telemetry.pending),
        ingest: Arc::default(),
        reload: crate::reload::Reloader::new(config, Arc::clone(registry)).map(Arc::new),
        metrics: Arc::clone(&telemetry.ingest),
        telemetry: Arc::clone(telemetry),
        started: std::time::Instant::now(),
        compliance: Latest::default(),
        alerts: None,
        alerts_changed: Arc::new(tokio::sync::Notify::new()),
        view: Arc::new(crate::gateway::View::from_config(config)),
    };
    if let Some(r) = &shared.reload {
        let _ = telemetry.reload.set(Arc::clone(r));
    }
    shared
}

/// Run the daemon until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), DaemonError> {
    let daemon = Daemon::start(config).await?;
    let reloads = daemon
        .shared
        .reload
        .clone()
        .map(|r| tokio::spawn(reload_on_sighup(r)));
    // READY first: the watchdog's first ping (at once) must not come before it.
    crate::systemd::notify("READY=1\nSTATUS=running");
    let watchdog = tokio::spawn(crate::systemd::watchdog());
    shutdown.await;
    crate::systemd::notify("STOPPING=1\nSTATUS=stopping: flushing the sinks");
    watchdog.abort();
    if let Some(t) = reloads {
        t.abort();
    }
    daemon.shutdown().await;
    Ok(())
}

/// SIGHUP reloads the configuration (it no longer ends the daemon).
async fn reload_on_sighup(r: Arc<crate::reload::Reloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("Cannot listen for SIGHUP; reload with POST /api/v1/reload.");
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration.");
            let r = Arc::clone(&r);
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = r;
}
