//! Issue 8: the technician's web page in headless Chromium and the public toilet feed, both
//! served by a daemon fed by the simulated fleet (`meilid simulate`) through mosquitto.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::*;
use crate::webdriver::Browser;

/// Where a test keeps what a person should be able to look at afterwards.
fn output_dir(test: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A gateway for the devices `meilid simulate <sim_args>` drives.
fn gateway(mq: &Mosquitto, dir: &std::path::Path, sim_args: &[&str]) -> Meilid {
    let broker = format!("127.0.0.1:{}", mq.port);
    let devices = simulated_devices(&[&["--broker", &broker][..], sim_args].concat());
    // Live compliance figures every 2 s rather than every minute.
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-web\"\n\n[standards]\nemit_interval_secs = 2\n\n{devices}",
        mq.url()
    );
    // Devices adopted on the page go to adopted.toml, beside the configuration.
    Meilid::start_with_top(
        dir,
        "include = [\"adopted.toml\"]\n",
        "adopt_file = \"adopted.toml\"",
        &config,
    )
}

fn api(m: &Meilid, path: &str) -> Value {
    let (status, body) =
        http_get(&format!("http://127.0.0.1:{}{path}", m.http)).expect("daemon answers");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn web_page_lists_every_simulated_device_and_opens_a_device_page() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let out = output_dir("web_page");
    let modbus = format!("127.0.0.1:{}", free_port());
    let maps = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let maps = maps.display().to_string();
    let sim_args = [
        "--site",
        "sim",
        "--noise",
        "2",
        "--air",
        "2",
        "--toilet",
        "2",
        "--streetlight",
        "3",
        "--modbus-noise",
        "2",
        "--modbus-tcp",
        &modbus,
        "--map-dir",
        &maps,
        "--period-secs",
        "1",
    ];
    // Two months' reports kept on the gateway, as the daemon writes them.
    let kept = dir.path().join("data/reports");
    std::fs::create_dir_all(&kept).unwrap();
    for name in [
        "sim-2026-09.pdf",
        "sim-2026-09.xlsx",
        "sim-2026-10.pdf",
        "sim-2026-10.xlsx",
        "sim-2026-10.csv",
    ] {
        std::fs::write(kept.join(name), name).unwrap();
    }
    let m = gateway(&mq, dir.path(), &sim_args);
    let _sim = Proc::spawn(
        "meilid simulate",
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["simulate", "--broker", &format!("127.0.0.1:{}", mq.port)])
            .args(sim_args)
            .args(["--duration", "300s"]),
        &dir.path().join("simulate.log"),
    );
    let expected: Vec<String> = ["n0001", "n0002", "a0001", "a0002", "t0001", "t0002"]
        .into_iter()
        .chain(["l0001", "l0002", "l0003", "m0001", "m0002"])
        .map(|id| format!("sim/{id}"))
        .collect();
    // The API first: every device online (a reading within three periods).
    wait_until("every device online", Duration::from_secs(30), || {
        let v = api(&m, "/api/v1/devices");
        (v["online"] == expected.len() && v["total"] == expected.len()).then_some(())
    });

    let browser = Browser::start(dir.path(), 1280, 1000);
    let base = format!("http://127.0.0.1:{}", m.http);
    browser.goto(&format!("{base}/?lang=en"));
    let rows = browser.wait_for(
        "device rows",
        &format!(
            "if (document.body.dataset.state !== 'ready') return null;
             const rows = [...document.querySelectorAll('#device-body tr[data-device]')];
             return rows.length >= {} ? rows.map(r => ({{
               device: r.dataset.device, online: r.dataset.online, age: r.dataset.age,
               text: r.innerText }})) : null;",
            expected.len()
        ),
    );
    let rows = rows.as_array().unwrap();
    let shown: HashMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["device"].as_str().unwrap(), r))
        .collect();
    for id in &expected {
        let r = shown
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} missing from the page: {rows:?}"));
        assert_eq!(r["online"], "true", "{id}: {r}");
        let age: i64 = r["age"].as_str().unwrap().parse().expect("age");
        assert!(age <= 10, "{id}: reading {age} s old");
        let text = r["text"].as_str().unwrap();
        assert!(!text.contains("No data"), "{id}: {text}");
        // Status messages: firmware version and signal strength (MQTT devices only).
        if !id.starts_with("sim/m") {
            assert!(text.contains("0.1.0-sim"), "{id}: {text}");
        }
    }
    assert_eq!(rows.len(), expected.len(), "no extra rows");
    // Live compliance: a row per site and metric the daemon reports.
    let metrics: std::collections::BTreeSet<String> =
        wait_until("compliance rows", Duration::from_secs(30), || {
            let v = api(&m, "/api/v1/compliance");
            let set: std::collections::BTreeSet<String> = v["rows"]
                .as_array()?
                .iter()
                .filter_map(|r| r["metric"].as_str().map(String::from))
                .collect();
            (set.len() >= 3).then_some(set)
        });
    let on_page = browser.wait_for(
        "compliance on the page",
        &format!(
            "const m = [...document.querySelectorAll('#compliance-body tr[data-metric]')].map(r => r.dataset.metric);
             return m.length >= {} ? m : null;",
            metrics.len()
        ),
    );
    let on_page: std::collections::BTreeSet<String> = on_page
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str().map(String::from))
        .collect();
    assert!(on_page.is_superset(&metrics), "{on_page:?} vs {metrics:?}");
    let error = browser.eval("return document.getElementById('error').hidden;");
    assert_eq!(error, true, "the page shows an error");
    // Works without internet: everything it loaded came from the daemon.
    let foreign = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name)
           .filter(n => !n.startsWith(location.origin));",
    );
    assert_eq!(foreign, serde_json::json!([]), "loaded from elsewhere");
    let fetched = browser.eval("return performance.getEntriesByType('resource').length;");
    assert!(
        fetched.as_u64().unwrap() >= 3,
        "the page read the API: {fetched}"
    );
    let head = browser.eval("return document.querySelector('#devices h2').innerText;");
    assert_eq!(head, "Devices");
    // A device nobody declared yet (mosquitto_pub as the new device): still rejected, but
    // listed with what it sent and the entry that declares it.
    let reading = format!(
        r#"{{"v":1,"seq":1,"ts":{},"period_s":60,"laeq":61.5}}"#,
        jiff::Timestamp::now().as_second()
    );
    publish_lines(
        mq.port,
        "meili/v1/sim/noise/n0099/telemetry",
        std::slice::from_ref(&reading),
    );
    let pending = wait_until("the new device pending", Duration::from_secs(10), || {
        let v = api(&m, "/api/v1/devices/pending");
        let d = v["devices"].as_array()?.first()?.clone();
        (d["id"] == "n0099").then_some(d)
    });
    assert_eq!(pending["messages"], 1, "{pending}");
    assert_eq!(pending["last_payload"], reading.as_str(), "{pending}");
    assert!(
        pending["declare"]
            .as_str()
            .unwrap()
            .contains("id = \"n0099\"\nsite = \"sim\"\nkind = \"noise\""),
        "{pending}"
    );
    let listed = api(&m, "/api/v1/devices");
    assert_eq!(
        listed["total"],
        expected.len(),
        "not declared, not a device yet"
    );
    let on_page = browser.wait_for(
        "the pending device on the page",
        "const d = document.querySelector('[data-pending=\"sim/noise/n0099\"]');
         return d && !document.getElementById('pending').hidden ? d.innerText : null;",
    );
    assert!(on_page.as_str().unwrap().contains("laeq"), "{on_page}");
    browser.screenshot(&out.join("devices.png"));
    browser.set_size(1440, 900);
    let desk = browser.eval(
        "return { width: document.documentElement.scrollWidth, viewport: window.innerWidth };",
    );
    assert!(
        desk["width"].as_u64() <= desk["viewport"].as_u64(),
        "no horizontal overflow at 1440: {desk}"
    );
    browser.screenshot(&out.join("devices-desktop-1440.png"));

    // Adopted from the page: location, zone class and name typed in; the entry goes to the
    // devices file, the registry takes it in without a restart, and the reading it sent while
    // pending is stored with it.
    browser.goto(&format!("{base}/?lang=en#pending"));
    let form = "form.adopt[data-key=\"sim/n0099\"]";
    browser.wait_for(
        "the adopt form",
        &format!("return document.querySelector('{form}') ? true : null;"),
    );
    browser.eval(&format!(
        "const f = document.querySelector('{form}');
         f.lat.value = '23.37'; f.lon.value = '103.39'; f.zone_class.value = '1';
         f.name.value = 'East gate 东门'; window.confirm = () => true; return true;"
    ));
    browser.screenshot(&out.join("pending-n0099-adopt-form.png"));
    browser.click(&format!("{form} button"));
    let adopted = wait_until(
        "n0099 declared with its reading",
        Duration::from_secs(15),
        || {
            let (status, body) = http_get(&format!("{base}/api/v1/devices/sim/n0099"))?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (status == 200 && v["readings"] == 1).then_some(v)
        },
    );
    assert_eq!(adopted["lat"], 23.37, "{adopted}");
    assert_eq!(adopted["zone_class"], "1", "{adopted}");
    assert_eq!(adopted["name"], "East gate 东门", "{adopted}");
    assert_eq!(adopted["last"]["laeq"], 61.5, "{adopted}");
    let file = std::fs::read_to_string(dir.path().join("adopted.toml")).unwrap();
    assert!(
        file.contains("id = \"n0099\"\nsite = \"sim\"\nkind = \"noise\"")
            && file.contains("zone_class = \"1\""),
        "{file}"
    );
    assert_eq!(
        api(&m, "/api/v1/devices/pending")["devices"],
        serde_json::json!([])
    );
    // Its next reading is taken like any declared device's.
    let second = format!(
        r#"{{"v":1,"seq":2,"ts":{},"period_s":60,"laeq":62.5}}"#,
        jiff::Timestamp::now().as_second()
    );
    publish_lines(mq.port, "meili/v1/sim/noise/n0099/telemetry", &[second]);
    wait_until("n0099's second reading", Duration::from_secs(10), || {
        (api(&m, "/api/v1/devices/sim/n0099")["readings"] == 2).then_some(())
    });
    browser.goto(&format!("{base}/?lang=en"));
    let row = browser.wait_for(
        "n0099 online on the page",
        "const r = document.querySelector('#device-body tr[data-device=\"sim/n0099\"]');
         return r && r.dataset.online === 'true' ? r.querySelector('td.c-last').innerText : null;",
    );
    assert!(row.as_str().unwrap().contains("62.5"), "{row}");
    browser.screenshot(&out.join("devices-n0099-adopted-1440.png"));

    // A Modbus meter's page: recent readings and its register map.
    browser.click("a[href='#/device/sim/m0001']");
    let detail = browser.wait_for(
        "device page",
        "if (document.body.dataset.view !== 'device' || document.body.dataset.state !== 'ready') return null;
         const map = [...document.querySelectorAll('#regmap tbody tr')].map(r => r.cells[0].innerText);
         const recent = document.querySelectorAll('#recent tbody tr td.num').length;
         return map.length ? { map, recent, title: document.querySelector('#detail h2').innerText } : null;",
    );
    let fields: Vec<&str> = detail["map"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(fields.contains(&"laeq"), "{detail}");
    assert!(detail["recent"].as_u64().unwrap() >= 3, "{detail}");
    // Field names with their units, times in the gateway's zone in one 24-hour form.
    let heads = browser.eval(
        "return { laeq: document.querySelector('#recent th[data-field=laeq]').innerText,
                  time: document.querySelector('#recent tbody td').innerText };",
    );
    assert_eq!(heads["laeq"], "LAeq (dB(A))", "{heads}");
    let time = heads["time"].as_str().unwrap();
    let shape = time.len() == 19 && time.as_bytes()[10] == b' ' && time.as_bytes()[13] == b':';
    assert!(shape, "YYYY-MM-DD HH:MM:SS, got {time:?}");
    assert!(
        detail["title"].as_str().unwrap().starts_with("m0001"),
        "{detail}"
    );
    browser.screenshot(&out.join("device-m0001.png"));

    // An MQTT device's page names its topic.
    browser.goto(&format!("{base}/#/device/sim/t0001"));
    let topic = browser.wait_for(
        "topic",
        "const c = document.querySelector('#detail code');
         return document.body.dataset.view === 'device' && c ? c.innerText : null;",
    );
    assert_eq!(topic, "meili/v1/sim/toilet/t0001/telemetry");

    // A streetlight dimmed from its page: the command reaches the broker, where an
    // independent mosquitto_sub sees it on the lamp's cmd topic.
    let sub = Subscriber::start(
        mq.port,
        "meili/v1/sim/streetlight/+/cmd",
        "meili/v1/sim/streetlight/_probe/cmd",
        dir.path(),
    );
    browser.goto(&format!("{base}/?lang=en#/device/sim/l0001"));
    browser.wait_for(
        "the lamp's commands",
        "return document.body.dataset.view === 'device' && document.getElementById('send-dim') ? true : null;",
    );
    browser.eval("document.getElementById('dim-pct').value = '40'; return true;");
    browser.click("#send-dim");
    let sent = browser.wait_for(
        "the command acknowledged",
        "const r = document.getElementById('cmd-result'); return r && r.dataset.sent ? r.dataset.sent : null;",
    );
    let seen = wait_until(
        "the cmd message at the broker",
        Duration::from_secs(10),
        || {
            sub.messages()
                .into_iter()
                .find(|(t, _)| t == "meili/v1/sim/streetlight/l0001/cmd")
        },
    );
    let cmd: Value = serde_json::from_str(&seen.1).unwrap();
    assert_eq!(cmd["v"], 1, "{cmd}");
    assert_eq!(cmd["op"], "dim", "{cmd}");
    assert_eq!(cmd["dim_pct"], 40, "{cmd}");
    assert_eq!(cmd["id"], sent, "{cmd}");
    browser.screenshot(&out.join("device-l0001-dimmed.png"));
    // What a device cannot take is refused before it reaches the broker.
    for (device, body) in [
        ("n0001", r#"{"op":"dim","dim_pct":40}"#),
        ("l0001", r#"{"op":"dim","dim_pct":140}"#),
        ("l0001", r#"{"op":"fly"}"#),
        ("n0001", r#"{"op":"zero"}"#),
        ("t0001", r#"{"op":"span","gas":"nh3"}"#),
        ("t0001", r#"{"op":"calibrate","reference_db":94.0}"#),
    ] {
        let r = http_request(
            "POST",
            &format!("{base}/api/v1/devices/sim/{device}/cmd"),
            &[("content-type", "application/json")],
            Some(body.as_bytes().to_vec()),
            None,
        )
        .unwrap();
        assert_eq!(r.status, 400, "{device} {body}: {}", r.body);
    }
    assert_eq!(
        sub.messages().len(),
        1,
        "only the valid command was published"
    );
    // A toilet's gas cell spanned through the API: the command reaches its cmd topic.
    let toilet_dir = dir.path().join("toilets");
    std::fs::create_dir_all(&toilet_dir).unwrap();
    let toilets = Subscriber::start(
        mq.port,
        "meili/v1/sim/toilet/+/cmd",
        "meili/v1/sim/toilet/_probe/cmd",
        &toilet_dir,
    );
    let r = http_request(
        "POST",
        &format!("{base}/api/v1/devices/sim/t0001/cmd"),
        &[("content-type", "application/json")],
        Some(br#"{"op":"span","gas":"h2s","mg_m3":5.0}"#.to_vec()),
        None,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    let seen = wait_until(
        "the span command at the broker",
        Duration::from_secs(10),
        || toilets.messages().into_iter().next(),
    );
    assert_eq!(seen.0, "meili/v1/sim/toilet/t0001/cmd");
    let cmd: Value = serde_json::from_str(&seen.1).unwrap();
    assert_eq!(cmd["op"], "span", "{cmd}");
    assert_eq!(cmd["gas"], "h2s", "{cmd}");
    assert_eq!(cmd["mg_m3"], 5.0, "{cmd}");

    // Another new device, left pending: its adopt form must fit the phone too.
    let third = format!(
        r#"{{"v":1,"seq":1,"ts":{},"period_s":60,"laeq":48.0}}"#,
        jiff::Timestamp::now().as_second()
    );
    publish_lines(mq.port, "meili/v1/sim/noise/n0098/telemetry", &[third]);
    wait_until("n0098 pending", Duration::from_secs(10), || {
        let v = api(&m, "/api/v1/devices/pending");
        (v["devices"][0]["id"] == "n0098").then_some(())
    });

    // On a small phone, in Chinese: devices first, no sideways scrolling, units everywhere.
    browser.set_size(360, 780);
    browser.goto(&format!("{base}/?lang=zh"));
    let phone = browser.wait_for(
        "Chinese page on a phone",
        "const rows = [...document.querySelectorAll('#device-body tr[data-device]')];
         if (document.body.dataset.state !== 'ready' || rows.length === 0) return null;
         const first = rows[0].getBoundingClientRect();
         return { head: document.querySelector('#devices h2').innerText,
                  width: document.documentElement.scrollWidth, viewport: window.innerWidth,
                  firstBottom: first.bottom, height: window.innerHeight,
                  complianceOpen: document.getElementById('compliance-box').open,
                  last: rows.map(r => [r.dataset.device, r.querySelector('td.c-last').innerText]) };",
    );
    assert_eq!(phone["head"], "设备", "{phone}");
    assert!(
        phone["width"].as_u64() <= phone["viewport"].as_u64(),
        "no horizontal overflow: {phone}"
    );
    assert!(
        phone["firstBottom"].as_f64().unwrap() <= phone["height"].as_f64().unwrap(),
        "the first device is on the first screen: {phone}"
    );
    assert_eq!(
        phone["complianceOpen"], false,
        "compliance starts collapsed"
    );
    for r in phone["last"].as_array().unwrap() {
        let (id, text) = (r[0].as_str().unwrap(), r[1].as_str().unwrap());
        let unit = match &id[4..5] {
            "n" | "m" => "dB(A)",
            "a" => "µg/m³",
            "t" => "mg/m³",
            _ => "W",
        };
        assert!(text.contains(unit), "{id}: {text:?} lacks {unit}");
    }
    browser.screenshot(&out.join("devices-phone-360-zh.png"));
    // The reports, newest first, each with its formats as download links.
    let reports = browser.wait_for(
        "the reports on a phone",
        "const items = [...document.querySelectorAll('#reports li')];
         if (items.length < 2) return null;
         document.getElementById('reports').scrollIntoView();
         return { head: document.querySelector('#reports h2').innerText,
                  width: document.documentElement.scrollWidth, viewport: window.innerWidth,
                  items: items.map(li => [li.dataset.report, [...li.querySelectorAll('a')].map(a => a.getAttribute('href'))]) };",
    );
    assert_eq!(reports["head"], "月度、季度、年度报表", "{reports}");
    assert!(
        reports["width"].as_u64() <= reports["viewport"].as_u64(),
        "{reports}"
    );
    assert_eq!(
        reports["items"],
        serde_json::json!([
            [
                "sim-2026-10",
                [
                    "/api/v1/reports/sim-2026-10.csv",
                    "/api/v1/reports/sim-2026-10.pdf",
                    "/api/v1/reports/sim-2026-10.xlsx"
                ]
            ],
            [
                "sim-2026-09",
                [
                    "/api/v1/reports/sim-2026-09.pdf",
                    "/api/v1/reports/sim-2026-09.xlsx"
                ]
            ]
        ]),
        "{reports}"
    );
    browser.screenshot(&out.join("reports-phone-360-zh.png"));
    let pending = browser.wait_for(
        "the pending device's form on a phone",
        "const f = document.querySelector('form.adopt[data-key=\"sim/n0098\"]');
         if (!f) return null;
         document.getElementById('pending').scrollIntoView();
         return { width: document.documentElement.scrollWidth, viewport: window.innerWidth,
                  formRight: f.getBoundingClientRect().right };",
    );
    assert!(
        pending["width"].as_u64() <= pending["viewport"].as_u64()
            && pending["formRight"].as_f64() <= pending["viewport"].as_f64(),
        "the adopt form fits: {pending}"
    );
    browser.screenshot(&out.join("pending-phone-360-zh.png"));
    // A lamp's page on the phone: its readings table scrolls inside its box, the page does not.
    browser.goto(&format!("{base}/?lang=zh#/device/sim/l0002"));
    let page = browser.wait_for(
        "a lamp's page on a phone",
        "if (document.body.dataset.view !== 'device' || !document.getElementById('send-dim')) return null;
         return { width: document.documentElement.scrollWidth, viewport: window.innerWidth,
                  power: document.querySelector('#recent th[data-field=power_w]').innerText };",
    );
    assert!(
        page["width"].as_u64() <= page["viewport"].as_u64(),
        "no horizontal overflow: {page}"
    );
    assert_eq!(page["power"], "功率 (W)", "{page}");
    browser.screenshot(&out.join("device-l0002-phone-360-zh.png"));
    browser.goto(&format!("{base}/?lang=zh"));

    // The error check can fail: with the daemon gone, the page says so.
    drop(m);
    let shown = browser.wait_for(
        "error banner",
        "const e = document.getElementById('error');
         return e.hidden ? null : { text: e.innerText, state: document.body.dataset.state,
           summary: document.getElementById('summary').innerText };",
    );
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("网关无法连接，自"), "{shown}");
    assert_eq!(shown["state"], "stale", "{shown}");
    // The header no longer claims devices online, it says when the gateway last answered.
    assert!(
        shown["summary"]
            .as_str()
            .unwrap()
            .starts_with("最后一次连接"),
        "{shown}"
    );
    browser.screenshot(&out.join("devices-phone-360-unreachable.png"));
    eprintln!("screenshots in {}", out.display());
}

#[test]
fn toilet_feed_is_geojson_and_follows_the_simulated_state() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    // t0001 and t0003 are always open; t0002 opens three hours from now, so it is closed.
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    let later = |h: i64| {
        let t = now.checked_add(jiff::Span::new().hours(h)).unwrap();
        format!("{:02}:{:02}", t.hour(), t.minute())
    };
    let closed = format!("{}-{}", later(3), later(4));
    let hours = format!("00:00-24:00,{closed}");
    let sim_args = [
        "--site",
        "sim",
        "--toilet",
        "3",
        "--period-secs",
        "1",
        "--toilet-hours",
        &hours,
    ];
    let m = gateway(&mq, dir.path(), &sim_args);
    let sub = Subscriber::start(
        mq.port,
        "meili/v1/sim/toilet/+/telemetry",
        "meili/v1/sim/toilet/probe/telemetry",
        dir.path(),
    );
    let broker = format!("127.0.0.1:{}", mq.port);
    let (_, published) =
        simulate(&[&["--broker", &broker][..], &sim_args, &["--duration", "6s"]].concat());
    wait_until("readings accepted", Duration::from_secs(20), || {
        let n = m.metric("meili_readings_accepted_total", "kind=\"toilet\"")?;
        (n >= published).then_some(())
    });
    // The last reading of each toilet, as an independent subscriber saw it.
    let mut last: HashMap<String, Value> = HashMap::new();
    wait_until("subscriber caught up", Duration::from_secs(20), || {
        let msgs = sub.messages();
        (msgs.len() as f64 >= published).then_some(())
    });
    for (topic, payload) in sub.messages() {
        let id = topic.split('/').nth(4).unwrap().to_string();
        let r: Value = serde_json::from_str(&payload).unwrap();
        let newer = last
            .get(&id)
            .is_none_or(|p| p["ts"].as_i64() <= r["ts"].as_i64());
        if newer {
            last.insert(id, r);
        }
    }

    let (status, body) = http_get(&format!(
        "http://127.0.0.1:{}/api/v1/toilets.geojson",
        m.http
    ))
    .unwrap();
    assert_eq!(status, 200);
    let geo: Value = serde_json::from_str(&body).unwrap();
    check_rfc7946(&geo);
    // The media type RFC 7946 registers, and loadable by web maps on other origins.
    let url = format!("http://127.0.0.1:{}/api/v1/toilets.geojson", m.http);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let headers = rt.block_on(async { reqwest::get(&url).await.unwrap().headers().clone() });
    assert_eq!(headers["content-type"], "application/geo+json");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), 3, "{geo}");
    assert_eq!(geo["coordinate_system"], "WGS-84");
    // The same feed in GCJ-02 for Chinese map apps: every point moved by the datum's offset,
    // near 103.37 E 23.36 N +0.0020° E and -0.0025° N (the published GCJ-02 formula, computed
    // independently in Python: 103.372015, 23.357480); an unknown datum is refused.
    let (status, body) = http_get(&format!(
        "http://127.0.0.1:{}/api/v1/toilets.geojson?crs=gcj02",
        m.http
    ))
    .unwrap();
    assert_eq!(status, 200);
    let gcj: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(gcj["coordinate_system"], "GCJ-02");
    for (w, g) in features.iter().zip(gcj["features"].as_array().unwrap()) {
        assert_eq!(w["id"], g["id"]);
        let c = |f: &Value, i: usize| f["geometry"]["coordinates"][i].as_f64().unwrap();
        let (dlon, dlat) = (c(g, 0) - c(w, 0), c(g, 1) - c(w, 1));
        assert!(
            (0.001..0.004).contains(&dlon) && (-0.004..-0.001).contains(&dlat),
            "{w} vs {g}"
        );
    }
    let (status, _) = http_get(&format!(
        "http://127.0.0.1:{}/api/v1/toilets.geojson?crs=bd09",
        m.http
    ))
    .unwrap();
    assert_eq!(status, 400);
    let by_id: HashMap<&str, &Value> = features
        .iter()
        .map(|f| (f["properties"]["id"].as_str().unwrap(), f))
        .collect();
    for (i, id) in ["t0001", "t0002", "t0003"].into_iter().enumerate() {
        let f = by_id[id];
        let p = &f["properties"];
        let r = &last[id];
        // Coordinates are [lon, lat] (the simulator places toilets at 103.37 E, 23.36x N).
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert!((c[0].as_f64().unwrap() - 103.37).abs() < 0.01, "{f}");
        assert!((c[1].as_f64().unwrap() - 23.36).abs() < 0.01, "{f}");
        let open_hours = if i == 1 {
            closed.as_str()
        } else {
            "00:00-24:00"
        };
        assert_eq!(p["openingHours"], format!("Mo-Su {open_hours}"), "{f}");
        let stalls = r["stalls"].as_u64().unwrap();
        let occupied = r["occupied"].as_u64().unwrap();
        assert_eq!(p["stalls"], stalls, "{id}: {p} vs {r}");
        assert_eq!(p["free_stalls"], stalls - occupied, "{id}: {p} vs {r}");
        let open_reported = r["open"].as_bool().unwrap();
        assert_eq!(
            open_reported,
            i != 1,
            "the simulator keeps {id} to its hours"
        );
        assert_eq!(p["open_now"], open_reported, "{id}: {p}");
        assert_eq!(p["class"], "2");
        let accessible = id != "t0002";
        assert_eq!(p["wheelchair"], accessible, "{p}");
        assert_eq!(
            p["facilities"].as_array().unwrap().len(),
            if accessible { 2 } else { 0 },
            "{p}"
        );
    }
}

/// The structure RFC 7946 requires of a FeatureCollection of Points.
fn check_rfc7946(geo: &Value) {
    assert_eq!(geo["type"], "FeatureCollection");
    assert!(geo.get("crs").is_none(), "RFC 7946 §4: no crs member");
    for f in geo["features"].as_array().expect("features array") {
        assert_eq!(f["type"], "Feature", "{f}");
        assert!(f["id"].is_string() || f["id"].is_number(), "§3.2 id: {f}");
        assert!(f["properties"].is_object(), "§3.2 properties: {f}");
        let g = &f["geometry"];
        assert_eq!(g["type"], "Point", "{f}");
        let c = g["coordinates"].as_array().expect("coordinates");
        assert!(c.len() == 2 || c.len() == 3, "§3.1.1 position: {f}");
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!(
            (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat),
            "{f}"
        );
    }
}

/// The page behind tokens, on a phone: `/` sends the browser to the sign-in form; the token
/// typed there opens the page (its API calls ride on the session cookie), and the cookie is
/// invisible to the page's script (HttpOnly).
#[test]
fn page_signs_in_with_a_token_on_a_phone() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let token = "technician-token-0123456789";
    let hash: String = meili_daemon::http::auth::sha256(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = format!(
        "[[http.tokens]]\nname = \"technician\"\nscope = \"write\"\nsha256 = \"{hash}\"\n\n\
         [mqtt]\nurl = \"{}\"\nclient_id = \"meilid-web-login\"\n\n{}",
        mq.url(),
        noise_devices(2)
    );
    let m = Meilid::start_with_token(dir.path(), &config, token);
    let out = output_dir("page_signs_in_with_a_token_on_a_phone");
    let browser = Browser::start(dir.path(), 390, 844);
    let base = format!("http://127.0.0.1:{}", m.http);
    browser.goto(&format!("{base}/"));
    browser.wait_for(
        "the sign-in form",
        "return location.pathname === '/login' && document.getElementById('token') ? true : null;",
    );
    browser.screenshot(&out.join("login-phone.png"));
    browser.eval(&format!(
        "document.getElementById('token').value = '{token}'; document.querySelector('form').submit(); return true;"
    ));
    let rows = browser.wait_for(
        "the page after sign-in",
        "return location.pathname === '/' && document.body.dataset.state === 'ready'
           ? document.querySelectorAll('#device-body tr').length : null;",
    );
    assert_eq!(rows, 2, "both devices listed");
    let cookie = browser.eval("return document.cookie;");
    assert_eq!(cookie, "", "the session cookie is HttpOnly");
    browser.screenshot(&out.join("devices-after-login-phone.png"));
    eprintln!("screenshots in {}", out.display());
}
