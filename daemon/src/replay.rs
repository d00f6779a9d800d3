//! `meilid replay`: a capture or export through the same validation and standards engine as
//! the daemon, for audits and back-fills.
//!
//! Inputs (detected from the first non-blank line):
//! - **NDJSON capture**: `{"topic":"meili/v1/…/telemetry","payload":…}` per line; `payload` is
//!   the MQTT payload as a JSON string (the exact bytes) or as the JSON value itself.
//! - **CSV export**: header `time,site,kind,device,field,value`, one field per row; `time` is
//!   unix seconds or RFC 3339. Rows of one reading (same device and time) are joined; a
//!   device's rows for one time must follow each other. `period_s` may be given as a field,
//!   else the device's `period_secs`, else the kind's typical period (CONTRACT §1).
//!
//! Reading times are not checked against the clock (a capture is old by nature); everything
//! else is validated exactly as live data, and rejections are counted per reason.
//!
//! **Lateness**, as the live engine applies it: readings are taken in the input's order (a
//! capture's order is the order they arrived in), the watermark is the newest reading time
//! seen, and a reading for a day already past `standards.lateness_secs` is counted `late` and
//! leaves that day as it was. Each day's figures are the last ones computed before it closed,
//! as the daemon wrote them. `Lateness::Ignore` (`--ignore-lateness`) recomputes every day from
//! all its readings instead, whatever order they came in.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use meili_firmware::{Fault, Kind};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::config::{Config, ValidateConfig};
use crate::metrics::Reason;
use crate::registry::Registry;
use crate::rows::line_protocol;
use crate::transforms::aggregate::report::Output;
use crate::transforms::aggregate::Engine;
use crate::transforms::validate::Channel;
use crate::transforms::Validator;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: the CSV header must be time,site,kind,device,field,value (got {got:?})")]
    CsvHeader { path: String, got: String },
    #[error("time zone {0:?} is unknown")]
    TimeZone(String),
}

/// What the input held.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    pub lines: u64,
    pub readings: u64,
    pub counted: u64,
    pub duplicates: u64,
    pub late: u64,
    pub status_messages: u64,
    /// Rejected readings (or lines) per reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Whether replay follows the live lateness rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lateness {
    /// As the live daemon: late readings are counted and left out (the default).
    Apply,
    /// Every reading counts, whenever it came (a full recomputation).
    Ignore,
}

/// Replay `input` with `config`'s devices and `[standards]`.
pub fn run(
    config: &Config,
    input: &Path,
    lateness: Lateness,
) -> Result<(Output, Stats), ReplayError> {
    let registry = Arc::new(Registry::from_config(config));
    let tz = jiff::tz::TimeZone::get(&config.daemon.timezone)
        .map_err(|_| ReplayError::TimeZone(config.daemon.timezone.clone()))?;
    let keep_all = lateness == Lateness::Ignore;
    let mut engine = Engine::new(
        config.standards.clone(),
        Arc::clone(&registry),
        tz,
        keep_all,
    );
    let prefix = config.topic_prefix().to_string();
    let any_time = ValidateConfig {
        max_future_secs: i64::MAX / 4,
        max_age_secs: i64::MAX / 4,
    };
    let validator = Validator::new(Arc::clone(&registry), &prefix, any_time);
    let io = |source| ReplayError::Io {
        path: input.display().to_string(),
        source,
    };
    let file = std::fs::File::open(input).map_err(io)?;
    let mut lines = std::io::BufReader::with_capacity(1 << 20, file).lines();
    let mut feed = Feeder {
        validator,
        engine: &mut engine,
        stats: Stats::default(),
        records: Vec::new(),
        body: Vec::new(),
        collected: (!keep_all).then(Collected::default),
    };
    let mut first = None;
    for line in lines.by_ref() {
        let line = line.map_err(io)?;
        if !line.trim().is_empty() {
            first = Some(line);
            break;
        }
    }
    match first {
        Some(l) if l.trim_start().starts_with('{') => {
            feed.capture_line(&l);
            for line in lines {
                let line = line.map_err(io)?;
                if !line.trim().is_empty() {
                    feed.capture_line(&line);
                }
            }
        }
        Some(header) => {
            let cols: Vec<&str> = header.trim().split(',').map(str::trim).collect();
            if cols != ["time", "site", "kind", "device", "field", "value"] {
                return Err(ReplayError::CsvHeader {
                    path: input.display().to_string(),
                    got: header,
                });
            }
            let mut csv = Csv::default();
            for line in lines {
                let line = line.map_err(io)?;
                if !line.trim().is_empty() {
                    csv.row(&line, &mut feed, &prefix, &registry);
                }
            }
            csv.flush_all(&mut feed, &prefix, &registry);
        }
        None => {}
    }
    let (stats, collected) = feed.finish();
    let last = engine.emit_all();
    Ok((
        match collected {
            Some(mut c) => {
                c.add(last);
                c.output()
            }
            None => last,
        },
        stats,
    ))
}

