//! Smart toilet: eight stall switches, the entry beam and the open switch on EXTI inputs
//! (sampled every 10 ms while they move, debounced, with a stuck check), NH3 and H2S cells on
//! the ADC → a reading per period, published by the station's network task.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration, Instant, Timer};
use embedded_hal::digital::InputPin;
use meili_firmware::app::streetlight::decode_command;
use meili_firmware::app::toilet::{BeamCounter, Debounce};
use meili_firmware::drivers::gas::{AdcChannel, Calibration, GasChannel};
use meili_firmware::payload::Kind;
use meili_firmware::Reading;
use meili_firmware_apps::config::Config;
use meili_firmware_apps::{board, log, station};

#[cortex_m_rt::entry]
fn main() -> ! {
    meili_firmware_apps::executor::run(|spawner| station::spawn(&spawner, app(spawner)))
}

#[embassy_executor::task]
async fn app(spawner: Spawner) {
    let b = board::init(Kind::Toilet, 9600, 8_000);
    let parts = station::start(&spawner, b, Kind::Toilet).await;
    let Some(io) = parts.toilet else {
        log!("toilet: this board has no toilet inputs");
        board::restart()
    };
    let seq = station::next_seq().await;
    station::spawn(&spawner, sensor(io, parts.cfg, seq));
    station::supervise(parts.watchdog).await
}

/// A stall whose switch has not moved for about a day (samples are ~1 s apart when idle) is
/// reported out of service.
const STUCK_AFTER: u32 = 86_400;

fn cell(zero_v: f32, span_v: f32) -> Calibration {
    Calibration {
        vref: 3.3,
        bits: 12,
        zero_v,
        span_v_per_mg_m3: span_v,
    }
}

/// A `zero` or `span` command from the gateway on the gas cells: measured now, saved in the
/// configuration (it survives a restart), logged.
async fn calibrate_gas<A: AdcChannel>(nh3: &mut GasChannel<A>, h2s: &mut GasChannel<A>) {
    let Ok(cmd) = station::COMMANDS.try_receive() else {
        return;
    };
    let Some(c) = decode_command(&cmd) else {
        return;
    };
    let gas = c.gas.as_deref();
    for (name, ch) in [("nh3", &mut *nh3), ("h2s", &mut *h2s)] {
        let raw = match (c.op.as_str(), gas) {
            ("zero", None) | ("zero" | "span", Some(_)) if gas.is_none_or(|g| g == name) => {
                ch.read_mean(64).ok()
            }
            _ => None,
        };
        let Some(raw) = raw else { continue };
        let new = match c.op.as_str() {
            "zero" => ch.calibration.zeroed(raw),
            _ => ch.calibration.spanned(raw, c.mg_m3.unwrap_or(0.0)),
        };
        match new {
            Ok(cal) => {
                ch.calibration = cal;
                let saved = station::with_store(async |s| {
                    let mut cfg = s.config().await.unwrap_or_default();
                    match name {
                        "nh3" => {
                            (cfg.nh3_zero_v, cfg.nh3_span_v) = (cal.zero_v, cal.span_v_per_mg_m3)
                        }
                        _ => (cfg.h2s_zero_v, cfg.h2s_span_v) = (cal.zero_v, cal.span_v_per_mg_m3),
                    }
                    s.save_config(&cfg).await
                })
                .await
                .unwrap_or(false);
                log!(
                    "toilet: {} {}: zero {} V, span {} V per mg/m3 (saved {})",
                    name,
                    c.op.as_str(),
                    cal.zero_v,
                    cal.span_v_per_mg_m3,
                    saved
                );
            }
            Err(e) => log!(
                "toilet: {} {} refused ({:?}), raw {}",
                name,
                c.op.as_str(),
                e,
                raw
            ),
        }
    }
}

#[embassy_executor::task]
async fn sensor(io: board::ToiletIo, cfg: Config, mut seq: u32) {
    let board::ToiletIo {
        mut inputs,
        nh3,
        h2s,
    } = io;
    let mut nh3 = GasChannel::new(nh3, cell(cfg.nh3_zero_v, cfg.nh3_span_v));
    let mut h2s = GasChannel::new(h2s, cell(cfg.h2s_zero_v, cfg.h2s_span_v));
    let mut stalls = [Debounce::new(3); 8];
    let mut beam = BeamCounter::new(3);
    let mut open = Debounce::new(3);
    let period = Duration::from_secs(u64::from(cfg.period_s));
    let mut start = Instant::now();
    let mut busy_until = Instant::now();
    loop {
        station::sensor_beat();
        // Asleep until an edge (or a second); then sampled every 10 ms for 100 ms.
        if Instant::now() >= busy_until {
            if with_timeout(Duration::from_secs(1), inputs.changed())
                .await
                .is_ok()
            {
                busy_until = Instant::now() + Duration::from_millis(100);
            }
        } else {
            Timer::after_millis(10).await;
        }
        for (pin, d) in inputs.stalls.iter_mut().zip(stalls.iter_mut()) {
            d.sample(pin.is_high().unwrap_or(false));
        }
        beam.sample(InputPin::is_high(&mut inputs.beam).unwrap_or(false));
        open.sample(InputPin::is_high(&mut inputs.open).unwrap_or(false));
        calibrate_gas(&mut nh3, &mut h2s).await;
        if start.elapsed() < period {
            continue;
        }
        start += period;
        let in_service = stalls.iter().filter(|d| d.unchanged < STUCK_AFTER);
        let mut r = Reading::new(seq, 0, cfg.period_s);
        r.stalls = Some(in_service.clone().count() as u16);
        r.occupied = Some(in_service.filter(|d| d.level()).count() as u16);
        r.entries = Some(beam.entries);
        r.open = Some(open.level());
        r.nh3 = nh3.read(16).ok();
        r.h2s = h2s.read(16).ok();
        log!(
            "toilet: seq {} occupied {:?}/{:?} entries {}",
            seq,
            r.occupied,
            r.stalls,
            beam.entries
        );
        station::report(r);
        seq = seq.wrapping_add(1);
        station::save_seq(seq).await;
    }
}
