//! Devices that publish but are not declared: a technician flashed a device and it is not in
//! the configuration yet. Their messages are rejected (`unknown_device`) and acknowledged to
//! the broker, but kept here, bounded, so the page and `GET /api/v1/devices/pending` show
//! them, and adopting one (`POST /api/v1/devices/pending/{site}/{id}/adopt`) feeds what it
//! sent through the pipeline as if it had just arrived.
//!
//! Bounds (docs/api.md, "Adopting a device"): at most [`MAX_DEVICES`] topics (the least
//! recently heard one is forgotten first); per device its messages of the last [`KEEP_SECS`]
//! up to [`KEEP_BYTES_PER_DEVICE`], and [`KEEP_BYTES_TOTAL`] for all of them (the oldest
//! message goes first, counted in `dropped`). Kept in memory only: a restart loses them.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::prom::Prom;

/// Undeclared devices remembered at once.
pub const MAX_DEVICES: usize = 256;
/// Bytes of the last payload shown per device.
pub const MAX_PAYLOAD: usize = 512;
/// How long a pending device's messages are kept for adoption (the pending window).
pub const KEEP_SECS: i64 = 24 * 3600;
/// Payload bytes kept per pending device: about 600 readings of one a minute (10 hours).
pub const KEEP_BYTES_PER_DEVICE: usize = 64 * 1024;
/// Payload bytes kept for all pending devices together.
pub const KEEP_BYTES_TOTAL: usize = 2 * 1024 * 1024;
/// A message larger than this is not kept (a reading is a few hundred bytes; a backlog array
/// up to the broker's limit).
pub const KEEP_MESSAGE_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct PendingDevice {
    pub site: String,
    pub kind: String,
    pub id: String,
    /// The telemetry topic it publishes on.
    pub topic: String,
    pub first_seen_unix: i64,
    pub last_seen_unix: i64,
    pub messages: u64,
    /// Messages kept for adoption, and their payload bytes.
    pub kept: usize,
    pub kept_bytes: usize,
    /// The last telemetry payload (its first [`MAX_PAYLOAD`] bytes).
    pub last_payload: Option<String>,
    pub fw: Option<String>,
    pub rssi_dbm: Option<i64>,
}

/// A message kept for adoption: when it arrived, its topic and payload.
#[derive(Debug, Clone)]
pub struct Kept {
    pub received_unix: i64,
    pub topic: bytes::Bytes,
    pub payload: bytes::Bytes,
}

#[derive(Debug, Default)]
struct Entry {
    info: Option<PendingDevice>,
    kept: VecDeque<Kept>,
}

#[derive(Debug, Default)]
pub struct Pending {
    devices: HashMap<String, Entry>,
    kept_bytes: usize,
    /// Devices forgotten to keep the bound.
    pub forgotten: u64,
    /// Kept messages dropped for the bounds or the window (not adoptable any more).
    pub dropped: u64,
    /// Messages fed through the pipeline on adoption.
    pub adopted_messages: u64,
}

impl Pending {
    /// A message from the undeclared `{site}/{kind}/{id}` on `topic`
    /// (`{prefix}/{path}/{suffix}`).
    pub fn seen(
        &mut self,
        prefix: &str,
        path: &str,
        suffix: &str,
        topic: &bytes::Bytes,
        payload: &bytes::Bytes,
        now: i64,
    ) {
        let mut parts = path.split('/');
        let (Some(site), Some(kind), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if !self.devices.contains_key(path) && self.devices.len() >= MAX_DEVICES {
            if let Some(oldest) = self
                .devices
                .iter()
                .min_by_key(|(_, e)| e.info.as_ref().map_or(0, |d| d.last_seen_unix))
                .map(|(k, _)| k.clone())
            {
                if let Some(e) = self.devices.remove(&oldest) {
                    self.forget(e);
                }
                self.forgotten += 1;
            }
        }
        let e = self.devices.entry(path.to_string()).or_default();
        let d = e.info.get_or_insert_with(|| PendingDevice {
            site: site.into(),
            kind: kind.into(),
            id: id.into(),
            topic: format!("{prefix}/{path}/telemetry"),
            first_seen_unix: now,
            last_seen_unix: now,
            messages: 0,
            kept: 0,
            kept_bytes: 0,
            last_payload: None,
            fw: None,
            rssi_dbm: None,
        });
        d.last_seen_unix = now;
        d.messages += 1;
        let text = String::from_utf8_lossy(&payload[..payload.len().min(MAX_PAYLOAD)]);
        if suffix == "status" {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                d.fw = v["fw"].as_str().map(String::from).or(d.fw.take());
                d.rssi_dbm = v["rssi_dbm"].as_i64().or(d.rssi_dbm);
            }
        } else {
            d.last_payload = Some(text.into_owned());
        }
        if payload.len() <= KEEP_MESSAGE_MAX {
            e.kept.push_back(Kept {
                received_unix: now,
                topic: topic.clone(),
                payload: payload.clone(),
            });
            d.kept_bytes += payload.len();
            self.kept_bytes += payload.len();
        } else {
            self.dropped += 1;
        }
        self.bound(path, now);
    }

