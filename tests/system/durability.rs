//! Issue 3: nothing acknowledged is lost — crashes, database outages, broker restarts and a
//! damaged buffer tail.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::util::*;

/// Per device, its payload lines in order.
type Lines = Vec<(String, Vec<String>)>;
/// (device, ts) → laeq as sent.
type Expected = HashMap<(String, i64), f64>;

/// Readings for `devices` noise meters, `per` each.
fn readings(devices: usize, per: usize) -> (Lines, Expected) {
    let base = unix_now() - 3 * 24 * 3600;
    let mut expect = HashMap::new();
    let lines = (0..devices)
        .map(|i| {
            let dev = format!("d{i:03}");
            let v = (0..per)
                .map(|j| {
                    let ts = base + j as i64 * 60;
                    let l = format!("{:.1}", 40.0 + ((i * 7 + j) % 400) as f64 / 10.0);
                    expect.insert((dev.clone(), ts), l.parse().unwrap());
                    format!(r#"{{"v":1,"seq":{j},"ts":{ts},"period_s":60,"laeq":{l}}}"#)
                })
                .collect();
            (dev, v)
        })
        .collect();
    (lines, expect)
}

/// Publish rows `range` of every device, five publishers in parallel.
fn publish(mq: &Mosquitto, lines: &[(String, Vec<String>)], range: std::ops::Range<usize>) {
    std::thread::scope(|s| {
        for chunk in lines.chunks(lines.len().div_ceil(5)) {
            let range = range.clone();
            s.spawn(move || {
                for (dev, l) in chunk {
                    mq.publish_lines(
                        &format!("meili/v1/town/noise/{dev}/telemetry"),
                        &l[range.clone()],
                    );
                }
            });
        }
    });
}

fn config(mq: &Mosquitto, influx_url: &str, devices: usize) -> String {
    format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-dur\"\nreconnect_max_backoff_ms = 500\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{influx_url}\"\ndatabase = \"meili\"\n\
         [sinks.batch]\nmax_delay_ms = 200\nretry_max_backoff_ms = 500\nrequest_timeout_ms = 2000\n\n{}",
        mq.url(),
        noise_devices(devices)
    )
}

fn stored(influx: &Influxd) -> HashMap<(String, i64), f64> {
    let v = influx.query("meili", "SELECT laeq FROM noise GROUP BY device");
    let mut got = HashMap::new();
    for series in v["results"][0]["series"].as_array().into_iter().flatten() {
        let dev = series["tags"]["device"].as_str().unwrap().to_string();
        for row in series["values"].as_array().unwrap() {
            got.insert(
                (dev.clone(), row[0].as_i64().unwrap()),
                row[1].as_f64().unwrap(),
            );
        }
    }
    got
}

fn wait_rows(influx: &Influxd, n: usize) {
    wait_until(
        &format!("{n} rows in InfluxDB"),
        Duration::from_secs(120),
        || (influx.count("meili", "noise", "laeq") as usize >= n).then_some(()),
    );
}

/// A small deterministic generator for the kill moments (seed printed for reproduction).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn kill_9_ten_times_while_50_000_readings_flow_loses_and_duplicates_nothing() {
    let (mq, influx) = (Mosquitto::start(), Influxd::start());
    let dir = tempfile::tempdir().unwrap();
    let (lines, expect) = readings(50, 1000);
    let mut meilid = Meilid::start(dir.path(), &config(&mq, &influx.url(), 50));
    let seed = unix_now() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = Lcg(seed);
    std::thread::scope(|s| {
        let publisher = s.spawn(|| {
            // One mosquitto_pub per device, one reading per device every 10 ms (5,000/s for
            // 10 s): readings are always on their way through the daemon when a kill lands.
            let mut pubs: Vec<_> = lines
                .iter()
                .map(|(dev, _)| mq.line_publisher(&format!("meili/v1/town/noise/{dev}/telemetry")))
                .collect();
            for j in 0..1000 {
                for (p, (_, l)) in pubs.iter_mut().zip(&lines) {
                    p.send(&l[j..j + 1]);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            for p in pubs {
                p.finish();
            }
        });
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
            meilid.crash_and_restart(dir.path());
        }
        publisher.join().unwrap();
    });
    wait_rows(&influx, 50_000);
    std::thread::sleep(Duration::from_secs(1));
    let got = stored(&influx);
    assert_eq!(got.len(), 50_000, "rows in the database");
    assert_eq!(got, expect, "stored values differ from what was sent");
    // Every crash redelivered what was not yet acknowledged; the database absorbed repeats.
    let written = meilid
        .metric(
            "meili_sink_rows_written_total",
            "sink=\"db\",type=\"influxdb_v1\"",
        )
        .unwrap();
    eprintln!("rows written by the last run: {written}");
}

