//! Local time for the standards: local days and hours as plain numbers.
//!
//! A local second is `unix + UTC offset`; day `d` is `local.div_euclid(86400)`, hour `h` is
//! `local.div_euclid(3600)`. In zones with daylight saving, the repeated hour of the autumn
//! change is merged into one (China has no DST since 1991).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct Clock {
    tz: TimeZone,
    /// `[from, to)` unix seconds with one known offset.
    cache: (i64, i64, i64),
}

pub const DAY: i64 = 86_400;
pub const HOUR: i64 = 3_600;

impl Clock {
    pub fn new(tz: TimeZone) -> Clock {
        Clock {
            tz,
            cache: (0, 0, 0),
        }
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    fn offset(&mut self, unix: i64) -> i64 {
        let (from, to, off) = self.cache;
        if (from..to).contains(&unix) {
            return off;
        }
        let at = |t: i64| {
            Timestamp::from_second(t)
                .map(|ts| i64::from(self.tz.to_offset(ts).seconds()))
                .unwrap_or(0)
        };
        let off = at(unix);
        // Cache the UTC day around `unix` when the offset is the same at both ends.
        let start = unix.div_euclid(DAY) * DAY;
        if at(start) == off && at(start + DAY - 1) == off {
            self.cache = (start, start + DAY, off);
        }
        off
    }

    /// Local seconds since the local epoch.
    pub fn local(&mut self, unix: i64) -> i64 {
        unix + self.offset(unix)
    }

    pub fn day_of(&mut self, unix: i64) -> i64 {
        self.local(unix).div_euclid(DAY)
    }

    pub fn date(day: i64) -> Date {
        let epoch = jiff::civil::date(1970, 1, 1);
        epoch
            .checked_add(jiff::Span::new().days(day))
            .unwrap_or(epoch)
    }

    pub fn day_number(date: Date) -> i64 {
        (date - jiff::civil::date(1970, 1, 1)).get_days() as i64
    }

    /// Unix time of local midnight starting day `day`.
    pub fn midnight(&self, day: i64) -> i64 {
        Self::date(day)
            .to_zoned(self.tz.clone())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(day * DAY)
    }

    /// Unix time of the start of local hour `hour`.
    pub fn hour_start(&self, hour: i64) -> i64 {
        self.midnight(hour.div_euclid(24)) + hour.rem_euclid(24) * HOUR
    }

    pub fn rfc3339(&self, unix: i64) -> String {
        Timestamp::from_second(unix)
            .map(|t| {
                t.to_zoned(self.tz.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S%:z")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_days_start_at_16_utc() {
        let mut c = Clock::new(TimeZone::get("Asia/Shanghai").unwrap());
        // 2026-10-31T16:00:00Z = 2026-11-01 00:00 +08:00.
        let t = 1_793_462_400;
        let d = c.day_of(t);
        assert_eq!(Clock::date(d).to_string(), "2026-11-01");
        assert_eq!(
            c.day_of(t - 1),
            d - 1,
            "month end crosses at local midnight"
        );
        assert_eq!(c.midnight(d), t);
        assert_eq!(c.hour_start(d * 24 + 22), t + 22 * 3600);
        assert_eq!(c.rfc3339(t), "2026-11-01T00:00:00+08:00");
    }

    #[test]
    fn other_fixed_zones() {
        let mut c = Clock::new(TimeZone::get("Asia/Kolkata").unwrap());
        // +05:30: 18:30Z is local midnight.
        let t = 1_793_471_400; // 2026-10-31T18:30:00Z
        assert_eq!(Clock::date(c.day_of(t)).to_string(), "2026-11-01");
        assert_eq!(c.local(t).rem_euclid(DAY), 0);
    }
}
