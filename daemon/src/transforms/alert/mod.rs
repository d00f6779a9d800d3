//! Alert rules: readings and gateway state → firing and resolved alerts (docs/alerts.md).
//!
//! - **Reading rules** (`threshold`, `lamp_fault`) run in event time on every reading read
//!   back from the durable buffer, so a restart re-reads what the last saved state had not
//!   seen and no reading is evaluated twice into a new alert.
//! - **Gateway rules** (`offline`, `modbus_down`, `compliance`, `backlog`) run every
//!   `evaluate_interval_ms` on the gateway's clock.
//! - A condition must hold for `for_mins` before an alert fires; `clear_margin` keeps a
//!   firing threshold alert from flapping. One alert per rule and subject is active at a time
//!   ([`store`]); silences hold back delivery, not tracking.

mod gateway;
pub mod metrics;
pub mod reconfigure;
pub mod store;
pub mod task;
pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use meili_firmware::{Fault, Kind};
use serde::{Deserialize, Serialize};

use crate::config::alerts::{
    AlertsConfig, Direction, Periods, RuleConfig, RuleType, SilenceConfig, Threshold,
};
use crate::config::standards::StandardsConfig;
use crate::config::ToiletClass;
use crate::event::Alert;
use crate::registry::{DeviceId, Registry};
use crate::rows::sample::{Sample, Values};
use crate::standards::aqi::{self, Edition, Inputs, Item, Report};
use crate::standards::clock::Clock;
use crate::standards::{lighting as light_std, noise as noise_std};
pub use gateway::GatewayView;
use store::Store;

/// Evaluation state of one rule for one subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cond {
    /// Current window (index of `window_mins` since the local epoch).
    win: i64,
    /// Σ value·seconds (sound levels: Σ 10^(L/10)·seconds) and seconds in the window.
    sum: f64,
    secs: f64,
    /// AQI: Σ concentration·seconds and seconds per pollutant.
    pol: [(f64, f64); 6],
    /// The condition has held since (unix s).
    since: Option<i64>,
    /// Last window (or reading end) at which it held, to require consecutive windows.
    last_true: i64,
    firing: bool,
}

impl Default for Cond {
    fn default() -> Cond {
        Cond {
            win: i64::MIN,
            sum: 0.0,
            secs: 0.0,
            pol: [(0.0, 0.0); 6],
            since: None,
            last_true: i64::MIN,
            firing: false,
        }
    }
}

/// Gateway-rule state for one subject.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TickCond {
    since: i64,
    firing: bool,
}

/// Format of the saved alert state (`alerts.json`); files from before it was written count
/// as version 1.
const SAVE_VERSION: u32 = 1;

fn version_1() -> u32 {
    1
}

#[derive(Serialize, Deserialize)]
struct Saved {
    #[serde(default = "version_1")]
    version: u32,
    next_id: u64,
    conds: BTreeMap<String, Cond>,
    ticks: BTreeMap<String, TickCond>,
    store: serde_json::Value,
}

pub struct Evaluator {
    rules: Vec<RuleConfig>,
    /// Per device: reading rules that select it.
    by_device: Vec<Vec<u16>>,
    conds: HashMap<(u16, DeviceId), Cond>,
    ticks: BTreeMap<String, TickCond>,
    registry: Arc<Registry>,
    standards: StandardsConfig,
    clock: Clock,
    /// Streetlight: the lighting window of the last lighting day asked for.
    lamp_windows: HashMap<DeviceId, (i64, (i64, i64))>,
    silences: Vec<(i64, i64, SilenceConfig)>,
    /// Site of gateway-wide alerts: the only site, or `gateway`.
    gateway_site: String,
    pub store: Arc<Mutex<Store>>,
    /// The gateway page's base URL (ends with `/`), for alerts' `url`.
    page_url: String,
    /// `alerts.max_age_mins` in seconds (0: off), and the age of the reading being evaluated
    /// (0 outside [`Evaluator::on_sample`]: gateway rules are never historical).
    max_age_secs: i64,
    reading_age: i64,
    /// Buffer position after the last evaluated reading.
    pub next_id: u64,
}

