//! `[standards]`: how the compliance figures are computed. Every default is documented in
//! `docs/standards.md`, with the ones the standards leave open (or that DOMAIN.md marks
//! unverified) called out.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::standards::air::Rules as AirRules;
use crate::standards::lighting::{parse_hhmm, Schedule};
use crate::standards::toilet::{OdourLimits, OpeningHours};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StandardsConfig {
    /// How long after a day ends late readings still re-open and recompute it.
    pub lateness_secs: u64,
    /// How often open days' figures are recomputed and written.
    pub emit_interval_secs: u64,
    /// How often the engine's state is saved (and the buffer released up to it).
    pub checkpoint_interval_secs: u64,
    pub noise: NoiseConfig,
    pub air: AirConfig,
    pub lighting: LightingConfig,
    pub toilets: ToiletConfig,
    /// Target per compliance metric (fraction, e.g. 0.85), overriding CONTRACT §4's defaults.
    pub targets: BTreeMap<String, f64>,
    /// Per-site settings, `[standards.sites.<site>]`.
    pub sites: BTreeMap<String, SiteConfig>,
}

impl Default for StandardsConfig {
    fn default() -> StandardsConfig {
        StandardsConfig {
            lateness_secs: 48 * 3600,
            emit_interval_secs: 60,
            checkpoint_interval_secs: 60,
            noise: NoiseConfig::default(),
            air: AirConfig::default(),
            lighting: LightingConfig::default(),
            toilets: ToiletConfig::default(),
            targets: BTreeMap::new(),
            sites: BTreeMap::new(),
        }
    }
}

/// Which calendar day a night belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NightStartsOn {
    /// Day D's night starts on D (22:00 D → 06:00 D+1 by default).
    #[default]
    SameDay,
    /// Day D's night starts on D−1 (22:00 D−1 → 06:00 D).
    PreviousDay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Day starts at this local hour and lasts 16 h; the night is the other 8 h.
    pub day_start_hour: u8,
    pub night_starts_on: NightStartsOn,
    /// Share of an hour readings must cover for a valid hourly Leq.
    pub hour_min_coverage_pct: u8,
    /// Valid hours for a valid Ld (of 16) and Ln (of 8).
    pub day_min_hours: u32,
    pub night_min_hours: u32,
    /// Night burst noise: Lmax ≤ night limit + this (GB 3096-2008 §5.4).
    pub lmax_margin_db: f64,
}

impl Default for NoiseConfig {
    fn default() -> NoiseConfig {
        NoiseConfig {
            day_start_hour: 6,
            night_starts_on: NightStartsOn::SameDay,
            hour_min_coverage_pct: 75,
            day_min_hours: 12,
            night_min_hours: 6,
            lmax_margin_db: 15.0,
        }
    }
}

/// Which HJ 633 edition a day is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EditionChoice {
    /// HJ 633-2012 before `switch_date`, HJ 633—2026 from it.
    #[default]
    ByDate,
    #[serde(rename = "2012")]
    Hj2012,
    #[serde(rename = "2026")]
    Hj2026,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AirConfig {
    pub edition: EditionChoice,
    /// First day of HJ 633—2026 ("YYYY-MM-DD").
    pub switch_date: String,
    /// Round concentrations (GB/T 8170) before the IAQI.
    pub round_concentrations: bool,
    /// Whether the O3 daily maximum 1-h mean enters the daily AQI, per edition.
    pub daily_o3_1h_2012: bool,
    pub daily_o3_1h_2026: bool,
    /// Also compute both editions for every day (`aqi_2012`, `aqi_2026`, `air_good_days_2012/2026`).
    pub report_both: bool,
    pub validity: AirRules,
}

