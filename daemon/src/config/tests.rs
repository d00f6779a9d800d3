use super::*;

fn errors(text: &str) -> Vec<ConfigError> {
    Config::from_toml(text)
        .err()
        .map(|e| e.0)
        .unwrap_or_default()
}

#[test]
fn shipped_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            // The example names secrets in /etc/meili/, which a production gateway has and this
            // machine does not: those, and only those, must be reported.
            if let Err(e) = load(&path) {
                for e in e.0 {
                    let secret = e.message.starts_with("cannot read /etc/meili/");
                    assert!(secret, "{}: {e}", path.display());
                }
            }
            n += 1;
        }
    }
    assert!(n >= 2, "expected demo.toml and example.toml");
}

#[test]
fn ranges_files_and_paths_are_checked_with_their_lines() {
    let e = errors(
        "[daemon]\ningest_queue_messages = 2305843009213693952\nhealth_interval_secs = 18446744073709551615\nhost = \"gw\\nx y=1\"\n\n\
         [mqtt]\nurl = \"ssl://127.0.0.1:8883\"\nclient_id = \"g\"\npassword_file = \"/nonexistent/pw\"\n\n\
         [[sinks]]\ntype = \"file\"\npath = \"../../x\"\n[sinks.batch]\nmax_rows = 1000000000000\n",
    );
    let got: Vec<(usize, &str)> = e.iter().map(|e| (e.line, e.key.as_str())).collect();
    for want in [
        (2, "daemon.ingest_queue_messages"),
        (3, "daemon.health_interval_secs"),
        (4, "daemon.host"),
        (9, "mqtt.password_file"),
        (13, "sinks[0].path"),
        (15, "sinks[0].batch.max_rows"),
        (6, "mqtt.tls"),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    // Not a regular file: refused before reading.
    let e = load(Path::new("/dev/zero")).unwrap_err();
    assert!(e.0[0].message.contains("not a regular file"), "{e}");
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = errors("[daemon]\nhttp_listen = \"127.0.0.1:1\"\nbogus = 3\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, 3);
    assert!(
        e[0].message.contains("unknown field `bogus`"),
        "{}",
        e[0].message
    );
    assert_eq!(e[0].key, "bogus");
}

#[test]
fn semantic_errors_are_all_reported_with_lines() {
    let text = r#"
[[devices]]
id = "n1"
site = "town"
kind = "noise"
lat = 23.0
lon = 103.0

[[devices]]
id = "N2"
site = "town"
kind = "streetlight"
lat = 23.0
lon = 103.0
zone_class = "1"

[[devices]]
id = "n1"
site = "town"
kind = "air"
lat = 123.0
lon = 103.0
"#;
    let e = errors(text);
    let summary: Vec<_> = e.iter().map(|e| (e.line, e.key.clone())).collect();
    assert!(
        summary.contains(&(2, "devices[0] (id \"n1\").zone_class".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(9, "devices[1] (id \"N2\").id".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(9, "devices[1] (id \"N2\").road_class".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(17, "devices[2] (id \"n1\").id".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&(17, "devices[2] (id \"n1\").lat".into())),
        "{summary:?}"
    );
}

#[test]
fn secrets_are_redacted() {
    let c = Config::from_toml(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"gw\"\nusername = \"u\"\npassword = \"hunter2\"\n",
    )
    .unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2"));
    assert!(dbg.contains("***"));
}

#[test]
fn bad_urls_and_sinks() {
    let e = errors("[mqtt]\nurl = \"http://x\"\nclient_id = \"gw\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"nope\"\ndatabase = \"m\"\n");
    let keys: Vec<_> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["mqtt.url", "sinks[0].url"]);
    assert_eq!(e[1].line, 5);
}

#[test]
fn unknown_sink_field_is_refused() {
    let e = errors("[[sinks]]\ntype = \"file\"\nmax_size = 3\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.contains("max_size"), "{}", e[0].message);
}

#[test]
fn standards_settings_are_checked() {
    let text = r#"
[standards]
lateness_secs = 3600

[standards.air]
switch_date = "2026-3-1"

[standards.lighting]
inspection_time = "9pm"

[standards.targets]
noise_nigth_compliance = 0.85

[standards.sites.Town]
built_up_area_km2 = -1.0

[[devices]]
id = "t1"
site = "town"
kind = "toilet"
lat = 23.0
lon = 103.0
toilet_class = "1"
opening_hours = "6-22"
"#;
    let keys: Vec<_> = errors(text).into_iter().map(|e| e.key).collect();
    for want in [
        "standards.air.switch_date",
        "standards.lighting.inspection_time",
        "standards.targets.noise_nigth_compliance",
        "standards.sites.Town",
        "standards.sites.Town.built_up_area_km2",
        "devices[0] (id \"t1\").opening_hours",
    ] {
        assert!(keys.iter().any(|k| k == want), "{want} not in {keys:?}");
    }
    let unknown = errors("[standards.noise]\nnight_hours = 9\n");
    assert!(unknown[0].key.contains("night_hours"), "{unknown:?}");
}

#[test]
fn modbus_devices_are_checked_with_their_maps() {
    let map =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus/noise-x10.toml");
    let text = format!(
        r#"
[[devices]]
id = "n1"
site = "town"
kind = "noise"
lat = 23.0
lon = 103.0
zone_class = "1"
modbus = {{ tcp = "10.0.0.5:502", rtu = "/dev/ttyUSB0", unit = 1, map = "{m}" }}

[[devices]]
id = "a1"
site = "town"
kind = "air"
lat = 23.0
lon = 103.0
modbus = {{ rtu = "/dev/ttyUSB0", unit = 0, map = "{m}" }}

[[devices]]
id = "n2"
site = "town"
kind = "noise"
lat = 23.0
lon = 103.0
zone_class = "1"
modbus = {{ tcp = "10.0.0.5:502", unit = 2, map = "no/such/map.toml" }}

[[devices]]
id = "n3"
site = "town"
kind = "noise"
lat = 23.0
lon = 103.0
zone_class = "1"
modbus = {{ tcp = "10.0.0.5:502", unit = 3, map = "{m}", interval_secs = 10 }}
"#,
        m = map.display()
    );
    let e = errors(&text);
    let keys: Vec<_> = e
        .iter()
        .map(|e| (e.file.display().to_string(), e.key.clone()))
        .collect();
    let has = |k: &str| keys.iter().any(|(_, key)| key == k);
    assert!(has("devices[0] (id \"n1\").modbus.tcp"), "{keys:?}");
    assert!(has("devices[1] (id \"a1\").modbus.baud"), "{keys:?}");
    assert!(has("devices[1] (id \"a1\").modbus.unit"), "{keys:?}");
    assert!(
        has("devices[1] (id \"a1\").modbus.map"),
        "a noise map for an air device: {keys:?}"
    );
    // An unreadable map is reported at the device that names it, with the reason.
    assert!(
        e.iter()
            .any(|e| e.key == "devices[2] (id \"n2\").modbus.map"
                && e.message.contains("no/such/map.toml: cannot read")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|(_, k)| k.contains("n3")),
        "n3 is fine: {keys:?}"
    );
}

#[test]
fn every_parse_error_of_a_file_is_reported_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        "[daemon]\ndata_dir = 5\nbogus = 1\nhttp_listen = \"nope\"\n\n[mqtt]\nurl = \"mqtt://a\"\nclient_id = \"x\"\nkeep_alive_secs = \"ten\"\n",
    )
    .unwrap();
    let e = load(&path).unwrap_err().0;
    let got: Vec<(usize, &str)> = e.iter().map(|e| (e.line, e.key.as_str())).collect();
    for want in [
        (2, "data_dir"),
        (3, "bogus"),
        (4, "http_listen"),
        (9, "keep_alive_secs"),
    ] {
        assert!(got.contains(&want), "{want:?} not in {got:?}");
    }
    assert_eq!(e.len(), 4, "{got:?}");
}

#[test]
fn the_group_commit_settings_are_checked() {
    let e = errors(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"g\"\nbroker_max_inflight = 0\n\n\
         [buffer]\ncommit_wait_ms = 5000\n",
    );
    let got: Vec<(usize, &str)> = e.iter().map(|e| (e.line, e.key.as_str())).collect();
    assert!(got.contains(&(4, "mqtt.broker_max_inflight")), "{got:?}");
    assert!(got.contains(&(7, "buffer.commit_wait_ms")), "{got:?}");
    assert!(errors(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"g\"\nbroker_max_inflight = 64\n\n\
         [buffer]\ncommit_wait_ms = 0\n"
    )
    .is_empty());
}
