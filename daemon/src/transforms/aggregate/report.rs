//! The engine's results (CONTRACT §4 daily measurements and `compliance`), as JSON for
//! `meilid replay` and as line protocol for the sinks.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::rows::names;

use super::air::HourRow;
use super::noise::PointDay;
use crate::standards::air::Pollutant;
use crate::standards::aqi::{Aqi, Inputs};
use crate::standards::noise::Period;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoiseDay {
    pub device: String,
    #[serde(deserialize_with = "names::one")]
    pub zone_class: names::Name,
    pub area_km2: Option<f64>,
    #[serde(flatten)]
    pub result: PointDay,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AirDay {
    /// Station id, or `_site` for the site value (mean of the stations).
    pub device: String,
    /// The daily values (24-h means, O3 max 1-h and max 8-h), invalid items absent.
    pub means: Inputs,
    pub valid_hours: Option<[u32; 6]>,
    pub o3_8h_windows: Option<u32>,
    /// AQI under the edition that applies to the day.
    pub aqi: Aqi,
    /// Both editions side by side (when `report_both`).
    pub aqi_2012: Option<Aqi>,
    pub aqi_2026: Option<Aqi>,
    /// All six pollutants valid, or AQI > 100 from those that are.
    pub valid: bool,
    pub good: Option<bool>,
    #[serde(skip)]
    pub hourly: Vec<HourRow>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LightingDay {
    #[serde(deserialize_with = "names::one")]
    pub road_class: names::Name,
    pub total: u32,
    pub intact: u32,
    pub lit_lamp_minutes: f64,
    pub scheduled_lamp_minutes: f64,
    /// Scheduled lamp-minutes some reading reported on (lit or not).
    pub reported_lamp_minutes: f64,
    pub rate: Option<f64>,
    /// Lamps due at the inspection time, and those seen lit then.
    pub snapshot_due: u32,
    pub snapshot_lit: u32,
    pub day_burning_lamp_minutes: f64,
    pub day_burning_wh: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToiletDay {
    pub device: String,
    #[serde(deserialize_with = "names::one")]
    pub toilet_class: names::Name,
    /// Minutes open by the opening hours.
    pub open_minutes: f64,
    /// Of those, minutes readings covered, and minutes open with a free stall.
    pub measured_open_minutes: f64,
    pub available_minutes: f64,
    pub entries: u64,
    pub odour_ok_hours: u32,
    pub odour_hours: u32,
}

/// Everything computed for one site and local day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayReport {
    pub date: String,
    pub site: String,
    /// The day's data window has passed (late data may still change it within the lateness).
    pub complete: bool,
    #[serde(skip)]
    pub midnight: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noise: Vec<NoiseDay>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub air: Vec<AirDay>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lighting: Vec<LightingDay>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toilets: Vec<ToiletDay>,
}

/// One `compliance` row.
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceRow {
    pub site: String,
    pub metric: String,
    /// `day`, `month`, `quarter` or `year` (year to date).
    pub window: &'static str,
    /// First day of the window.
    pub start: String,
    #[serde(skip)]
    pub start_unix: i64,
    pub value: Option<f64>,
    /// `value` in percent, 0.1 % with GB/T 8170 rounding.
    pub percent: Option<f64>,
    pub target: Option<f64>,
    pub met: Option<bool>,
    pub numerator: f64,
    pub denominator: f64,
    pub invalid: f64,
    /// Days in the window with data.
    pub days: u32,
}

impl ComplianceRow {
    /// The row of `total` (the window's days' ratios summed) against `target`.
    pub fn of(
        (site, metric): (&str, &str),
        (window, start, start_unix): (&'static str, String, i64),
        total: &crate::standards::ratio::Ratio,
        target: Option<f64>,
        days: u32,
    ) -> ComplianceRow {
        ComplianceRow {
            site: site.to_string(),
            metric: metric.to_string(),
            window,
            start,
            start_unix,
            value: total.value(),
            percent: total.percent(),
            target,
            met: target.and_then(|t| total.meets(t)),
            numerator: total.numerator,
            denominator: total.denominator,
            invalid: total.invalid,
            days,
        }
    }
}

/// What one emission produced.
#[derive(Debug, Default)]
pub struct Output {
    pub days: Vec<DayReport>,
    pub compliance: Vec<ComplianceRow>,
}

struct Line<'a> {
    out: &'a mut String,
    first: bool,
}

impl Line<'_> {
    fn start<'b>(out: &'b mut String, measurement: &str, tags: &[(&str, &str)]) -> Line<'b> {
        out.push_str(measurement);
        let mut tags = tags.to_vec();
        tags.sort_unstable();
        for (k, v) in tags {
            let _ = write!(out, ",{k}={v}");
        }
        out.push(' ');
        Line { out, first: true }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push_str(k);
        self.out.push('=');
    }
    fn f(&mut self, k: &str, v: Option<f64>) -> &mut Self {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.key(k);
            let _ = write!(self.out, "{v}");
        }
        self
    }
    fn i(&mut self, k: &str, v: Option<i64>) -> &mut Self {
        if let Some(v) = v {
            self.key(k);
            let _ = write!(self.out, "{v}i");
        }
        self
    }
    fn b(&mut self, k: &str, v: Option<bool>) -> &mut Self {
        if let Some(v) = v {
            self.key(k);
            self.out.push_str(if v { "true" } else { "false" });
        }
        self
    }
    fn s(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        let _ = write!(
            self.out,
            "\"{}\"",
            v.replace('\\', "\\\\").replace('"', "\\\"")
        );
        self
    }
    fn end(&mut self, ts: i64) {
        if self.first {
            self.key("present");
            self.out.push_str("true");
        }
        let _ = writeln!(self.out, " {ts}");
    }
}

