//! Issue 4: the daemon's daily figures in InfluxDB survive a stop and a crash mid-day, and equal
//! an uninterrupted run (`meilid replay` of the same readings).

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

const DEVICES: &str = r#"
[[devices]]
id = "n1"
site = "town"
kind = "noise"
lat = 30.0
lon = 110.0
zone_class = "1"
area_km2 = 0.5

[[devices]]
id = "n2"
site = "town"
kind = "noise"
lat = 30.0
lon = 110.0
zone_class = "2"
area_km2 = 0.7

[[devices]]
id = "l1"
site = "town"
kind = "streetlight"
lat = 30.0
lon = 110.0
road_class = "main"

[[devices]]
id = "l2"
site = "town"
kind = "streetlight"
lat = 30.0
lon = 110.0
road_class = "branch"

[[devices]]
id = "t1"
site = "town"
kind = "toilet"
lat = 30.0
lon = 110.0
toilet_class = "2"
"#;

/// (device kind/id, payload) every 5 minutes from local midnight of day D to noon of D+1.
fn readings(midnight: i64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut entries = 0u32;
    for j in 1..=(36 * 12) {
        let ts = midnight + j * 300;
        let hod = (j * 5 / 60) % 24;
        for (n, base) in [("n1", 48.0), ("n2", 53.0)] {
            let l = base + ((j * 7) % 13) as f64 - 6.0 + if hod == 23 { 9.0 } else { 0.0 };
            out.push((
                format!("noise/{n}"),
                format!(
                    r#"{{"v":1,"seq":{j},"ts":{ts},"period_s":300,"laeq":{l},"lamax":{}}}"#,
                    l + 9.0
                ),
            ));
        }
        for (id, dark_from) in [("l1", 1000), ("l2", 240)] {
            let night = !(6..18).contains(&hod);
            let on = night && j < dark_from;
            out.push((
                format!("streetlight/{id}"),
                format!(
                    r#"{{"v":1,"seq":{j},"ts":{ts},"period_s":300,"lamp_on":{on},"power_w":{}}}"#,
                    if on { 90 } else { 0 }
                ),
            ));
        }
        entries += if (7..21).contains(&hod) {
            (j % 4) as u32
        } else {
            0
        };
        out.push((
            "toilet/t1".into(),
            format!(
                r#"{{"v":1,"seq":{j},"ts":{ts},"period_s":300,"stalls":3,"occupied":{},"open":true,"entries":{entries},"nh3":{}}}"#,
                j % 4,
                if hod == 12 { 1.5 } else { 0.4 }
            ),
        ));
    }
    out
}

fn publish(mq: &Mosquitto, lines: &[(String, String)]) {
    let mut by_topic: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (t, p) in lines {
        by_topic.entry(t).or_default().push(p.clone());
    }
    for (t, payloads) in by_topic {
        mq.publish_lines(&format!("meili/v1/town/{t}/telemetry"), &payloads);
    }
}

/// Wait until the engine has read `n` readings in this process (counted + duplicates ≥ n).
fn caught_up(m: &Meilid, n: usize) {
    wait_until("engine caught up", Duration::from_secs(60), || {
        let seen = m.metric("meili_standards_readings_total", "outcome=\"counted\"")?
            + m.metric("meili_standards_readings_total", "outcome=\"duplicate\"")?;
        (seen >= n as f64).then_some(())
    });
}

