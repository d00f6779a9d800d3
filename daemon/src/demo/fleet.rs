//! The simulated fleet of `meilid demo` and `meilid simulate`: one MQTT session per device
//! through the firmware's own MQTT client ([`super::link`]), status retained with a last will, readings encoded by the firmware's wire-format code and measured by the
//! firmware's drivers from simulated sensors ([`super::sensors`]): noise meters, air
//! stations, toilets and street lamps (one with a dead tube).

use std::time::Duration;

use meili_firmware::{payload, Kind, Reading, Status};
use tokio_util::sync::CancellationToken;

use super::sensors;
use crate::config::{DeviceConfig, ZoneClass};
use crate::standards::{lighting, noise, toilet};

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

/// Load and fault options of the simulated devices (`meilid simulate`).
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Chance per period that the device loses its link for 1–10 periods; meanwhile its
    /// readings go to the firmware's offline buffer and are uploaded as a backlog array.
    pub offline_pct: f64,
    /// Readings published (live and backlog) by all devices.
    pub published: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Readings the offline buffers dropped (full).
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Start the simulated clock here (unix s) instead of now: periods already past are
    /// published back to back, then the clock runs in real time.
    pub start_unix: Option<i64>,
    /// Stop once the simulated clock passes this (unix s).
    pub end_unix: Option<i64>,
}

/// Seconds of microphone audio a noise meter synthesises per period while catching up on the
/// past (a sample of the period, so that a simulated day takes seconds, not a day of audio).
const CATCH_UP_AUDIO_SECS: u32 = 1;

/// Run one simulated device until `stop`.
pub async fn run_device(
    device: DeviceConfig,
    broker: std::net::SocketAddr,
    period: Duration,
    tz: jiff::tz::TimeZone,
    stop: CancellationToken,
    sim_opts: SimOptions,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let root = format!(
        "{}/{}/{}/{}",
        crate::config::DEFAULT_TOPIC_PREFIX,
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
    // The firmware's MQTT client; keep-alive longer than the period (a ping-free session).
    let keep_alive = u16::try_from(period.as_secs().saturating_mul(3).max(30)).unwrap_or(u16::MAX);
    let mut link = super::link::Link::new(
        broker,
        format!("sim-{}-{}", device.site, device.id),
        keep_alive,
        (format!("{root}/status"), buf[..will_len].to_vec()),
    );
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
        reset: heapless::String::try_from("power_on").ok(),
        ..Status::default()
    };
    if let Ok(n) = payload::encode_status(&status, &mut buf) {
        link.publish(format!("{root}/status"), buf[..n].to_vec(), true)
            .await;
    }
    let mut sim = Sim::new(&device);
    let mut offline: meili_firmware::app::offline::Offline<64> = Default::default();
    let mut down_for = 0u32;
    let mut seq = 0u32;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The simulated clock (end of the next period) when it does not start now.
    let step = period.as_secs().max(1) as i64;
    let mut clock = sim_opts.start_unix.map(|s| s + step);
    loop {
        let (now, catching_up) = match clock.as_mut() {
            None => {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                (jiff::Timestamp::now(), false)
            }
            Some(t) => {
                if stop.is_cancelled() || sim_opts.end_unix.is_some_and(|e| *t > e) {
                    break;
                }
                let wait = *t - jiff::Timestamp::now().as_second();
                if wait > 0 {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(wait as u64)) => {}
                    }
                } else {
                    tokio::task::yield_now().await;
                }
                let at =
                    jiff::Timestamp::from_second(*t).unwrap_or_else(|_| jiff::Timestamp::now());
                *t += step;
                (at, wait <= 0)
            }
        };
        let mut reading = Reading::new(seq, now.as_second(), period.as_secs() as u32);
        seq = seq.wrapping_add(1);
        sim.period(&device, &mut rng, now, &tz, catching_up, &mut reading);
        if down_for == 0 && rng.next_f64() * 100.0 < sim_opts.offline_pct {
            down_for = 1 + (rng.next_f64() * 10.0) as u32;
        }
        if down_for > 0 {
            // The link is down: keep the reading in the offline buffer.
            down_for -= 1;
            let before = offline.dropped;
            offline.push(reading);
            sim_opts
                .dropped
                .fetch_add(u64::from(offline.dropped - before), Relaxed);
            continue;
        }
        deliver(&mut link, &root, &mut offline, reading, &sim_opts.published).await;
    }
    link.close().await;
}

