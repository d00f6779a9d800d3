//! The daemon's own counters, rendered as Prometheus text on `GET /metrics`.
//!
//! Hot-path counters are plain atomics indexed by small enums: no label maps, no allocation.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use meili_firmware::Kind;

/// Why a message or reading was rejected. Every rejection is counted under exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not JSON, truncated, or not an object/array of objects.
    MalformedJson,
    /// `"v"` is not a version this daemon understands.
    UnsupportedVersion,
    /// A required field (`v`, `seq`, `ts`, `period_s`, or the kind's own, e.g. `laeq`) is absent.
    MissingField,
    /// A field has the wrong JSON type (string for a number, unknown fault code…).
    InvalidField,
    /// Topic outside `{prefix}/{site}/{kind}/{device}/{telemetry|status}`.
    BadTopic,
    /// No device with this site and id is declared.
    UnknownDevice,
    /// The topic's kind differs from the declared kind, or the payload carries another kind's fields.
    KindMismatch,
    /// A value outside its physical range.
    OutOfRange,
    /// Timestamp further ahead than `validate.max_future_secs`.
    TimestampFuture,
    /// Timestamp older than `validate.max_age_secs`.
    TimestampPast,
    /// An MQTT message over `mqtt.max_packet_size_bytes` (acknowledged and discarded).
    TooLarge,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::MalformedJson,
        Reason::UnsupportedVersion,
        Reason::MissingField,
        Reason::InvalidField,
        Reason::BadTopic,
        Reason::UnknownDevice,
        Reason::KindMismatch,
        Reason::OutOfRange,
        Reason::TimestampFuture,
        Reason::TimestampPast,
        Reason::TooLarge,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedJson => "malformed_json",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::BadTopic => "bad_topic",
            Reason::UnknownDevice => "unknown_device",
            Reason::KindMismatch => "kind_mismatch",
            Reason::OutOfRange => "out_of_range",
            Reason::TimestampFuture => "timestamp_future",
            Reason::TimestampPast => "timestamp_past",
            Reason::TooLarge => "too_large",
        }
    }
}

/// Counters of one sink.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub name: String,
    pub kind: &'static str,
    pub rows_written: AtomicU64,
    pub batches_written: AtomicU64,
    pub write_errors_retryable: AtomicU64,
    pub write_errors_permanent: AtomicU64,
    /// Rows given up on: refused by the server (4xx) or left unwritten at shutdown.
    pub rows_dropped: AtomicU64,
    /// Rows encoded and waiting for the next write.
    pub rows_pending: AtomicU64,
    /// Pipeline batches queued in front of the sink.
    pub queue_depth: AtomicI64,
    pub up: AtomicBool,
    /// Rows in the disk buffer this sink has not written yet.
    pub backlog_rows: AtomicI64,
    /// Append time (unix ms) of the oldest record this sink is working on; 0 when caught up.
    pub oldest_unacked_unix_ms: AtomicI64,
    /// Unix seconds of the last successful write.
    pub last_success_unix: AtomicI64,
    /// [`crate::sinks::SinkState`] as u8.
    pub state: std::sync::atomic::AtomicU8,
    /// Requests split after a 413 or a refusal as data.
    pub request_splits: AtomicU64,
    /// The last write error, for `/health`.
    pub last_error: std::sync::Mutex<String>,
}

