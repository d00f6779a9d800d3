//! Streetlight controller logic: lamp faults from the measured current, and day-burning.

use crate::payload::Fault;

/// Thresholds for fault detection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Below this current a lamp that should be lit is dark.
    pub min_current_a: f32,
    /// Supply below this voltage is a power failure.
    pub min_voltage_v: f32,
    /// Power factor below this with current flowing points at a failed driver.
    pub min_power_factor: f32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            min_current_a: 0.05,
            min_voltage_v: 170.0,
            min_power_factor: 0.5,
        }
    }
}

/// One measurement of the lamp circuit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Electrical {
    pub voltage_v: f32,
    pub current_a: f32,
    pub power_w: f32,
}

/// Faults of a lamp whose relay is `relay_on`; at most one of lamp/driver/power.
pub fn faults(relay_on: bool, e: &Electrical, l: &Limits) -> heapless::Vec<Fault, 4> {
    let mut out = heapless::Vec::new();
    if e.voltage_v < l.min_voltage_v {
        let _ = out.push(Fault::PowerFailure);
    } else if relay_on && e.current_a < l.min_current_a {
        // Should be lit but draws no current (DOMAIN.md §5.3 lampFailure).
        let _ = out.push(Fault::LampFailure);
    } else if relay_on && e.current_a >= l.min_current_a {
        let apparent = e.voltage_v * e.current_a;
        if apparent > 0.0 && e.power_w / apparent < l.min_power_factor {
            let _ = out.push(Fault::DriverFailure);
        }
    }
    out
}

/// Lit outside its schedule (day-burning): the relay is off or the lamp should be dark, yet
/// current flows.
pub fn day_burning(scheduled_on: bool, e: &Electrical, l: &Limits) -> bool {
    !scheduled_on && e.current_a >= l.min_current_a
}

/// Scale of the lamp meter's two ADC inputs (a voltage divider or transformer and a current
/// transformer, both biased to mid-scale): volts and amperes per ADC count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeterScale {
    pub v_per_count: f32,
    pub a_per_count: f32,
}

/// RMS voltage, RMS current and real power from simultaneous samples (voltage, current) taken
/// over whole mains cycles; each channel's mean (the bias) is removed first.
pub fn electrical(samples: &[(u16, u16)], scale: MeterScale) -> Option<Electrical> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f64;
    let (mut sv, mut si) = (0f64, 0f64);
    for &(v, i) in samples {
        sv += f64::from(v);
        si += f64::from(i);
    }
    let (bv, bi) = (sv / n, si / n);
    let (mut vv, mut ii, mut vi) = (0f64, 0f64, 0f64);
    for &(v, i) in samples {
        let (v, i) = (f64::from(v) - bv, f64::from(i) - bi);
        vv += v * v;
        ii += i * i;
        vi += v * i;
    }
    let (kv, ki) = (f64::from(scale.v_per_count), f64::from(scale.a_per_count));
    Some(Electrical {
        voltage_v: (libm::sqrt(vv / n) * kv) as f32,
        current_a: (libm::sqrt(ii / n) * ki) as f32,
        power_w: (vi / n * kv * ki) as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Electrical = Electrical {
        voltage_v: 230.0,
        current_a: 0.45,
        power_w: 98.0,
    };

    /// 230 V / 0.4 A sines sampled 40 times per cycle over 5 cycles around a 2048 bias: in
    /// phase 92 W; the current 60° behind, 46 W (cos 60° = 0.5).
    #[test]
    fn electrical_from_samples() {
        let scale = MeterScale {
            v_per_count: 0.25,
            a_per_count: 0.0005,
        };
        let sample = |shift: f64| {
            let mut s = [(0u16, 0u16); 200];
            for (k, x) in s.iter_mut().enumerate() {
                let w = 2.0 * core::f64::consts::PI * k as f64 / 40.0;
                let v = 230.0 * 2f64.sqrt() * w.sin() / 0.25;
                let i = 0.4 * 2f64.sqrt() * (w - shift).sin() / 0.0005;
                *x = ((2048.0 + v).round() as u16, (2048.0 + i).round() as u16);
            }
            electrical(&s, scale).unwrap()
        };
        let e = sample(0.0);
        assert!((e.voltage_v - 230.0).abs() < 0.2, "{e:?}");
        assert!((e.current_a - 0.4).abs() < 0.001, "{e:?}");
        assert!((e.power_w - 92.0).abs() < 0.2, "{e:?}");
        let e = sample(core::f64::consts::PI / 3.0);
        assert!((e.power_w - 46.0).abs() < 0.2, "{e:?}");
        assert_eq!(electrical(&[], scale), None);
    }

    #[test]
    fn lamp_faults() {
        let l = Limits::default();
        assert!(faults(true, &OK, &l).is_empty());
        let dark = Electrical {
            current_a: 0.0,
            power_w: 0.0,
            ..OK
        };
        assert_eq!(faults(true, &dark, &l).as_slice(), &[Fault::LampFailure]);
        assert!(faults(false, &dark, &l).is_empty(), "off and dark is fine");
        let no_supply = Electrical {
            voltage_v: 0.0,
            ..dark
        };
        assert_eq!(
            faults(true, &no_supply, &l).as_slice(),
            &[Fault::PowerFailure]
        );
        let bad_driver = Electrical {
            power_w: 20.0,
            ..OK
        };
        assert_eq!(
            faults(true, &bad_driver, &l).as_slice(),
            &[Fault::DriverFailure]
        );
    }

    #[test]
    fn day_burning_is_current_outside_the_schedule() {
        let l = Limits::default();
        assert!(day_burning(false, &OK, &l));
        assert!(!day_burning(true, &OK, &l));
        assert!(!day_burning(
            false,
            &Electrical {
                current_a: 0.0,
                ..OK
            },
            &l
        ));
    }
}

/// A command from the gateway on the device's `cmd` topic (CONTRACT §2).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Command {
    pub v: u8,
    pub id: heapless::String<32>,
    pub op: heapless::String<16>,
    /// `schedule`: minutes after sunset to switch on, after sunrise to switch off.
    pub on_offset_min: Option<i32>,
    pub off_offset_min: Option<i32>,
    /// `dim`: light level in percent.
    pub dim_pct: Option<u8>,
    /// `time`: the gateway's clock (unix seconds).
    pub ts: Option<i64>,
    /// `calibrate` (noise meters): the level of the acoustic calibrator at the microphone, dB.
    pub reference_db: Option<f32>,
    /// `zero` and `span` (toilets' gas cells): `nh3` or `h2s` (`zero` without it: both), and
    /// the span gas's concentration in mg/m³.
    pub gas: Option<heapless::String<8>>,
    pub mg_m3: Option<f32>,
}