/// Each day's and window's latest figures, as emitted while the input was read.
#[derive(Default)]
struct Collected {
    days: BTreeMap<(String, i64), crate::transforms::aggregate::report::DayReport>,
    rows: BTreeMap<
        (String, String, &'static str, i64),
        crate::transforms::aggregate::report::ComplianceRow,
    >,
}

impl Collected {
    fn add(&mut self, out: Output) {
        for d in out.days {
            self.days.insert((d.site.clone(), d.midnight), d);
        }
        for r in out.compliance {
            let key = (r.site.clone(), r.metric.clone(), r.window, r.start_unix);
            self.rows.insert(key, r);
        }
    }

    fn output(self) -> Output {
        Output {
            days: self.days.into_values().collect(),
            compliance: self.rows.into_values().collect(),
        }
    }
}

struct Feeder<'e> {
    validator: Validator,
    engine: &'e mut Engine,
    stats: Stats,
    records: Vec<crate::event::Record>,
    body: Vec<u8>,
    /// With lateness: the figures emitted so far (days close and are dropped as the input
    /// goes on, as in the daemon).
    collected: Option<Collected>,
}

impl Feeder<'_> {
    fn reject(&mut self, reason: Reason) {
        *self.stats.rejected.entry(reason.as_str()).or_default() += 1;
    }

    fn capture_line(&mut self, line: &str) {
        self.stats.lines += 1;
        #[derive(serde::Deserialize)]
        struct Captured<'a> {
            topic: String,
            #[serde(borrow)]
            payload: &'a RawValue,
        }
        let Ok(c) = serde_json::from_str::<Captured>(line) else {
            self.reject(Reason::MalformedJson);
            return;
        };
        let raw = c.payload.get();
        let bytes: Vec<u8> = if raw.starts_with('"') {
            match serde_json::from_str::<String>(raw) {
                Ok(s) => s.into_bytes(),
                Err(_) => {
                    self.reject(Reason::MalformedJson);
                    return;
                }
            }
        } else {
            raw.as_bytes().to_vec()
        };
        self.message(c.topic.as_bytes(), &bytes);
    }

    fn message(&mut self, topic: &[u8], payload: &[u8]) {
        match self.validator.route(topic) {
            Ok((device, Channel::Telemetry)) => {
                let mut rejected = Vec::new();
                self.validator
                    .telemetry(device, payload, 0, &mut self.records, &mut |r| {
                        rejected.push(r.reason)
                    });
                for r in rejected {
                    self.reject(r);
                }
                if self.records.len() >= 4096 {
                    self.count();
                }
            }
            Ok((_, Channel::Status)) => self.stats.status_messages += 1,
            Err(r) => self.reject(r.reason),
        }
    }

    /// Encode the validated readings as the buffer holds them and count them, exactly as the
    /// daemon's engine reads them back.
    fn count(&mut self) {
        self.body.clear();
        for r in &self.records {
            line_protocol::encode(
                &mut self.body,
                self.validator.registry().get(r.device),
                &r.reading,
            );
        }
        self.stats.readings += self.records.len() as u64;
        self.records.clear();
        let [counted, dup, late, _unreadable] = self.engine.ingest_lines(&self.body);
        self.stats.counted += counted;
        self.stats.duplicates += dup;
        self.stats.late += late;
        if let Some(c) = self.collected.as_mut() {
            c.add(self.engine.emit());
        }
    }

    fn finish(mut self) -> (Stats, Option<Collected>) {
        self.count();
        (self.stats, self.collected)
    }
}

