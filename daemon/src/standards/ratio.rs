//! Compliance ratios: numerator / denominator, reported to 0.1 % with GB/T 8170 rounding.

use serde::{Deserialize, Serialize};

/// Round half to even at `decimals` places (GB/T 8170 "四舍六入五成双").
///
/// The decimal value of the float decides (17 significant digits are checked, so that 58.55
/// stored as 58.5499999… still counts as a tie).
pub fn round_half_even(x: f64, decimals: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(decimals);
    let y = x * scale;
    let floor = y.floor();
    let diff = y - floor;
    let tie = (diff - 0.5).abs() <= 1e-9 * y.abs().max(1.0);
    let r = if tie {
        if floor % 2.0 == 0.0 {
            floor
        } else {
            floor + 1.0
        }
    } else {
        y.round()
    };
    r / scale
}

/// `x ≤ limit` for a mean of decimal readings: a float sum may land a hair above a mean that
/// is exactly the limit (0.009 and 0.011 → 0.010000000000000002), so a difference within
/// 1e-9 of the limit counts as equal. Readings carry at most a few decimals; a true mean
/// that close to a limit without touching it does not occur.
pub fn at_most(x: f64, limit: f64) -> bool {
    x <= limit || x - limit <= 1e-9 * limit.abs().max(1e-9)
}

/// `x > limit` for a mean of decimal readings (the complement of [`at_most`]).
pub fn above(x: f64, limit: f64) -> bool {
    !at_most(x, limit)
}

/// Percent with one decimal, exact for whole-number counts (139/156 → 89.1).
pub fn percent_1dp(num: f64, den: f64) -> Option<f64> {
    if den <= 0.0 {
        return None;
    }
    if num.fract() == 0.0 && den.fract() == 0.0 && num.abs() < 1e15 && den < 1e15 {
        // Exact: per-mille quotient and remainder in integers.
        let (n, d) = (num as i128 * 1000, den as i128);
        let (q, r) = (n / d, n % d);
        let up = match (2 * r).cmp(&d) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => q % 2 == 1,
        };
        return Some((q + i128::from(up)) as f64 / 10.0);
    }
    Some(round_half_even(num / den * 100.0, 1))
}

/// One compliance figure: what it counts, over what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub numerator: f64,
    pub denominator: f64,
    /// Units observed but not valid (e.g. invalid air days), reported, never hidden.
    #[serde(default)]
    pub invalid: f64,
}

impl Ratio {
    pub fn new(numerator: f64, denominator: f64) -> Ratio {
        Ratio {
            numerator,
            denominator,
            invalid: 0.0,
        }
    }
    pub fn value(&self) -> Option<f64> {
        (self.denominator > 0.0).then(|| self.numerator / self.denominator)
    }
    pub fn percent(&self) -> Option<f64> {
        percent_1dp(self.numerator, self.denominator)
    }
    /// value ≥ target, decided on the exact fraction.
    pub fn meets(&self, target: f64) -> Option<bool> {
        (self.denominator > 0.0).then_some(self.numerator >= target * self.denominator - 1e-12)
    }
    pub fn add(&mut self, other: &Ratio) {
        self.numerator += other.numerator;
        self.denominator += other.denominator;
        self.invalid += other.invalid;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_checks_from_domain() {
        // Hunan Q4-2021: 139 of 156 night point-days → 89.1 %, 151 of 156 → 96.8 %.
        assert_eq!(percent_1dp(139.0, 156.0), Some(89.1));
        assert_eq!(percent_1dp(151.0, 156.0), Some(96.8));
        // Good-air days: 355/365 → 97.3 % (meets 97.2 %), 354/365 → 97.0 % (does not).
        assert_eq!(percent_1dp(355.0, 365.0), Some(97.3));
        assert_eq!(percent_1dp(354.0, 365.0), Some(97.0));
        assert_eq!(Ratio::new(355.0, 365.0).meets(0.972), Some(true));
        assert_eq!(Ratio::new(354.0, 365.0).meets(0.972), Some(false));
        assert_eq!(Ratio::new(0.0, 0.0).value(), None);
    }

    #[test]
    fn ties_round_to_even() {
        // 1/16 = 6.25 % → 6.2 %; 3/16 = 18.75 % → 18.8 %.
        assert_eq!(percent_1dp(1.0, 16.0), Some(6.2));
        assert_eq!(percent_1dp(3.0, 16.0), Some(18.8));
        // 1/80 = 1.25 % exactly → 1.2 % (the float path would see 1.2500000000000002).
        assert_eq!(percent_1dp(1.0, 80.0), Some(1.2));
        assert_eq!(round_half_even(58.55, 1), 58.6);
        assert_eq!(round_half_even(58.45, 1), 58.4);
        assert_eq!(round_half_even(58.46, 1), 58.5);
        assert_eq!(percent_1dp(98.0, 98.0), Some(100.0));
    }

    #[test]
    fn meets_at_exact_target() {
        assert_eq!(Ratio::new(85.0, 100.0).meets(0.85), Some(true));
        assert_eq!(Ratio::new(84.0, 100.0).meets(0.85), Some(false));
    }
}
