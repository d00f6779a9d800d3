//! One bus: a serial line or a TCP endpoint, with the devices polled over it.
//!
//! Strictly one request in flight. The next device is the one whose poll is due first; among
//! devices due at the same time, the one served longest ago goes first, so no slave starves. A
//! request that times out costs that device its own timeout only; the connection is then
//! reopened (a late answer must not be read as the next device's). A device whose polls keep
//! failing is reported offline on its status topic and keeps being polled at its interval.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;
use tokio_util::sync::CancellationToken;

use super::map::{decode, Function, RegisterMap, Value};
use super::{DeviceMetrics, Endpoint};
use crate::config::{ModbusDevice, Parity};
use crate::event::RawMessage;
use crate::registry::{Device, DeviceId};

/// A device on a bus.
pub struct Polled {
    pub id: DeviceId,
    unit: u8,
    map: Arc<RegisterMap>,
    blocks: Vec<super::map::Block>,
    interval: Duration,
    timeout: Duration,
    retries: u32,
    offline_after: u32,
    topic: Bytes,
    status_topic: Bytes,
    next_due: Instant,
    last_served: Instant,
    failures: u32,
    seq: u32,
    metrics: Arc<DeviceMetrics>,
}

impl Polled {
    pub fn new(
        id: DeviceId,
        dev: &Device,
        m: &ModbusDevice,
        map: Arc<RegisterMap>,
        prefix: &str,
        metrics: Arc<DeviceMetrics>,
    ) -> Polled {
        let base = format!(
            "{prefix}/{}/{}/{}",
            dev.site(),
            dev.kind().as_str(),
            dev.id()
        );
        let now = Instant::now();
        Polled {
            id,
            unit: m.unit,
            blocks: map.blocks(),
            map,
            interval: Duration::from_secs(m.interval_secs.max(1)),
            timeout: Duration::from_millis(m.timeout_ms.max(1)),
            retries: m.retries,
            offline_after: m.offline_after_polls.max(1),
            topic: Bytes::from(format!("{base}/telemetry")),
            status_topic: Bytes::from(format!("{base}/status")),
            next_due: now,
            last_served: now,
            failures: 0,
            seq: 0,
            metrics,
        }
    }
}

/// Why a poll failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Transport,
    Exception(u8),
}

pub struct Bus {
    endpoint: Endpoint,
    devices: Vec<Polled>,
    ctx: Option<Context>,
    /// When the last frame ended (for the inter-frame gap).
    quiet_since: Instant,
}

/// Open a connection to `endpoint` addressed to `unit`.
pub async fn connect(endpoint: &Endpoint, unit: u8) -> std::io::Result<Context> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let sock = tokio::net::lookup_host(addr)
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("{addr}: no address")))?;
            let stream = tokio::net::TcpStream::connect(sock).await?;
            stream.set_nodelay(true)?;
            Ok(tokio_modbus::client::tcp::attach_slave(stream, Slave(unit)))
        }
        Endpoint::Rtu {
            path,
            baud,
            parity,
            stop_bits,
        } => {
            use tokio_serial::SerialPortBuilderExt;
            let port = tokio_serial::new(path.to_string_lossy(), *baud)
                .parity(match parity {
                    Parity::None => tokio_serial::Parity::None,
                    Parity::Even => tokio_serial::Parity::Even,
                    Parity::Odd => tokio_serial::Parity::Odd,
                })
                .stop_bits(if *stop_bits == 2 {
                    tokio_serial::StopBits::Two
                } else {
                    tokio_serial::StopBits::One
                })
                .open_native_async()
                .map_err(std::io::Error::other)?;
            Ok(tokio_modbus::client::rtu::attach_slave(port, Slave(unit)))
        }
    }
}

