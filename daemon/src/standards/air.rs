//! GB 3095 / HJ 663 data validity and averaging: hourly means → 24-h means, O3 8-h moving
//! means and the O3 daily maximum 8-h mean, feeding the AQI of [`super::aqi`].

use serde::{Deserialize, Serialize};

use super::aqi::Inputs;

/// Pollutants in the order used by hourly arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pollutant {
    Pm2_5 = 0,
    Pm10 = 1,
    So2 = 2,
    No2 = 3,
    Co = 4,
    O3 = 5,
}

impl Pollutant {
    pub const ALL: [Pollutant; 6] = [
        Pollutant::Pm2_5,
        Pollutant::Pm10,
        Pollutant::So2,
        Pollutant::No2,
        Pollutant::Co,
        Pollutant::O3,
    ];
    pub const fn key(self) -> &'static str {
        match self {
            Pollutant::Pm2_5 => "pm2_5",
            Pollutant::Pm10 => "pm10",
            Pollutant::So2 => "so2",
            Pollutant::No2 => "no2",
            Pollutant::Co => "co",
            Pollutant::O3 => "o3",
        }
    }
}

/// Which 8-h windows make up the O3 daily maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum O3Windows {
    /// HJ 663-2013: the 17 windows ending 08:00 … 24:00 (hours 00–07 … 16–23 of the day).
    #[default]
    Ending08To24,
    /// The 24 windows ending 01:00 … 24:00 (the first ones reach into the previous day).
    All24,
}

/// Validity thresholds (GB 3095-2012 表4, HJ 663 §6), configurable.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Minutes of sampling for a valid hourly mean.
    pub hour_min_minutes: u32,
    /// Valid hourly means for a valid 24-h mean (and daily max 1-h O3).
    pub day_min_hours: u32,
    /// Valid hourly means in an 8-h window.
    pub o3_8h_min_hours: u32,
    /// Valid 8-h windows for a valid daily max 8-h O3 (fewer: valid only if above the limit).
    pub o3_day_min_windows: u32,
    pub o3_windows: O3Windows,
    /// O3 daily max 8-h limit used by the "valid only if exceeding" rule (二级: 160 µg/m³).
    pub o3_8h_limit_ug_m3: f64,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            hour_min_minutes: 45,
            day_min_hours: 20,
            o3_8h_min_hours: 6,
            o3_day_min_windows: 14,
            o3_windows: O3Windows::Ending08To24,
            o3_8h_limit_ug_m3: 160.0,
        }
    }
}

/// Mean of the valid values, if there are at least `min`.
pub fn mean_if(values: &[Option<f64>], min: u32) -> Option<f64> {
    let (sum, n) = values
        .iter()
        .flatten()
        .fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    (n >= min.max(1)).then(|| sum / f64::from(n))
}

/// 8-h moving mean of O3 for the window ending with hour `end` (hours `end-7 ..= end`).
pub fn o3_8h(o3: &[Option<f64>], end: usize, min_hours: u32) -> Option<f64> {
    let start = end.checked_sub(7)?;
    mean_if(o3.get(start..=end)?, min_hours)
}

/// O3 daily maximum 8-h mean from 48 hourly values (previous day 0–23, the day 24–47), and
/// how many valid windows it was taken over. Valid with enough windows, or when it exceeds the
/// limit anyway.
pub fn o3_daily_max_8h(o3: &[Option<f64>; 48], rules: &Rules) -> (Option<f64>, u32) {
    let first_end = match rules.o3_windows {
        O3Windows::Ending08To24 => 24 + 7,
        O3Windows::All24 => 24,
    };
    let windows: Vec<f64> = (first_end..48)
        .filter_map(|end| o3_8h(o3, end, rules.o3_8h_min_hours))
        .collect();
    let n = windows.len() as u32;
    let max = windows.into_iter().reduce(f64::max);
    let valid = max.filter(|m| {
        n >= rules.o3_day_min_windows || super::ratio::above(*m, rules.o3_8h_limit_ug_m3)
    });
    (valid, n)
}

/// Hourly means of the six pollutants for the previous day and the day (index = hour 0–47).
pub type Hours = [[Option<f64>; 48]; 6];

/// Daily values of one station: 24-h means, O3 max 1-h and max 8-h, with the counts behind them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Daily {
    pub inputs: Inputs,
    /// Valid hours of the day per pollutant (order of [`Pollutant::ALL`]).
    pub valid_hours: [u32; 6],
    pub o3_8h_windows: u32,
}

