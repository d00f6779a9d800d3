//! HJ 633-2012 and HJ 633—2026: individual and overall air quality index.
//!
//! All arithmetic is exact: a concentration is a decimal `m / 10^scale`, IAQI is
//! `IAQI_Lo + (IAQI_Hi − IAQI_Lo)·(C − BP_Lo)/(BP_Hi − BP_Lo)` as a rational number, rounded up
//! to an integer (向上进位取整). Concentrations are first rounded half-to-even (GB/T 8170) to
//! whole µg/m³, CO to 0.1 mg/m³ (DOMAIN.md §1.3), unless `round` is off.

use serde::Serialize;

use crate::rows::names;

/// Which edition's breakpoint table and special cases apply.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Edition {
    #[serde(rename = "2012")]
    Hj633_2012,
    #[serde(rename = "2026")]
    Hj633_2026,
}

impl Edition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Edition::Hj633_2012 => "2012",
            Edition::Hj633_2026 => "2026",
        }
    }
    pub fn parse(s: &str) -> Option<Edition> {
        match s {
            "2012" => Some(Edition::Hj633_2012),
            "2026" => Some(Edition::Hj633_2026),
            _ => None,
        }
    }
}

/// An indicator: a pollutant at an averaging time, as it enters an AQI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    #[serde(rename = "pm2_5")]
    Pm2_5,
    Pm10,
    So2,
    No2,
    Co,
    #[serde(rename = "o3_1h")]
    O3_1h,
    #[serde(rename = "o3_8h")]
    O3_8h,
}

impl Item {
    pub const ALL: [Item; 7] = [
        Item::Pm2_5,
        Item::Pm10,
        Item::So2,
        Item::No2,
        Item::Co,
        Item::O3_1h,
        Item::O3_8h,
    ];
    pub const fn key(self) -> &'static str {
        match self {
            Item::Pm2_5 => "pm2_5",
            Item::Pm10 => "pm10",
            Item::So2 => "so2",
            Item::No2 => "no2",
            Item::Co => "co",
            Item::O3_1h => "o3_1h",
            Item::O3_8h => "o3_8h",
        }
    }
    /// Decimal places the concentration is rounded to before the IAQI (CO in mg/m³: 1).
    pub const fn decimals(self) -> u32 {
        match self {
            Item::Co => 1,
            _ => 0,
        }
    }
    /// The pollutant (O3 for both O3 indicators).
    pub const fn pollutant(self) -> &'static str {
        match self {
            Item::O3_1h | Item::O3_8h => "o3",
            other => other.key(),
        }
    }
}

/// Averaging basis of the breakpoint column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// 24-hour means (daily report; particles also in the real-time report).
    Day,
    /// 1-hour means (real-time report only for SO2, NO2, CO).
    Hour,
}

const LEVELS: [i64; 8] = [0, 50, 100, 150, 200, 300, 400, 500];

/// Breakpoints (BP at IAQI 0, 50, …, 500) of one column; shorter columns end where the table
/// has a footnote (SO2 1 h above 800, O3 8 h above 800).
fn column(item: Item, basis: Basis, ed: Edition) -> &'static [i64] {
    use Basis::*;
    use Edition::*;
    match (item, basis, ed) {
        (Item::So2, Day, _) => &[0, 50, 150, 475, 800, 1600, 2100, 2620],
        (Item::So2, Hour, _) => &[0, 150, 500, 650, 800],
        (Item::No2, Day, _) => &[0, 40, 80, 180, 280, 565, 750, 940],
        (Item::No2, Hour, _) => &[0, 100, 200, 700, 1200, 2340, 3090, 3840],
        (Item::Pm10, _, Hj633_2012) => &[0, 50, 150, 250, 350, 420, 500, 600],
        (Item::Pm10, _, Hj633_2026) => &[0, 50, 120, 250, 350, 420, 500, 600],
        (Item::Co, Day, _) => &[0, 2, 4, 14, 24, 36, 48, 60],
        (Item::Co, Hour, _) => &[0, 5, 10, 35, 60, 90, 120, 150],
        (Item::O3_1h, _, _) => &[0, 160, 200, 300, 400, 800, 1000, 1200],
        (Item::O3_8h, _, _) => &[0, 100, 160, 215, 265, 800],
        (Item::Pm2_5, _, Hj633_2012) => &[0, 35, 75, 115, 150, 250, 350, 500],
        (Item::Pm2_5, _, Hj633_2026) => &[0, 35, 60, 115, 150, 250, 350, 500],
    }
}

