//! MQTT source (rumqttc, 3.1.1 or 5): a persistent session subscribed at QoS 1 to the contract's
//! telemetry and status topics, so that readings published while the daemon is away are
//! delivered when it returns. Acknowledgements are manual: a PUBACK leaves only after the
//! message's readings are durable in the disk buffer (see `docs/delivery.md`).

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{resolve_secret, MqttConfig, MqttProtocol};
use crate::event::{Delivery, RawMessage};
use crate::metrics::{Metrics, Reason};
use crate::time::unix_now;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("invalid MQTT url {0:?}")]
    Url(String),
    #[error("cannot read {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("TLS setup: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// One protocol-independent event from the broker.
enum Event {
    Connected {
        session_present: bool,
    },
    Publish {
        topic: Bytes,
        payload: Bytes,
        pkid: u16,
        qos1: bool,
    },
    Subscribed,
    Other,
}

/// A failed poll.
enum PollError {
    /// The broker sent a packet over our size limit (MQTT 3.1.1 cannot tell the broker the
    /// limit); the connection is lost and the broker will send it again.
    Oversized(usize),
    Other(String),
}

enum Client {
    V4(rumqttc::AsyncClient, Box<rumqttc::EventLoop>),
    V5(v5::AsyncClient, Box<v5::EventLoop>),
}

