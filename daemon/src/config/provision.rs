//! `[provision]`: what every device of this gateway is given by `meilid device provision`
//! besides its own entry (docs/provisioning.md).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionConfig {
    /// The broker as the devices reach it (not necessarily as this gateway does).
    pub broker_host: Option<String>,
    #[serde(default = "default_broker_port")]
    pub broker_port: u16,
    /// TLS 1.3 to the broker, verified against `ca_file` (PEM, P-256).
    #[serde(default)]
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    /// The SIM's access point name.
    #[serde(default = "default_apn")]
    pub apn: String,
    /// `device-passwords.csv` written by `meilid broker-config`: each device gets its own
    /// broker account. Without it devices connect without credentials.
    pub passwords_file: Option<PathBuf>,
    /// Streetlights: switch on/off this many minutes after sunset/sunrise, and the dimming level.
    #[serde(default)]
    pub on_offset_min: i32,
    #[serde(default)]
    pub off_offset_min: i32,
    #[serde(default = "default_dim_pct")]
    pub dim_pct: u8,
}

const fn default_broker_port() -> u16 {
    1883
}
fn default_apn() -> String {
    "cmnet".into()
}
const fn default_dim_pct() -> u8 {
    100
}
