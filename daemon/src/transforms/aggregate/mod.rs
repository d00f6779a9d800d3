//! The standards engine: readings → per-device accumulators → daily results per site and local
//! day → `compliance` ratios per day, month, quarter and year to date.
//!
//! - **Input.** [`Sample`]s of declared devices, from the buffer (daemon) or a capture
//!   (`meilid replay`). A reading seen twice (same device and `ts`) counts once.
//! - **Time.** Event time: the watermark is the newest reading time seen. Day D is *complete*
//!   once the watermark passes local noon of D+1 (the night and lighting night of D are over);
//!   its state is kept `lateness_secs` longer so late readings recompute it, then dropped
//!   (its ratios stay for the month, quarter and year). Readings for dropped days are counted
//!   as late and left out of the figures (they are still stored raw).
//! - **Output.** Changed days are recomputed on [`Engine::emit`]; the same rows are written
//!   again with the same timestamps, so a database keeps the latest figures.
//! - **State.** [`Engine::save`] / [`Engine::restore`] carry everything across restarts
//!   (see [`task`] for when it is saved and how it stays consistent with the buffer).

mod air;
pub mod archive;
mod lighting;
pub mod metrics;
mod noise;
pub mod report;
pub mod task;
mod toilets;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use meili_firmware::Kind;
use serde::{Deserialize, Serialize};

use crate::config::standards::{EditionChoice, StandardsConfig};
use crate::config::RoadClass;
use crate::registry::{DeviceId, Registry};
use crate::rows::sample;
pub use crate::rows::Sample;
use crate::standards::aqi::{Edition, Inputs};
use crate::standards::clock::{Clock, DAY, HOUR};
use crate::standards::ratio::Ratio;
use crate::standards::toilet::OpeningHours;
use crate::standards::{air as air_std, lighting as light_std, toilet as toilet_std};
pub use noise::periods as noise_periods;
use report::{AirDay, ComplianceRow, DayReport, LightingDay, NoiseDay, Output, ToiletDay};

/// Per-device accumulators.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Acc {
    Noise(noise::Acc),
    Air(air::Acc),
    Toilet(toilets::Acc),
    Light(lighting::Acc),
}

/// Reading times already counted, sorted (readings mostly arrive in order, so an insert is
/// usually a push). Unix seconds fit `u32` until 2106.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seen(Vec<u32>);

impl Seen {
    /// Insert `ts`; false if it was there already.
    fn insert(&mut self, ts: i64) -> bool {
        let Ok(t) = u32::try_from(ts) else {
            return false;
        };
        match self.0.last() {
            None => self.0.push(t),
            Some(&last) if t > last => self.0.push(t),
            _ => match self.0.binary_search(&t) {
                Ok(_) => return false,
                Err(i) => self.0.insert(i, t),
            },
        }
        true
    }

    fn forget_before(&mut self, ts: i64) {
        let t = u32::try_from(ts.max(0)).unwrap_or(u32::MAX);
        let i = self.0.partition_point(|&x| x < t);
        self.0.drain(..i);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceState {
    seen: Seen,
    acc: Acc,
    /// Days this device last marked dirty, and in which emission epoch (skips re-marking).
    #[serde(skip)]
    marked: (u64, [Option<i64>; 2]),
}

impl DeviceState {
    fn new(kind: Kind) -> DeviceState {
        DeviceState {
            seen: Seen::default(),
            marked: (u64::MAX, [None, None]),
            acc: match kind {
                Kind::Noise => Acc::Noise(noise::Acc::default()),
                Kind::Air => Acc::Air(air::Acc::default()),
                Kind::Toilet => Acc::Toilet(toilets::Acc::default()),
                Kind::Streetlight => Acc::Light(lighting::Acc::default()),
            },
        }
    }
}

/// What happened to one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    Counted,
    Duplicate,
    /// Its day was already dropped (older than the lateness allows).
    Late,
}

/// The saved form of the engine (also what `restore` reads).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    pub version: u32,
    /// Buffer position: every record before it is reflected here.
    pub next_id: u64,
    pub watermark: i64,
    /// Device state by `"{site}/{device}"`.
    devices: BTreeMap<String, DeviceState>,
    /// site → metric → day → ratio.
    ratios: BTreeMap<String, BTreeMap<String, BTreeMap<i64, Ratio>>>,
    dirty: BTreeSet<(String, i64)>,
    open: Vec<((String, i64), u8)>,
    complete: BTreeSet<(String, i64)>,
}

