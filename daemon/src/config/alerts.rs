//! `[alerts]`: rules, silences and delivery channels (docs/alerts.md).

use std::path::PathBuf;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub rules: Vec<RuleConfig>,
    pub silences: Vec<SilenceConfig>,
    pub webhooks: Vec<WebhookConfig>,
    /// WeCom (企业微信) group robots.
    pub wecom: Vec<RobotConfig>,
    /// DingTalk (钉钉) group robots.
    pub dingtalk: Vec<RobotConfig>,
    pub mqtt: Option<AlertMqttConfig>,
    pub alertmanager: Option<AlertmanagerConfig>,
    /// How often time-based rules (offline, Modbus, compliance, backlog) are evaluated.
    pub evaluate_interval_ms: u64,
    /// Resolved alerts kept for `GET /api/v1/alerts`.
    pub recent_kept: usize,
    /// Undelivered notifications kept per channel; beyond it the oldest is dropped (counted
    /// in `meili_alert_outbox_dropped_total` and logged).
    pub outbox_max: usize,
    /// How often the evaluation state is saved with its buffer position.
    pub checkpoint_interval_secs: u64,
    /// Runtime silences (`POST /api/v1/silences`) kept at once, and their longest duration.
    pub max_silences: usize,
    pub max_silence_days: u64,
    /// The gateway's web page as a centre reaches it, for each alert's `url` (default
    /// `http://{daemon.http_listen}/`).
    pub page_url: Option<String>,
    /// Alerts raised from readings older than this (a backlog after an outage) are recorded
    /// as historical episodes and summarised in one notification, not sent one by one
    /// (0: every alert is sent).
    pub max_age_mins: u32,
    /// The summary of historical alerts goes out once the backlog has brought no new one for
    /// this long.
    pub backfill_quiet_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            rules: Vec::new(),
            silences: Vec::new(),
            webhooks: Vec::new(),
            wecom: Vec::new(),
            dingtalk: Vec::new(),
            mqtt: None,
            alertmanager: None,
            evaluate_interval_ms: 1000,
            recent_kept: 200,
            outbox_max: 10_000,
            checkpoint_interval_secs: 10,
            max_silences: 100,
            max_silence_days: 7,
            page_url: None,
            max_age_mins: 60,
            backfill_quiet_secs: 60,
        }
    }
}

impl AlertsConfig {
    pub fn has_channels(&self) -> bool {
        !self.webhooks.is_empty()
            || !self.wecom.is_empty()
            || !self.dingtalk.is_empty()
            || self.mqtt.is_some()
            || self.alertmanager.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// A reading field (or its window mean) beyond a threshold for `for_mins`.
    Threshold,
    /// A device's last will arrived, or no reading for `missed_periods` periods.
    Offline,
    /// Streetlight faults and day-burning.
    LampFault,
    /// A polled Modbus device stopped answering.
    ModbusDown,
    /// A month-to-date compliance ratio below its target, or out of reach this month.
    Compliance,
    /// A sink's oldest unwritten reading older than `max_age_mins`.
    Backlog,
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Above,
    Below,
}

/// A fixed number, or the device's own limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    Value(f64),
    /// `"limit"`: the noise zone's day or night limit (GB 3096-2008), or the toilet's odour
    /// limit for its class (GB/T 17217) for `nh3` / `h2s`.
    Named(String),
}

/// Which noise periods a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Periods {
    #[default]
    All,
    Day,
    Night,
}

/// When a compliance rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ComplianceWhen {
    /// Month to date below the target.
    #[default]
    BelowTarget,
    /// The target cannot be reached this month even if every remaining day complies.
    Unreachable,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Stable rule name; part of every alert id.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RuleType,
    #[serde(default)]
    pub severity: Severity,
    /// Selectors: empty means all.
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<meili_firmware::Kind>,
    #[serde(default)]
    pub devices: Vec<String>,
    /// Condition must hold this long (event time) before the alert fires.
    #[serde(default)]
    pub for_mins: u32,
    /// Reminder while firing (0: none).
    #[serde(default)]
    pub repeat_mins: u32,
    /// Title used in summaries (defaults per type).
    pub title_zh: Option<String>,
    pub title_en: Option<String>,
    // threshold
    pub metric: Option<String>,
    /// Window mean length, clock-aligned (0: each reading). Sound levels are energy means.
    #[serde(default)]
    pub window_mins: u32,
    pub threshold: Option<Threshold>,
    #[serde(default)]
    pub direction: Direction,
    /// Hysteresis: a firing alert resolves only this far on the good side of the threshold.
    #[serde(default)]
    pub clear_margin: f64,
    #[serde(default)]
    pub periods: Periods,
    /// Share of a window readings must cover for its mean to count.
    #[serde(default = "default_min_coverage_pct")]
    pub min_coverage_pct: u8,
    // offline
    #[serde(default = "default_missed_periods")]
    pub missed_periods: u32,
    #[serde(default = "default_true")]
    pub on_last_will: bool,
    // lamp_fault
    #[serde(default)]
    pub faults: Vec<String>,
    // compliance
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default)]
    pub when: ComplianceWhen,
    // backlog
    pub max_age_mins: Option<u32>,
    /// The centre's case category for this rule's alerts (carried in every alert).
    pub case: Option<crate::event::CaseCategory>,
}

