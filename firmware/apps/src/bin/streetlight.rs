//! Streetlight controller: relay and dimming, lamp current/voltage → faults and day-burning →
//! a reading per period → JSON payload published over MQTT (QoS 1, last will), kept in the
//! offline buffer while the link is down.
#![no_std]
#![no_main]

use meili_firmware::app::offline::Offline;
use meili_firmware::app::streetlight::{
    day_burning, decode_command, faults, Electrical, Limits, Schedule,
};
use meili_firmware::Reading;
use meili_firmware_apps::standin::input;

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(offline) = cortex_m::singleton!(: Offline<64> = Offline::default()) else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    let limits = Limits::default();
    // The lamp's own astronomical schedule (23.36 N 103.38 E, UTC+8), changed by `cmd`.
    let mut schedule = Schedule {
        lat: 23.36,
        lon: 103.38,
        utc_offset_s: 8 * 3600,
        on_offset_min: 0,
        off_offset_min: 0,
        dim_pct: 100,
        clock_skew_s: 0,
    };
    let (mut seq, mut energy) = (0u32, 0.0f64);
    loop {
        let clock = input(0i64);
        if let Some(c) = decode_command(input(&[0u8; 96][..])) {
            schedule.apply(&c, clock);
        }
        let relay = schedule.lit(clock);
        let e = Electrical {
            voltage_v: input(230.0),
            current_a: input(0.4),
            power_w: input(92.0),
        };
        energy += f64::from(e.power_w) * 300.0 / 3600.0;
        let mut r = Reading::new(seq, input(0i64), 300);
        seq = seq.wrapping_add(1);
        r.lamp_on = Some(relay || day_burning(input(false), &e, &limits));
        r.power_w = Some(e.power_w);
        r.energy_wh = Some(energy);
        let f = faults(relay, &e, &limits);
        r.faults = (!f.is_empty()).then_some(f);
        meili_firmware_apps::standin::report(
            r,
            offline,
            "streetlight-01",
            "meili/v1/town/streetlight/l01",
        );
    }
}
