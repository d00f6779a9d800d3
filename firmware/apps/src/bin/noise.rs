//! Noise meter, on one of two inputs (`noise_input`):
//! - `rs485`: a noise transmitter (DOMAIN.md §8.3: Modbus RTU, holding register 0 = dB × 10)
//!   polled once a second as bus master → LAeq (energy mean), LAmax, LAmin over the period;
//! - `mic`: the board's I2S MEMS microphone at 48 kHz by DMA → the A-weighted level meter
//!   (LAeq, Fast LAmax/LAmin), on boards that have one.
//!
//! → a reading per period, published by the station's network task.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration, Instant, Ticker};
use embedded_io_async::{Read, Write};
use meili_firmware::app::calibration;
use meili_firmware::app::streetlight::decode_command;
use meili_firmware::drivers::noise_x10::{parse_reply, request};
use meili_firmware::drivers::sound::LevelMeter;
use meili_firmware::payload::Kind;
use meili_firmware::Reading;
use meili_firmware_apps::config::NoiseInput;
use meili_firmware_apps::{board, log, station};

#[cortex_m_rt::entry]
fn main() -> ! {
    meili_firmware_apps::executor::run(|spawner| station::spawn(&spawner, app(spawner)))
}

#[embassy_executor::task]
async fn app(spawner: Spawner) {
    let b = board::init(Kind::Noise, 9600, 8_000);
    let station::Parts {
        cfg,
        watchdog,
        sensor: uart,
        mic,
        ..
    } = station::start(&spawner, b, Kind::Noise).await;
    let seq = station::next_seq().await;
    if cfg.noise_input == NoiseInput::Mic {
        match mic.and_then(board::Mic::start) {
            Some(m) => {
                station::spawn(&spawner, microphone(m, cfg.period_s, cfg.offset, seq));
                station::supervise(watchdog).await
            }
            None => log!("noise: this board has no microphone; using RS-485"),
        }
    }
    station::spawn(
        &spawner,
        sensor(uart, cfg.unit, cfg.period_s, cfg.offset, seq),
    );
    station::supervise(watchdog).await
}

/// One request and its 7-byte reply (at 9600 baud it takes 7.3 ms; 3.5 characters of silence,
/// 4 ms, end a frame); `None` on silence, a bad CRC or an exception.
async fn poll(uart: &mut board::Uart, unit: u8) -> Option<f32> {
    uart.clear();
    let _ = uart.write(&request(unit, 0, 1)).await;
    let mut reply = [0u8; 7];
    let mut got = 0;
    while got < reply.len() {
        match with_timeout(Duration::from_millis(200), uart.read(&mut reply[got..])).await {
            Ok(Ok(k)) if k > 0 => got += k,
            _ => return None,
        }
    }
    parse_reply(unit, &reply)
        .ok()
        .map(|x10| f32::from(x10) / 10.0)
}

/// A calibration in progress: the calibrator's level, and the energy and count of the levels
/// measured so far.
type Calibrating = Option<(f32, f64, u32)>;

/// A `calibrate` command from the gateway starts a calibration.
fn calibrate_command() -> Calibrating {
    let cmd = station::COMMANDS.try_receive().ok()?;
    match decode_command(&cmd) {
        Some(c) if c.op == "calibrate" => match c.reference_db {
            Some(r) => {
                log!(
                    "noise: calibrating against {} dB for {} s",
                    r,
                    calibration::SECONDS
                );
                Some((r, 0.0, 0))
            }
            None => {
                log!("noise: calibrate without reference_db; ignored");
                None
            }
        },
        Some(c) => {
            log!("noise: command {} ignored", c.op.as_str());
            None
        }
        None => None,
    }
}

/// The calibration's end: the new offset, saved, or the old one if the level is implausible.
async fn finish_calibration(reference: f32, measured: f32, offset: f32) -> f32 {
    match calibration::noise_offset(reference, measured, offset) {
        Ok(new) => {
            let saved = station::calibrated(new, station::unix_now().unwrap_or(0)).await;
            log!(
                "noise: calibrated: measured {} dB, offset {} dB (saved {})",
                measured,
                new,
                saved
            );
            new
        }
        Err(e) => {
            log!(
                "noise: calibration refused ({:?}): measured {} dB against {} dB",
                e,
                measured,
                reference
            );
            offset
        }
    }
}