    /// Drop the oldest kept messages: of `path` for its own bound and the window, then of
    /// the longest queue while the total is over.
    fn bound(&mut self, path: &str, now: i64) {
        let mut dropped = 0u64;
        let mut freed = 0usize;
        if let Some(e) = self.devices.get_mut(path) {
            let (n, b) = trim(e, |e, k| {
                e.info
                    .as_ref()
                    .is_some_and(|d| d.kept_bytes > KEEP_BYTES_PER_DEVICE)
                    || now - k.received_unix > KEEP_SECS
            });
            dropped += n;
            freed += b;
        }
        self.kept_bytes -= freed;
        while self.kept_bytes > KEEP_BYTES_TOTAL {
            let Some(e) = self.devices.values_mut().max_by_key(|e| e.kept.len()) else {
                break;
            };
            let mut once = false;
            let (n, b) = trim(e, |_, _| !std::mem::replace(&mut once, true));
            if n == 0 {
                break;
            }
            dropped += n;
            self.kept_bytes -= b;
        }
        self.dropped += dropped;
    }

    fn forget(&mut self, e: Entry) {
        let bytes: usize = e.kept.iter().map(|k| k.payload.len()).sum();
        self.kept_bytes -= bytes;
        self.dropped += e.kept.len() as u64;
    }

    /// Remove `{site}/…/{id}` for adoption: what is known of it, and its kept messages of the
    /// last [`KEEP_SECS`] in arrival order.
    pub fn take(&mut self, site: &str, id: &str, now: i64) -> Option<(PendingDevice, Vec<Kept>)> {
        let key = self
            .devices
            .iter()
            .find(|(_, e)| {
                e.info
                    .as_ref()
                    .is_some_and(|d| d.site == site && d.id == id)
            })
            .map(|(k, _)| k.clone())?;
        let e = self.devices.remove(&key)?;
        let bytes: usize = e.kept.iter().map(|k| k.payload.len()).sum();
        self.kept_bytes -= bytes;
        let (fresh, old): (Vec<Kept>, Vec<Kept>) = e
            .kept
            .into_iter()
            .partition(|k| now - k.received_unix <= KEEP_SECS);
        self.dropped += old.len() as u64;
        self.adopted_messages += fresh.len() as u64;
        Some((e.info?, fresh))
    }

    /// The pending device `site`/`id`, if any.
    pub fn get(&self, site: &str, id: &str) -> Option<PendingDevice> {
        self.devices
            .values()
            .filter_map(|e| e.info.as_ref())
            .find(|d| d.site == site && d.id == id)
            .map(|d| self.with_kept(d))
    }

    fn with_kept(&self, d: &PendingDevice) -> PendingDevice {
        let mut d = d.clone();
        let key = format!("{}/{}/{}", d.site, d.kind, d.id);
        d.kept = self.devices.get(&key).map_or(0, |e| e.kept.len());
        d
    }

