//! Issue 14: nothing acknowledged is lost — oversized messages, big backlogs, 4xx answers, a
//! full disk, a flipped bit, a corrupted position, and `/health` telling the truth. Every test
//! reconciles published, landed and counted-as-dropped readings exactly.

use std::path::Path;
use std::time::Duration;

use crate::util::*;

/// `n` readings of `dev` as JSON lines, one minute apart from `base`.
fn lines(dev_seed: usize, base: i64, n: usize) -> Vec<String> {
    (0..n)
        .map(|j| {
            let l = 40.0 + ((dev_seed * 7 + j) % 400) as f64 / 10.0;
            format!(
                r#"{{"v":1,"seq":{j},"ts":{},"period_s":60,"laeq":{l:.1}}}"#,
                base + j as i64 * 60
            )
        })
        .collect()
}

fn sink(influx_url: &str, extra: &str) -> String {
    sink_batch(influx_url, extra, "")
}

fn sink_batch(influx_url: &str, extra: &str, batch: &str) -> String {
    format!(
        "[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{influx_url}\"\ndatabase = \"meili\"\n{extra}\
         [sinks.batch]\nmax_delay_ms = 200\nretry_min_backoff_ms = 100\nretry_max_backoff_ms = 500\nrequest_timeout_ms = 5000\n{batch}\n"
    )
}

/// A start time that puts `n` readings a minute apart safely in the past.
fn recent(n: usize) -> i64 {
    unix_now() - (n as i64 + 10) * 60
}

fn mqtt(mq: &Mosquitto, id: &str, extra: &str) -> String {
    format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"{id}\"\nreconnect_max_backoff_ms = 500\n{extra}\n",
        mq.url()
    )
}

const SINK: &str = "sink=\"db\",type=\"influxdb_v1\"";

fn health(m: &Meilid) -> (u16, serde_json::Value) {
    let (status, body) = http_get(&format!("http://127.0.0.1:{}/health", m.http)).expect("health");
    (status, serde_json::from_str(&body).expect("health JSON"))
}

fn wait_count(influx: &Influxd, n: u64, what: &str) {
    wait_until(what, Duration::from_secs(120), || {
        (influx.count("meili", "noise", "laeq") >= n).then_some(())
    });
}

fn wait_health(m: &Meilid, status: u16, reason: &str) -> serde_json::Value {
    wait_until(
        &format!("/health {status} with a reason containing {reason:?}"),
        Duration::from_secs(60),
        || {
            let (s, v) = health(m);
            let has = v["reasons"]
                .as_array()?
                .iter()
                .any(|r| r.as_str().is_some_and(|r| r.contains(reason)));
            (s == status && (reason.is_empty() || has)).then_some(v)
        },
    )
}

