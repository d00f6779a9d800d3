//! Alert channels: where alerts leave for city management centres. Each configured channel
//! (webhooks, MQTT, Alertmanager) has a worker that delivers its outbox in order, oldest
//! first, and removes a notification only once the receiver accepted it. Failures are
//! retried with exponential backoff (1 s → 60 s) and counted; nothing is dropped unless the
//! outbox exceeds `alerts.outbox_max` (counted and logged).

pub mod alertmanager;
pub mod mqtt;
pub mod robot;
pub mod webhook;
pub mod workers;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::event::Alert;
use crate::transforms::alert::store::Store;

/// An HTTP client for a channel: `timeout_ms`, and `ca_file` trusted besides the public roots
/// (https:// URLs are always verified).
pub fn http_client(
    what: &str,
    timeout_ms: u64,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, ChannelError> {
    let mut b =
        reqwest::Client::builder().timeout(std::time::Duration::from_millis(timeout_ms.max(100)));
    if let Some(path) = ca_file {
        let ca_err = |source| ChannelError::CaFile {
            what: what.to_string(),
            path: path.display().to_string(),
            source,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(CaError::Read(e)))?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| ca_err(CaError::Pem(e)))?;
        b = b.add_root_certificate(ca);
    }
    b.build().map_err(|source| ChannelError::Client {
        what: what.to_string(),
        source,
    })
}

/// A channel that cannot be built from its configuration (at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{what} ca_file {path}: {source}")]
    CaFile {
        what: String,
        path: String,
        source: CaError,
    },
    #[error("{what} client: {source}")]
    Client {
        what: String,
        source: reqwest::Error,
    },
    #[error("{what}: {source}")]
    Secret {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("[alerts.mqtt] needs url or [mqtt]")]
    NoBroker,
    #[error("invalid MQTT url {0}")]
    Url(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error(transparent)]
    Read(std::io::Error),
    #[error(transparent)]
    Pem(reqwest::Error),
}

/// A notification the receiver did not take (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("POST {url}: {}", crate::redact::http_error(.source))]
    Http { url: String, source: reqwest::Error },
    #[error("POST {url}: HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("encoding the alert: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("MQTT: {0}")]
    Mqtt(#[from] rumqttc::ConnectionError),
    #[error("MQTT: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("no PUBACK in time")]
    NoAck,
}

#[derive(Debug, Default)]
pub struct ChannelMetrics {
    pub name: String,
    pub kind: &'static str,
    pub sent: AtomicU64,
    pub failures: AtomicU64,
    pub up: AtomicBool,
}

impl ChannelMetrics {
    /// The channels' `meili_alert_*` families; outbox depths and drops are kept in `store`.
    pub fn render(channels: &[Arc<ChannelMetrics>], store: &Store, p: &mut crate::prom::Prom) {
        let per = |f: &dyn Fn(&ChannelMetrics) -> f64| -> Vec<(String, f64)> {
            channels
                .iter()
                .map(|c| (format!("channel=\"{}\",type=\"{}\"", c.name, c.kind), f(c)))
                .collect()
        };
        p.family(
            "meili_alert_notifications_sent_total",
            "counter",
            "Notifications the channel's receiver accepted.",
            per(&|c| c.sent.load(Relaxed) as f64),
        );
        p.family(
            "meili_alert_delivery_failures_total",
            "counter",
            "Failed delivery attempts (each is retried).",
            per(&|c| c.failures.load(Relaxed) as f64),
        );
        p.family(
            "meili_alert_outbox_pending",
            "gauge",
            "Notifications waiting for delivery.",
            per(&|c| store.outbox.get(&c.name).map_or(0, |q| q.len()) as f64),
        );
        p.family(
            "meili_alert_outbox_dropped_total",
            "counter",
            "Notifications dropped because the outbox exceeded alerts.outbox_max.",
            per(&|c| store.dropped.get(&c.name).copied().unwrap_or(0) as f64),
        );
    }
}

pub enum Channel {
    Webhook(webhook::Webhook),
    Robot(robot::Robot),
    Mqtt(Box<mqtt::MqttChannel>),
    Alertmanager(alertmanager::Alertmanager),
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Robot(r) => r.kind(),
            Channel::Mqtt(_) => "mqtt",
            Channel::Alertmanager(_) => "alertmanager",
        }
    }

    pub async fn deliver(&mut self, a: &Alert) -> Result<(), DeliveryError> {
        match self {
            Channel::Webhook(w) => w.deliver(a).await,
            Channel::Robot(r) => r.deliver(a).await,
            Channel::Mqtt(m) => m.deliver(a).await,
            Channel::Alertmanager(m) => m.deliver(a).await,
        }
    }
}