/// An exact decimal concentration `m / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conc {
    pub m: i64,
    pub scale: u32,
}

impl Conc {
    /// Parse a decimal string exactly ("35.01", "75", "1.25").
    pub fn parse(s: &str) -> Option<Conc> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || frac.len() > 9
            || int.len() > 9
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let digits = format!("{int}{frac}");
        Some(Conc {
            m: digits.parse().ok()?,
            scale: frac.len() as u32,
        })
    }

    /// The decimal a float prints as (shortest round-trip form), exactly.
    pub fn from_f64(x: f64) -> Option<Conc> {
        if !x.is_finite() || x < 0.0 {
            return None;
        }
        Conc::parse(&format!("{x}"))
    }

    /// Round half to even (GB/T 8170) to `decimals` places.
    pub fn round(self, decimals: u32) -> Conc {
        if self.scale <= decimals {
            return Conc {
                m: self.m * 10i64.pow(decimals - self.scale),
                scale: decimals,
            };
        }
        let div = 10i64.pow(self.scale - decimals);
        let (q, r) = (self.m / div, self.m % div);
        let up = match (2 * r).cmp(&div) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => q % 2 == 1,
        };
        Conc {
            m: q + i64::from(up),
            scale: decimals,
        }
    }

    pub fn to_f64(self) -> f64 {
        self.m as f64 / 10f64.powi(self.scale as i32)
    }
}

/// Round a mean concentration for reporting and IAQI (GB/T 8170 on its decimal value).
pub fn round_conc(item: Item, x: f64) -> Option<Conc> {
    // Means come from float sums: snap to 6 decimals first so that 0.85 is a tie, not 0.8499….
    let snapped = Conc::from_f64((x * 1e6).round() / 1e6)?;
    Some(snapped.round(item.decimals()))
}

/// What happens above the end of a short column (DOMAIN.md §1.2 notes b and c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iaqi {
    Value(i64),
    /// 2012: report the IAQI of the other indicator (SO2 24 h for SO2 1 h, O3 1 h for O3 8 h).
    UseOther,
}

/// IAQI of one indicator (rounded up), given an exact concentration.
pub fn iaqi(item: Item, basis: Basis, ed: Edition, c: Conc) -> Iaqi {
    let bp = column(item, basis, ed);
    let pow = 10i64.pow(c.scale);
    // C exactly on or below the last node: interpolate in the bracket.
    for i in 1..bp.len() {
        if c.m <= bp[i] * pow {
            let (lo, hi) = (bp[i - 1], bp[i]);
            let (il, ih) = (LEVELS[i - 1], LEVELS[i]);
            let num = i128::from(ih - il) * i128::from(c.m - lo * pow);
            let den = i128::from(hi - lo) * i128::from(pow);
            let ceil = (num + den - 1).div_euclid(den);
            return Iaqi::Value(il + ceil as i64);
        }
    }
    match (bp.len(), ed) {
        (8, _) => Iaqi::Value(500),
        (_, Edition::Hj633_2012) => Iaqi::UseOther,
        // 2026: SO2 1 h above 800 → 200; O3 8 h above 800 → 300.
        (n, Edition::Hj633_2026) => Iaqi::Value(LEVELS[n - 1]),
    }
}

