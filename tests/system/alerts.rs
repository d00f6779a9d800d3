//! Issue 7: a night-noise exceedance fires and resolves exactly once on every channel — a
//! signed webhook, MQTT (seen by mosquitto_sub) and a real Alertmanager (its API and its own
//! webhook) — across a daemon restart while firing; a silent device goes offline and back.

use std::process::Command;
use std::time::Duration;

use crate::util::*;

const SECRET: &str = "s3cret-for-the-centre";

/// HMAC-SHA256 of `body` computed by Python's hmac module (an independent implementation).
fn python_hmac(body: &[u8]) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print('sha256='+hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
            SECRET,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Unix time of a night's 22:00 in Asia/Shanghai, plus `mins`: the last night whose first
/// three hours (to 01:05, the latest reading the tests send) are over.
fn night(mins: i64) -> i64 {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let three_hours_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    let today = three_hours_ago.to_zoned(tz.clone()).date();
    let yesterday = today.yesterday().unwrap();
    let at = yesterday.at(22, 0, 0, 0).to_zoned(tz).unwrap();
    at.timestamp().as_second() + mins * 60
}

/// 5-minute readings of n01 from `from` to `to` minutes after 22:00 at `level`.
fn readings(from: i64, to: i64, level: f64) -> Vec<String> {
    (from..to)
        .step_by(5)
        .map(|m| {
            format!(
                r#"{{"v":1,"seq":{m},"ts":{},"period_s":300,"laeq":{level:.1}}}"#,
                night(m + 5)
            )
        })
        .collect()
}

fn config(mq: &Mosquitto, hook: &str, am: &str) -> String {
    format!(
        r#"[mqtt]
url = "{}"
client_id = "meilid-alerts"

[[devices]]
id = "n01"
site = "town"
kind = "noise"
lat = 23.36
lon = 103.37
zone_class = "1"
area_km2 = 0.5

[[devices]]
id = "o01"
site = "town"
kind = "noise"
lat = 23.36
lon = 103.38
zone_class = "2"
area_km2 = 0.5
period_secs = 2

[alerts]
evaluate_interval_ms = 200
# Last night's readings arrive hours later here; this test is about live delivery, so none of
# them counts as a backlog (alerts_cn.rs tests the backlog summary).
max_age_mins = 0

[[alerts.rules]]
name = "night_noise"
type = "threshold"
severity = "warning"
kinds = ["noise"]
devices = ["n01"]
metric = "laeq"
window_mins = 60
threshold = "limit"
periods = "night"
for_mins = 120
clear_margin = 1.0

[[alerts.rules]]
name = "offline"
type = "offline"
severity = "critical"
devices = ["o01"]
missed_periods = 3

[[alerts.webhooks]]
name = "centre"
url = "{hook}"
secret = "{SECRET}"

[alerts.mqtt]

[alerts.alertmanager]
url = "{am}"
"#,
        mq.url()
    )
}

/// (state, id) of the CONTRACT objects received on the webhook, checking each signature.
fn webhook_alerts(rx: &Receiver) -> Vec<(String, String)> {
    rx.json("/hook")
        .into_iter()
        .map(|(req, v)| {
            let sig = req
                .headers
                .get("x-meili-signature")
                .cloned()
                .unwrap_or_default();
            assert_eq!(sig, python_hmac(&req.body), "signature of {v}");
            (
                v["state"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (status, alert_id) per alert in each notification Alertmanager sent to its webhook.
fn am_notifications(rx: &Receiver) -> Vec<(String, String)> {
    rx.json("/am")
        .into_iter()
        .flat_map(|(_, v)| {
            v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["status"].as_str().unwrap().to_string(),
                        a["labels"]["alert_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn mqtt_alerts(sub: &Subscriber) -> Vec<(String, String)> {
    sub.messages()
        .into_iter()
        .map(|(topic, p)| {
            assert_eq!(topic, "meili/v1/town/alerts");
            let v: serde_json::Value = serde_json::from_str(&p).unwrap();
            (
                v["state"].as_str().unwrap().to_string(),
                v["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const ID: &str = "night_noise:town/n01";

#[test]
fn night_noise_exceedance_fires_and_resolves_once_on_every_channel_across_a_restart() {
    let mq = Mosquitto::start();
    let rx = Receiver::start();
    let am = Alertmanager::start(&rx.url("/am"));
    let dir = tempfile::tempdir().unwrap();
    let sub = Subscriber::start(
        mq.port,
        "meili/v1/+/alerts",
        "meili/v1/_probe/alerts",
        dir.path(),
    );
    let m = Meilid::start(dir.path(), &config(&mq, &rx.url("/hook"), &am.url()));
    let topic = "meili/v1/town/noise/n01/telemetry";
    // 22:00–24:00 above the class-1 night limit (45 dB); the reading at 00:00 closes 23:00.
    publish_lines(mq.port, topic, &readings(0, 120, 55.0));
    publish_lines(mq.port, topic, &readings(120, 125, 40.0));
    let firing = ("firing".to_string(), ID.to_string());
    wait_until("firing on every channel", Duration::from_secs(30), || {
        let am_api = am.alerts().iter().any(|a| a["labels"]["alert_id"] == ID);
        (webhook_alerts(&rx).contains(&firing)
            && mqtt_alerts(&sub).contains(&firing)
            && am_notifications(&rx).contains(&firing)
            && am_api)
            .then_some(())
    });
    let hook = rx.json("/hook");
    let a = &hook[0].1;
    assert_eq!(a["severity"], "warning");
    assert_eq!(a["threshold"], 45.0);
    assert_eq!(a["value"], 55.0);
    assert_eq!(a["device"], "n01");
    assert!(a["summary_zh"].as_str().unwrap().contains("夜间"), "{a}");
    assert!(a["summary_en"].as_str().unwrap().contains("for 2 h"), "{a}");
    let am_alert = am
        .alerts()
        .into_iter()
        .find(|a| a["labels"]["alert_id"] == ID)
        .unwrap();
    assert_eq!(am_alert["labels"]["alertname"], "night_noise");
    assert_eq!(am_alert["labels"]["severity"], "warning");
    assert_eq!(am_alert["labels"]["site"], "town");
    assert!(am_alert["annotations"]["summary_zh"].as_str().is_some());

    // Restart while firing: the alert is still active and not sent again.
    let before_restart = rx.json("/hook").len();
    let m = {
        let mut m = m;
        assert_eq!(m.proc.stop(), Some(0));
        Meilid::start_again(m, dir.path())
    };
    let (_, body) = http_get(&format!("http://127.0.0.1:{}/api/v1/alerts", m.http)).unwrap();
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["active"][0]["id"], ID, "{api}");
    std::thread::sleep(Duration::from_secs(2)); // several evaluation ticks
                                                // 00:00–01:00 quiet; the reading at 01:00 closes it and resolves the alert.
    publish_lines(mq.port, topic, &readings(125, 185, 40.0));
    let resolved = ("resolved".to_string(), ID.to_string());
    wait_until("resolved on every channel", Duration::from_secs(30), || {
        let am_api = am.alerts().iter().any(|a| a["labels"]["alert_id"] == ID);
        (webhook_alerts(&rx).contains(&resolved)
            && mqtt_alerts(&sub).contains(&resolved)
            && am_notifications(&rx).contains(&resolved)
            && !am_api)
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3)); // room for any duplicate to show up
    let noise_only = |v: Vec<(String, String)>| -> Vec<String> {
        v.into_iter()
            .filter(|(_, id)| id == ID)
            .map(|(s, _)| s)
            .collect()
    };
    assert_eq!(noise_only(webhook_alerts(&rx)), ["firing", "resolved"]);
    assert_eq!(noise_only(mqtt_alerts(&sub)), ["firing", "resolved"]);
    assert_eq!(noise_only(am_notifications(&rx)), ["firing", "resolved"]);
    let hook = rx.json("/hook");
    let r = &hook
        .iter()
        .find(|(_, v)| v["state"] == "resolved")
        .unwrap()
        .1;
    assert_eq!(r["starts_at"], a["starts_at"]);
    assert!(r["ends_at"].as_str().is_some());
    // The counter moves when the receiver's answer arrives, just after the receiver has the
    // body: wait for it to settle, then compare.
    let delivered = (rx.json("/hook").len() - before_restart) as f64;
    let sent = wait_until(
        "the webhook's sent counter",
        Duration::from_secs(10),
        || {
            let v = m.metric(
                "meili_alert_notifications_sent_total",
                "channel=\"centre\",type=\"webhook\"",
            )?;
            (v >= delivered).then_some(v)
        },
    );
    assert_eq!(
        sent, delivered,
        "the restarted daemon counts only what it sent itself"
    );
}

#[test]
fn silent_device_goes_offline_and_back_and_the_test_command_reaches_every_channel() {
    let mq = Mosquitto::start();
    let rx = Receiver::start();
    let am = Alertmanager::start(&rx.url("/am"));
    let dir = tempfile::tempdir().unwrap();
    let m = Meilid::start(dir.path(), &config(&mq, &rx.url("/hook"), &am.url()));
    let topic = "meili/v1/town/noise/o01/telemetry";
    let now = || jiff::Timestamp::now().as_second();
    let reading = |seq: u32| {
        vec![format!(
            r#"{{"v":1,"seq":{seq},"ts":{},"period_s":2,"laeq":50.0}}"#,
            now()
        )]
    };
    publish_lines(mq.port, topic, &reading(1));
    let id = "offline:town/o01";
    // period 2 s × 3 missed periods: offline once 6 s pass without a reading.
    let fired = wait_until("offline alert", Duration::from_secs(30), || {
        rx.json("/hook")
            .into_iter()
            .find(|(_, v)| v["id"] == id)
            .map(|(_, v)| v)
    });
    assert_eq!(fired["state"], "firing");
    assert_eq!(fired["severity"], "critical");
    assert!(
        fired["summary_en"].as_str().unwrap().contains("no reading"),
        "{fired}"
    );
    publish_lines(mq.port, topic, &reading(2));
    wait_until("back online", Duration::from_secs(30), || {
        webhook_alerts(&rx)
            .contains(&("resolved".into(), id.into()))
            .then_some(())
    });
    // The last will: offline at once, without waiting for missed periods.
    publish_lines(mq.port, topic, &reading(3));
    publish_lines(
        mq.port,
        "meili/v1/town/noise/o01/status",
        &[r#"{"v":1,"online":false}"#.to_string()],
    );
    let will = wait_until("last will alert", Duration::from_secs(30), || {
        rx.json("/hook")
            .into_iter()
            .filter(|(_, v)| v["id"] == id && v["state"] == "firing")
            .nth(1)
            .map(|(_, v)| v)
    });
    assert!(
        will["summary_en"].as_str().unwrap().contains("last will"),
        "{will}"
    );
    publish_lines(mq.port, topic, &reading(4));
    wait_until(
        "back online after the will",
        Duration::from_secs(30),
        || {
            (webhook_alerts(&rx)
                .iter()
                .filter(|(s, i)| i == id && s == "resolved")
                .count()
                == 2)
                .then_some(())
        },
    );
    let states: Vec<_> = webhook_alerts(&rx)
        .into_iter()
        .filter(|(_, i)| i == id)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(states, ["firing", "resolved", "firing", "resolved"]);

    // Commissioning: `meilid alerts test` through the same channels.
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["alerts", "test", "--config"])
            .arg(&m.config),
    );
    assert_eq!(out.matches(": ok").count(), 3, "{out}");
    let tests: Vec<_> = webhook_alerts(&rx)
        .into_iter()
        .filter(|(_, i)| i.starts_with("test:"))
        .map(|(s, _)| s)
        .collect();
    assert_eq!(tests, ["firing", "resolved"]);
}
