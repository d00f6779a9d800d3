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
}
