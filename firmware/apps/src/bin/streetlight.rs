//! Streetlight controller: its own astronomical schedule (sunset/sunrise at the configured
//! site, changed by `schedule`/`dim`/`time` commands) drives the relay and the dimming PWM;
//! the lamp's voltage and current, sampled over five mains cycles every 10 s, give the real
//! power, energy, lamp/driver/power faults and day-burning → a reading per period, published
//! by the station's network task.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::{Duration, Instant, Ticker};
use meili_firmware::app::streetlight::{
    day_burning, decode_command, electrical, faults, Lamp, Limits, MeterScale, Schedule,
};
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
    let b = board::init(Kind::Streetlight, 9600, 8_000);
    let parts = station::start(&spawner, b, Kind::Streetlight).await;
    let Some(io) = parts.lamp else {
        log!("streetlight: this board has no lamp outputs");
        board::restart()
    };
    let seq = station::next_seq().await;
    station::spawn(&spawner, control(io, parts.cfg, seq));
    station::supervise(parts.watchdog).await
}

#[embassy_executor::task]
async fn control(io: board::LampIo, cfg: Config, mut seq: u32) {
    let mut lamp = Lamp::new(io.relay, io.dimmer);
    let mut meter = io.meter;
    let mut schedule = Schedule {
        lat: f64::from(cfg.lat),
        lon: f64::from(cfg.lon),
        utc_offset_s: i64::from(cfg.utc_offset_min) * 60,
        on_offset_min: cfg.on_offset_min,
        off_offset_min: cfg.off_offset_min,
        dim_pct: cfg.dim_pct,
        clock_skew_s: 0,
    };
    let scale = MeterScale {
        v_per_count: cfg.v_per_count,
        a_per_count: cfg.a_per_count,
    };
    let limits = Limits::default();
    let step = Duration::from_secs(10);
    let mut ticker = Ticker::every(step);
    let period = Duration::from_secs(u64::from(cfg.period_s));
    let mut start = Instant::now();
    let mut energy_wh = 0f64;
    let mut samples = [(0u16, 0u16); 200];
    loop {
        station::sensor_beat();
        let now = station::unix_now();
        while let Ok(c) = station::COMMANDS.try_receive() {
            match decode_command(&c) {
                Some(cmd) if schedule.apply(&cmd, now.unwrap_or(0)) => {
                    log!("streetlight: command {} applied", cmd.op.as_str())
                }
                _ => log!("streetlight: command not understood ({} bytes)", c.len()),
            }
        }
        // Without a clock (first start, no RTC, no network yet) the lamp stays lit: a dark
        // street is worse than a lamp burning by day.
        let lit = now.is_none_or(|t| schedule.lit(t));
        let switched = lamp.set(lit, schedule.dim_pct).is_ok();
        let measured = if meter.sample(&mut samples).await {
            electrical(&samples, scale)
        } else {
            None
        };
        if let Some(e) = measured {
            energy_wh += f64::from(e.power_w.max(0.0)) * step.as_secs() as f64 / 3600.0;
        }
        if start.elapsed() >= period {
            start += period;
            let mut r = Reading::new(seq, 0, cfg.period_s);
            r.dim_pct = lit.then_some(f32::from(schedule.dim_pct));
            r.energy_wh = Some(energy_wh);
            if let Some(e) = measured {
                r.lamp_on = Some(lit || day_burning(lit, &e, &limits));
                (r.voltage_v, r.current_a, r.power_w) =
                    (Some(e.voltage_v), Some(e.current_a), Some(e.power_w));
                let f = faults(lit && switched, &e, &limits);
                r.faults = (!f.is_empty()).then_some(f);
            }
            log!(
                "streetlight: seq {} lit {} power {:?} W faults {:?}",
                seq,
                lit,
                r.power_w,
                r.faults
            );
            station::report(r);
            seq = seq.wrapping_add(1);
            station::save_seq(seq).await;
        }
        ticker.next().await;
    }
}
