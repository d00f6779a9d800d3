//! What the engine keeps of a reading, from a validated [`Reading`] (replay) or from a raw
//! line-protocol row read back from the buffer (daemon).
//!
//! Values are `f64` holding the decimal the device sent: parsed from the row's text, or, from
//! a [`Reading`]'s `f32`, through its shortest decimal form ([`decimal`]) — never widened bit
//! for bit, which would turn 60.2 into 60.200000762939… and move exact rounding ties.

use meili_firmware::{Fault, Kind, Reading};

use crate::standards::air::Pollutant;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// End of the period (unix seconds).
    pub ts: i64,
    pub period_s: u32,
    pub values: Values,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Values {
    Noise {
        laeq: f64,
        lamax: Option<f64>,
    },
    /// Pollutants in [`Pollutant::ALL`] order.
    Air([Option<f64>; 6]),
    Toilet {
        stalls: Option<u16>,
        occupied: Option<u16>,
        open: Option<bool>,
        entries: Option<u32>,
        nh3: Option<f64>,
        h2s: Option<f64>,
    },
    Light {
        on: bool,
        faults: u8,
        power_w: Option<f64>,
    },
}

/// The decimal an `f32` was written from, as the nearest `f64` (60.2f32 → 60.2, not
/// 60.200000762939453): its shortest round-trip form, parsed.
pub fn decimal(v: f32) -> f64 {
    use std::fmt::Write as _;
    let mut s = heapless::String::<48>::new();
    match write!(s, "{v}") {
        Ok(()) => s.parse().unwrap_or(f64::from(v)),
        Err(_) => f64::from(v),
    }
}

fn dec(v: Option<f32>) -> Option<f64> {
    v.map(decimal)
}

/// Faults that keep a lamp dark even when switched on.
pub const DARK_FAULTS: u8 =
    Fault::LampFailure.bit() | Fault::DriverFailure.bit() | Fault::PowerFailure.bit();

/// Faults a controller can only detect while the lamp is switched on (no current, bad power
/// factor): a reading with the lamp off neither shows nor clears them.
pub const LIT_ONLY_FAULTS: u8 = Fault::LampFailure.bit() | Fault::DriverFailure.bit();

impl Sample {
    /// `[start, end)` of the period in unix seconds.
    pub fn span(&self) -> (i64, i64) {
        (self.ts - i64::from(self.period_s), self.ts)
    }

    /// The middle of the period, which decides its hour and day.
    pub fn mid(&self) -> i64 {
        self.ts - i64::from(self.period_s) / 2
    }

    pub fn from_reading(kind: Kind, r: &Reading) -> Option<Sample> {
        let values = match kind {
            Kind::Noise => Values::Noise {
                laeq: decimal(r.laeq?),
                lamax: dec(r.lamax),
            },
            Kind::Air => {
                let mut a = [None; 6];
                a[Pollutant::Pm2_5 as usize] = dec(r.pm2_5);
                a[Pollutant::Pm10 as usize] = dec(r.pm10);
                a[Pollutant::So2 as usize] = dec(r.so2);
                a[Pollutant::No2 as usize] = dec(r.no2);
                a[Pollutant::Co as usize] = dec(r.co);
                a[Pollutant::O3 as usize] = dec(r.o3);
                Values::Air(a)
            }
            Kind::Toilet => Values::Toilet {
                stalls: r.stalls,
                occupied: r.occupied,
                open: r.open,
                entries: r.entries,
                nh3: dec(r.nh3),
                h2s: dec(r.h2s),
            },
            Kind::Streetlight => Values::Light {
                on: r.lamp_on?,
                faults: r.fault_bits(),
                power_w: dec(r.power_w),
            },
        };
        Some(Sample {
            ts: r.ts,
            period_s: r.period_s,
            values,
        })
    }