#[test]
fn an_oversized_message_is_consumed_counted_and_ingest_goes_on() {
    let (mq, influx) = (Mosquitto::start(), Influxd::start());
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(
        dir.path(),
        &(mqtt(&mq, "meilid-big", "") + &sink(&influx.url(), "") + &noise_devices(2)),
    );
    // 2,000,000 bytes on a declared device, then 1.1 MB on an undeclared one (limit 1 MiB).
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'1'; 2_000_000]).unwrap();
    let bigger_undeclared = dir.path().join("big2");
    std::fs::write(&bigger_undeclared, vec![b'{'; 1_100_000]).unwrap();
    for (topic, file) in [
        ("meili/v1/town/noise/d000/telemetry", &big),
        ("meili/v1/town/noise/nobody/telemetry", &bigger_undeclared),
    ] {
        let st = std::process::Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &mq.port.to_string(),
                "-q",
                "1",
                "-t",
                topic,
                "-f",
            ])
            .arg(file)
            .status()
            .unwrap();
        assert!(st.success());
    }
    mq.publish_lines(
        "meili/v1/town/noise/d001/telemetry",
        &lines(1, recent(100), 100),
    );
    wait_count(&influx, 100, "the 100 readings after the oversized ones");
    wait_until("two too_large rejections", Duration::from_secs(30), || {
        (meilid.metric("meili_readings_rejected_total", "reason=\"too_large\"")? == 2.0)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(influx.count("meili", "noise", "laeq"), 100);
    // Consumed once each: no reconnect storm.
    let connections = meilid.metric("meili_mqtt_connections_total", "").unwrap();
    assert!(connections <= 3.0, "{connections} connections");
    assert_eq!(health(&meilid).0, 200);
}

#[test]
fn one_huge_backlog_array_lands_whole_through_bounded_records_and_requests() {
    let mq = Mosquitto::start();
    // InfluxDB refusing bodies over 200 kB: the sink's 8 MiB requests get 413 and are split.
    let influx = Influxd::start_with(free_port(), "  max-body-size = 200000");
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(
        dir.path(),
        &(mqtt(&mq, "meilid-huge", "max_packet_size_bytes = 67108864")
            + &sink_batch(
                &influx.url(),
                "",
                "max_rows = 100000\nmax_bytes = 8388608\n",
            )
            + "[validate]\nmax_age_secs = 5184000\n\n"
            + &noise_devices(20)),
    );
    // 20 devices each uploading 4,000 readings as one array (~300 kB), and one device one
    // array of 60,000 readings (~4.5 MB): 140,000 readings.
    let base = unix_now() - 45 * 24 * 3600;
    let mut expected = 0u64;
    for d in 0..20usize {
        let n = if d == 0 { 60_000 } else { 4_000 };
        let body = format!("[{}]", lines(d, base, n).join(","));
        let path = dir.path().join(format!("arr{d}"));
        std::fs::write(&path, body).unwrap();
        let st = std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &mq.port.to_string(), "-q", "1"])
            .args([
                "-t",
                &format!("meili/v1/town/noise/d{d:03}/telemetry"),
                "-f",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success());
        expected += n as u64;
    }
    wait_count(&influx, expected, "every reading of the arrays");
    wait_until("backlog back to 0", Duration::from_secs(30), || {
        (meilid.metric("meili_buffer_backlog_rows", SINK)? == 0.0).then_some(())
    });
    assert_eq!(influx.count("meili", "noise", "laeq"), expected);
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(0.0)
    );
    assert!(
        meilid
            .metric("meili_sink_request_splits_total", SINK)
            .unwrap()
            > 0.0
    );
    // The 4.5 MB array went into the buffer as several records of at most about 1 MiB.
    let records = meilid
        .metric("meili_buffer_records_appended_total", "")
        .unwrap();
    assert!(records >= 5.0, "{records} records");
}

#[test]
fn a_wrong_password_holds_the_data_and_reports_unhealthy_until_fixed() {
    let mq = Mosquitto::start();
    let port = free_port();
    let mut influx = Influxd::start_with(port, "  auth-enabled = true");
    let url = format!("{}/query", influx.url());
    let create = b"q=CREATE USER admin WITH PASSWORD 'right' WITH ALL PRIVILEGES".to_vec();
    assert_eq!(http_post(&url, create, true).unwrap().0, 200);
    influx.auth = Some(("admin".into(), "right".into()));
    let dir = tempfile::tempdir().unwrap();
    let body = |password: &str| {
        mqtt(&mq, "meilid-auth", "")
            + &sink(
                &influx.url(),
                &format!("username = \"admin\"\npassword = \"{password}\"\n"),
            )
            + &noise_devices(5)
    };
    let meilid = Meilid::start(dir.path(), &body("rotated"));
    let base = recent(200);
    for d in 0..5 {
        mq.publish_lines(
            &format!("meili/v1/town/noise/d{d:03}/telemetry"),
            &lines(d, base, 200),
        );
    }
    let v = wait_health(&meilid, 503, "sink db");
    assert_eq!(v["sinks"][0]["state"], "refused");
    wait_until(
        "1,000 rows held in the buffer",
        Duration::from_secs(30),
        || (meilid.metric("meili_buffer_backlog_rows", SINK)? == 1000.0).then_some(()),
    );
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(0.0)
    );
    assert_eq!(meilid.metric("meili_sink_state", SINK), Some(2.0));
    // The operator fixes the password and restarts: every reading lands.
    std::fs::write(
        &meilid.config,
        Meilid::daemon_section_for(dir.path(), meilid.http) + &body("right"),
    )
    .unwrap();
    let meilid = Meilid::start_again(meilid, dir.path());
    wait_count(&influx, 1000, "the held readings");
    wait_health(&meilid, 200, "");
    assert_eq!(influx.count("meili", "noise", "laeq"), 1000);
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(0.0)
    );
    influx.stop();
}

