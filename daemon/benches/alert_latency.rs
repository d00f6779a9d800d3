//! Alert latency: from publishing the reading that crosses a threshold to the webhook
//! receiving the alert, through a real mosquitto and the daemon (release build) as its own
//! process. Each round publishes a reading above the threshold (fires) and one below
//! (resolves); both notifications are timed.
//! Run: `cargo bench -p meili-daemon --bench alert_latency` (ROUNDS=200 by default).
//! `GAP_MS=3000`: wait that long before each reading (a quiet gateway, isolated readings);
//! `LOAD=2000`: meanwhile another device publishes that many readings per second.

#[path = "../../tests/system/util.rs"]
mod util;

use std::time::{Duration, Instant};

use rumqttc::{Client, MqttOptions, QoS};
use util::*;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; nothing to list here
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mq = Mosquitto::start();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"[mqtt]
url = "{}"
client_id = "meilid-bench-alerts"

[[devices]]
id = "b01"
site = "town"
kind = "noise"
lat = 23.36
lon = 103.37
zone_class = "2"
area_km2 = 0.5

[[devices]]
id = "b02"
site = "town"
kind = "noise"
lat = 23.36
lon = 103.37
zone_class = "2"
area_km2 = 0.5

[[alerts.rules]]
name = "loud"
type = "threshold"
metric = "laeq"
threshold = 80.0
devices = ["b01"]

[[alerts.webhooks]]
url = "{}"
secret = "bench"
"#,
        mq.url(),
        rx.url("/hook")
    );
    let _m = Meilid::start(dir.path(), &config);
    let (client, mut conn) = Client::new(MqttOptions::new("bench-pub", "127.0.0.1", mq.port), 64);
    std::thread::spawn(move || for _ in conn.iter() {});
    let topic = "meili/v1/town/noise/b01/telemetry";
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let gap = Duration::from_millis(env("GAP_MS").unwrap_or(0));
    let load = env("LOAD").unwrap_or(0);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if load > 0 {
        let (bg, mut bg_conn) =
            Client::new(MqttOptions::new("bench-load", "127.0.0.1", mq.port), 1024);
        std::thread::spawn(move || for _ in bg_conn.iter() {});
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut n = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let due = t0 + Duration::from_secs_f64(n as f64 / load as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let ts = jiff::Timestamp::now().as_second();
                let p = format!(r#"{{"v":1,"seq":{n},"ts":{ts},"period_s":1,"laeq":55.0}}"#);
                let _ = bg.publish(
                    "meili/v1/town/noise/b02/telemetry",
                    QoS::AtLeastOnce,
                    false,
                    p,
                );
                n += 1;
            }
        });
    }
    let start_ts = jiff::Timestamp::now().as_second() - 2 * rounds as i64;
    let mut lat = Vec::with_capacity(2 * rounds);
    for i in 0..2 * rounds {
        let level = if i % 2 == 0 { 90.0 } else { 50.0 };
        let payload = format!(
            r#"{{"v":1,"seq":{i},"ts":{},"period_s":1,"laeq":{level}}}"#,
            start_ts + i as i64
        );
        std::thread::sleep(gap);
        let before = rx.got.lock().unwrap().len();
        let t0 = Instant::now();
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .unwrap();
        loop {
            if rx.got.lock().unwrap().len() > before {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no alert for round {i}"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        lat.push(t0.elapsed());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let q = |p: f64| ms(lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]);
    println!(
        "alert latency, reading published → webhook received ({} alerts: {rounds} firing, {rounds} resolved; gap {} ms, background {load} readings/s):",
        lat.len(),
        gap.as_millis()
    );
    println!(
        "  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        q(0.50),
        q(0.95),
        q(0.99),
        ms(lat[lat.len() - 1])
    );
}
