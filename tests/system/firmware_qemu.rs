//! Issue 15: the air station's real image (target/firmware/qemu-mps2-an386/air.elf, built by
//! scripts/firmware-cross.sh) boots on an emulated Cortex-M4 (QEMU mps2-an386). Its UARTs are
//! wired to host peers: a 4G-modem emulator bridging to the real mosquitto, a PMS5003 emulator,
//! and the console the test provisions the device on. Readings travel modem → mosquitto →
//! meilid → InfluxDB; the modem emulator drops the link and then hangs. The noise meter polls
//! pymodbus over RS-485; the streetlight logs in with its own broker account and obeys `cmd`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::util::*;

fn image(kind: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let p = target.join(format!("firmware/qemu-mps2-an386/{kind}.elf"));
    assert!(
        p.exists(),
        "{} missing: run ./scripts/firmware-cross.sh",
        p.display()
    );
    p
}

/// The console: everything the device logged, and a way to type commands.
pub(crate) struct Console {
    stream: TcpStream,
    text: Arc<Mutex<String>>,
}

impl Console {
    fn connect(port: u16) -> Console {
        let stream = wait_until("qemu console", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        let text = Arc::new(Mutex::new(String::new()));
        let (mut r, t) = (stream.try_clone().unwrap(), text.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                t.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Console { stream, text }
    }

    pub(crate) fn send(&self, line: &str) {
        (&self.stream)
            .write_all(format!("{line}\r").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    pub(crate) fn wait_for(&self, what: &str, secs: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while !self.text.lock().unwrap().contains(what) {
            if std::time::Instant::now() > deadline {
                panic!(
                    "no {what:?} on the console in {secs} s; it shows:\n{}",
                    self.text.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The peak stack use the device reports on `status` (stack painting), in bytes.
    fn stack_peak(&self) -> usize {
        let before = self.count("stack_peak=");
        self.send("status");
        self.wait_for_count("stack_peak=", before + 1, 10);
        let text = self.text.lock().unwrap();
        let at = text.rfind("stack_peak=").unwrap() + "stack_peak=".len();
        let digits: String = text[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    }

    pub(crate) fn wait_for_count(&self, what: &str, n: usize, secs: u64) {
        wait_until(&format!("{n} × {what}"), Duration::from_secs(secs), || {
            (self.count(what) >= n).then_some(())
        });
    }

    pub(crate) fn count(&self, what: &str) -> usize {
        self.text.lock().unwrap().matches(what).count()
    }
}

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/system/device_peers.py")
}

/// An image running in QEMU with its console and the modem emulator on its UARTs; `sensor`
/// is the QEMU chardev of the sensor port (id `c2`).
pub(crate) struct Device {
    pub(crate) console: Console,
    /// The modem emulator's link state file (`up`, `down`, `hung`).
    control: PathBuf,
    _qemu: Proc,
    _modem: Proc,
}

impl Device {
    fn boot(dir: &Path, kind: &str, sensor: &str) -> Device {
        Device::boot_with_bus(dir, kind, sensor, None)
    }

    /// `bus`: the QEMU chardev of the field-bus port (id `c3`), for the Modbus RTU slave.
    fn boot_with_bus(dir: &Path, kind: &str, sensor: &str, bus: Option<&str>) -> Device {
        Device::boot_with_args(dir, kind, sensor, bus, &[])
    }

    /// `args`: further QEMU arguments (a provisioning image's `-device loader,…`).
    pub(crate) fn boot_with_args(
        dir: &Path,
        kind: &str,
        sensor: &str,
        bus: Option<&str>,
        args: &[String],
    ) -> Device {
        let (console_port, modem_port) = (free_port(), free_port());
        let chardev = |id: &str, port: u16| {
            format!("socket,id={id},host=127.0.0.1,port={port},server=on,wait=off")
        };
        let qemu = Proc::spawn(
            "qemu-system-arm",
            Command::new("qemu-system-arm")
                .args([
                    "-M",
                    "mps2-an386",
                    "-nographic",
                    "-monitor",
                    "none",
                    "-kernel",
                ])
                // `kind` may carry a suffix naming this device's files (`air-a0009`).
                .arg(image(kind.split('-').next().unwrap_or(kind)))
                .args(["-chardev", &chardev("c0", console_port)])
                .args(["-chardev", &chardev("c1", modem_port)])
                .args(["-chardev", sensor])
                .args([
                    "-serial",
                    "chardev:c0",
                    "-serial",
                    "chardev:c1",
                    "-serial",
                    "chardev:c2",
                ])
                .args(
                    bus.map(|b| vec!["-chardev", b, "-serial", "chardev:c3"])
                        .unwrap_or_default(),
                )
                .args(args),
            &dir.join(format!("qemu-{kind}.log")),
        );
        let console = Console::connect(console_port);
        let control = dir.join(format!("link-{kind}"));
        std::fs::write(&control, "up").unwrap();
        let modem = Proc::spawn(
            "modem emulator",
            Command::new("python3")
                .arg(peers())
                .args(["modem", "--port", &modem_port.to_string(), "--control"])
                .arg(&control)
                .arg("--events")
                .arg(dir.join(format!("modem-events-{kind}"))),
            &dir.join(format!("modem-{kind}.log")),
        );
        Device {
            console,
            control,
            _qemu: qemu,
            _modem: modem,
        }
    }

    /// What a technician types: id, site, broker, a 2-second period, save, reboot; then wait
    /// until the device is online with it.
    fn provision(&self, id: &str, broker_port: u16, extra: &[&str]) {
        let mut lines = vec![format!("set broker_port {broker_port}")];
        lines.extend(extra.iter().map(|s| s.to_string()));
        self.configure(id, &lines, &format!("mqtt: online as {id}"));
    }

    /// Set id, site, a 2-second period and `lines`, save, reboot, and wait for `ready`.
    fn configure(&self, id: &str, lines: &[String], ready: &str) {
        self.console.wait_for("clock:", 30);
        let mut all = vec![
            format!("set id {id}"),
            "set site town".to_string(),
            "set period_s 2".to_string(),
        ];
        all.extend(lines.iter().cloned());
        all.push("save".into());
        for l in &all {
            self.console.send(l);
        }
        self.console.wait_for("save: ok", 10);
        self.console.send("reboot");
        self.console
            .wait_for(&format!("id {id} reset software"), 20);
        self.console.wait_for(ready, 60);
    }
}

/// The daemon's InfluxDB sink in these tests: raw rows keep `seq`, which the tests audit for
/// gaps (`seq_and_period_fields`).
fn gap_audit_sink(influx_url: &str) -> String {
    format!(
        "[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{influx_url}\"\ndatabase = \"meili\"\nseq_and_period_fields = true\n\
         [sinks.batch]\nmax_delay_ms = 200\n\n"
    )
}

/// Wait until the stored readings run from the first `seq` to at least `made` without a gap;
/// on timeout, fail with what is stored and the console.
fn all_readings(
    influx: &Influxd,
    console: &Console,
    made: i64,
    after: &str,
) -> Vec<(i64, i64, f64)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let r = stored(influx);
        let contiguous = r.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        if contiguous && r.last().is_some_and(|l| l.0 >= made) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "seq after {after} (want up to {made} without gaps): {:?}\nconsole:\n{}",
            r.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            console.text.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The selected columns (after `time`) of every row of `query` in the `meili` database, as
/// numbers (NaN where empty).
fn numbers(influx: &Influxd, query: &str) -> Vec<Vec<f64>> {
    let v = influx.query("meili", query);
    v["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_array())
        .map(|r| {
            r[1..]
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

/// (seq, ts, pm2_5) of the device's stored readings, by seq.
fn stored(influx: &Influxd) -> Vec<(i64, i64, f64)> {
    let v = influx.query(
        "meili",
        "SELECT seq, pm2_5 FROM air WHERE device = 'a0001' AND site = 'town'",
    );
    let mut rows: Vec<(i64, i64, f64)> = v["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r[1].as_i64().unwrap(),
                r[0].as_i64().unwrap(),
                r[2].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

#[test]
fn air_station_image_in_qemu_reports_through_modem_broker_and_daemon() {
    // Persistence: the daemon's session (and what is queued for it) survives the broker's restart.
    let mut mq = Mosquitto::start_with(true);
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-qemu\"\n\n\
         {}\
         [[devices]]\nid = \"a0001\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.36\nlon = 103.37\n",
        mq.url(),
        gap_audit_sink(&influx.url())
    );
    let _meilid = Meilid::start(dir.path(), &config);

    // The device's status topic, as an operator's subscriber sees it.
    let status_log = dir.path().join("status.log");
    let _sub = Proc::spawn(
        "mosquitto_sub",
        Command::new("mosquitto_sub").args([
            "-p",
            &mq.port.to_string(),
            "-q",
            "1",
            "-t",
            "meili/v1/town/air/a0001/status",
        ]),
        &status_log,
    );
    let status = || -> Vec<String> {
        std::fs::read_to_string(&status_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(str::to_string)
            .collect()
    };
    let sensor_port = free_port();
    let dev = Device::boot(
        dir.path(),
        "air",
        &format!("socket,id=c2,host=127.0.0.1,port={sensor_port},server=on,wait=off"),
    );
    let _pms = Proc::spawn(
        "pms5003 emulator",
        Command::new("python3")
            .arg(peers())
            .args(["pms5003", "--port", &sensor_port.to_string()]),
        &dir.path().join("pms.log"),
    );
    let (console, control) = (&dev.console, &dev.control);
    dev.provision("a0001", mq.port, &[]);

    // Readings with the provisioned id and site, network time, PM2.5 as the sensor sent it.
    let rows = wait_until("3 readings", Duration::from_secs(60), || {
        let r = stored(&influx);
        (r.len() >= 3).then_some(r)
    });
    let now = unix_now();
    for &(seq, ts, pm) in &rows {
        assert!(
            (ts - now).abs() < 120,
            "seq {seq}: ts {ts} is not the time ({now})"
        );
        assert_eq!(
            pm, 35.0,
            "seq {seq}: the PMS5003 emulator sends 35 µg/m³ (atmospheric)"
        );
    }

    // The network drops the link for several periods: readings wait in the device's flash and
    // arrive as a backlog; the broker publishes the last will once.
    let before = rows.last().unwrap().0;
    std::fs::write(control, "down").unwrap();
    // The emulator closed the device's connection (its own record; the device's log line
    // could be lost if its console buffer were full).
    let events = dir.path().join("modem-events-air");
    wait_until("the link dropped", Duration::from_secs(20), || {
        std::fs::read_to_string(&events)
            .ok()?
            .lines()
            .any(|l| l.ends_with(" closed"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(8));
    std::fs::write(control, "up").unwrap();
    let rows = wait_until("the backlog", Duration::from_secs(90), || {
        let r = stored(&influx);
        (r.last().is_some_and(|l| l.0 >= before + 6)).then_some(r)
    });
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + seqs.len() as i64).collect::<Vec<_>>(),
        "consecutive seq, nothing lost across the outage"
    );
    wait_until("online again", Duration::from_secs(30), || {
        let s = status();
        (s.last().is_some_and(|l| l.contains("\"online\":true"))
            && s.iter().filter(|l| l.contains("\"online\":false")).count() == 1)
            .then_some(())
    });

    // A hung modem: the device power-cycles it, gives up, stops feeding the watchdog and is
    // reset; it comes back with its configuration and reports why it restarted.
    std::fs::write(control, "hung").unwrap();
    console.wait_for("reset watchdog", 120);
    assert!(console.count("modem: silent, power cycle") >= 3);
    std::fs::write(control, "up").unwrap();
    wait_until(
        "status after the watchdog reset",
        Duration::from_secs(60),
        || {
            let s = status();
            s.iter()
                .any(|l| l.contains("\"online\":true") && l.contains("\"reset\":\"watchdog\""))
                .then_some(())
        },
    );
    // What the device queued in flash while its modem hung survived the reset: every reading
    // arrives, seq continuing across the reset.
    let after = all_readings(
        &influx,
        console,
        console.count("air: seq") as i64,
        "the reset",
    );

    // The broker stops for a while: the device notices, keeps its readings, and is online
    // again once the broker is back; nothing is lost.
    let sessions = console.count("mqtt: online as a0001");
    assert_eq!(mq.proc.stop(), Some(0));
    std::thread::sleep(Duration::from_secs(8));
    mq.start_again();
    wait_until(
        "online after the broker's restart",
        Duration::from_secs(120),
        || (console.count("mqtt: online as a0001") > sessions).then_some(()),
    );
    let last = all_readings(
        &influx,
        console,
        console.count("air: seq") as i64,
        "the broker's restart",
    );
    // Stack painting: the peak stack after all of the above, within the RAM budget with the
    // image's static RAM (about 21 KiB).
    let stack = console.stack_peak();
    assert!(stack < 64 * 1024, "peak stack {stack} bytes");
    eprintln!("qemu air station: peak stack {stack} bytes");
    eprintln!(
        "qemu air station: {} readings before the hang, {} after the watchdog reset, {} in all \
         (seq {}..={}, contiguous); status messages {:?}",
        rows.len(),
        after.len(),
        last.len(),
        last[0].0,
        last.last().unwrap().0,
        status()
    );
}

/// The noise meter's image polls an RS-485 noise ×10 transmitter (pymodbus as the slave, on a
/// pty pair that QEMU's sensor UART opens) and reports LAeq/LAmax/LAmin through the modem.
#[test]
fn noise_meter_image_in_qemu_polls_its_rs485_transmitter_and_reports() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    // 93.5 dB on unit 3 (DOMAIN.md §8.3: holding register 0 = dB × 10): a 94 dB calibrator
    // the transmitter reads 0.5 dB low.
    let rtu = ModbusServer::rtu(&serde_json::json!({"units": {"3": {"holding": {"0": 935}}}}));
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-qemu-noise\"\n\n\
         {}\
         [[devices]]\nid = \"n0001\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"2\"\narea_km2 = 0.5\n",
        mq.url(),
        gap_audit_sink(&influx.url())
    );
    let meilid = Meilid::start(dir.path(), &config);
    let sensor = format!("serial,id=c2,path={}", rtu.tty.display());
    let dev = Device::boot(dir.path(), "noise", &sensor);
    dev.provision("n0001", mq.port, &["set unit 3"]);
    let rows = wait_until("4 noise readings", Duration::from_secs(60), || {
        let rows = numbers(
            &influx,
            "SELECT seq, laeq, lamax, lamin FROM noise WHERE device = 'n0001' AND site = 'town'",
        );
        (rows.len() >= 4).then_some(rows)
    });
    for r in &rows {
        for v in &r[1..] {
            assert!(
                (v - 93.5).abs() < 0.01,
                "seq {}: {v} dB, the transmitter says 93.5",
                r[0]
            );
        }
    }
    let seqs: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1.0),
        "consecutive seq: {seqs:?}"
    );
    // The slave answered the device's polls, once a second.
    let served = rtu.counts().get("3").copied().unwrap_or(0);
    assert!(
        served >= 2 * rows.len() as u64,
        "{served} reads for {} readings",
        rows.len()
    );
    // Calibration through the gateway's API: the meter measures the 94 dB calibrator for 5 s
    // and keeps +0.5 dB; the status says so, and the readings after it read 94.0.
    let base = format!("http://127.0.0.1:{}", meilid.http);
    let r = http_request(
        "POST",
        &format!("{base}/api/v1/devices/town/n0001/cmd"),
        &[("content-type", "application/json")],
        Some(br#"{"op":"calibrate","reference_db":94.0}"#.to_vec()),
        None,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    dev.console.wait_for("noise: calibrated", 30);
    let status = wait_until(
        "the calibration in the status",
        Duration::from_secs(30),
        || {
            let (_, body) = http_get(&format!("{base}/api/v1/devices/town/n0001"))?;
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            v["status"]["cal_offset_db"]
                .as_f64()
                .is_some()
                .then(|| v["status"].clone())
        },
    );
    assert!(
        (status["cal_offset_db"].as_f64().unwrap() - 0.5).abs() < 1e-6,
        "{status}"
    );
    assert!(
        status["cal_unix"].as_i64().unwrap() > 1_700_000_000,
        "{status}"
    );
    let at_94 = || {
        numbers(
            &influx,
            "SELECT seq, laeq FROM noise WHERE device = 'n0001' AND laeq > 93.9",
        )
    };
    let calibrated = wait_until("readings at 94.0 dB", Duration::from_secs(30), || {
        let rows = at_94();
        (rows.len() >= 2).then_some(rows)
    });
    for r in &calibrated {
        assert!((r[1] - 94.0).abs() < 0.01, "seq {}: {} dB", r[0], r[1]);
    }
    // Saved: after a restart the meter still reads 94.0 and says when it was calibrated.
    dev.console.send("reboot");
    dev.console.wait_for("id n0001 reset software", 20);
    let before = calibrated.len();
    wait_until(
        "readings at 94.0 dB after the restart",
        Duration::from_secs(60),
        || (at_94().len() >= before + 2).then_some(()),
    );
    let stack = dev.console.stack_peak();
    assert!(stack < 64 * 1024, "peak stack {stack} bytes");
    eprintln!(
        "qemu noise meter: {} readings, {served} reads served by pymodbus, calibrated +0.5 dB, peak stack {stack} bytes",
        rows.len()
    );
}

/// The streetlight's image logs in to a broker that admits no anonymous client, with its own
/// account, follows its astronomical schedule, and applies a `dim` command sent to its `cmd`
/// topic by an independent client (mosquitto_pub). The emulated board's lamp meter is unwired:
/// 0 V, so every reading carries `power_failure`.
#[test]
fn streetlight_image_in_qemu_logs_in_and_obeys_cmd() {
    let mq = Mosquitto::start_with_users(&[("meilid", "s3cret"), ("l0001", "lamp-pw")]);
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-qemu-lamp\"\nusername = \"meilid\"\npassword = \"s3cret\"\n\n\
         {}\
         [[devices]]\nid = \"l0001\"\nsite = \"town\"\nkind = \"streetlight\"\nlat = 0.0\nlon = 0.0\nroad_class = \"main\"\n",
        mq.url(),
        gap_audit_sink(&influx.url())
    );
    let _meilid = Meilid::start(dir.path(), &config);
    let dev = Device::boot(dir.path(), "streetlight", "null,id=c2");
    // A site where it is now local midnight (on the equator: nights of 12 h), so the schedule
    // lights the lamp whatever the hour the test runs.
    let utc_h = (unix_now() % 86_400) as f64 / 3600.0;
    let lon = {
        let l = (12.0 - utc_h) * 15.0 + 180.0;
        (l + 180.0).rem_euclid(360.0) - 180.0
    };
    let offset_min = ((lon / 15.0).round() * 60.0) as i64;
    dev.provision(
        "l0001",
        mq.port,
        &[
            "set username l0001",
            "set password lamp-pw",
            "set lat 0",
            &format!("set lon {lon:.2}"),
            &format!("set utc_offset_min {offset_min}"),
        ],
    );
    let rows = |min_seq: f64| {
        let v = influx.query(
            "meili",
            "SELECT seq, lamp_on, dim_pct, voltage_v, fault FROM streetlight WHERE device = 'l0001'",
        );
        v["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r[1].as_f64().unwrap_or(-1.0) >= min_seq)
            .cloned()
            .collect::<Vec<serde_json::Value>>()
    };
    let lit = wait_until("2 streetlight readings", Duration::from_secs(60), || {
        let r = rows(0.0);
        (r.len() >= 2).then_some(r)
    });
    for r in &lit {
        assert_eq!(r[2], serde_json::json!(true), "lit at local midnight: {r}");
        assert_eq!(r[3].as_f64(), Some(100.0), "full power by default: {r}");
        assert_eq!(r[4].as_f64(), Some(0.0), "the unwired meter reads 0 V: {r}");
        // `fault` is a bit mask (docs): lamp 1, driver 2, power 4, comm 8.
        assert_eq!(r[5].as_i64(), Some(4), "0 V is a power failure: {r}");
    }
    let last = lit.iter().filter_map(|r| r[1].as_f64()).fold(0.0, f64::max);
    // An operator's client (not the daemon) sends the command.
    let st = Command::new("mosquitto_pub")
        .args([
            "-p",
            &mq.port.to_string(),
            "-u",
            "meilid",
            "-P",
            "s3cret",
            "-q",
            "1",
        ])
        .args(["-t", "meili/v1/town/streetlight/l0001/cmd"])
        .args(["-m", r#"{"v":1,"id":"c1","op":"dim","dim_pct":40}"#])
        .status()
        .unwrap();
    assert!(st.success());
    dev.console.wait_for("streetlight: command dim applied", 30);
    let dimmed = wait_until("a dimmed reading", Duration::from_secs(60), || {
        rows(last + 1.0)
            .into_iter()
            .find(|r| r[3].as_f64() == Some(40.0))
    });
    let stack = dev.console.stack_peak();
    assert!(stack < 64 * 1024, "peak stack {stack} bytes");
    eprintln!(
        "qemu streetlight: {} readings lit at lon {lon:.2}, dimmed to 40 % from seq {}, peak stack {stack} bytes",
        lit.len(),
        dimmed[1]
    );
}

/// The noise meter's image without a broker, as a Modbus RTU slave on its field bus: meilid
/// polls it over a serial line (a socat pty pair on QEMU's fourth UART) with the map file
/// configs/modbus/meili-noise.toml, while the device polls its own RS-485 transmitter
/// (pymodbus) on the sensor port.
#[test]
fn noise_meter_image_in_qemu_answers_the_gateways_modbus_polls() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let rtu = ModbusServer::rtu(&serde_json::json!({"units": {"3": {"holding": {"0": 712}}}}));
    let (_socat, device_end, gateway_end) = pty_pair(dir.path(), "bus-device", "bus-gateway");
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus/meili-noise.toml");
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-qemu-rtu\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\n\
         [sinks.batch]\nmax_delay_ms = 200\n\n\
         [[devices]]\nid = \"n0005\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"2\"\n\
         modbus = {{ rtu = \"{}\", baud = 19200, unit = 5, map = \"{}\", interval_secs = 1 }}\n",
        mq.url(),
        influx.url(),
        gateway_end.display(),
        map.display()
    );
    let dev = Device::boot_with_bus(
        dir.path(),
        "noise",
        &format!("serial,id=c2,path={}", rtu.tty.display()),
        Some(&format!("serial,id=c3,path={}", device_end.display())),
    );
    dev.configure(
        "n0005",
        &[
            "set unit 3".into(),
            "set modbus_unit 5".into(),
            "set modbus_baud 19200".into(),
            "set broker_host off".into(),
        ],
        "rtu: unit 5 at 19200 baud",
    );
    dev.console.wait_for("mqtt: off", 5);
    let meilid = Meilid::start(dir.path(), &config);
    // 71.2 dB from the transmitter → the device's level meter → its input registers (f32) →
    // meilid's poll → InfluxDB.
    let rows = wait_until("5 polled readings", Duration::from_secs(60), || {
        let rows = numbers(
            &influx,
            "SELECT laeq, lamax, lamin FROM noise WHERE device = 'n0005'",
        );
        (rows.len() >= 5).then_some(rows)
    });
    for r in &rows {
        for v in r {
            assert!(
                (v - 71.2).abs() < 0.01,
                "{v} dB polled, the transmitter says 71.2"
            );
        }
    }
    let bus = format!("bus=\"rtu://{}@19200\"", gateway_end.display());
    let labels = format!("device=\"town/n0005\",{bus}");
    let polls = meilid
        .metric("meili_modbus_polls_total", &labels)
        .unwrap_or(0.0);
    let failed = meilid
        .metric("meili_modbus_polls_failed_total", &labels)
        .unwrap_or(0.0);
    assert_eq!(failed, 0.0, "{polls} polls, {failed} failed");
    dev.console.send("status");
    dev.console.wait_for("rtu_answered=", 5);
    let status = dev.console.text.lock().unwrap().clone();
    let answered: u64 = status
        .rsplit("rtu_answered=")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        answered as f64 >= polls && polls >= 5.0,
        "the device answered {answered} of meilid's {polls} polls"
    );
    eprintln!(
        "qemu noise meter as RTU slave: {} readings polled by meilid, {polls} polls, {answered} answered by the image",
        rows.len()
    );
}

/// A P-256 CA and a broker certificate for `localhost` signed by it (openssl), in `dir`.
fn p256_certs(dir: &Path, ca_name: &str) {
    let run = |args: &[&str]| {
        let st = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    let ca_key = format!("{ca_name}.key");
    let ca_pem = format!("{ca_name}.pem");
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &ca_key,
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &ca_key,
        "-sha256",
        "-days",
        "30",
        "-subj",
        &format!("/CN={ca_name}"),
        "-out",
        &ca_pem,
    ]);
    if ca_name != "ca" {
        return;
    }
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "server.key",
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        "server.key",
        "-subj",
        "/CN=localhost",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
}

/// The air station's image speaks MQTT over TLS 1.3 to a TLS-only mosquitto listener: the
/// broker's CA is pasted on its console as PEM, the certificate (P-256, `localhost`) is
/// verified, and readings arrive through the real broker. A device given another CA refuses
/// the broker and sends nothing.
#[test]
fn air_station_image_in_qemu_connects_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    p256_certs(d, "ca");
    p256_certs(d, "otherca");
    let (tls_port, plain_port) = (free_port(), free_port());
    let _mq = Mosquitto::start_conf(
        tls_port,
        &format!(
            "per_listener_settings false\nallow_anonymous true\npersistence false\nuser root\n\
             listener {plain_port} 127.0.0.1\n\
             listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\ntls_version tlsv1.3\n",
            d.display()
        ),
        tempfile::tempdir().unwrap(),
    );
    let influx = Influxd::start();
    let config = format!(
        "[mqtt]\nurl = \"mqtt://127.0.0.1:{plain_port}\"\nclient_id = \"meilid-qemu-tls\"\n\n\
         {}\
         [[devices]]\nid = \"a0009\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.36\nlon = 103.37\n",
        gap_audit_sink(&influx.url())
    );
    let _meilid = Meilid::start(d, &config);
    let pem = |name: &str| -> Vec<String> {
        std::fs::read_to_string(d.join(name))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let boot = |id: &str, ca: &str| {
        let sensor_port = free_port();
        let dev = Device::boot(
            d,
            &format!("air-{id}"),
            &format!("socket,id=c2,host=127.0.0.1,port={sensor_port},server=on,wait=off"),
        );
        let pms = Proc::spawn(
            "pms5003 emulator",
            Command::new("python3").arg(peers()).args([
                "pms5003",
                "--port",
                &sensor_port.to_string(),
            ]),
            &d.join(format!("pms-{id}.log")),
        );
        dev.console.wait_for("clock:", 30);
        for l in pem(ca) {
            dev.console.send(&l);
        }
        dev.console.wait_for("ca: ", 10);
        (dev, pms)
    };
    let lines = |tls_port: u16| {
        vec![
            "set broker_host localhost".to_string(),
            format!("set broker_port {tls_port}"),
            "set tls on".to_string(),
        ]
    };
    // The right CA: online over TLS, readings land.
    let (dev, _pms) = boot("a0009", "ca.pem");
    assert!(
        dev.console.text.lock().unwrap().contains("saved"),
        "the CA was stored"
    );
    dev.configure("a0009", &lines(tls_port), "mqtt: online as a0009");
    let rows = wait_until("3 readings over TLS", Duration::from_secs(90), || {
        let v = influx.query("meili", "SELECT seq, pm2_5 FROM air WHERE device = 'a0009'");
        let n = v["results"][0]["series"][0]["values"]
            .as_array()
            .map_or(0, |a| a.len());
        (n >= 3).then_some(n)
    });
    let stack = dev.console.stack_peak();
    // The TLS handshake (P-256) is the deepest call: with the largest image's 62,540 bytes of
    // static RAM (STM32F407 noise), 35,000 bytes of stack keep within the 96 KiB budget.
    assert!(stack < 35_000, "peak stack {stack} bytes");
    // Another CA: the device refuses the broker's certificate and never goes online.
    let (other, _pms2) = boot("a0010", "otherca.pem");
    other.configure(
        "a0010",
        &lines(tls_port),
        "tls: handshake with localhost failed",
    );
    assert!(!other.console.text.lock().unwrap().contains("mqtt: online"));
    eprintln!(
        "qemu air station over TLS 1.3: {rows} readings through the TLS listener; another CA refused; peak stack {stack} bytes"
    );
}
