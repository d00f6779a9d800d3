use std::time::Duration;

use crate::util::*;

/// Publishes every rejection class (and valid readings between them) and checks each counter.
#[test]
fn every_rejection_class_is_counted_and_valid_readings_still_arrive() {
    let (mq, influx) = (Mosquitto::start(), Influxd::start());
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-rej\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\n\n{}\
         [[devices]]\nid = \"a01\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.0\nlon = 103.0\n",
        mq.url(),
        influx.url(),
        noise_devices(2)
    );
    let meilid = Meilid::start(dir.path(), &cfg);
    let now = unix_now();
    let good = |seq: i64| {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{},"period_s":60,"laeq":55.5}}"#,
            now - 3600 + seq
        )
    };
    let t = "meili/v1/town/noise/d000/telemetry";
    let bad: Vec<(&str, String, &str)> = vec![
        (t, r#"{"v":1,"seq":"#.into(), "malformed_json"),
        (t, "definitely not json".into(), "malformed_json"),
        (
            t,
            format!(r#"{{"v":9,"seq":1,"ts":{now},"period_s":60,"laeq":50}}"#),
            "unsupported_version",
        ),
        (
            t,
            format!(r#"{{"v":1,"ts":{now},"period_s":60,"laeq":50}}"#),
            "missing_field",
        ),
        (
            t,
            format!(r#"{{"v":1,"seq":1,"ts":{now},"period_s":60}}"#),
            "missing_field",
        ),
        (
            t,
            format!(r#"{{"v":1,"seq":1,"ts":{now},"period_s":60,"laeq":"loud"}}"#),
            "invalid_field",
        ),
        ("meili/v1/Town/noise/d000/telemetry", good(1), "bad_topic"),
        ("meili/v1/town/radio/d000/telemetry", good(1), "bad_topic"),
        (
            "meili/v1/town/noise/ghost/telemetry",
            good(1),
            "unknown_device",
        ),
        ("meili/v1/town/air/d000/telemetry", good(1), "kind_mismatch"),
        (
            t,
            format!(r#"{{"v":1,"seq":1,"ts":{now},"period_s":60,"laeq":50,"pm2_5":35}}"#),
            "kind_mismatch",
        ),
        (
            t,
            format!(r#"{{"v":1,"seq":1,"ts":{now},"period_s":60,"laeq":250}}"#),
            "out_of_range",
        ),
        (
            "meili/v1/town/air/a01/telemetry",
            format!(r#"{{"v":1,"seq":1,"ts":{now},"period_s":3600,"pm2_5":-3}}"#),
            "out_of_range",
        ),
        (
            t,
            format!(
                r#"{{"v":1,"seq":1,"ts":{},"period_s":60,"laeq":50}}"#,
                now + 3600
            ),
            "timestamp_future",
        ),
        (
            t,
            format!(
                r#"{{"v":1,"seq":1,"ts":{},"period_s":60,"laeq":50}}"#,
                now - 40 * 24 * 3600
            ),
            "timestamp_past",
        ),
    ];
    let mut seq = 0;
    for (topic, payload, _) in &bad {
        mq.publish(topic, payload);
        seq += 1;
        mq.publish("meili/v1/town/noise/d001/telemetry", &good(seq));
    }
    // A backlog array with one bad element: the other two are kept.
    let arr = format!(
        "[{},{},{}]",
        good(100),
        r#"{"v":1,"seq":5,"ts":1,"period_s":60,"laeq":50}"#,
        good(101)
    );
    mq.publish(t, &arr);
    let valid = seq + 2;

    wait_until(
        "valid readings in InfluxDB",
        Duration::from_secs(30),
        || (influx.count("meili", "noise", "laeq") >= valid as u64).then_some(()),
    );
    assert_eq!(influx.count("meili", "noise", "laeq"), valid as u64);
    let mut expected = std::collections::HashMap::new();
    for (_, _, reason) in &bad {
        *expected.entry(*reason).or_insert(0.0) += 1.0;
    }
    *expected.entry("timestamp_past").or_insert(0.0) += 1.0; // the array element with ts=1
    for reason in [
        "malformed_json",
        "unsupported_version",
        "missing_field",
        "invalid_field",
        "bad_topic",
        "unknown_device",
        "kind_mismatch",
        "out_of_range",
        "timestamp_future",
        "timestamp_past",
    ] {
        let got = meilid.metric(
            "meili_readings_rejected_total",
            &format!("reason=\"{reason}\""),
        );
        assert_eq!(got, Some(expected[reason]), "rejections for {reason}");
    }
    assert_eq!(
        meilid.metric("meili_readings_accepted_total", "kind=\"noise\""),
        Some(valid as f64)
    );
}
