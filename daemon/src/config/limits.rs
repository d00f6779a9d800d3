//! Value ranges and referenced files: what `check-config` (and every start) verifies beyond
//! the types, so that a configuration it accepts cannot make `run` panic, abort, or quietly
//! do something else.

use std::path::{Component, Path};

use super::{Config, MqttConfig, SinkConfig};

/// An error about `key`: (key, message). The caller finds the line.
pub type Problem = (String, String);

fn range(out: &mut Vec<Problem>, key: &str, v: u64, min: u64, max: u64) {
    if v < min || v > max {
        out.push((key.into(), format!("{v} is outside {min}..={max}")));
    }
}

/// A file the daemon will read must exist and be readable now.
fn readable(out: &mut Vec<Problem>, key: &str, path: &Path) {
    if let Err(e) = std::fs::File::open(path).and_then(|f| f.metadata()) {
        out.push((key.into(), format!("cannot read {}: {e}", path.display())));
    }
}

const MIB: u64 = 1024 * 1024;
const DAY_SECS: u64 = 24 * 3600;

pub fn problems(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let o = &mut out;
    daemon(o, c);
    if let Some(m) = &c.mqtt {
        mqtt(o, m);
    }
    http(o, c);
    let v = &c.validate;
    if v.max_future_secs < 0 || v.max_future_secs as u64 > 366 * DAY_SECS {
        o.push((
            "validate.max_future_secs".into(),
            format!("{} is outside 0..=1 year", v.max_future_secs),
        ));
    }
    if v.max_age_secs < 0 || v.max_age_secs as u64 > 10 * 366 * DAY_SECS {
        o.push((
            "validate.max_age_secs".into(),
            format!("{} is outside 0..=10 years", v.max_age_secs),
        ));
    }
    let b = &c.buffer;
    range(o, "buffer.segment_bytes", b.segment_bytes, 4096, 1024 * MIB);
    range(o, "buffer.max_bytes", b.max_bytes, 8192, 1 << 50);
    range(o, "buffer.min_free_bytes", b.min_free_bytes, 0, 1 << 40);
    for (i, s) in c.sinks.iter().enumerate() {
        sink(o, i, s.get_ref());
    }
    for (i, w) in c.alerts.webhooks.iter().enumerate() {
        if let Some(p) = &w.secret_file {
            readable(o, &format!("alerts.webhooks[{i}].secret_file"), p);
        }
    }
    for (i, r) in c.alerts.dingtalk.iter().enumerate() {
        if let Some(p) = &r.secret_file {
            readable(o, &format!("alerts.dingtalk[{i}].secret_file"), p);
        }
    }
    out
}

/// `[daemon]`: timeouts, queue bounds, the health interval, the host name.
fn daemon(o: &mut Vec<Problem>, c: &Config) {
    let d = &c.daemon;
    range(
        o,
        "daemon.shutdown_timeout_secs",
        d.shutdown_timeout_secs,
        1,
        3600,
    );
    range(
        o,
        "daemon.ingest_queue_messages",
        d.ingest_queue_messages as u64,
        1,
        1_000_000,
    );
    range(
        o,
        "daemon.ingest_queue_bytes",
        d.ingest_queue_bytes as u64,
        64 * 1024,
        1024 * MIB,
    );
    range(
        o,
        "daemon.health_interval_secs",
        d.health_interval_secs,
        0,
        DAY_SECS,
    );
    if let Some(h) = &d.host {
        let ok = !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
        if !ok {
            o.push((
                "daemon.host".into(),
                format!("{h:?} is not a host name (letters, digits, '-', '.', '_'; up to 253)"),
            ));
        }
    }
}

/// `[mqtt]`: keep-alive, packet size, back-off, and the files it reads.
fn mqtt(o: &mut Vec<Problem>, m: &MqttConfig) {
    range(o, "mqtt.keep_alive_secs", m.keep_alive_secs, 5, 65_535);
    range(
        o,
        "mqtt.max_packet_size_bytes",
        u64::from(m.max_packet_size_bytes),
        1024,
        256 * MIB,
    );
    range(
        o,
        "mqtt.reconnect_max_backoff_ms",
        m.reconnect_max_backoff_ms,
        100,
        3_600_000,
    );
    if let Some(p) = &m.password_file {
        readable(o, "mqtt.password_file", p);
    }
    if let Some(t) = &m.tls {
        readable(o, "mqtt.tls.ca_file", &t.ca_file);
        for (k, p) in [
            ("client_cert_file", &t.client_cert_file),
            ("client_key_file", &t.client_key_file),
        ] {
            if let Some(p) = p {
                readable(o, &format!("mqtt.tls.{k}"), p);
            }
        }
    }
    if let Ok(u) = url::Url::parse(&m.url) {
        let tls_url = matches!(u.scheme(), "mqtts" | "ssl");
        if !tls_url && m.tls.is_some() {
            o.push((
                "mqtt.tls".into(),
                format!("[mqtt.tls] is given but {} is not mqtts:// (the connection would be plaintext)", crate::redact::url(&m.url)),
            ));
        }
    }
}

