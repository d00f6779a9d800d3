//! Per toilet: open and available time per day, the entry counter, hourly odour sums.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::standards::toilet;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// Opening-hours seconds covered by readings.
    pub measured_open_s: i64,
    /// Of those, seconds open with at least one free stall.
    pub available_s: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OdourHour {
    /// Σ period·value and Σ period for NH3 and H2S.
    pub nh3: (f64, u32),
    pub h2s: (f64, u32),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Acc {
    pub days: BTreeMap<i64, Day>,
    /// Cumulative entry counter by reading time.
    pub counter: BTreeMap<i64, u32>,
    pub odour: BTreeMap<i64, OdourHour>,
}

impl Acc {
    pub fn add_availability(&mut self, day: i64, open_s: i64, free: bool) {
        let d = self.days.entry(day).or_default();
        d.measured_open_s += open_s;
        if free {
            d.available_s += open_s;
        }
    }

    pub fn add_odour(&mut self, hour: i64, period_s: u32, nh3: Option<f64>, h2s: Option<f64>) {
        if nh3.is_none() && h2s.is_none() {
            return;
        }
        let h = self.odour.entry(hour).or_default();
        if let Some(v) = nh3 {
            h.nh3.0 += f64::from(period_s) * v;
            h.nh3.1 += period_s;
        }
        if let Some(v) = h2s {
            h.h2s.0 += f64::from(period_s) * v;
            h.h2s.1 += period_s;
        }
    }

    /// People counted by readings in `[from, to)` (unix), from consecutive counter values.
    pub fn entries(&self, from: i64, to: i64) -> u64 {
        let mut prev = self.counter.range(..from).next_back().map(|(_, v)| *v);
        let mut total = 0u64;
        for (_, &v) in self.counter.range(from..to) {
            if let Some(p) = prev {
                total += u64::from(toilet::entries_between(p, v));
            }
            prev = Some(v);
        }
        total
    }

    /// (hours within limits, hours measured) for local hours `[from, from + n)`.
    pub fn odour_hours(
        &self,
        from: i64,
        n: i64,
        min_s: u32,
        check: impl Fn(Option<f64>, Option<f64>) -> Option<bool>,
    ) -> (u32, u32) {
        let mean = |(s, w): (f64, u32)| (w >= min_s && w > 0).then(|| s / f64::from(w));
        let mut ok = 0;
        let mut total = 0;
        for h in self.odour.range(from..from + n).map(|(_, h)| h) {
            if let Some(good) = check(mean(h.nh3), mean(h.h2s)) {
                total += 1;
                ok += u32::from(good);
            }
        }
        (ok, total)
    }

    /// Forget days before `day` (keeping the last counter value before it).
    pub fn prune(&mut self, before_day: i64, before_unix: i64, before_hour: i64) {
        self.days = self.days.split_off(&before_day);
        self.odour = self.odour.split_off(&before_hour);
        let last = self
            .counter
            .range(..before_unix)
            .next_back()
            .map(|(k, v)| (*k, *v));
        self.counter = self.counter.split_off(&before_unix);
        if let Some((k, v)) = last {
            self.counter.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_span_days_and_resets() {
        let mut a = Acc::default();
        for (t, v) in [(90, 1000), (100, 1010), (200, 1030), (300, 5), (400, 25)] {
            a.counter.insert(t, v);
        }
        // From 100: +10 (from the reading before), +20, reset to 5 (+5), +20.
        assert_eq!(a.entries(100, 500), 55);
        assert_eq!(a.entries(300, 500), 25);
        a.prune(0, 300, 0);
        assert_eq!(a.entries(300, 500), 25, "the value before the cut is kept");
    }
}
