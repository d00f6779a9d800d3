//! The simulated fleet of `meilid demo`: one MQTT connection per device, status retained with a
//! last will, readings encoded by the firmware's wire-format code. Noise meters synthesise
//! one-second levels (zone-typical base, day/night swing, passing vehicles) and report LAeq as
//! their energy mean with LAmax/LAmin.

use std::time::Duration;

use meili_firmware::{payload, Kind, Reading, Status};
use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS};
use tokio_util::sync::CancellationToken;

use crate::config::{DeviceConfig, ZoneClass};
use crate::standards::noise;

/// Small deterministic PRNG (xorshift64*), enough for simulated sensors.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn base_level(class: ZoneClass, night: bool) -> f64 {
    let day = match class {
        ZoneClass::C0 => 44.0,
        ZoneClass::C1 => 50.0,
        ZoneClass::C2 => 55.0,
        ZoneClass::C3 => 60.0,
        ZoneClass::C4a => 64.0,
        ZoneClass::C4b => 66.0,
    };
    if night {
        day - 9.0
    } else {
        day
    }
}

/// One simulated noise period: `seconds` one-second levels → (LAeq, LAmax, LAmin), 0.1 dB.
pub fn noise_period(rng: &mut Rng, class: ZoneClass, night: bool, seconds: u32) -> (f32, f32, f32) {
    let base = base_level(class, night);
    let mut levels = Vec::with_capacity(seconds as usize);
    let mut event = 0u32;
    for _ in 0..seconds.max(1) {
        if event == 0 && rng.next_f64() < 0.04 {
            event = 3 + (rng.next_f64() * 6.0) as u32;
        }
        let bump = if event > 0 {
            event -= 1;
            8.0 + rng.next_f64() * 10.0
        } else {
            0.0
        };
        levels.push(base + (rng.next_f64() - 0.5) * 6.0 + bump);
    }
    let r = |x: f64| ((x * 10.0).round() / 10.0) as f32;
    let leq = noise::energy_mean(levels.iter().copied()).unwrap_or(base);
    let max = levels.iter().copied().fold(f64::MIN, f64::max);
    let min = levels.iter().copied().fold(f64::MAX, f64::min);
    (r(leq), r(max), r(min))
}

/// Run one simulated device until `stop`.
pub async fn run_device(
    device: DeviceConfig,
    broker: std::net::SocketAddr,
    period: Duration,
    tz: jiff::tz::TimeZone,
    stop: CancellationToken,
) {
    let root = format!(
        "meili/v1/{}/{}/{}",
        device.site,
        device.kind.as_str(),
        device.id
    );
    let mut buf = [0u8; 512];
    let will_len = payload::encode_status(
        &Status {
            v: 1,
            online: false,
            ..Status::default()
        },
        &mut buf,
    )
    .unwrap_or(0);
    let mut opts = MqttOptions::new(
        format!("sim-{}-{}", device.site, device.id),
        broker.ip().to_string(),
        broker.port(),
    );
    opts.set_keep_alive(Duration::from_secs(30))
        .set_last_will(LastWill::new(
            format!("{root}/status"),
            buf[..will_len].to_vec(),
            QoS::AtLeastOnce,
            true,
        ));
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    let poller = tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let mut rng = Rng::new(
        device
            .id
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)),
    );
    let status = Status {
        v: 1,
        online: true,
        fw: heapless::String::try_from("0.1.0-sim").ok(),
        uptime_s: Some(0),
        rssi_dbm: Some(-55 - (rng.next_f64() * 30.0) as i16),
        buffered: Some(0),
    };
    if let Ok(n) = payload::encode_status(&status, &mut buf) {
        let _ = client
            .publish(
                format!("{root}/status"),
                QoS::AtLeastOnce,
                true,
                buf[..n].to_vec(),
            )
            .await;
    }
    let mut seq = 0u32;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = jiff::Timestamp::now();
        let hour = now.to_zoned(tz.clone()).hour() as u32;
        let mut reading = Reading::new(seq, now.as_second(), period.as_secs() as u32);
        seq = seq.wrapping_add(1);
        match device.kind {
            Kind::Noise => {
                let class = device.zone_class.unwrap_or(ZoneClass::C2);
                let (leq, max, min) =
                    noise_period(&mut rng, class, noise::is_night(hour, 22), reading.period_s);
                reading.laeq = Some(leq);
                reading.lamax = Some(max);
                reading.lamin = Some(min);
            }
            // The other kinds join the simulated fleet with their firmware applications.
            _ => continue,
        }
        if let Ok(n) = payload::encode(&reading, &mut buf) {
            let _ = client
                .publish(
                    format!("{root}/telemetry"),
                    QoS::AtLeastOnce,
                    false,
                    buf[..n].to_vec(),
                )
                .await;
        }
    }
    let _ = client.disconnect().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    poller.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_period_stays_near_base() {
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let (leq, max, min) = noise_period(&mut rng, ZoneClass::C1, false, 60);
            assert!(min <= leq && leq <= max, "{min} {leq} {max}");
            assert!((45.0..75.0).contains(&leq), "{leq}");
        }
    }
}
