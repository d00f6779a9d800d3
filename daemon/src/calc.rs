//! `meilid calc`: the standards' arithmetic for one set of numbers, for technicians and
//! analysts checking a figure by hand. Each helper returns a JSON-serializable result.

use serde::Serialize;

use crate::config::standards::NightStartsOn;
use crate::standards::aqi::{self, Aqi, Edition, Inputs, Report};
use crate::standards::clock::Clock;
use crate::standards::lighting::{self, Schedule};
use crate::standards::noise;
use crate::standards::sun::{self, SunDay};

#[derive(Debug, thiserror::Error)]
pub enum CalcError {
    #[error("{0:?} is not a number")]
    Number(String),
    #[error("{0}")]
    Invalid(String),
}

/// Parse "52.1,60.4,…" into levels.
pub fn parse_levels(s: &str) -> Result<Vec<f64>, CalcError> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| match x.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(CalcError::Number(x.into())),
        })
        .collect()
}

/// `calc aqi`: the AQI of the pollutants given, in the shape replay and the daemon report it:
/// with pollutants missing and the others at AQI ≤ 100 the figure is NA (`aqi` null, `na`
/// true) and `max_iaqi` carries the highest IAQI given.
pub fn aqi(edition: Edition, hourly: bool, round: bool, input: &Inputs) -> Aqi {
    let report = if hourly {
        Report::Hourly
    } else {
        Report::Daily {
            o3_1h: edition == Edition::Hj633_2012,
        }
    };
    aqi::compute(edition, report, input, round)
}

#[derive(Debug, Serialize)]
pub struct Leq {
    /// Energy average, rounded to 0.1 dB (as reported).
    pub leq: f64,
    pub leq_unrounded: f64,
    pub n: usize,
}

/// `calc leq`.
pub fn leq(levels: &[f64]) -> Result<Leq, CalcError> {
    let l = noise::energy_mean(levels.iter().copied())
        .ok_or_else(|| CalcError::Invalid("give at least one level".into()))?;
    Ok(Leq {
        leq: noise::round_db(l),
        leq_unrounded: l,
        n: levels.len(),
    })
}

#[derive(Debug, Serialize)]
pub struct DayNight {
    pub ld: Option<f64>,
    pub ln: Option<f64>,
    pub ldn: Option<f64>,
    pub day_hours: Vec<u32>,
    pub night_hours: Vec<u32>,
    pub zone_class: Option<&'static str>,
    pub day_limit: Option<f64>,
    pub night_limit: Option<f64>,
    pub day_ok: Option<bool>,
    pub night_ok: Option<bool>,
}

/// `calc ldn`: 24 hourly Leq values (hour 0 first; empty entries are missing hours), Ld over
/// the 16 day hours and Ln over the 8 night hours of the same list.
pub fn ldn(
    hourly: &[Option<f64>],
    day_start_hour: u8,
    class: Option<crate::config::ZoneClass>,
) -> Result<DayNight, CalcError> {
    if hourly.len() != 24 {
        return Err(CalcError::Invalid(format!(
            "give 24 hourly levels (got {})",
            hourly.len()
        )));
    }
    let (day_from, night_from) =
        crate::transforms::aggregate::noise_periods(0, day_start_hour, NightStartsOn::SameDay);
    let pick = |from: i64, n: i64| -> (Vec<u32>, Vec<f64>) {
        (from..from + n)
            .map(|h| h.rem_euclid(24) as usize)
            .filter_map(|h| hourly[h].map(|l| (h as u32, l)))
            .unzip()
    };
    let (day_hours, day) = pick(day_from, 16);
    let (night_hours, night) = pick(night_from, 8);
    let ld = noise::energy_mean(day).map(noise::round_db);
    let ln = noise::energy_mean(night).map(noise::round_db);
    let limits = class.map(noise::limits);
    Ok(DayNight {
        ldn: ld.zip(ln).map(|(d, n)| noise::round_db(noise::ldn(d, n))),
        day_ok: ld.zip(limits).map(|(l, (d, _))| l <= d),
        night_ok: ln.zip(limits).map(|(l, (_, n))| l <= n),
        ld,
        ln,
        day_hours,
        night_hours,
        zone_class: class.map(|c| c.as_str()),
        day_limit: limits.map(|l| l.0),
        night_limit: limits.map(|l| l.1),
    })
}

#[derive(Debug, Serialize)]
pub struct Sun {
    pub date: String,
    pub sunrise: Option<String>,
    pub sunset: Option<String>,
    /// `polar_day` or `polar_night` when the Sun does not rise or set.
    pub note: Option<&'static str>,
    pub day_length_minutes: Option<i64>,
}

/// `calc sun`.
pub fn sun(lat: f64, lon: f64, date: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> Sun {
    let clock = Clock::new(tz.clone());
    let (sunrise, sunset, note, len) = match sun::sun_day(sun::days_since_2000(date), lat, lon) {
        SunDay::RiseSet { sunrise, sunset } => (
            Some(clock.rfc3339(sunrise)),
            Some(clock.rfc3339(sunset)),
            None,
            Some((sunset - sunrise) / 60),
        ),
        SunDay::AlwaysUp => (None, None, Some("polar_day"), Some(1440)),
        SunDay::AlwaysDown => (None, None, Some("polar_night"), Some(0)),
    };
    Sun {
        date: date.to_string(),
        sunrise,
        sunset,
        note,
        day_length_minutes: len,
    }
}

#[derive(Debug, Serialize)]
pub struct LightingWindow {
    pub date: String,
    pub on: String,
    pub off: String,
    pub lit_minutes: i64,
}

/// `calc lighting`: when a lamp at `lat`, `lon` should be lit on the night starting `date`.
pub fn lighting_window(
    schedule: &Schedule,
    lat: f64,
    lon: f64,
    date: jiff::civil::Date,
    tz: &jiff::tz::TimeZone,
) -> LightingWindow {
    let clock = Clock::new(tz.clone());
    let (on, off) = lighting::window(schedule, date, lat, lon, |d| {
        clock.midnight(Clock::day_number(d))
    });
    LightingWindow {
        date: date.to_string(),
        on: clock.rfc3339(on),
        off: clock.rfc3339(off),
        lit_minutes: (off - on) / 60,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leq_and_ldn_worked_examples() {
        let mut levels = vec![50.0; 15];
        levels.push(70.0);
        assert_eq!(leq(&levels).unwrap().leq, 58.6);
        assert!(leq(&[]).is_err());
        let mut day: Vec<Option<f64>> = vec![Some(50.0); 24];
        day[12] = Some(70.0);
        day[2] = None;
        let r = ldn(&day, 6, Some(crate::config::ZoneClass::C2)).unwrap();
        assert_eq!(r.ld, Some(58.6));
        assert_eq!(r.ln, Some(50.0));
        assert_eq!(r.day_hours.len(), 16);
        assert_eq!(r.night_hours, vec![22, 23, 0, 1, 3, 4, 5]);
        assert_eq!((r.day_ok, r.night_ok), (Some(true), Some(true)));
        assert!(ldn(&day[..23], 6, None).is_err());
    }

    #[test]
    fn parse_level_lists() {
        assert_eq!(parse_levels("52.1, 60.4").unwrap(), vec![52.1, 60.4]);
        assert!(parse_levels("52,loud").is_err());
    }
}
