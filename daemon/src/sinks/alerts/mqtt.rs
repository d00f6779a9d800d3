//! MQTT: the CONTRACT §6 object on `{topic_prefix}/{site}/alerts` at QoS 1, not retained.
//! One publish in flight; delivered when the broker's PUBACK arrives. After any error the
//! connection is rebuilt from scratch, so a retried alert is published once more at most
//! (never replayed twice by the client's own session).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};

use super::{ChannelError, DeliveryError};
use crate::config::alerts::AlertMqttConfig;
use crate::config::{resolve_secret, MqttConfig};
use crate::event::Alert;

pub struct MqttChannel {
    options: MqttOptions,
    prefix: String,
    timeout: Duration,
    conn: Option<(AsyncClient, EventLoop)>,
}

impl MqttChannel {
    pub fn new(
        c: &AlertMqttConfig,
        main: Option<&MqttConfig>,
    ) -> Result<MqttChannel, ChannelError> {
        let url = c
            .url
            .as_ref()
            .map(|u| u.as_str())
            .or(main.map(|m| m.url.as_str()))
            .ok_or(ChannelError::NoBroker)?;
        let u = url::Url::parse(url).map_err(|_| ChannelError::Url(crate::redact::url(url)))?;
        let host = u
            .host_str()
            .ok_or_else(|| ChannelError::Url(crate::redact::url(url)))?;
        let tls = matches!(u.scheme(), "mqtts" | "ssl");
        let port = u.port().unwrap_or(if tls { 8883 } else { 1883 });
        let client_id = c.client_id.clone().unwrap_or_else(|| {
            format!("{}-alerts", main.map_or("meilid", |m| m.client_id.as_str()))
        });
        let mut o = MqttOptions::new(client_id, host, port);
        o.set_clean_session(true)
            .set_keep_alive(Duration::from_secs(30));
        if let Some(m) = main {
            let password = resolve_secret(m.password.as_ref(), m.password_file.as_deref())
                .map_err(|source| ChannelError::Secret {
                    what: "mqtt password_file",
                    source,
                })?;
            if let Some(user) = &m.username {
                o.set_credentials(user, password.unwrap_or_default());
            }
            if let (Some(t), true) = (&m.tls, tls) {
                let cfg = crate::tls::client_config(t)?;
                o.set_transport(rumqttc::Transport::tls_with_config(
                    rumqttc::TlsConfiguration::Rustls(std::sync::Arc::new(cfg)),
                ));
            }
        }
        Ok(MqttChannel {
            options: o,
            prefix: main
                .map_or(crate::config::DEFAULT_TOPIC_PREFIX, |m| {
                    m.topic_prefix.as_str()
                })
                .trim_end_matches('/')
                .to_string(),
            timeout: Duration::from_millis(c.timeout_ms.max(100)),
            conn: None,
        })
    }

    pub async fn deliver(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        let r = tokio::time::timeout(self.timeout, self.publish(a)).await;
        let r = r.unwrap_or(Err(DeliveryError::NoAck));
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    async fn publish(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        let payload = serde_json::to_vec(a)?;
        let topic = format!("{}/{}/alerts", self.prefix, a.site);
        self.publish_raw(topic, payload).await
    }

    /// Publish `payload` on `{topic_prefix}/{suffix}` at QoS 1 and wait for the PUBACK
    /// (within `timeout_ms`); the connection is rebuilt after a failure.
    pub async fn publish_to(
        &mut self,
        suffix: &str,
        payload: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        let topic = format!("{}/{suffix}", self.prefix);
        let r = tokio::time::timeout(self.timeout, self.publish_raw(topic, payload)).await;
        let r = r.unwrap_or(Err(DeliveryError::NoAck));
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    async fn publish_raw(&mut self, topic: String, payload: Vec<u8>) -> Result<(), DeliveryError> {
        let (client, el) = self
            .conn
            .get_or_insert_with(|| AsyncClient::new(self.options.clone(), 16));
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Keep an open connection alive while idle (pings); a dropped one is rebuilt on use.
    pub async fn idle(&mut self) {
        match &mut self.conn {
            Some((_, el)) => {
                if el.poll().await.is_err() {
                    self.conn = None;
                }
            }
            None => std::future::pending().await,
        }
    }
}
