//! Noise meter: I2S samples → A-weighted level meter → a reading per period → JSON payload,
//! published over MQTT (QoS 1, last will), kept in the offline buffer while the link is down,
//! and served on RS-485 as Modbus input registers.
#![no_std]
#![no_main]

use meili_firmware::app::offline::Offline;
use meili_firmware::drivers::sound::LevelMeter;
use meili_firmware::modbus::{f32_words, respond, InputBank};
use meili_firmware::Reading;
use meili_firmware_apps::input;

#[cortex_m_rt::entry]
fn main() -> ! {
    // Long-lived state in static RAM (counted in the size table), not on the stack.
    let Some(meter) = cortex_m::singleton!(: LevelMeter = LevelMeter::new(48_000.0, 123.01)) else {
        loop {}
    };
    let Some(offline) = cortex_m::singleton!(: Offline<64> = Offline::default()) else {
        loop {}
    };
    let mut regs = InputBank([0u16; 6]);
    let (mut seq, mut out) = (0u32, [0u8; 256]);
    loop {
        for _ in 0..48_000 {
            meter.push(input(0.0f32));
        }
        if let Some(l) = meter.finish() {
            let mut r = Reading::new(seq, input(0i64), 60);
            seq = seq.wrapping_add(1);
            (r.laeq, r.lamax, r.lamin) = (Some(l.laeq), Some(l.lamax), Some(l.lamin));
            for (i, v) in [l.laeq, l.lamax, l.lamin].into_iter().enumerate() {
                regs.0[2 * i..2 * i + 2].copy_from_slice(&f32_words(v));
            }
            meili_firmware_apps::report(r, offline, "noise-01", "meili/v1/town/noise/n01");
        }
        let req = input([1u8, 4, 0, 0, 0, 6, 0x70, 0x08]);
        if let Some(n) = respond(1, &req, &mut regs, &mut out) {
            input(&out[..n]);
        }
    }
}
