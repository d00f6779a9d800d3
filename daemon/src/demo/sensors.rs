//! Simulated sensors for the demo fleet, measured by the firmware's own code: synthesised
//! microphone audio through the firmware's A-weighted level meter, PMS5003 frames through its
//! frame parser, SHT4x words through its conversion, gas cells through its ADC calibration,
//! toilet stall switches and the entry beam through its debouncers, lamp currents through its
//! fault logic.

use meili_firmware::app::streetlight::{self, Electrical, Limits};
use meili_firmware::app::toilet::{BeamCounter, Debounce};
use meili_firmware::drivers::gas::{AdcChannel, Calibration, GasChannel};
use meili_firmware::drivers::pms5003::{Frame, FrameParser};
use meili_firmware::drivers::sht4x;
use meili_firmware::drivers::sound::LevelMeter;
use meili_firmware::Reading;

use super::fleet::Rng;
use crate::config::ZoneClass;

/// Audio sample rate of the simulated microphone.
const FS: f32 = 48_000.0;
/// Samples synthesised per simulated second (real time, so the 125 ms Fast detector means
/// what it does on a device).
const PER_SECOND: usize = 48_000;
/// Meter calibration: a full-scale sine reads 117 dB (≈ ICS-43434 at −26 dBFS = 94 dB SPL).
const OFFSET_DB: f32 = 120.0;

fn base_level(class: ZoneClass, night: bool) -> f64 {
    let day = match class {
        ZoneClass::C0 => 44.0,
        ZoneClass::C1 => 50.0,
        ZoneClass::C2 => 55.0,
        ZoneClass::C3 => 60.0,
        ZoneClass::C4a => 64.0,
        ZoneClass::C4b => 66.0,
    };
    if night {
        day - 9.0
    } else {
        day
    }
}

/// A noise meter: one-second sound levels (zone-typical base, passing vehicles) synthesised as
/// a 1 kHz tone and measured by the firmware's level meter.
pub struct Noise {
    meter: LevelMeter,
    phase: f64,
    /// The meter has run its settling time (as a device does after power-up).
    warm: bool,
}

impl Default for Noise {
    fn default() -> Self {
        Noise {
            meter: LevelMeter::new(FS, OFFSET_DB),
            phase: 0.0,
            warm: false,
        }
    }
}

impl Noise {
    pub fn period(
        &mut self,
        rng: &mut Rng,
        class: ZoneClass,
        night: bool,
        seconds: u32,
        r: &mut Reading,
    ) {
        let base = base_level(class, night);
        let mut event = 0u32;
        let step = 2.0 * std::f64::consts::PI * 1000.0 / f64::from(FS);
        if !self.warm {
            // Power-up: let the filter and the Fast detector settle, then discard.
            let amp = (2.0 * 10f64.powf((base - f64::from(OFFSET_DB)) / 10.0)).sqrt();
            for _ in 0..FS as usize {
                self.meter.push((amp * self.phase.sin()) as f32);
                self.phase = (self.phase + step) % (2.0 * std::f64::consts::PI);
            }
            self.meter.finish();
            self.warm = true;
        }
        for _ in 0..seconds.max(1) {
            if event == 0 && rng.next_f64() < 0.04 {
                event = 3 + (rng.next_f64() * 6.0) as u32;
            }
            let bump = if event > 0 {
                event -= 1;
                8.0 + rng.next_f64() * 10.0
            } else {
                0.0
            };
            let level = base + (rng.next_f64() - 0.5) * 6.0 + bump;
            // Amplitude of a sine reading `level`: L = offset + 10·lg(A²/2).
            let amp = (2.0 * 10f64.powf((level - f64::from(OFFSET_DB)) / 10.0)).sqrt();
            for _ in 0..PER_SECOND {
                self.meter.push((amp * self.phase.sin()) as f32);
                self.phase = (self.phase + step) % (2.0 * std::f64::consts::PI);
            }
        }
        if let Some(l) = self.meter.finish() {
            let round = |x: f32| (x * 10.0).round() / 10.0;
            r.laeq = Some(round(l.laeq));
            r.lamax = Some(round(l.lamax));
            r.lamin = Some(round(l.lamin));
        }
    }
}