/// AQI category 1–6 (DOMAIN.md §1.4).
pub const fn category(aqi: i64) -> u8 {
    match aqi {
        ..=50 => 1,
        51..=100 => 2,
        101..=150 => 3,
        151..=200 => 4,
        201..=300 => 5,
        _ => 6,
    }
}

pub const fn category_zh(cat: u8) -> &'static str {
    match cat {
        1 => "优",
        2 => "良",
        3 => "轻度污染",
        4 => "中度污染",
        5 => "重度污染",
        _ => "严重污染",
    }
}

pub const fn category_en(cat: u8) -> &'static str {
    match cat {
        1 => "excellent",
        2 => "good",
        3 => "lightly polluted",
        4 => "moderately polluted",
        5 => "heavily polluted",
        _ => "severely polluted",
    }
}

/// Inputs of one AQI: concentrations of the indicators present (µg/m³, CO mg/m³).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Inputs {
    pub pm2_5: Option<f64>,
    pub pm10: Option<f64>,
    pub so2: Option<f64>,
    pub no2: Option<f64>,
    pub co: Option<f64>,
    pub o3_1h: Option<f64>,
    pub o3_8h: Option<f64>,
}

impl Inputs {
    pub fn get(&self, item: Item) -> Option<f64> {
        match item {
            Item::Pm2_5 => self.pm2_5,
            Item::Pm10 => self.pm10,
            Item::So2 => self.so2,
            Item::No2 => self.no2,
            Item::Co => self.co,
            Item::O3_1h => self.o3_1h,
            Item::O3_8h => self.o3_8h,
        }
    }
    pub fn set(&mut self, item: Item, v: Option<f64>) {
        let slot = match item {
            Item::Pm2_5 => &mut self.pm2_5,
            Item::Pm10 => &mut self.pm10,
            Item::So2 => &mut self.so2,
            Item::No2 => &mut self.no2,
            Item::Co => &mut self.co,
            Item::O3_1h => &mut self.o3_1h,
            Item::O3_8h => &mut self.o3_8h,
        };
        *slot = v;
    }
}

/// Which report an AQI is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Daily report: 24-h means, O3 daily max 1-h (when `o3_1h` is on) and max 8-h.
    Daily { o3_1h: bool },
    /// Real-time (hourly) report: 1-h means (particles against the 24-h column), O3 8-h moving.
    Hourly,
}

/// Result of one AQI computation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Aqi {
    #[serde(deserialize_with = "names::one")]
    pub standard: names::Name,
    /// `None` (NA) when a pollutant is missing and the available ones give AQI ≤ 100.
    pub aqi: Option<i64>,
    /// The highest IAQI of the indicators given, whether or not the AQI is NA.
    pub max_iaqi: Option<i64>,
    pub category: Option<u8>,
    #[serde(deserialize_with = "names::option")]
    pub category_zh: Option<names::Name>,
    #[serde(deserialize_with = "names::option")]
    pub category_en: Option<names::Name>,
    /// Indicators with the highest IAQI when AQI > 50 (all of them on a tie).
    #[serde(deserialize_with = "names::list")]
    pub primary: Vec<names::Name>,
    /// Indicators with IAQI > 100.
    #[serde(deserialize_with = "names::list")]
    pub exceeding: Vec<names::Name>,
    #[serde(deserialize_with = "names::map")]
    pub iaqi: std::collections::BTreeMap<names::Name, i64>,
    /// The rounded concentrations the IAQIs were computed from.
    #[serde(deserialize_with = "names::map")]
    pub concentrations: std::collections::BTreeMap<names::Name, f64>,
    /// Pollutants (of the six) with no value.
    #[serde(deserialize_with = "names::list")]
    pub missing: Vec<names::Name>,
    /// The published AQI is NA: pollutants are missing and the others give AQI ≤ 100.
    pub na: bool,
}

