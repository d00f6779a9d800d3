//! Typed configuration (CONTRACT §7). Parse (serde, `deny_unknown_fields`) → validate (every
//! semantic error collected, each with file, line and key) → build runtime objects elsewhere.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use meili_firmware::Kind;
use serde::Deserialize;
use toml::Spanned;

use crate::lines::line_of;
pub use crate::standards::classes::{RoadClass, ToiletClass, ZoneClass};

pub mod adopt;
pub mod alerts;
mod check;
pub use check::device_problems;
pub mod http;
mod limits;
pub mod provision;
pub mod reports;
pub mod standards;

/// A secret string (password, token) whose `Debug` output is redacted.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A URL that may carry a password or a token: its `Debug` and `Display` are redacted
/// (`redact::url`); the connection code reads it through `Deref`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(s: impl Into<String>) -> SecretUrl {
        SecretUrl(s.into())
    }
    /// The URL itself, for connecting (never for logs).
    pub fn to_string_unredacted(&self) -> String {
        self.0.clone()
    }
}

impl std::ops::Deref for SecretUrl {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", crate::redact::url(&self.0))
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::redact::url(&self.0))
    }
}

/// The secret given inline, or else the contents of its file (trailing whitespace removed).
pub fn resolve_secret(
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> std::io::Result<Option<String>> {
    match (inline, file) {
        (Some(s), _) => Ok(Some(s.expose().to_string())),
        (None, Some(path)) => Ok(Some(std::fs::read_to_string(path)?.trim_end().to_string())),
        (None, None) => Ok(None),
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Authentication and limits of the HTTP listeners (`[http]`).
    #[serde(default)]
    pub http: http::HttpConfig,
    pub mqtt: Option<MqttConfig>,
    #[serde(default)]
    pub validate: ValidateConfig,
    /// The durable store-and-forward buffer in `data_dir/buffer`.
    #[serde(default)]
    pub buffer: crate::buffer::BufferConfig,
    #[serde(default)]
    pub sinks: Vec<Spanned<SinkConfig>>,
    /// How compliance figures are computed (`[standards]`).
    #[serde(default)]
    pub standards: standards::StandardsConfig,
    /// Alert rules, silences and channels (`[alerts]`).
    #[serde(default)]
    pub alerts: alerts::AlertsConfig,
    /// The reports the daemon writes for closed periods (`[reports]`).
    #[serde(default)]
    pub reports: reports::ReportsConfig,
    /// What `meilid device provision` gives every device (`[provision]`).
    pub provision: Option<provision::ProvisionConfig>,
    /// Further files holding `[[devices]]`, relative to this file.
    #[serde(default)]
    pub include: Vec<PathBuf>,
    #[serde(default)]
    pub devices: Vec<Spanned<DeviceConfig>>,
    /// Where each device came from (file index into `files`), filled by [`load`].
    #[serde(skip)]
    pub device_files: Vec<usize>,
    /// The files this configuration was read from (main file first).
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// Register maps of the Modbus devices, by the path in their `modbus.map` (resolved).
    #[serde(skip)]
    pub modbus_maps: std::collections::BTreeMap<
        PathBuf,
        std::sync::Arc<crate::sources::modbus::map::RegisterMap>,
    >,
    /// Register maps that could not be read at all, with why (reported at the device's line).
    #[serde(skip)]
    pub unreadable_maps: std::collections::BTreeMap<PathBuf, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// A second listener serving only the public read-only endpoints (the toilet feed),
    /// without authentication.
    #[serde(default)]
    pub public_listen: Option<SocketAddr>,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Grace period for flushing sinks on SIGINT/SIGTERM.
    #[serde(default = "default_shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Capacity of the queue between the sources and validation, in messages.
    #[serde(default = "default_ingest_queue_messages")]
    pub ingest_queue_messages: usize,
    /// Capacity of that queue in bytes of MQTT messages (topic and payload).
    #[serde(default = "default_ingest_queue_bytes")]
    pub ingest_queue_bytes: usize,
    /// How often the daemon writes its own health rows (`meili`, `meili_sink`,
    /// `device_status`) to the sinks; 0 turns them off.
    #[serde(default = "default_health_interval_secs")]
    pub health_interval_secs: u64,
    /// `/health` turns unhealthy (503) once the MQTT source has been without a connection
    /// this long (before that: degraded, 200).
    #[serde(default = "default_mqtt_unhealthy_after_secs")]
    pub mqtt_unhealthy_after_secs: u64,
    /// The `host` tag of those rows (default: this machine's host name).
    #[serde(default)]
    pub host: Option<String>,
    /// The devices file that adopted devices are appended to (one of `include`; made on the
    /// first adoption). Without it the page lists pending devices but cannot adopt them.
    #[serde(default)]
    pub adopt_file: Option<PathBuf>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/meili")
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9780))
}
fn default_timezone() -> String {
    "Asia/Shanghai".into()
}
const fn default_shutdown_timeout_secs() -> u64 {
    30
}
const fn default_ingest_queue_messages() -> usize {
    8192
}
const fn default_ingest_queue_bytes() -> usize {
    4 * 1024 * 1024
}
const fn default_mqtt_unhealthy_after_secs() -> u64 {
    30
}
const fn default_health_interval_secs() -> u64 {
    60
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            data_dir: default_data_dir(),
            http_listen: default_http_listen(),
            public_listen: None,
            timezone: default_timezone(),
            shutdown_timeout_secs: default_shutdown_timeout_secs(),
            ingest_queue_messages: default_ingest_queue_messages(),
            ingest_queue_bytes: default_ingest_queue_bytes(),
            health_interval_secs: default_health_interval_secs(),
            mqtt_unhealthy_after_secs: default_mqtt_unhealthy_after_secs(),
            host: None,
            adopt_file: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum MqttProtocol {
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS).
    pub url: SecretUrl,
    pub client_id: String,
    #[serde(default)]
    pub protocol: MqttProtocol,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
    /// Topic root; readings arrive on `{topic_prefix}/{site}/{kind}/{device}/telemetry`.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// MQTT 5 session expiry; the broker keeps the session (and queues QoS 1 readings) this long
    /// while the daemon is away. 3.1.1 sessions never expire (clean session = false).
    #[serde(default = "default_session_expiry_secs")]
    pub session_expiry_secs: u32,
    /// MQTT 5 receive maximum: unacknowledged QoS 1 messages the broker may send at once.
    #[serde(default = "default_receive_maximum")]
    pub receive_maximum: u16,
    #[serde(default = "default_max_packet_size_bytes")]
    pub max_packet_size_bytes: u32,
    #[serde(default = "default_reconnect_max_backoff_ms")]
    pub reconnect_max_backoff_ms: u64,
    /// Connections sharing the subscriptions (`$share/{share_group}/…`), each with its own
    /// window of unacknowledged messages at the broker (docs/delivery.md); 1 = one connection
    /// with plain subscriptions. Client ids: `client_id`, then `client_id-1`, ….
    #[serde(default = "default_connections")]
    pub connections: u8,
    #[serde(default = "default_share_group")]
    pub share_group: String,
    /// 3.1.1: how many unacknowledged QoS 1 messages the broker sends each connection
    /// (mosquitto's `max_inflight_messages`, default 20). A commit waiting for more messages
    /// (`buffer.commit_wait_ms`) stops waiting once all of them are in hand. MQTT 5 uses
    /// `receive_maximum` instead.
    #[serde(default = "default_broker_max_inflight")]
    pub broker_max_inflight: u16,
    pub tls: Option<TlsConfig>,
}

