//! Per air station: hourly sums → valid hourly means → daily values and AQI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::standards::air::{self, Hours, Pollutant, Rules};
use crate::standards::aqi::{self, Aqi, Edition, Inputs, Report};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Hour {
    /// Σ period·value and Σ period per pollutant.
    pub sum: [f64; 6],
    pub secs: [u32; 6],
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Acc {
    pub hours: BTreeMap<i64, Hour>,
}

impl Acc {
    pub fn add(&mut self, hour: i64, period_s: u32, values: &[Option<f64>; 6]) {
        let h = self.hours.entry(hour).or_default();
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                h.sum[i] += f64::from(period_s) * *v;
                h.secs[i] = h.secs[i].saturating_add(period_s);
            }
        }
    }

    /// Valid hourly means of local hour `h`.
    pub fn hour(&self, h: i64, rules: &Rules) -> [Option<f64>; 6] {
        let min = rules.hour_min_minutes * 60;
        let Some(x) = self.hours.get(&h) else {
            return [None; 6];
        };
        std::array::from_fn(|i| {
            (x.secs[i] >= min && x.secs[i] > 0).then(|| x.sum[i] / f64::from(x.secs[i]))
        })
    }

    /// Hourly means for day `d` and the day before, as [`air::daily`] takes them.
    pub fn hours_for_day(&self, d: i64, rules: &Rules) -> Hours {
        let hours: Vec<[Option<f64>; 6]> = (0..48)
            .map(|i| self.hour((d - 1) * 24 + i, rules))
            .collect();
        std::array::from_fn(|p| std::array::from_fn(|i| hours[i][p]))
    }

    pub fn prune(&mut self, before_hour: i64) {
        self.hours = self.hours.split_off(&before_hour);
    }
}

/// The daily-report AQI of `inputs` under `ed`.
pub fn daily_aqi(ed: Edition, inputs: &Inputs, cfg: &crate::config::standards::AirConfig) -> Aqi {
    let o3_1h = match ed {
        Edition::Hj633_2012 => cfg.daily_o3_1h_2012,
        Edition::Hj633_2026 => cfg.daily_o3_1h_2026,
    };
    aqi::compute(
        ed,
        Report::Daily { o3_1h },
        inputs,
        cfg.round_concentrations,
    )
}

/// One valid hour's means and real-time AQI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourRow {
    pub hour_start: i64,
    pub means: [Option<f64>; 6],
    pub o3_8h: Option<f64>,
    pub aqi: Option<i64>,
}

/// Real-time report rows for the hours of day `d` with any valid mean.
pub fn hourly_rows(
    hours: &Hours,
    ed: Edition,
    rules: &Rules,
    round: bool,
    hour_start: impl Fn(usize) -> i64,
) -> Vec<HourRow> {
    (24..48)
        .filter_map(|i| {
            let means: [Option<f64>; 6] = std::array::from_fn(|p| hours[p][i]);
            if means.iter().all(Option::is_none) {
                return None;
            }
            let o3_8h = air::o3_8h(&hours[Pollutant::O3 as usize], i, rules.o3_8h_min_hours);
            let input = Inputs {
                pm2_5: means[Pollutant::Pm2_5 as usize],
                pm10: means[Pollutant::Pm10 as usize],
                so2: means[Pollutant::So2 as usize],
                no2: means[Pollutant::No2 as usize],
                co: means[Pollutant::Co as usize],
                o3_1h: means[Pollutant::O3 as usize],
                o3_8h,
            };
            let a = aqi::compute(ed, Report::Hourly, &input, round);
            Some(HourRow {
                hour_start: hour_start(i - 24),
                means,
                o3_8h,
                aqi: a.aqi,
            })
        })
        .collect()
}
