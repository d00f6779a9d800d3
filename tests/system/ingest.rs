use std::collections::HashMap;
use std::time::Duration;

use crate::util::*;

const DEVICES: usize = 100;
const PER_DEVICE: usize = 100;

struct Sent {
    /// (device, ts) → laeq as sent.
    laeq: HashMap<(String, i64), f64>,
    /// Per device, the payload lines in order.
    lines: Vec<(String, Vec<String>)>,
}

fn readings(base_ts: i64) -> Sent {
    let mut laeq = HashMap::new();
    let mut lines = Vec::new();
    for i in 0..DEVICES {
        let dev = format!("d{i:03}");
        let mut v = Vec::new();
        for j in 0..PER_DEVICE {
            let ts = base_ts + j as i64 * 60;
            let l = 40.0 + ((i * PER_DEVICE + j) % 400) as f64 / 10.0;
            let text = format!("{l:.1}");
            v.push(format!(
                r#"{{"v":1,"seq":{j},"ts":{ts},"period_s":60,"laeq":{text},"lamax":{:.1},"lamin":{:.1}}}"#,
                l + 12.0,
                l - 5.0
            ));
            laeq.insert((dev.clone(), ts), text.parse().unwrap());
        }
        lines.push((dev, v));
    }
    Sent { laeq, lines }
}

fn publish(mq: &Mosquitto, sent: &Sent, range: std::ops::Range<usize>) {
    std::thread::scope(|s| {
        for chunk in sent.lines.chunks(10) {
            let range = range.clone();
            s.spawn(move || {
                for (dev, lines) in chunk {
                    mq.publish_lines(
                        &format!("meili/v1/town/noise/{dev}/telemetry"),
                        &lines[range.clone()],
                    );
                }
            });
        }
    });
}

fn config(mq: &Mosquitto, influx: &Influxd, vm: &Victoria, protocol: &str) -> String {
    format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-test\"\nprotocol = \"{protocol}\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\n\n\
         [[sinks]]\ntype = \"influxdb_v2\"\nurl = \"{}\"\norg = \"city\"\nbucket = \"meili\"\ntoken = \"unused\"\n\
         seq_and_period_fields = true\n\n{}",
        mq.url(),
        influx.url(),
        vm.url(),
        noise_devices(DEVICES)
    )
}

/// Every sent reading is in both databases exactly once, with the value that was sent.
fn assert_databases_hold(sent: &Sent, influx: &Influxd, vm: &Victoria) {
    let total = DEVICES * PER_DEVICE;
    wait_until("10,000 rows in InfluxDB", Duration::from_secs(120), || {
        (influx.count("meili", "noise", "laeq") as usize >= total).then_some(())
    });
    assert_eq!(influx.count("meili", "noise", "laeq") as usize, total);
    let v = influx.query("meili", "SELECT laeq FROM noise GROUP BY device");
    let mut got = HashMap::new();
    for series in v["results"][0]["series"].as_array().unwrap() {
        let dev = series["tags"]["device"].as_str().unwrap().to_string();
        for row in series["values"].as_array().unwrap() {
            got.insert(
                (dev.clone(), row[0].as_i64().unwrap()),
                row[1].as_f64().unwrap(),
            );
        }
    }
    assert_eq!(got.len(), total);
    assert_eq!(got, sent.laeq, "InfluxDB values differ from what was sent");
    // The first sink writes CONTRACT §4's fields only; the second keeps `seq` and `period_s`.
    let v = influx.query("meili", "SHOW FIELD KEYS FROM noise");
    let fields: Vec<&str> = v["results"][0]["series"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f[0].as_str())
        .collect();
    assert_eq!(fields, ["laeq", "lamax", "lamin"]);

    wait_until(
        "10,000 samples in VictoriaMetrics",
        Duration::from_secs(120),
        || (vm.sample_count("noise_laeq") >= total).then_some(()),
    );
    let mut got = HashMap::new();
    for series in vm.export("noise_laeq") {
        assert_eq!(series["metric"]["site"], "town");
        let dev = series["metric"]["device"].as_str().unwrap().to_string();
        let values = series["values"].as_array().unwrap();
        let stamps = series["timestamps"].as_array().unwrap();
        for (val, ts) in values.iter().zip(stamps) {
            let prev = got.insert(
                (dev.clone(), ts.as_i64().unwrap() / 1000),
                val.as_f64().unwrap(),
            );
            assert!(prev.is_none(), "duplicate sample for {dev} at {ts}");
        }
    }
    assert_eq!(got.len(), total);
    assert_eq!(
        got, sent.laeq,
        "VictoriaMetrics values differ from what was sent"
    );
    wait_until(
        "seq and period_s in VictoriaMetrics",
        Duration::from_secs(60),
        || {
            (vm.sample_count("noise_seq") == total && vm.sample_count("noise_period_s") == total)
                .then_some(())
        },
    );
}

#[test]
fn ten_thousand_readings_reach_influxdb_v1_and_victoriametrics() {
    let (mq, influx, vm) = (Mosquitto::start(), Influxd::start(), Victoria::start());
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(dir.path(), &config(&mq, &influx, &vm, "3.1.1"));
    let sent = readings(unix_now() - 7 * 24 * 3600);
    publish(&mq, &sent, 0..PER_DEVICE);
    // Device d000's 100 readings delivered a second time: they must land once.
    mq.publish_lines("meili/v1/town/noise/d000/telemetry", &sent.lines[0].1);
    let total = (DEVICES * PER_DEVICE) as f64;
    wait_until("duplicates written", Duration::from_secs(60), || {
        (meilid.metric(
            "meili_sink_rows_written_total",
            "sink=\"influxdb_v2\",type=\"influxdb_v2\"",
        )? >= total + 100.0
            && meilid.metric(
                "meili_sink_rows_written_total",
                "sink=\"influxdb_v1\",type=\"influxdb_v1\"",
            )? >= total + 100.0)
            .then_some(())
    });
    assert_databases_hold(&sent, &influx, &vm);
    let total = total + 100.0;
    assert_eq!(
        meilid.metric("meili_readings_accepted_total", "kind=\"noise\""),
        Some(total)
    );
    assert_eq!(
        meilid.metric(
            "meili_sink_rows_written_total",
            "sink=\"influxdb_v1\",type=\"influxdb_v1\""
        ),
        Some(total)
    );
    assert_eq!(
        meilid.metric(
            "meili_sink_rows_written_total",
            "sink=\"influxdb_v2\",type=\"influxdb_v2\""
        ),
        Some(total)
    );
}