/// Daily values from hourly means (invalid items are `None`).
pub fn daily(hours: &Hours, rules: &Rules) -> Daily {
    let mut out = Daily::default();
    for p in Pollutant::ALL {
        let day = &hours[p as usize][24..];
        out.valid_hours[p as usize] = day.iter().flatten().count() as u32;
        let mean = mean_if(day, rules.day_min_hours);
        match p {
            Pollutant::Pm2_5 => out.inputs.pm2_5 = mean,
            Pollutant::Pm10 => out.inputs.pm10 = mean,
            Pollutant::So2 => out.inputs.so2 = mean,
            Pollutant::No2 => out.inputs.no2 = mean,
            Pollutant::Co => out.inputs.co = mean,
            Pollutant::O3 => {
                let n = day.iter().flatten().count() as u32;
                out.inputs.o3_1h = day
                    .iter()
                    .flatten()
                    .copied()
                    .reduce(f64::max)
                    .filter(|_| n >= rules.day_min_hours);
                let (max8, windows) = o3_daily_max_8h(&hours[p as usize], rules);
                out.inputs.o3_8h = max8;
                out.o3_8h_windows = windows;
            }
        }
    }
    out
}

/// Site (city) value: the arithmetic mean over stations of each valid item (HJ 663).
pub fn site_mean(stations: &[Inputs]) -> Inputs {
    let mut out = Inputs::default();
    for item in super::aqi::Item::ALL {
        let vals: Vec<Option<f64>> = stations.iter().map(|s| s.get(item)).collect();
        out.set(item, mean_if(&vals, 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o3_day(f: impl Fn(usize) -> Option<f64>) -> [Option<f64>; 48] {
        std::array::from_fn(f)
    }

    #[test]
    fn twenty_hours_make_a_day() {
        let mut h = [None; 24];
        for (i, slot) in h.iter_mut().enumerate().take(20) {
            *slot = Some(i as f64);
        }
        assert_eq!(mean_if(&h, 20), Some(9.5));
        h[0] = None;
        assert_eq!(mean_if(&h, 20), None);
    }

    #[test]
    fn o3_windows_need_six_hours() {
        let mut o3 = o3_day(|_| Some(100.0));
        assert_eq!(o3_8h(&o3, 31, 6), Some(100.0));
        o3[24] = None;
        o3[25] = None;
        assert_eq!(o3_8h(&o3, 31, 6), Some(100.0), "6 of 8 hours");
        o3[26] = None;
        assert_eq!(o3_8h(&o3, 31, 6), None, "5 of 8 hours");
    }

    #[test]
    fn o3_daily_max_needs_14_windows_unless_exceeding() {
        let rules = Rules::default();
        // Day hours 0–23 at 100, one peak hour 15 at 300: windows ending 15..22 include it.
        let o3 = o3_day(|i| Some(if i == 24 + 15 { 300.0 } else { 100.0 }));
        let (max, n) = o3_daily_max_8h(&o3, &rules);
        assert_eq!(n, 17);
        assert_eq!(max, Some(125.0)); // (7·100 + 300)/8
                                      // Only hours 12–23 of the day measured: windows ending 17..23 are valid (7 < 14).
        let sparse = o3_day(|i| (i >= 24 + 12).then_some(100.0));
        assert_eq!(o3_daily_max_8h(&sparse, &rules), (None, 7));
        let high = o3_day(|i| (i >= 24 + 12).then_some(170.0));
        assert_eq!(
            o3_daily_max_8h(&high, &rules),
            (Some(170.0), 7),
            "valid because it exceeds 160"
        );
    }

    #[test]
    fn all_24_windows_reach_into_the_previous_day() {
        let rules = Rules {
            o3_windows: O3Windows::All24,
            ..Rules::default()
        };
        // Previous evening at 200, the day at 100: the window ending 01:00 holds 7 h of 200.
        let o3 = o3_day(|i| Some(if i < 24 { 200.0 } else { 100.0 }));
        let (max, n) = o3_daily_max_8h(&o3, &rules);
        assert_eq!(n, 24);
        assert_eq!(max, Some(187.5));
        let (max13, n13) = o3_daily_max_8h(&o3, &Rules::default());
        assert_eq!((max13, n13), (Some(100.0), 17));
    }

    #[test]
    fn daily_values_and_site_mean() {
        let mut hours: Hours = [[None; 48]; 6];
        for p in Pollutant::ALL {
            for (h, v) in hours[p as usize].iter_mut().enumerate().skip(24) {
                *v = Some(if h % 2 == 0 { 30.0 } else { 50.0 });
            }
        }
        let d = daily(&hours, &Rules::default());
        assert_eq!(d.inputs.pm2_5, Some(40.0));
        assert_eq!(d.inputs.o3_1h, Some(50.0));
        assert_eq!(d.inputs.o3_8h, Some(40.0));
        assert_eq!(d.valid_hours, [24; 6]);
        let other = Inputs {
            pm2_5: Some(60.0),
            ..Inputs::default()
        };
        let site = site_mean(&[d.inputs, other]);
        assert_eq!(site.pm2_5, Some(50.0));
        assert_eq!(site.pm10, Some(40.0));
    }
}
