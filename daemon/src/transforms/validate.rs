//! Decode and validate: topic → declared device, payload → [`Reading`]s, each checked against
//! the contract (version, required fields, kind, physical range, time). Every rejection is
//! counted under one [`Reason`] and logged at most once per reason per interval.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meili_firmware::{payload::VERSION, Kind, Reading, Status};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::buffer::{Buffer, BufferError, RECORD_MAX_BYTES};
use crate::config::{valid_id, ValidateConfig};
use crate::event::{Delivery, RawMessage, Record};
use crate::metrics::{Metrics, Reason};
use crate::registry::{DeviceId, LookupError, Registry};
use crate::rows::line_protocol;
use crate::transforms::Live;

/// Messages validated and made durable together (one buffer record, one fsync, per
/// `RECORD_MAX_BYTES` of their readings).
const CHUNK: usize = 2048;

/// Append a chunk, retrying until it is durable: while the buffer is full (`when_full =
/// "block"`) or the disk fails, nothing is acknowledged, so the broker keeps the messages.
/// `acks` are acknowledged by the blocking task as soon as the append is durable (one thread
/// hand-off less before the PUBACKs leave); they are left in place when it is not.
async fn append_durably(
    buffer: &Arc<Buffer>,
    rows: u32,
    payload: Vec<u8>,
    acks: &mut Vec<Delivery>,
    abort: &CancellationToken,
) -> Option<Vec<u8>> {
    let mut payload = payload;
    let mut backoff = Duration::from_millis(50);
    loop {
        let b = Arc::clone(buffer);
        let mut pending = std::mem::take(acks);
        let (p, result, back) = match tokio::task::spawn_blocking(move || {
            let r = b.append(rows, &payload);
            if r.is_ok() {
                for d in pending.drain(..) {
                    d.ack();
                }
            }
            (payload, r, pending)
        })
        .await
        {
            Ok(v) => v,
            Err(e) => {
                // The blocking task died with the payload: do not acknowledge the chunk.
                tracing::error!(error = %e, "Buffer append task failed; the chunk stays unacknowledged.");
                return None;
            }
        };
        payload = p;
        *acks = back;
        match result {
            Ok(_) => return Some(payload),
            Err(e @ (BufferError::Full { .. } | BufferError::DiskLow { .. })) => {
                tracing::warn!(error = %e, "Buffer cannot take more; holding acknowledgements until the sinks catch up or space is freed.");
            }
            Err(e) => tracing::error!(error = %e, "Buffer append failed; retrying."),
        }
        if abort.is_cancelled() {
            tracing::warn!(
                "Shutting down with a chunk not durable; it stays unacknowledged at the broker."
            );
            return None;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = abort.cancelled() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Group commit: how long a chunk waits for more messages, and how many end the wait at once
/// (the brokers' windows: none can come before an acknowledgement).
///
/// The window starts at the configured one (`messages`) and is learned upwards: a chunk of
/// more messages than that, all unacknowledged at once, shows the brokers allow at least as
/// many. A wait that runs out (a slower stream, a broker with a smaller window after a
/// reconnect) goes back to the chunk's size or the configured window, so a window learned too
/// large costs at most one full wait.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    pub wait: Duration,
    pub messages: usize,
}

impl Linger {
    /// Add to `msgs` what arrives within the wait, until `window` messages are in hand; then
    /// learn the window from what was found.
    async fn fill(
        &self,
        rx: &mut mpsc::Receiver<RawMessage>,
        msgs: &mut Vec<RawMessage>,
        window: &mut usize,
    ) {
        if self.wait.is_zero() {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut ran_out = false;
        while msgs.len() < (*window).min(CHUNK) {
            let room = CHUNK - msgs.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(msgs, room)).await {
                Ok(0) => break,
                Err(_) => {
                    ran_out = true;
                    break;
                }
                Ok(_) => {}
            }
        }
        *window = if ran_out {
            msgs.len().max(self.messages)
        } else {
            msgs.len().max(*window)
        }
        .min(CHUNK);
    }
}

/// What a topic addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Telemetry,
    Status,
}

/// A rejection with enough context for an operator's log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// The synchronous decode + validate core.
#[derive(Debug, Clone)]
pub struct Validator {
    registry: Arc<Registry>,
    prefix: String,
    config: ValidateConfig,
}

impl Validator {
    pub fn new(registry: Arc<Registry>, topic_prefix: &str, config: ValidateConfig) -> Validator {
        let prefix = format!("{}/", topic_prefix.trim_end_matches('/'));
        Validator {
            registry,
            prefix,
            config,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The topic's `{site}/{kind}/{device}` and suffix, and the topic root.
    pub fn path_of<'a>(&'a self, topic: &'a [u8]) -> Option<(&'a str, &'a str, &'a str)> {
        let rest = std::str::from_utf8(topic)
            .ok()?
            .strip_prefix(self.prefix.as_str())?;
        let (path, suffix) = rest.rsplit_once('/')?;
        Some((self.prefix.trim_end_matches('/'), path, suffix))
    }

    /// `{prefix}/{site}/{kind}/{device}/{telemetry|status}` → device and channel.
    pub fn route(&self, topic: &[u8]) -> Result<(DeviceId, Channel), Rejection> {
        let topic = std::str::from_utf8(topic)
            .map_err(|_| reject(Reason::BadTopic, "topic is not UTF-8"))?;
        let bad = || {
            reject(
                Reason::BadTopic,
                format!(
                    "topic {topic:?} is not {}{{site}}/{{kind}}/{{device}}/telemetry",
                    self.prefix
                ),
            )
        };
        let rest = topic.strip_prefix(self.prefix.as_str()).ok_or_else(bad)?;
        let (path, suffix) = rest.rsplit_once('/').ok_or_else(bad)?;
        let channel = match suffix {
            "telemetry" => Channel::Telemetry,
            "status" => Channel::Status,
            _ => return Err(bad()),
        };
        match self.registry.lookup(path) {
            Ok(id) => Ok((id, channel)),
            Err(e) => {
                let mut parts = path.split('/');
                let (site, kind, device) = (parts.next(), parts.next(), parts.next());
                let well_formed = parts.next().is_none()
                    && site.is_some_and(valid_id)
                    && device.is_some_and(valid_id)
                    && kind.and_then(Kind::parse).is_some();
                if !well_formed {
                    return Err(bad());
                }
                Err(match e {
                    LookupError::UnknownDevice => reject(
                        Reason::UnknownDevice,
                        format!("no device declared for {path:?}"),
                    ),
                    LookupError::KindMismatch => reject(
                        Reason::KindMismatch,
                        format!("{path:?}: device is declared with another kind"),
                    ),
                })
            }
        }
    }

    /// Decode and check a telemetry payload (one object or an array of them). Accepted readings
    /// are appended to `out`; each rejected one is passed to `on_reject`.
    pub fn telemetry(
        &self,
        device: DeviceId,
        payload: &[u8],
        now_unix: i64,
        out: &mut Vec<Record>,
        on_reject: &mut dyn FnMut(Rejection),
    ) {
        match first_byte(payload) {
            Some(b'{') => match self.reading(device, payload, now_unix) {
                Ok(reading) => out.push(Record { device, reading }),
                Err(r) => on_reject(r),
            },
            Some(b'[') => match serde_json::from_slice::<Vec<&RawValue>>(payload) {
                Ok(items) => {
                    for item in items {
                        match self.reading(device, item.get().as_bytes(), now_unix) {
                            Ok(reading) => out.push(Record { device, reading }),
                            Err(r) => on_reject(r),
                        }
                    }
                }
                Err(e) => on_reject(reject(Reason::MalformedJson, format!("array: {e}"))),
            },
            _ => on_reject(reject(
                Reason::MalformedJson,
                "payload is not a JSON object or array",
            )),
        }
    }

    fn reading(&self, device: DeviceId, bytes: &[u8], now_unix: i64) -> Result<Reading, Rejection> {
        if first_byte(bytes) != Some(b'{') {
            return Err(reject(
                Reason::MalformedJson,
                "array element is not an object",
            ));
        }
        let reading: Reading = serde_json::from_slice(bytes).map_err(classify)?;
        if reading.v != VERSION {
            return Err(reject(
                Reason::UnsupportedVersion,
                format!("v={} (this daemon reads v={VERSION})", reading.v),
            ));
        }
        let kind = self.registry.get(device).kind();
        if let Some(other) = reading.foreign_kind(kind) {
            return Err(reject(
                Reason::KindMismatch,
                format!("{} topic carries {} fields", kind.as_str(), other.as_str()),
            ));
        }
        if let Some(field) = reading.missing_required(kind) {
            return Err(reject(
                Reason::MissingField,
                format!("missing field `{field}`"),
            ));
        }
        if let Err(e) = reading.check_ranges() {
            return Err(reject(
                Reason::OutOfRange,
                format!("{}={} is out of range", e.field, e.value),
            ));
        }
        if reading.ts > now_unix.saturating_add(self.config.max_future_secs) {
            return Err(reject(
                Reason::TimestampFuture,
                format!("ts={} is {} s ahead", reading.ts, reading.ts - now_unix),
            ));
        }
        if reading.ts < now_unix.saturating_sub(self.config.max_age_secs) {
            return Err(reject(
                Reason::TimestampPast,
                format!(
                    "ts={} is {} s old",
                    reading.ts,
                    now_unix.saturating_sub(reading.ts)
                ),
            ));
        }
        Ok(reading)
    }

    /// Decode a status payload.
    pub fn status(&self, payload: &[u8]) -> Result<Status, Rejection> {
        if first_byte(payload) != Some(b'{') {
            return Err(reject(Reason::MalformedJson, "status is not a JSON object"));
        }
        let status: Status = serde_json::from_slice(payload).map_err(classify)?;
        if status.v != VERSION {
            return Err(reject(
                Reason::UnsupportedVersion,
                format!("status v={}", status.v),
            ));
        }
        Ok(status)
    }
}

fn first_byte(b: &[u8]) -> Option<u8> {
    b.iter().copied().find(|c| !c.is_ascii_whitespace())
}

fn classify(e: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data if e.to_string().starts_with("missing field") => {
            reject(Reason::MissingField, e.to_string())
        }
        Category::Data => reject(Reason::InvalidField, e.to_string()),
        _ => reject(Reason::MalformedJson, e.to_string()),
    }
}

pub use crate::time::unix_now;

/// Logs rejections at most once per reason per interval, with the count of those suppressed.
#[derive(Debug)]
pub struct RejectLog {
    interval: Duration,
    last: [Option<Instant>; Reason::ALL.len()],
    suppressed: [u64; Reason::ALL.len()],
}

impl RejectLog {
    pub fn new(interval: Duration) -> RejectLog {
        RejectLog {
            interval,
            last: [None; Reason::ALL.len()],
            suppressed: [0; Reason::ALL.len()],
        }
    }

    pub fn log(&mut self, topic: &[u8], r: &Rejection) {
        let i = r.reason as usize;
        let now = Instant::now();
        if self.last[i].is_some_and(|t| now.duration_since(t) < self.interval) {
            self.suppressed[i] += 1;
            return;
        }
        tracing::warn!(
            reason = r.reason.as_str(),
            topic = %String::from_utf8_lossy(topic),
            suppressed = self.suppressed[i],
            "Rejected reading: {}.",
            r.detail
        );
        self.last[i] = Some(now);
        self.suppressed[i] = 0;
    }
}

/// Readings decoded before they are encoded into line protocol.
const RECORDS_STEP: usize = 4096;

/// Line protocol waiting to become a buffer record (one per `RECORD_MAX_BYTES`).
#[derive(Default)]
struct Encoded {
    payload: Vec<u8>,
    rows: u32,
}

impl Encoded {
    /// Hand `records` to the live view, encode them, and append every full record (and, with
    /// `last`, what remains, acknowledging those deliveries once it is durable; left in place
    /// when nothing remained). False when an append could not be made durable (shutdown).
    #[allow(clippy::too_many_arguments)]
    async fn take(
        &mut self,
        records: &mut Vec<Record>,
        validator: &Validator,
        live: &Mutex<Live>,
        now: i64,
        buffer: &Arc<Buffer>,
        abort: &CancellationToken,
        last: Option<&mut Vec<Delivery>>,
    ) -> bool {
        live.lock()
            .unwrap_or_else(|e| e.into_inner())
            .record_all(records, now);
        for r in records.drain(..) {
            line_protocol::encode(
                &mut self.payload,
                validator.registry().get(r.device),
                &r.reading,
            );
            self.rows += 1;
            if self.payload.len() >= RECORD_MAX_BYTES
                && !self.append(buffer, &mut Vec::new(), abort).await
            {
                return false;
            }
        }
        match last {
            Some(acks) if self.rows > 0 => self.append(buffer, acks, abort).await,
            _ => true,
        }
    }

    async fn append(
        &mut self,
        buffer: &Arc<Buffer>,
        acks: &mut Vec<Delivery>,
        abort: &CancellationToken,
    ) -> bool {
        let chunk = std::mem::take(&mut self.payload);
        match append_durably(buffer, self.rows, chunk, acks, abort).await {
            Some(mut p) => {
                p.clear();
                self.payload = p;
                self.rows = 0;
                true
            }
            None => false,
        }
    }

    fn reset(&mut self) {
        self.payload.clear();
        self.rows = 0;
    }
}

/// What the validate stage works with.
pub struct Stage {
    pub validator: Validator,
    pub buffer: Arc<Buffer>,
    pub live: Arc<Mutex<Live>>,
    pub pending: Arc<Mutex<super::pending::Pending>>,
    pub metrics: Arc<Metrics>,
    pub linger: Linger,
    pub abort: CancellationToken,
}

/// The validate stage: drains the ingest queue in chunks (waiting up to `linger` for a chunk
/// to fill), validates, appends each chunk's readings to the disk buffer as one record, and
/// only when that is durable acknowledges the chunk's messages. Ends when every source is
/// gone and the queue is drained.
pub async fn run(stage: Stage, mut rx: mpsc::Receiver<RawMessage>) {
    let Stage {
        validator,
        buffer,
        live,
        pending,
        metrics,
        linger,
        abort,
    } = stage;
    use std::sync::atomic::Ordering::Relaxed;
    let mut log = RejectLog::new(Duration::from_secs(10));
    let mut msgs = Vec::with_capacity(1024);
    let mut deliveries = Vec::with_capacity(1024);
    let mut statuses = Vec::new();
    let mut rejected_by_device: Vec<(crate::registry::DeviceId, u64)> = Vec::new();
    let mut records: Vec<Record> = Vec::with_capacity(RECORDS_STEP);
    let mut step = Encoded::default();
    let mut window = linger.messages;
    loop {
        if rx.recv_many(&mut msgs, CHUNK).await == 0 {
            break;
        }
        linger.fill(&mut rx, &mut msgs, &mut window).await;
        metrics.ingest_window.store(window as i64, Relaxed);
        metrics.ingest_queue_depth.store(rx.len() as i64, Relaxed);
        let now = unix_now();
        let mut durable = true;
        for msg in msgs.drain(..) {
            let mut rejected = 0u64;
            let mut on_reject = |r: Rejection| {
                metrics.reject(r.reason);
                log.log(&msg.topic, &r);
                rejected += 1;
            };
            let mut route = validator.route(&msg.topic);
            if route
                .as_ref()
                .is_err_and(|r| r.reason == Reason::UnknownDevice)
            {
                // Kept for adoption; looked up again under the pending lock, so a device
                // adopted meanwhile is either taken with this message or finds it routed.
                if let Some((root, path, suffix)) = validator.path_of(&msg.topic) {
                    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                    route = validator.route(&msg.topic);
                    if route.is_err() {
                        p.seen(root, path, suffix, &msg.topic, &msg.payload, now);
                    }
                }
            }
            let device_of = route.as_ref().ok().map(|(d, _)| *d);
            match route {
                Ok((device, Channel::Telemetry)) => {
                    metrics.messages_received.fetch_add(1, Relaxed);
                    let before = records.len();
                    validator.telemetry(device, &msg.payload, now, &mut records, &mut on_reject);
                    let kind = validator.registry().get(device).kind();
                    metrics.accepted(kind, (records.len() - before) as u64);
                }
                Ok((device, Channel::Status)) => {
                    metrics.status_messages.fetch_add(1, Relaxed);
                    match validator.status(&msg.payload) {
                        Ok(s) => statuses.push((device, s)),
                        Err(r) => on_reject(r),
                    }
                }
                Err(r) => {
                    metrics.messages_received.fetch_add(1, Relaxed);
                    on_reject(r)
                }
            }
            if let (Some(device), true) = (device_of, rejected > 0) {
                rejected_by_device.push((device, rejected));
            }
            deliveries.extend(msg.delivery);
            // Decoded readings are encoded as they come, so memory holds one step of them
            // (plus one message's), not a whole chunk of backlog arrays.
            if durable && records.len() >= RECORDS_STEP {
                durable = step
                    .take(&mut records, &validator, &live, now, &buffer, &abort, None)
                    .await;
            }
        }
        {
            let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
            for (device, n) in rejected_by_device.drain(..) {
                live.rejected(device, n);
            }
            for (device, status) in statuses.drain(..) {
                live.status(device, status, now);
            }
        }
        let acks = deliveries.len() as u64;
        if durable {
            let last = Some(&mut deliveries);
            durable = step
                .take(&mut records, &validator, &live, now, &buffer, &abort, last)
                .await;
        }
        records.clear();
        if !durable {
            // Not acknowledged: the broker sends these messages again.
            step.reset();
            deliveries.clear();
            continue;
        }
        metrics.mqtt_acks_sent.fetch_add(acks, Relaxed);
        // Those of a chunk without readings to append (rejections, status messages).
        for d in deliveries.drain(..) {
            d.ack();
        }
    }
    tracing::debug!("Validate stage finished.");
}

#[cfg(test)]
mod tests;
