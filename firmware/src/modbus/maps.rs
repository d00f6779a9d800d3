//! The devices' own register maps (`configs/modbus/meili-{kind}.toml`, all input registers):
//! what a Meili device answers when it is polled over RS-485 instead of publishing over MQTT.
//! A field the reading lacks reads as NaN (f32) or all ones (integers), which the gateway's
//! range checks reject and count rather than record.

use super::{f32_words, InputBank};
use crate::payload::{Kind, Reading};

/// Registers of the largest map (streetlight and toilet: 9).
pub const WORDS: usize = 9;

/// The input registers for one reading of a device of `kind`.
pub fn input_registers(kind: Kind, r: &Reading) -> InputBank<WORDS> {
    let mut w = [0u16; WORDS];
    let mut f32_at = |at: usize, v: Option<f32>| {
        w[at..at + 2].copy_from_slice(&f32_words(v.unwrap_or(f32::NAN)));
    };
    match kind {
        Kind::Noise => {
            f32_at(0, r.laeq);
            f32_at(2, r.lamax);
            f32_at(4, r.lamin);
        }
        Kind::Air => {
            f32_at(0, r.pm2_5);
            f32_at(2, r.pm10);
            f32_at(4, r.temp_c);
            f32_at(6, r.rh_pct);
        }
        Kind::Toilet => {
            f32_at(5, r.nh3);
            f32_at(7, r.h2s);
            w[0] = r.stalls.unwrap_or(u16::MAX);
            w[1] = r.occupied.unwrap_or(u16::MAX);
            let e = r.entries.unwrap_or(u32::MAX);
            w[2..4].copy_from_slice(&[(e >> 16) as u16, e as u16]);
            w[4] = r.open.map_or(u16::MAX, u16::from);
        }
        Kind::Streetlight => {
            f32_at(5, r.power_w);
            w[0] = r.lamp_on.map_or(u16::MAX, u16::from);
            w[1] = r
                .dim_pct
                .map_or(u16::MAX, |p| libm::roundf(p).clamp(0.0, 100.0) as u16);
            w[2] = u16::from(r.fault_bits());
            w[3] = scaled(r.voltage_v, 10.0);
            w[4] = scaled(r.current_a, 1000.0);
            let e = r
                .energy_wh
                .map_or(u32::MAX, |e| libm::round(e).clamp(0.0, 4.0e9) as u32);
            w[7..9].copy_from_slice(&[(e >> 16) as u16, e as u16]);
        }
    }
    InputBank(w)
}

/// `v × k` rounded, as a u16 (all ones when absent or out of range).
fn scaled(v: Option<f32>, k: f32) -> u16 {
    match v.map(|v| libm::roundf(v * k)) {
        Some(x) if (0.0..65535.0).contains(&x) => x as u16,
        _ => u16::MAX,
    }
}
