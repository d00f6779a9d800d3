//! Street lighting: when a lamp should be lit, and the lamp-time arithmetic behind 亮灯率
//! (lit / scheduled lamp-time), the inspection snapshot, 设施完好率 and day-burning
//! (DOMAIN.md §5).
//!
//! A *lighting day* D runs from local noon on D to local noon on D+1, so the night that begins
//! on the evening of D is one figure. Time intervals are unix seconds, half-open `[a, b)`.

use serde::{Deserialize, Serialize};

use super::sun::{self, SunDay};

/// When lamps should be lit.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Astronomical: on at sunset + `on_offset_min`, off at the next sunrise + `off_offset_min`
    /// (negative offsets are before the event).
    Sun {
        #[serde(default)]
        on_offset_min: i32,
        #[serde(default)]
        off_offset_min: i32,
    },
    /// Fixed local times: on at `on` on D, off at `off` on D+1 ("HH:MM").
    Fixed { on: String, off: String },
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::Sun {
            on_offset_min: 0,
            off_offset_min: 0,
        }
    }
}

/// Parse "HH:MM" (00:00–24:00) into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 || h == 24 && m == 0).then_some(h * 60 + m)
}

/// The lighting window `[on, off)` of lighting day `date` for a lamp at `lat`, `lon`.
/// `midnight(d)` gives the unix time of local midnight starting civil date `d`.
pub fn window(
    schedule: &Schedule,
    date: jiff::civil::Date,
    lat: f64,
    lon: f64,
    midnight: impl Fn(jiff::civil::Date) -> i64,
) -> (i64, i64) {
    let next = date.tomorrow().unwrap_or(date);
    let bounds = (midnight(date) + 12 * 3600, midnight(next) + 12 * 3600);
    let (on, off) = match schedule {
        Schedule::Fixed { on, off } => {
            let on = parse_hhmm(on).unwrap_or(18 * 60);
            let off = parse_hhmm(off).unwrap_or(6 * 60);
            (
                midnight(date) + i64::from(on) * 60,
                midnight(next) + i64::from(off) * 60,
            )
        }
        Schedule::Sun {
            on_offset_min,
            off_offset_min,
        } => {
            let dusk = match sun::sun_day(sun::days_since_2000(date), lat, lon) {
                SunDay::RiseSet { sunset, .. } => sunset,
                SunDay::AlwaysUp => bounds.1,
                SunDay::AlwaysDown => bounds.0,
            };
            let dawn = match sun::sun_day(sun::days_since_2000(next), lat, lon) {
                SunDay::RiseSet { sunrise, .. } => sunrise,
                SunDay::AlwaysUp => bounds.0,
                SunDay::AlwaysDown => bounds.1,
            };
            (
                dusk + i64::from(*on_offset_min) * 60,
                dawn + i64::from(*off_offset_min) * 60,
            )
        }
    };
    let on = on.clamp(bounds.0, bounds.1);
    (on, off.clamp(on, bounds.1))
}

/// Seconds `[a0, a1)` and `[b0, b1)` share.
pub const fn overlap(a0: i64, a1: i64, b0: i64, b1: i64) -> i64 {
    let lo = if a0 > b0 { a0 } else { b0 };
    let hi = if a1 < b1 { a1 } else { b1 };
    if hi > lo {
        hi - lo
    } else {
        0
    }
}

/// What one reading, covering `[t0, t1)` inside the lighting day `bounds`, adds to its lamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LampTime {
    /// Lit while it should be (lamp on and no lamp, driver or power failure).
    pub lit_secs: i64,
    /// Reported at all while it should be lit.
    pub reported_secs: i64,
    /// On outside the schedule (白天亮灯, energy waste).
    pub day_burning_secs: i64,
    pub day_burning_wh: f64,
}

impl LampTime {
    pub fn add(&mut self, o: &LampTime) {
        self.lit_secs += o.lit_secs;
        self.reported_secs += o.reported_secs;
        self.day_burning_secs += o.day_burning_secs;
        self.day_burning_wh += o.day_burning_wh;
    }
}

/// Account one reading.
pub fn account(
    (t0, t1): (i64, i64),
    on: bool,
    lit: bool,
    power_w: Option<f64>,
    window: (i64, i64),
    bounds: (i64, i64),
) -> LampTime {
    let inside = overlap(t0, t1, bounds.0, bounds.1);
    let scheduled = overlap(t0, t1, window.0, window.1);
    let outside = inside - scheduled;
    let burning = if on { outside } else { 0 };
    LampTime {
        lit_secs: if lit { scheduled } else { 0 },
        reported_secs: scheduled,
        day_burning_secs: burning,
        day_burning_wh: power_w.unwrap_or(0.0).max(0.0) * burning as f64 / 3600.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    #[test]
    fn fixed_window_crosses_midnight() {
        let d: jiff::civil::Date = "2026-11-20".parse().unwrap();
        let midnight = |x: jiff::civil::Date| (x - d).get_days() as i64 * 24 * H;
        let s = Schedule::Fixed {
            on: "18:30".into(),
            off: "06:30".into(),
        };
        assert_eq!(
            window(&s, d, 30.0, 110.0, midnight),
            (18 * H + 1800, 30 * H + 1800)
        );
    }

    #[test]
    fn sun_window_follows_sunset_and_next_sunrise() {
        let d: jiff::civil::Date = "2026-06-21".parse().unwrap();
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let midnight =
            |x: jiff::civil::Date| x.to_zoned(tz.clone()).unwrap().timestamp().as_second();
        let s = Schedule::Sun {
            on_offset_min: 10,
            off_offset_min: -10,
        };
        let (on, off) = window(&s, d, 39.904, 116.407, midnight);
        let base = midnight(d);
        // Sunset 19:46 + 10 min, sunrise 04:46 next day − 10 min (±2 min).
        assert!(((on - base) / 60 - (19 * 60 + 56)).abs() <= 2);
        assert!(((off - base) / 60 - (24 * 60 + 4 * 60 + 36)).abs() <= 2);
    }

    #[test]
    fn lamp_time_splits_scheduled_and_day_burning() {
        let bounds = (12 * H, 36 * H);
        let w = (18 * H, 30 * H);
        // 17:55–18:05 on: 5 min day-burning, 5 min lit.
        let t = account(
            (18 * H - 300, 18 * H + 300),
            true,
            true,
            Some(120.0),
            w,
            bounds,
        );
        assert_eq!((t.lit_secs, t.day_burning_secs), (300, 300));
        assert_eq!(t.day_burning_wh, 10.0);
        // On but failed: reported, not lit.
        let t = account((20 * H, 20 * H + 300), true, false, None, w, bounds);
        assert_eq!((t.lit_secs, t.reported_secs), (0, 300));
        // Off in daytime: nothing.
        assert_eq!(
            account((13 * H, 13 * H + 300), false, false, None, w, bounds),
            LampTime::default()
        );
    }

    #[test]
    fn hhmm() {
        assert_eq!(parse_hhmm("06:30"), Some(390));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        assert_eq!(parse_hhmm("24:01"), None);
        assert_eq!(parse_hhmm("6:30"), None);
    }
}