/// Every configured channel with its name.
pub fn build_all(config: &Config) -> Result<Vec<(String, Channel)>, ChannelError> {
    let a = &config.alerts;
    let mut out = Vec::new();
    for (i, w) in a.webhooks.iter().enumerate() {
        let name = w.name.clone().unwrap_or_else(|| format!("webhook{i}"));
        out.push((name, Channel::Webhook(webhook::Webhook::new(w)?)));
    }
    for (flavour, list, prefix) in [
        (robot::Flavour::WeCom, &a.wecom, "wecom"),
        (robot::Flavour::DingTalk, &a.dingtalk, "dingtalk"),
    ] {
        for (i, r) in list.iter().enumerate() {
            let name = r.name.clone().unwrap_or_else(|| format!("{prefix}{i}"));
            out.push((name, Channel::Robot(robot::Robot::new(flavour, r)?)));
        }
    }
    if let Some(m) = &a.mqtt {
        let ch = mqtt::MqttChannel::new(m, config.mqtt.as_ref())?;
        out.push(("mqtt".into(), Channel::Mqtt(Box::new(ch))));
    }
    if let Some(m) = &a.alertmanager {
        let generator = m
            .generator_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/", config.daemon.http_listen));
        out.push((
            "alertmanager".into(),
            Channel::Alertmanager(alertmanager::Alertmanager::new(m, generator)?),
        ));
    }
    Ok(out)
}

/// Deliver one channel's outbox until `stop`.
pub async fn run(
    mut ch: Channel,
    metrics: Arc<ChannelMetrics>,
    store: Arc<Mutex<Store>>,
    mut wake: tokio::sync::watch::Receiver<u64>,
    delivered: Arc<Notify>,
    stop: CancellationToken,
) {
    let name = metrics.name.clone();
    let lock = || store.lock().unwrap_or_else(|e| e.into_inner());
    let mut backoff = Duration::from_secs(1);
    let mut last_log = None::<tokio::time::Instant>;
    let resend = match &ch {
        Channel::Alertmanager(m) => Some(m.resend),
        _ => None,
    };
    let mut next_resend = tokio::time::Instant::now() + resend.unwrap_or(Duration::MAX / 4);
    let mut evaluator_running = true;
    let mut retried_at_once = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        // Seen now: an alert queued from here on makes `wake.changed()` return at once.
        wake.borrow_and_update();
        // Alertmanager forgets alerts it stops hearing about: re-post the firing ones.
        if let (Some(every), Channel::Alertmanager(am)) = (resend, &mut ch) {
            if tokio::time::Instant::now() >= next_resend {
                next_resend = tokio::time::Instant::now() + every;
                let firing: Vec<Alert> = lock()
                    .active
                    .values()
                    .filter(|a| a.notified && !a.silenced)
                    .map(|a| a.alert.clone())
                    .collect();
                if !firing.is_empty() {
                    if let Err(e) = am.post(&firing).await {
                        metrics.failures.fetch_add(1, Relaxed);
                        tracing::warn!(channel = %name, error = %e, "Cannot re-post firing alerts.");
                    }
                }
            }
        }
        let next = lock().front(&name).cloned();
        let Some(alert) = next else {
            let until_resend = next_resend.saturating_duration_since(tokio::time::Instant::now());
            let idle = async {
                match &mut ch {
                    Channel::Mqtt(m) => m.idle().await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                r = wake.changed(), if evaluator_running => evaluator_running = r.is_ok(),
                _ = tokio::time::sleep(until_resend.min(Duration::from_secs(1))) => {}
                _ = idle => {}
                _ = stop.cancelled() => return,
            }
            continue;
        };
        match ch.deliver(&alert).await {
            Ok(()) => {
                lock().delivered(&name);
                metrics.sent.fetch_add(1, Relaxed);
                metrics.up.store(true, Relaxed);
                delivered.notify_one();
                backoff = Duration::from_secs(1);
                retried_at_once = false;
            }
            // A receiver that closed an idle keep-alive connection just as it was reused
            // shows as a transport error: one new attempt at once, on a new connection,
            // before backing off.
            Err(DeliveryError::Http { .. }) if !retried_at_once && metrics.up.load(Relaxed) => {
                metrics.failures.fetch_add(1, Relaxed);
                retried_at_once = true;
            }
            Err(e) => {
                retried_at_once = false;
                metrics.failures.fetch_add(1, Relaxed);
                metrics.up.store(false, Relaxed);
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    last_log = Some(tokio::time::Instant::now());
                    tracing::warn!(channel = %name, id = %alert.id, error = %e, retry_in_s = backoff.as_secs(), "Alert not delivered; kept and retried.");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

/// A test alert for `meilid alerts test`.
pub fn test_alert(site: &str, state: &str, now: &str) -> Alert {
    Alert {
        v: 1,
        id: format!("test:{site}/meilid"),
        rule: "test".into(),
        severity: "info".into(),
        state: state.into(),
        site: site.into(),
        device: None,
        metric: "test".into(),
        value: None,
        threshold: None,
        starts_at: now.into(),
        ends_at: (state == "resolved").then(|| now.to_string()),
        summary_zh: format!("测试告警：{site} 网关告警通道调试（{state}），无需处理。"),
        summary_en: format!("Test alert: commissioning the alert channels of gateway {site} ({state}); no action needed."),
        context: Default::default(),
    }
}