impl Client {
    async fn poll(&mut self) -> Result<Event, PollError> {
        match self {
            Client::V4(_, el) => match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                    Ok(Event::Connected {
                        session_present: ack.session_present,
                    })
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => Ok(Event::Publish {
                    topic: Bytes::from(p.topic.into_bytes()),
                    payload: p.payload,
                    pkid: p.pkid,
                    qos1: p.qos != rumqttc::QoS::AtMostOnce,
                }),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => Ok(Event::Subscribed),
                Ok(_) => Ok(Event::Other),
                Err(rumqttc::ConnectionError::MqttState(rumqttc::StateError::Deserialization(
                    rumqttc::Error::PayloadSizeLimitExceeded(n),
                ))) => Err(PollError::Oversized(n)),
                Err(e) => Err(PollError::Other(e.to_string())),
            },
            Client::V5(_, el) => match el.poll().await {
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::ConnAck(ack))) => {
                    Ok(Event::Connected {
                        session_present: ack.session_present,
                    })
                }
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::Publish(p))) => {
                    Ok(Event::Publish {
                        topic: p.topic,
                        payload: p.payload,
                        pkid: p.pkid,
                        qos1: p.qos != v5::mqttbytes::QoS::AtMostOnce,
                    })
                }
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::SubAck(_))) => {
                    Ok(Event::Subscribed)
                }
                Ok(_) => Ok(Event::Other),
                Err(v5::ConnectionError::MqttState(v5::StateError::Deserialization(
                    v5::mqttbytes::Error::PayloadSizeLimitExceeded { pkt_size, .. },
                ))) => Err(PollError::Oversized(pkt_size)),
                Err(e) => Err(PollError::Other(e.to_string())),
            },
        }
    }

    /// Queue a PUBACK; false when rumqttc's request queue is full (retry after the next poll).
    fn try_ack(&self, pkid: u16) -> bool {
        match self {
            Client::V4(c, _) => {
                let mut p = rumqttc::Publish::new("", rumqttc::QoS::AtLeastOnce, Vec::new());
                p.pkid = pkid;
                c.try_ack(&p).is_ok()
            }
            Client::V5(c, _) => {
                let mut p = v5::mqttbytes::v5::Publish::new(
                    "",
                    v5::mqttbytes::QoS::AtLeastOnce,
                    Bytes::new(),
                    None,
                );
                p.pkid = pkid;
                c.try_ack(&p).is_ok()
            }
        }
    }

    /// Send the pending PUBACKs, in order. On 3.1.1 they go out together: written into the
    /// connection's buffer and flushed once (one `write` for a whole group commit, where
    /// rumqttc's request queue would flush after each). On 5 they are queued to rumqttc (as
    /// many as its queue takes). An error means the connection is lost (it is reopened by the
    /// next poll, and the broker sends the unacknowledged messages again).
    async fn flush_acks(
        &mut self,
        pending: &mut VecDeque<u16>,
        metrics: &Metrics,
    ) -> Result<(), String> {
        match self {
            Client::V4(_, el) => {
                if pending.is_empty() {
                    return Ok(());
                }
                let timeout = Duration::from_secs(el.network_options().connection_timeout());
                let Some(net) = el.network.as_mut() else {
                    return Ok(());
                };
                let write = async {
                    for pkid in pending.drain(..) {
                        net.write(rumqttc::Packet::PubAck(rumqttc::PubAck::new(pkid)))
                            .await?;
                    }
                    net.flush().await
                };
                let e = match tokio::time::timeout(timeout, write).await {
                    Ok(Ok(())) => {
                        metrics.mqtt_ack_writes.fetch_add(1, Relaxed);
                        return Ok(());
                    }
                    Ok(Err(e)) => format!("writing acknowledgements: {e}"),
                    Err(_) => "writing acknowledgements timed out".to_string(),
                };
                // Drop the connection; the next poll reconnects.
                el.clean();
                Err(e)
            }
            Client::V5(..) => {
                // rumqttc writes each on its own (its MQTT 5 connection is not public).
                while let Some(&pkid) = pending.front() {
                    if !self.try_ack(pkid) {
                        break;
                    }
                    pending.pop_front();
                    metrics.mqtt_ack_writes.fetch_add(1, Relaxed);
                }
                Ok(())
            }
        }
    }

    /// The largest packet the next connection reads.
    fn set_incoming_limit(&mut self, bytes: usize) {
        match self {
            Client::V4(_, el) => {
                el.mqtt_options.set_max_packet_size(bytes, 64 * 1024);
            }
            Client::V5(_, el) => {
                el.options
                    .set_max_packet_size(Some(u32::try_from(bytes).unwrap_or(u32::MAX)));
            }
        }
    }

    fn try_unsubscribe(&self, filter: &str) -> bool {
        match self {
            Client::V4(c, _) => c.try_unsubscribe(filter).is_ok(),
            Client::V5(c, _) => c.try_unsubscribe(filter).is_ok(),
        }
    }

    fn try_subscribe(&self, filter: &str) -> bool {
        match self {
            Client::V4(c, _) => c.try_subscribe(filter, rumqttc::QoS::AtLeastOnce).is_ok(),
            Client::V5(c, _) => c
                .try_subscribe(filter, v5::mqttbytes::QoS::AtLeastOnce)
                .is_ok(),
        }
    }

    async fn disconnect(&mut self) {
        let sent = match self {
            Client::V4(c, _) => c.try_disconnect().is_ok(),
            Client::V5(c, _) => c.try_disconnect().is_ok(),
        };
        if sent {
            // Drive the event loop until the DISCONNECT is on the wire (or briefly at most).
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while self.poll().await.is_ok() {}
            })
            .await;
        }
    }
}

/// Outgoing QoS 1 publishes in flight on the MQTT 5 session (the source publishes none; this
/// bounds the packet ids its subscriptions use).
const OUTGOING_INFLIGHT: u16 = 16;

pub struct MqttSource {
    config: MqttConfig,
    /// Which of `config.connections` this is (0 = the first, with `client_id` itself).
    index: u8,
    /// The ingest queue's byte budget: a message waits for its size in permits.
    budget: Option<(Arc<Semaphore>, usize)>,
}

impl MqttSource {
    pub fn new(config: MqttConfig) -> MqttSource {
        MqttSource {
            config,
            index: 0,
            budget: None,
        }
    }

    /// The `index`-th of `config.connections` sharing the subscriptions.
    pub fn with_index(mut self, index: u8) -> MqttSource {
        self.index = index;
        if index > 0 {
            self.config.client_id = format!("{}-{index}", self.config.client_id);
        }
        self
    }