/// Read one block: `Ok(words)` or why not.
pub async fn read_block(
    ctx: &mut Context,
    function: Function,
    address: u16,
    count: u16,
    timeout: Duration,
) -> Result<Vec<u16>, Failure> {
    let call = async {
        match function {
            Function::Holding => ctx.read_holding_registers(address, count).await,
            Function::Input => ctx.read_input_registers(address, count).await,
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(_)) => Err(Failure::Transport),
        Ok(Ok(Err(code))) => Err(Failure::Exception(u8::from(code))),
        Ok(Ok(Ok(words))) if words.len() == usize::from(count) => Ok(words),
        Ok(Ok(Ok(_))) => Err(Failure::Transport),
    }
}

/// Decode every field of `map` from the blocks' registers into JSON members (`"laeq":65.8`).
/// Values outside a field's min/max are left out and counted in `out_of_range`.
pub fn fields_json(
    map: &RegisterMap,
    blocks: &[(u16, Function, Vec<u16>)],
    out_of_range: &mut u64,
) -> String {
    let mut out = String::new();
    for f in map.fields.iter().map(|f| f.get_ref()) {
        let Some((addr, _, words)) = blocks.iter().find(|(a, func, w)| {
            *func == f.function && *a <= f.address && usize::from(f.address - a) < w.len()
        }) else {
            continue;
        };
        let Some(v) = decode(f, *addr, words) else {
            continue;
        };
        if let Value::Number(x) = v {
            if f.min.is_some_and(|lo| x < lo) || f.max.is_some_and(|hi| x > hi) {
                *out_of_range += 1;
                continue;
            }
        }
        let _ = match (f.field.as_str(), v) {
            (name, Value::Bool(b)) => write!(out, ",\"{name}\":{b}"),
            ("fault", Value::Number(x)) => {
                let bits = x.round().clamp(0.0, 255.0) as u8;
                let names: Vec<String> = meili_firmware::Fault::ALL
                    .iter()
                    .filter(|f| bits & f.bit() != 0)
                    .map(|f| format!("\"{}\"", f.as_str()))
                    .collect();
                write!(out, ",\"faults\":[{}]", names.join(","))
            }
            ("lamp_on" | "open", Value::Number(x)) => write!(out, ",\"{}\":{}", f.field, x != 0.0),
            ("stalls" | "occupied" | "entries", Value::Number(x)) => {
                write!(out, ",\"{}\":{}", f.field, x.round().max(0.0) as u64)
            }
            (name, Value::Number(x)) => write!(out, ",\"{name}\":{}", (x * 1e6).round() / 1e6),
        };
    }
    out
}

impl Bus {
    pub fn new(endpoint: Endpoint, devices: Vec<Polled>) -> Bus {
        Bus {
            endpoint,
            devices,
            ctx: None,
            quiet_since: Instant::now(),
        }
    }

    /// Index of the device to serve next.
    fn next(&self) -> Option<usize> {
        (0..self.devices.len()).min_by_key(|&i| {
            let d = &self.devices[i];
            (d.next_due, d.last_served)
        })
    }

