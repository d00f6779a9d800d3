use std::process::Command;
use std::time::Duration;

use crate::util::*;

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?}");
}

/// mqtts:// with a private CA and username/password: readings arrive; a wrong password does not
/// get in (the source keeps retrying and counts connection errors).
#[test]
fn tls_and_password_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=meili-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
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
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    let st = Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(d.join("passwd"))
        .args(["meilid", "s3cret"])
        .status()
        .unwrap();
    assert!(st.success());
    Command::new("mosquitto_passwd")
        .args(["-b"])
        .arg(d.join("passwd"))
        .args(["device", "devpw"])
        .status()
        .unwrap();

    let port = free_port();
    let conf = d.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            // As root, mosquitto drops to user "mosquitto", which cannot read a private temp dir.
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {p}/passwd\npersistence false\n\
             user root\n\
             cafile {p}/ca.pem\ncertfile {p}/server.pem\nkeyfile {p}/server.key\n",
            p = d.display()
        ),
    )
    .unwrap();
    let _mq = Proc::spawn(
        "mosquitto",
        Command::new("mosquitto").arg("-c").arg(&conf),
        &d.join("mosquitto.log"),
    );
    wait_until("mosquitto tls", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    let influx = Influxd::start();

    // A wrong password first: no connection, errors counted, nothing crashes.
    let wrong_dir = tempfile::tempdir().unwrap();
    let cfg = |password: &str| {
        format!(
            "[mqtt]\nurl = \"mqtts://127.0.0.1:{port}\"\nclient_id = \"meilid-tls\"\nusername = \"meilid\"\npassword = \"{password}\"\n\
             [mqtt.tls]\nca_file = \"{}/ca.pem\"\n\n[[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\n\n{}",
            d.display(),
            influx.url(),
            noise_devices(1)
        )
    };
    let wrong = Meilid::spawn(wrong_dir.path(), &cfg("wrong"));
    wait_until("connection errors counted", Duration::from_secs(20), || {
        (wrong.metric("meili_mqtt_connection_errors_total", "")? >= 1.0).then_some(())
    });
    assert_eq!(wrong.metric("meili_mqtt_connected", ""), Some(0.0));
    drop(wrong);

    let meilid = Meilid::start(d, &cfg("s3cret"));
    assert_eq!(meilid.metric("meili_mqtt_connected", ""), Some(1.0));
    let now = unix_now();
    let lines: Vec<String> = (0..50)
        .map(|j| {
            format!(
                r#"{{"v":1,"seq":{j},"ts":{},"period_s":60,"laeq":{}.5}}"#,
                now - 3600 + j * 60,
                40 + j % 20
            )
        })
        .collect();
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-u",
            "device",
            "-P",
            "devpw",
            "--cafile",
        ])
        .arg(d.join("ca.pem"))
        .args(["-t", "meili/v1/town/noise/d000/telemetry", "-l"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for l in &lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    wait_until("50 rows over TLS", Duration::from_secs(30), || {
        (influx.count("meili", "noise", "laeq") >= 50).then_some(())
    });
    assert_eq!(influx.count("meili", "noise", "laeq"), 50);
}