    /// The filters to subscribe, and those to unsubscribe first: a session that switched
    /// between one connection and several must not keep the other kind of subscription
    /// (it would receive every message a second time).
    fn filters(&self) -> (Vec<String>, Vec<String>) {
        let c = &self.config;
        let prefix = c.topic_prefix.trim_end_matches('/');
        let plain: Vec<String> = ["telemetry", "status"]
            .iter()
            .map(|s| format!("{prefix}/+/+/+/{s}"))
            .collect();
        let shared: Vec<String> = plain
            .iter()
            .map(|f| format!("$share/{}/{f}", c.share_group))
            .collect();
        if c.connections > 1 {
            let old = if self.index == 0 {
                plain.clone()
            } else {
                Vec::new()
            };
            (shared, old)
        } else {
            (plain, shared)
        }
    }

    /// Bound the bytes of messages queued for validation (`daemon.ingest_queue_bytes`).
    pub fn with_budget(mut self, budget: Arc<Semaphore>, bytes: usize) -> MqttSource {
        self.budget = Some((budget, bytes));
        self
    }

    fn connect(&self) -> Result<Client, MqttError> {
        let c = &self.config;
        let url = url::Url::parse(&c.url).map_err(|_| MqttError::Url(c.url.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| MqttError::Url(c.url.to_string()))?
            .to_string();
        let tls = matches!(url.scheme(), "mqtts" | "ssl");
        let port = url.port().unwrap_or(if tls { 8883 } else { 1883 });
        let password =
            resolve_secret(c.password.as_ref(), c.password_file.as_deref()).map_err(|source| {
                MqttError::File {
                    path: c
                        .password_file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    source,
                }
            })?;
        let transport = match (&c.tls, tls) {
            (Some(t), true) => Some(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(crate::tls::client_config(t)?)),
            )),
            _ => None,
        };
        // Room for every message the broker may have in flight, plus subscribes and pings.
        let request_capacity = usize::from(c.receive_maximum).max(1024) + 64;
        Ok(match c.protocol {
            MqttProtocol::V311 => {
                let mut o = rumqttc::MqttOptions::new(&c.client_id, host, port);
                o.set_clean_session(false)
                    .set_manual_acks(true)
                    .set_keep_alive(Duration::from_secs(c.keep_alive_secs.max(5)))
                    .set_max_packet_size(c.max_packet_size_bytes as usize, 64 * 1024)
                    .set_request_channel_capacity(request_capacity);
                if let Some(user) = &c.username {
                    o.set_credentials(user, password.unwrap_or_default());
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, el) = rumqttc::AsyncClient::new(o, request_capacity);
                Client::V4(client, Box::new(el))
            }
            MqttProtocol::V5 => {
                let mut o = v5::MqttOptions::new(&c.client_id, host, port);
                o.set_clean_start(false)
                    .set_manual_acks(true)
                    .set_keep_alive(Duration::from_secs(c.keep_alive_secs.max(5)))
                    .set_session_expiry_interval(Some(c.session_expiry_secs))
                    .set_receive_maximum(Some(c.receive_maximum))
                    .set_max_packet_size(Some(c.max_packet_size_bytes))
                    // The daemon only subscribes. rumqttc sizes its outgoing-publish table by this
                    // limit (default 65,535 slots, 14 MB written at start).
                    .set_outgoing_inflight_upper_limit(OUTGOING_INFLIGHT)
                    .set_request_channel_capacity(request_capacity);
                if let Some(user) = &c.username {
                    o.set_credentials(user, password.unwrap_or_default());
                }
                if let Some(t) = transport {
                    o.set_transport(t);
                }
                let (client, el) = v5::AsyncClient::new(o, request_capacity);
                Client::V5(client, Box::new(el))
            }
        })
    }

    /// Run until `shutdown` is cancelled. Connection errors are retried with exponential backoff
    /// forever; only a configuration error ends the source early.
    ///
    /// A message over `max_packet_size_bytes` is never allowed to stop ingest: MQTT 3.1.1 has no
    /// way to tell the broker the limit, so the broker sends it, the client must drop the
    /// connection, and the broker sends it again. The source then reads it once with the limit
    /// raised to its size, acknowledges it without storing it (counted as rejection
    /// `too_large`, logged), and goes back to the configured limit.
    pub async fn run(
        self,
        tx: mpsc::Sender<RawMessage>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<(), MqttError> {
        let limit = self.config.max_packet_size_bytes as usize;
        metrics.mqtt_enabled.store(true, Relaxed);
        metrics.mqtt_down_since_unix.store(unix_now(), Relaxed);
        let mut client = match self.connect() {
            Ok(c) => c,
            Err(e) => {
                set_error(&metrics, &e.to_string());
                metrics.mqtt_failed.store(true, Relaxed);
                return Err(e);
            }
        };
        let (filters, stale) = self.filters();
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<(u32, u16)>();
        let mut connection = 0u32;
        let mut pending_acks: VecDeque<u16> = VecDeque::new();
        let mut backoff = Duration::from_millis(100);
        let max_backoff = Duration::from_millis(self.config.reconnect_max_backoff_ms.max(100));
        let mut raised = false;
        tracing::info!(url = %crate::redact::url(&self.config.url), client_id = %self.config.client_id, "MQTT source starting.");
        loop {
            if let Err(e) = client.flush_acks(&mut pending_acks, &metrics).await {
                mark_down(&metrics, &e);
                tracing::warn!(error = %e, "MQTT connection error.");
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(first) = ack_rx.recv() => take_acks(first, &mut ack_rx, connection, &mut pending_acks),
                ev = client.poll() => match ev {
                    Ok(Event::Connected { session_present }) => {
                        backoff = Duration::from_millis(100);
                        mark_up(&metrics, session_present);
                        // Packet ids of the previous connection are void: the broker redelivers
                        // those messages with new ones.
                        connection = connection.wrapping_add(1);
                        pending_acks.clear();
                        for f in &stale {
                            if !client.try_unsubscribe(f) {
                                tracing::warn!(filter = %f, "MQTT unsubscribe request could not be queued.");
                            }
                        }
                        for f in &filters {
                            if !client.try_subscribe(f) {
                                tracing::error!(filter = %f, "MQTT subscribe request could not be queued.");
                            }
                        }
                    }
                    Ok(Event::Publish { topic, payload, pkid, qos1 }) => {
                        let size = topic.len() + payload.len();
                        if size > limit {
                            // Read once to get rid of it: acknowledged, counted, not stored.
                            metrics.reject(Reason::TooLarge);
                            metrics.mqtt_oversized.fetch_add(1, Relaxed);
                            tracing::warn!(topic = %String::from_utf8_lossy(&topic), bytes = size, max_packet_size_bytes = limit, "Rejected reading: MQTT message larger than mqtt.max_packet_size_bytes; acknowledged and discarded (set the broker's message_size_limit to match).");
                            if qos1 {
                                pending_acks.push_back(pkid);
                            }
                            if raised {
                                client.set_incoming_limit(limit);
                                raised = false;
                            }
                            continue;
                        }
                        let delivery = qos1.then(|| Delivery { acks: ack_tx.clone(), connection, pkid });
                        // Wait for room in the queue's byte budget (a message larger than the
                        // whole budget waits for an empty queue). The fast paths take no
                        // shutdown waiter: most messages find room at once.
                        let Some(budget) = self.reserve(size, &shutdown).await else {
                            break;
                        };
                        let msg = RawMessage { topic, payload, delivery, budget };
                        match tx.try_send(msg) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => break,
                            Err(mpsc::error::TrySendError::Full(msg)) => tokio::select! {
                                biased;
                                _ = shutdown.cancelled() => break,
                                r = tx.send(msg) => if r.is_err() { break },
                            },
                        }
                    }
                    Ok(Event::Subscribed) => {
                        metrics.mqtt_subscriptions.fetch_add(1, Relaxed);
                    }
                    Ok(Event::Other) => {}
                    Err(PollError::Oversized(n)) => {
                        mark_down(&metrics, &format!("a {n}-byte message exceeds max_packet_size_bytes"));
                        tracing::warn!(bytes = n, max_packet_size_bytes = limit, "The broker sent a message over mqtt.max_packet_size_bytes; reconnecting to read and discard it.");
                        // Room for the packet's fixed header too.
                        client.set_incoming_limit(n.saturating_add(8));
                        raised = true;
                    }
                    Err(PollError::Other(e)) => {
                        mark_down(&metrics, &e);
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT connection error.");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(max_backoff);
                    }
                },
            }
        }
        drop(tx);
        drop(ack_tx);
        finish_acks(&mut client, &metrics, ack_rx, pending_acks, connection).await;
        client.disconnect().await;
        metrics.mqtt_connected.store(false, Relaxed);
        metrics.mqtt_enabled.store(false, Relaxed);
        tracing::info!("MQTT source stopped.");
        Ok(())
    }
}