/// AQI from the indicators present. `round` applies GB/T 8170 concentration rounding first.
pub fn compute(ed: Edition, report: Report, input: &Inputs, round: bool) -> Aqi {
    compute_with(ed, report, input, round, true)
}

/// As [`compute`]; without `na_rule` the AQI is the highest IAQI given even when pollutants
/// are missing (`na` still says whether the published figure would be NA).
pub fn compute_with(
    ed: Edition,
    report: Report,
    input: &Inputs,
    round: bool,
    na_rule: bool,
) -> Aqi {
    let items: &[Item] = match report {
        Report::Daily { o3_1h: true } | Report::Hourly => &Item::ALL,
        Report::Daily { o3_1h: false } => &Item::ALL[..5],
    };
    let items: Vec<Item> = items
        .iter()
        .copied()
        .chain(matches!(report, Report::Daily { o3_1h: false }).then_some(Item::O3_8h))
        .collect();
    let mut conc = std::collections::BTreeMap::new();
    let mut exact = Vec::new();
    for &item in &items {
        let Some(x) = input.get(item) else { continue };
        let c = if round {
            round_conc(item, x)
        } else {
            Conc::from_f64(x)
        };
        if let Some(c) = c {
            conc.insert(item.key(), c.to_f64());
            exact.push((item, c));
        }
    }
    let basis = |item: Item| match (report, item) {
        (Report::Hourly, Item::So2 | Item::No2 | Item::Co) => Basis::Hour,
        _ => Basis::Day,
    };
    let mut values: Vec<(Item, i64)> = Vec::new();
    let mut deferred = Vec::new();
    for &(item, c) in &exact {
        match iaqi(item, basis(item), ed, c) {
            Iaqi::Value(v) => values.push((item, v)),
            Iaqi::UseOther => deferred.push(item),
        }
    }
    for item in deferred {
        // 2012 notes: SO2 1 h > 800 → the SO2 24-h IAQI; O3 8 h > 800 → the O3 1-h IAQI.
        let other = match item {
            Item::O3_8h => Some((Item::O3_1h, Basis::Day)),
            _ => None,
        };
        let v = other.and_then(|(o, b)| {
            let c = exact.iter().find(|(i, _)| *i == o)?.1;
            match iaqi(o, b, ed, c) {
                Iaqi::Value(v) => Some(v),
                Iaqi::UseOther => None,
            }
        });
        if let Some(v) = v {
            values.push((item, v));
        }
    }
    let mut out = Aqi {
        standard: ed.as_str(),
        aqi: None,
        max_iaqi: None,
        category: None,
        category_zh: None,
        category_en: None,
        primary: Vec::new(),
        exceeding: Vec::new(),
        iaqi: values.iter().map(|(i, v)| (i.key(), *v)).collect(),
        concentrations: conc,
        missing: Vec::new(),
        na: false,
    };
    for p in ["pm2_5", "pm10", "so2", "no2", "co", "o3"] {
        if !values.iter().any(|(i, _)| i.pollutant() == p) {
            out.missing.push(p);
        }
    }
    let Some(max) = values.iter().map(|(_, v)| *v).max() else {
        return out;
    };
    out.max_iaqi = Some(max);
    if !out.missing.is_empty() && max <= 100 {
        // NA: the missing pollutant could decide the figure (HJ 633—2026 §5.3.1).
        out.na = true;
        if na_rule {
            return out;
        }
    }
    out.aqi = Some(max);
    let cat = category(max);
    out.category = Some(cat);
    out.category_zh = Some(category_zh(cat));
    out.category_en = Some(category_en(cat));
    if max > 50 {
        out.primary = values
            .iter()
            .filter(|(_, v)| *v == max)
            .map(|(i, _)| i.key())
            .collect();
    }
    out.exceeding = values
        .iter()
        .filter(|(_, v)| *v > 100)
        .map(|(i, _)| i.key())
        .collect();
    out
}

#[cfg(test)]
mod tests;