impl Default for AirConfig {
    fn default() -> AirConfig {
        AirConfig {
            edition: EditionChoice::ByDate,
            switch_date: "2026-03-01".into(),
            round_concentrations: true,
            daily_o3_1h_2012: true,
            daily_o3_1h_2026: false,
            report_both: true,
            validity: AirRules::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightingConfig {
    pub schedule: Schedule,
    /// Local time of the inspection snapshot ("HH:MM"; before 12:00 means the next morning).
    pub inspection_time: String,
}

impl Default for LightingConfig {
    fn default() -> LightingConfig {
        LightingConfig {
            schedule: Schedule::default(),
            inspection_time: "21:00".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToiletConfig {
    /// Opening hours of toilets that do not set their own ("HH:MM-HH:MM").
    pub opening_hours: String,
    /// Share of an hour readings must cover for a valid hourly odour mean.
    pub hour_min_coverage_pct: u8,
    pub odour: OdourLimits,
    /// A busy point counts as served with a toilet within this distance.
    pub radius_m: f64,
}

impl Default for ToiletConfig {
    fn default() -> ToiletConfig {
        ToiletConfig {
            opening_hours: "06:00-22:00".into(),
            hour_min_coverage_pct: 75,
            odour: OdourLimits::default(),
            radius_m: 500.0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Built-up area for `toilet_density` (toilets per km²).
    pub built_up_area_km2: Option<f64>,
    /// Places that should have a toilet nearby (markets, stations, squares).
    #[serde(default)]
    pub busy_points: Vec<BusyPoint>,
    /// Local day/night boundaries where the county government set its own.
    pub day_start_hour: Option<u8>,
    pub night_starts_on: Option<NightStartsOn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusyPoint {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// Metrics with a target, and CONTRACT §4's default targets.
pub const METRICS: &[(&str, Option<f64>)] = &[
    ("noise_night_compliance", Some(0.85)),
    ("noise_day_compliance", None),
    ("noise_lmax_compliance", None),
    ("noise_zone_coverage", Some(0.70)),
    ("air_good_days", Some(0.972)),
    ("air_good_days_2012", Some(0.972)),
    ("air_good_days_2026", Some(0.972)),
    ("lighting_rate_main", Some(0.98)),
    ("lighting_rate_secondary", Some(0.95)),
    ("lighting_snapshot_main", Some(0.98)),
    ("lighting_snapshot_secondary", Some(0.95)),
    ("lighting_intact", Some(0.95)),
    ("toilet_availability", None),
    ("toilet_odour_compliance", None),
    ("toilet_density", Some(5.0)),
    ("toilet_coverage", None),
];

impl StandardsConfig {
    /// Target of a metric (per-class noise metrics take their family's target).
    pub fn target(&self, metric: &str) -> Option<f64> {
        if let Some(t) = self.targets.get(metric) {
            return Some(*t);
        }
        let family = ["noise_night_compliance", "noise_day_compliance"]
            .into_iter()
            .find(|f| metric.starts_with(f))
            .unwrap_or(metric);
        if let Some(t) = self.targets.get(family) {
            return Some(*t);
        }
        METRICS.iter().find(|(m, _)| *m == family).and_then(|m| m.1)
    }

    pub fn switch_date(&self) -> jiff::civil::Date {
        self.air
            .switch_date
            .parse()
            .unwrap_or(jiff::civil::date(2026, 3, 1))
    }

    /// Day start hour and night attribution for a site.
    pub fn day_night(&self, site: &str) -> (u8, NightStartsOn) {
        let s = self.sites.get(site);
        (
            s.and_then(|s| s.day_start_hour)
                .unwrap_or(self.noise.day_start_hour),
            s.and_then(|s| s.night_starts_on)
                .unwrap_or(self.noise.night_starts_on),
        )
    }

    /// Problems as (key, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut p = |k: &str, m: String| out.push((format!("standards.{k}"), m));
        if self.noise.day_start_hour > 23 {
            p("noise.day_start_hour", "must be 0 to 23".into());
        }
        if self.noise.hour_min_coverage_pct > 100 || self.toilets.hour_min_coverage_pct > 100 {
            p("hour_min_coverage_pct", "must be 0 to 100".into());
        }
        if self.noise.day_min_hours > 16 || self.noise.night_min_hours > 8 {
            p(
                "noise",
                "day_min_hours must be ≤ 16 and night_min_hours ≤ 8".into(),
            );
        }
        if self.air.switch_date.parse::<jiff::civil::Date>().is_err() {
            p("air.switch_date", "must be a date YYYY-MM-DD".into());
        }
        let v = &self.air.validity;
        if v.hour_min_minutes > 60 || v.day_min_hours > 24 || v.o3_8h_min_hours > 8 {
            p(
                "air.validity",
                "need hour_min_minutes ≤ 60, day_min_hours ≤ 24, o3_8h_min_hours ≤ 8".into(),
            );
        }
        if parse_hhmm(&self.lighting.inspection_time).is_none() {
            p("lighting.inspection_time", "must be HH:MM".into());
        }
        if let Schedule::Fixed { on, off } = &self.lighting.schedule {
            if parse_hhmm(on).is_none() || parse_hhmm(off).is_none() {
                p("lighting.schedule", "on and off must be HH:MM".into());
            }
        }
        if OpeningHours::parse(&self.toilets.opening_hours).is_none() {
            p("toilets.opening_hours", "must be HH:MM-HH:MM".into());
        }
        for (m, t) in &self.targets {
            if !METRICS.iter().any(|(k, _)| k == m) {
                p(&format!("targets.{m}"), "unknown metric".into());
            }
            if !(t.is_finite() && *t >= 0.0) {
                p(
                    &format!("targets.{m}"),
                    "must be a non-negative number".into(),
                );
            }
        }
        for (name, s) in &self.sites {
            if !super::valid_id(name) {
                p(&format!("sites.{name}"), "not a valid site id".into());
            }
            if s.day_start_hour.is_some_and(|h| h > 23) {
                p(
                    &format!("sites.{name}.day_start_hour"),
                    "must be 0 to 23".into(),
                );
            }
            if s.built_up_area_km2
                .is_some_and(|a| !(a > 0.0 && a.is_finite()))
            {
                p(
                    &format!("sites.{name}.built_up_area_km2"),
                    "must be a positive number".into(),
                );
            }
        }
        out
    }
}