/// (site, kind, device) of a CSV row.
type CsvKey = (String, String, String);
/// A reading being assembled: its time and the fields so far.
type CsvReading = (i64, serde_json::Map<String, serde_json::Value>);

/// Joins long-format CSV rows into readings, one pending reading per device.
#[derive(Default)]
struct Csv {
    pending: HashMap<CsvKey, CsvReading>,
    seq: HashMap<CsvKey, u32>,
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<i64>() {
        return Some(t);
    }
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

impl Csv {
    fn row(&mut self, line: &str, feed: &mut Feeder<'_>, prefix: &str, reg: &Registry) {
        feed.stats.lines += 1;
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [time, site, kind, device, field, value] = cols[..] else {
            feed.reject(Reason::MalformedJson);
            return;
        };
        let Some(ts) = parse_time(time) else {
            feed.reject(Reason::InvalidField);
            return;
        };
        let key = (site.to_string(), kind.to_string(), device.to_string());
        if self.pending.get(&key).is_some_and(|(t, _)| *t != ts) {
            self.flush(&key, feed, prefix, reg);
        }
        let entry = self
            .pending
            .entry(key)
            .or_insert_with(|| (ts, serde_json::Map::new()));
        let v = match (field, value) {
            ("fault", bits) => {
                let bits: u8 = bits.trim_end_matches('i').parse().unwrap_or(0);
                let names: Vec<serde_json::Value> = Fault::ALL
                    .iter()
                    .filter(|f| bits & f.bit() != 0)
                    .map(|f| f.as_str().into())
                    .collect();
                entry.1.insert("faults".into(), names.into());
                return;
            }
            ("faults", list) => list
                .split(['|', ';'])
                .filter(|s| !s.is_empty())
                .map(|s| serde_json::Value::from(s.trim()))
                .collect::<Vec<_>>()
                .into(),
            (_, "true") => true.into(),
            (_, "false") => false.into(),
            (_, v) => match v.trim_end_matches('i').parse::<f64>() {
                Ok(x) if v.ends_with('i') || x.fract() == 0.0 && !v.contains('.') => {
                    serde_json::Value::from(x as i64)
                }
                Ok(x) => serde_json::Value::from(x),
                Err(_) => v.into(),
            },
        };
        entry.1.insert(field.to_string(), v);
    }

    fn flush(&mut self, key: &CsvKey, feed: &mut Feeder<'_>, prefix: &str, reg: &Registry) {
        let Some((ts, mut fields)) = self.pending.remove(key) else {
            return;
        };
        let (site, kind, device) = key;
        let seq = self.seq.entry(key.clone()).or_insert(0);
        *seq = seq.wrapping_add(1);
        let path = format!("{site}/{kind}/{device}");
        let period = reg
            .lookup(&path)
            .ok()
            .and_then(|id| reg.get(id).config.period_secs)
            .or_else(|| {
                Some(match Kind::parse(kind)? {
                    Kind::Noise | Kind::Toilet => 60,
                    Kind::Air => 3600,
                    Kind::Streetlight => 300,
                })
            })
            .unwrap_or(60);
        fields.insert("v".into(), 1.into());
        fields.insert("seq".into(), (*seq).into());
        fields.insert("ts".into(), ts.into());
        fields.entry("period_s").or_insert(period.into());
        let payload = serde_json::Value::Object(fields).to_string();
        let topic = format!("{prefix}/{path}/telemetry");
        feed.message(topic.as_bytes(), payload.as_bytes());
    }

