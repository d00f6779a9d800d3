//! The checks serde cannot make: values that depend on each other, URLs, identifiers, the
//! per-kind fields of devices, Modbus settings against their maps. Every problem is reported
//! with its file, line and key, all at once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use meili_firmware::Kind;

use super::{
    limits, valid_id, Config, ConfigError, DeviceConfig, ModbusDevice, MqttConfig, SinkConfig,
};
use crate::lines::{key_line, line_of};

/// Where problems are collected.
struct Errors<'a>(&'a mut Vec<ConfigError>);

impl Errors<'_> {
    fn at(&mut self, file: &Path, line: usize, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            file: file.into(),
            line,
            key: key.into(),
            message: message.into(),
        });
    }
}

impl Config {
    /// Check the whole configuration; `texts` are the files' contents, for line numbers.
    pub(super) fn validate_into(&self, texts: &[String], errors: &mut Vec<ConfigError>) {
        let main = &self.files[0];
        let text = &texts[0];
        let mut e = Errors(errors);
        let line = |key: &str| key_line(text, key);
        if let Some(m) = &self.mqtt {
            mqtt(m, &mut |k, msg| e.at(main, line(k), k, msg));
        }
        if self.buffer.commit_wait_ms > 1000 {
            e.at(
                main,
                line("buffer.commit_wait_ms"),
                "buffer.commit_wait_ms",
                "at most 1000 (acknowledgements wait this long)",
            );
        }
        if self.buffer.max_bytes < self.buffer.segment_bytes.saturating_mul(2) {
            e.at(
                main,
                line("buffer"),
                "buffer",
                "need max_bytes >= 2 * segment_bytes",
            );
        }
        self.alerts
            .check(&mut |key, message| e.at(main, line(&key), key, message));
        if self.alerts.mqtt.as_ref().is_some_and(|m| m.url.is_none()) && self.mqtt.is_none() {
            e.at(
                main,
                line("alerts.mqtt"),
                "alerts.mqtt.url",
                "give url, or an [mqtt] broker to publish alerts to",
            );
        }
        if let Some(f) = &self.daemon.adopt_file {
            if !self.include.contains(f) {
                e.at(
                    main,
                    line("daemon.adopt_file"),
                    "daemon.adopt_file",
                    format!("list {} in include too, so that adopted devices are read at the next start", f.display()),
                );
            }
        }
        if jiff::tz::TimeZone::get(&self.daemon.timezone).is_err() {
            e.at(
                main,
                line("daemon.timezone"),
                "daemon.timezone",
                format!("{:?} is not a known IANA time zone", self.daemon.timezone),
            );
        }
        for (key, message) in limits::problems(self) {
            e.at(main, line(&key), key.clone(), message);
        }
        for (key, message) in self.standards.problems() {
            let line = texts[0]
                .find("[standards")
                .map_or(0, |at| line_of(&texts[0], at));
            e.at(main, line, key, message);
        }
        self.check_sinks(&texts[0], &mut e);
        let mut seen = HashMap::new();
        for (i, dev) in self.devices.iter().enumerate() {
            let f = self.device_files.get(i).copied().unwrap_or(0);
            let line = line_of(&texts[f], dev.span().start);
            let at = At {
                file: &self.files[f],
                line,
                key: format!("devices[{i}] (id {:?})", dev.get_ref().id),
            };
            let d = dev.get_ref();
            if let Some((prev_file, prev_line)) =
                seen.insert((d.site.clone(), d.id.clone()), (at.file.clone(), line))
            {
                at.err(
                    &mut e,
                    "id",
                    format!(
                        "duplicate device (also at {}:{prev_line})",
                        prev_file.display()
                    ),
                );
            }
            device(d, &at, &mut e);
            if let Some(m) = &d.modbus {
                self.check_modbus(d.kind, m, &at, &mut e);
            }
        }
    }