#[test]
fn readings_published_while_the_daemon_is_down_arrive_after_restart() {
    let (mq, influx, vm) = (Mosquitto::start(), Influxd::start(), Victoria::start());
    let dir = tempfile::tempdir().unwrap();
    let meilid = Meilid::start(dir.path(), &config(&mq, &influx, &vm, "5"));
    let sent = readings(unix_now() - 7 * 24 * 3600);
    publish(&mq, &sent, 0..PER_DEVICE - 10);
    let first = DEVICES * (PER_DEVICE - 10);
    wait_until("first 9,000 rows", Duration::from_secs(120), || {
        (influx.count("meili", "noise", "laeq") as usize >= first).then_some(())
    });
    let mut meilid = meilid;
    assert_eq!(
        meilid.proc.stop(),
        Some(0),
        "meilid did not exit cleanly on SIGTERM"
    );
    // 1,000 readings while the daemon is away: the broker keeps them in the daemon's session.
    publish(&mq, &sent, PER_DEVICE - 10..PER_DEVICE);
    assert_eq!(influx.count("meili", "noise", "laeq") as usize, first);
    let meilid = Meilid::start_again(meilid, dir.path());
    assert_databases_hold(&sent, &influx, &vm);
    // The restarted daemon received exactly the 1,000 it missed.
    assert_eq!(
        meilid.metric("meili_readings_accepted_total", "kind=\"noise\""),
        Some(1000.0)
    );
}

/// Issue 20 (part): the database the daemon creates gets the retention asked for
/// (`retention_days`, `retention_policy` as its name), on a real InfluxDB 1.6.
#[test]
fn the_database_the_daemon_creates_has_the_retention_asked_for() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let m = Meilid::start(
        dir.path(),
        &format!(
            "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-rp\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\nretention_policy = \"two_years\"\nretention_days = 730\n[sinks.batch]\nmax_delay_ms = 200\n\n[[devices]]\nid = \"n1\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.38\nzone_class = \"2\"\n",
            mq.url(),
            influx.url()
        ),
    );
    let now = unix_now();
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"{{"v":1,"seq":{i},"ts":{},"period_s":60,"laeq":50.0}}"#,
                now - 300 + i * 60
            )
        })
        .collect();
    publish_lines(mq.port, "meili/v1/town/noise/n1/telemetry", &lines);
    wait_until("5 rows", Duration::from_secs(30), || {
        (influx.count("meili", "noise", "laeq") >= 5).then_some(())
    });
    let v = influx.query("meili", "SHOW RETENTION POLICIES ON meili");
    let rows = v["results"][0]["series"][0]["values"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let two = rows
        .iter()
        .find(|r| r[0] == "two_years")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(two[1], "17520h0m0s", "{v}");
    assert_eq!(two[4], true, "the default policy: {v}");
    drop(m);
}

/// Issue 22: on MQTT 3.1.1 the acknowledgements of a group commit leave in one write, and the
/// broker takes them: 1,000 readings queued in the daemon's session while it was away arrive
/// in bursts of the broker's window (mosquitto's default 20), are acknowledged with several
/// PUBACKs per write, and none is sent again after another restart.
#[test]
fn acknowledgements_leave_together_and_the_broker_takes_them() {
    let (mq, influx) = (Mosquitto::start(), Influxd::start());
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-acks\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\n\n{}",
        mq.url(),
        influx.url(),
        noise_devices(DEVICES)
    );
    let subscribed = |m: &Meilid| {
        wait_until("subscribed", Duration::from_secs(30), || {
            (m.metric("meili_mqtt_subscriptions_total", "")? >= 1.0).then_some(())
        })
    };
    let mut meilid = Meilid::start(dir.path(), &conf);
    subscribed(&meilid);
    assert_eq!(meilid.proc.stop(), Some(0));
    let sent = readings(unix_now() - 7 * 24 * 3600);
    publish(&mq, &sent, PER_DEVICE - 10..PER_DEVICE);

    let mut meilid = Meilid::start_again(meilid, dir.path());
    wait_until("1,000 rows in InfluxDB", Duration::from_secs(120), || {
        (influx.count("meili", "noise", "laeq") >= 1000).then_some(())
    });
    let acks = meilid.metric("meili_mqtt_acks_sent_total", "").unwrap();
    let writes = meilid.metric("meili_mqtt_ack_writes_total", "").unwrap();
    assert_eq!(acks, 1000.0);
    assert!(
        writes * 4.0 <= acks,
        "{acks} acknowledgements took {writes} writes"
    );
    assert_eq!(meilid.proc.stop(), Some(0));

    // Had the broker not taken an acknowledgement, it would send that message again now.
    let meilid = Meilid::start_again(meilid, dir.path());
    subscribed(&meilid);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(meilid.metric("meili_mqtt_acks_sent_total", ""), Some(0.0));
    assert_eq!(influx.count("meili", "noise", "laeq"), 1000);
}
