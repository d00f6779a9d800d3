//! Issue 21 (part): the daemon writes the report of each closed month by itself. The generated
//! October of the small town (noise points, air stations, toilets and 20 of its lamps) goes
//! through a real mosquitto into `meilid run` in time order, as devices deliver; once a reading
//! of 2 November has closed October (local noon of 1 November + the 1-day lateness), the
//! daemon writes `town-2026-10.{html,pdf,xlsx,csv}` into `data_dir/reports/` from its archive
//! of complete days. Its CSV equals, byte for byte, and its workbook's figures equal what
//! `meilid report` computes from the same readings; the API lists the files.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::town;
use crate::util::{http_get, wait_until, Meilid, Mosquitto};

/// The capture's messages in delivery (reading time) order, without the malformed lines and
/// with lamps l000–l019 only; then one noise reading on 2 November 13:00 local.
fn sorted_capture() -> Vec<(String, String)> {
    let mut msgs: Vec<(i64, String, String)> = Vec::new();
    for line in town::capture().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let (topic, payload) = (
            v["topic"].as_str().unwrap().to_string(),
            v["payload"].as_str().unwrap().to_string(),
        );
        if topic.contains("/streetlight/l")
            && !topic.contains("/streetlight/l00")
            && !topic.contains("/streetlight/l01")
        {
            continue;
        }
        let ts = serde_json::from_str::<Value>(&payload).unwrap()["ts"]
            .as_i64()
            .unwrap();
        msgs.push((ts, topic, payload));
    }
    msgs.sort_by_key(|m| m.0);
    let closing = town::unix_of_hour((town::oct1() + 32) * 24 + 13);
    msgs.push((
        closing,
        "meili/v1/town/noise/n1/telemetry".into(),
        format!(r#"{{"v":1,"seq":1,"ts":{closing},"period_s":300,"laeq":50.0,"lamax":58.0}}"#),
    ));
    msgs.into_iter().map(|(_, t, p)| (t, p)).collect()
}

/// Publish at QoS 1 over one connection, in order.
fn publish(url: &str, msgs: &[(String, String)]) {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut o = rumqttc::MqttOptions::new("report-publisher", "127.0.0.1", port);
        o.set_inflight(100);
        let (client, mut ev) = rumqttc::AsyncClient::new(o, 1_000);
        let n = msgs.len();
        let msgs = msgs.to_vec();
        let sender = tokio::spawn(async move {
            for (t, p) in msgs {
                client
                    .publish(t, rumqttc::QoS::AtLeastOnce, false, p)
                    .await
                    .unwrap();
            }
            client
        });
        let mut acked = 0;
        while acked < n {
            if let rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)) =
                ev.poll().await.expect("publisher connection")
            {
                acked += 1;
            }
        }
        let client = sender.await.unwrap();
        let _ = client.disconnect().await;
    });
}

fn openpyxl_summary(path: &Path) -> Vec<Value> {
    let o = Command::new("python3")
        .args([
            "-c",
            "import json,sys,openpyxl\n\
             wb=openpyxl.load_workbook(sys.argv[1],read_only=True)\n\
             print(json.dumps([list(r) for r in wb['概要'].iter_rows(values_only=True)],default=str))",
        ])
        .arg(path)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_daemon_writes_the_report_of_a_closed_month() {
    let dir = tempfile::tempdir().unwrap();
    let town = town::config();
    let (daemon_line, body) = town.split_once("\n\n").unwrap();
    assert!(daemon_line.starts_with("[daemon]"));
    let standards = "\n[standards]\nlateness_secs = 86400\nemit_interval_secs = 1\n\n\
                     [validate]\nmax_age_secs = 315360000\n\n\
                     [reports]\ncheck_interval_secs = 1\n";
    let msgs = sorted_capture();
    let input = dir.path().join("october-sorted.ndjson");
    let text: String = msgs
        .iter()
        .map(|(t, p)| serde_json::json!({"topic": t, "payload": p}).to_string() + "\n")
        .collect();
    std::fs::write(&input, text).unwrap();

    let mq = Mosquitto::start();
    let gw = dir.path().join("gw");
    std::fs::create_dir_all(&gw).unwrap();
    let m = Meilid::start_with_daemon(
        &gw,
        "timezone = \"Asia/Shanghai\"\n",
        &format!(
            "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-monthly\"\n{standards}\n{body}",
            mq.url()
        ),
    );
    publish(&mq.url(), &msgs);
    let reports = gw.join("data/reports");
    let stem = reports.join("town-2026-10");
    wait_until("October's report", Duration::from_secs(300), || {
        ["html", "pdf", "xlsx", "csv"]
            .iter()
            .all(|e| stem.with_extension(e).exists())
            .then_some(())
    });
    // September (its last night's data) closed too, and with it the third quarter.
    assert_eq!(
        m.metric("meili_reports_written_total", ""),
        Some(3.0),
        "September's, 2026Q3's and October's"
    );
    for name in ["town-2026-09.csv", "town-2026Q3.xlsx"] {
        assert!(reports.join(name).exists(), "{name}");
    }
    assert_eq!(
        m.metric("meili_standards_archive_errors_total", ""),
        Some(0.0)
    );
    assert!(
        !reports.join("town-2026Q4.html").exists(),
        "the quarter has not closed"
    );

    // The same month from the same readings by `meilid report`.
    let cli = dir.path().join("cli");
    let config = dir.path().join("town.toml");
    std::fs::write(&config, format!("{town}{standards}")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args([
            "report", "--site", "town", "--month", "2026-10", "--format", "csv,xlsx", "--config",
        ])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&cli)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let daemon_csv = std::fs::read_to_string(stem.with_extension("csv")).unwrap();
    let cli_csv = std::fs::read_to_string(cli.join("town-2026-10.csv")).unwrap();
    assert!(
        daemon_csv.lines().count() > 31 * 20,
        "{} CSV rows",
        daemon_csv.lines().count()
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_auto");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("daemon-town-2026-10.csv"), &daemon_csv).unwrap();
    std::fs::write(keep.join("cli-town-2026-10.csv"), &cli_csv).unwrap();
    let differ = daemon_csv
        .lines()
        .zip(cli_csv.lines())
        .find(|(a, b)| a != b);
    assert_eq!(
        differ, None,
        "the daemon's CSV and meilid report's: first difference"
    );
    assert_eq!(
        daemon_csv.lines().count(),
        cli_csv.lines().count(),
        "CSV rows"
    );
    let (ours, theirs) = (
        openpyxl_summary(&stem.with_extension("xlsx")),
        openpyxl_summary(&cli.join("town-2026-10.xlsx")),
    );
    assert!(ours.len() >= 9, "{ours:?}");
    assert_eq!(ours, theirs, "summary sheets");
    let pdf = Command::new("pdftotext")
        .arg(stem.with_extension("pdf"))
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&pdf.stdout);
    assert!(
        text.contains("月度城市运行监测报告") && text.contains("由网关按日归档的结果生成"),
        "{text}"
    );

    // The archive keeps one line per day of the closed month.
    let archived =
        std::fs::read_to_string(gw.join("data/standards/archive/town/2026-10.ndjson")).unwrap();
    assert_eq!(archived.lines().count(), 31);

    // Listed by the API, newest first, as the page shows them.
    let (status, body) = http_get(&format!("http://127.0.0.1:{}/api/v1/reports", m.http)).unwrap();
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listed["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for ext in ["html", "pdf", "xlsx", "csv"] {
        assert!(
            names.contains(&format!("town-2026-10.{ext}").as_str()),
            "{names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.ends_with(".part")), "{names:?}");
    drop(m);
}