    /// Parse the fields and timestamp of a raw row (`"laeq=55.2,seq=1i,period_s=60i 1763900000"`,
    /// the part after the measurement and tags) written by [`crate::rows::line_protocol`].
    pub fn from_line(kind: Kind, fields_and_ts: &[u8]) -> Option<Sample> {
        let text = std::str::from_utf8(fields_and_ts).ok()?.trim_end();
        let (fields, ts) = text.rsplit_once(' ')?;
        let ts: i64 = ts.parse().ok()?;
        let mut period_s = 0u32;
        let f = |name: &str| -> Option<&str> {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        };
        let float =
            |v: Option<&str>| v.and_then(|v| v.parse::<f64>().ok().filter(|x| x.is_finite()));
        let int = |v: Option<&str>| v.and_then(|v| v.strip_suffix('i')?.parse::<u64>().ok());
        let boolean = |v: Option<&str>| v.map(|v| v == "true");
        if let Some(p) = int(f("period_s")) {
            period_s = u32::try_from(p).ok()?;
        }
        let values = match kind {
            Kind::Noise => Values::Noise {
                laeq: float(f("laeq"))?,
                lamax: float(f("lamax")),
            },
            Kind::Air => {
                let mut a = [None; 6];
                for p in Pollutant::ALL {
                    a[p as usize] = float(f(p.key()));
                }
                Values::Air(a)
            }
            Kind::Toilet => Values::Toilet {
                stalls: int(f("stalls")).and_then(|v| u16::try_from(v).ok()),
                occupied: int(f("occupied")).and_then(|v| u16::try_from(v).ok()),
                open: boolean(f("open")),
                entries: int(f("entries")).and_then(|v| u32::try_from(v).ok()),
                nh3: float(f("nh3")),
                h2s: float(f("h2s")),
            },
            Kind::Streetlight => Values::Light {
                on: boolean(f("lamp_on"))?,
                faults: int(f("fault"))
                    .and_then(|v| u8::try_from(v).ok())
                    .unwrap_or(0),
                power_w: float(f("power_w")),
            },
        };
        (period_s > 0).then_some(Sample {
            ts,
            period_s,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DeviceConfig, RoadClass};
    use crate::registry::Registry;

    #[test]
    fn line_round_trip_matches_reading() {
        let dev = DeviceConfig {
            id: "l1".into(),
            site: "town".into(),
            kind: Kind::Streetlight,
            lat: 30.0,
            lon: 110.0,
            name: None,
            zone_class: None,
            area_km2: None,
            road_class: Some(RoadClass::Main),
            toilet_class: None,
            period_secs: None,
            opening_hours: None,
            facilities: Vec::new(),
            modbus: None,
        };
        let reg = Registry::new([dev]);
        let mut faults = heapless::Vec::new();
        let _ = faults.push(Fault::LampFailure);
        let r = Reading {
            lamp_on: Some(true),
            power_w: Some(118.5),
            faults: Some(faults),
            ..Reading::new(3, 1_763_900_000, 300)
        };
        let mut line = Vec::new();
        crate::rows::line_protocol::encode(&mut line, reg.get(0), &r);
        let rest = &line[reg.get(0).line_prefix.len()..];
        let parsed = Sample::from_line(Kind::Streetlight, rest).unwrap();
        assert_eq!(Some(parsed), Sample::from_reading(Kind::Streetlight, &r));
    }

    /// The decimal the device sent reaches the arithmetic, from either path.
    #[test]
    fn values_are_the_decimals_sent() {
        for (f, d) in [
            (60.2f32, 60.2f64),
            (70.05, 70.05),
            (0.01, 0.01),
            (55.6, 55.6),
            (0.009, 0.009),
        ] {
            assert_eq!(decimal(f), d);
            assert_ne!(f64::from(f), d, "widening {f} would not be");
        }
        let mut r = Reading::new(1, 1_763_900_000, 60);
        r.laeq = Some(70.05);
        r.lamax = Some(55.6);
        let s = Sample::from_reading(Kind::Noise, &r).unwrap();
        assert_eq!(
            s.values,
            Values::Noise {
                laeq: 70.05,
                lamax: Some(55.6)
            }
        );
        let s = Sample::from_line(Kind::Noise, b"laeq=70.05,lamax=55.6,period_s=60i 1").unwrap();
        assert_eq!(
            s.values,
            Values::Noise {
                laeq: 70.05,
                lamax: Some(55.6)
            }
        );
    }

    #[test]
    fn garbage_lines_are_refused() {
        assert_eq!(
            Sample::from_line(Kind::Noise, b"laeq=abc,period_s=60i 1"),
            None
        );
        assert_eq!(Sample::from_line(Kind::Noise, b"laeq=50 1"), None);
        assert_eq!(Sample::from_line(Kind::Noise, b""), None);
    }
}