    fn check_sinks(&self, text: &str, e: &mut Errors<'_>) {
        let main = &self.files[0];
        let mut names = HashSet::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let line = line_of(text, sink.span().start);
            let key = format!("sinks[{i}]");
            let sink = sink.get_ref();
            let name = sink.name();
            if !valid_id(&name) {
                let msg = format!("{name:?} does not match [a-z0-9][a-z0-9_-]{{0,63}}");
                e.at(main, line, format!("{key}.name"), msg);
            }
            if !names.insert(name.clone()) {
                e.at(
                    main,
                    line,
                    format!("{key}.name"),
                    format!("duplicate sink name {name:?}"),
                );
            }
            let b = sink.batch();
            if b.live_share_pct > 90 {
                e.at(
                    main,
                    line,
                    format!("{key}.batch.live_share_pct"),
                    "must be 0 to 90",
                );
            }
            if b.retry_min_backoff_ms == 0 || b.retry_min_backoff_ms > b.retry_max_backoff_ms {
                let msg = "need 0 < retry_min_backoff_ms <= retry_max_backoff_ms";
                e.at(main, line, format!("{key}.batch"), msg);
            }
            let url = match sink {
                SinkConfig::InfluxdbV2(c) => {
                    let n = [
                        c.token.is_some(),
                        c.token_file.is_some(),
                        c.token_env.is_some(),
                    ]
                    .iter()
                    .filter(|x| **x)
                    .count();
                    if n > 1 {
                        let msg = "give one of token, token_file, token_env";
                        e.at(main, line, format!("{key}.token"), msg);
                    }
                    Some(&c.url)
                }
                SinkConfig::InfluxdbV1(c) => Some(&c.url),
                SinkConfig::File(_) => None,
            };
            let ok =
                |u: &url::Url| matches!(u.scheme(), "http" | "https") && u.host_str().is_some();
            if let Some(url) = url.filter(|u| !url::Url::parse(u).is_ok_and(|u| ok(&u))) {
                let msg = format!("{} is not an http(s) URL", crate::redact::url(url));
                e.at(main, line, format!("{key}.url"), msg);
            }
        }
    }

    fn check_modbus(&self, kind: Kind, m: &ModbusDevice, at: &At<'_>, e: &mut Errors<'_>) {
        let mut bad = |k: &str, msg: String| at.err(e, &format!("modbus.{k}"), msg);
        match (&m.tcp, &m.rtu) {
            (Some(_), Some(_)) | (None, None) => bad(
                "tcp",
                "give exactly one of tcp = \"host:port\" or rtu = \"/dev/…\"".into(),
            ),
            (Some(t), None)
                if t.rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none() =>
            {
                bad("tcp", format!("{t:?} is not host:port"))
            }
            (None, Some(_)) if m.baud.is_none() => bad("baud", "RTU devices need baud".into()),
            _ => {}
        }
        if m.rtu.is_some() && !(1..=247).contains(&m.unit) {
            bad("unit", "RTU unit ids are 1 to 247".into());
        }
        if m.interval_secs == 0 || m.timeout_ms == 0 {
            bad(
                "interval_secs",
                "interval_secs and timeout_ms must be at least 1".into(),
            );
        }
        if !matches!(m.stop_bits, 1 | 2) {
            bad("stop_bits", "must be 1 or 2".into());
        }
        match self.modbus_maps.get(&m.map) {
            Some(map) if map.kind != kind.as_str() => bad(
                "map",
                format!(
                    "{} is a {} map for a {} device",
                    m.map.display(),
                    map.kind,
                    kind.as_str()
                ),
            ),
            Some(_) => {}
            None => match self.unreadable_maps.get(&m.map) {
                Some(why) => bad("map", format!("{}: {why}", m.map.display())),
                None => bad("map", format!("{} was not loaded", m.map.display())),
            },
        }
    }
}

