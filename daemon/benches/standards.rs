//! Standards engine throughput: raw rows read back from the buffer → counted readings, and the
//! cost of recomputing the days they touch.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meili_daemon::config::Config;
use meili_daemon::registry::Registry;
use meili_daemon::transforms::aggregate::Engine;

const DEVICES: usize = 100;
const PER: usize = 1000;

fn setup() -> (Config, Arc<Registry>, Vec<u8>) {
    let mut text = String::new();
    for i in 0..DEVICES {
        text += &format!(
            "[[devices]]\nid = \"d{i:03}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 30.0\nlon = 110.0\nzone_class = \"2\"\narea_km2 = 0.5\n\n"
        );
    }
    let config = Config::from_toml(&text).unwrap();
    let registry = Arc::new(Registry::from_config(&config));
    // What the buffer holds: one row per reading, as validate encodes it (60-s periods).
    let mut body = Vec::new();
    let base = 1_793_500_000i64;
    for j in 0..PER {
        for i in 0..DEVICES {
            body.extend_from_slice(
                format!(
                    "noise,device=d{i:03},site=town,zone_class=2 laeq={:.1},lamax=80.5,lamin=40.2,seq={j}i,period_s=60i {}\n",
                    50.0 + (j % 300) as f64 / 10.0,
                    base + j as i64 * 60
                )
                .as_bytes(),
            );
        }
    }
    (config, registry, body)
}

fn bench(c: &mut Criterion) {
    let (config, registry, body) = setup();
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let fresh = || {
        Engine::new(
            config.standards.clone(),
            Arc::clone(&registry),
            tz.clone(),
            false,
        )
    };
    let mut g = c.benchmark_group("standards");
    g.sample_size(10);
    g.throughput(Throughput::Elements((DEVICES * PER) as u64));
    g.bench_function("ingest_rows", |b| {
        b.iter_batched(
            fresh,
            |mut e| black_box(e.ingest_lines(black_box(&body))),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("ingest_rows_and_emit", |b| {
        b.iter_batched(
            fresh,
            |mut e| {
                e.ingest_lines(&body);
                black_box(e.emit().days.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