pub struct Engine {
    cfg: StandardsConfig,
    registry: Arc<Registry>,
    clock: Clock,
    /// `None`: keep every day open (replay); else the lateness in seconds.
    lateness: Option<i64>,
    devices: Vec<DeviceState>,
    pub next_id: u64,
    pub watermark: i64,
    ratios: BTreeMap<String, BTreeMap<String, BTreeMap<i64, Ratio>>>,
    /// (site, day) to recompute at the next emission.
    dirty: BTreeSet<(String, i64)>,
    /// (site, day) with state, and the kinds with data on it (bit per [`Kind`]).
    open: BTreeMap<(String, i64), u8>,
    /// (site, day) already emitted as complete.
    complete: BTreeSet<(String, i64)>,
    switch_day: i64,
    /// Incremented at every emission (the dirty set is then empty again).
    epoch: u64,
}

const SAVE_VERSION: u32 = 1;

impl Engine {
    /// `keep_all`: never drop a day (replay of a whole capture).
    pub fn new(
        cfg: StandardsConfig,
        registry: Arc<Registry>,
        tz: jiff::tz::TimeZone,
        keep_all: bool,
    ) -> Engine {
        let devices = registry
            .iter()
            .map(|(_, d)| DeviceState::new(d.kind()))
            .collect();
        let switch_day = Clock::day_number(cfg.switch_date());
        Engine {
            lateness: (!keep_all).then_some(cfg.lateness_secs as i64),
            cfg,
            registry,
            clock: Clock::new(tz),
            devices,
            next_id: 0,
            watermark: i64::MIN,
            ratios: BTreeMap::new(),
            dirty: BTreeSet::new(),
            open: BTreeMap::new(),
            complete: BTreeSet::new(),
            switch_day,
            epoch: 0,
        }
    }

    /// Start empty states for devices adopted since the last call.
    fn take_in_adopted(&mut self) {
        for id in self.devices.len()..self.registry.len() {
            let kind = self.registry.get(id as DeviceId).kind();
            self.devices.push(DeviceState::new(kind));
        }
    }

    /// Serialize the whole state.
    /// New targets (reload): the open days are emitted again with them; closed days keep the
    /// target they were written with. Returns whether anything changed.
    pub fn set_targets(&mut self, targets: &BTreeMap<String, f64>) -> bool {
        if self.cfg.targets == *targets {
            return false;
        }
        self.cfg.targets = targets.clone();
        let open: Vec<(String, i64)> = self.open.keys().cloned().collect();
        self.dirty.extend(open);
        true
    }

    pub fn save(&self) -> Result<Vec<u8>, serde_json::Error> {
        let saved = SavedRef {
            version: SAVE_VERSION,
            next_id: self.next_id,
            watermark: self.watermark,
            devices: self
                .registry
                .iter()
                .filter_map(|(id, _)| {
                    Some((self.registry.path(id), self.devices.get(id as usize)?))
                })
                .collect(),
            ratios: &self.ratios,
            dirty: &self.dirty,
            open: self.open.iter().collect(),
            complete: &self.complete,
        };
        serde_json::to_vec(&saved)
    }