    fn flush_all(&mut self, feed: &mut Feeder<'_>, prefix: &str, reg: &Registry) {
        let mut keys: Vec<_> = self.pending.keys().cloned().collect();
        keys.sort();
        for k in keys {
            self.flush(&k, feed, prefix, reg);
        }
    }
}

/// The JSON document `replay --format json` prints (field names are stable).
#[derive(Serialize)]
pub struct Document<'a> {
    pub input: &'a Stats,
    pub days: &'a [crate::transforms::aggregate::report::DayReport],
    pub compliance: &'a [crate::transforms::aggregate::report::ComplianceRow],
}

/// A human-readable summary: input counts, the month/quarter/year ratios, one line per day.
pub fn table(out: &Output, stats: &Stats) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "input: {} lines, {} readings ({} counted, {} duplicates, {} late), {} status",
        stats.lines,
        stats.readings,
        stats.counted,
        stats.duplicates,
        stats.late,
        stats.status_messages
    );
    for (reason, n) in &stats.rejected {
        let _ = writeln!(s, "  rejected {reason}: {n}");
    }
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} %"));
    let _ = writeln!(
        s,
        "\n{:<8} {:<31} {:<8} {:<10} {:>8} {:>8} {:>4}  numerator/denominator (invalid)",
        "site", "metric", "window", "start", "value", "target", "met"
    );
    for c in out.compliance.iter().filter(|c| c.window != "day") {
        let _ = writeln!(
            s,
            "{:<8} {:<31} {:<8} {:<10} {:>8} {:>8} {:>4}  {}/{} ({})",
            c.site,
            c.metric,
            c.window,
            c.start,
            pct(c.percent),
            c.target
                .map_or("-".into(), |t| if c.metric == "toilet_density" {
                    format!("{t}")
                } else {
                    format!("{:.1} %", t * 100.0)
                }),
            c.met.map_or("-", |m| if m { "yes" } else { "no" }),
            trim(c.numerator),
            trim(c.denominator),
            trim(c.invalid),
        );
    }
    let _ = writeln!(s, "\ndaily:");
    for d in &out.days {
        let mut parts = Vec::new();
        if !d.noise.is_empty() {
            let ok = |night: bool| {
                let (mut ok, mut valid) = (0, 0);
                for n in &d.noise {
                    let p = if night { n.result.night } else { n.result.day };
                    valid += u32::from(p.valid);
                    ok += u32::from(p.ok == Some(true));
                }
                format!("{ok}/{valid}")
            };
            parts.push(format!("noise day {} night {}", ok(false), ok(true)));
        }
        if let Some(a) = d.air.iter().find(|a| a.device == "_site") {
            parts.push(match a.aqi.aqi {
                Some(x) => format!(
                    "AQI {x} {} ({})",
                    a.aqi.category_zh.unwrap_or(""),
                    a.aqi.standard
                ),
                None => "AQI NA".into(),
            });
        }
        for g in &d.lighting {
            parts.push(format!(
                "{} lit {}",
                g.road_class,
                pct(g.rate.map(|r| r * 100.0))
            ));
        }
        if !d.toilets.is_empty() {
            let (a, m): (f64, f64) = d
                .toilets
                .iter()
                .map(|t| (t.available_minutes, t.measured_open_minutes))
                .fold((0.0, 0.0), |x, y| (x.0 + y.0, x.1 + y.1));
            parts.push(format!(
                "toilets available {}",
                pct((m > 0.0).then(|| a / m * 100.0))
            ));
        }
        let _ = writeln!(
            s,
            "{} {:<8} {}{}",
            d.date,
            d.site,
            parts.join(" | "),
            if d.complete { "" } else { " (incomplete)" }
        );
    }
    s
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
