//! Noise meter: I2S samples → A-weighted level meter → a reading per period → JSON payload,
//! published over MQTT (QoS 1, last will), kept in the offline buffer while the link is down,
//! and served on RS-485 as Modbus input registers.
#![no_std]
#![no_main]

use meili_firmware::app::offline::Offline;
use meili_firmware::drivers::sound::LevelMeter;
use meili_firmware::modbus::{f32_words, respond, Exception, Registers};
use meili_firmware::{payload, Reading};
use meili_firmware_apps::input;

struct Regs([u16; 6]);
impl Registers for Regs {
    fn input(&self, a: u16) -> Option<u16> {
        self.0.get(usize::from(a)).copied()
    }
    fn holding(&self, _: u16) -> Option<u16> {
        None
    }
    fn write_holding(&mut self, _: u16, _: u16) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    // Long-lived state in static RAM (counted in the size table), not on the stack.
    let Some(meter) = cortex_m::singleton!(: LevelMeter = LevelMeter::new(48_000.0, 123.01)) else {
        loop {}
    };
    let Some(offline) = cortex_m::singleton!(: Offline<64> = Offline::default()) else {
        loop {}
    };
    let mut regs = Regs([0; 6]);
    let (mut seq, mut out, mut buf) = (0u32, [0u8; 256], [0u8; 512]);
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
            let mut net = [0u8; 768];
            let sent = match payload::encode(&r, &mut buf) {
                Ok(n) => meili_firmware_apps::publish(
                    "noise-01",
                    "meili/v1/town/noise/n01",
                    &buf[..n],
                    &mut net,
                ),
                Err(_) => false,
            };
            if sent {
                let mut batch = [0u8; 2048];
                meili_firmware_apps::upload_backlog(
                    offline,
                    "noise-01",
                    "meili/v1/town/noise/n01",
                    &mut batch,
                    &mut net,
                );
            } else {
                offline.push(r);
            }
        }
        let req = input([1u8, 4, 0, 0, 0, 6, 0x70, 0x08]);
        if let Some(n) = respond(1, &req, &mut regs, &mut out) {
            input(&out[..n]);
        }
    }
}
