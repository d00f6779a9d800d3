//! Issue 21 (part): alerts a Chinese city platform can dispatch. Every alert names the device
//! (name, kind, class), its place in WGS-84 and GCJ-02, its page, the rule's case category,
//! and carries values rounded as reported; WeCom and DingTalk group robots get Chinese
//! markdown, checked by an independent receiver (tests/system/robot_receiver.py) that verifies
//! DingTalk's signature and refuses a wrong one, which meilid counts and keeps retrying.

use std::process::Command;
use std::time::Duration;

use crate::util::*;

const KEY: &str = "wecom-key-1";
const TOKEN: &str = "ding-token-1";
const SECRET: &str = "SEC0123456789abcdef";

/// The robot receiver's log: (path, errcode, markdown text) per request.
fn robot_log(path: &std::path::Path) -> Vec<(String, i64, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let md = &v["body"]["markdown"];
            let text = md["content"].as_str().or(md["text"].as_str()).unwrap_or("");
            (
                v["path"].as_str().unwrap().to_string(),
                v["errcode"].as_i64().unwrap(),
                text.to_string(),
            )
        })
        .collect()
}

#[test]
fn alerts_name_the_place_and_reach_wecom_and_dingtalk_robots() {
    let mq = Mosquitto::start();
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let robot_port = free_port();
    let log = dir.path().join("robots.jsonl");
    let _robots = Proc::spawn(
        "robot_receiver.py",
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../tests/system/robot_receiver.py"
            ))
            .args([&robot_port.to_string(), KEY, TOKEN, SECRET])
            .arg(&log),
        &dir.path().join("robots.log"),
    );
    wait_until("robot receiver", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", robot_port)).ok()
    });
    let robots = format!("http://127.0.0.1:{robot_port}");
    let body = format!(
        r#"[mqtt]
url = "{mq}"
client_id = "meilid-alerts-cn"

[[devices]]
id = "n1"
site = "town"
kind = "noise"
name = "东门"
lat = 39.915
lon = 116.404
zone_class = "2"

[alerts]
page_url = "https://gw.town.example/meili"

[[alerts.rules]]
name = "loud"
type = "threshold"
metric = "laeq"
threshold = 70.0
case = {{ class = "事件", code = "0105", name = "噪声扰民" }}

[[alerts.webhooks]]
name = "centre"
url = "{hook}"

[[alerts.wecom]]
name = "duty_wecom"
url = "{robots}/wecom?key={KEY}"

[[alerts.dingtalk]]
name = "duty_dingtalk"
url = "{robots}/dingtalk?access_token={TOKEN}"
secret = "{SECRET}"
at_mobiles = ["13800000000"]

[[alerts.dingtalk]]
name = "dingtalk_bad"
url = "{robots}/dingtalk?access_token={TOKEN}"
secret = "SECwrong"
"#,
        mq = mq.url(),
        hook = hook.url("/hook"),
    );
    let m = Meilid::start(dir.path(), &body);
    let now = unix_now();
    let topic = "meili/v1/town/noise/n1/telemetry";
    let reading = |seq: i64, laeq: f64| {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{},"period_s":60,"laeq":{laeq}}}"#,
            now - 600 + seq * 60
        )
    };
    publish_lines(mq.port, topic, &[reading(0, 75.26)]);

    // The webhook's JSON carries the context.
    let fired = wait_until("the alert at the webhook", Duration::from_secs(30), || {
        hook.json("/hook")
            .into_iter()
            .map(|(_, v)| v)
            .find(|v| v["state"] == "firing")
    });
    assert_eq!(fired["value"], 75.3, "{fired}");
    assert_eq!(fired["threshold"], 70.0, "{fired}");
    assert_eq!(fired["device_name"], "东门", "{fired}");
    assert_eq!(fired["kind"], "noise", "{fired}");
    assert_eq!(fired["class"], "2", "{fired}");
    // GCJ-02 of (39.915, 116.404): 39.91640428150164, 116.41024449916938 (the reference
    // figures published with the coordtransform-rs crate's tests).
    assert_eq!(
        fired["location"],
        serde_json::json!({"lat": 39.915, "lon": 116.404, "lat_gcj02": 39.916404, "lon_gcj02": 116.410244}),
        "{fired}"
    );
    assert_eq!(
        fired["url"], "https://gw.town.example/meili/#/device/town/n1",
        "{fired}"
    );
    assert_eq!(
        fired["case"],
        serde_json::json!({"class": "事件", "code": "0105", "name": "噪声扰民"}),
        "{fired}"
    );

    // Both robots took the markdown; the wrong secret was refused and is retried.
    wait_until(
        "both robots accepted the alert",
        Duration::from_secs(30),
        || {
            let l = robot_log(&log);
            let ok = |p: &str| {
                l.iter()
                    .any(|(path, code, t)| path == p && *code == 0 && t.contains("【告警】"))
            };
            (ok("/wecom") && ok("/dingtalk")).then_some(())
        },
    );
    let l = robot_log(&log);
    let wecom = &l
        .iter()
        .find(|(p, c, _)| p == "/wecom" && *c == 0)
        .unwrap()
        .2;
    for want in [
        "### 【告警】等效声级超标",
        "> 级别：警告",
        "> 设备：东门（town/n1，噪声监测点，2类声环境功能区）",
        "> 数值：75.3 dB(A)（阈值 70 dB(A)）",
        "https://uri.amap.com/marker?position=116.410244,39.916404",
        "> 案件类别：事件 0105 噪声扰民",
        "[查看设备页面](https://gw.town.example/meili/#/device/town/n1)",
    ] {
        assert!(wecom.contains(want), "{want:?} not in\n{wecom}");
    }
    wait_until(
        "the wrong secret refused and counted",
        Duration::from_secs(30),
        || {
            let refused = robot_log(&log).iter().any(|(_, c, _)| *c == 310000);
            let failures = m.metric(
                "meili_alert_delivery_failures_total",
                "channel=\"dingtalk_bad\",type=\"dingtalk\"",
            )?;
            (refused && failures >= 1.0).then_some(())
        },
    );
    assert_eq!(
        m.metric(
            "meili_alert_outbox_pending",
            "channel=\"dingtalk_bad\",type=\"dingtalk\""
        ),
        Some(1.0),
        "kept for a retry, not dropped"
    );

    // Quiet again: the resolution reaches both robots.
    publish_lines(mq.port, topic, &[reading(1, 60.0)]);
    wait_until(
        "the resolution at both robots",
        Duration::from_secs(30),
        || {
            let l = robot_log(&log);
            let ok = |p: &str| {
                l.iter()
                    .any(|(path, code, t)| path == p && *code == 0 && t.contains("【恢复】"))
            };
            (ok("/wecom") && ok("/dingtalk")).then_some(())
        },
    );
    let accepted: Vec<_> = robot_log(&log)
        .into_iter()
        .filter(|(_, c, _)| *c == 0)
        .collect();
    assert_eq!(
        accepted.len(),
        4,
        "one firing and one resolution per robot: {accepted:?}"
    );
}

