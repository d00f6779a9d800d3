//! Issue 20 (part): running as a service. Reloading while readings flow: SIGHUP 20 times while mosquitto_pub
//! publishes 10,000 readings; a device added to the file half-way is taken in without a
//! restart; every reading is in InfluxDB exactly once; an invalid file is refused (counted,
//! the daemon keeps running on the old one).

use std::process::Command;
use std::time::Duration;

use crate::util::*;

fn noise_device(id: &str) -> String {
    format!("\n[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.38\nzone_class = \"2\"\n")
}

fn count(db: &Influxd, device: &str) -> Option<f64> {
    let v = db.query(
        "meili",
        &format!("SELECT count(laeq) FROM noise WHERE device = '{device}'"),
    );
    v["results"][0]["series"][0]["values"][0][1].as_f64()
}

#[test]
fn twenty_reloads_under_load_lose_and_duplicate_nothing() {
    let mq = Mosquitto::start();
    let db = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-reload\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\n[sinks.batch]\nmax_delay_ms = 200\n{}",
        mq.url(),
        db.url(),
        noise_device("n1")
    );
    let m = Meilid::start(dir.path(), &body);
    let text = std::fs::read_to_string(&m.config).unwrap();
    let now = unix_now();
    let readings = move |from: i64, n: i64| -> Vec<String> {
        (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"v":1,"seq":{i},"ts":{},"period_s":1,"laeq":{}.5}}"#,
                    now - 20_000 + i,
                    40 + i % 30
                )
            })
            .collect()
    };
    let port = mq.port;
    let publisher = std::thread::spawn(move || {
        for batch in 0..20 {
            publish_lines(
                port,
                "meili/v1/town/noise/n1/telemetry",
                &readings(batch * 500, 500),
            );
        }
    });
    let hup = || {
        let st = Command::new("kill")
            .arg("-HUP")
            .arg(m.proc.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    };
    for i in 0..20 {
        if i == 10 {
            std::fs::write(&m.config, format!("{text}{}", noise_device("n2"))).unwrap();
        }
        hup();
        std::thread::sleep(Duration::from_millis(150));
    }
    publisher.join().unwrap();
    wait_until("20 reloads", Duration::from_secs(20), || {
        (m.metric("meili_config_reloads_total", "")? >= 20.0).then_some(())
    });
    // n2 came in with the 11th reload: its readings are accepted now.
    let n2: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"v":1,"seq":{i},"ts":{},"period_s":1,"laeq":50.0}}"#,
                now - 500 + i
            )
        })
        .collect();
    publish_lines(mq.port, "meili/v1/town/noise/n2/telemetry", &n2);
    let counts = wait_until("every reading in InfluxDB", Duration::from_secs(60), || {
        let c = (count(&db, "n1")?, count(&db, "n2")?);
        (c.0 >= 10_000.0 && c.1 >= 100.0).then_some(c)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(counts, (10_000.0, 100.0));
    assert_eq!(
        (count(&db, "n1"), count(&db, "n2")),
        (Some(10_000.0), Some(100.0)),
        "nothing more arrived later"
    );
    assert_eq!(
        m.metric("meili_config_reload_failures_total", ""),
        Some(0.0)
    );
    assert_eq!(
        m.metric("meili_readings_rejected_total", "reason=\"unknown_device\"")
            .unwrap_or(0.0),
        0.0
    );
    // An invalid file: refused, counted, the daemon goes on with what it has.
    std::fs::write(&m.config, format!("{text}\nbogus = 1\n")).unwrap();
    hup();
    wait_until("the refusal counted", Duration::from_secs(10), || {
        (m.metric("meili_config_reload_failures_total", "")? >= 1.0).then_some(())
    });
    let r = http_request(
        "POST",
        &format!("http://127.0.0.1:{}/api/v1/reload", m.http),
        &[],
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("bogus"), "{}", r.body);
    publish_lines(
        mq.port,
        "meili/v1/town/noise/n2/telemetry",
        &[format!(
            r#"{{"v":1,"seq":100,"ts":{},"period_s":1,"laeq":50.0}}"#,
            now - 300
        )],
    );
    wait_until(
        "still running on the old configuration",
        Duration::from_secs(20),
        || (count(&db, "n2")? == 101.0).then_some(()),
    );
    let log: String = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("meilid-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        log.contains("Reload refused") && log.contains("bogus"),
        "the log says so"
    );
}

/// systemd's service protocol (sd_notify, as `Type=notify` with `WatchdogSec=` uses it),
/// received on a socket of the test's own: `READY=1` once running, `WATCHDOG=1` every half
/// interval, `STOPPING=1` on SIGTERM.
#[test]
fn tells_systemd_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let http = free_port();
    let config = dir.path().join("meilid.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\ndata_dir = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-notify\"\n{}",
            dir.path().join("data").display(),
            mq.url(),
            noise_device("n1")
        ),
    )
    .unwrap();
    let mut p = Proc::spawn(
        "meilid",
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["run", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "400000"),
        &dir.path().join("meilid.log"),
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let mut next = |got: &mut Vec<String>| {
        let n = sock.recv(&mut buf).expect("a message from meilid");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    };
    next(&mut got);
    assert!(got[0].starts_with("READY=1"), "{got:?}");
    // Ready means serving: the HTTP API answers.
    assert!(http_get(&format!("http://127.0.0.1:{http}/health/live")).is_some());
    while got.iter().filter(|m| *m == "WATCHDOG=1").count() < 3 {
        next(&mut got);
    }
    assert_eq!(p.stop(), Some(0));
    while !got.iter().any(|m| m.starts_with("STOPPING=1")) {
        next(&mut got);
    }
    eprintln!("sd_notify: {got:?}");
}

