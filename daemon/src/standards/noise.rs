//! GB 3096-2008 (acoustic environment quality) limits and energy averaging of sound levels.

use crate::config::ZoneClass;

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