/// A simulated ADC input returning a fixed count.
struct Adc(u16);

impl AdcChannel for Adc {
    type Error = std::convert::Infallible;
    fn read_raw(&mut self) -> Result<u16, Self::Error> {
        Ok(self.0)
    }
}

/// 12-bit ADC, 3.3 V, cell output `zero + span × concentration`.
const CELL: Calibration = Calibration {
    vref: 3.3,
    bits: 12,
    zero_v: 0.4,
    span_v_per_mg_m3: 0.5,
};

/// The ADC count a cell gives for `mg_m3`, read back through the firmware's calibration.
fn gas(mg_m3: f64, cal: Calibration) -> f32 {
    let volts = f64::from(cal.zero_v) + f64::from(cal.span_v_per_mg_m3) * mg_m3;
    let raw = (volts / f64::from(cal.vref) * 4095.0)
        .round()
        .clamp(0.0, 4095.0) as u16;
    GasChannel::new(Adc(raw), cal).read(4).unwrap_or(0.0)
}

/// An air station: PMS5003 frames parsed byte by byte, an SHT4x, gas cells.
#[derive(Default)]
pub struct Air {
    parser: FrameParser,
}

impl Air {
    pub fn period(&mut self, rng: &mut Rng, hour: u32, r: &mut Reading) {
        // Morning and evening peaks.
        let rush = if (7..9).contains(&hour) || (17..20).contains(&hour) {
            25.0
        } else {
            0.0
        };
        let pm25 = 30.0 + rush + rng.next_f64() * 20.0;
        let frame = Frame {
            pm_cf1: [0, (pm25 * 1.1) as u16, (pm25 * 1.7) as u16],
            pm_atm: [(pm25 * 0.7) as u16, pm25 as u16, (pm25 * 1.6) as u16],
            counts: [3000, 900, 200, 20, 4, 1],
        };
        // A little line noise before the frame: the parser resynchronises.
        for b in [0x00u8, 0x42, 0x17].into_iter().chain(frame.encode()) {
            if let Some(f) = self.parser.push(b) {
                r.pm2_5 = Some(f32::from(f.pm_atm[1]));
                r.pm10 = Some(f32::from(f.pm_atm[2]));
            }
        }
        let t = 18.0 + rng.next_f64() * 8.0;
        let rh = 55.0 + rng.next_f64() * 20.0;
        let st = ((t + 45.0) / 175.0 * 65535.0) as u16;
        let srh = ((rh + 6.0) / 125.0 * 65535.0) as u16;
        let m = sht4x::convert(st, srh);
        r.temp_c = Some((m.temp_c * 10.0).round() / 10.0);
        r.rh_pct = Some((m.rh_pct * 10.0).round() / 10.0);
        // Gas cells (µg/m³ shown; the cells read mg/m³).
        let ug = |mg: f32| (mg * 1000.0).round();
        r.no2 = Some(ug(gas(0.025 + rng.next_f64() * 0.02, CELL)));
        r.so2 = Some(ug(gas(0.006 + rng.next_f64() * 0.006, CELL)));
        r.o3 = Some(ug(gas(0.04 + rng.next_f64() * 0.06, CELL)));
        r.co = Some((gas(0.5 + rng.next_f64() * 0.4, CELL) * 10.0).round() / 10.0);
    }
}

/// A toilet block: stall switches and the entry beam through debouncers, odour cells.
pub struct Toilet {
    stalls: Vec<Debounce>,
    beam: BeamCounter,
}

impl Toilet {
    pub fn new(stalls: usize) -> Self {
        Toilet {
            stalls: vec![Debounce::new(3); stalls],
            beam: BeamCounter::new(2),
        }
    }

