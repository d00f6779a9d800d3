//! Issue 16: who may reach what. Bearer tokens and scopes, the page's login cookie, the Host
//! allow-list, bounded silences, the public listener, slowloris and many clients against the
//! HTTP listener while readings keep landing, secrets absent from a trace-level log, TLS
//! settings that cannot be silently off, and device identities at a real mosquitto configured
//! by `meilid broker-config` (spoofing refused by the broker itself).

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

const READER: &str = "reader-token-0123456789abcdef";
const WRITER: &str = "writer-token-fedcba9876543210";

fn hash(token: &str) -> String {
    meili_daemon::http::auth::sha256(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `[http]` with a read token (stored hashed) and a write token (read from a file).
fn http_section(dir: &Path, extra: &str) -> String {
    let file = dir.join("writer.token");
    std::fs::write(&file, format!("{WRITER}\n")).unwrap();
    format!(
        "[http]\nallowed_hosts = [\"gw.example\"]\n{extra}\n\
         [[http.tokens]]\nname = \"grafana\"\nscope = \"read\"\nsha256 = \"{}\"\n\n\
         [[http.tokens]]\nname = \"technician\"\nscope = \"write\"\ntoken_file = \"{}\"\n\n",
        hash(READER),
        file.display()
    )
}

fn noise_device(id: &str, period: u32) -> String {
    format!(
        "[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\n\
         zone_class = \"1\"\narea_km2 = 0.5\nperiod_secs = {period}\n\n"
    )
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn json_silence(body: &str) -> Option<Vec<u8>> {
    Some(body.as_bytes().to_vec())
}

#[test]
fn http_api_requires_tokens_scopes_and_known_hosts() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let public_port = free_port();
    let config = format!(
        "{}[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-sec\"\n\n{}\
         [alerts]\nevaluate_interval_ms = 200\nmax_silences = 3\n\n\
         [[alerts.rules]]\nname = \"offline\"\ntype = \"offline\"\nseverity = \"critical\"\nmissed_periods = 3\n\n",
        http_section(dir.path(), ""),
        mq.url(),
        noise_device("n01", 60)
    );
    let m = Meilid::start_with_daemon_token(
        dir.path(),
        &format!("public_listen = \"127.0.0.1:{public_port}\""),
        &config,
        READER,
    );
    let base = format!("http://127.0.0.1:{}", m.http);
    let get = |path: &str, auth: Option<&str>| {
        let h = auth.map(bearer);
        let headers: Vec<(&str, &str)> = h.iter().map(|v| ("authorization", v.as_str())).collect();
        http_request("GET", &format!("{base}{path}"), &headers, None, None).unwrap()
    };
    let send = |method: &str, path: &str, auth: Option<&str>, body: Option<Vec<u8>>| {
        let h = auth.map(bearer);
        let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(v) = &h {
            headers.push(("authorization", v));
        }
        http_request(method, &format!("{base}{path}"), &headers, body, None).unwrap()
    };

    // Reads need a token; any scope reads.
    assert_eq!(get("/api/v1/devices", None).status, 401);
    assert_eq!(get("/metrics", None).status, 401);
    assert_eq!(
        get("/api/v1/devices", Some("not-a-token-at-all!!")).status,
        401
    );
    let r = get("/api/v1/devices", Some(READER));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("n01"));
    assert_eq!(get("/metrics", Some(WRITER)).status, 200);

    // Writes need the write scope.
    let silence = r#"{"devices":["n01"],"duration_mins":60,"comment":"maintenance"}"#;
    assert_eq!(
        send("POST", "/api/v1/silences", None, json_silence(silence)).status,
        401
    );
    let r = send(
        "POST",
        "/api/v1/silences",
        Some(READER),
        json_silence(silence),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        "POST",
        "/api/v1/silences",
        Some(WRITER),
        json_silence(silence),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let added: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let id = added["id"].as_str().unwrap().to_string();
    assert_eq!(added["created_by"], "technician");
    let alerts: serde_json::Value =
        serde_json::from_str(&get("/api/v1/alerts", Some(READER)).body).unwrap();
    assert_eq!(alerts["silences"].as_array().unwrap().len(), 1);
    assert_eq!(
        send(
            "DELETE",
            &format!("/api/v1/silences/{id}"),
            Some(READER),
            None
        )
        .status,
        403
    );
    assert_eq!(
        send(
            "DELETE",
            &format!("/api/v1/silences/{id}"),
            Some(WRITER),
            None
        )
        .status,
        204
    );
    assert_eq!(
        send(
            "DELETE",
            &format!("/api/v1/silences/{id}"),
            Some(WRITER),
            None
        )
        .status,
        404
    );
    let alerts: serde_json::Value =
        serde_json::from_str(&get("/api/v1/alerts", Some(READER)).body).unwrap();
    assert_eq!(alerts["silences"].as_array().unwrap().len(), 0);

    // Silence limits: duration, size, count.
    for (body, why) in [
        (
            r#"{"devices":["n01"],"duration_mins":4000000000}"#,
            "4e9 minutes",
        ),
        (r#"{"devices":["n01"],"duration_mins":11521}"#, "8 days"),
        (
            r#"{"devices":["n01"],"starts":"2026-01-01T00:00:00Z","ends":"2036-01-01T00:00:00Z"}"#,
            "ten years",
        ),
        (r#"{"duration_mins":60}"#, "everything"),
    ] {
        let r = send("POST", "/api/v1/silences", Some(WRITER), json_silence(body));
        assert_eq!(r.status, 400, "{why}: {}", r.body);
    }
    let long_comment = format!(
        r#"{{"devices":["n01"],"duration_mins":5,"comment":"{}"}}"#,
        "x".repeat(2000)
    );
    assert_eq!(
        send(
            "POST",
            "/api/v1/silences",
            Some(WRITER),
            json_silence(&long_comment)
        )
        .status,
        400
    );
    let huge = format!(
        r#"{{"devices":["n01"],"duration_mins":5,"comment":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    assert_eq!(
        send(
            "POST",
            "/api/v1/silences",
            Some(WRITER),
            json_silence(&huge)
        )
        .status,
        413
    );
    for _ in 0..3 {
        assert_eq!(
            send(
                "POST",
                "/api/v1/silences",
                Some(WRITER),
                json_silence(silence)
            )
            .status,
            200
        );
    }
    let r = send(
        "POST",
        "/api/v1/silences",
        Some(WRITER),
        json_silence(silence),
    );
    assert_eq!(r.status, 429, "the 4th of max_silences = 3: {}", r.body);

    // Host allow-list: IP literals, localhost and the configured name; others 421.
    let host = |h: &str| {
        let auth = bearer(READER);
        http_request(
            "GET",
            &format!("{base}/api/v1/devices"),
            &[("host", h), ("authorization", &auth)],
            None,
            None,
        )
        .unwrap()
        .status
    };
    assert_eq!(host("evil.example"), 421, "DNS rebinding: a foreign name");
    assert_eq!(host("evil.example:9780"), 421);
    assert_eq!(host("gw.example"), 200);
    assert_eq!(host("localhost:9780"), 200);
    assert_eq!(host(&format!("127.0.0.1:{}", m.http)), 200);

    // The page's login: HttpOnly, SameSite=Strict; cookie writes need the page's header.
    let r = get("/", None);
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    assert_eq!(get("/login", None).status, 200);
    let form = |t: &str| {
        http_request(
            "POST",
            &format!("{base}/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(format!("token={t}").into_bytes()),
            None,
        )
        .unwrap()
    };
    assert_eq!(form("wrong-token-wrong-token").status, 401);
    let r = form(WRITER);
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set} lacks {attr}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let page = http_request(
        "GET",
        &format!("{base}/"),
        &[("cookie", &cookie)],
        None,
        None,
    )
    .unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"));
    let post = |extra: Option<(&str, &str)>| {
        let mut h = vec![
            ("cookie", cookie.as_str()),
            ("content-type", "application/json"),
        ];
        h.extend(extra);
        http_request(
            "DELETE",
            &format!("{base}/api/v1/silences/nope"),
            &h,
            None,
            None,
        )
        .unwrap()
        .status
    };
    assert_eq!(post(None), 403, "a cookie alone cannot write (CSRF)");
    assert_eq!(
        post(Some(("x-requested-with", "meili"))),
        404,
        "the page's own request"
    );

    // The public listener serves the toilet feed only, to anyone.
    let public = format!("http://127.0.0.1:{public_port}");
    let r = http_request(
        "GET",
        &format!("{public}/api/v1/toilets.geojson"),
        &[("host", "anything.example")],
        None,
        None,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    for path in ["/api/v1/devices", "/metrics", "/", "/api/v1/silences"] {
        let r = http_request("GET", &format!("{public}{path}"), &[], None, None).unwrap();
        assert_eq!(r.status, 404, "{path} on the public listener");
    }

    // Every write is in the audit log, with who did it.
    let refused = m
        .metric(
            "meili_http_requests_refused_total",
            "reason=\"unauthenticated\"",
        )
        .unwrap();
    assert!(refused >= 5.0, "{refused}");
    assert!(
        m.metric("meili_http_requests_refused_total", "reason=\"host\"")
            .unwrap()
            >= 2.0
    );
    let log = meilid_log(dir.path());
    assert!(
        log.contains("Audit: silence added.") && log.contains("who=technician"),
        "{log}"
    );
    assert!(log.contains("action=\"silence.delete\""), "{log}");
    assert!(log.contains("action=\"login\""), "{log}");
}

fn meilid_log(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with("meilid") && n.ends_with(".log") {
            all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    all
}

fn check_config(dir: &Path, name: &str, body: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meilid"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn check_config_refuses_open_listeners_and_tls_that_would_be_off() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = d.join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let device = noise_device("n01", 60);
    let cases = [
        ("open.toml", format!("[daemon]\nhttp_listen = \"0.0.0.0:9780\"\n\n{device}"), false, "daemon.http_listen"),
        (
            "insecure.toml",
            format!("[daemon]\nhttp_listen = \"0.0.0.0:9780\"\n\n[http]\ninsecure_no_auth = true\n\n{device}"),
            true,
            "",
        ),
        (
            "tokens.toml",
            format!("[daemon]\nhttp_listen = \"0.0.0.0:9780\"\n\n{}{device}", http_section(d, "")),
            true,
            "",
        ),
        (
            "badhash.toml",
            format!("[[http.tokens]]\nname = \"x\"\nscope = \"read\"\nsha256 = \"abc\"\n\n{device}"),
            false,
            "http.tokens[0].sha256",
        ),
        (
            "ssl.toml",
            format!("[mqtt]\nurl = \"mqtts://127.0.0.1:8883\"\nclient_id = \"m\"\n\n{device}"),
            false,
            "mqtt.tls",
        ),
        (
            "plain.toml",
            format!(
                "[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\nclient_id = \"m\"\n\n[mqtt.tls]\nca_file = \"{}\"\n\n{device}",
                ca.display()
            ),
            false,
            "mqtt.tls",
        ),
        (
            "hook.toml",
            format!(
                "{device}[[alerts.rules]]\nname = \"offline\"\ntype = \"offline\"\nseverity = \"critical\"\nmissed_periods = 3\n\n\
                 [[alerts.webhooks]]\nurl = \"http://127.0.0.1:9/hook\"\nca_file = \"{}\"\n",
                ca.display()
            ),
            false,
            "alerts.webhooks[0].ca_file",
        ),
    ];
    for (name, body, ok, key) in cases {
        let (success, out) = check_config(d, name, &body);
        assert_eq!(success, ok, "{name}: {out}");
        assert!(out.contains(key), "{name}: {out} should name {key}");
    }
}

/// Hold `n` idle connections from `from` to the listener; returns them.
fn idle_connections(port: u16, from: Ipv4Addr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        let sock = socket2_connect(from, port);
        if let Some(s) = sock {
            out.push(s);
        }
    }
    out
}

/// A TCP connection from a chosen loopback source address.
fn socket2_connect(from: Ipv4Addr, port: u16) -> Option<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4().ok()?;
        s.bind((from, 0).into()).ok()?;
        let c = s.connect((Ipv4Addr::LOCALHOST, port).into()).await.ok()?;
        c.into_std().ok()
    })
    .inspect(|s| {
        let _ = s.set_nonblocking(false);
    })
}

/// `n` readings with `seq` from `first`, published by mosquitto_pub (QoS 1).
fn publish_readings(mq: &Mosquitto, device: &str, first: u64, n: u64) {
    let now = unix_now();
    let lines: Vec<String> = (first..first + n)
        .map(|seq| {
            format!(
                r#"{{"v":1,"seq":{seq},"ts":{},"period_s":1,"laeq":55.0,"lamax":60.0,"lamin":50.0}}"#,
                now - 3000 + seq as i64 % 3000
            )
        })
        .collect();
    mq.publish_lines(&format!("meili/v1/town/noise/{device}/telemetry"), &lines);
}

#[test]
fn slowloris_and_many_clients_leave_ingest_and_health_intact() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-slow\"\n\n{}",
        http_section(
            dir.path(),
            "max_connections = 64\nmax_connections_per_client = 16\nheader_read_timeout_secs = 2\n"
        ),
        mq.url(),
        noise_device("n01", 1)
    );
    let m = Meilid::start_with_token(dir.path(), &config, READER);
    // Slowloris from 127.0.0.2: 600 connections that never send a byte (the fd limit is 1,024).
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = idle_connections(m.http, attacker, 600);
    // Meanwhile 2,000 readings arrive and /health answers a client from 127.0.0.1.
    publish_readings(&mq, "n01", 0, 2000);
    let health = http_request(
        "GET",
        &format!("http://127.0.0.1:{}/health", m.http),
        &[("authorization", &bearer(READER))],
        None,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    )
    .expect("/health answers during the attack");
    assert_eq!(health.status, 200, "{}", health.body);
    wait_until("2,000 readings accepted", Duration::from_secs(60), || {
        (m.metric("meili_readings_accepted_total", "kind=\"noise\"")? >= 2000.0).then_some(())
    });
    let refused = m
        .metric(
            "meili_http_connections_refused_total",
            "listener=\"main\",reason=\"per_client\"",
        )
        .unwrap();
    assert!(
        refused >= 500.0,
        "per-client cap: {refused} of 600 refused at once"
    );
    // The server closes idle connections after the header-read timeout (2 s): every held
    // socket reads end-of-file (or a reset), none stays open.
    let mut still_open = 0;
    for s in &mut held {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut b = [0u8; 512];
        // Until end-of-file (a 408 answer may come first) or a reset; a read timeout means the
        // server kept the connection.
        loop {
            match s.read(&mut b) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    still_open += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    assert_eq!(still_open, 0, "of {} held connections", held.len());
    drop(held);
    wait_until("connections released", Duration::from_secs(10), || {
        (m.metric("meili_http_connections_open", "listener=\"main\"")? <= 1.0).then_some(())
    });

    // 200 clients from 10 addresses, each 5 requests, while 2,000 more readings arrive.
    let port = m.http;
    let clients: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + (i % 10) as u8));
                let auth = bearer(READER);
                (0..5)
                    .filter(|_| {
                        http_request(
                            "GET",
                            &format!("http://127.0.0.1:{port}/api/v1/devices"),
                            &[("authorization", &auth)],
                            None,
                            Some(from),
                        )
                        .is_some_and(|r| r.status == 200)
                    })
                    .count()
            })
        })
        .collect();
    publish_readings(&mq, "n01", 2000, 2000);
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    wait_until("4,000 readings accepted", Duration::from_secs(60), || {
        (m.metric("meili_readings_accepted_total", "kind=\"noise\"")? >= 4000.0).then_some(())
    });
    assert_eq!(
        m.metric("meili_readings_accepted_total", "kind=\"noise\""),
        Some(4000.0)
    );
    assert!(answered > 0);
    eprintln!("security: slowloris 600 idle connections ({refused} refused at once, all closed), 200 clients answered {answered} of 1,000 requests; 4,000 of 4,000 readings accepted");
}