fn parse_time(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().map_or(0, |t| t.as_second())
}

fn selects(r: &RuleConfig, site: &str, kind: Kind, device: &str) -> bool {
    (r.sites.is_empty() || r.sites.iter().any(|s| s == site))
        && (r.kinds.is_empty() || r.kinds.contains(&kind))
        && (r.devices.is_empty() || r.devices.iter().any(|d| d == device))
}

/// The kind whose readings carry a threshold rule's metric (`aqi` is computed from an air
/// station's readings).
fn metric_kind(metric: Option<&str>) -> Option<Kind> {
    match metric? {
        "aqi" => Some(Kind::Air),
        m => meili_firmware::payload::field_kind(m).flatten(),
    }
}

fn is_db(metric: &str) -> bool {
    matches!(metric, "laeq" | "lamax")
}

fn value_of(metric: &str, v: &Values) -> Option<f64> {
    use crate::standards::air::Pollutant;
    let f = |x: Option<f64>| x;
    match (metric, v) {
        ("laeq", Values::Noise { laeq, .. }) => Some(*laeq),
        ("lamax", Values::Noise { lamax, .. }) => f(*lamax),
        ("nh3", Values::Toilet { nh3, .. }) => f(*nh3),
        ("h2s", Values::Toilet { h2s, .. }) => f(*h2s),
        ("occupied", Values::Toilet { occupied, .. }) => occupied.map(f64::from),
        (m, Values::Air(a)) => Pollutant::ALL
            .iter()
            .position(|p| p.key() == m)
            .and_then(|i| f(a[i])),
        _ => None,
    }
}

/// The reading rules (threshold, lamp fault) that select device `d`.
fn reading_rules(rules: &[RuleConfig], d: &crate::registry::Device) -> Vec<u16> {
    let mut v = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if !matches!(r.kind, RuleType::Threshold | RuleType::LampFault) {
            continue;
        }
        let kind_ok = r.kind != RuleType::LampFault || d.kind() == Kind::Streetlight;
        let metric_ok =
            r.kind != RuleType::Threshold || metric_kind(r.metric.as_deref()) == Some(d.kind());
        if kind_ok && metric_ok && selects(r, &d.config.site, d.kind(), d.id()) {
            v.push(i as u16);
        }
    }
    v
}