#[test]
fn database_outage_backlog_rises_drains_in_order_and_returns_to_zero() {
    let mq = Mosquitto::start();
    let mut influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let (lines, expect) = readings(50, 200);
    let meilid = Meilid::start(dir.path(), &config(&mq, &influx.url(), 50));
    publish(&mq, &lines, 0..100);
    wait_rows(&influx, 5_000);
    influx.stop();
    publish(&mq, &lines, 100..200);
    let backlog = "sink=\"db\",type=\"influxdb_v1\"";
    wait_until("backlog of 5,000 rows", Duration::from_secs(60), || {
        (meilid.metric("meili_buffer_backlog_rows", backlog)? >= 5_000.0).then_some(())
    });
    assert_eq!(meilid.metric("meili_sink_up", backlog), Some(0.0));
    wait_until(
        "age of the oldest unwritten record",
        Duration::from_secs(30),
        || {
            (meilid.metric("meili_buffer_oldest_unwritten_age_seconds", backlog)? > 0.5)
                .then_some(())
        },
    );
    assert!(meilid.metric("meili_buffer_bytes", "").unwrap() > 0.0);
    influx.start_again();
    wait_rows(&influx, 10_000);
    assert_eq!(stored(&influx), expect);
    wait_until("backlog back to zero", Duration::from_secs(30), || {
        (meilid.metric("meili_buffer_backlog_rows", backlog)? == 0.0
            && meilid.metric("meili_buffer_oldest_unwritten_age_seconds", backlog)? == 0.0)
            .then_some(())
    });
    assert_eq!(meilid.metric("meili_sink_up", backlog), Some(1.0));
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", backlog),
        Some(0.0)
    );
}

#[test]
fn broker_restart_with_persistence_loses_nothing() {
    let mut mq = Mosquitto::start_with(true);
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let (lines, expect) = readings(40, 200);
    let meilid = Meilid::start(dir.path(), &config(&mq, &influx.url(), 40));
    publish(&mq, &lines, 0..100);
    // Restart at once: part of the first 4,000 is still queued in the broker for the daemon.
    mq.restart();
    wait_until("daemon reconnected", Duration::from_secs(30), || {
        (meilid.metric("meili_mqtt_connected", "")? == 1.0
            && meilid.metric("meili_mqtt_connections_total", "")? >= 2.0)
            .then_some(())
    });
    publish(&mq, &lines, 100..200);
    wait_rows(&influx, 8_000);
    assert_eq!(stored(&influx), expect);
}

/// Record header length (magic, len, id, rows, time, running count, two checksums).
const HDR: usize = 44;

/// (offset, payload length, rows) of each record in a segment.
fn records(seg: &Path) -> Vec<(usize, usize, u32)> {
    let b = std::fs::read(seg).unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    while off + HDR <= b.len() {
        assert_eq!(&b[off..off + 4], b"\xFFML2", "record magic at {off}");
        let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
        let rows = u32::from_le_bytes(b[off + 16..off + 20].try_into().unwrap());
        out.push((off, len, rows));
        off += HDR + len;
    }
    out
}

#[test]
fn torn_buffer_tail_keeps_every_complete_record_and_reports_the_cut() {
    let mq = Mosquitto::start();
    let db_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let (lines, expect) = readings(10, 100);
    // The database is not there yet: everything stays in the buffer.
    let mut meilid = Meilid::start(
        dir.path(),
        &config(&mq, &format!("http://127.0.0.1:{db_port}"), 10),
    );
    for round in 0..10 {
        publish(&mq, &lines, round * 10..(round + 1) * 10);
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_until("1,000 rows buffered", Duration::from_secs(30), || {
        (meilid.metric("meili_buffer_rows_appended_total", "")? >= 1000.0).then_some(())
    });
    assert_eq!(meilid.proc.stop(), Some(0));

    let buffer = dir.path().join("data/buffer");
    let segs = buffer_segments(&buffer);
    let last = segs
        .iter()
        .rev()
        .find(|s| !records(s).is_empty())
        .unwrap()
        .clone();
    let recs = records(&last);
    let total_records: usize = segs.iter().map(|s| records(s).len()).sum();
    assert!(
        total_records >= 3,
        "want several records, got {total_records}"
    );
    // Tear the last record that holds readings (the standards engine appends its results at
    // shutdown, so it may not be the very last): truncate the file in its middle.
    let bytes = std::fs::read(&last).unwrap();
    let readings_in = |&(off, len, _): &(usize, usize, u32)| {
        bytes[off + HDR..off + HDR + len]
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"noise,"))
            .count()
    };
    let &(off, len, _) = recs.iter().rev().find(|r| readings_in(r) > 0).unwrap();
    let lost_rows: usize = recs.iter().filter(|r| r.0 >= off).map(readings_in).sum();
    let keep = off + HDR + len / 2;
    let file_len = bytes.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(keep as u64)
        .unwrap();

    let influx = Influxd::start_on(db_port);
    let meilid = Meilid::start_again(meilid, dir.path());
    assert_eq!(
        meilid.metric("meili_buffer_recovery_cut_segments", ""),
        Some(1.0)
    );
    assert_eq!(
        meilid.metric("meili_buffer_recovery_cut_bytes", ""),
        Some((keep - off) as f64)
    );
    let kept = 1000 - lost_rows;
    wait_rows(&influx, kept);
    std::thread::sleep(Duration::from_millis(500));
    let got = stored(&influx);
    assert_eq!(got.len(), kept);
    assert!(got.iter().all(|(k, v)| expect.get(k) == Some(v)));
    assert!(file_len > keep);
}