    /// Load a saved state; devices no longer declared are dropped, new ones start empty.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error> {
        let mut s: Saved = serde_json::from_slice(bytes)?;
        if s.version != SAVE_VERSION {
            return Err(serde::de::Error::custom(format!(
                "state version {} (this meilid writes {SAVE_VERSION})",
                s.version
            )));
        }
        self.next_id = s.next_id;
        self.watermark = s.watermark;
        for (id, d) in self.registry.iter() {
            if let Some(state) = s.devices.remove(&self.registry.path(id)) {
                let same_kind = matches!(
                    (&state.acc, d.kind()),
                    (Acc::Noise(_), Kind::Noise)
                        | (Acc::Air(_), Kind::Air)
                        | (Acc::Toilet(_), Kind::Toilet)
                        | (Acc::Light(_), Kind::Streetlight)
                );
                if same_kind {
                    self.devices[id as usize] = state;
                }
            }
        }
        self.ratios = s.ratios;
        self.dirty = s.dirty;
        self.open = s.open.into_iter().collect();
        self.complete = s.complete;
        Ok(())
    }

    /// Local day `d`'s close: local noon of D+1 (unix).
    fn close_of(&self, d: i64) -> i64 {
        self.clock.midnight(d + 1) + 12 * HOUR
    }

    /// The oldest day still open for late data.
    fn horizon(&mut self) -> i64 {
        match (self.lateness, self.watermark) {
            (None, _) | (_, i64::MIN) => i64::MIN,
            (Some(l), w) => (self.clock.local(w) - 12 * HOUR - l).div_euclid(DAY),
        }
    }

    /// Count one reading of `device`.
    pub fn ingest(&mut self, device: DeviceId, s: &Sample) -> Ingest {
        let registry = Arc::clone(&self.registry);
        let dev = registry.get(device);
        let (kind, site) = (dev.kind(), dev.site());
        let horizon = self.horizon();
        let mid_local = self.clock.local(s.mid());
        let day = mid_local.div_euclid(DAY);
        // The latest day this reading can affect (a night or lighting night of the day before).
        let last_day = match kind {
            Kind::Streetlight => (mid_local - 12 * HOUR).div_euclid(DAY),
            Kind::Noise => {
                let (ds, night) = self.cfg.day_night(site);
                noise::day_of_hour(mid_local.div_euclid(HOUR), ds, night)
            }
            Kind::Air => day + 1,
            Kind::Toilet => day,
        };
        if last_day < horizon {
            return Ingest::Late;
        }
        self.take_in_adopted();
        let state = &mut self.devices[device as usize];
        if !state.seen.insert(s.ts) {
            return Ingest::Duplicate;
        }
        self.watermark = self.watermark.max(s.ts);
        let hour = mid_local.div_euclid(HOUR);
        let mut touched: [Option<i64>; 2] = [None, None];
        match (&mut state.acc, s.values) {
            (Acc::Noise(acc), sample::Values::Noise { laeq, lamax }) => {
                acc.add(hour, s.period_s, laeq, lamax);
                touched[0] = Some(last_day);
            }
            (Acc::Air(acc), sample::Values::Air(v)) => {
                acc.add(hour, s.period_s, &v);
                touched[0] = Some(day);
                // The O3 windows of the next day may reach back into this evening.
                let next = (site.to_string(), day + 1);
                if mid_local.rem_euclid(DAY) >= 17 * HOUR
                    && self
                        .open
                        .get(&next)
                        .is_some_and(|k| k & kind_bit(kind) != 0)
                {
                    touched[1] = Some(day + 1);
                }
            }
            (
                Acc::Light(acc),
                sample::Values::Light {
                    on,
                    faults,
                    power_w,
                },
            ) => {
                let lday = last_day;
                let frame = light_frame(&self.cfg, &self.clock, dev, lday);
                acc.add(lday, frame, s.span(), s.ts, on, faults, power_w);
                touched[0] = Some(lday);
            }
            (
                Acc::Toilet(acc),
                sample::Values::Toilet {
                    stalls,
                    occupied,
                    open,
                    entries,
                    nh3,
                    h2s,
                },
            ) => {
                let hours = opening_hours(&self.cfg, dev);
                let (t0, t1) = s.span();
                let open_s =
                    toilet_std::open_secs(t0, t1, &hours.intervals(self.clock.midnight(day)));
                let free = open != Some(false)
                    && matches!((stalls, occupied), (Some(n), Some(o)) if o < n);
                if open_s > 0 {
                    acc.add_availability(day, open_s, free);
                }
                acc.add_odour(hour, s.period_s, nh3, h2s);
                if let Some(e) = entries {
                    acc.counter.insert(s.ts, e);
                    // The next day's first difference may now start from this one.
                    let next = (site.to_string(), day + 1);
                    if self
                        .open
                        .get(&next)
                        .is_some_and(|k| k & kind_bit(kind) != 0)
                    {
                        touched[1] = Some(day + 1);
                    }
                }
                touched[0] = Some(day);
            }
            // The sample's kind comes from the device, so this cannot happen.
            _ => return Ingest::Duplicate,
        }
        if state.marked == (self.epoch, touched) {
            return Ingest::Counted;
        }
        state.marked = (self.epoch, touched);
        for d in touched.into_iter().flatten() {
            if d >= horizon {
                self.dirty.insert((site.to_string(), d));
                *self.open.entry((site.to_string(), d)).or_default() |= kind_bit(kind);
            }
        }
        Ingest::Counted
    }

    /// Parse raw rows read from the buffer and count the readings of declared devices.
    /// Returns (counted, duplicates, late, unreadable); rows of other measurements (the
    /// engine's own results) are skipped.
    pub fn ingest_lines(&mut self, body: &[u8]) -> [u64; 4] {
        let mut n = [0u64; 4];
        let registry = Arc::clone(&self.registry);
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Some((id, rest)) = registry.by_line(line) else {
                continue;
            };
            match Sample::from_line(registry.get(id).kind(), rest) {
                Some(s) => match self.ingest(id, &s) {
                    Ingest::Counted => n[0] += 1,
                    Ingest::Duplicate => n[1] += 1,
                    Ingest::Late => n[2] += 1,
                },
                None => n[3] += 1,
            }
        }
        n
    }

    /// Recompute every changed day (and days that just became complete); drop expired state.
    pub fn emit(&mut self) -> Output {
        let wm = self.watermark;
        let newly_complete: Vec<(String, i64)> = self
            .open
            .keys()
            .filter(|k| !self.complete.contains(*k) && wm >= self.close_of(k.1))
            .cloned()
            .collect();
        for k in newly_complete {
            self.dirty.insert(k);
        }
        let dirty = std::mem::take(&mut self.dirty);
        self.epoch += 1;
        let mut out = Output::default();
        let mut windows = BTreeSet::new();
        for (site, d) in dirty {
            let complete = wm != i64::MIN && wm >= self.close_of(d);
            if complete {
                self.complete.insert((site.clone(), d));
            }
            let report = self.day_report(&site, d, complete);
            let ratios = self.day_ratios(&report);
            let by_metric = self.ratios.entry(site.clone()).or_default();
            for (metric, r) in ratios {
                by_metric.entry(metric.clone()).or_default().insert(d, r);
                let date = Clock::date(d);
                for w in ["day", "month", "quarter", "year"] {
                    windows.insert((site.clone(), metric.clone(), w, window_start(date, w)));
                }
            }
            out.days.push(report);
        }
        for (site, metric, w, start) in windows {
            if let Some(row) = self.window_row(&site, &metric, w, start) {
                out.compliance.push(row);
            }
        }
        self.prune();
        out
    }

    /// Every day with data, recomputed (replay's final answer).
    pub fn emit_all(&mut self) -> Output {
        self.dirty.extend(self.open.keys().cloned());
        self.emit()
    }

    fn prune(&mut self) {
        let horizon = self.horizon();
        if horizon == i64::MIN {
            return;
        }
        self.open.retain(|k, _| k.1 >= horizon);
        self.complete.retain(|k| k.1 >= horizon);
        let keep_from = horizon - 1;
        let from_unix = self.clock.midnight(keep_from);
        for s in &mut self.devices {
            s.seen.forget_before(from_unix - DAY);
            match &mut s.acc {
                Acc::Noise(a) => a.prune(keep_from * 24),
                Acc::Air(a) => a.prune(keep_from * 24),
                Acc::Light(a) => a.prune(keep_from),
                Acc::Toilet(a) => a.prune(keep_from, from_unix, keep_from * 24),
            }
        }
        // Ratios: keep this year and last year (for the year-to-date and quarter rows).
        let year_start =
            Clock::day_number(jiff::civil::date(Clock::date(horizon).year() - 1, 1, 1));
        for m in self.ratios.values_mut() {
            for days in m.values_mut() {
                *days = days.split_off(&year_start);
            }
        }
    }

    fn day_report(&mut self, site: &str, d: i64, complete: bool) -> DayReport {
        let midnight = self.clock.midnight(d);
        let mut r = DayReport {
            date: Clock::date(d).to_string(),
            site: site.to_string(),
            complete,
            midnight,
            noise: Vec::new(),
            air: Vec::new(),
            lighting: Vec::new(),
            toilets: Vec::new(),
        };
        let ed = self.edition(d);
        let kinds = self.open.get(&(site.to_string(), d)).copied().unwrap_or(0);
        let mut light: BTreeMap<RoadClass, LightingDay> = BTreeMap::new();
        let registry = Arc::clone(&self.registry);
        // Every device of a kind that has data on the day (a silent one counts as invalid).
        for (id, dev) in registry
            .iter()
            .filter(|(_, x)| x.site() == site && kinds & kind_bit(x.kind()) != 0)
        {
            let c = &dev.config;
            let Some(state) = self.devices.get(id as usize) else {
                continue; // adopted, nothing received yet
            };
            match &state.acc {
                Acc::Noise(acc) => {
                    let Some(class) = c.zone_class else { continue };
                    r.noise.push(NoiseDay {
                        device: c.id.clone(),
                        zone_class: class.as_str(),
                        area_km2: c.area_km2,
                        result: noise::point_day(
                            acc,
                            d,
                            self.cfg.day_night(site),
                            &self.cfg.noise,
                            class,
                        ),
                    });
                }
                Acc::Air(acc) => {
                    let rules = &self.cfg.air.validity;
                    let hours = acc.hours_for_day(d, rules);
                    let daily = air_std::daily(&hours, rules);
                    let clock = &self.clock;
                    let hourly = air::hourly_rows(
                        &hours,
                        ed,
                        rules,
                        self.cfg.air.round_concentrations,
                        |h| clock.hour_start(d * 24 + h as i64),
                    );
                    let mut day = self.air_day(c.id.clone(), ed, daily.inputs);
                    day.valid_hours = Some(daily.valid_hours);
                    day.o3_8h_windows = Some(daily.o3_8h_windows);
                    day.hourly = hourly;
                    r.air.push(day);
                }
                Acc::Light(acc) => {
                    let class = c.road_class.unwrap_or(RoadClass::Main);
                    let g = light.entry(class).or_insert_with(|| LightingDay {
                        road_class: class.as_str(),
                        ..LightingDay::default()
                    });
                    self.add_lamp_day(g, acc, dev, d, complete);
                }
                Acc::Toilet(acc) => r.toilets.push(self.toilet_day(acc, dev, d)),
            }
        }
        for mut g in light.into_values() {
            g.rate = (g.scheduled_lamp_minutes > 0.0)
                .then(|| g.lit_lamp_minutes / g.scheduled_lamp_minutes);
            r.lighting.push(g);
        }
        if !r.air.is_empty() {
            let stations: Vec<Inputs> = r.air.iter().map(|a| a.means).collect();
            let site_day = self.air_day("_site".into(), ed, air_std::site_mean(&stations));
            r.air.push(site_day);
        }
        r
    }

    /// One lamp's day into its road class's lighting figures.
    fn add_lamp_day(
        &self,
        g: &mut LightingDay,
        acc: &lighting::Acc,
        dev: &crate::registry::Device,
        d: i64,
        complete: bool,
    ) {
        let frame = light_frame(&self.cfg, &self.clock, dev, d);
        let lamp = acc.days.get(&d);
        let (on, off) = lamp.map_or(frame.window, |l| l.window);
        g.total += 1;
        // A day still open counts the schedule only up to the watermark, so that
        // live figures do not treat tonight's lamp-time as already missed.
        let until = if complete {
            off
        } else {
            off.min(self.watermark)
        };
        g.scheduled_lamp_minutes += (until - on).max(0) as f64 / 60.0;
        let inspected = complete || frame.inspection <= self.watermark;
        if (on..off).contains(&frame.inspection) && inspected {
            g.snapshot_due += 1;
        }
        if let Some(l) = lamp {
            g.intact += u32::from(l.last_faults == 0);
            g.lit_lamp_minutes += l.time.lit_secs as f64 / 60.0;
            g.reported_lamp_minutes += l.time.reported_secs as f64 / 60.0;
            g.day_burning_lamp_minutes += l.time.day_burning_secs as f64 / 60.0;
            g.day_burning_wh += l.time.day_burning_wh;
            if (on..off).contains(&frame.inspection) && l.snapshot == Some(true) {
                g.snapshot_lit += 1;
            }
        }
    }

    /// One toilet's day: availability while open, odour hours, entries.
    fn toilet_day(&self, acc: &toilets::Acc, dev: &crate::registry::Device, d: i64) -> ToiletDay {
        let c = &dev.config;
        let midnight = self.clock.midnight(d);
        let hours = opening_hours(&self.cfg, dev);
        let day = acc.days.get(&d).copied().unwrap_or_default();
        let class = c
            .toilet_class
            .map_or(1, |t| t.as_str().parse().unwrap_or(1));
        let limits = self.cfg.toilets.odour;
        let (ok, total) = acc.odour_hours(
            d * 24,
            24,
            u32::from(self.cfg.toilets.hour_min_coverage_pct) * 36,
            |nh3, h2s| limits.ok(class, nh3, h2s),
        );
        ToiletDay {
            device: c.id.clone(),
            toilet_class: c.toilet_class.map_or("1", |t| t.as_str()),
            open_minutes: f64::from(hours.minutes()),
            measured_open_minutes: day.measured_open_s as f64 / 60.0,
            available_minutes: day.available_s as f64 / 60.0,
            entries: acc.entries(midnight, self.clock.midnight(d + 1)),
            odour_ok_hours: ok,
            odour_hours: total,
        }
    }

    fn edition(&self, d: i64) -> Edition {
        match self.cfg.air.edition {
            EditionChoice::Hj2012 => Edition::Hj633_2012,
            EditionChoice::Hj2026 => Edition::Hj633_2026,
            EditionChoice::ByDate if d < self.switch_day => Edition::Hj633_2012,
            EditionChoice::ByDate => Edition::Hj633_2026,
        }
    }

    fn air_day(&self, device: String, ed: Edition, means: Inputs) -> AirDay {
        let cfg = &self.cfg.air;
        let aqi = air::daily_aqi(ed, &means, cfg);
        let both = |e: Edition| cfg.report_both.then(|| air::daily_aqi(e, &means, cfg));
        AirDay {
            device,
            means,
            valid_hours: None,
            o3_8h_windows: None,
            valid: aqi.aqi.is_some(),
            good: aqi.aqi.map(|a| a <= 100),
            aqi,
            aqi_2012: both(Edition::Hj633_2012),
            aqi_2026: both(Edition::Hj633_2026),
            hourly: Vec::new(),
        }
    }

    /// The day's ratio per compliance metric of its site.
    fn day_ratios(&self, r: &DayReport) -> Vec<(String, Ratio)> {
        let mut out: Vec<(String, Ratio)> = Vec::new();
        if !r.noise.is_empty() {
            noise_ratios(&r.noise, &mut out);
        }
        if let Some(site) = r.air.iter().find(|a| a.device == "_site") {
            let ratio = |a: Option<&crate::standards::aqi::Aqi>| {
                let valid = a.is_some_and(|a| a.aqi.is_some());
                count(std::iter::once((
                    valid,
                    a.and_then(|a| a.aqi).is_some_and(|x| x <= 100),
                )))
            };
            out.push(("air_good_days".into(), ratio(Some(&site.aqi))));
            if self.cfg.air.report_both {
                out.push(("air_good_days_2012".into(), ratio(site.aqi_2012.as_ref())));
                out.push(("air_good_days_2026".into(), ratio(site.aqi_2026.as_ref())));
            }
        }
        if !r.lighting.is_empty() {
            lighting_ratios(&r.lighting, &mut out);
        }
        if !r.toilets.is_empty() {
            self.toilet_ratios(r, &mut out);
        }
        out
    }

    /// Availability, odour, density (per km² of built-up area) and coverage of busy points.
    fn toilet_ratios(&self, r: &DayReport, out: &mut Vec<(String, Ratio)>) {
        let mut avail = Ratio::default();
        let mut odour = Ratio::default();
        for t in &r.toilets {
            avail.numerator += t.available_minutes;
            avail.denominator += t.measured_open_minutes;
            odour.numerator += f64::from(t.odour_ok_hours);
            odour.denominator += f64::from(t.odour_hours);
        }
        out.push(("toilet_availability".into(), avail));
        out.push(("toilet_odour_compliance".into(), odour));
        let site_cfg = self.cfg.sites.get(&r.site);
        if let Some(area) = site_cfg.and_then(|s| s.built_up_area_km2) {
            out.push((
                "toilet_density".into(),
                Ratio::new(r.toilets.len() as f64, area),
            ));
        }
        let points = site_cfg.map_or(&[][..], |s| &s.busy_points[..]);
        if !points.is_empty() {
            let toilets: Vec<(f64, f64)> = self
                .registry
                .iter()
                .filter(|(_, d)| d.site() == r.site && d.kind() == Kind::Toilet)
                .map(|(_, d)| (d.config.lat, d.config.lon))
                .collect();
            let served = points
                .iter()
                .filter(|p| {
                    toilet_std::nearest_m((p.lat, p.lon), &toilets)
                        .is_some_and(|m| m <= self.cfg.toilets.radius_m)
                })
                .count();
            out.push((
                "toilet_coverage".into(),
                Ratio::new(served as f64, points.len() as f64),
            ));
        }
    }

    fn window_row(
        &self,
        site: &str,
        metric: &str,
        window: &'static str,
        start: jiff::civil::Date,
    ) -> Option<ComplianceRow> {
        let days = self.ratios.get(site)?.get(metric)?;
        let from = Clock::day_number(start);
        let to = Clock::day_number(window_end(start, window));
        let mut total = Ratio::default();
        let mut n = 0;
        for r in days.range(from..to).map(|(_, r)| r) {
            total.add(r);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let target = self.cfg.target(metric);
        Some(ComplianceRow::of(
            (site, metric),
            (window, start.to_string(), self.clock.midnight(from)),
            &total,
            target,
            n,
        ))
    }

    /// Every current `compliance` row for the windows holding day `d` (for the API and demo).
    pub fn compliance_for(&self, d: i64) -> Vec<ComplianceRow> {
        let mut out = Vec::new();
        for (site, metrics) in &self.ratios {
            for metric in metrics.keys() {
                for w in ["day", "month", "quarter", "year"] {
                    let start = window_start(Clock::date(d), w);
                    out.extend(self.window_row(site, metric, w, start));
                }
            }
        }
        out
    }

    /// The latest day with figures (a night reading before 06:00 belongs to the day before).
    pub fn latest_day(&self) -> Option<i64> {
        self.ratios
            .values()
            .flat_map(|m| m.values())
            .filter_map(|days| days.keys().next_back().copied())
            .max()
    }

    /// The local day of a unix time.
    pub fn day_of(&mut self, unix: i64) -> i64 {
        self.clock.day_of(unix)
    }
}