impl MqttConfig {
    /// Messages the broker sends before it waits for an acknowledgement, over all connections.
    pub fn window(&self) -> usize {
        let per = match self.protocol {
            MqttProtocol::V311 => self.broker_max_inflight,
            MqttProtocol::V5 => self.receive_maximum,
        };
        usize::from(per.max(1)) * usize::from(self.connections.max(1))
    }
}

const fn default_broker_max_inflight() -> u16 {
    20
}

const fn default_connections() -> u8 {
    1
}
fn default_share_group() -> String {
    "meili".into()
}

const fn default_keep_alive_secs() -> u64 {
    30
}
/// The contract's topic root (CONTRACT §1).
pub const DEFAULT_TOPIC_PREFIX: &str = "meili/v1";

fn default_topic_prefix() -> String {
    DEFAULT_TOPIC_PREFIX.into()
}
const fn default_session_expiry_secs() -> u32 {
    7 * 24 * 3600
}
const fn default_receive_maximum() -> u16 {
    4096
}
const fn default_max_packet_size_bytes() -> u32 {
    1024 * 1024
}
const fn default_reconnect_max_backoff_ms() -> u64 {
    30_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA certificates to trust (default: none, so it must be given).
    pub ca_file: PathBuf,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateConfig {
    /// Readings stamped further ahead of the gateway clock are rejected (`timestamp_future`).
    #[serde(default = "default_max_future_secs")]
    pub max_future_secs: i64,
    /// Readings older than this are rejected (`timestamp_past`); covers device backlogs.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: i64,
}

const fn default_max_future_secs() -> i64 {
    300
}
const fn default_max_age_secs() -> i64 {
    30 * 24 * 3600
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            max_future_secs: default_max_future_secs(),
            max_age_secs: default_max_age_secs(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    InfluxdbV2(InfluxdbV2Config),
    InfluxdbV1(InfluxdbV1Config),
    File(FileSinkConfig),
}

impl SinkConfig {
    pub fn name(&self) -> String {
        match self {
            SinkConfig::InfluxdbV2(c) => c.name.clone().unwrap_or_else(|| "influxdb_v2".into()),
            SinkConfig::InfluxdbV1(c) => c.name.clone().unwrap_or_else(|| "influxdb_v1".into()),
            SinkConfig::File(c) => c.name.clone().unwrap_or_else(|| "file".into()),
        }
    }
    pub fn seq_and_period_fields(&self) -> bool {
        match self {
            SinkConfig::InfluxdbV2(c) => c.seq_and_period_fields,
            SinkConfig::InfluxdbV1(c) => c.seq_and_period_fields,
            SinkConfig::File(c) => c.seq_and_period_fields,
        }
    }
    pub fn batch(&self) -> &BatchConfig {
        match self {
            SinkConfig::InfluxdbV2(c) => &c.batch,
            SinkConfig::InfluxdbV1(c) => &c.batch,
            SinkConfig::File(c) => &c.batch,
        }
    }
}

/// Batching and retry, shared by every sink (`[sinks.batch]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Upper bound of one write request's body (InfluxDB refuses bodies over 25 MB by default
    /// with 413; a 413 splits the request anyway).
    #[serde(default = "default_batch_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "default_max_delay_ms")]
    pub max_delay_ms: u64,
    #[serde(default = "default_retry_min_backoff_ms")]
    pub retry_min_backoff_ms: u64,
    #[serde(default = "default_retry_max_backoff_ms")]
    pub retry_max_backoff_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// While a backlog drains, the share of each batch (percent, 0–90) kept for live readings.
    #[serde(default = "default_live_share_pct")]
    pub live_share_pct: u8,
}

const fn default_live_share_pct() -> u8 {
    25
}

const fn default_batch_max_bytes() -> u64 {
    4 * 1024 * 1024
}
const fn default_max_rows() -> usize {
    5000
}
const fn default_max_delay_ms() -> u64 {
    100
}
const fn default_retry_min_backoff_ms() -> u64 {
    200
}
const fn default_retry_max_backoff_ms() -> u64 {
    30_000
}
const fn default_request_timeout_ms() -> u64 {
    10_000
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: default_max_rows(),
            max_bytes: default_batch_max_bytes(),
            max_delay_ms: default_max_delay_ms(),
            retry_min_backoff_ms: default_retry_min_backoff_ms(),
            retry_max_backoff_ms: default_retry_max_backoff_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            live_share_pct: default_live_share_pct(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxdbV2Config {
    pub name: Option<String>,
    pub url: SecretUrl,
    pub org: String,
    pub bucket: String,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// Name of an environment variable holding the token.
    pub token_env: Option<String>,
    /// Also write each raw reading's `seq` and `period_s` as fields (a CONTRACT §4 extension;
    /// default off: they cost InfluxDB 1.6 about 50 % more CPU per row).
    #[serde(default)]
    pub seq_and_period_fields: bool,
    #[serde(default)]
    pub batch: BatchConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxdbV1Config {
    pub name: Option<String>,
    pub url: SecretUrl,
    pub database: String,
    pub retention_policy: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// Issue `CREATE DATABASE` when the server answers "database not found".
    #[serde(default = "default_true")]
    pub create_database: bool,
    /// Days the database the daemon creates keeps data (its default retention policy, named
    /// `retention_policy` when set). Unset: InfluxDB's infinite `autogen`. An existing
    /// database is never changed (docs/operations.md, "Storage lifecycle").
    pub retention_days: Option<u32>,
    /// Also write each raw reading's `seq` and `period_s` as fields (a CONTRACT §4 extension;
    /// default off: they cost InfluxDB 1.6 about 50 % more CPU per row).
    #[serde(default)]
    pub seq_and_period_fields: bool,
    #[serde(default)]
    pub batch: BatchConfig,
}

const fn default_true() -> bool {
    true
}

/// The local store: line protocol appended to files in `data_dir`, rotated by size.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    pub name: Option<String>,
    /// Relative paths are under `daemon.data_dir`.
    #[serde(default = "default_file_path")]
    pub path: PathBuf,
    #[serde(default = "default_file_max_bytes")]
    pub max_file_bytes: u64,
    /// Rotated files kept (`readings.lp.1` … `.N`); older ones are deleted.
    #[serde(default = "default_file_keep")]
    pub keep_files: u32,
    /// Also write each raw reading's `seq` and `period_s` as fields (a CONTRACT §4 extension;
    /// default off: they cost InfluxDB 1.6 about 50 % more CPU per row).
    #[serde(default)]
    pub seq_and_period_fields: bool,
    #[serde(default)]
    pub batch: BatchConfig,
}

fn default_file_path() -> PathBuf {
    PathBuf::from("store/readings.lp")
}
const fn default_file_max_bytes() -> u64 {
    64 * 1024 * 1024
}
const fn default_file_keep() -> u32 {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub id: String,
    pub site: String,
    pub kind: Kind,
    pub lat: f64,
    pub lon: f64,
    pub name: Option<String>,
    pub zone_class: Option<ZoneClass>,
    pub area_km2: Option<f64>,
    pub road_class: Option<RoadClass>,
    pub toilet_class: Option<ToiletClass>,
    /// Reporting period the device is configured for.
    pub period_secs: Option<u32>,
    /// Toilets: opening hours "HH:MM-HH:MM" (default `standards.toilets.opening_hours`).
    pub opening_hours: Option<String>,
    /// Toilets: facilities published in the public feed (e.g. `wheelchair`, `baby_changing`).
    #[serde(default)]
    pub facilities: Vec<String>,
    /// Poll this device over Modbus TCP or RTU instead of waiting for MQTT.
    pub modbus: Option<ModbusDevice>,
}

/// Serial parity of an RTU line (also `meilid modbus probe --parity`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// `modbus = { … }` of a device (CONTRACT §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusDevice {
    /// `"host:port"` of a Modbus TCP device or gateway.
    pub tcp: Option<String>,
    /// Serial device of an RS-485 line (all devices on the same path share one bus).
    pub rtu: Option<PathBuf>,
    pub baud: Option<u32>,
    #[serde(default)]
    pub parity: Parity,
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Slave / unit id.
    pub unit: u8,
    /// Register map file (relative paths: from the configuration file's folder, then from the
    /// working directory).
    pub map: PathBuf,
    #[serde(default = "default_modbus_interval")]
    pub interval_secs: u64,
    /// Per request; tokio-modbus has no timeout of its own.
    #[serde(default = "default_modbus_timeout")]
    pub timeout_ms: u64,
    /// Further attempts of a failed request within one poll.
    #[serde(default = "default_modbus_retries")]
    pub retries: u32,
    /// Consecutive failed polls after which the device is reported offline.
    #[serde(default = "default_offline_after")]
    pub offline_after_polls: u32,
}

const fn default_stop_bits() -> u8 {
    1
}
const fn default_modbus_interval() -> u64 {
    60
}
const fn default_modbus_timeout() -> u64 {
    1000
}
const fn default_modbus_retries() -> u32 {
    1
}
const fn default_offline_after() -> u32 {
    3
}

/// One configuration problem, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.key,
            self.message
        )
    }
}