const fn default_min_coverage_pct() -> u8 {
    75
}
const fn default_missed_periods() -> u32 {
    3
}
const fn default_true() -> bool {
    true
}

/// A maintenance window: matching alerts are tracked but not delivered.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SilenceConfig {
    /// Runtime silences: the id `DELETE /api/v1/silences/{id}` takes, and who added it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub rules: Vec<String>,
    /// RFC 3339.
    pub starts: String,
    pub ends: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name in metrics and the outbox (default `webhook<N>`).
    pub name: Option<String>,
    pub url: super::SecretUrl,
    /// HMAC-SHA256 key for the `X-Meili-Signature` header.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A CA (PEM) trusted besides the public roots, for an https:// URL.
    pub ca_file: Option<PathBuf>,
}

/// A chat group robot (WeCom or DingTalk): markdown messages a duty officer reads on a phone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotConfig {
    /// Name in metrics and the outbox (default `wecom<N>` / `dingtalk<N>`).
    pub name: Option<String>,
    /// The robot's webhook URL with its key (WeCom `…/webhook/send?key=…`) or access token
    /// (DingTalk `…/robot/send?access_token=…`); redacted in logs.
    pub url: super::SecretUrl,
    /// DingTalk's signing secret (加签, `SEC…`): each request carries `timestamp` and `sign`.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A CA (PEM) trusted besides the public roots, for an https:// URL.
    pub ca_file: Option<PathBuf>,
    /// DingTalk: mobile numbers to @ in the group.
    #[serde(default)]
    pub at_mobiles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertMqttConfig {
    /// Broker; default: the `[mqtt]` broker (same credentials and TLS).
    pub url: Option<super::SecretUrl>,
    /// Default: `{mqtt.client_id}-alerts`.
    pub client_id: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://127.0.0.1:9093`.
    pub url: super::SecretUrl,
    /// Firing alerts are re-posted this often (Alertmanager resolves alerts it stops hearing
    /// about); their `endsAt` is 4 intervals ahead.
    #[serde(default = "default_resend_secs")]
    pub resend_secs: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `generatorURL` of each alert (default: this daemon's web page).
    pub generator_url: Option<String>,
    /// A CA (PEM) trusted besides the public roots, for an https:// URL.
    pub ca_file: Option<PathBuf>,
}

const fn default_timeout_ms() -> u64 {
    5000
}
const fn default_resend_secs() -> u64 {
    60
}

/// Metrics a threshold rule can watch: reading fields, plus `aqi` (hourly AQI, HJ 633).
pub const THRESHOLD_METRICS: [&str; 12] = [
    "laeq", "lamax", "pm2_5", "pm10", "so2", "no2", "co", "o3", "nh3", "h2s", "aqi", "occupied",
];

/// Lamp conditions a `lamp_fault` rule can watch.
pub const LAMP_FAULTS: [&str; 5] = [
    "lamp_failure",
    "driver_failure",
    "power_failure",
    "comm_failure",
    "day_burning",
];

/// A threshold rule: its metric, threshold and window.
fn check_threshold(
    r: &RuleConfig,
    key: &dyn Fn(&str) -> String,
    err: &mut dyn FnMut(String, String),
) {
    match r.metric.as_deref() {
        Some(m) if THRESHOLD_METRICS.contains(&m) => {
            if m == "aqi" && r.window_mins != 60 {
                err(key("window_mins"), "aqi is hourly: use 60".into());
            }
        }
        Some(m) => err(
            key("metric"),
            format!("{m:?} is not one of {}", THRESHOLD_METRICS.join(", ")),
        ),
        None => err(key("metric"), "threshold rules need a metric".into()),
    }
    match &r.threshold {
        None => err(key("threshold"), "threshold rules need one".into()),
        Some(Threshold::Named(n)) if n != "limit" => err(
            key("threshold"),
            format!("{n:?}: give a number or \"limit\""),
        ),
        Some(Threshold::Named(_))
            if !matches!(r.metric.as_deref(), Some("laeq" | "nh3" | "h2s")) =>
        {
            err(
                key("threshold"),
                "\"limit\" applies to laeq (zone limit) and nh3/h2s (odour limit)".into(),
            )
        }
        _ => {}
    }
    if r.window_mins > 24 * 60 || (r.window_mins > 0 && 1440 % r.window_mins != 0) {
        err(
            key("window_mins"),
            "must divide a day (e.g. 5, 15, 60)".into(),
        );
    }
    if r.min_coverage_pct > 100 {
        err(key("min_coverage_pct"), "at most 100".into());
    }
}

impl AlertsConfig {
    /// Report every problem as (key, message).
    pub fn check(&self, err: &mut dyn FnMut(String, String)) {
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let key = |k: &str| format!("alerts.rules[{i}].{k}");
            if r.name.is_empty()
                || !r
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                err(key("name"), "use letters, digits, _ and -".into());
            }
            if !names.insert(r.name.as_str()) {
                err(key("name"), format!("{:?} is used twice", r.name));
            }
            match r.kind {
                RuleType::Threshold => check_threshold(r, &key, err),
                RuleType::LampFault => {
                    for f in &r.faults {
                        if !LAMP_FAULTS.contains(&f.as_str()) {
                            err(
                                key("faults"),
                                format!("{f:?} is not one of {}", LAMP_FAULTS.join(", ")),
                            );
                        }
                    }
                }
                RuleType::Backlog if r.max_age_mins.is_none() => {
                    err(key("max_age_mins"), "backlog rules need one".into())
                }
                RuleType::Offline if r.missed_periods == 0 => {
                    err(key("missed_periods"), "must be at least 1".into())
                }
                _ => {}
            }
        }
        for (i, s) in self.silences.iter().enumerate() {
            for (k, v) in [("starts", &s.starts), ("ends", &s.ends)] {
                if v.parse::<jiff::Timestamp>().is_err() {
                    err(
                        format!("alerts.silences[{i}].{k}"),
                        format!("{v:?} is not an RFC 3339 time"),
                    );
                }
            }
        }
        let http = |at: String,
                    url: &str,
                    ca: bool,
                    secrets: (bool, bool),
                    err: &mut dyn FnMut(String, String)| {
            if !matches!(url::Url::parse(url), Ok(u) if matches!(u.scheme(), "http" | "https")) {
                err(
                    format!("{at}.url"),
                    format!("{} is not an http(s) URL", crate::redact::url(url)),
                );
            }
            if ca && !url.starts_with("https://") {
                err(
                    format!("{at}.ca_file"),
                    "a CA is for an https:// URL; this one would be plaintext".into(),
                );
            }
            if secrets.0 && secrets.1 {
                err(
                    format!("{at}.secret_file"),
                    "give secret or secret_file, not both".into(),
                );
            }
        };
        for (i, w) in self.webhooks.iter().enumerate() {
            let secrets = (w.secret.is_some(), w.secret_file.is_some());
            http(
                format!("alerts.webhooks[{i}]"),
                &w.url,
                w.ca_file.is_some(),
                secrets,
                err,
            );
        }
        for (list, robots) in [("wecom", &self.wecom), ("dingtalk", &self.dingtalk)] {
            for (i, r) in robots.iter().enumerate() {
                let at = format!("alerts.{list}[{i}]");
                let secrets = (r.secret.is_some(), r.secret_file.is_some());
                http(at.clone(), &r.url, r.ca_file.is_some(), secrets, err);
                if list == "wecom" && (secrets.0 || secrets.1 || !r.at_mobiles.is_empty()) {
                    err(
                        format!("{at}.secret"),
                        "WeCom group robots have no signing secret or @ list; the key is in the URL".into(),
                    );
                }
            }
        }
        if let Some(a) = &self.alertmanager {
            if a.ca_file.is_some() && !a.url.starts_with("https://") {
                err(
                    "alerts.alertmanager.ca_file".into(),
                    "a CA is for an https:// URL; this one would be plaintext".into(),
                );
            }
            if !matches!(url::Url::parse(&a.url), Ok(u) if matches!(u.scheme(), "http" | "https")) {
                err(
                    "alerts.alertmanager.url".into(),
                    format!("{} is not an http(s) URL", crate::redact::url(&a.url)),
                );
            }
        }
    }
}
