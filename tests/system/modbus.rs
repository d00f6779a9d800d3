//! Issue 5: Modbus TCP and RTU polling against an independent peer (pymodbus), through the
//! same pipeline into InfluxDB; a shared RS-485 bus with 20 live slaves and a dead one.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::util::*;

/// A test map exercising word/byte orders and signed values.
const ORDERS_MAP: &str = r#"
model = "orders"
kind = "air"
[[fields]]
field = "pm2_5"
address = 0
function = "input"
type = "f32"
[[fields]]
field = "pm10"
address = 2
function = "input"
type = "f32"
word_order = "little"
[[fields]]
field = "temp_c"
address = 4
function = "input"
type = "i16"
scale = 0.1
[[fields]]
field = "rh_pct"
address = 5
function = "input"
type = "u16"
byte_order = "little"
scale = 0.1
[[fields]]
field = "no2"
address = 6
function = "input"
type = "i32"
word_order = "little"
offset = 70123.0
"#;

fn device(id: &str, kind: &str, modbus: &str) -> String {
    format!(
        "[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"{kind}\"\nlat = 30.0\nlon = 110.0\n{}modbus = {{ {modbus} }}\n\n",
        if kind == "noise" { "zone_class = \"2\"\n" } else { "" }
    )
}

fn maps() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus")
}

fn last(db: &Influxd, measurement: &str, field: &str, device: &str) -> Option<f64> {
    let v = db.query(
        "meili",
        &format!("SELECT last(\"{field}\") FROM \"{measurement}\" WHERE device = '{device}'"),
    );
    v["results"][0]["series"][0]["values"][0][1].as_f64()
}

