//! Issue 6: the firmware's MQTT client against a real mosquitto, observed by mosquitto_sub:
//! QoS 1 telemetry, a retained status, the `cmd` topic, and the last will on a lost link.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use meili_firmware::mqtt::{Client, Packet, Will};
use meili_firmware::{payload, Reading, Status};

use crate::util::*;

/// `embedded-io` over a std TCP stream (a board would use its network stack).
struct Tcp(TcpStream);

impl meili_firmware::embedded_io::ErrorType for Tcp {
    type Error = meili_firmware::embedded_io::ErrorKind;
}
impl meili_firmware::embedded_io::Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.0
            .read(buf)
            .map_err(|_| meili_firmware::embedded_io::ErrorKind::Other)
    }
}
impl meili_firmware::embedded_io::Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0
            .write(buf)
            .map_err(|_| meili_firmware::embedded_io::ErrorKind::Other)
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0
            .flush()
            .map_err(|_| meili_firmware::embedded_io::ErrorKind::Other)
    }
}

#[test]
fn firmware_client_publishes_receives_commands_and_leaves_a_will() {
    let mq = Mosquitto::start();
    let root = "meili/v1/town/noise/n01";
    let sub = Command::new("mosquitto_sub")
        .args([
            "-p",
            &mq.port.to_string(),
            "-q",
            "1",
            "-v",
            "-C",
            "3",
            "-W",
            "20",
            "-t",
        ])
        .arg(format!("{root}/#"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

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

    let out = sub.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
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
