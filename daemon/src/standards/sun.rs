//! Sunrise and sunset for street-lighting schedules: the firmware's astronomical clock
//! ([`meili_firmware::sun`]), so the gateway's schedule and a lamp's own agree to the second.

pub use meili_firmware::sun::{sun_day, SunDay};

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