fn period_line(out: &mut String, site: &str, n: &NoiseDay, name: &str, p: &Period, ts: i64) {
    Line::start(
        out,
        "noise_period",
        &[
            ("site", site),
            ("device", &n.device),
            ("zone_class", n.zone_class),
            ("period", name),
        ],
    )
    .f("leq", p.leq)
    .f("lmax", p.lmax)
    .f("limit", Some(p.limit))
    .b("ok", p.ok)
    .b("lmax_ok", p.lmax_ok)
    .b("valid", Some(p.valid))
    .i("valid_hours", Some(i64::from(p.valid_hours)))
    .end(ts);
}

fn air_fields<'a, 'b>(l: &'a mut Line<'b>, means: &[Option<f64>; 6]) -> &'a mut Line<'b> {
    for p in Pollutant::ALL {
        l.f(p.key(), means[p as usize]);
    }
    l
}

impl Output {
    /// Line protocol for every result (timestamps in seconds).
    pub fn to_lines(&self) -> (String, u32) {
        let mut out = String::new();
        for d in &self.days {
            let ts = d.midnight;
            for n in &d.noise {
                period_line(&mut out, &d.site, n, "day", &n.result.day, ts);
                period_line(&mut out, &d.site, n, "night", &n.result.night, ts);
            }
            for a in &d.air {
                let m = &a.means;
                let means = [m.pm2_5, m.pm10, m.so2, m.no2, m.co, m.o3_1h];
                let mut l = Line::start(
                    &mut out,
                    "air_daily",
                    &[("site", &d.site), ("device", &a.device)],
                );
                air_fields(&mut l, &means).f("o3_8h_max", m.o3_8h);
                for (k, v) in &a.aqi.iaqi {
                    l.i(&format!("iaqi_{k}"), Some(*v));
                }
                l.i("aqi", a.aqi.aqi)
                    .i("category", a.aqi.category.map(i64::from))
                    .s("primary", &a.aqi.primary.join(","))
                    .s("standard", a.aqi.standard)
                    .b("good", a.good)
                    .b("valid", Some(a.valid))
                    .i("aqi_2012", a.aqi_2012.as_ref().and_then(|x| x.aqi))
                    .i("aqi_2026", a.aqi_2026.as_ref().and_then(|x| x.aqi))
                    .end(ts);
                for h in &a.hourly {
                    let mut l = Line::start(
                        &mut out,
                        "air_hourly",
                        &[("site", &d.site), ("device", &a.device)],
                    );
                    air_fields(&mut l, &h.means)
                        .f("o3_8h", h.o3_8h)
                        .i("aqi", h.aqi)
                        .end(h.hour_start);
                }
            }
            for g in &d.lighting {
                Line::start(
                    &mut out,
                    "lighting_daily",
                    &[("site", &d.site), ("road_class", g.road_class)],
                )
                .f("lit_lamp_minutes", Some(g.lit_lamp_minutes))
                .f("scheduled_lamp_minutes", Some(g.scheduled_lamp_minutes))
                .f("reported_lamp_minutes", Some(g.reported_lamp_minutes))
                .f("rate", g.rate)
                .i("intact", Some(i64::from(g.intact)))
                .i("total", Some(i64::from(g.total)))
                .i("snapshot_due", Some(i64::from(g.snapshot_due)))
                .i("snapshot_lit", Some(i64::from(g.snapshot_lit)))
                .f("day_burning_lamp_minutes", Some(g.day_burning_lamp_minutes))
                .f("day_burning_wh", Some(g.day_burning_wh))
                .end(ts);
            }
            for t in &d.toilets {
                Line::start(
                    &mut out,
                    "toilet_daily",
                    &[("site", &d.site), ("device", &t.device)],
                )
                .f("open_minutes", Some(t.open_minutes))
                .f("measured_open_minutes", Some(t.measured_open_minutes))
                .f("available_minutes", Some(t.available_minutes))
                .i("entries", Some(t.entries as i64))
                .i("odour_ok_hours", Some(i64::from(t.odour_ok_hours)))
                .i("odour_hours", Some(i64::from(t.odour_hours)))
                .end(ts);
            }
        }
        for c in &self.compliance {
            Line::start(
                &mut out,
                "compliance",
                &[
                    ("site", &c.site),
                    ("metric", &c.metric),
                    ("window", c.window),
                ],
            )
            .f("value", c.value)
            .f("percent", c.percent)
            .f("target", c.target)
            .b("met", c.met)
            .f("numerator", Some(c.numerator))
            .f("denominator", Some(c.denominator))
            .f("invalid", Some(c.invalid))
            .i("days", Some(i64::from(c.days)))
            .end(c.start_unix);
        }
        let rows = out.bytes().filter(|&b| b == b'\n').count() as u32;
        (out, rows)
    }
}