#[embassy_executor::task]
async fn sensor(mut uart: board::Uart, unit: u8, period_s: u32, mut offset: f32, mut seq: u32) {
    let period = Duration::from_secs(u64::from(period_s));
    let mut ticker = Ticker::every(Duration::from_secs(1));
    let mut start = Instant::now();
    let (mut energy, mut n, mut max, mut min, mut failed) = (0f64, 0u32, f32::MIN, f32::MAX, 0u32);
    let mut cal: Calibrating = None;
    loop {
        station::sensor_beat();
        if cal.is_none() {
            cal = calibrate_command();
        }
        match poll(&mut uart, unit).await {
            Some(db) => {
                let db = db + offset;
                let power = libm::pow(10.0, f64::from(db) / 10.0);
                energy += power;
                n += 1;
                max = max.max(db);
                min = min.min(db);
                if let Some((r, e, k)) = cal.as_mut() {
                    *e += power;
                    *k += 1;
                    if *k >= calibration::SECONDS {
                        let (r, e, k) = (*r, *e, *k);
                        let measured = (10.0 * libm::log10(e / f64::from(k))) as f32;
                        offset = finish_calibration(r, measured, offset).await;
                        cal = None;
                    }
                }
            }
            None => failed += 1,
        }
        if start.elapsed() >= period {
            start += period;
            let mut r = Reading::new(seq, 0, period_s);
            if n > 0 {
                r.laeq = Some((10.0 * libm::log10(energy / f64::from(n))) as f32);
                (r.lamax, r.lamin) = (Some(max), Some(min));
            }
            log!(
                "noise: seq {} laeq {:?} from {} polls ({} unanswered)",
                seq,
                r.laeq,
                n,
                failed
            );
            station::report(r);
            seq = seq.wrapping_add(1);
            station::save_seq(seq).await;
            (energy, n, max, min, failed) = (0.0, 0, f32::MIN, f32::MAX, 0);
        }
        ticker.next().await;
    }
}

/// ICS-43434: 94 dB SPL reads −26 dBFS RMS, so a full-scale sine is 120 dB SPL and the level of
/// a mean square of 1.0 is 123.01 dB (sound.rs); `offset` is the field calibration on top.
const MIC_FULL_SCALE_DB: f32 = 123.01;

#[embassy_executor::task]
async fn microphone(mut mic: board::Mic, period_s: u32, mut offset: f32, mut seq: u32) {
    let rate = board::MIC_RATE_HZ;
    let mut meter = LevelMeter::new(rate as f32, MIC_FULL_SCALE_DB + offset);
    // A calibration: the calibrator's level, its own meter and the samples still to measure.
    let mut cal: Option<(f32, LevelMeter, u64)> = None;
    let mut recalibrated = false;
    let per_period = u64::from(period_s) * u64::from(rate);
    let (mut samples, mut overruns) = (0u64, 0u32);
    let mut block = [0f32; 128];
    loop {
        // The period is counted in samples: the microphone's clock is the meter's clock.
        match mic.read(&mut block).await {
            Ok(()) => {
                for &x in &block {
                    meter.push(x);
                }
                samples += block.len() as u64;
                if let Some((_, m, left)) = cal.as_mut() {
                    for &x in &block {
                        m.push(x);
                    }
                    *left = left.saturating_sub(block.len() as u64);
                }
            }
            Err(()) => overruns += 1,
        }
        if samples % u64::from(rate) < block.len() as u64 {
            station::sensor_beat();
            if cal.is_none() {
                cal = calibrate_command().map(|(r, _, _)| {
                    let m = LevelMeter::new(rate as f32, MIC_FULL_SCALE_DB + offset);
                    (r, m, u64::from(calibration::SECONDS) * u64::from(rate))
                });
            }
        }
        if let Some((r, mut m, 0)) = cal.take_if(|c| c.2 == 0) {
            if let Some(l) = m.finish() {
                let new = finish_calibration(r, l.laeq, offset).await;
                // The running period ends with the old offset; the next one has the new.
                recalibrated |= new != offset;
                offset = new;
            }
        }
        if samples >= per_period {
            samples -= per_period;
            let mut r = Reading::new(seq, 0, period_s);
            if let Some(l) = meter.finish() {
                (r.laeq, r.lamax, r.lamin) = (Some(l.laeq), Some(l.lamax), Some(l.lamin));
            }
            if recalibrated {
                meter = LevelMeter::new(rate as f32, MIC_FULL_SCALE_DB + offset);
                recalibrated = false;
            }
            log!(
                "noise: seq {} laeq {:?} from the microphone ({} overruns)",
                seq,
                r.laeq,
                overruns
            );
            station::report(r);
            seq = seq.wrapping_add(1);
            station::save_seq(seq).await;
            overruns = 0;
        }
    }
}