impl SinkMetrics {
    pub fn set_last_error(&self, e: &str) {
        let mut g = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        g.clear();
        g.push_str(&e[..e.floor_char_boundary(500)]);
    }
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub messages_received: AtomicU64,
    pub status_messages: AtomicU64,
    pub readings_accepted: [AtomicU64; 4],
    pub rejected: [AtomicU64; Reason::ALL.len()],
    pub mqtt_connected: AtomicBool,
    /// An MQTT source is configured.
    pub mqtt_enabled: AtomicBool,
    /// Unix seconds since when the MQTT source has had no connection (0 while connected).
    pub mqtt_down_since_unix: AtomicI64,
    /// `daemon.mqtt_unhealthy_after_secs` (set once at start).
    pub mqtt_unhealthy_after_secs: AtomicI64,
    /// The MQTT source stopped on an error it cannot retry (configuration).
    pub mqtt_failed: AtomicBool,
    /// Why the MQTT source stopped or cannot connect, for `/health`.
    pub mqtt_error: std::sync::Mutex<String>,
    /// Oversized MQTT messages consumed (they are also counted as rejections `too_large`).
    pub mqtt_oversized: AtomicU64,
    pub mqtt_connections: AtomicU64,
    pub mqtt_connection_errors: AtomicU64,
    pub mqtt_acks_sent: AtomicU64,
    pub mqtt_subscriptions: AtomicU64,
    pub ingest_queue_depth: AtomicI64,
    /// The ingest queue's byte budget and its size (set once at start).
    pub ingest_budget: std::sync::OnceLock<(Arc<tokio::sync::Semaphore>, usize)>,
    pub sinks: Vec<Arc<SinkMetrics>>,
    pub buffer: Option<Arc<crate::buffer::Buffer>>,
    pub standards: StandardsMetrics,
    pub alerts: AlertMetrics,
    /// Polled Modbus devices (set once at start).
    pub modbus: std::sync::OnceLock<Vec<Arc<crate::sources::modbus::DeviceMetrics>>>,
}

/// The standards engine's counters.
#[derive(Debug, Default)]
pub struct StandardsMetrics {
    /// Readings by outcome: counted, duplicate, late, unreadable.
    pub readings: [AtomicU64; 4],
    pub emissions: AtomicU64,
    pub rows_emitted: AtomicU64,
    pub checkpoints: AtomicU64,
    pub checkpoint_errors: AtomicU64,
    pub watermark_unix: AtomicI64,
    /// The engine's position in the buffer (its backlog).
    pub reader: std::sync::OnceLock<Arc<SinkMetrics>>,
}

/// The alert evaluator's and channels' counters.
#[derive(Debug, Default)]
pub struct AlertMetrics {
    pub checkpoints: AtomicU64,
    pub checkpoint_errors: AtomicU64,
    pub store: std::sync::OnceLock<Arc<std::sync::Mutex<crate::transforms::alert::store::Store>>>,
    pub channels: std::sync::OnceLock<Vec<Arc<crate::sinks::alerts::ChannelMetrics>>>,
}

impl StandardsMetrics {
    pub const OUTCOMES: [&'static str; 4] = ["counted", "duplicate", "late", "unreadable"];
}

impl Metrics {
    pub fn new(sinks: Vec<Arc<SinkMetrics>>) -> Metrics {
        Metrics {
            sinks,
            ..Metrics::default()
        }
    }

    pub fn reject(&self, reason: Reason) {
        self.rejected[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason as usize].load(Relaxed)
    }

    pub fn accepted(&self, kind: Kind, n: u64) {
        self.readings_accepted[kind.index()].fetch_add(n, Relaxed);
    }

