//! Smart toilet: debounced stall switches with a stuck check, the entry beam, odour cells →
//! a reading per period → JSON payload published over MQTT (QoS 1, last will), kept in the
//! offline buffer while the link is down.
#![no_std]
#![no_main]

use meili_firmware::app::offline::Offline;
use meili_firmware::app::toilet::{BeamCounter, Debounce};
use meili_firmware::Reading;
use meili_firmware_apps::standin::input;

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(offline) = cortex_m::singleton!(: Offline<64> = Offline::default()) else {
        cortex_m::peripheral::SCB::sys_reset()
    };
    let mut stalls = [Debounce::new(3); 8];
    let mut beam = BeamCounter::new(2);
    let mut seq = 0u32;
    loop {
        let mut occupied = 0;
        for _ in 0..600 {
            occupied = 0;
            for s in stalls.iter_mut() {
                occupied += u16::from(s.sample(input(false)).0);
            }
            beam.sample(input(false));
        }
        let stuck = stalls.iter().filter(|s| s.unchanged > 86_400).count();
        let mut r = Reading::new(seq, input(0i64), 60);
        seq = seq.wrapping_add(1);
        r.stalls = Some(8 - stuck as u16);
        r.occupied = Some(occupied);
        r.entries = Some(beam.entries);
        r.open = Some(input(true));
        meili_firmware_apps::standin::report(r, offline, "toilet-01", "meili/v1/town/toilet/t01");
    }
}
