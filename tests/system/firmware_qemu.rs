//! Issue 15: the air station's real image (target/firmware/qemu-mps2-an386/air.elf, built by
//! scripts/firmware-cross.sh) boots on an emulated Cortex-M4 (QEMU mps2-an386). Its UARTs are
//! wired to host peers: a 4G-modem emulator bridging to the real mosquitto, a PMS5003 emulator,
//! and the console the test provisions the device on. Readings travel modem → mosquitto →
//! meilid → InfluxDB; the modem emulator drops the link and then hangs.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
struct Console {
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

    fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\r").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    fn wait_for(&self, what: &str, secs: u64) {
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

    fn count(&self, what: &str) -> usize {
        self.text.lock().unwrap().matches(what).count()
    }
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
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-qemu\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\n\
         [sinks.batch]\nmax_delay_ms = 200\n\n\
         [[devices]]\nid = \"a0001\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.36\nlon = 103.37\n",
        mq.url(),
        influx.url()
    );
    let _meilid = Meilid::start(dir.path(), &config);

    // The device's status topic, as an operator's subscriber sees it.
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-p",
            &mq.port.to_string(),
            "-q",
            "1",
            "-t",
            "meili/v1/town/air/a0001/status",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = Arc::new(Mutex::new(Vec::<String>::new()));
    let (out, st) = (sub.stdout.take().unwrap(), status.clone());
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            st.lock().unwrap().push(l);
        }
    });

    let (console_port, modem_port, sensor_port) = (free_port(), free_port(), free_port());
    let chardev = |id: &str, port: u16| {
        format!("socket,id={id},host=127.0.0.1,port={port},server=on,wait=off")
    };
    let _qemu = Proc::spawn(
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
            .arg(image("air"))
            .args(["-chardev", &chardev("c0", console_port)])
            .args(["-chardev", &chardev("c1", modem_port)])
            .args(["-chardev", &chardev("c2", sensor_port)])
            .args([
                "-serial",
                "chardev:c0",
                "-serial",
                "chardev:c1",
                "-serial",
                "chardev:c2",
            ]),
        &dir.path().join("qemu.log"),
    );
    let mut console = Console::connect(console_port);
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/system/device_peers.py");
    let control = dir.path().join("link");
    std::fs::write(&control, "up").unwrap();
    let _modem = Proc::spawn(
        "modem emulator",
        Command::new("python3")
            .arg(&peers)
            .args(["modem", "--port", &modem_port.to_string(), "--control"])
            .arg(&control)
            .arg("--events")
            .arg(dir.path().join("modem-events")),
        &dir.path().join("modem.log"),
    );
    let _pms = Proc::spawn(
        "pms5003 emulator",
        Command::new("python3")
            .arg(&peers)
            .args(["pms5003", "--port", &sensor_port.to_string()]),
        &dir.path().join("pms.log"),
    );

    // A technician provisions the device on its console; the configuration survives the reboot.
    console.wait_for("clock:", 30);
    for c in [
        "set id a0001",
        "set site town",
        &format!("set broker_port {}", mq.port),
        "set period_s 2",
        "save",
    ] {
        console.send(c);
    }
    console.wait_for("save: ok", 10);
    console.send("reboot");
    console.wait_for("id a0001 reset software", 20);
    console.wait_for("mqtt: online as a0001", 60);

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
    std::fs::write(&control, "down").unwrap();
    console.wait_for("socket closed by the network", 20);
    std::thread::sleep(Duration::from_secs(8));
    std::fs::write(&control, "up").unwrap();
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
        let s = status.lock().unwrap();
        (s.last().is_some_and(|l| l.contains("\"online\":true"))
            && s.iter().filter(|l| l.contains("\"online\":false")).count() == 1)
            .then_some(())
    });

    // A hung modem: the device power-cycles it, gives up, stops feeding the watchdog and is
    // reset; it comes back with its configuration and reports why it restarted.
    std::fs::write(&control, "hung").unwrap();
    console.wait_for("reset watchdog", 120);
    assert!(console.count("modem: silent, power cycle") >= 3);
    std::fs::write(&control, "up").unwrap();
    wait_until(
        "status after the watchdog reset",
        Duration::from_secs(60),
        || {
            let s = status.lock().unwrap();
            s.iter()
                .any(|l| l.contains("\"online\":true") && l.contains("\"reset\":\"watchdog\""))
                .then_some(())
        },
    );
    let after = stored(&influx);
    eprintln!(
        "qemu air station: {} readings stored (seq {}..={}), status messages {:?}",
        after.len(),
        after[0].0,
        after.last().unwrap().0,
        status.lock().unwrap()
    );
    let _ = sub.kill();
    let _ = sub.wait();
}
