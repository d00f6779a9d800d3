//! Air-quality station: PMS5003 frames from the sensor port (passive mode: one requested each
//! second, so the sensor talks only when asked) →
//! mean PM2.5 / PM10 over the period, temperature and humidity from an SHT4x on I2C where the
//! board has one → a reading, published by the station's network task
//! (or kept in the flash queue while offline).
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration, Instant, Timer};
use embedded_io_async::{Read, Write};
use meili_firmware::drivers::pms5003::{command, FrameParser};
use meili_firmware::drivers::sht4x::Sht4x;
use meili_firmware::payload::Kind;
use meili_firmware::Reading;
use meili_firmware_apps::{board, log, station};

#[cortex_m_rt::entry]
fn main() -> ! {
    meili_firmware_apps::executor::run(|spawner| station::spawn(&spawner, app(spawner)))
}

#[embassy_executor::task]
async fn app(spawner: Spawner) {
    let b = board::init(Kind::Air, 9600, 8_000);
    let station::Parts {
        cfg,
        watchdog,
        sensor: uart,
        climate,
        ..
    } = station::start(&spawner, b, Kind::Air).await;
    station::spawn(
        &spawner,
        sensor(
            uart,
            climate,
            cfg.period_s,
            cfg.offset,
            station::next_seq().await,
        ),
    );
    station::supervise(watchdog).await
}

#[embassy_executor::task]
async fn sensor(
    mut uart: board::Uart,
    climate: Option<board::I2c>,
    period_s: u32,
    offset: f32,
    mut seq: u32,
) {
    // SHT4x at 0x44, where the board has the bus; a failed measurement leaves the fields out.
    let mut sht = climate.map(|bus| Sht4x::new(bus, 0x44));
    let _ = uart.write(&command::PASSIVE).await;
    let mut parser = FrameParser::default();
    let period = Duration::from_secs(u64::from(period_s));
    let mut start = Instant::now();
    let (mut pm25, mut pm10, mut n) = (0f32, 0f32, 0u32);
    loop {
        station::sensor_beat();
        let _ = uart.write(&command::READ).await;
        // The frame (and any command reply) within the second, then the next request.
        let second = Instant::now() + Duration::from_secs(1);
        let mut b = [0u8; 40];
        while let Ok(Ok(k)) = with_timeout(
            second.saturating_duration_since(Instant::now()),
            uart.read(&mut b),
        )
        .await
        {
            for &x in &b[..k] {
                if let Some(f) = parser.push(x) {
                    pm25 += f32::from(f.pm_atm[1]);
                    pm10 += f32::from(f.pm_atm[2]);
                    n += 1;
                }
            }
        }
        Timer::at(second).await;
        if start.elapsed() >= period {
            start += period;
            let mut r = Reading::new(seq, 0, period_s);
            if n > 0 {
                r.pm2_5 = Some(pm25 / n as f32 + offset);
                r.pm10 = Some(pm10 / n as f32);
            }
            if let Some(Ok(m)) = sht.as_mut().map(|s| s.measure(&mut embassy_time::Delay)) {
                (r.temp_c, r.rh_pct) = (Some(m.temp_c), Some(m.rh_pct));
            }
            log!(
                "air: seq {} pm2_5 {:?} from {} frames ({} rejected, {} replies)",
                seq,
                r.pm2_5,
                n,
                parser.rejected,
                parser.replies
            );
            station::report(r);
            seq = seq.wrapping_add(1);
            station::save_seq(seq).await;
            (pm25, pm10, n) = (0.0, 0.0, 0);
        }
    }
}
