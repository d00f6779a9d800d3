//! Commands to devices (CONTRACT §2, `cmd`): `{"v":1,"id":…,"op":…,…}` on
//! `{topic_prefix}/{site}/{kind}/{device}/cmd`, QoS 1, not retained, through the `[mqtt]`
//! broker with the daemon's credentials and TLS, on a connection of its own
//! (`{mqtt.client_id}-cmd`). A command counts as sent when the broker acknowledged it; the
//! device applies it when it next reads (streetlights: `dim`, `schedule`, `time`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::Mutex;

use super::alerts::mqtt::MqttChannel;
use super::alerts::{ChannelError, DeliveryError};
use crate::config::alerts::AlertMqttConfig;
use crate::config::MqttConfig;

pub struct Commands {
    channel: Mutex<MqttChannel>,
    next: AtomicU64,
}

impl Commands {
    pub fn new(main: &MqttConfig) -> Result<Commands, ChannelError> {
        let c = AlertMqttConfig {
            url: None,
            client_id: Some(format!("{}-cmd", main.client_id)),
            timeout_ms: 5_000,
        };
        Ok(Commands {
            channel: Mutex::new(MqttChannel::new(&c, Some(main))?),
            next: AtomicU64::new(0),
        })
    }

    /// A command id unique for this daemon: `w{unix seconds}-{n}`.
    pub fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Relaxed);
        format!("w{}-{n}", crate::time::unix_now())
    }

    /// Send `cmd` (a JSON object with `v`, `id` and `op`) to `{site}/{kind}/{device}`.
    pub async fn send(
        &self,
        device_path: &str,
        cmd: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let payload = serde_json::to_vec(cmd)?;
        let mut ch = self.channel.lock().await;
        ch.publish_to(&format!("{device_path}/cmd"), payload).await
    }
}
