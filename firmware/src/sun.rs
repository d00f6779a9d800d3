//! Sunrise and sunset (the "sunrise equation", NOAA/Meeus approximations, about ±1 min below
//! 60° latitude): the streetlight controller's astronomical clock, so lamps keep their
//! schedule when the gateway is unreachable. The daemon computes its lighting schedule with
//! the same code.

use libm::{acos, asin, cos, floor, round, sin};

/// `x` modulo 360 in [0, 360) (`f64::rem_euclid` is not in `core`).
fn wrap360(x: f64) -> f64 {
    x - 360.0 * floor(x / 360.0)
}

/// Sun events of one civil date at a place, as unix seconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunDay {
    RiseSet {
        sunrise: i64,
        sunset: i64,
    },
    /// The Sun stays above the horizon all day (polar day).
    AlwaysUp,
    /// The Sun stays below the horizon all day (polar night).
    AlwaysDown,
}

const J2000: f64 = 2_451_545.0;
const UNIX_EPOCH_JD: f64 = 2_440_587.5;

/// Sunrise and sunset for the date `days_since_2000` (days since 2000-01-01) at `lat`, `lon`
/// (degrees, east positive): the events around that date's local solar noon. Solar altitude
/// −0.833° (upper limb with standard refraction).
pub fn sun_day(days_since_2000: i64, lat: f64, lon: f64) -> SunDay {
    let rad = |d: f64| d * core::f64::consts::PI / 180.0;
    let deg = |r: f64| r * 180.0 / core::f64::consts::PI;
    let j_star = days_since_2000 as f64 - lon / 360.0;
    let m = wrap360(357.5291 + 0.985_600_28 * j_star);
    let c = 1.9148 * sin(rad(m)) + 0.0200 * sin(rad(2.0 * m)) + 0.0003 * sin(rad(3.0 * m));
    let lambda = wrap360(m + c + 180.0 + 102.9372);
    let transit = J2000 + j_star + 0.0053 * sin(rad(m)) - 0.0069 * sin(rad(2.0 * lambda));
    let sin_d = sin(rad(lambda)) * sin(rad(23.4397));
    let cos_d = cos(asin(sin_d));
    let cos_w = (sin(rad(-0.833)) - sin(rad(lat)) * sin_d) / (cos(rad(lat)) * cos_d);
    if cos_w < -1.0 {
        return SunDay::AlwaysUp;
    }
    if cos_w > 1.0 {
        return SunDay::AlwaysDown;
    }
    let w = deg(acos(cos_w)) / 360.0;
    let unix = |jd: f64| round((jd - UNIX_EPOCH_JD) * 86_400.0) as i64;
    SunDay::RiseSet {
        sunrise: unix(transit - w),
        sunset: unix(transit + w),
    }
}

/// Days since 2000-01-01 of a civil date (H. Hinnant's algorithm).
pub const fn days_since_2000(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_summer_solstice() {
        // Published: sunrise 04:46, sunset 19:46 (UTC+8) on 2026-06-21 at 39.904 N 116.407 E.
        let SunDay::RiseSet { sunrise, sunset } =
            sun_day(days_since_2000(2026, 6, 21), 39.904, 116.407)
        else {
            panic!()
        };
        let local_min = |t: i64| ((t + 8 * 3600).rem_euclid(86_400)) / 60;
        assert!((local_min(sunrise) - (4 * 60 + 46)).abs() <= 2);
        assert!((local_min(sunset) - (19 * 60 + 46)).abs() <= 2);
        assert_eq!(days_since_2000(2000, 1, 1), 0);
        assert_eq!(days_since_2000(2026, 3, 1), 9556);
    }
}
