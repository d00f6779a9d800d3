//! Sunrise and sunset (the "sunrise equation", NOAA/Meeus approximations, about ±1 min for
//! latitudes below 60°), for street-lighting schedules.
//!
//! Sunrise/sunset are when the Sun's upper limb touches the horizon with standard refraction:
//! solar altitude −0.833°.

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
/// (degrees, east positive). The events are those around the local solar noon of that date.
pub fn sun_day(days_since_2000: i64, lat: f64, lon: f64) -> SunDay {
    let rad = f64::to_radians;
    // Mean solar noon (days since J2000).
    let j_star = days_since_2000 as f64 - lon / 360.0;
    let m = (357.5291 + 0.985_600_28 * j_star).rem_euclid(360.0);
    let c = 1.9148 * rad(m).sin() + 0.0200 * rad(2.0 * m).sin() + 0.0003 * rad(3.0 * m).sin();
    let lambda = (m + c + 180.0 + 102.9372).rem_euclid(360.0);
    let transit = J2000 + j_star + 0.0053 * rad(m).sin() - 0.0069 * rad(2.0 * lambda).sin();
    let sin_d = rad(lambda).sin() * rad(23.4397).sin();
    let cos_d = sin_d.asin().cos();
    let cos_w = (rad(-0.833).sin() - rad(lat).sin() * sin_d) / (rad(lat).cos() * cos_d);
    if cos_w < -1.0 {
        return SunDay::AlwaysUp;
    }
    if cos_w > 1.0 {
        return SunDay::AlwaysDown;
    }
    let w = cos_w.acos().to_degrees() / 360.0;
    let unix = |jd: f64| ((jd - UNIX_EPOCH_JD) * 86_400.0).round() as i64;
    SunDay::RiseSet {
        sunrise: unix(transit - w),
        sunset: unix(transit + w),
    }
}

/// Days since 2000-01-01 for a civil date.
pub fn days_since_2000(date: jiff::civil::Date) -> i64 {
    let epoch = jiff::civil::date(2000, 1, 1);
    (date - epoch).get_days() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(date: &str, lat: f64, lon: f64, tz: &str) -> (String, String) {
        let d: jiff::civil::Date = date.parse().unwrap();
        let tz = jiff::tz::TimeZone::get(tz).unwrap();
        let SunDay::RiseSet { sunrise, sunset } = sun_day(days_since_2000(d), lat, lon) else {
            panic!("no sunrise");
        };
        let fmt = |t: i64| {
            let z = jiff::Timestamp::from_second(t)
                .unwrap()
                .to_zoned(tz.clone());
            z.strftime("%H:%M").to_string()
        };
        (fmt(sunrise), fmt(sunset))
    }

    fn minutes(hm: &str) -> i64 {
        let (h, m) = hm.split_once(':').unwrap();
        h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
    }

    fn close(got: &str, want: &str) {
        assert!(
            (minutes(got) - minutes(want)).abs() <= 2,
            "got {got}, published {want}"
        );
    }

    #[test]
    fn beijing_solstices_match_published_times() {
        // Published almanac times for Beijing (39.904 N, 116.407 E, UTC+8).
        let (rise, set) = local("2026-06-21", 39.904, 116.407, "Asia/Shanghai");
        close(&rise, "04:46");
        close(&set, "19:46");
        let (rise, set) = local("2026-12-21", 39.904, 116.407, "Asia/Shanghai");
        close(&rise, "07:33");
        close(&set, "16:53");
    }

    #[test]
    fn equator_equinox_is_twelve_hours() {
        let d = days_since_2000("2026-03-20".parse().unwrap());
        let SunDay::RiseSet { sunrise, sunset } = sun_day(d, 0.0, 0.0) else {
            panic!()
        };
        let len_min = (sunset - sunrise) / 60;
        assert!((725..=730).contains(&len_min), "{len_min} min");
    }

    #[test]
    fn polar_day_and_night() {
        let june = days_since_2000("2026-06-21".parse().unwrap());
        assert_eq!(sun_day(june, 78.2, 15.6), SunDay::AlwaysUp);
        assert_eq!(sun_day(june, -78.2, 15.6), SunDay::AlwaysDown);
    }
}