#[test]
fn tcp_and_rtu_registers_arrive_decoded_in_influxdb() {
    // 35.5 f32 = 0x420E_0000; 48.25 f32 = 0x4241_0000 sent word-swapped; −12.3 °C = −123 i16;
    // 65.2 % × 10 = 652 = 0x028C sent byte-swapped (0x8C02); −70000 i32 = 0xFFFE_EE90 word-swapped
    // (the map adds 70123, so a sign error would show).
    let tcp = ModbusServer::tcp(&json!({"units": {
        "1": {"holding": {"0": 658}},
        "2": {"input": {"0": 0x420E, "1": 0, "2": 0, "3": 0x4241, "4": 0xFF85, "5": 0x8C02, "6": 0xEE90, "7": 0xFFFE}},
        "3": {"holding": {"0": 600}}
    }}));
    let rtu = ModbusServer::rtu(&json!({"units": {"5": {"holding": {"0": 675}}}}));
    let db = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders.toml");
    std::fs::write(&orders, ORDERS_MAP).unwrap();
    // A map reading a register unit 3 does not have: exception 2 (illegal data address).
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        "model = \"missing\"\nkind = \"noise\"\n[[fields]]\nfield = \"laeq\"\naddress = 40\nscale = 0.1\n",
    )
    .unwrap();
    let noise_map = maps().join("noise-x10.toml");
    let t = format!("127.0.0.1:{}", tcp.port);
    let config = format!(
        "[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\n[sinks.batch]\nmax_delay_ms = 100\n\n{}{}{}{}",
        db.url(),
        device("nx", "noise", &format!("tcp = \"{t}\", unit = 1, map = \"{}\", interval_secs = 1", noise_map.display())),
        device("ax", "air", &format!("tcp = \"{t}\", unit = 2, map = \"{}\", interval_secs = 1", orders.display())),
        device("bad", "noise", &format!("tcp = \"{t}\", unit = 3, map = \"{}\", interval_secs = 1, retries = 0", missing.display())),
        device("nr", "noise", &format!("rtu = \"{}\", baud = 9600, unit = 5, map = \"{}\", interval_secs = 1", rtu.tty.display(), noise_map.display())),
    );
    // The technician's probe reads the same unit once.
    let probe = std::process::Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args([
            "modbus", "probe", "--tcp", &t, "--unit", "2", "--format", "json", "--map",
        ])
        .arg(&orders)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(
        got,
        json!({"pm2_5": 35.5, "pm10": 48.25, "temp_c": -12.3, "rh_pct": 65.2, "no2": 123})
    );
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args(["modbus", "probe", "--tcp", &t, "--unit", "3", "--map"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exception 0x02"));

    let m = Meilid::spawn(dir.path(), &config);
    wait_until("modbus rows in influxdb", Duration::from_secs(30), || {
        (last(&db, "noise", "laeq", "nr").is_some()
            && last(&db, "noise", "laeq", "nx").is_some()
            && last(&db, "air", "no2", "ax").is_some())
        .then_some(())
    });
    assert_eq!(last(&db, "noise", "laeq", "nx"), Some(65.8));
    assert_eq!(last(&db, "noise", "laeq", "nr"), Some(67.5), "over RTU");
    assert_eq!(last(&db, "air", "pm2_5", "ax"), Some(35.5));
    assert_eq!(last(&db, "air", "pm10", "ax"), Some(48.25));
    assert_eq!(last(&db, "air", "temp_c", "ax"), Some(-12.3));
    assert_eq!(last(&db, "air", "rh_pct", "ax"), Some(65.2));
    assert_eq!(
        last(&db, "air", "no2", "ax"),
        Some(123.0),
        "signed −70000 + 70123"
    );
    wait_until("exception counted", Duration::from_secs(10), || {
        m.metric(
            "meili_modbus_exceptions_total",
            &format!("device=\"town/bad\",bus=\"tcp://{t}\",code=\"2\""),
        )
        .filter(|n| *n >= 3.0)
    });
    assert_eq!(
        m.metric(
            "meili_modbus_device_up",
            &format!("device=\"town/bad\",bus=\"tcp://{t}\"")
        ),
        Some(0.0)
    );
    assert_eq!(
        m.metric(
            "meili_modbus_device_up",
            &format!("device=\"town/nx\",bus=\"tcp://{t}\"")
        ),
        Some(1.0)
    );
}

#[test]
fn twenty_slaves_share_one_rtu_line_and_a_dead_one_costs_only_its_timeout() {
    let units: serde_json::Map<String, serde_json::Value> = (1..=20)
        .map(|u| (u.to_string(), json!({"holding": {"0": 500 + u}})))
        .collect();
    // Unit 21 is on the line but never answers.
    let rtu = ModbusServer::rtu(&json!({ "units": units, "dead": [21] }));
    let dir = tempfile::tempdir().unwrap();
    let noise_map = maps().join("noise-x10.toml");
    let mut config = String::new();
    for u in 1..=21 {
        config += &device(
            &format!("s{u:02}"),
            "noise",
            &format!(
                "rtu = \"{}\", baud = 9600, unit = {u}, map = \"{}\", interval_secs = 1, timeout_ms = 200",
                rtu.tty.display(),
                noise_map.display()
            ),
        );
    }
    let m = Meilid::spawn(dir.path(), &config);
    let bus = format!("rtu://{}@9600", rtu.tty.display());
    let polls = |u: u32| {
        m.metric(
            "meili_modbus_polls_total",
            &format!("device=\"town/s{u:02}\",bus=\"{bus}\""),
        )
        .unwrap_or(0.0)
    };
    // Let the bus settle, then count polls over a 20-second window, on both sides.
    wait_until("all slaves polled", Duration::from_secs(20), || {
        (1..=21).all(|u| polls(u) >= 2.0).then_some(())
    });
    let (ours0, theirs0): (Vec<f64>, _) = ((1..=20).map(polls).collect(), rtu.counts());
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(20));
    let elapsed = t0.elapsed().as_secs_f64();
    let theirs1 = rtu.counts();
    for u in 1..=20u32 {
        let ours = polls(u) - ours0[u as usize - 1];
        let served = theirs1.get(&u.to_string()).copied().unwrap_or(0) as f64
            - theirs0.get(&u.to_string()).copied().unwrap_or(0) as f64;
        // One read per poll at 1 s despite the dead unit (its timeout costs 0.2 s of each
        // second): at least 90 % of `elapsed` polls. The server counted each of them (its
        // counts file is written every 0.2 s, so one read may not be in it yet).
        assert!(
            ours >= 0.9 * elapsed && ours <= elapsed + 1.0,
            "unit {u}: {ours} polls in {elapsed:.1} s"
        );
        assert!(
            (served - ours).abs() <= 1.0,
            "unit {u}: server saw {served} reads for {ours} polls"
        );
        assert_eq!(
            m.metric(
                "meili_modbus_device_up",
                &format!("device=\"town/s{u:02}\",bus=\"{bus}\"")
            ),
            Some(1.0)
        );
        if u == 1 || u == 20 {
            eprintln!("unit {u}: {ours} polls, {served} reads served, in {elapsed:.2} s");
        }
    }
    assert_eq!(
        m.metric(
            "meili_modbus_device_up",
            &format!("device=\"town/s21\",bus=\"{bus}\"")
        ),
        Some(0.0),
        "the dead slave is offline"
    );
    let timeouts = m
        .metric(
            "meili_modbus_timeouts_total",
            &format!("device=\"town/s21\",bus=\"{bus}\""),
        )
        .unwrap();
    assert!(timeouts >= elapsed, "{timeouts} timeouts");
    assert!(
        m.metric("meili_readings_accepted_total", "kind=\"noise\"")
            .unwrap()
            >= 20.0 * elapsed
    );
}
