//! Sunrise and sunset by the NOAA solar calculator's equations (Meeus, *Astronomical
//! Algorithms*: the Sun's apparent longitude, the obliquity with nutation, the equation of
//! time), with the Sun's position evaluated at the event itself (iterated from local solar
//! noon), not once for the day: within a few seconds of NOAA's calculator and of `astral`
//! from 18° N to 54° N in every month (tests/system/sun.rs). The streetlight controller's
//! astronomical clock, so lamps keep their schedule when the gateway is unreachable; the
//! daemon computes its lighting schedule with the same code.

use libm::{acos, asin, cos, floor, round, sin, tan};

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
/// The zenith distance of sunrise and sunset: the upper limb on the horizon with standard
/// refraction (90° + 16′ + 34′).
const ZENITH_DEG: f64 = 90.833;

fn rad(d: f64) -> f64 {
    d * core::f64::consts::PI / 180.0
}

fn deg(r: f64) -> f64 {
    r * 180.0 / core::f64::consts::PI
}

/// The Sun's declination (radians) and the equation of time (minutes) at Julian day `jd`.
fn position(jd: f64) -> (f64, f64) {
    let t = (jd - J2000) / 36_525.0;
    let l0 = wrap360(280.466_46 + t * (36_000.769_83 + t * 0.000_303_2));
    let m = 357.529_11 + t * (35_999.050_29 - 0.000_153_7 * t);
    let e = 0.016_708_634 - t * (0.000_042_037 + 0.000_000_126_7 * t);
    let c = sin(rad(m)) * (1.914_602 - t * (0.004_817 + 0.000_014 * t))
        + sin(rad(2.0 * m)) * (0.019_993 - 0.000_101 * t)
        + sin(rad(3.0 * m)) * 0.000_289;
    let omega = rad(125.04 - 1_934.136 * t);
    let lambda = l0 + c - 0.005_69 - 0.004_78 * sin(omega);
    let eps0 =
        23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.000_59 - t * 0.001_813))) / 60.0) / 60.0;
    let eps = rad(eps0 + 0.002_56 * cos(omega));
    let decl = asin(sin(eps) * sin(rad(lambda)));
    let y = tan(eps / 2.0) * tan(eps / 2.0);
    let (l0, m) = (rad(l0), rad(m));
    let eot = y * sin(2.0 * l0) - 2.0 * e * sin(m) + 4.0 * e * y * sin(m) * cos(2.0 * l0)
        - 0.5 * y * y * sin(4.0 * l0)
        - 1.25 * e * e * sin(2.0 * m);
    (decl, 4.0 * deg(eot))
}

/// Julian day of sunrise (`dir` −1) or sunset (+1) near `noon` (Julian day of local mean
/// noon): the Sun's position is taken again at each estimate until it settles.
fn event(noon: f64, lat: f64, lon: f64, dir: f64) -> Result<f64, SunDay> {
    let midnight_ut = floor(noon - 0.5) + 0.5;
    let mut jd = noon;
    for _ in 0..4 {
        let (decl, eot) = position(jd);
        let cos_ha = cos(rad(ZENITH_DEG)) / (cos(rad(lat)) * cos(decl)) - tan(rad(lat)) * tan(decl);
        if cos_ha < -1.0 {
            return Err(SunDay::AlwaysUp);
        }
        if cos_ha > 1.0 {
            return Err(SunDay::AlwaysDown);
        }
        let ha = deg(acos(cos_ha));
        // Minutes after 0h UT of the day `noon` falls in.
        let minutes = 720.0 - 4.0 * (lon - dir * ha) - eot;
        jd = midnight_ut + minutes / 1_440.0;
    }
    Ok(jd)
}

/// Sunrise and sunset for the date `days_since_2000` (days since 2000-01-01) at `lat`, `lon`
/// (degrees, east positive): the events around that date's local solar noon, for the Sun's
/// upper limb at the horizon with standard refraction (zenith 90.833°).
pub fn sun_day(days_since_2000: i64, lat: f64, lon: f64) -> SunDay {
    let noon = J2000 + days_since_2000 as f64 - lon / 360.0;
    let unix = |jd: f64| round((jd - UNIX_EPOCH_JD) * 86_400.0) as i64;
    match (event(noon, lat, lon, -1.0), event(noon, lat, lon, 1.0)) {
        (Ok(rise), Ok(set)) => SunDay::RiseSet {
            sunrise: unix(rise),
            sunset: unix(set),
        },
        (Err(e), _) | (_, Err(e)) => e,
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
        // Mohe 52.97 N 122.54 E, 2026-09-01 (issue 19): NOAA's calculator gives sunset 18:39:34
        // UTC+8, astral 3.2 18:39:15; evaluating the Sun once for the day gave 18:41:30.
        let SunDay::RiseSet { sunset, .. } = sun_day(days_since_2000(2026, 9, 1), 52.97, 122.54)
        else {
            panic!()
        };
        let local_s = (sunset + 8 * 3600).rem_euclid(86_400);
        assert!(
            (local_s - (18 * 3600 + 39 * 60 + 25)).abs() <= 15,
            "{local_s}"
        );
        assert_eq!(days_since_2000(2026, 3, 1), 9556);
    }
}