/// Valid items counted in the denominator, good ones in the numerator, the rest as invalid.
fn count(it: impl Iterator<Item = (bool, bool)>) -> Ratio {
    let mut x = Ratio::default();
    for (valid, ok) in it {
        if valid {
            x.denominator += 1.0;
            x.numerator += f64::from(u8::from(ok));
        } else {
            x.invalid += 1.0;
        }
    }
    x
}

/// Day and night compliance (all points and per zone class), night Lmax, zone coverage.
fn noise_ratios(noise: &[NoiseDay], out: &mut Vec<(String, Ratio)>) {
    let p = |n: &NoiseDay, night: bool| {
        let p = if night { n.result.night } else { n.result.day };
        (p.valid, p.ok == Some(true))
    };
    out.push((
        "noise_day_compliance".into(),
        count(noise.iter().map(|n| p(n, false))),
    ));
    out.push((
        "noise_night_compliance".into(),
        count(noise.iter().map(|n| p(n, true))),
    ));
    let classes: BTreeSet<&str> = noise.iter().map(|n| n.zone_class).collect();
    for class in classes {
        for (name, night) in [("day", false), ("night", true)] {
            out.push((
                format!("noise_{name}_compliance_{class}"),
                count(
                    noise
                        .iter()
                        .filter(|n| n.zone_class == class)
                        .map(|n| p(n, night)),
                ),
            ));
        }
    }
    out.push((
        "noise_lmax_compliance".into(),
        count(noise.iter().map(|n| {
            (
                n.result.night.lmax_ok.is_some(),
                n.result.night.lmax_ok == Some(true),
            )
        })),
    ));
    let mut cov = Ratio::default();
    for n in noise {
        let area = n.area_km2.unwrap_or(0.0);
        let (d, nt) = (n.result.day, n.result.night);
        if d.valid && nt.valid {
            cov.denominator += area;
            if d.ok == Some(true) && nt.ok == Some(true) {
                cov.numerator += area;
            }
        } else {
            cov.invalid += area;
        }
    }
    out.push(("noise_zone_coverage".into(), cov));
}