#[test]
fn a_field_type_conflict_drops_exactly_the_conflicting_rows() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    // Twenty days ago (another shard), `laeq` was written as a string.
    let old = unix_now() - 20 * 24 * 3600;
    let q = format!("{}/query", influx.url());
    assert_eq!(
        http_post(&q, b"q=CREATE DATABASE meili".to_vec(), true)
            .unwrap()
            .0,
        200
    );
    let w = format!("{}/write?db=meili&precision=s", influx.url());
    let line = format!("noise,site=town,device=zz laeq=\"broken\" {}", old - 7200);
    assert_eq!(http_post(&w, line.into_bytes(), false).unwrap().0, 204);
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(
        dir.path(),
        &(mqtt(&mq, "meilid-conflict", "") + &sink(&influx.url(), "") + &noise_devices(2)),
    );
    let mut all = lines(0, old, 7);
    all.extend(lines(0, recent(50), 50));
    mq.publish_lines("meili/v1/town/noise/d000/telemetry", &all);
    mq.publish_lines(
        "meili/v1/town/noise/d001/telemetry",
        &lines(1, recent(50), 50),
    );
    wait_until("7 rows counted as dropped", Duration::from_secs(60), || {
        (meilid.metric("meili_sink_rows_dropped_total", SINK)? == 7.0).then_some(())
    });
    wait_until("100 float rows", Duration::from_secs(30), || {
        let v = influx.query(
            "meili",
            &format!("SELECT count(laeq) FROM noise WHERE time > {}s", old + 3600),
        );
        (v["results"][0]["series"][0]["values"][0][1].as_u64()? == 100).then_some(())
    });
    assert_eq!(
        meilid.metric("meili_sink_rows_written_total", SINK),
        Some(100.0)
    );
    assert_eq!(health(&meilid).0, 200);
}