impl Evaluator {
    pub fn new(
        cfg: &AlertsConfig,
        standards: StandardsConfig,
        registry: Arc<Registry>,
        tz: jiff::tz::TimeZone,
    ) -> Evaluator {
        let by_device = registry
            .iter()
            .map(|(_, d)| reading_rules(&cfg.rules, d))
            .collect();
        let mut sites: Vec<&str> = registry
            .iter()
            .map(|(_, d)| d.config.site.as_str())
            .collect();
        sites.sort_unstable();
        sites.dedup();
        let gateway_site = match sites.as_slice() {
            [one] => one.to_string(),
            _ => "gateway".into(),
        };
        let mut store = Store::default();
        store.set_channels(&[], cfg.outbox_max, cfg.recent_kept);
        store.backfill_quiet_secs = cfg.backfill_quiet_secs.min(86_400) as i64;
        Evaluator {
            rules: cfg.rules.clone(),
            by_device,
            conds: HashMap::new(),
            ticks: BTreeMap::new(),
            registry,
            standards,
            clock: Clock::new(tz),
            lamp_windows: HashMap::new(),
            silences: cfg
                .silences
                .iter()
                .map(|s| (parse_time(&s.starts), parse_time(&s.ends), s.clone()))
                .collect(),
            gateway_site,
            store: Arc::new(Mutex::new(store)),
            page_url: String::new(),
            max_age_secs: i64::from(cfg.max_age_mins) * 60,
            reading_age: 0,
            next_id: 0,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an alert is inside a configured or runtime silence at `now`.
    pub fn silenced(&self, a: &Alert, now: i64, runtime: &[SilenceConfig]) -> bool {
        let hit = |s: &SilenceConfig, from: i64, to: i64| {
            (from..to).contains(&now)
                && (s.sites.is_empty() || s.sites.contains(&a.site))
                && (s.devices.is_empty()
                    || a.device.as_ref().is_some_and(|d| s.devices.contains(d)))
                && (s.rules.is_empty() || s.rules.contains(&a.rule))
        };
        self.silences.iter().any(|(f, t, s)| hit(s, *f, *t))
            || runtime
                .iter()
                .any(|s| hit(s, parse_time(&s.starts), parse_time(&s.ends)))
    }

    fn rfc3339(&self, unix: i64) -> String {
        self.clock.rfc3339(unix)
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
        &mut self,
        rule: usize,
        site: &str,
        device: Option<&str>,
        subject: &str,
        metric: &str,
        value: Option<f64>,
        threshold: Option<f64>,
        starts: i64,
        now: i64,
        summary: (String, String),
    ) {
        let r = &self.rules[rule];
        let context = self.context(r, site, device);
        let dec = text::decimals(metric);
        let alert = Alert {
            v: 1,
            id: format!("{}:{site}/{subject}", r.name),
            rule: r.name.clone(),
            severity: r.severity.as_str().into(),
            state: "firing".into(),
            site: site.into(),
            device: device.map(str::to_string),
            metric: metric.into(),
            value: value.map(|v| text::round(v, dec)),
            threshold: threshold.map(|v| text::round(v, dec)),
            starts_at: self.rfc3339(starts),
            ends_at: None,
            summary_zh: summary.0,
            summary_en: summary.1,
            context,
        };
        let repeat = i64::from(r.repeat_mins) * 60;
        let historical = self.max_age_secs > 0 && self.reading_age > self.max_age_secs;
        let mut store = self.store();
        if historical {
            store.fire_historical(alert, repeat, now);
            return;
        }
        let silenced = self.silenced(&alert, now, &store.silences);
        store.fire(alert, silenced, repeat, now);
    }

    /// The device's name, kind, class, location and page, and the rule's case category.
    fn context(
        &self,
        r: &RuleConfig,
        site: &str,
        device: Option<&str>,
    ) -> crate::event::AlertContext {
        let mut c = crate::event::AlertContext {
            case: r.case.clone(),
            ..Default::default()
        };
        let Some((_, d)) = device.and_then(|id| self.registry.find(site, id)) else {
            return c;
        };
        let d = &d.config;
        c.device_name = d.name.clone();
        c.kind = Some(d.kind.as_str().to_string());
        c.class = d
            .zone_class
            .map(|z| z.as_str().to_string())
            .or(d.road_class.map(|x| x.as_str().to_string()))
            .or(d.toilet_class.map(|x| x.as_str().to_string()));
        c.location = Some(crate::event::Location::from_wgs84(d.lat, d.lon));
        if !self.page_url.is_empty() {
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            c.url = Some(format!(
                "{}#/device/{}/{}",
                self.page_url,
                enc(&d.site),
                enc(&d.id)
            ));
        }
        c
    }

    /// The gateway page's base URL for alerts' `url` (empty: none).
    pub fn with_page_url(mut self, url: String) -> Evaluator {
        self.page_url = if url.is_empty() || url.ends_with('/') {
            url
        } else {
            url + "/"
        };
        self
    }

    fn resolve(&mut self, id: &str, ends: i64, summary: (String, String)) {
        let at = self.rfc3339(ends);
        self.store().resolve(id, at, summary);
    }

    /// Evaluate the reading rules on raw rows (line protocol) read from the buffer.
    pub fn ingest_lines(&mut self, body: &[u8], now: i64) {
        let registry = Arc::clone(&self.registry);
        // Devices adopted since: their rules.
        for id in self.by_device.len()..registry.len() {
            let rules = reading_rules(&self.rules, registry.get(id as DeviceId));
            self.by_device.push(rules);
        }
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Some((id, rest)) = registry.by_line(line) else {
                continue;
            };
            if self.by_device[id as usize].is_empty() {
                continue;
            }
            if let Some(s) = Sample::from_line(registry.get(id).kind(), rest) {
                self.on_sample(id, &s, now);
            }
        }
    }

    pub fn on_sample(&mut self, device: DeviceId, s: &Sample, now: i64) {
        self.reading_age = now - s.ts;
        for i in 0..self.by_device[device as usize].len() {
            let rule = self.by_device[device as usize][i];
            match self.rules[rule as usize].kind {
                RuleType::Threshold => self.threshold(rule, device, s, now),
                RuleType::LampFault => self.lamp_fault(rule, device, s, now),
                _ => {}
            }
        }
        let current = self.max_age_secs == 0 || self.reading_age <= self.max_age_secs;
        self.reading_age = 0;
        if current && self.store().historical_active > 0 {
            self.promote(device, now);
        }
    }

    /// Historical alerts of `device` still firing at a current reading are notified now.
    fn promote(&mut self, device: DeviceId, now: i64) {
        let d = self.registry.get(device);
        let (site, id) = (d.config.site.clone(), d.id().to_string());
        for &rule in &self.by_device[device as usize] {
            let key = format!("{}:{site}/{id}", self.rules[rule as usize].name);
            let firing = self.conds.get(&(rule, device)).is_some_and(|c| c.firing);
            if !firing {
                continue;
            }
            let mut store = self.store();
            let Some(alert) = store
                .active
                .get(&key)
                .filter(|a| a.historical)
                .map(|a| a.alert.clone())
            else {
                continue;
            };
            let silenced = self.silenced(&alert, now, &store.silences);
            store.promote(&key, silenced, now);
        }
    }

    /// Local hour (0–23) at `unix` is in the night of `site`.
    fn night(&mut self, site: &str, unix: i64) -> bool {
        let day_start = self
            .standards
            .sites
            .get(site)
            .and_then(|s| s.day_start_hour)
            .unwrap_or(self.standards.noise.day_start_hour);
        let hour = self.clock.local(unix).div_euclid(3600).rem_euclid(24) as u32;
        noise_std::is_night(hour, (u32::from(day_start) + 16) % 24)
    }

    /// The threshold of `rule` for `device` at `unix`.
    fn limit(&mut self, rule: &RuleConfig, device: DeviceId, unix: i64) -> Option<f64> {
        match rule.threshold.as_ref()? {
            Threshold::Value(v) => Some(*v),
            Threshold::Named(_) => {
                let d = self.registry.get(device);
                match rule.metric.as_deref()? {
                    "laeq" => {
                        let (day, night) = noise_std::limits(d.config.zone_class?);
                        let site = d.config.site.clone();
                        Some(if self.night(&site, unix) { night } else { day })
                    }
                    m @ ("nh3" | "h2s") => {
                        let class = match d.config.toilet_class? {
                            ToiletClass::C1 => 0,
                            ToiletClass::C2 => 1,
                            ToiletClass::C3 => 2,
                        };
                        let o = &self.standards.toilets.odour;
                        Some(if m == "nh3" {
                            o.nh3_mg_m3[class]
                        } else {
                            o.h2s_mg_m3[class]
                        })
                    }
                    _ => None,
                }
            }
        }
    }

    fn in_periods(&mut self, rule: &RuleConfig, device: DeviceId, unix: i64) -> bool {
        if rule.periods == Periods::All {
            return true;
        }
        let site = self.registry.get(device).config.site.clone();
        self.night(&site, unix) == (rule.periods == Periods::Night)
    }

    fn threshold(&mut self, rule: u16, device: DeviceId, s: &Sample, now: i64) {
        let r = self.rules[rule as usize].clone();
        let metric = r.metric.as_deref().unwrap_or("");
        let (t0, t1) = s.span();
        if r.window_mins == 0 {
            let Some(x) = value_of(metric, &s.values) else {
                return;
            };
            let cond = self.conds.entry((rule, device)).or_default();
            // Readings must follow each other to count as one stretch.
            let gap = cond.last_true != i64::MIN && t0 > cond.last_true + 2 * (t1 - t0).max(60);
            if gap {
                cond.since = None;
            }
            self.judge(rule, device, Some(x), t0, t1, now);
            return;
        }
        let w = i64::from(r.window_mins) * 60;
        let local = self.clock.local(s.mid());
        let (win, offset) = (local.div_euclid(w), local - s.mid());
        let cond = self.conds.entry((rule, device)).or_default();
        if win < cond.win {
            return; // a late reading of a window already judged
        }
        let closed = (win > cond.win && cond.win != i64::MIN).then_some((
            cond.win,
            Window {
                sum: cond.sum,
                secs: cond.secs,
                pol: cond.pol,
            },
        ));
        if win != cond.win {
            (cond.win, cond.sum, cond.secs, cond.pol) = (win, 0.0, 0.0, [(0.0, 0.0); 6]);
        }
        let secs = f64::from(s.period_s.max(1));
        if metric == "aqi" {
            if let Values::Air(a) = &s.values {
                for (acc, v) in cond.pol.iter_mut().zip(a) {
                    if let Some(v) = v {
                        acc.0 += *v * secs;
                        acc.1 += secs;
                    }
                }
                cond.secs += secs;
            }
        } else if let Some(x) = value_of(metric, &s.values) {
            cond.sum += if is_db(metric) {
                10f64.powf(x / 10.0) * secs
            } else {
                x * secs
            };
            cond.secs += secs;
        }
        if let Some((cw, c)) = closed {
            let start = cw * w - offset;
            let covered = c.secs >= w as f64 * f64::from(r.min_coverage_pct) / 100.0;
            let value = covered
                .then(|| self.window_value(metric, &c, start))
                .flatten();
            self.judge_window(rule, device, value, cw, start, start + w, now);
        }
    }

    fn window_value(&self, metric: &str, c: &Window, start: i64) -> Option<f64> {
        if metric == "aqi" {
            let mut inputs = Inputs::default();
            let map = [
                Item::Pm2_5,
                Item::Pm10,
                Item::So2,
                Item::No2,
                Item::Co,
                Item::O3_1h,
            ];
            use crate::standards::air::Pollutant;
            for (p, (sum, secs)) in Pollutant::ALL.iter().zip(c.pol) {
                if secs > 0.0 {
                    let item = map[*p as usize];
                    inputs.set(item, Some(sum / secs));
                }
            }
            let ed = self.edition(start);
            let round = self.standards.air.round_concentrations;
            return aqi::compute_with(ed, Report::Hourly, &inputs, round, false)
                .aqi
                .map(|a| a as f64);
        }
        (c.secs > 0.0).then(|| {
            let mean = c.sum / c.secs;
            if is_db(metric) {
                10.0 * mean.log10()
            } else {
                mean
            }
        })
    }

    fn edition(&self, unix: i64) -> Edition {
        use crate::config::standards::EditionChoice;
        match self.standards.air.edition {
            EditionChoice::Hj2012 => Edition::Hj633_2012,
            EditionChoice::Hj2026 => Edition::Hj633_2026,
            EditionChoice::ByDate => {
                let date = jiff::Timestamp::from_second(unix)
                    .map(|t| t.to_zoned(self.clock.tz().clone()).date())
                    .unwrap_or_default();
                if date < self.standards.switch_date() {
                    Edition::Hj633_2012
                } else {
                    Edition::Hj633_2026
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn judge_window(
        &mut self,
        rule: u16,
        device: DeviceId,
        value: Option<f64>,
        win: i64,
        t0: i64,
        t1: i64,
        now: i64,
    ) {
        if value.is_none() {
            return; // too little data: neither fires nor resolves
        }
        if let Some(c) = self.conds.get_mut(&(rule, device)) {
            if c.last_true != win - 1 {
                c.since = None;
            }
        }
        self.judge(rule, device, value, t0, t1, now);
        if let Some(c) = self.conds.get_mut(&(rule, device)) {
            if c.since.is_some() {
                c.last_true = win;
            }
        }
    }

    /// Decide a threshold rule on one value covering `[t0, t1)`.
    fn judge(
        &mut self,
        rule: u16,
        device: DeviceId,
        value: Option<f64>,
        t0: i64,
        t1: i64,
        now: i64,
    ) {
        let Some(x) = value else { return };
        let r = self.rules[rule as usize].clone();
        let mid = t0 + (t1 - t0) / 2;
        let in_period = self.in_periods(&r, device, mid);
        let Some(thr) = self.limit(&r, device, mid) else {
            return;
        };
        let Some(cond) = self.conds.get_mut(&(rule, device)) else {
            return;
        };
        let margin = if cond.firing { r.clear_margin } else { 0.0 };
        let bad = in_period
            && match r.direction {
                Direction::Above => x > thr - margin,
                Direction::Below => x < thr + margin,
            };
        let d = self.registry.get(device);
        let (site, dev) = (d.config.site.clone(), d.id().to_string());
        let metric = r.metric.clone().unwrap_or_default();
        let (mzh, men, unit) = text::metric_names(&metric);
        let (tzh, ten) = text::title(&r);
        let win = if r.window_mins > 0 {
            let (zh, en) = text::duration(i64::from(r.window_mins) * 60);
            (format!("{zh}平均"), format!("{en} mean "))
        } else {
            (String::new(), String::new())
        };
        if bad {
            let since = *cond.since.get_or_insert(t0);
            if r.window_mins == 0 {
                cond.last_true = t1;
            }
            if !cond.firing && t1 - since >= i64::from(r.for_mins) * 60 {
                cond.firing = true;
                let (dzh, den) = text::duration(t1 - since);
                let (vs_zh, vs_en) = match r.direction {
                    Direction::Above => ("超过", "above"),
                    Direction::Below => ("低于", "below"),
                };
                let summary = (
                    format!(
                        "{tzh}：{site}/{dev} {}{mzh} {}{unit}，{vs_zh}{} {}{unit}，已持续{dzh}。",
                        win.0,
                        text::num(x),
                        if matches!(r.threshold, Some(Threshold::Named(_))) { "限值" } else { "阈值" },
                        text::num(thr)
                    ),
                    format!(
                        "{ten}: {site}/{dev} {}{men} {}{unit} {vs_en} the {} of {}{unit} for {den}.",
                        win.1,
                        text::num(x),
                        if matches!(r.threshold, Some(Threshold::Named(_))) { "limit" } else { "threshold" },
                        text::num(thr)
                    ),
                );
                self.fire(
                    rule as usize,
                    &site,
                    Some(&dev),
                    &dev,
                    &metric,
                    Some(x),
                    Some(thr),
                    since,
                    now,
                    summary,
                );
            }
        } else {
            cond.since = None;
            if cond.firing {
                cond.firing = false;
                let id = format!("{}:{site}/{dev}", r.name);
                let summary = (
                    format!(
                        "已恢复：{tzh}：{site}/{dev} {}{mzh} {}{unit}（{}{}{unit}）。",
                        win.0,
                        text::num(x),
                        if in_period {
                            "阈值 "
                        } else {
                            "时段结束，阈值 "
                        },
                        text::num(thr)
                    ),
                    format!(
                        "Resolved: {ten}: {site}/{dev} {}{men} {}{unit} ({}{}{unit}).",
                        win.1,
                        text::num(x),
                        if in_period {
                            "threshold "
                        } else {
                            "period over, threshold "
                        },
                        text::num(thr)
                    ),
                );
                self.resolve(&id, t1, summary);
            }
        }
    }

    /// Whether `unix` falls outside the lamp's lighting window (day-burning if lit).
    fn outside_window(&mut self, device: DeviceId, unix: i64) -> bool {
        let lday = self.clock.day_of(unix - 12 * 3600);
        let window = match self.lamp_windows.get(&device) {
            Some((d, w)) if *d == lday => *w,
            _ => {
                let d = self.registry.get(device);
                let date = Clock::date(lday);
                let clock = self.clock.clone();
                let w = light_std::window(
                    &self.standards.lighting.schedule,
                    date,
                    d.config.lat,
                    d.config.lon,
                    |x| clock.midnight(Clock::day_number(x)),
                );
                self.lamp_windows.insert(device, (lday, w));
                w
            }
        };
        !(window.0..window.1).contains(&unix)
    }

    fn lamp_fault(&mut self, rule: u16, device: DeviceId, s: &Sample, now: i64) {
        let Values::Light { on, faults, .. } = s.values else {
            return;
        };
        let r = self.rules[rule as usize].clone();
        let wanted = |n: &str| r.faults.is_empty() || r.faults.iter().any(|f| f == n);
        let mut names = Vec::new();
        for f in Fault::ALL {
            let default = f != Fault::CommFailure;
            if faults & f.bit() != 0
                && (if r.faults.is_empty() {
                    default
                } else {
                    wanted(f.as_str())
                })
            {
                names.push(f.as_str());
            }
        }
        if wanted("day_burning") && on && self.outside_window(device, s.mid()) {
            names.push("day_burning");
        }
        let (t0, t1) = s.span();
        let d = self.registry.get(device);
        let (site, dev) = (d.config.site.clone(), d.id().to_string());
        let cond = self.conds.entry((rule, device)).or_default();
        let (tzh, ten) = text::title(&r);
        if !names.is_empty() {
            let since = *cond.since.get_or_insert(t0);
            if !cond.firing && t1 - since >= i64::from(r.for_mins) * 60 {
                cond.firing = true;
                let zh: Vec<_> = names.iter().map(|n| text::lamp_fault_names(n).0).collect();
                let en: Vec<_> = names.iter().map(|n| text::lamp_fault_names(n).1).collect();
                let summary = (
                    format!("{tzh}：{site}/{dev}：{}。", zh.join("、")),
                    format!("{ten}: {site}/{dev}: {}.", en.join(", ")),
                );
                let metric = names.join(",");
                let bits = f64::from(faults);
                self.fire(
                    rule as usize,
                    &site,
                    Some(&dev),
                    &dev,
                    &metric,
                    Some(bits),
                    None,
                    since,
                    now,
                    summary,
                );
            }
        } else {
            cond.since = None;
            if cond.firing {
                cond.firing = false;
                let id = format!("{}:{site}/{dev}", r.name);
                self.resolve(
                    &id,
                    t1,
                    (
                        format!("已恢复：{tzh}：{site}/{dev} 工作正常。"),
                        format!("Resolved: {ten}: {site}/{dev} works normally."),
                    ),
                );
            }
        }
    }

    /// State for `alerts/state.json`.
    pub fn save(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut conds = BTreeMap::new();
        for (&(rule, device), c) in &self.conds {
            let d = self.registry.get(device);
            let key = format!(
                "{}:{}/{}",
                self.rules[rule as usize].name,
                d.config.site,
                d.id()
            );
            conds.insert(key, c.clone());
        }
        let store = serde_json::to_value(&*self.store())?;
        serde_json::to_vec(&Saved {
            version: SAVE_VERSION,
            next_id: self.next_id,
            conds,
            ticks: self.ticks.clone(),
            store,
        })
    }

    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        if saved.version != SAVE_VERSION {
            return Err(serde::de::Error::custom(format!(
                "alert state version {} (this meilid reads and writes {SAVE_VERSION}; a newer meilid wrote it?)",
                saved.version
            )));
        }
        let restored: Store = serde_json::from_value(saved.store)?;
        for (device, rules) in self.by_device.iter().enumerate() {
            let d = self.registry.get(device as DeviceId);
            for &rule in rules {
                let key = format!(
                    "{}:{}/{}",
                    self.rules[rule as usize].name,
                    d.config.site,
                    d.id()
                );
                if let Some(c) = saved.conds.get(&key) {
                    self.conds.insert((rule, device as DeviceId), c.clone());
                }
            }
        }
        self.ticks = saved.ticks;
        self.next_id = saved.next_id;
        let mut store = self.store();
        let (limits, channels): (_, Vec<String>) =
            (store.limits, store.outbox.keys().cloned().collect());
        let quiet = store.backfill_quiet_secs;
        *store = restored;
        store.backfill_quiet_secs = quiet;
        store.set_channels(&channels, limits.0, limits.1);
        store.historical_active = store.active.values().filter(|a| a.historical).count();
        Ok(())
    }
}

/// A closed window's sums.
struct Window {
    sum: f64,
    secs: f64,
    pol: [(f64, f64); 6],
}

#[cfg(test)]
mod tests;
