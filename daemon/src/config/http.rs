//! `[http]`: who may use the HTTP API and page, and the listeners' resource limits
//! (docs/security.md).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Serve without authentication on a non-loopback `daemon.http_listen` (warned on every
    /// start). Without tokens, only a loopback listener is served without it.
    #[serde(default)]
    pub insecure_no_auth: bool,
    /// Host names clients may use besides IP addresses and `localhost` (DNS-rebinding guard).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// Open connections per listener, and per client address.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// A request's headers must arrive within this time (also the idle time allowed between
    /// requests on a kept-alive connection).
    #[serde(default = "default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
    /// A connection is closed after this long, whatever it does.
    #[serde(default = "default_connection_max_secs")]
    pub connection_max_secs: u64,
    /// The technician page's login session lasts this long.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            insecure_no_auth: false,
            allowed_hosts: Vec::new(),
            tokens: Vec::new(),
            max_connections: default_max_connections(),
            max_connections_per_client: default_max_connections_per_client(),
            header_read_timeout_secs: default_header_read_timeout_secs(),
            connection_max_secs: default_connection_max_secs(),
            session_hours: default_session_hours(),
        }
    }
}

const fn default_max_connections() -> usize {
    256
}
const fn default_max_connections_per_client() -> usize {
    32
}
const fn default_header_read_timeout_secs() -> u64 {
    10
}
const fn default_connection_max_secs() -> u64 {
    600
}
const fn default_session_hours() -> u64 {
    12
}

/// What a token allows: `read` the API, page and metrics; `write` also silences; `admin`
/// everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// A bearer token: stored as the SHA-256 of the token (`meilid token` makes one), or read
/// from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (in the audit log).
    pub name: String,
    pub scope: Scope,
    /// Hex SHA-256 of the token.
    pub sha256: Option<String>,
    /// A file holding the token itself (trailing whitespace removed).
    pub token_file: Option<PathBuf>,
}