/// Mount a tmpfs of `mib` MiB at `at` (the test runs as root, as CI does).
struct Tmpfs(std::path::PathBuf);
impl Tmpfs {
    fn mount(at: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(at.to_path_buf())
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_holds_ingest_survives_sigterm_and_recovers_by_itself() {
    let mq = Mosquitto::start();
    let influx_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(&dir.path().join("data"), 6);
    let body = mqtt(&mq, "meilid-full", "")
        + &sink(&format!("http://127.0.0.1:{influx_port}"), "")
        + "[buffer]\nsegment_bytes = 131072\nmin_free_bytes = 2097152\n\n"
        + &noise_devices(20);
    let meilid = Meilid::start_with_daemon(dir.path(), "health_interval_secs = 0", &body);
    // The database is down; 60,000 readings (about 5.2 MB in the buffer) meet a 6 MiB disk
    // that must keep 2 MiB free (room for the standards engine's state and the positions).
    let base = unix_now() - 5 * 24 * 3600;
    let per = 3000;
    std::thread::scope(|s| {
        for d in 0..20 {
            let mq = &mq;
            s.spawn(move || {
                mq.publish_lines(
                    &format!("meili/v1/town/noise/d{d:03}/telemetry"),
                    &lines(d, base, per),
                )
            });
        }
    });
    let v = wait_health(
        &meilid,
        503,
        "buffer: the disk is below buffer.min_free_bytes",
    );
    eprintln!("health while full: {v}");
    assert!(
        meilid
            .metric("meili_buffer_full_refusals_total", "")
            .unwrap()
            > 0.0
    );
    let held = meilid.metric("meili_buffer_backlog_rows", SINK).unwrap();
    assert!(held < 60_000.0, "the disk cannot hold everything: {held}");
    // SIGTERM while blocked: the daemon stops within its grace period, cleanly.
    let mut meilid = meilid;
    assert_eq!(meilid.proc.stop(), Some(0));
    let meilid = Meilid::start_again_unready(meilid, dir.path());
    // The database comes back: the buffer drains, segments are freed, ingest resumes alone.
    let influx = Influxd::start_on(influx_port);
    wait_count(&influx, 60_000, "all 60,000 readings");
    wait_health(&meilid, 200, "");
    assert_eq!(influx.count("meili", "noise", "laeq"), 60_000);
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(0.0)
    );
}

/// Stop a daemon that holds `n` readings for a database that is down; returns the stopped
/// daemon's directory contents for damage.
fn hold_backlog(mq: &Mosquitto, dir: &Path, influx_port: u16, n: usize) -> Meilid {
    let body = mqtt(mq, "meilid-rot", "")
        + &sink(&format!("http://127.0.0.1:{influx_port}"), "")
        + "[buffer]\nsegment_bytes = 262144\n\n"
        + &noise_devices(10);
    let meilid = Meilid::start_with_daemon(dir, "health_interval_secs = 0", &body);
    let base = unix_now() - 5 * 24 * 3600;
    std::thread::scope(|s| {
        for d in 0..10 {
            s.spawn(move || {
                mq.publish_lines(
                    &format!("meili/v1/town/noise/d{d:03}/telemetry"),
                    &lines(d, base, n / 10),
                )
            });
        }
    });
    wait_until("backlog held", Duration::from_secs(60), || {
        (meilid.metric("meili_buffer_backlog_rows", SINK)? == n as f64).then_some(())
    });
    meilid
}

#[test]
fn a_flipped_byte_costs_one_record_and_is_counted_exactly() {
    let mq = Mosquitto::start();
    let influx_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut meilid = hold_backlog(&mq, dir.path(), influx_port, 20_000);
    meilid.proc.stop();
    let seg = buffer_segments(&dir.path().join("data/buffer"))
        .into_iter()
        .next()
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let meilid = Meilid::start_again(meilid, dir.path());
    let influx = Influxd::start_on(influx_port);
    let corrupt = meilid
        .metric("meili_buffer_corrupt_rows_total", "")
        .unwrap();
    eprintln!("the flipped byte destroyed one record of {corrupt} readings");
    assert!(
        (1.0..=2048.0).contains(&corrupt),
        "{corrupt} readings in the damaged record"
    );
    assert_eq!(
        meilid.metric("meili_buffer_corrupt_records_total", ""),
        Some(1.0)
    );
    let expect = 20_000 - corrupt as u64;
    wait_count(&influx, expect, "every reading outside the damaged record");
    wait_until("backlog back to 0", Duration::from_secs(30), || {
        (meilid.metric("meili_buffer_backlog_rows", SINK)? == 0.0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(influx.count("meili", "noise", "laeq"), expect);
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(corrupt)
    );
}

#[test]
fn a_corrupted_position_file_keeps_the_data() {
    let mq = Mosquitto::start();
    let influx_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut meilid = hold_backlog(&mq, dir.path(), influx_port, 5_000);
    meilid.proc.stop();
    // A well-formed slot holding u64::MAX, written in both slots after the format 1 header.
    let mut slot = [0u8; 16];
    slot[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
    slot[8..12].copy_from_slice(&9u32.to_le_bytes());
    let crc = crc32fast::hash(&slot[..12]);
    slot[12..16].copy_from_slice(&crc.to_le_bytes());
    let header = [0xFF, b'M', b'L', b'P', 1, 0, 0, 0];
    std::fs::write(
        dir.path().join("data/buffer/pos-db"),
        [&header[..], &slot, &slot].concat(),
    )
    .unwrap();
    let meilid = Meilid::start_again(meilid, dir.path());
    assert_eq!(
        meilid.metric("meili_buffer_position_errors_total", ""),
        Some(1.0)
    );
    let influx = Influxd::start_on(influx_port);
    wait_count(&influx, 5_000, "every held reading");
    // New readings still flow after the reset.
    mq.publish_lines(
        "meili/v1/town/noise/d000/telemetry",
        &lines(0, recent(10), 10),
    );
    wait_count(&influx, 5_010, "new readings after the reset");
    assert_eq!(
        meilid.metric("meili_sink_rows_dropped_total", SINK),
        Some(0.0)
    );
}

#[test]
fn health_is_unhealthy_while_mqtt_is_down_and_healthy_again_after() {
    let mut mq = Mosquitto::start_with(true);
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start_with_daemon(
        dir.path(),
        "mqtt_unhealthy_after_secs = 3",
        &(mqtt(&mq, "meilid-health", "") + &sink(&influx.url(), "") + &noise_devices(1)),
    );
    let code = |path: &str| {
        http_get(&format!("http://127.0.0.1:{}{path}", meilid.http))
            .expect("answers")
            .0
    };
    assert_eq!(health(&meilid).0, 200);
    wait_until("ready", Duration::from_secs(20), || {
        (code("/health/ready") == 200).then_some(())
    });
    assert_eq!(mq.proc.stop(), Some(0));
    // Degraded first (reconnecting): /health 200, not ready; then unhealthy: 503.
    wait_until("not ready", Duration::from_secs(20), || {
        (code("/health/ready") == 503).then_some(())
    });
    wait_health(&meilid, 503, "mqtt: not connected");
    assert_eq!(code("/health/ready"), 503);
    assert_eq!(code("/health/live"), 200, "alive: not a case for a restart");
    mq.start_again();
    wait_health(&meilid, 200, "");
    wait_until("ready again", Duration::from_secs(20), || {
        (code("/health/ready") == 200).then_some(())
    });
    mq.publish_lines(
        "meili/v1/town/noise/d000/telemetry",
        &lines(0, recent(5), 5),
    );
    wait_count(&influx, 5, "readings after the broker returned");
}

#[test]
fn a_burst_of_megabyte_messages_stays_within_the_byte_bounded_queue() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(
        dir.path(),
        &(mqtt(&mq, "meilid-burst", "max_packet_size_bytes = 2097152")
            + &sink(&influx.url(), "")
            + &noise_devices(1)),
    );
    // 300 messages of 1 MiB (malformed: rejected, but they pass through the queue).
    let path = dir.path().join("mib");
    let mut m = vec![b' '; 1 << 20];
    m[0] = b'x';
    std::fs::write(&path, m).unwrap();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..100 {
                    let st = std::process::Command::new("mosquitto_pub")
                        .args(["-h", "127.0.0.1", "-p", &mq.port.to_string(), "-q", "1"])
                        .args(["-t", "meili/v1/town/noise/d000/telemetry", "-f"])
                        .arg(&path)
                        .status()
                        .unwrap();
                    assert!(st.success());
                }
            });
        }
    });
    wait_until("300 rejections", Duration::from_secs(120), || {
        (meilid.metric("meili_readings_rejected_total", "reason=\"malformed_json\"")? == 300.0)
            .then_some(())
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", meilid.proc.pid())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    eprintln!("peak RSS {hwm_kb} kB");
    assert!(
        hwm_kb < 96 * 1024,
        "peak RSS {hwm_kb} kB with a 16 MiB ingest queue"
    );
}
