//! Disk buffer append throughput with the default fsync policy (fdatasync per append), for the
//! chunk sizes the pipeline produces: one reading (a quiet gateway) up to 2,048 (a burst).
//! Run: `cargo bench -p meili-daemon --bench buffer`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meili_daemon::buffer::{Buffer, BufferConfig};

fn bench(c: &mut Criterion) {
    let line = b"noise,device=d0421,site=town,zone_class=2 laeq=65.8,lamax=78.2,lamin=51.4,seq=42i 1795000000\n";
    // Each iteration appends 20 records to a fresh buffer (opening it is not timed).
    let mut g = c.benchmark_group("buffer_append_fsync");
    g.sample_size(20);
    for rows in [1usize, 256, 2048] {
        let payload: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * rows)
            .collect();
        g.throughput(Throughput::Elements(20 * rows as u64));
        g.bench_function(format!("chunk_of_{rows}"), |b| {
            b.iter_batched_ref(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let sinks = vec!["s".to_string()];
                    let (buf, _) =
                        Buffer::open(dir.path(), BufferConfig::default(), sinks).unwrap();
                    (dir, buf)
                },
                |(_, buf)| {
                    for _ in 0..20 {
                        buf.append(rows as u32, &payload).unwrap();
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
