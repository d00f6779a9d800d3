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