/// Lighting rate and snapshot (main roads, and the others), facilities intact.
fn lighting_ratios(lighting: &[LightingDay], out: &mut Vec<(String, Ratio)>) {
    let sum = |main: bool, f: &dyn Fn(&LightingDay) -> (f64, f64)| {
        let mut x = Ratio::default();
        for g in lighting.iter().filter(|g| (g.road_class == "main") == main) {
            let (n, d) = f(g);
            x.numerator += n;
            x.denominator += d;
        }
        x
    };
    let time = |g: &LightingDay| (g.lit_lamp_minutes, g.scheduled_lamp_minutes);
    let snap = |g: &LightingDay| (f64::from(g.snapshot_lit), f64::from(g.snapshot_due));
    for (main, class) in [(true, "main"), (false, "secondary")] {
        if lighting.iter().any(|g| (g.road_class == "main") == main) {
            out.push((format!("lighting_rate_{class}"), sum(main, &time)));
            out.push((format!("lighting_snapshot_{class}"), sum(main, &snap)));
        }
    }
    let mut intact = Ratio::default();
    for g in lighting {
        intact.numerator += f64::from(g.intact);
        intact.denominator += f64::from(g.total);
    }
    out.push(("lighting_intact".into(), intact));
}

#[derive(Serialize)]
struct SavedRef<'a> {
    version: u32,
    next_id: u64,
    watermark: i64,
    devices: BTreeMap<String, &'a DeviceState>,
    ratios: &'a BTreeMap<String, BTreeMap<String, BTreeMap<i64, Ratio>>>,
    dirty: &'a BTreeSet<(String, i64)>,
    open: Vec<(&'a (String, i64), &'a u8)>,
    complete: &'a BTreeSet<(String, i64)>,
}

