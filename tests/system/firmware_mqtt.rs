//! Issue 6: the firmware's MQTT client against a real mosquitto, observed by mosquitto_sub:
//! QoS 1 telemetry, a retained status, the `cmd` topic, and the last will on a lost link.

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use meili_firmware::mqtt::{Client, Packet, Will};
use meili_firmware::{payload, Reading, Status};

use meili_daemon::demo::link::Tcp;

use crate::util::*;

#[test]
fn firmware_client_publishes_receives_commands_and_leaves_a_will() {
    let mq = Mosquitto::start();
    let root = "meili/v1/town/noise/n01";
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-p",
            &mq.port.to_string(),
            "-q",
            "1",
            "-v",
            "-W",
            "20",
            "-t",
        ])
        .arg(format!("{root}/#"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the subscription is in place: a probe message comes back.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let probe = wait_until("subscriber ready", Duration::from_secs(10), || {
        mq.publish(&format!("{root}/probe"), "ready");
        rx.recv_timeout(Duration::from_millis(200)).ok()
    });
    assert_eq!(probe, format!("{root}/probe ready"));

    let stream = TcpStream::connect(("127.0.0.1", mq.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut buf, mut json) = ([0u8; 1024], [0u8; 256]);
    let n = payload::encode_status(
        &Status {
            v: 1,
            online: false,
            ..Status::default()
        },
        &mut json,
    )
    .unwrap();
    let will_payload = json[..n].to_vec();
    let will = Will {
        topic: "meili/v1/town/noise/n01/status",
        payload: &will_payload,
    };
    let mut c = Client::connect(Tcp(stream), "fw-n01", 30, Some(will), &mut buf).unwrap();
    let mut ignore = |_: &str, _: &[u8]| {};
    let r = Reading {
        laeq: Some(65.8),
        lamax: Some(72.0),
        ..Reading::new(1, 1_793_462_460, 60)
    };
    let n = payload::encode(&r, &mut json).unwrap();
    c.publish(
        &format!("{root}/telemetry"),
        &json[..n],
        false,
        &mut buf,
        &mut ignore,
    )
    .unwrap();

    // A command from the gateway reaches the device.
    c.subscribe(&format!("{root}/cmd"), &mut buf, &mut ignore)
        .unwrap();
    mq.publish(&format!("{root}/cmd"), r#"{"v":1,"id":"c1","op":"reboot"}"#);
    let n = c.read_packet(&mut buf).unwrap();
    match meili_firmware::mqtt::decode(&buf[..n]) {
        Some(Packet::Publish { topic, payload, .. }) => {
            assert_eq!(topic, format!("{root}/cmd"));
            assert_eq!(payload, br#"{"v":1,"id":"c1","op":"reboot"}"#);
        }
        other => panic!("{other:?}"),
    }
    // The link drops without DISCONNECT: the broker publishes the will.
    drop(c.release());

    // The next three messages that are not late probes.
    let got: Vec<String> = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(20)).ok())
        .filter(|l| !l.ends_with("/probe ready"))
        .take(3)
        .collect();
    let _ = sub.kill();
    let _ = sub.wait();
    let text = got.join("\n");
    let lines: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!("{root}/telemetry {{\"v\":1,\"seq\":1,")),
        "{text}"
    );
    assert!(lines[0].contains("\"laeq\":65.8"), "{text}");
    assert!(lines[1].starts_with(&format!("{root}/cmd ")), "{text}");
    assert_eq!(
        lines[2],
        format!("{root}/status {{\"v\":1,\"online\":false}}")
    );
}