impl MqttSource {
    /// Room for a `size`-byte message in the ingest queue's byte budget (a message larger
    /// than the whole budget waits for an empty queue); `None` when shutting down. The fast
    /// path takes no shutdown waiter: most messages find room at once.
    async fn reserve(
        &self,
        size: usize,
        shutdown: &CancellationToken,
    ) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
        let Some((sem, cap)) = &self.budget else {
            return Some(None);
        };
        let n = (size + 64).min(*cap).min(u32::MAX as usize) as u32;
        match Arc::clone(sem).try_acquire_many_owned(n) {
            Ok(p) => Some(Some(p)),
            Err(_) => tokio::select! {
                biased;
                _ = shutdown.cancelled() => None,
                p = Arc::clone(sem).acquire_many_owned(n) => p.ok().map(Some),
            },
        }
    }
}

/// `first` and every other acknowledgement ready now, in one turn of the loop; those of an
/// earlier connection are void (the broker redelivers their messages).
fn take_acks(
    first: (u32, u16),
    rx: &mut mpsc::UnboundedReceiver<(u32, u16)>,
    connection: u32,
    pending: &mut VecDeque<u16>,
) {
    let mut next = Some(first);
    while let Some((conn, pkid)) = next {
        if conn == connection {
            pending.push_back(pkid);
        }
        next = rx.try_recv().ok();
    }
}

