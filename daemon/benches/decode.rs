//! Decode + validate throughput: the per-message work of the ingest path, on one core.
//! Run: `cargo bench -p meili-daemon --bench decode`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meili_daemon::config::{DeviceConfig, ValidateConfig, ZoneClass};
use meili_daemon::event::Record;
use meili_daemon::registry::Registry;
use meili_daemon::transforms::validate::{unix_now, Channel};
use meili_daemon::transforms::Validator;
use meili_firmware::Kind;

fn validator() -> Validator {
    let devices = (0..1000).map(|i| DeviceConfig {
        id: format!("d{i:04}"),
        site: "town".into(),
        kind: Kind::Noise,
        lat: 23.36,
        lon: 103.37,
        name: None,
        zone_class: Some(ZoneClass::C2),
        area_km2: Some(0.5),
        road_class: None,
        toilet_class: None,
        period_secs: Some(60),
        opening_hours: None,
        modbus: None,
        facilities: Vec::new(),
    });
    Validator::new(
        Arc::new(Registry::new(devices)),
        "meili/v1",
        ValidateConfig::default(),
    )
}

fn bench(c: &mut Criterion) {
    let v = validator();
    let now = unix_now();
    let reading = |seq: i64| {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{},"period_s":60,"laeq":65.8,"lamax":78.2,"lamin":51.4}}"#,
            now - 3600 + seq
        )
    };
    let topic = b"meili/v1/town/noise/d0421/telemetry".to_vec();
    let single = reading(1).into_bytes();
    let batch = format!("[{}]", (0..100).map(reading).collect::<Vec<_>>().join(",")).into_bytes();
    let mut out: Vec<Record> = Vec::with_capacity(1024);

    let mut g = c.benchmark_group("decode_validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_reading", |b| {
        b.iter(|| {
            out.clear();
            let (dev, ch) = v.route(black_box(&topic)).unwrap();
            assert_eq!(ch, Channel::Telemetry);
            v.telemetry(dev, black_box(&single), now, &mut out, &mut |_| {
                panic!("rejected")
            });
            black_box(out.len())
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("batch_of_100", |b| {
        b.iter(|| {
            out.clear();
            let (dev, _) = v.route(black_box(&topic)).unwrap();
            v.telemetry(dev, black_box(&batch), now, &mut out, &mut |_| {
                panic!("rejected")
            });
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
