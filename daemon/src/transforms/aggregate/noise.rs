//! Per noise point: hourly energy sums → hourly Leq → Ld / Ln of a point-day (GB 3096-2008,
//! HJ 640-2012).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::standards::{NightStartsOn, NoiseConfig};
use crate::config::ZoneClass;
use crate::standards::noise::{self, Period};

/// One local hour of one point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Hour {
    /// Σ period·10^(L/10) and Σ period (energy mean weighted by period length).
    pub energy: f64,
    pub weight: f64,
    pub lmax: Option<f64>,
    /// Seconds covered by readings (for the hour's validity).
    pub covered_s: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Acc {
    pub hours: BTreeMap<i64, Hour>,
}

impl Acc {
    pub fn add(&mut self, hour: i64, period_s: u32, laeq: f64, lamax: Option<f64>) {
        let h = self.hours.entry(hour).or_default();
        let w = f64::from(period_s);
        h.energy += w * 10f64.powf(laeq / 10.0);
        h.weight += w;
        h.lmax = match (h.lmax, lamax) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        h.covered_s = h.covered_s.saturating_add(period_s);
    }

    /// Leq of the valid hours in `[from, from + n)`.
    pub fn valid_hours(&self, from: i64, n: i64, min_covered_s: u32) -> Vec<f64> {
        self.hours
            .range(from..from + n)
            .filter(|(_, h)| h.covered_s >= min_covered_s && h.weight > 0.0)
            .map(|(_, h)| 10.0 * (h.energy / h.weight).log10())
            .collect()
    }

    /// The highest Lmax recorded in `[from, from + n)`, in any hour, valid or not.
    pub fn lmax(&self, from: i64, n: i64) -> Option<f64> {
        self.hours
            .range(from..from + n)
            .filter_map(|(_, h)| h.lmax)
            .reduce(f64::max)
    }

    pub fn prune(&mut self, before_hour: i64) {
        self.hours = self.hours.split_off(&before_hour);
    }
}

/// First local hour of day `d`'s day and night periods.
pub fn periods(d: i64, day_start_hour: u8, night: NightStartsOn) -> (i64, i64) {
    let ds = i64::from(day_start_hour);
    let n = (ds + 16) % 24;
    let night_day = match night {
        NightStartsOn::SameDay => d,
        NightStartsOn::PreviousDay => d - 1,
    };
    (d * 24 + ds, night_day * 24 + n)
}

/// The day whose day or night period holds local hour `h`.
pub fn day_of_hour(h: i64, day_start_hour: u8, night: NightStartsOn) -> i64 {
    let ds = i64::from(day_start_hour);
    let since_day_start = (h - ds).rem_euclid(24);
    if since_day_start < 16 {
        return (h - since_day_start).div_euclid(24);
    }
    let n = (ds + 16) % 24;
    let night_start = h - (h - n).rem_euclid(24);
    night_start.div_euclid(24)
        + match night {
            NightStartsOn::SameDay => 0,
            NightStartsOn::PreviousDay => 1,
        }
}

/// Ld and Ln of one point-day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PointDay {
    pub day: Period,
    pub night: Period,
    /// Ldn when both periods are valid.
    pub ldn: Option<f64>,
}

pub fn point_day(
    acc: &Acc,
    d: i64,
    (day_start_hour, night): (u8, NightStartsOn),
    cfg: &NoiseConfig,
    class: ZoneClass,
) -> PointDay {
    let (day_from, night_from) = periods(d, day_start_hour, night);
    let min_s = u32::from(cfg.hour_min_coverage_pct) * 36;
    let (day_limit, night_limit) = noise::limits(class);
    let day = noise::assess(
        &acc.valid_hours(day_from, 16, min_s),
        acc.lmax(day_from, 16),
        cfg.day_min_hours,
        day_limit,
        None,
    );
    let night = noise::assess(
        &acc.valid_hours(night_from, 8, min_s),
        acc.lmax(night_from, 8),
        cfg.night_min_hours,
        night_limit,
        Some(cfg.lmax_margin_db),
    );
    let ldn = match (day.valid, night.valid, day.leq, night.leq) {
        (true, true, Some(ld), Some(ln)) => Some(noise::round_db(noise::ldn(ld, ln))),
        _ => None,
    };
    PointDay { day, night, ldn }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_map_to_their_day_and_night() {
        use NightStartsOn::*;
        let d = 100;
        // Default: day 06–22 of D, night 22:00 D → 06:00 D+1.
        assert_eq!(periods(d, 6, SameDay), (d * 24 + 6, d * 24 + 22));
        assert_eq!(day_of_hour(d * 24 + 6, 6, SameDay), d);
        assert_eq!(day_of_hour(d * 24 + 23, 6, SameDay), d);
        assert_eq!(
            day_of_hour((d + 1) * 24 + 5, 6, SameDay),
            d,
            "05:00 next morning"
        );
        assert_eq!(day_of_hour(d * 24 + 5, 6, SameDay), d - 1);
        // Night attributed to the day it ends on.
        assert_eq!(periods(d, 6, PreviousDay), (d * 24 + 6, (d - 1) * 24 + 22));
        assert_eq!(day_of_hour(d * 24 + 5, 6, PreviousDay), d);
        assert_eq!(day_of_hour(d * 24 + 23, 6, PreviousDay), d + 1);
        // 巴音郭楞: night 00:00–08:00, day 08:00–24:00.
        assert_eq!(periods(d, 8, SameDay), (d * 24 + 8, d * 24));
        assert_eq!(day_of_hour(d * 24 + 7, 8, SameDay), d);
        assert_eq!(day_of_hour(d * 24 + 23, 8, SameDay), d);
    }

    #[test]
    fn hourly_leq_is_an_energy_mean() {
        let mut acc = Acc::default();
        for m in 0..60 {
            acc.add(10, 60, if m < 30 { 50.0 } else { 60.0 }, Some(70.0));
        }
        let h = acc.valid_hours(10, 1, 2700);
        // 10·lg((10^5 + 10^6)/2) = 57.40 dB, not the arithmetic 55.
        assert_eq!(noise::round_db(h[0]), 57.4);
        assert_eq!(acc.lmax(10, 1), Some(70.0));
        let mut sparse = Acc::default();
        sparse.add(11, 60, 50.0, None);
        assert!(
            sparse.valid_hours(11, 1, 2700).is_empty(),
            "1 of 60 minutes"
        );
    }
}