    pub async fn run(mut self, tx: mpsc::Sender<RawMessage>, stop: CancellationToken) {
        tracing::info!(bus = %self.endpoint, devices = self.devices.len(), "Modbus bus started.");
        while let Some(i) = self.next() {
            let due = self.devices[i].next_due;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep_until(due) => {}
            }
            let result = self.poll(i).await;
            let now = Instant::now();
            let d = &mut self.devices[i];
            d.last_served = now;
            // Keep the cadence; skip intervals that have already passed.
            while d.next_due <= now {
                d.next_due += d.interval;
            }
            d.metrics.polls.fetch_add(1, Relaxed);
            let msg = match result {
                Ok(fields) => {
                    let came_back = d.failures >= d.offline_after;
                    d.failures = 0;
                    d.metrics.up.store(true, Relaxed);
                    d.seq = d.seq.wrapping_add(1);
                    let ts = crate::transforms::validate::unix_now();
                    let mut out = Vec::with_capacity(2);
                    if came_back {
                        out.push((
                            d.status_topic.clone(),
                            r#"{"v":1,"online":true}"#.to_string(),
                        ));
                    }
                    out.push((
                        d.topic.clone(),
                        format!(
                            r#"{{"v":1,"seq":{},"ts":{ts},"period_s":{}{fields}}}"#,
                            d.seq,
                            d.interval.as_secs()
                        ),
                    ));
                    out
                }
                Err(f) => {
                    d.metrics.polls_failed.fetch_add(1, Relaxed);
                    d.failures += 1;
                    if d.failures == d.offline_after {
                        d.metrics.up.store(false, Relaxed);
                        tracing::warn!(device = %d.metrics.device, bus = %self.endpoint, failure = ?f, "Modbus device offline.");
                        vec![(
                            d.status_topic.clone(),
                            r#"{"v":1,"online":false}"#.to_string(),
                        )]
                    } else {
                        Vec::new()
                    }
                }
            };
            for (topic, payload) in msg {
                let raw = RawMessage {
                    topic,
                    payload: Bytes::from(payload),
                    delivery: None,
                    budget: None,
                };
                if tx.send(raw).await.is_err() {
                    return;
                }
            }
        }
        tracing::info!(bus = %self.endpoint, "Modbus bus stopped.");
    }

    /// Read every block of device `i`, with retries; the decoded fields as JSON members.
    async fn poll(&mut self, i: usize) -> Result<String, Failure> {
        let started = Instant::now();
        let (unit, timeout, retries) = {
            let d = &self.devices[i];
            (d.unit, d.timeout, d.retries)
        };
        let blocks = self.devices[i].blocks.clone();
        let mut read = Vec::with_capacity(blocks.len());
        for b in &blocks {
            let mut attempt = 0;
            let words = loop {
                let r = self
                    .request(unit, b.function, b.address, b.count, timeout, i)
                    .await;
                match r {
                    Ok(w) => break w,
                    Err(f) if attempt < retries && f != Failure::Exception(2) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    }
                    Err(f) => return Err(f),
                }
            };
            read.push((b.address, b.function, words));
        }
        let d = &self.devices[i];
        let mut oor = 0;
        let fields = fields_json(&d.map, &read, &mut oor);
        d.metrics.out_of_range.fetch_add(oor, Relaxed);
        d.metrics
            .last_poll_ms
            .store(started.elapsed().as_millis() as u64, Relaxed);
        Ok(fields)
    }

    async fn request(
        &mut self,
        unit: u8,
        function: Function,
        address: u16,
        count: u16,
        timeout: Duration,
        i: usize,
    ) -> Result<Vec<u16>, Failure> {
        let m = Arc::clone(&self.devices[i].metrics);
        if self.ctx.is_none() {
            match tokio::time::timeout(timeout, connect(&self.endpoint, unit)).await {
                Ok(Ok(c)) => self.ctx = Some(c),
                Ok(Err(e)) => {
                    tracing::debug!(bus = %self.endpoint, error = %e, "Modbus connect failed.");
                    m.transport_errors.fetch_add(1, Relaxed);
                    return Err(Failure::Transport);
                }
                Err(_) => {
                    m.timeouts.fetch_add(1, Relaxed);
                    return Err(Failure::Timeout);
                }
            }
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(Failure::Transport);
        };
        ctx.set_slave(Slave(unit));
        tokio::time::sleep_until(self.quiet_since + self.endpoint.gap()).await;
        m.requests.fetch_add(1, Relaxed);
        let r = read_block(ctx, function, address, count, timeout).await;
        self.quiet_since = Instant::now();
        match r {
            Err(Failure::Timeout) => {
                m.timeouts.fetch_add(1, Relaxed);
                self.ctx = None; // a late answer must not be taken for the next request's
            }
            Err(Failure::Transport) => {
                m.transport_errors.fetch_add(1, Relaxed);
                self.ctx = None;
            }
            Err(Failure::Exception(code)) => {
                if let Some(c) = m.exceptions.get(usize::from(code)) {
                    c.fetch_add(1, Relaxed);
                }
            }
            Ok(_) => {}
        }
        r
    }
}
