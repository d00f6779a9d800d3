//! The ingest path's counters (messages, readings accepted and rejected by reason, the MQTT
//! connection, the ingest queue) and the rejection reasons. Other components own theirs
//! (`buffer::BufferMetrics`, `sinks::metrics`, `transforms::aggregate::metrics`, …);
//! `gateway::Telemetry` puts them together for `GET /metrics`.
//!
//! Hot-path counters are plain atomics indexed by small enums: no label maps, no allocation.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use meili_firmware::Kind;

use crate::prom::Prom;

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
    /// Writes that put acknowledgements on the wire (3.1.1: one per group commit).
    pub mqtt_ack_writes: AtomicU64,
    pub mqtt_subscriptions: AtomicU64,
    pub ingest_queue_depth: AtomicI64,
    /// Messages a group commit waits for (the brokers' window, configured or learned).
    pub ingest_window: AtomicI64,
    /// The ingest queue's byte budget and its size (set once at start).
    pub ingest_budget: std::sync::OnceLock<(Arc<tokio::sync::Semaphore>, usize)>,
}

impl Metrics {
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

    /// The ingest path's families (build, messages, readings, MQTT, the ingest queue).
    pub fn render(&self, p: &mut Prom) {
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        p.family(
            "meili_build_info",
            "gauge",
            "Build information.",
            [(format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1.0)],
        );
        p.counter(
            "meili_messages_received_total",
            "MQTT messages received on telemetry topics.",
            g(&self.messages_received),
        );
        p.counter(
            "meili_status_messages_total",
            "Device status messages received.",
            g(&self.status_messages),
        );
        p.family(
            "meili_readings_accepted_total",
            "counter",
            "Readings that passed validation.",
            Kind::ALL.iter().map(|k| {
                (
                    format!("kind=\"{}\"", k.as_str()),
                    g(&self.readings_accepted[k.index()]),
                )
            }),
        );
        p.family(
            "meili_readings_rejected_total",
            "counter",
            "Messages or readings rejected, by reason.",
            Reason::ALL.iter().map(|r| {
                (
                    format!("reason=\"{}\"", r.as_str()),
                    g(&self.rejected[*r as usize]),
                )
            }),
        );
        p.gauge(
            "meili_mqtt_connected",
            "1 while connected to the MQTT broker.",
            f64::from(u8::from(self.mqtt_connected.load(Relaxed))),
        );
        p.counter(
            "meili_mqtt_connections_total",
            "Successful MQTT connections (CONNACK).",
            g(&self.mqtt_connections),
        );
        p.counter(
            "meili_mqtt_connection_errors_total",
            "MQTT connection errors.",
            g(&self.mqtt_connection_errors),
        );
        p.counter(
            "meili_mqtt_subscriptions_total",
            "Subscriptions the broker acknowledged (SUBACK).",
            g(&self.mqtt_subscriptions),
        );
        p.counter(
            "meili_mqtt_acks_sent_total",
            "QoS 1 acknowledgements queued once the message was durable in the buffer (or rejected).",
            g(&self.mqtt_acks_sent),
        );
        p.counter(
            "meili_mqtt_ack_writes_total",
            "Socket writes carrying acknowledgements (MQTT 3.1.1: all those ready go in one write).",
            g(&self.mqtt_ack_writes),
        );
        p.gauge(
            "meili_ingest_window_messages",
            "Messages a group commit waits for (up to buffer.commit_wait_ms): the brokers' window, mqtt.broker_max_inflight x connections, raised when more arrive unacknowledged at once.",
            self.ingest_window.load(Relaxed) as f64,
        );
        if let Some((sem, cap)) = self.ingest_budget.get() {
            p.gauge(
                "meili_ingest_queue_bytes",
                "Bytes of MQTT messages between the source and validation (bounded by daemon.ingest_queue_bytes).",
                cap.saturating_sub(sem.available_permits()) as f64,
            );
        }
    }
}