fn series(db: &Influxd, q: &str) -> Vec<Value> {
    db.query("meili", q)["results"][0]["series"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_day_survives_stop_and_crash_and_equals_an_uninterrupted_run() {
    let mq = Mosquitto::start();
    let db = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    // Day D = the local day two days ago (Asia/Shanghai, UTC+8 all year).
    let local_day = (unix_now() + 8 * 3600).div_euclid(86_400) - 2;
    let midnight = local_day * 86_400 - 8 * 3600;
    let all = readings(midnight);
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-std\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\n[sinks.batch]\nmax_delay_ms = 200\n\n[standards]\nemit_interval_secs = 1\ncheckpoint_interval_secs = 3600\n{DEVICES}",
        mq.url(),
        db.url()
    );
    let thirds = [
        &all[..all.len() / 3],
        &all[all.len() / 3..2 * all.len() / 3],
        &all[2 * all.len() / 3..],
    ];

    let mut m = Meilid::start(dir.path(), &config);
    publish(&mq, thirds[0]);
    caught_up(&m, thirds[0].len());
    // Stop (SIGTERM) mid-day: the engine saves its state; start again.
    assert_eq!(m.proc.stop(), Some(0));
    let mut m = Meilid::start_again(m, dir.path());
    publish(&mq, thirds[1]);
    caught_up(&m, thirds[1].len());
    // Crash (SIGKILL) later in the day, before the next save (hourly): the second third is
    // only in the buffer and must be read again from the saved position, once.
    m.crash_and_restart(dir.path());
    publish(&mq, thirds[2]);
    caught_up(&m, thirds[1].len() + thirds[2].len());
    // A clean stop writes the engine's last results and lets the sink deliver them.
    assert_eq!(m.proc.stop(), Some(0));

    // The uninterrupted run: the same readings replayed in one go.
    let capture: String = all
        .iter()
        .map(|(t, p)| {
            serde_json::json!({"topic": format!("meili/v1/town/{t}/telemetry"), "payload": p})
                .to_string()
                + "\n"
        })
        .collect();
    let input = dir.path().join("day.ndjson");
    std::fs::write(&input, capture).unwrap();
    let doc = meilid_replay(&m.config, &input);
    let date = jiff::Timestamp::from_second(midnight + 8 * 3600)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let day = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == date.as_str())
        .expect("day D")
        .clone();
    assert_eq!(day["complete"], true);
    let t = midnight;

    // Noise periods in the database equal the replay's.
    wait_until("noise_period rows", Duration::from_secs(30), || {
        (series(
            &db,
            &format!(
                "SELECT count(leq) FROM noise_period WHERE time = {t}s GROUP BY device, period"
            ),
        )
        .len()
            == 4)
            .then_some(())
    });
    for n in day["noise"].as_array().unwrap() {
        for period in ["day", "night"] {
            let q = format!(
                "SELECT leq, valid_hours, ok FROM noise_period WHERE time = {t}s AND device = '{}' AND period = '{period}'",
                n["device"].as_str().unwrap()
            );
            let s = series(&db, &q);
            let row = &s[0]["values"][0];
            assert_eq!(row[1], n[period]["leq"], "{} {period}", n["device"]);
            assert_eq!(row[2], n[period]["valid_hours"]);
            assert_eq!(row[3], n[period]["ok"]);
        }
    }
    // Lamp-minutes and entries would double if a restart counted readings twice.
    let lit = |class: &str| {
        let s = series(
            &db,
            &format!("SELECT lit_lamp_minutes, scheduled_lamp_minutes FROM lighting_daily WHERE time = {t}s AND road_class = '{class}'"),
        );
        (s[0]["values"][0][1].as_f64(), s[0]["values"][0][2].as_f64())
    };
    for g in day["lighting"].as_array().unwrap() {
        let class = g["road_class"].as_str().unwrap();
        assert_eq!(
            lit(class),
            (
                g["lit_lamp_minutes"].as_f64(),
                g["scheduled_lamp_minutes"].as_f64()
            ),
            "{class}"
        );
    }
    let toilet = &day["toilets"][0];
    assert!(toilet["entries"].as_f64().unwrap() > 100.0);
    let s = series(
        &db,
        &format!(
            "SELECT entries, available_minutes, odour_ok_hours FROM toilet_daily WHERE time = {t}s"
        ),
    );
    assert_eq!(s[0]["values"][0][1], toilet["entries"]);
    assert_eq!(
        s[0]["values"][0][2].as_f64(),
        toilet["available_minutes"].as_f64()
    );
    assert_eq!(s[0]["values"][0][3], toilet["odour_ok_hours"]);
    // And the day's compliance rows carry the same numerator and denominator.
    for c in doc["compliance"].as_array().unwrap() {
        if c["window"] != "day" || c["start"] != day["date"] {
            continue;
        }
        let s = series(
            &db,
            &format!(
                "SELECT numerator, denominator FROM compliance WHERE time = {t}s AND metric = '{}' AND \"window\" = 'day'",
                c["metric"].as_str().unwrap()
            ),
        );
        assert_eq!(
            (s[0]["values"][0][1].as_f64(), s[0]["values"][0][2].as_f64()),
            (c["numerator"].as_f64(), c["denominator"].as_f64()),
            "{}",
            c["metric"]
        );
    }
}

