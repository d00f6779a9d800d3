//! What flows between pipeline stages.

use bytes::Bytes;
use meili_firmware::Reading;
use tokio::sync::mpsc::UnboundedSender;

use crate::registry::DeviceId;

/// A message as a source received it: topic and payload bytes, plus how to acknowledge it.
#[derive(Debug)]
pub struct RawMessage {
    pub topic: Bytes,
    pub payload: Bytes,
    pub delivery: Option<Delivery>,
    /// The message's share of the ingest queue's byte budget, returned when it is dropped.
    pub budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The right to acknowledge a QoS 1 message to its broker. Acknowledging is the last thing
/// the pipeline does with a message, once its readings are handed on.
#[derive(Debug)]
pub struct Delivery {
    pub acks: UnboundedSender<(u32, u16)>,
    /// Connection generation: packet ids are only meaningful on the connection that sent them.
    pub connection: u32,
    pub pkid: u16,
}

impl Delivery {
    pub fn ack(self) {
        // The source is gone only at shutdown; the broker then redelivers, which is safe.
        let _ = self.acks.send((self.connection, self.pkid));
    }
}

/// A validated reading of a declared device.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub device: DeviceId,
    pub reading: Reading,
}

/// An alert as every channel receives it (CONTRACT §6).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    pub v: u8,
    /// Stable per rule and subject: `{rule}:{site}/{device}` (or `/{metric}`, `sink/{name}`).
    pub id: String,
    pub rule: String,
    pub severity: String,
    /// `firing` or `resolved`.
    pub state: String,
    pub site: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<String>,
    pub metric: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// RFC 3339.
    pub starts_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ends_at: Option<String>,
    pub summary_zh: String,
    pub summary_en: String,
    /// What a centre needs to dispatch without looking anything up (extension, docs/alerts.md).
    #[serde(flatten)]
    pub context: AlertContext,
}

/// The device and the case category of an alert (every field optional: gateway alerts have no
/// device).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertContext {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device_name: Option<String>,
    /// `noise`, `air`, `toilet`, `streetlight`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    /// Acoustic zone class (`2`, `4a`), road class (`main`) or toilet class.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<Location>,
    /// The device's page on the gateway.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    /// The management centre's case category for the rule (`[alerts.rules.case]`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub case: Option<CaseCategory>,
}

/// A position in WGS-84 (as configured) and in GCJ-02, the datum Chinese map apps use.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub lat_gcj02: f64,
    pub lon_gcj02: f64,
}

impl Location {
    /// From WGS-84; outside mainland China GCJ-02 equals WGS-84. Six decimals (about 0.1 m).
    pub fn from_wgs84(lat: f64, lon: f64) -> Location {
        let (glon, glat) = coordtransform::wgs84_to_gcj02(lon, lat);
        let r = |x: f64| (x * 1e6).round() / 1e6;
        Location {
            lat: r(lat),
            lon: r(lon),
            lat_gcj02: r(glat),
            lon_gcj02: r(glon),
        }
    }
}

/// A case category as the centre defines it: 部件 (facility) or 事件 (event), its code and name.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseCategory {
    /// `部件` or `事件` (or the centre's own words).
    pub class: String,
    pub code: String,
    #[serde(default)]
    pub name: String,
}
