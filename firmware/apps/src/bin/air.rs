//! Air-quality monitor: PMS5003 frames from the UART, SHT4x over I2C, gas cells on the ADC →
//! a reading per period → JSON payload published over MQTT (QoS 1, last will), kept in the
//! offline buffer while the link is down.
#![no_std]
#![no_main]

use meili_firmware::app::offline::Offline;
use meili_firmware::drivers::gas::{AdcChannel, Calibration, GasChannel};
use meili_firmware::drivers::pms5003::FrameParser;
use meili_firmware::drivers::sht4x;
use meili_firmware::Reading;
use meili_firmware_apps::input;

struct Adc;
impl AdcChannel for Adc {
    type Error = ();
    fn read_raw(&mut self) -> Result<u16, ()> {
        Ok(input(1000))
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(offline) = cortex_m::singleton!(: Offline<64> = Offline::default()) else {
        loop {}
    };
    let mut parser = FrameParser::default();
    let cal = Calibration {
        vref: 3.3,
        bits: 12,
        zero_v: 0.4,
        span_v_per_mg_m3: 0.5,
    };
    let mut no2 = GasChannel::new(Adc, cal);
    let mut seq = 0u32;
    loop {
        let mut r = Reading::new(seq, input(0i64), 60);
        for _ in 0..64 {
            if let Some(f) = parser.push(input(0x42u8)) {
                (r.pm2_5, r.pm10) = (Some(f32::from(f.pm_atm[1])), Some(f32::from(f.pm_atm[2])));
            }
        }
        if let Some(m) = sht4x::decode(&input([0u8; 6])) {
            (r.temp_c, r.rh_pct) = (Some(m.temp_c), Some(m.rh_pct));
        }
        r.no2 = no2.read(8).ok().map(|mg| mg * 1000.0);
        seq = seq.wrapping_add(1);
        meili_firmware_apps::report(r, offline, "air-01", "meili/v1/town/air/a01");
    }
}