/// Every secret of the configuration (the daemon's MQTT password, a database URL's password,
/// a webhook's `access_token`, an Alertmanager URL's password) stays out of a trace-level
/// log, `/health`, the alerts API and check-config's messages, while the channels and the
/// database fail and are retried (so their errors are logged).
#[test]
fn secrets_stay_out_of_trace_logs_health_and_errors() {
    let mq = Mosquitto::start_with_users(&[("meilid", "MARK-mqtt-password"), ("dev", "devpw")]);
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port(); // nothing listens here
    let config = format!(
        "[[http.tokens]]\nname = \"ops\"\nscope = \"read\"\nsha256 = \"{}\"\n\n\
         [mqtt]\nurl = \"{}\"\nclient_id = \"meilid-secrets\"\nusername = \"meilid\"\npassword = \"MARK-mqtt-password\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"http://bob:MARK-db-password@127.0.0.1:{closed}\"\ndatabase = \"meili\"\n\n\
         {}\
         [alerts]\nevaluate_interval_ms = 200\n\n\
         [[alerts.rules]]\nname = \"offline\"\ntype = \"offline\"\nseverity = \"critical\"\nmissed_periods = 1\n\n\
         [[alerts.webhooks]]\nname = \"centre\"\nurl = \"http://127.0.0.1:{closed}/robot/send?access_token=MARK-hook-token\"\n\n\
         [alerts.alertmanager]\nurl = \"http://alice:MARK-am-password@127.0.0.1:{closed}\"\n",
        hash(READER),
        mq.url(),
        noise_device("o01", 1)
    );
    let http = free_port();
    let path = dir.path().join("meilid.toml");
    std::fs::write(
        &path,
        format!(
            "[daemon]\ndata_dir = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n{config}",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("meilid-trace.log");
    let _p = Proc::spawn(
        "meilid",
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "trace"),
        &log,
    );
    let auth = bearer(READER);
    let get = |p: &str| {
        http_request(
            "GET",
            &format!("http://127.0.0.1:{http}{p}"),
            &[("authorization", &auth)],
            None,
            None,
        )
    };
    // A reading for the database (which is down), then the device falls silent: the alert
    // fires and both channels fail.
    wait_until("meilid subscribed", Duration::from_secs(20), || {
        let m = get("/metrics")?.body;
        m.contains("meili_mqtt_subscriptions_total 2").then_some(())
    });
    let now = unix_now();
    let st = Command::new("mosquitto_pub")
        .args([
            "-p",
            &mq.port.to_string(),
            "-u",
            "dev",
            "-P",
            "devpw",
            "-q",
            "1",
        ])
        .args(["-t", "meili/v1/town/noise/o01/telemetry"])
        .args([
            "-m",
            &format!(r#"{{"v":1,"seq":0,"ts":{now},"period_s":1,"laeq":55.0}}"#),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    wait_until("the channels failed", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&log).ok()?;
        (text.contains("Alert not delivered")
            && text.matches("channel=centre").count() >= 1
            && text.contains("channel=alertmanager"))
        .then_some(())
    });
    let health = get("/health").unwrap().body;
    let alerts = get("/api/v1/alerts").unwrap().body;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(" TRACE ") && text.contains(" DEBUG "),
        "a trace-level log:\n{text}"
    );
    for (what, body) in [
        ("log", &text),
        ("/health", &health),
        ("/api/v1/alerts", &alerts),
    ] {
        assert!(
            !body.contains("MARK-"),
            "{what} shows a secret:\n{}",
            body.lines()
                .filter(|l| l.contains("MARK-"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The redacted forms are there: the failures are reported, without the secrets.
    assert!(
        text.contains("access_token=***"),
        "the webhook's failure is logged, redacted"
    );
    // check-config quotes URLs only redacted.
    let (ok, out) = check_config(
        dir.path(),
        "bad.toml",
        &format!(
            "{}[[alerts.rules]]\nname = \"offline\"\ntype = \"offline\"\nseverity = \"critical\"\nmissed_periods = 1\n\n\
             [[alerts.webhooks]]\nurl = \"ftp://u:MARK-ftp@host/x?token=MARK-tok\"\n",
            noise_device("o01", 1)
        ),
    );
    assert!(!ok && out.contains("alerts.webhooks[0].url"), "{out}");
    assert!(!out.contains("MARK-"), "{out}");
}

/// `meilid broker-config` against a real mosquitto: each device's account writes only its own
/// topics (device A cannot publish as device B: the broker drops it, nothing reaches the
/// database), a client without credentials or with a wrong password is refused, and the
/// daemon's own account reads everything. A second run keeps the issued passwords.
#[test]
fn broker_config_binds_each_device_to_its_topics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let influx = Influxd::start();
    let port = free_port();
    let gateway = |extra: &str| {
        format!(
            "[mqtt]\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"meilid-acl\"\nusername = \"meilid\"\npassword = \"daemon-pw-123\"\n\n\
             [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"{}\"\ndatabase = \"meili\"\nseq_and_period_fields = true\n[sinks.batch]\nmax_delay_ms = 200\n\n\
             {}{}{extra}",
            influx.url(),
            noise_device("a01", 60),
            noise_device("b01", 60)
        )
    };
    std::fs::write(d.join("gateway.toml"), gateway("")).unwrap();
    let out = d.join("broker");
    let run = || {
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_meilid"))
                .args(["broker-config", "--config"])
                .arg(d.join("gateway.toml"))
                .arg("--out")
                .arg(&out),
        )
    };
    let printed = run();
    assert!(printed.contains("2 devices (2 new passwords)"), "{printed}");
    let csv = std::fs::read_to_string(out.join("device-passwords.csv")).unwrap();
    let password = |user: &str| -> String {
        csv.lines()
            .find(|l| l.split(',').nth(3) == Some(user))
            .and_then(|l| l.split(',').nth(4))
            .unwrap()
            .to_string()
    };
    let (pa, pb) = (password("town/a01"), password("town/b01"));
    assert_ne!(pa, pb);
    assert!(pa.len() >= 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("passwd"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "passwd is private");
    }
    let passwd = std::fs::read_to_string(out.join("passwd")).unwrap();
    assert!(!passwd.contains(&pa) && passwd.contains("town/a01:$7$101$"));
    // A second run (a device added) keeps the passwords devices were provisioned with.
    std::fs::write(d.join("gateway.toml"), gateway(&noise_device("c01", 60))).unwrap();
    let printed = run();
    assert!(printed.contains("3 devices (1 new passwords)"), "{printed}");
    let csv2 = std::fs::read_to_string(out.join("device-passwords.csv")).unwrap();
    assert!(csv2.contains(&format!("town/a01,{pa}")) && csv2.contains(&format!("town/b01,{pb}")));

    // The real broker with the generated files.
    let _mq = Mosquitto::start_conf(
        port,
        &format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {0}/passwd\nacl_file {0}/acl\npersistence false\nuser root\n",
            out.display()
        ),
        tempfile::tempdir().unwrap(),
    );
    let m = Meilid::start(d, &gateway(&noise_device("c01", 60)));
    let publish = |user: Option<(&str, &str)>, device: &str, seq: u64| {
        let mut c = Command::new("mosquitto_pub");
        c.args(["-p", &port.to_string(), "-q", "1", "-V", "mqttv5"]);
        if let Some((u, p)) = user {
            c.args(["-u", u, "-P", p, "-i", u]);
        }
        c.args(["-t", &format!("meili/v1/town/noise/{device}/telemetry")]);
        c.args([
            "-m",
            &format!(
                r#"{{"v":1,"seq":{seq},"ts":{},"period_s":60,"laeq":55.0}}"#,
                unix_now()
            ),
        ]);
        let o = c.output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    // Device A as itself: lands.
    let (ok, err) = publish(Some(("town/a01", &pa)), "a01", 1);
    assert!(ok, "{err}");
    // Device A as device B: the broker refuses the publish (MQTT 5: not authorised).
    // (mosquitto_pub reports the refused PUBACK on stderr and still exits 0.)
    let (_, err) = publish(Some(("town/a01", &pa)), "b01", 2);
    assert!(
        err.contains("Not authorized"),
        "A publishing as B must be refused: {err}"
    );
    // No credentials, a wrong password: the connection is refused.
    let (ok, err) = publish(None, "a01", 3);
    assert!(!ok && err.to_lowercase().contains("not authori"), "{err}");
    let (ok, err) = publish(Some(("town/a01", "wrong-password")), "a01", 4);
    assert!(!ok, "{err}");
    // Device B as itself: lands (the daemon's account reads every device).
    let (ok, err) = publish(Some(("town/b01", &pb)), "b01", 5);
    assert!(ok, "{err}");
    let rows = wait_until("two readings", Duration::from_secs(30), || {
        let v = influx.query("meili", "SELECT seq, device FROM noise");
        let rows: Vec<(i64, String)> = v["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r[1].as_i64().unwrap(), r[2].as_str().unwrap().to_string()))
            .collect();
        (rows.len() >= 2).then_some(rows)
    });
    std::thread::sleep(Duration::from_secs(2));
    let v = influx.query("meili", "SELECT seq, device FROM noise");
    let all: Vec<(i64, String)> = v["results"][0]["series"][0]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r[1].as_i64().unwrap(), r[2].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        all,
        vec![(1, "a01".to_string()), (5, "b01".to_string())],
        "only each device's own readings (first seen {rows:?})"
    );
    assert_eq!(
        m.metric("meili_readings_accepted_total", "kind=\"noise\""),
        Some(2.0)
    );
}