/// At shutdown: let the pipeline finish what it holds and acknowledge it (for up to 5 s), so
/// a clean restart does not redeliver it; anything left unacknowledged stays with the
/// broker's session.
async fn finish_acks(
    client: &mut Client,
    metrics: &Metrics,
    mut ack_rx: mpsc::UnboundedReceiver<(u32, u16)>,
    mut pending_acks: VecDeque<u16>,
    connection: u32,
) {
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        if client.flush_acks(&mut pending_acks, metrics).await.is_err() {
            break;
        }
        tokio::select! {
            _ = &mut deadline => break,
            a = ack_rx.recv() => match a {
                Some((conn, pkid)) => if conn == connection { pending_acks.push_back(pkid) },
                None => break,
            },
            // Publishes arriving now are not taken: they stay unacknowledged.
            ev = client.poll() => if ev.is_err() { break },
        }
    }
    let _ = client.flush_acks(&mut pending_acks, metrics).await;
}

fn mark_up(metrics: &Metrics, session_present: bool) {
    metrics.mqtt_connected.store(true, Relaxed);
    metrics.mqtt_down_since_unix.store(0, Relaxed);
    set_error(metrics, "");
    metrics.mqtt_connections.fetch_add(1, Relaxed);
    tracing::info!(session_present, "MQTT connected.");
}

fn set_error(metrics: &Metrics, e: &str) {
    let mut g = metrics.mqtt_error.lock().unwrap_or_else(|p| p.into_inner());
    g.clear();
    g.push_str(e);
}

/// The connection is lost: remember since when, and why.
fn mark_down(metrics: &Metrics, e: &str) {
    metrics.mqtt_connected.store(false, Relaxed);
    metrics.mqtt_connection_errors.fetch_add(1, Relaxed);
    let _ = metrics
        .mqtt_down_since_unix
        .compare_exchange(0, unix_now(), Relaxed, Relaxed);
    set_error(metrics, e);
}