    pub fn accepted_total(&self) -> u64 {
        self.readings_accepted.iter().map(|a| a.load(Relaxed)).sum()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|a| a.load(Relaxed)).sum()
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP meili_build_info Build information.\n# TYPE meili_build_info gauge\nmeili_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let metric =
            |out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, f64)]| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (labels, v) in rows {
                    if labels.is_empty() {
                        let _ = writeln!(out, "{name} {v}");
                    } else {
                        let _ = writeln!(out, "{name}{{{labels}}} {v}");
                    }
                }
            };
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        metric(
            &mut out,
            "meili_messages_received_total",
            "counter",
            "MQTT messages received on telemetry topics.",
            &[(String::new(), g(&self.messages_received))],
        );
        metric(
            &mut out,
            "meili_status_messages_total",
            "counter",
            "Device status messages received.",
            &[(String::new(), g(&self.status_messages))],
        );
        let rows: Vec<_> = Kind::ALL
            .iter()
            .map(|k| {
                (
                    format!("kind=\"{}\"", k.as_str()),
                    g(&self.readings_accepted[k.index()]),
                )
            })
            .collect();
        metric(
            &mut out,
            "meili_readings_accepted_total",
            "counter",
            "Readings that passed validation.",
            &rows,
        );
        let rows: Vec<_> = Reason::ALL
            .iter()
            .map(|r| {
                (
                    format!("reason=\"{}\"", r.as_str()),
                    g(&self.rejected[*r as usize]),
                )
            })
            .collect();
        metric(
            &mut out,
            "meili_readings_rejected_total",
            "counter",
            "Messages or readings rejected, by reason.",
            &rows,
        );
        metric(
            &mut out,
            "meili_mqtt_connected",
            "gauge",
            "1 while connected to the MQTT broker.",
            &[(
                String::new(),
                self.mqtt_connected.load(Relaxed) as u8 as f64,
            )],
        );
        metric(
            &mut out,
            "meili_mqtt_connections_total",
            "counter",
            "Successful MQTT connections (CONNACK).",
            &[(String::new(), g(&self.mqtt_connections))],
        );
        metric(
            &mut out,
            "meili_mqtt_connection_errors_total",
            "counter",
            "MQTT connection errors.",
            &[(String::new(), g(&self.mqtt_connection_errors))],
        );
        metric(
            &mut out,
            "meili_mqtt_subscriptions_total",
            "counter",
            "Subscriptions the broker acknowledged (SUBACK).",
            &[(String::new(), g(&self.mqtt_subscriptions))],
        );
        metric(
            &mut out,
            "meili_mqtt_acks_sent_total",
            "counter",
            "QoS 1 acknowledgements queued once the message was durable in the buffer (or rejected).",
            &[(String::new(), g(&self.mqtt_acks_sent))],
        );
        if let Some((sem, cap)) = self.ingest_budget.get() {
            metric(
                &mut out,
                "meili_ingest_queue_bytes",
                "gauge",
                "Bytes of MQTT messages between the source and validation (bounded by daemon.ingest_queue_bytes).",
                &[(String::new(), cap.saturating_sub(sem.available_permits()) as f64)],
            );
        }
        metric(
            &mut out,
            "meili_queue_depth",
            "gauge",
            "Items waiting in a pipeline queue.",
            &{
                let mut rows = vec![(
                    "queue=\"ingest\"".to_string(),
                    self.ingest_queue_depth.load(Relaxed) as f64,
                )];
                for s in &self.sinks {
                    rows.push((
                        format!("queue=\"sink\",sink=\"{}\"", s.name),
                        s.queue_depth.load(Relaxed) as f64,
                    ));
                }
                rows
            },
        );
        let per_sink = |f: &dyn Fn(&SinkMetrics) -> f64| -> Vec<(String, f64)> {
            self.sinks
                .iter()
                .map(|s| (format!("sink=\"{}\",type=\"{}\"", s.name, s.kind), f(s)))
                .collect()
        };
        metric(
            &mut out,
            "meili_sink_rows_written_total",
            "counter",
            "Rows the sink's server acknowledged.",
            &per_sink(&|s| g(&s.rows_written)),
        );
        metric(
            &mut out,
            "meili_sink_batches_written_total",
            "counter",
            "Write requests that succeeded.",
            &per_sink(&|s| g(&s.batches_written)),
        );
        metric(
            &mut out,
            "meili_sink_write_errors_total",
            "counter",
            "Failed write requests (unavailable: server unreachable or 5xx; refused: 401/403/404 and other configuration errors). Both are retried; nothing is dropped for them.",
            &{
                let mut rows = Vec::new();
                for s in &self.sinks {
                    rows.push((
                        format!("sink=\"{}\",class=\"unavailable\"", s.name),
                        g(&s.write_errors_retryable),
                    ));
                    rows.push((
                        format!("sink=\"{}\",class=\"refused\"", s.name),
                        g(&s.write_errors_permanent),
                    ));
                }
                rows
            },
        );
        metric(
            &mut out,
            "meili_sink_rows_dropped_total",
            "counter",
            "Rows lost for this sink: refused by the database as rows (field type conflict, unparsable), dropped by when_full = drop_oldest, or destroyed by buffer damage.",
            &per_sink(&|s| g(&s.rows_dropped)),
        );
        metric(
            &mut out,
            "meili_sink_rows_pending",
            "gauge",
            "Rows encoded and waiting for the next write.",
            &per_sink(&|s| g(&s.rows_pending)),
        );
        metric(
            &mut out,
            "meili_sink_up",
            "gauge",
            "1 when the last write succeeded.",
            &per_sink(&|s| s.up.load(Relaxed) as u8 as f64),
        );
        metric(
            &mut out,
            "meili_sink_state",
            "gauge",
            "0 ok, 1 unavailable (retrying), 2 refused (credentials, permissions, database or bucket; held and retried).",
            &per_sink(&|s| f64::from(s.state.load(Relaxed))),
        );
        metric(
            &mut out,
            "meili_sink_request_splits_total",
            "counter",
            "Write requests split in two after a 413 or a refusal naming the data.",
            &per_sink(&|s| g(&s.request_splits)),
        );
        metric(
            &mut out,
            "meili_sink_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful write.",
            &per_sink(&|s| s.last_success_unix.load(Relaxed) as f64),
        );
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        metric(
            &mut out,
            "meili_buffer_backlog_rows",
            "gauge",
            "Rows in the disk buffer the sink has not written yet.",
            &per_sink(&|s| s.backlog_rows.load(Relaxed) as f64),
        );
        metric(
            &mut out,
            "meili_buffer_oldest_unwritten_age_seconds",
            "gauge",
            "Age of the oldest buffered record the sink is trying to write (0 when caught up).",
            &per_sink(&|s| {
                let t = s.oldest_unacked_unix_ms.load(Relaxed);
                if t > 0 {
                    (now_ms - t).max(0) as f64 / 1000.0
                } else {
                    0.0
                }
            }),
        );
        let sm = &self.standards;
        metric(
            &mut out,
            "meili_standards_readings_total",
            "counter",
            "Readings seen by the standards engine, by outcome (late: its day had closed).",
            &StandardsMetrics::OUTCOMES
                .iter()
                .zip(&sm.readings)
                .map(|(o, a)| (format!("outcome=\"{o}\""), g(a)))
                .collect::<Vec<_>>(),
        );
        metric(
            &mut out,
            "meili_standards_rows_emitted_total",
            "counter",
            "Result rows (daily measurements and compliance) the engine wrote to the buffer.",
            &[(String::new(), g(&sm.rows_emitted))],
        );
        metric(
            &mut out,
            "meili_standards_checkpoints_total",
            "counter",
            "Engine state saves.",
            &[(String::new(), g(&sm.checkpoints))],
        );
        metric(
            &mut out,
            "meili_standards_checkpoint_errors_total",
            "counter",
            "Engine state saves that failed (retried).",
            &[(String::new(), g(&sm.checkpoint_errors))],
        );
        metric(
            &mut out,
            "meili_standards_watermark_timestamp_seconds",
            "gauge",
            "Newest reading time the engine has seen (event time).",
            &[(String::new(), sm.watermark_unix.load(Relaxed) as f64)],
        );
        if let Some(r) = sm.reader.get() {
            metric(
                &mut out,
                "meili_standards_backlog_rows",
                "gauge",
                "Buffered rows the standards engine has not saved as counted yet.",
                &[(String::new(), r.backlog_rows.load(Relaxed) as f64)],
            );
            metric(
                &mut out,
                "meili_standards_rows_dropped_total",
                "counter",
                "Rows the engine never read because a full buffer dropped them (when_full = drop_oldest).",
                &[(String::new(), g(&r.rows_dropped))],
            );
        }
        if let Some(devs) = self.modbus.get().filter(|d| !d.is_empty()) {
            let per =
                |f: &dyn Fn(&crate::sources::modbus::DeviceMetrics) -> f64| -> Vec<(String, f64)> {
                    devs.iter()
                        .map(|d| (format!("device=\"{}\",bus=\"{}\"", d.device, d.bus), f(d)))
                        .collect()
                };
            metric(
                &mut out,
                "meili_modbus_polls_total",
                "counter",
                "Polls of a Modbus device.",
                &per(&|d| g(&d.polls)),
            );
            metric(
                &mut out,
                "meili_modbus_polls_failed_total",
                "counter",
                "Polls that produced no reading.",
                &per(&|d| g(&d.polls_failed)),
            );
            metric(
                &mut out,
                "meili_modbus_requests_total",
                "counter",
                "Read requests sent (retries included).",
                &per(&|d| g(&d.requests)),
            );
            metric(
                &mut out,
                "meili_modbus_timeouts_total",
                "counter",
                "Requests without an answer within timeout_ms.",
                &per(&|d| g(&d.timeouts)),
            );
            metric(
                &mut out,
                "meili_modbus_transport_errors_total",
                "counter",
                "Connection failures, bad CRCs or mismatched replies.",
                &per(&|d| g(&d.transport_errors)),
            );
            let mut exc = Vec::new();
            for d in devs {
                for (code, n) in d.exceptions.iter().enumerate() {
                    let n = n.load(Relaxed);
                    if n > 0 {
                        exc.push((
                            format!("device=\"{}\",bus=\"{}\",code=\"{code}\"", d.device, d.bus),
                            n as f64,
                        ));
                    }
                }
            }
            metric(
                &mut out,
                "meili_modbus_exceptions_total",
                "counter",
                "Exception responses by code (2: illegal data address …).",
                &exc,
            );
            metric(
                &mut out,
                "meili_modbus_values_out_of_range_total",
                "counter",
                "Decoded values outside the map's min/max, dropped.",
                &per(&|d| g(&d.out_of_range)),
            );
            metric(
                &mut out,
                "meili_modbus_device_up",
                "gauge",
                "1 while the device answers; 0 after offline_after_polls failed polls.",
                &per(&|d| f64::from(u8::from(d.up.load(Relaxed)))),
            );
            metric(
                &mut out,
                "meili_modbus_last_poll_seconds",
                "gauge",
                "Duration of the last successful poll.",
                &per(&|d| d.last_poll_ms.load(Relaxed) as f64 / 1000.0),
            );
        }
        if let Some(b) = &self.buffer {
            let bm = &b.metrics;
            metric(
                &mut out,
                "meili_buffer_bytes",
                "gauge",
                "Bytes of the disk buffer's segment files.",
                &[(String::new(), g(&bm.bytes))],
            );
            metric(
                &mut out,
                "meili_buffer_segments",
                "gauge",
                "Segment files in the disk buffer.",
                &[(String::new(), g(&bm.segments))],
            );
            metric(
                &mut out,
                "meili_buffer_records_appended_total",
                "counter",
                "Records (chunks) appended.",
                &[(String::new(), g(&bm.records_appended))],
            );
            metric(
                &mut out,
                "meili_buffer_rows_appended_total",
                "counter",
                "Readings appended.",
                &[(String::new(), g(&bm.rows_appended))],
            );
            metric(
                &mut out,
                "meili_buffer_fsyncs_total",
                "counter",
                "fdatasync calls.",
                &[(String::new(), g(&bm.fsyncs))],
            );
            metric(
                &mut out,
                "meili_buffer_full_refusals_total",
                "counter",
                "Appends refused because the buffer was full (when_full = block).",
                &[(String::new(), g(&bm.full_refusals))],
            );
            metric(
                &mut out,
                "meili_buffer_recovery_cut_bytes",
                "gauge",
                "Bytes cut from damaged segment tails when the buffer was opened.",
                &[(String::new(), g(&bm.recovery_cut_bytes))],
            );
            metric(
                &mut out,
                "meili_buffer_recovery_cut_segments",
                "gauge",
                "Segments whose damaged tail was cut when the buffer was opened.",
                &[(String::new(), g(&bm.recovery_cut_segments))],
            );
            for (name, help, v) in [
                ("meili_buffer_corrupt_records_total", "Damaged records skipped (at start or while reading), each counted once.", &bm.corrupt_records),
                ("meili_buffer_corrupt_rows_total", "Readings in the damaged records (from the running counts of the intact records around them).", &bm.corrupt_rows),
                ("meili_buffer_corrupt_bytes_total", "Bytes of the damaged runs skipped.", &bm.corrupt_bytes),
                ("meili_buffer_position_errors_total", "Reader positions found impossible or unreadable at start (the reader restarts at the oldest record).", &bm.position_errors),
                ("meili_buffer_position_write_errors_total", "Failed position writes (segments are freed anyway; a restart may write some rows twice).", &bm.position_write_errors),
            ] {
                metric(&mut out, name, "counter", help, &[(String::new(), g(v))]);
            }
            metric(
                &mut out,
                "meili_buffer_append_failing",
                "gauge",
                "1 while appends fail on the file system (disk full, I/O error): nothing is acknowledged meanwhile.",
                &[(String::new(), g(&bm.append_failing))],
            );
        }
        self.render_alerts(&mut out, &metric);
        out
    }
}

