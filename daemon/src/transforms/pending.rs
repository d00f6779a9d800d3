//! Devices that publish but are not declared: a technician flashed a device and it is not in
//! the configuration yet. Their messages are still rejected (`unknown_device`, not stored), but
//! what they sent is kept here, bounded, so the page and `GET /api/v1/devices/pending` show
//! them with a `[[devices]]` entry to add.
//!
//! Bounds: at most [`MAX_DEVICES`] topics (the least recently heard one is forgotten first,
//! counted in `forgotten`) and the last [`MAX_PAYLOAD`] bytes of payload each, so at most
//! about 200 KiB whatever a broker sends.

use std::collections::HashMap;

use serde::Serialize;

/// Undeclared devices remembered at once.
pub const MAX_DEVICES: usize = 256;
/// Bytes of the last payload kept per device.
pub const MAX_PAYLOAD: usize = 512;

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
    /// The last telemetry payload (its first [`MAX_PAYLOAD`] bytes).
    pub last_payload: Option<String>,
    pub fw: Option<String>,
    pub rssi_dbm: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Pending {
    devices: HashMap<String, PendingDevice>,
    /// Devices forgotten to keep the bound.
    pub forgotten: u64,
}

impl Pending {
    /// A message from the undeclared `{site}/{kind}/{id}` on `{prefix}/{path}/{suffix}`.
    pub fn seen(&mut self, prefix: &str, path: &str, suffix: &str, payload: &[u8], now: i64) {
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
                .min_by_key(|(_, d)| d.last_seen_unix)
                .map(|(k, _)| k.clone())
            {
                self.devices.remove(&oldest);
                self.forgotten += 1;
            }
        }
        let d = self
            .devices
            .entry(path.to_string())
            .or_insert_with(|| PendingDevice {
                site: site.into(),
                kind: kind.into(),
                id: id.into(),
                topic: format!("{prefix}/{path}/telemetry"),
                first_seen_unix: now,
                last_seen_unix: now,
                messages: 0,
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
    }

    /// Every pending device, the most recently heard first.
    pub fn list(&self) -> Vec<PendingDevice> {
        let mut v: Vec<_> = self.devices.values().cloned().collect();
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_and_stays_bounded() {
        let mut p = Pending::default();
        p.seen(
            "meili/v1",
            "town/noise/n07",
            "status",
            br#"{"v":1,"online":true,"fw":"1.2","rssi_dbm":-70}"#,
            10,
        );
        p.seen(
            "meili/v1",
            "town/noise/n07",
            "telemetry",
            br#"{"v":1,"laeq":55.0}"#,
            20,
        );
        let l = p.list();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].messages, l[0].first_seen_unix, l[0].last_seen_unix),
            (2, 10, 20)
        );
        assert_eq!(l[0].fw.as_deref(), Some("1.2"));
        assert_eq!(l[0].rssi_dbm, Some(-70));
        assert_eq!(l[0].last_payload.as_deref(), Some(r#"{"v":1,"laeq":55.0}"#));
        assert_eq!(l[0].topic, "meili/v1/town/noise/n07/telemetry");
        let big = vec![b'x'; 10_000];
        for i in 0..(MAX_DEVICES + 10) {
            p.seen(
                "meili/v1",
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
    }
}