    /// Every pending device, the most recently heard first.
    pub fn list(&self) -> Vec<PendingDevice> {
        let mut v: Vec<_> = self
            .devices
            .values()
            .filter_map(|e| e.info.as_ref())
            .map(|d| self.with_kept(d))
            .collect();
        v.sort_by(|a, b| {
            b.last_seen_unix
                .cmp(&a.last_seen_unix)
                .then(a.topic.cmp(&b.topic))
        });
        v
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn render(&self, p: &mut Prom) {
        p.gauge(
            "meili_pending_devices",
            "Undeclared devices heard (GET /api/v1/devices/pending).",
            self.devices.len() as f64,
        );
        p.gauge(
            "meili_pending_kept_bytes",
            "Payload bytes kept for adopting pending devices.",
            self.kept_bytes as f64,
        );
        p.counter(
            "meili_pending_dropped_total",
            "Messages of pending devices no longer kept for adoption (bounds, window, forgotten devices).",
            self.dropped as f64,
        );
        p.counter(
            "meili_pending_adopted_messages_total",
            "Messages of adopted devices fed through the pipeline.",
            self.adopted_messages as f64,
        );
    }
}

/// Pop the oldest kept messages of `e` while `more(e, oldest)`; (count, bytes) removed.
fn trim(e: &mut Entry, mut more: impl FnMut(&Entry, &Kept) -> bool) -> (u64, usize) {
    let (mut n, mut bytes) = (0u64, 0usize);
    while let Some(k) = e.kept.front() {
        if !more(e, k) {
            break;
        }
        let len = k.payload.len();
        e.kept.pop_front();
        if let Some(d) = e.info.as_mut() {
            d.kept_bytes -= len;
        }
        n += 1;
        bytes += len;
    }
    (n, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn seen(p: &mut Pending, path: &str, suffix: &str, payload: &[u8], now: i64) {
        let topic = Bytes::from(format!("meili/v1/{path}/{suffix}"));
        p.seen(
            "meili/v1",
            path,
            suffix,
            &topic,
            &Bytes::copy_from_slice(payload),
            now,
        );
    }

    #[test]
    fn keeps_the_latest_and_stays_bounded() {
        let mut p = Pending::default();
        let status = br#"{"v":1,"online":true,"fw":"1.2","rssi_dbm":-70}"#;
        seen(&mut p, "town/noise/n07", "status", status, 10);
        seen(
            &mut p,
            "town/noise/n07",
            "telemetry",
            br#"{"v":1,"laeq":55.0}"#,
            20,
        );
        let l = p.list();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (
                l[0].messages,
                l[0].first_seen_unix,
                l[0].last_seen_unix,
                l[0].kept
            ),
            (2, 10, 20, 2)
        );
        assert_eq!(l[0].fw.as_deref(), Some("1.2"));
        assert_eq!(l[0].rssi_dbm, Some(-70));
        assert_eq!(l[0].last_payload.as_deref(), Some(r#"{"v":1,"laeq":55.0}"#));
        assert_eq!(l[0].topic, "meili/v1/town/noise/n07/telemetry");
        let big = vec![b'x'; 10_000];
        for i in 0..(MAX_DEVICES + 10) {
            seen(
                &mut p,
                &format!("town/noise/x{i}"),
                "telemetry",
                &big,
                100 + i as i64,
            );
        }
        assert_eq!(p.len(), MAX_DEVICES);
        assert_eq!(p.forgotten, 11, "n07 and the ten oldest x went first");
        assert!(p.list().iter().all(|d| d
            .last_payload
            .as_ref()
            .is_none_or(|t| t.len() <= MAX_PAYLOAD)));
        assert!(p.list().iter().all(|d| d.id != "n07"));
        // 256 × 10,000 bytes is over the total: the longest queues gave their oldest.
        assert!(p.kept_bytes <= KEEP_BYTES_TOTAL, "{}", p.kept_bytes);
        let kept: usize = p.list().iter().map(|d| d.kept_bytes).sum();
        assert_eq!(kept, p.kept_bytes);
        assert_eq!(
            p.dropped as usize + p.list().iter().map(|d| d.kept).sum::<usize>(),
            2 + MAX_DEVICES + 10,
            "every message is kept or counted as dropped"
        );
    }

    #[test]
    fn take_returns_the_window_in_arrival_order() {
        let mut p = Pending::default();
        // 100 readings of 1 KiB: the device keeps its last 64 KiB.
        for i in 0..100 {
            let body = format!("{{\"seq\":{i},\"pad\":\"{}\"}}", "x".repeat(1000));
            seen(
                &mut p,
                "town/air/a9",
                "telemetry",
                body.as_bytes(),
                1000 + i,
            );
        }
        let d = p.get("town", "a9").unwrap();
        assert!(
            d.kept_bytes <= KEEP_BYTES_PER_DEVICE && d.kept >= 60,
            "{d:?}"
        );
        assert_eq!(p.dropped as usize, 100 - d.kept);
        // A day later than the oldest kept ones, some fall out of the window when taken.
        let oldest_kept = 1000 + (100 - d.kept) as i64;
        let now = oldest_kept + KEEP_SECS + 5;
        let (info, kept) = p.take("town", "a9", now).unwrap();
        assert_eq!(info.kind, "air");
        assert_eq!(kept.len(), d.kept - 5, "the 5 oldest are past the window");
        let seqs: Vec<i64> = kept.iter().map(|k| k.received_unix).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert!(p.is_empty() && p.kept_bytes == 0);
        assert!(p.take("town", "a9", now).is_none());
    }
}
