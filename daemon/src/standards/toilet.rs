//! Public toilets: opening hours, stall availability, entry counts, odour limits
//! (GB/T 17217-1998 defaults, DOMAIN.md §6) and siting (density, distance to the nearest one).

use serde::{Deserialize, Serialize};

use super::lighting::parse_hhmm;
use super::ratio::at_most;

/// Opening hours as minutes after local midnight, `open` < `close`, or crossing midnight when
/// `close` ≤ `open` ("18:00-02:00"); "00:00-24:00" is always open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OpeningHours {
    pub open_min: u32,
    pub close_min: u32,
}

impl OpeningHours {
    pub const ALWAYS: OpeningHours = OpeningHours {
        open_min: 0,
        close_min: 1440,
    };

    /// Parse "HH:MM-HH:MM".
    pub fn parse(s: &str) -> Option<OpeningHours> {
        let (a, b) = s.split_once('-')?;
        let (open_min, close_min) = (parse_hhmm(a)?, parse_hhmm(b)?);
        (open_min < 1440 && open_min != close_min).then_some(OpeningHours {
            open_min,
            close_min,
        })
    }

    /// Open intervals of the local day starting at `midnight`, as unix `[a, b)` pairs.
    pub fn intervals(&self, midnight: i64) -> Vec<(i64, i64)> {
        let m = |min: u32| midnight + i64::from(min) * 60;
        if self.close_min > self.open_min {
            vec![(m(self.open_min), m(self.close_min))]
        } else {
            vec![(midnight, m(self.close_min)), (m(self.open_min), m(1440))]
        }
    }

    /// Open at local minute `minute` of the day (0–1439).
    pub fn is_open_at(&self, minute: u32) -> bool {
        if self.close_min > self.open_min {
            (self.open_min..self.close_min).contains(&minute)
        } else {
            minute >= self.open_min || minute < self.close_min
        }
    }

    /// Minutes open per day.
    pub fn minutes(&self) -> u32 {
        (self.close_min + 1440 - self.open_min) % 1440
            + if self.close_min == 1440 && self.open_min == 0 {
                1440
            } else {
                0
            }
    }
}

/// Seconds of `[t0, t1)` inside the open intervals.
pub fn open_secs(t0: i64, t1: i64, open: &[(i64, i64)]) -> i64 {
    open.iter()
        .map(|&(a, b)| super::lighting::overlap(t0, t1, a, b))
        .sum()
}

/// People counted between two readings of a cumulative counter; a smaller value means the
/// counter restarted from zero, so all of the new value counts.
pub const fn entries_between(prev: u32, cur: u32) -> u32 {
    if cur >= prev {
        cur - prev
    } else {
        cur
    }
}

/// NH3 and H2S limits (mg/m³) for toilet classes 1, 2, 3.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OdourLimits {
    pub nh3_mg_m3: [f64; 3],
    pub h2s_mg_m3: [f64; 3],
}

impl Default for OdourLimits {
    /// GB/T 17217-1998 Table (水冲式): NH3 0.3 / 1 / 3, H2S 0.01 mg/m³.
    fn default() -> OdourLimits {
        OdourLimits {
            nh3_mg_m3: [0.3, 1.0, 3.0],
            h2s_mg_m3: [0.01, 0.01, 0.01],
        }
    }
}

impl OdourLimits {
    /// Whether an hour's means are within the limits of `class` (1–3); `None` with no data.
    pub fn ok(&self, class: usize, nh3: Option<f64>, h2s: Option<f64>) -> Option<bool> {
        let i = class.clamp(1, 3) - 1;
        match (nh3, h2s) {
            (None, None) => None,
            _ => Some(
                nh3.is_none_or(|v| at_most(v, self.nh3_mg_m3[i]))
                    && h2s.is_none_or(|v| at_most(v, self.h2s_mg_m3[i])),
            ),
        }
    }
}

/// Great-circle distance in metres (haversine, mean Earth radius 6,371,008.8 m).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let r = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * a.sqrt().asin()
}

/// Distance from `point` to the nearest of `toilets` (lat, lon), if any.
pub fn nearest_m(point: (f64, f64), toilets: &[(f64, f64)]) -> Option<f64> {
    toilets
        .iter()
        .map(|t| distance_m(point.0, point.1, t.0, t.1))
        .reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_hours() {
        let h = OpeningHours::parse("06:00-22:00").unwrap();
        assert_eq!(h.minutes(), 960);
        assert_eq!(h.intervals(0), vec![(6 * 3600, 22 * 3600)]);
        let night = OpeningHours::parse("18:00-02:00").unwrap();
        assert_eq!(night.minutes(), 480);
        assert_eq!(night.intervals(0), vec![(0, 7200), (18 * 3600, 86400)]);
        assert_eq!(OpeningHours::parse("00:00-24:00").unwrap().minutes(), 1440);
        assert_eq!(OpeningHours::parse("08:00-08:00"), None);
        assert_eq!(open_secs(5 * 3600, 7 * 3600, &h.intervals(0)), 3600);
    }

    #[test]
    fn counter_resets() {
        assert_eq!(entries_between(100, 130), 30);
        assert_eq!(entries_between(4_000_000_000, 12), 12);
    }

    #[test]
    fn odour_limits_per_class() {
        let l = OdourLimits::default();
        assert_eq!(l.ok(1, Some(0.3), Some(0.01)), Some(true));
        assert_eq!(l.ok(1, Some(0.31), None), Some(false));
        assert_eq!(l.ok(3, Some(2.9), Some(0.005)), Some(true));
        assert_eq!(l.ok(2, None, Some(0.02)), Some(false));
        assert_eq!(l.ok(2, None, None), None);
    }

    #[test]
    fn distances() {
        // One degree of latitude ≈ 111.2 km.
        let d = distance_m(30.0, 110.0, 31.0, 110.0);
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        let near = nearest_m((30.0, 110.0), &[(30.0, 110.005), (30.01, 110.0)]).unwrap();
        assert!((near - 481.6).abs() < 1.0, "{near}");
        assert_eq!(nearest_m((0.0, 0.0), &[]), None);
    }
}
