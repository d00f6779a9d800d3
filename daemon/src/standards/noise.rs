//! GB 3096-2008 (acoustic environment quality) limits and energy averaging of sound levels.

use super::classes::ZoneClass;

/// Day and night LAeq limits in dB(A) per functional-zone class (GB 3096-2008 Table 1).
pub const fn limits(class: ZoneClass) -> (f64, f64) {
    match class {
        ZoneClass::C0 => (50.0, 40.0),
        ZoneClass::C1 => (55.0, 45.0),
        ZoneClass::C2 => (60.0, 50.0),
        ZoneClass::C3 => (65.0, 55.0),
        ZoneClass::C4a => (70.0, 55.0),
        ZoneClass::C4b => (70.0, 60.0),
    }
}

/// Energy average of levels: 10·lg((1/N)·Σ 10^(L/10)). `None` for no levels.
/// Never the arithmetic mean of decibels.
pub fn energy_mean(levels: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for l in levels {
        sum += 10f64.powf(l / 10.0);
        n += 1;
    }
    (n > 0).then(|| 10.0 * (sum / n as f64).log10())
}

/// Energy average with weights (e.g. each reading's period in seconds).
pub fn weighted_energy_mean(levels: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (mut sum, mut w) = (0.0f64, 0.0f64);
    for (l, weight) in levels {
        sum += weight * 10f64.powf(l / 10.0);
        w += weight;
    }
    (w > 0.0).then(|| 10.0 * (sum / w).log10())
}

/// Round a level to 0.1 dB, the precision it is reported and judged at.
pub fn round_db(l: f64) -> f64 {
    crate::standards::ratio::round_half_even(l, 1)
}

/// Day-night level: Ldn = 10·lg((16·10^(Ld/10) + 8·10^((Ln+10)/10))/24).
pub fn ldn(ld: f64, ln: f64) -> f64 {
    10.0 * ((16.0 * 10f64.powf(ld / 10.0) + 8.0 * 10f64.powf((ln + 10.0) / 10.0)) / 24.0).log10()
}

/// One point's day or night period (GB 3096-2008 §5.1, §5.4).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Period {
    /// Ld or Ln: energy mean of the valid hours' Leq, rounded to 0.1 dB.
    pub leq: Option<f64>,
    /// Highest Lmax recorded in the period, in any hour (an hour's coverage decides whether
    /// its Leq counts, not whether a measured maximum happened).
    pub lmax: Option<f64>,
    pub limit: f64,
    pub valid_hours: u32,
    /// Enough valid hours for the period to count.
    pub valid: bool,
    /// Leq ≤ limit (only when valid).
    pub ok: Option<bool>,
    /// Night only: Lmax ≤ limit + margin (burst noise, GB 3096-2008 §5.4). `false` as soon as
    /// a recorded maximum exceeds it, whatever the coverage; `true` only for a valid period.
    pub lmax_ok: Option<bool>,
}

/// Assess a period from its valid hours' Leq and the highest Lmax recorded in it.
pub fn assess(
    hours: &[f64],
    lmax: Option<f64>,
    min_hours: u32,
    limit: f64,
    lmax_margin_db: Option<f64>,
) -> Period {
    let valid_hours = hours.len() as u32;
    let valid = valid_hours >= min_hours.max(1);
    let leq = energy_mean(hours.iter().copied()).map(round_db);
    Period {
        leq,
        lmax,
        limit,
        valid_hours,
        valid,
        ok: leq.filter(|_| valid).map(|l| l <= limit),
        lmax_ok: match (lmax_margin_db, lmax) {
            (Some(m), Some(x)) if round_db(x) > limit + m => Some(false),
            (Some(_), Some(_)) if valid => Some(true),
            _ => None,
        },
    }
}

/// Whether a local hour (0–23) is in the night period starting at `night_start` and lasting
/// eight hours (GB 3096-2008 §3.4 default: 22:00–06:00).
pub const fn is_night(hour: u32, night_start: u32) -> bool {
    (hour + 24 - night_start) % 24 < 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_mean_worked_example() {
        // DOMAIN.md §4.1: 15 h at 50 dB + 1 h at 70 dB → Ld = 58.6 dB.
        let ld = energy_mean(std::iter::repeat_n(50.0, 15).chain([70.0])).unwrap();
        assert_eq!((ld * 10.0).round() / 10.0, 58.6);
        assert_eq!(energy_mean([60.0, 60.0]).unwrap(), 60.0);
        assert_eq!(energy_mean([]), None);
    }

    #[test]
    fn period_validity_and_limits() {
        let hours: Vec<f64> = std::iter::repeat_n(50.0, 15).chain([70.0]).collect();
        let p = assess(&hours, Some(82.0), 12, 60.0, None);
        assert_eq!(p.leq, Some(58.6));
        assert_eq!((p.valid, p.ok, p.lmax), (true, Some(true), Some(82.0)));
        // Class 1 night: 45 dB limit, Lmax 60 allowed (45 + 15), 60.1 is not.
        let p = assess(&[44.0; 6], Some(60.0), 6, 45.0, Some(15.0));
        assert_eq!((p.ok, p.lmax_ok), (Some(true), Some(true)));
        let p = assess(&[44.0; 6], Some(60.1), 6, 45.0, Some(15.0));
        assert_eq!(p.lmax_ok, Some(false));
        // Exactly at the limit is compliant; 0.05 above rounds to 45.0 (judged at 0.1 dB)…
        assert_eq!(assess(&[45.0; 6], None, 6, 45.0, None).ok, Some(true));
        // …too few hours make the period invalid: no Leq verdict, and no "within" for Lmax…
        let p = assess(&[40.0; 5], Some(55.0), 6, 45.0, Some(15.0));
        assert_eq!((p.valid, p.ok, p.lmax_ok), (false, None, None));
        // …but a recorded maximum over the limit is an exceedance whatever the coverage.
        let p = assess(&[40.0; 5], Some(90.0), 6, 45.0, Some(15.0));
        assert_eq!((p.valid, p.ok, p.lmax_ok), (false, None, Some(false)));
    }

    #[test]
    fn weighted_mean_and_ldn() {
        // 1 h at 60 and 3 h at 50 (weights) = 10·lg((10^6 + 3·10^5)/4) = 55.12 dB.
        let l = weighted_energy_mean([(60.0, 3600.0), (50.0, 10800.0)]).unwrap();
        assert_eq!(round_db(l), 55.1);
        // Ld = Ln = 50 → Ldn = 10·lg((16·10^5 + 8·10^6)/24) = 56.0 dB.
        assert_eq!(round_db(ldn(50.0, 50.0)), 56.0);
    }

    #[test]
    fn night_crosses_midnight() {
        assert!(is_night(22, 22) && is_night(0, 22) && is_night(5, 22));
        assert!(!is_night(6, 22) && !is_night(21, 22));
        assert!(is_night(0, 0) && is_night(7, 0) && !is_night(8, 0));
    }

    #[test]
    fn class_limits() {
        assert_eq!(limits(ZoneClass::C1), (55.0, 45.0));
        assert_eq!(limits(ZoneClass::C4b), (70.0, 60.0));
    }
}