const fn kind_bit(kind: Kind) -> u8 {
    match kind {
        Kind::Noise => 1,
        Kind::Air => 2,
        Kind::Toilet => 4,
        Kind::Streetlight => 8,
    }
}

fn opening_hours(cfg: &StandardsConfig, dev: &crate::registry::Device) -> OpeningHours {
    dev.config
        .opening_hours
        .as_deref()
        .and_then(OpeningHours::parse)
        .or_else(|| OpeningHours::parse(&cfg.toilets.opening_hours))
        .unwrap_or(OpeningHours::ALWAYS)
}

/// Bounds, lighting window and inspection instant of lamp `dev`'s lighting day `lday`.
fn light_frame(
    cfg: &StandardsConfig,
    clock: &Clock,
    dev: &crate::registry::Device,
    lday: i64,
) -> lighting::DayFrame {
    let date = Clock::date(lday);
    let midnight = |x: jiff::civil::Date| clock.midnight(Clock::day_number(x));
    let window = light_std::window(
        &cfg.lighting.schedule,
        date,
        dev.config.lat,
        dev.config.lon,
        midnight,
    );
    let insp = light_std::parse_hhmm(&cfg.lighting.inspection_time).unwrap_or(21 * 60);
    let inspection = if insp < 12 * 60 {
        clock.midnight(lday + 1) + i64::from(insp) * 60
    } else {
        clock.midnight(lday) + i64::from(insp) * 60
    };
    lighting::DayFrame {
        bounds: (
            clock.midnight(lday) + 12 * HOUR,
            clock.midnight(lday + 1) + 12 * HOUR,
        ),
        window,
        inspection,
    }
}

/// First day of the window holding `date`.
pub fn window_start(date: jiff::civil::Date, window: &str) -> jiff::civil::Date {
    let (y, m) = (date.year(), date.month());
    match window {
        "month" => jiff::civil::date(y, m, 1),
        "quarter" => jiff::civil::date(y, (m - 1) / 3 * 3 + 1, 1),
        "year" => jiff::civil::date(y, 1, 1),
        _ => date,
    }
}

/// First day after the window starting at `start`.
fn window_end(start: jiff::civil::Date, window: &str) -> jiff::civil::Date {
    let span = match window {
        "month" => jiff::Span::new().months(1),
        "quarter" => jiff::Span::new().months(3),
        "year" => jiff::Span::new().years(1),
        _ => jiff::Span::new().days(1),
    };
    start.checked_add(span).unwrap_or(start)
}

#[cfg(test)]
mod tests;