/// Issue 19, 3: a backlog that arrives after its day has closed (here `lateness_secs` = 1 h)
/// is counted `late` by the live engine and leaves the day as it was; `meilid replay` of the
/// messages in the order an independent subscriber (mosquitto_sub) received them gives the
/// same figures and the same late count; `--ignore-lateness` recomputes the day with them.
#[test]
fn a_late_backlog_replays_as_the_live_daemon_counted_it() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let sub = Subscriber::start(
        mq.port,
        "meili/v1/town/noise/+/telemetry",
        "meili/v1/town/noise/_probe/telemetry",
        dir.path(),
    );
    let out = dir.path().join("results.lp");
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-late\"\n\n[[sinks]]\ntype = \"file\"\nname = \"f\"\npath = \"{}\"\n\n[standards]\nemit_interval_secs = 1\nlateness_secs = 3600\n{DEVICES}",
        mq.url(),
        out.display()
    );
    let m = Meilid::start(dir.path(), &config);
    // Day D = three local days ago: 06:00–14:00 at 50 dB; then a reading two days later
    // (the watermark passes D's close, noon of D+1, by more than the hour allowed); then
    // D's 14:00–22:00 at 70 dB, late.
    let local_day = (unix_now() + 8 * 3600).div_euclid(86_400) - 3;
    let midnight = local_day * 86_400 - 8 * 3600;
    let reading = |seq: i64, ts: i64, l: f64| {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{ts},"period_s":300,"laeq":{l},"lamax":{}}}"#,
            l + 5.0
        )
    };
    let mut payloads = Vec::new();
    for j in 0..96 {
        payloads.push(reading(j, midnight + 6 * 3600 + (j + 1) * 300, 50.0));
    }
    payloads.push(reading(96, midnight + 2 * 86_400 + 12 * 3600, 50.0));
    for j in 0..96 {
        payloads.push(reading(97 + j, midnight + 14 * 3600 + (j + 1) * 300, 70.0));
    }
    publish_lines(mq.port, "meili/v1/town/noise/n1/telemetry", &payloads);
    wait_until("the engine read all 193", Duration::from_secs(60), || {
        let seen = m.metric("meili_standards_readings_total", "outcome=\"counted\"")?
            + m.metric("meili_standards_readings_total", "outcome=\"late\"")?;
        (seen >= 193.0).then_some(())
    });
    let live_late = m
        .metric("meili_standards_readings_total", "outcome=\"late\"")
        .unwrap();
    assert_eq!(live_late, 96.0);
    // The live day's Ld: the last noise_period row for n1's day of D the sink wrote.
    let t = format!(" {midnight}");
    let live_row = wait_until("D's day row", Duration::from_secs(20), || {
        std::fs::read_to_string(&out)
            .ok()?
            .lines()
            .rev()
            .find(|l| {
                l.starts_with("noise_period,")
                    && l.contains("device=n1")
                    && l.contains("period=day")
                    && l.ends_with(&t)
            })
            .map(String::from)
    });
    let leq_of = |row: &str| -> f64 {
        let at = row.find("leq=").unwrap() + 4;
        row[at..].split([',', ' ']).next().unwrap().parse().unwrap()
    };
    assert_eq!(leq_of(&live_row), 50.0, "{live_row}");

    // The capture, in the order the subscriber got the messages.
    let seen = wait_until("the subscriber's 193", Duration::from_secs(20), || {
        let m = sub.messages();
        (m.len() >= 193).then_some(m)
    });
    let capture: String = seen
        .iter()
        .map(|(t, p)| serde_json::json!({"topic": t, "payload": p}).to_string() + "\n")
        .collect();
    let input = dir.path().join("capture.ndjson");
    std::fs::write(&input, capture).unwrap();
    let date = jiff::Timestamp::from_second(midnight + 8 * 3600)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let day_leq = |doc: &Value| {
        doc["days"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["date"] == date.as_str())
            .and_then(|d| {
                d["noise"]
                    .as_array()?
                    .iter()
                    .find(|n| n["device"] == "n1")
                    .cloned()
            })
            .map(|n| n["day"]["leq"].as_f64().unwrap())
            .unwrap()
    };
    let replayed = meilid_replay(&m.config, &input);
    assert_eq!(replayed["input"]["late"], 96, "{}", replayed["input"]);
    assert_eq!(day_leq(&replayed), leq_of(&live_row), "replay = live");
    let full = meilid_replay_with(&m.config, &input, &["--ignore-lateness"]);
    assert_eq!(full["input"]["late"], 0);
    assert!(
        day_leq(&full) > 65.0,
        "recomputed with the backlog: {}",
        day_leq(&full)
    );
}