/// Decode a command payload.
pub fn decode_command(bytes: &[u8]) -> Option<Command> {
    serde_json_core::from_slice::<Command>(bytes)
        .ok()
        .map(|(c, _)| c)
        .filter(|c| c.v == 1)
}

/// The controller's own schedule: lit from sunset + on offset to sunrise + off offset, from
/// its astronomical clock, so it keeps working when the gateway is unreachable.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub lat: f64,
    pub lon: f64,
    /// Local time zone offset (China: +8 h).
    pub utc_offset_s: i64,
    pub on_offset_min: i32,
    pub off_offset_min: i32,
    pub dim_pct: u8,
    /// Gateway time minus the local clock, from the last `time` command.
    pub clock_skew_s: i64,
}

impl Schedule {
    /// Apply a command; returns whether it was understood.
    pub fn apply(&mut self, c: &Command, local_clock: i64) -> bool {
        match c.op.as_str() {
            "schedule" => {
                self.on_offset_min = c.on_offset_min.unwrap_or(self.on_offset_min);
                self.off_offset_min = c.off_offset_min.unwrap_or(self.off_offset_min);
                true
            }
            "dim" => match c.dim_pct {
                Some(p) if p <= 100 => {
                    self.dim_pct = p;
                    true
                }
                _ => false,
            },
            "time" => match c.ts {
                Some(ts) => {
                    self.clock_skew_s = ts - local_clock;
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Whether the lamp should be lit at `local_clock` (unix seconds by the device's clock).
    pub fn lit(&self, local_clock: i64) -> bool {
        use crate::sun::{sun_day, SunDay};
        let now = local_clock + self.clock_skew_s;
        let local_day = (now + self.utc_offset_s).div_euclid(86_400);
        // 1970-01-01 is day −10957 since 2000.
        let today = local_day - 10_957;
        let on_off = |d: i64| match sun_day(d, self.lat, self.lon) {
            SunDay::RiseSet { sunrise, sunset } => (
                sunset + i64::from(self.on_offset_min) * 60,
                sunrise + i64::from(self.off_offset_min) * 60,
            ),
            SunDay::AlwaysUp => (i64::MAX, i64::MIN),
            SunDay::AlwaysDown => (i64::MIN, i64::MAX),
        };
        let (on_today, off_today) = on_off(today);
        now < off_today || now >= on_today
    }
}

#[cfg(test)]
mod command_tests {
    use super::*;

    #[test]
    fn commands_change_the_schedule() {
        let mut s = Schedule {
            lat: 39.904,
            lon: 116.407,
            utc_offset_s: 8 * 3600,
            on_offset_min: 0,
            off_offset_min: 0,
            dim_pct: 100,
            clock_skew_s: 0,
        };
        // 2026-06-21, Beijing: sunset 19:46, sunrise 04:46 (UTC+8).
        let at = |h: i64, m: i64| 1_782_000_000 - 8 * 3600 + h * 3600 + m * 60;
        assert!(!s.lit(at(12, 0)) && !s.lit(at(19, 40)));
        assert!(s.lit(at(19, 50)) && s.lit(at(23, 0)) && s.lit(at(4, 40)));
        assert!(!s.lit(at(4, 50)));
        let c = decode_command(br#"{"v":1,"id":"c7","op":"schedule","on_offset_min":15}"#).unwrap();
        assert!(s.apply(&c, 0));
        assert!(
            !s.lit(at(19, 55)) && s.lit(at(20, 5)),
            "on 15 min after sunset"
        );
        let dim = decode_command(br#"{"v":1,"id":"c8","op":"dim","dim_pct":40}"#).unwrap();
        assert!(s.apply(&dim, 0) && s.dim_pct == 40);
        // The device clock runs 10 min slow; a time command corrects it.
        let t = decode_command(br#"{"v":1,"id":"c9","op":"time","ts":1000600}"#).unwrap();
        assert!(s.apply(&t, 1_000_000) && s.clock_skew_s == 600);
        assert!(decode_command(br#"{"v":2,"id":"x","op":"dim"}"#).is_none());
        assert!(!s.apply(
            &decode_command(br#"{"v":1,"id":"x","op":"fly"}"#).unwrap(),
            0
        ));
    }
}

/// The lamp's outputs: a relay (`OutputPin`) and a dimming PWM channel (`SetDutyCycle`, for a
/// 0–10 V or PWM driver input).
pub struct Lamp<R, D> {
    relay: R,
    dimmer: D,
}

impl<R: embedded_hal::digital::OutputPin, D: embedded_hal::pwm::SetDutyCycle> Lamp<R, D> {
    pub fn new(relay: R, dimmer: D) -> Self {
        Lamp { relay, dimmer }
    }

    pub fn release(self) -> (R, D) {
        (self.relay, self.dimmer)
    }

    /// Switch on at `dim_pct` (0–100) or off.
    pub fn set(&mut self, on: bool, dim_pct: u8) -> Result<(), LampError<R::Error, D::Error>> {
        if on {
            self.dimmer
                .set_duty_cycle_percent(dim_pct.min(100))
                .map_err(LampError::Dimmer)?;
            self.relay.set_high().map_err(LampError::Relay)
        } else {
            self.relay.set_low().map_err(LampError::Relay)?;
            self.dimmer
                .set_duty_cycle_fully_off()
                .map_err(LampError::Dimmer)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LampError<R, D> {
    Relay(R),
    Dimmer(D),
}

#[cfg(test)]
mod lamp_tests {
    use super::*;

    #[derive(Default)]
    struct Relay(bool);
    impl embedded_hal::digital::ErrorType for Relay {
        type Error = core::convert::Infallible;
    }
    impl embedded_hal::digital::OutputPin for Relay {
        fn set_low(&mut self) -> Result<(), Self::Error> {
            self.0 = false;
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Self::Error> {
            self.0 = true;
            Ok(())
        }
    }
    #[derive(Default)]
    struct Pwm(u16);
    impl embedded_hal::pwm::ErrorType for Pwm {
        type Error = core::convert::Infallible;
    }
    impl embedded_hal::pwm::SetDutyCycle for Pwm {
        fn max_duty_cycle(&self) -> u16 {
            1000
        }
        fn set_duty_cycle(&mut self, duty: u16) -> Result<(), Self::Error> {
            self.0 = duty;
            Ok(())
        }
    }

    #[test]
    fn relay_and_dimming() {
        let mut lamp = Lamp::new(Relay::default(), Pwm::default());
        lamp.set(true, 40).unwrap();
        let (r, p) = lamp.release();
        assert!(r.0);
        assert_eq!(p.0, 400);
        let mut lamp = Lamp::new(r, p);
        lamp.set(false, 40).unwrap();
        let (r, p) = lamp.release();
        assert_eq!((r.0, p.0), (false, 0));
    }
}
