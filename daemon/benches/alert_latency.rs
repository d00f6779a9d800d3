//! Alert latency: from publishing the reading that crosses a threshold to the webhook
//! receiving the alert, through a real mosquitto and the daemon (release build) as its own
//! process. Each round publishes a reading above the threshold (fires) and one below
//! (resolves); both notifications are timed.
//! Run: `cargo bench -p meili-daemon --bench alert_latency` (ROUNDS=200 by default).

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

[[alerts.rules]]
name = "loud"
type = "threshold"
metric = "laeq"
threshold = 80.0

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
    let start_ts = jiff::Timestamp::now().as_second() - 2 * rounds as i64;
    let mut lat = Vec::with_capacity(2 * rounds);
    for i in 0..2 * rounds {
        let level = if i % 2 == 0 { 90.0 } else { 50.0 };
        let payload = format!(
            r#"{{"v":1,"seq":{i},"ts":{},"period_s":1,"laeq":{level}}}"#,
            start_ts + i as i64
        );
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
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let q = |p: f64| ms(lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1]);
    println!(
        "alert latency, reading published → webhook received ({} alerts: {rounds} firing, {rounds} resolved):",
        lat.len()
    );
    println!(
        "  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        q(0.50),
        q(0.95),
        q(0.99),
        ms(lat[lat.len() - 1])
    );
}