/// Issue 20 (part): a data directory stamped by a newer meilid (data format 2) is refused at
/// start with a message that says so, and nothing in it is touched.
#[test]
fn a_newer_data_directory_is_refused_and_left_alone() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("buffer")).unwrap();
    std::fs::write(data.join("FORMAT"), "meili-data 2\n").unwrap();
    std::fs::write(
        data.join("buffer/00000000000000000000.seg"),
        b"from the future",
    )
    .unwrap();
    let config = dir.path().join("meilid.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\ndata_dir = \"{}\"\nhttp_listen = \"127.0.0.1:{}\"\n\n[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-newer\"\n{}",
            data.display(),
            free_port(),
            mq.url(),
            noise_device("n1")
        ),
    )
    .unwrap();
    let before: Vec<_> = std::fs::read_dir(data.join("buffer"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {err}");
    assert!(
        err.contains("written by a newer meilid (data format 2"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("FORMAT")).unwrap(),
        "meili-data 2\n"
    );
    assert_eq!(
        std::fs::read(data.join("buffer/00000000000000000000.seg")).unwrap(),
        b"from the future"
    );
    let after: Vec<_> = std::fs::read_dir(data.join("buffer"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(before, after, "nothing added to the buffer");
    // The current format starts, and stamps a new directory.
    let fresh = dir.path().join("fresh.toml");
    std::fs::write(
        &fresh,
        std::fs::read_to_string(&config).unwrap().replace(
            &data.display().to_string(),
            &dir.path().join("data2").display().to_string(),
        ),
    )
    .unwrap();
    let mut p = Proc::spawn(
        "meilid",
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["run", "--config"])
            .arg(&fresh),
        &dir.path().join("fresh.log"),
    );
    wait_until("the stamp", Duration::from_secs(20), || {
        std::fs::read_to_string(dir.path().join("data2/FORMAT"))
            .ok()
            .filter(|s| s == "meili-data 1\n")
    });
    assert_eq!(p.stop(), Some(0));
}

/// A reload applies alert rules, silences, channels and the standards' targets while running:
/// a changed rule's firing alert resolves and the rule is judged afresh, an added rule fires
/// (held back by an added silence), a webhook moved to a new URL keeps its outbox and an added
/// one receives what fires from then on, the compliance rows carry the new target; a changed
/// listen address is only reported.
#[test]
fn a_reload_applies_alert_rules_silences_and_targets() {
    let mq = Mosquitto::start();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let hook = |name: &str, path: &str| {
        format!(
            "\n[[alerts.webhooks]]\nname = \"{name}\"\nurl = \"{}\"\n",
            rx.url(path)
        )
    };
    let rule = |name: &str, threshold: f64| {
        format!(
            "\n[[alerts.rules]]\nname = \"{name}\"\ntype = \"threshold\"\nmetric = \"laeq\"\nthreshold = {threshold:.1}\n"
        )
    };
    let store = dir.path().join("store.lp");
    let body = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-reload-rules\"\n\n[standards]\nemit_interval_secs = 1\n\n[[sinks]]\ntype = \"file\"\nname = \"local\"\npath = \"{}\"\n{}{}",
        mq.url(),
        store.display(),
        noise_device("n1") + &noise_device("n2"),
        rule("loud", 70.0) + &hook("centre_a", "/a")
    );
    let m = Meilid::start(dir.path(), &body);
    let now = unix_now();
    let reading = |seq: i64, laeq: f64| {
        format!(
            r#"{{"v":1,"seq":{seq},"ts":{},"period_s":60,"laeq":{laeq:.1}}}"#,
            now - 600 + seq * 60
        )
    };
    let topic = "meili/v1/town/noise/n1/telemetry";
    let alerts = || -> serde_json::Value {
        let (_, b) = http_get(&format!("http://127.0.0.1:{}/api/v1/alerts", m.http)).unwrap();
        serde_json::from_str(&b).unwrap()
    };
    let active = |v: &serde_json::Value| -> Vec<(String, bool)> {
        v["active"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["id"].as_str().unwrap().to_string(),
                    a["silenced"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let compliance_target = || -> Option<f64> {
        let (_, b) = http_get(&format!("http://127.0.0.1:{}/api/v1/compliance", m.http))?;
        let v: serde_json::Value = serde_json::from_str(&b).ok()?;
        v.as_array()
            .or(v["rows"].as_array())?
            .iter()
            .find(|r| r["metric"] == "noise_night_compliance")
            .and_then(|r| r["target"].as_f64())
    };
    let got = |path: &str| -> Vec<(String, String)> {
        rx.json(path)
            .into_iter()
            .map(|(_, v)| {
                (
                    v["state"].as_str().unwrap().into(),
                    v["id"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pair = |state: &str, id: &str| (state.to_string(), id.to_string());
    publish_lines(mq.port, topic, &[reading(0, 75.0), reading(1, 75.0)]);
    wait_until("loud fires", Duration::from_secs(20), || {
        (active(&alerts()) == [("loud:town/n1".to_string(), false)]).then_some(())
    });
    wait_until("loud at centre_a", Duration::from_secs(20), || {
        (got("/a") == [pair("firing", "loud:town/n1")]).then_some(())
    });
    wait_until("the default target", Duration::from_secs(20), || {
        (compliance_target()? == 0.85).then_some(())
    });

    // The operator raises loud's threshold, adds very_loud with a silence, sets a target and
    // (by mistake) moves the listen address.
    let text = std::fs::read_to_string(&m.config).unwrap();
    let text = text
        .replace(&rule("loud", 70.0), &rule("loud", 80.0))
        .replace(&hook("centre_a", "/a"), &hook("centre_a", "/a2"))
        + &hook("centre_b", "/b")
        + &rule("very_loud", 72.0)
        + "\n[[alerts.silences]]\nrules = [\"very_loud\"]\nstarts = \"2020-01-01T00:00:00Z\"\nends = \"2100-01-01T00:00:00Z\"\ncomment = \"works on the square\"\n"
        + "\n[standards.targets]\nnoise_night_compliance = 0.9\n";
    let text = text.replace(
        &format!("127.0.0.1:{}", m.http),
        &format!("127.0.0.1:{}", free_port()),
    );
    std::fs::write(&m.config, text).unwrap();
    let r = http_request(
        "POST",
        &format!("http://127.0.0.1:{}/api/v1/reload", m.http),
        &[],
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let out: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        out["applied"],
        serde_json::json!([
            "standards targets",
            "alert rules",
            "alert silences",
            "alert channels"
        ]),
        "{out}"
    );
    assert_eq!(
        out["restart_needed"],
        serde_json::json!(["[daemon] changed"]),
        "{out}"
    );

    // loud was changed: its alert resolves now, saying why; 75 dB(A) no longer fires it.
    let v = wait_until(
        "loud resolved by the reload",
        Duration::from_secs(20),
        || {
            let v = alerts();
            active(&v).is_empty().then_some(v)
        },
    );
    let resolved = &v["recent"][0];
    assert_eq!(resolved["id"], "loud:town/n1", "{v}");
    assert_eq!(resolved["state"], "resolved", "{v}");
    assert!(
        resolved["summary_en"]
            .as_str()
            .unwrap()
            .contains("changed on reload"),
        "{v}"
    );
    wait_until("the new target", Duration::from_secs(20), || {
        (compliance_target()? == 0.9).then_some(())
    });
    // The open day's rows went to the sinks again with it.
    wait_until(
        "rows with the new target in the store",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&store)
                .ok()?
                .lines()
                .any(|l| {
                    l.starts_with("compliance,")
                        && l.contains("metric=noise_night_compliance")
                        && l.contains("target=0.9")
                })
                .then_some(())
        },
    );
    publish_lines(mq.port, topic, &[reading(2, 75.0)]);
    wait_until("very_loud fires, silenced", Duration::from_secs(20), || {
        (active(&alerts()) == [("very_loud:town/n1".to_string(), true)]).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        active(&alerts()),
        [("very_loud:town/n1".to_string(), true)],
        "loud (now 80) must not fire at 75"
    );
    // Channels: centre_b runs; n2 at 85 dB(A) fires loud (now 80) to both webhooks. n1's
    // resolution was in centre_a's outbox: delivered once, before or after the move.
    wait_until("centre_b started", Duration::from_secs(20), || {
        m.metric(
            "meili_alert_notifications_sent_total",
            "channel=\"centre_b\",type=\"webhook\"",
        )
    });
    publish_lines(
        mq.port,
        "meili/v1/town/noise/n2/telemetry",
        &[format!(
            r#"{{"v":1,"seq":0,"ts":{},"period_s":60,"laeq":85.0}}"#,
            now - 60
        )],
    );
    let fired = pair("firing", "loud:town/n2");
    let resolved = pair("resolved", "loud:town/n1");
    wait_until(
        "n2's alert at both webhooks",
        Duration::from_secs(30),
        || (got("/a2").contains(&fired) && got("/b").contains(&fired)).then_some(()),
    );
    // centre_b may or may not have started before the reload resolved n1's alert (two tasks
    // take the same reload); nothing else reaches it.
    let b = got("/b");
    assert!(b.iter().all(|p| *p == fired || *p == resolved), "{b:?}");
    let all: Vec<_> = got("/a").into_iter().chain(got("/a2")).collect();
    assert_eq!(all.iter().filter(|p| **p == resolved).count(), 1, "{all:?}");
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(m.metric("meili_config_reloads_total", ""), Some(1.0));
    eprintln!(
        "webhooks: /a {:?}, /a2 {:?}, /b {:?}",
        got("/a"),
        got("/a2"),
        got("/b")
    );
}