/// A backlog uploaded after an outage: 13 exceedances two days old become historical episodes
/// (listed by the API) and one summary notification, not 26 notifications; a device whose
/// backlog ends in an exceedance that its current reading confirms is alerted once, now.
#[test]
fn a_backfilled_outage_sends_one_summary_not_a_storm() {
    let mq = Mosquitto::start();
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let device = |id: &str| {
        format!("[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.38\nzone_class = \"2\"\n\n")
    };
    let body = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-backfill\"\n\n{}{}\
         [alerts]\nmax_age_mins = 60\nbackfill_quiet_secs = 2\n\n\
         [[alerts.rules]]\nname = \"loud\"\ntype = \"threshold\"\nmetric = \"laeq\"\nthreshold = 70.0\n\n\
         [[alerts.webhooks]]\nname = \"centre\"\nurl = \"{}\"\n",
        mq.url(),
        device("n1"),
        device("n2"),
        hook.url("/hook")
    );
    let m = Meilid::start(dir.path(), &body);
    let old = unix_now() - 2 * 86_400;
    let reading = |seq: i64, ts: i64, laeq: f64| {
        format!(r#"{{"v":1,"seq":{seq},"ts":{ts},"period_s":300,"laeq":{laeq:.1}}}"#)
    };
    // n1: 26 readings, loud and quiet in turn: 13 episodes, two days ago.
    let backlog: Vec<String> = (0..26)
        .map(|i| reading(i, old + i * 300, if i % 2 == 0 { 75.0 } else { 60.0 }))
        .collect();
    publish_lines(mq.port, "meili/v1/town/noise/n1/telemetry", &backlog);
    let got =
        || -> Vec<serde_json::Value> { hook.json("/hook").into_iter().map(|(_, v)| v).collect() };
    let summary = wait_until("the backfill summary", Duration::from_secs(30), || {
        got().into_iter().find(|v| v["rule"] == "backfill")
    });
    assert_eq!(summary["value"], 13.0, "{summary}");
    assert_eq!(summary["state"], "resolved", "{summary}");
    assert!(
        summary["summary_zh"].as_str().unwrap().contains("共 13 起"),
        "{summary}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        got().len(),
        1,
        "one notification for the whole backlog: {:?}",
        got()
    );
    let (_, api) = http_get(&format!("http://127.0.0.1:{}/api/v1/alerts", m.http)).unwrap();
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let episodes = api["historical"].as_array().unwrap();
    assert_eq!(episodes.len(), 13, "{api}");
    assert!(episodes
        .iter()
        .all(|e| e["id"] == "loud:town/n1" && e["state"] == "resolved"));
    assert_eq!(api["active"].as_array().unwrap().len(), 0, "{api}");

    // n2: its backlog ends loud, and its current reading is loud too: alerted once, now.
    let now = unix_now();
    publish_lines(
        mq.port,
        "meili/v1/town/noise/n2/telemetry",
        &[
            reading(0, old, 60.0),
            reading(1, old + 300, 76.0),
            reading(2, now - 30, 77.0),
        ],
    );
    let fired = wait_until("n2 alerted when current", Duration::from_secs(30), || {
        got().into_iter().find(|v| v["id"] == "loud:town/n2")
    });
    assert_eq!(fired["state"], "firing", "{fired}");
    std::thread::sleep(Duration::from_secs(3));
    let n2: Vec<_> = got()
        .into_iter()
        .filter(|v| v["id"] == "loud:town/n2")
        .collect();
    assert_eq!(n2.len(), 1, "{n2:?}");
    assert_eq!(
        m.metric(
            "meili_alert_outbox_pending",
            "channel=\"centre\",type=\"webhook\""
        ),
        Some(0.0)
    );
}