    pub fn period(&mut self, rng: &mut Rng, open: bool, seconds: u32, r: &mut Reading) {
        let busy = if open { 0.35 } else { 0.0 };
        let mut occupied = 0;
        for _ in 0..seconds.max(1) {
            // Each stall's switch, with contact bounce.
            occupied = 0;
            for s in &mut self.stalls {
                let raw = rng.next_f64() < busy || rng.next_f64() < 0.02;
                occupied += u16::from(s.sample(raw).0);
            }
            // Visitors break the beam for a few samples.
            let visit = open && rng.next_f64() < 0.1;
            for _ in 0..4 {
                self.beam.sample(visit);
            }
            self.beam.sample(false);
            self.beam.sample(false);
        }
        r.stalls = Some(self.stalls.len() as u16);
        r.occupied = Some(occupied);
        r.entries = Some(self.beam.entries);
        r.open = Some(open);
        let cal = Calibration {
            span_v_per_mg_m3: 0.8,
            ..CELL
        };
        r.nh3 = Some((gas(0.15 + rng.next_f64() * 0.3, cal) * 100.0).round() / 100.0);
        r.h2s = Some(
            (gas(
                0.004 + rng.next_f64() * 0.006,
                Calibration {
                    span_v_per_mg_m3: 20.0,
                    ..CELL
                },
            ) * 1000.0)
                .round()
                / 1000.0,
        );
    }
}

/// A single-lamp controller: relay from the schedule, lamp current with an injected failure.
pub struct Lamp {
    energy_wh: f64,
    /// This lamp's tube is dead (draws no current when switched on).
    pub broken: bool,
}

impl Lamp {
    pub fn new(broken: bool) -> Self {
        Lamp {
            energy_wh: 0.0,
            broken,
        }
    }

    pub fn period(&mut self, rng: &mut Rng, scheduled_on: bool, seconds: u32, r: &mut Reading) {
        let relay = scheduled_on;
        let lit = relay && !self.broken;
        let e = Electrical {
            voltage_v: 225.0 + rng.next_f64() as f32 * 10.0,
            current_a: if lit {
                0.42 + rng.next_f64() as f32 * 0.04
            } else {
                0.0
            },
            power_w: if lit {
                95.0 + rng.next_f64() as f32 * 5.0
            } else {
                0.0
            },
        };
        self.energy_wh += f64::from(e.power_w) * f64::from(seconds) / 3600.0;
        let faults = streetlight::faults(relay, &e, &Limits::default());
        r.lamp_on = Some(relay);
        r.dim_pct = Some(if relay { 100.0 } else { 0.0 });
        r.voltage_v = Some((e.voltage_v * 10.0).round() / 10.0);
        r.current_a = Some((e.current_a * 1000.0).round() / 1000.0);
        r.power_w = Some((e.power_w * 10.0).round() / 10.0);
        r.energy_wh = Some((self.energy_wh * 10.0).round() / 10.0);
        r.faults = (!faults.is_empty()).then_some(faults);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_noise_reads_near_its_base_through_the_firmware_meter() {
        let mut rng = Rng::new(1);
        let mut n = Noise::default();
        let mut r = Reading::new(0, 0, 10);
        n.period(&mut rng, ZoneClass::C1, false, 10, &mut r);
        let (leq, max, min) = (r.laeq.unwrap(), r.lamax.unwrap(), r.lamin.unwrap());
        assert!(min <= leq && leq <= max, "{min} {leq} {max}");
        assert!((45.0..75.0).contains(&leq), "{leq}");
    }

    #[test]
    fn other_kinds_give_valid_readings() {
        let mut rng = Rng::new(2);
        let mut r = Reading::new(0, 0, 60);
        Air::default().period(&mut rng, 8, &mut r);
        assert!(r.pm2_5.unwrap() >= 30.0 && r.no2.is_some() && r.co.is_some());
        assert!(r.check_ranges().is_ok());
        let mut r = Reading::new(0, 0, 60);
        Toilet::new(4).period(&mut rng, true, 60, &mut r);
        assert!(r.entries.unwrap() > 0 && r.occupied.unwrap() <= 4);
        assert!(r.check_ranges().is_ok());
        let mut r = Reading::new(0, 0, 60);
        Lamp::new(true).period(&mut rng, true, 60, &mut r);
        let faults = r.faults.as_ref().unwrap();
        assert_eq!(faults.as_slice(), &[meili_firmware::Fault::LampFailure]);
    }
}