/// Writes one metric family: (out, name, type, help, rows).
type MetricWriter<'a> = dyn Fn(&mut String, &str, &str, &str, &[(String, f64)]) + 'a;

impl Metrics {
    fn render_alerts(&self, out: &mut String, metric: &MetricWriter<'_>) {
        let a = &self.alerts;
        let Some(store) = a.store.get() else {
            return;
        };
        let channels = a.channels.get().map(Vec::as_slice).unwrap_or_default();
        let s = store.lock().unwrap_or_else(|e| e.into_inner());
        let sev: Vec<_> = crate::config::alerts::Severity::ALL
            .iter()
            .map(|v| {
                let n = s
                    .active
                    .values()
                    .filter(|x| x.alert.severity == v.as_str())
                    .count();
                (format!("severity=\"{}\"", v.as_str()), n as f64)
            })
            .collect();
        metric(
            out,
            "meili_alerts_active",
            "gauge",
            "Alerts firing now.",
            &sev,
        );
        let silenced = s.active.values().filter(|x| x.silenced).count();
        metric(
            out,
            "meili_alerts_silenced",
            "gauge",
            "Firing alerts held back by a silence.",
            &[(String::new(), silenced as f64)],
        );
        let tr: Vec<_> = s
            .transitions
            .iter()
            .map(|((rule, state), n)| (format!("rule=\"{rule}\",state=\"{state}\""), *n as f64))
            .collect();
        metric(
            out,
            "meili_alert_transitions_total",
            "counter",
            "Alerts that fired or resolved since start.",
            &tr,
        );
        let per = |f: &dyn Fn(&crate::sinks::alerts::ChannelMetrics) -> f64| -> Vec<(String, f64)> {
            channels
                .iter()
                .map(|c| (format!("channel=\"{}\",type=\"{}\"", c.name, c.kind), f(c)))
                .collect()
        };
        metric(
            out,
            "meili_alert_notifications_sent_total",
            "counter",
            "Notifications the channel's receiver accepted.",
            &per(&|c| c.sent.load(Relaxed) as f64),
        );
        metric(
            out,
            "meili_alert_delivery_failures_total",
            "counter",
            "Failed delivery attempts (each is retried).",
            &per(&|c| c.failures.load(Relaxed) as f64),
        );
        metric(
            out,
            "meili_alert_outbox_pending",
            "gauge",
            "Notifications waiting for delivery.",
            &per(&|c| s.outbox.get(&c.name).map_or(0, |q| q.len()) as f64),
        );
        metric(
            out,
            "meili_alert_outbox_dropped_total",
            "counter",
            "Notifications dropped because the outbox exceeded alerts.outbox_max.",
            &per(&|c| s.dropped.get(&c.name).copied().unwrap_or(0) as f64),
        );
        metric(
            out,
            "meili_alert_checkpoints_total",
            "counter",
            "Alert state saves.",
            &[(String::new(), a.checkpoints.load(Relaxed) as f64)],
        );
        metric(
            out,
            "meili_alert_checkpoint_errors_total",
            "counter",
            "Failed alert state saves (retried).",
            &[(String::new(), a.checkpoint_errors.load(Relaxed) as f64)],
        );
    }
}