/// `[mqtt]`: the URL and its TLS, the client id, the password's source, the receive window.
fn mqtt(m: &MqttConfig, err: &mut dyn FnMut(&str, String)) {
    match url::Url::parse(&m.url) {
        Ok(u)
            if matches!(u.scheme(), "mqtt" | "mqtts" | "tcp" | "ssl") && u.host_str().is_some() =>
        {
            if matches!(u.scheme(), "mqtts" | "ssl") && m.tls.is_none() {
                err(
                    "mqtt.tls",
                    format!("{}:// needs [mqtt.tls] with ca_file", u.scheme()),
                );
            }
        }
        _ => err(
            "mqtt.url",
            format!(
                "{} is not mqtt://host:port or mqtts://host:port",
                crate::redact::url(&m.url)
            ),
        ),
    }
    if m.client_id.is_empty() || m.client_id.len() > 64 {
        err("mqtt.client_id", "must be 1 to 64 characters".into());
    }
    if m.password.is_some() && m.password_file.is_some() {
        err(
            "mqtt.password_file",
            "give password or password_file, not both".into(),
        );
    }
    if m.receive_maximum == 0 {
        err("mqtt.receive_maximum", "must be at least 1".into());
    }
    if m.broker_max_inflight == 0 {
        err(
            "mqtt.broker_max_inflight",
            "must be at least 1 (the broker's max_inflight_messages)".into(),
        );
    }
}

/// Where a device is declared.
struct At<'a> {
    file: &'a PathBuf,
    line: usize,
    key: String,
}

impl At<'_> {
    fn err(&self, e: &mut Errors<'_>, field: &str, message: impl Into<String>) {
        e.at(
            self.file,
            self.line,
            format!("{}.{field}", self.key),
            message,
        );
    }
}

/// What is wrong with one device's entry (`field: message`), as `check-config` would say.
pub fn device_problems(d: &DeviceConfig) -> Vec<String> {
    let mut errors = Vec::new();
    let file = PathBuf::new();
    let at = At {
        file: &file,
        line: 0,
        key: "device".into(),
    };
    device(d, &at, &mut Errors(&mut errors));
    errors
        .into_iter()
        .map(|e| format!("{}: {}", e.key.trim_start_matches("device."), e.message))
        .collect()
}

/// A device's identifiers, position and the fields that belong to its kind.
fn device(d: &DeviceConfig, at: &At<'_>, e: &mut Errors<'_>) {
    for (field, value) in [("id", &d.id), ("site", &d.site)] {
        if !valid_id(value) {
            at.err(
                e,
                field,
                format!("{value:?} does not match [a-z0-9][a-z0-9_-]{{0,63}}"),
            );
        }
    }
    if !(-90.0..=90.0).contains(&d.lat) || !(-180.0..=180.0).contains(&d.lon) {
        at.err(e, "lat", "lat must be in [-90, 90] and lon in [-180, 180]");
    }
    for (present, field, kind) in [
        (d.zone_class.is_some(), "zone_class", Kind::Noise),
        (d.road_class.is_some(), "road_class", Kind::Streetlight),
        (d.toilet_class.is_some(), "toilet_class", Kind::Toilet),
    ] {
        if (d.kind == kind) != present {
            let msg = if present {
                format!("only {} devices take {field}", kind.as_str())
            } else {
                format!("{} devices need {field}", kind.as_str())
            };
            at.err(e, field, msg);
        }
    }
    if let Some(h) = &d.opening_hours {
        if d.kind != Kind::Toilet {
            at.err(e, "opening_hours", "only toilet devices take opening_hours");
        } else if crate::standards::toilet::OpeningHours::parse(h).is_none() {
            at.err(e, "opening_hours", format!("{h:?} is not HH:MM-HH:MM"));
        }
    }
    if !d.facilities.is_empty() && d.kind != Kind::Toilet {
        at.err(e, "facilities", "only toilet devices take facilities");
    }
    if d.area_km2.is_some_and(|a| !(a > 0.0 && a.is_finite())) {
        at.err(e, "area_km2", "must be a positive number");
    }
}
