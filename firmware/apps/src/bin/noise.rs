//! Noise meter with an RS-485 noise transmitter (DOMAIN.md §8.3: Modbus RTU, holding register
//! 0 = dB × 10): polled once a second as bus master → LAeq (energy mean), LAmax, LAmin over the
//! period → a reading, published by the station's network task.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration, Instant, Ticker};
use embedded_io_async::{Read, Write};
use meili_firmware::drivers::noise_x10::{parse_reply, request};
use meili_firmware::payload::Kind;
use meili_firmware::Reading;
use meili_firmware_apps::{board, log, station};

#[cortex_m_rt::entry]
fn main() -> ! {
    meili_firmware_apps::executor::run(|spawner| station::spawn(&spawner, app(spawner)))
}

#[embassy_executor::task]
async fn app(spawner: Spawner) {
    let b = board::init(9600, 8_000);
    let station::Parts {
        cfg,
        watchdog,
        sensor: uart,
        ..
    } = station::start(&spawner, b, Kind::Noise).await;
    station::spawn(
        &spawner,
        sensor(
            uart,
            cfg.unit,
            cfg.period_s,
            cfg.offset,
            station::next_seq().await,
        ),
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

#[embassy_executor::task]
async fn sensor(mut uart: board::Uart, unit: u8, period_s: u32, offset: f32, mut seq: u32) {
    let period = Duration::from_secs(u64::from(period_s));
    let mut ticker = Ticker::every(Duration::from_secs(1));
    let mut start = Instant::now();
    let (mut energy, mut n, mut max, mut min, mut failed) = (0f64, 0u32, f32::MIN, f32::MAX, 0u32);
    loop {
        station::sensor_beat();
        match poll(&mut uart, unit).await {
            Some(db) => {
                let db = db + offset;
                energy += libm::pow(10.0, f64::from(db) / 10.0);
                n += 1;
                max = max.max(db);
                min = min.min(db);
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