/// All the problems found in a configuration.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The key a TOML error is about: named in the message, or the one at the error's position.
fn error_key(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message();
    for marker in ["unknown field `", "missing field `", "duplicate key `"] {
        if let Some(rest) = msg.split(marker).nth(1) {
            if let Some(name) = rest.split('`').next() {
                return name.to_string();
            }
        }
    }
    // The whole line the error is on: `key = value` names the key even when the error
    // points at the value.
    e.span()
        .and_then(|s| {
            let start = text.get(..s.start)?.rfind('\n').map_or(0, |i| i + 1);
            text.get(start..)
        })
        .and_then(|t| t.lines().next())
        .map(|l| l.split('=').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Configuration and device files larger than this are refused (not read into memory).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

fn parse_file<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, String), Vec<ConfigError>> {
    let fail = |message: String| ConfigError {
        file: path.into(),
        line: 0,
        key: String::new(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| vec![fail(format!("cannot read: {e}"))])?;
    if !meta.is_file() {
        return Err(vec![fail("not a regular file".into())]);
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(vec![fail(format!(
            "{} bytes; a configuration file is at most {MAX_CONFIG_BYTES}",
            meta.len()
        ))]);
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![fail(format!("cannot read: {e}"))])?;
    match toml::from_str::<T>(&text) {
        Ok(v) => Ok((v, text)),
        Err(e) => Err(parse_errors::<T>(path, &text, &e)),
    }
}

/// Errors reported for one file at most (a file of nothing but errors stops there).
const MAX_PARSE_ERRORS: usize = 20;

/// Every parse error of `text`, not only the first: the line of each error is commented out
/// and the text parsed again, until it parses or [`MAX_PARSE_ERRORS`] are found.
fn parse_errors<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    first: &toml::de::Error,
) -> Vec<ConfigError> {
    let one = |text: &str, e: &toml::de::Error| ConfigError {
        file: path.into(),
        line: e.span().map_or(0, |s| line_of(text, s.start)),
        key: error_key(text, e),
        message: e.message().trim().to_string(),
    };
    let mut found = vec![one(text, first)];
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    while found.len() < MAX_PARSE_ERRORS {
        let line = found.last().map_or(0, |f| f.line);
        if line == 0 || line > lines.len() || lines[line - 1].starts_with('#') {
            break;
        }
        lines[line - 1] = format!("#{}", lines[line - 1]);
        let again = lines.join("\n");
        match toml::from_str::<T>(&again) {
            Ok(_) => break,
            Err(e) => {
                let next = one(&again, &e);
                if found.iter().any(|f| f.line == next.line) {
                    break;
                }
                found.push(next);
            }
        }
    }
    found
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevicesFile {
    #[serde(default)]
    pub(crate) devices: Vec<Spanned<DeviceConfig>>,
}

/// Read, parse and validate a configuration file and the device files it includes.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let (mut config, text): (Config, String) = parse_file(path).map_err(ConfigErrors)?;
    config.files = vec![path.to_path_buf()];
    let mut texts = vec![text];
    config.device_files = vec![0; config.devices.len()];
    let base = path.parent().unwrap_or(Path::new("."));
    let mut errors = Vec::new();
    for inc in config.include.clone() {
        let inc_path = base.join(&inc);
        // The adopt file is made on the first adoption.
        if config.daemon.adopt_file.as_ref() == Some(&inc) && !inc_path.exists() {
            continue;
        }
        match parse_file::<DevicesFile>(&inc_path) {
            Ok((file, text)) => {
                let idx = config.files.len();
                config.files.push(inc_path);
                texts.push(text);
                config
                    .device_files
                    .extend(std::iter::repeat_n(idx, file.devices.len()));
                config.devices.extend(file.devices);
            }
            // A file that cannot be read is reported at the `include` line.
            Err(e) => errors.extend(e.into_iter().map(|e| {
                if e.line == 0 && e.key.is_empty() {
                    ConfigError {
                        file: path.to_path_buf(),
                        line: crate::lines::key_line(&texts[0], "include"),
                        key: "include".into(),
                        message: format!("{}: {}", inc_path.display(), e.message),
                    }
                } else {
                    e
                }
            })),
        }
    }
    config.load_maps(base, &mut errors);
    config.validate_into(&texts, &mut errors);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

impl Config {
    /// Resolve and load every device's register map (errors name the map file).
    fn load_maps(&mut self, base: &Path, errors: &mut Vec<ConfigError>) {
        use crate::sources::modbus::map::RegisterMap;
        for dev in &mut self.devices {
            let Some(m) = dev.get_mut().modbus.as_mut() else {
                continue;
            };
            let beside = base.join(&m.map);
            if m.map.is_relative() && beside.exists() {
                m.map = beside;
            }
            if self.modbus_maps.contains_key(&m.map) {
                continue;
            }
            match RegisterMap::load(&m.map) {
                Ok(map) => {
                    self.modbus_maps
                        .insert(m.map.clone(), std::sync::Arc::new(map));
                }
                Err(problems) => {
                    // A file that cannot be read is reported where the device names it.
                    if let [(0, key, message)] = &problems[..] {
                        if key.is_empty() {
                            self.unreadable_maps.insert(m.map.clone(), message.clone());
                            continue;
                        }
                    }
                    errors.extend(
                        problems
                            .into_iter()
                            .map(|(line, key, message)| ConfigError {
                                file: m.map.clone(),
                                line,
                                key,
                                message,
                            }),
                    )
                }
            }
        }
    }
}

/// `[a-z0-9][a-z0-9_-]{0,63}` (CONTRACT §1).
pub fn valid_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

impl Config {
    /// The topic root readings arrive under (`mqtt.topic_prefix`, or the contract's), without a
    /// trailing `/`.
    pub fn topic_prefix(&self) -> &str {
        self.mqtt
            .as_ref()
            .map_or(DEFAULT_TOPIC_PREFIX, |m| m.topic_prefix.as_str())
            .trim_end_matches('/')
    }

    /// Parse a configuration from a string (tests, embedded demo config).
    pub fn from_toml(text: &str) -> Result<Config, ConfigErrors> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: PathBuf::from("<inline>"),
                line: e.span().map_or(0, |s| line_of(text, s.start)),
                key: error_key(text, &e),
                message: e.message().trim().to_string(),
            }])
        })?;
        config.files = vec![PathBuf::from("<inline>")];
        config.device_files = vec![0; config.devices.len()];
        let mut errors = Vec::new();
        config.load_maps(Path::new("."), &mut errors);
        config.validate_into(&[text.to_string()], &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests;