/// Publish the offline backlog first (as JSON arrays), then `reading`; whatever the broker does
/// not acknowledge stays in `offline` for the next period.
async fn deliver(
    link: &mut super::link::Link,
    root: &str,
    offline: &mut meili_firmware::app::offline::Offline<64>,
    reading: Reading,
    published: &std::sync::atomic::AtomicU64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut buf = [0u8; 512];
    // Back online: upload the backlog first, as JSON arrays.
    let mut big = [0u8; 8192];
    while !offline.is_empty() {
        let Ok((n, k)) = offline.batch(32, &mut big) else {
            break;
        };
        if !link
            .publish(format!("{root}/telemetry"), big[..n].to_vec(), false)
            .await
        {
            break;
        }
        offline.commit(k);
        published.fetch_add(k as u64, Relaxed);
    }
    if let Ok(n) = payload::encode(&reading, &mut buf) {
        if link
            .publish(format!("{root}/telemetry"), buf[..n].to_vec(), false)
            .await
        {
            published.fetch_add(1, Relaxed);
        } else {
            // The broker did not acknowledge: keep it for the next upload.
            offline.push(reading);
        }
    }
}

/// A device's simulated sensors.
enum Sim {
    Noise(sensors::Noise),
    Air(sensors::Air),
    Toilet(sensors::Toilet),
    Lamp(sensors::Lamp),
}

impl Sim {
    /// Fill `reading` with one period of this device's sensors at `now`.
    fn period(
        &mut self,
        device: &DeviceConfig,
        rng: &mut Rng,
        now: jiff::Timestamp,
        tz: &jiff::tz::TimeZone,
        catching_up: bool,
        reading: &mut Reading,
    ) {
        let zoned = now.to_zoned(tz.clone());
        let hour = zoned.hour() as u32;
        let secs = reading.period_s;
        let audio_secs = if catching_up {
            secs.min(CATCH_UP_AUDIO_SECS)
        } else {
            secs
        };
        match self {
            Sim::Noise(n) => {
                let class = device.zone_class.unwrap_or(ZoneClass::C2);
                n.period(rng, class, noise::is_night(hour, 22), audio_secs, reading);
            }
            Sim::Air(a) => a.period(rng, hour, reading),
            Sim::Toilet(t) => {
                let hours = device
                    .opening_hours
                    .as_deref()
                    .and_then(toilet::OpeningHours::parse)
                    .unwrap_or(toilet::OpeningHours {
                        open_min: 360,
                        close_min: 1320,
                    });
                let minute = hour * 60 + u32::from(zoned.minute() as u8);
                t.period(rng, hours.is_open_at(minute), secs, reading);
            }
            Sim::Lamp(l) => {
                // The lighting day starts at noon: before noon, the night began yesterday.
                let date = if hour < 12 {
                    zoned.date().yesterday().unwrap_or(zoned.date())
                } else {
                    zoned.date()
                };
                let midnight = |d: jiff::civil::Date| {
                    d.to_zoned(tz.clone())
                        .map_or(0, |z| z.timestamp().as_second())
                };
                let (on, off) = lighting::window(
                    &lighting::Schedule::default(),
                    date,
                    device.lat,
                    device.lon,
                    midnight,
                );
                l.period(rng, (on..off).contains(&now.as_second()), secs, reading);
            }
        }
    }
}

impl Sim {
    fn new(d: &DeviceConfig) -> Sim {
        match d.kind {
            Kind::Noise => Sim::Noise(sensors::Noise::default()),
            Kind::Air => Sim::Air(sensors::Air::default()),
            Kind::Toilet => Sim::Toilet(sensors::Toilet::new(4)),
            // The demo's lamp whose id ends in 4 has a dead tube (a lamp_failure to see).
            Kind::Streetlight => Sim::Lamp(sensors::Lamp::new(d.id.ends_with('4'))),
        }
    }
}
