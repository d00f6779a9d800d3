//! Modbus source: polls declared devices over TCP or RS-485 RTU with register maps, and feeds
//! their readings into the ingest queue as the same JSON payloads an MQTT device would publish,
//! so validation, the standards and the sinks treat both alike.
//!
//! - [`map`]: register maps (decode, request merging, checks).
//! - [`bus`]: one scheduler per bus (a serial line, or a TCP endpoint): one request in flight,
//!   the inter-frame gap respected, devices served earliest-due first (ties: the one served
//!   longest ago), every request under a timeout.
//! - [`probe`]: `meilid modbus probe`, one read for commissioning.

pub mod bus;
pub mod map;
pub mod probe;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Parity};
use crate::event::RawMessage;
use crate::registry::Registry;

/// Where a bus is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Tcp(String),
    Rtu {
        path: PathBuf,
        baud: u32,
        parity: Parity,
        stop_bits: u8,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Rtu { path, baud, .. } => write!(f, "rtu://{}@{baud}", path.display()),
        }
    }
}

impl Endpoint {
    /// Where a device is polled (its `tcp`, or its `rtu` line at `baud`, default 9600).
    pub fn of(m: &crate::config::ModbusDevice) -> Option<Endpoint> {
        match (&m.tcp, &m.rtu) {
            (Some(t), _) => Some(Endpoint::Tcp(t.clone())),
            (None, Some(p)) => Some(Endpoint::Rtu {
                path: p.clone(),
                baud: m.baud.unwrap_or(9600),
                parity: m.parity,
                stop_bits: m.stop_bits,
            }),
            (None, None) => None,
        }
    }

    /// Silence between frames: 3.5 character times (11 bits each), 1.75 ms above 19,200 baud
    /// (Modbus over serial line, §2.5.1.1); none over TCP.
    pub fn gap(&self) -> std::time::Duration {
        match self {
            Endpoint::Tcp(_) => std::time::Duration::ZERO,
            Endpoint::Rtu { baud, .. } if *baud > 19_200 => std::time::Duration::from_micros(1750),
            Endpoint::Rtu { baud, .. } => {
                std::time::Duration::from_micros(3_500_000 * 11 / u64::from((*baud).max(1)))
            }
        }
    }
}

/// Counters of one polled device, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeviceMetrics {
    /// `"{site}/{device}"`.
    pub device: String,
    pub bus: String,
    pub polls: AtomicU64,
    pub polls_failed: AtomicU64,
    pub requests: AtomicU64,
    pub timeouts: AtomicU64,
    pub transport_errors: AtomicU64,
    /// Exception responses by code (index = code, 1–11 used).
    pub exceptions: [AtomicU64; 12],
    /// Values outside the map's min/max, dropped.
    pub out_of_range: AtomicU64,
    pub up: AtomicBool,
    pub last_poll_ms: AtomicU64,
}

impl DeviceMetrics {
    /// The `meili_modbus_*` families (none while no device is polled).
    pub fn render(devs: &[Arc<DeviceMetrics>], p: &mut crate::prom::Prom) {
        if devs.is_empty() {
            return;
        }
        let g = |a: &AtomicU64| a.load(Relaxed) as f64;
        let per = |f: &dyn Fn(&DeviceMetrics) -> f64| -> Vec<(String, f64)> {
            devs.iter()
                .map(|d| (format!("device=\"{}\",bus=\"{}\"", d.device, d.bus), f(d)))
                .collect()
        };
        p.family(
            "meili_modbus_polls_total",
            "counter",
            "Polls of a Modbus device.",
            per(&|d| g(&d.polls)),
        );
        p.family(
            "meili_modbus_polls_failed_total",
            "counter",
            "Polls that produced no reading.",
            per(&|d| g(&d.polls_failed)),
        );
        p.family(
            "meili_modbus_requests_total",
            "counter",
            "Read requests sent (retries included).",
            per(&|d| g(&d.requests)),
        );
        p.family(
            "meili_modbus_timeouts_total",
            "counter",
            "Requests without an answer within timeout_ms.",
            per(&|d| g(&d.timeouts)),
        );
        p.family(
            "meili_modbus_transport_errors_total",
            "counter",
            "Connection failures, bad CRCs or mismatched replies.",
            per(&|d| g(&d.transport_errors)),
        );
        p.family(
            "meili_modbus_exceptions_total",
            "counter",
            "Exception responses by code (2: illegal data address …).",
            devs.iter().flat_map(|d| {
                d.exceptions.iter().enumerate().filter_map(|(code, n)| {
                    let n = n.load(Relaxed);
                    (n > 0).then(|| {
                        (
                            format!("device=\"{}\",bus=\"{}\",code=\"{code}\"", d.device, d.bus),
                            n as f64,
                        )
                    })
                })
            }),
        );
        p.family(
            "meili_modbus_values_out_of_range_total",
            "counter",
            "Decoded values outside the map's min/max, dropped.",
            per(&|d| g(&d.out_of_range)),
        );
        p.family(
            "meili_modbus_device_up",
            "gauge",
            "1 while the device answers; 0 after offline_after_polls failed polls.",
            per(&|d| f64::from(u8::from(d.up.load(Relaxed)))),
        );
        p.family(
            "meili_modbus_last_poll_seconds",
            "gauge",
            "Duration of the last successful poll.",
            per(&|d| d.last_poll_ms.load(Relaxed) as f64 / 1000.0),
        );
    }
}

/// Build the buses of every Modbus device in `config`; returns their metrics and tasks.
pub fn start(
    config: &Config,
    registry: &Registry,
    prefix: &str,
    tx: mpsc::Sender<RawMessage>,
    stop: CancellationToken,
) -> (Vec<Arc<DeviceMetrics>>, Vec<tokio::task::JoinHandle<()>>) {
    let mut buses: BTreeMap<Endpoint, Vec<bus::Polled>> = BTreeMap::new();
    let mut all = Vec::new();
    for (id, dev) in registry.iter() {
        let Some(m) = &dev.config.modbus else {
            continue;
        };
        let Some(map) = config.modbus_maps.get(&m.map) else {
            continue;
        };
        let Some(endpoint) = Endpoint::of(m) else {
            continue;
        };
        let metrics = Arc::new(DeviceMetrics {
            device: registry.path(id),
            bus: endpoint.to_string(),
            ..DeviceMetrics::default()
        });
        all.push(Arc::clone(&metrics));
        buses.entry(endpoint).or_default().push(bus::Polled::new(
            id,
            dev,
            m,
            Arc::clone(map),
            prefix,
            metrics,
        ));
    }
    let tasks = buses
        .into_iter()
        .map(|(endpoint, devices)| {
            tokio::spawn(bus::Bus::new(endpoint, devices).run(tx.clone(), stop.clone()))
        })
        .collect();
    (all, tasks)
}