/// One `[[sinks]]`: batch bounds and the files or variables its secret comes from.
fn sink(o: &mut Vec<Problem>, i: usize, s: &SinkConfig) {
    let key = format!("sinks[{i}]");
    let bt = s.batch();
    range(
        o,
        &format!("{key}.batch.max_rows"),
        bt.max_rows as u64,
        1,
        1_000_000,
    );
    range(
        o,
        &format!("{key}.batch.max_bytes"),
        bt.max_bytes,
        1024,
        64 * MIB,
    );
    range(
        o,
        &format!("{key}.batch.max_delay_ms"),
        bt.max_delay_ms,
        0,
        3_600_000,
    );
    range(
        o,
        &format!("{key}.batch.retry_max_backoff_ms"),
        bt.retry_max_backoff_ms,
        1,
        3_600_000,
    );
    range(
        o,
        &format!("{key}.batch.request_timeout_ms"),
        bt.request_timeout_ms,
        100,
        600_000,
    );
    match s {
        SinkConfig::InfluxdbV2(v2) => {
            if let Some(p) = &v2.token_file {
                readable(o, &format!("{key}.token_file"), p);
            }
            if let Some(var) = v2
                .token_env
                .as_ref()
                .filter(|_| v2.token.is_none() && v2.token_file.is_none())
            {
                if std::env::var_os(var).is_none() {
                    o.push((
                        format!("{key}.token_env"),
                        format!("environment variable {var} is not set"),
                    ));
                }
            }
        }
        SinkConfig::InfluxdbV1(v1) => {
            if let Some(p) = &v1.password_file {
                readable(o, &format!("{key}.password_file"), p);
            }
        }
        SinkConfig::File(f) => {
            if f.path
                .components()
                .any(|c| matches!(c, Component::ParentDir))
                || f.path.as_os_str().is_empty()
            {
                o.push((
                    format!("{key}.path"),
                    format!(
                        "{:?} must name a file under daemon.data_dir (no '..') or an absolute path",
                        f.path
                    ),
                ));
            }
            range(
                o,
                &format!("{key}.max_file_bytes"),
                f.max_file_bytes,
                1024,
                1 << 40,
            );
            range(
                o,
                &format!("{key}.keep_files"),
                u64::from(f.keep_files),
                0,
                1000,
            );
        }
    }
}

/// `[http]` and the listeners: a non-loopback listener needs tokens (or an explicit
/// `insecure_no_auth`); tokens are well formed and named once.
fn http(o: &mut Vec<Problem>, c: &Config) {
    let h = &c.http;
    range(
        o,
        "http.max_connections",
        h.max_connections as u64,
        1,
        65_535,
    );
    range(
        o,
        "http.max_connections_per_client",
        h.max_connections_per_client as u64,
        1,
        h.max_connections.max(1) as u64,
    );
    range(
        o,
        "http.header_read_timeout_secs",
        h.header_read_timeout_secs,
        1,
        300,
    );
    range(
        o,
        "http.connection_max_secs",
        h.connection_max_secs,
        10,
        DAY_SECS,
    );
    range(o, "http.session_hours", h.session_hours, 1, 720);
    let listen = c.daemon.http_listen;
    if !listen.ip().is_loopback() && h.tokens.is_empty() && !h.insecure_no_auth {
        o.push((
            "daemon.http_listen".into(),
            format!(
                "{listen} is reachable from other machines: add [[http.tokens]], bind 127.0.0.1, \
                 or set http.insecure_no_auth = true to serve the API and page to anyone"
            ),
        ));
    }
    if c.daemon.public_listen == Some(listen) {
        o.push((
            "daemon.public_listen".into(),
            "must differ from daemon.http_listen".into(),
        ));
    }
    for (i, host) in h.allowed_hosts.iter().enumerate() {
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            o.push((
                format!("http.allowed_hosts[{i}]"),
                format!("{host:?} is not a host name"),
            ));
        }
    }
    let mut names = std::collections::HashSet::new();
    for (i, t) in h.tokens.iter().enumerate() {
        let key = |k: &str| format!("http.tokens[{i}].{k}");
        if t.name.is_empty() || !names.insert(t.name.as_str()) {
            o.push((key("name"), format!("{:?}: empty or used twice", t.name)));
        }
        match (&t.sha256, &t.token_file) {
            (Some(hash), None) => {
                if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    o.push((key("sha256"), "must be 64 hex digits (meilid token)".into()));
                }
            }
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(tok) if tok.trim_end().len() >= 16 => {}
                Ok(_) => o.push((
                    key("token_file"),
                    "the token must have at least 16 characters".into(),
                )),
                Err(e) => o.push((
                    key("token_file"),
                    format!("cannot read {}: {e}", path.display()),
                )),
            },
            _ => o.push((
                key("sha256"),
                "give sha256 or token_file (one of them)".into(),
            )),
        }
    }
    let a = &c.alerts;
    range(o, "alerts.max_silences", a.max_silences as u64, 1, 10_000);
    range(o, "alerts.max_silence_days", a.max_silence_days, 1, 366);
}
