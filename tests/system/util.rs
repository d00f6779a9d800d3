//! Test harness: services on free loopback ports, each in its own temporary directory, stopped
//! (by PID) when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on, for a server a test starts (now or later).
///
/// Taken below Linux's ephemeral range (32768–60999), so no outgoing connection can take it
/// between this call and the server's bind, and never the same one twice in a run, so tests
/// running in parallel cannot collide. The start is spread by process id for parallel runs.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let base = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let port = (LOW + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

/// A child process that is sent SIGTERM (then SIGKILL) when dropped.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (is it installed? the README's test command installs it)"));
        Proc { name, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (a crash or power cut, as far as the process can tell) and reap it.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(self.pid().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn http_get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

pub struct Mosquitto {
    pub port: u16,
    pub proc: Proc,
    pub dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(false)
    }

    /// With `persistence`, sessions and queued messages survive a broker restart.
    pub fn start_with(persistence: bool) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let persist = if persistence {
            format!(
                "persistence true\npersistence_location {}/\nuser root\n",
                dir.path().display()
            )
        } else {
            "persistence false\n".to_string()
        };
        // Queue enough for a daemon that is away; unlimited in-flight window for throughput.
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{persist}max_queued_messages 1000000\nmax_inflight_messages 0\n"),
        )
        .unwrap();
        let proc = Mosquitto::spawn(dir.path(), port);
        Mosquitto { port, proc, dir }
    }

    /// A broker that admits only these users (mosquitto_passwd file, no anonymous clients).
    pub fn start_with_users(users: &[(&str, &str)]) -> Mosquitto {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, "").unwrap();
        for (user, pw) in users {
            let st = Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&passwd)
                .args([user, pw])
                .status()
                .unwrap();
            assert!(st.success(), "mosquitto_passwd {user}");
        }
        // As root, mosquitto drops to user "mosquitto", which cannot read a private temp dir.
        Mosquitto::start_conf(
            port,
            &format!(
                "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
                 persistence false\nuser root\n",
                passwd.display()
            ),
            dir,
        )
    }

    /// A broker with this configuration (listeners, TLS, ACL files written by the test),
    /// ready once `port` accepts connections. `dir` holds its files and log.
    pub fn start_conf(port: u16, conf: &str, dir: tempfile::TempDir) -> Mosquitto {
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let proc = Mosquitto::spawn(dir.path(), port);
        Mosquitto { port, proc, dir }
    }

    fn spawn(dir: &Path, port: u16) -> Proc {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let proc = Proc::spawn(
            "mosquitto",
            Command::new("mosquitto")
                .arg("-c")
                .arg(dir.join("mosquitto.conf")),
            &dir.join(format!("mosquitto-{n}.log")),
        );
        wait_until("mosquitto", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        proc
    }

    /// Stop (SIGTERM: mosquitto saves its persistence file) and start again on the same port.
    pub fn restart(&mut self) {
        assert_eq!(self.proc.stop(), Some(0));
        self.proc = Mosquitto::spawn(self.dir.path(), self.port);
    }

    /// Start a stopped broker again on the same port (its persistence file, if any, kept).
    pub fn start_again(&mut self) {
        self.proc = Mosquitto::spawn(self.dir.path(), self.port);
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Publish each line as one QoS 1 message on `topic`, with mosquitto_pub.
    pub fn publish_lines(&self, topic: &str, lines: &[String]) {
        let mut p = self.line_publisher(topic);
        p.send(lines);
        p.finish();
    }

    /// `mosquitto_pub` at QoS 1 on `topic`, to this broker.
    fn pub_cmd(&self, topic: &str) -> Command {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
        ]);
        cmd
    }

    /// A long-running `mosquitto_pub -l` on `topic`: lines are published as they are sent.
    pub fn line_publisher(&self, topic: &str) -> LinePublisher {
        let child = self
            .pub_cmd(topic)
            .arg("-l")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("mosquitto_pub");
        LinePublisher { child }
    }

    /// Publish one message (may contain newlines or be empty).
    pub fn publish(&self, topic: &str, payload: &str) {
        let st = self
            .pub_cmd(topic)
            .args(["-m", payload])
            .status()
            .expect("mosquitto_pub");
        assert!(st.success());
    }
}

pub struct LinePublisher {
    child: Child,
}

impl LinePublisher {
    pub fn send(&mut self, lines: &[String]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
        stdin.flush().unwrap();
    }

    /// Close stdin and wait until every line is published.
    pub fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success(), "mosquitto_pub failed");
    }
}

pub struct Influxd {
    pub port: u16,
    pub proc: Proc,
    pub dir: tempfile::TempDir,
    /// Credentials for queries (with `auth-enabled = true`).
    pub auth: Option<(String, String)>,
}

impl Influxd {
    pub fn start() -> Influxd {
        Influxd::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Influxd {
        Influxd::start_with(port, "")
    }

    /// With more `[http]` settings (TOML lines, e.g. `max-body-size = 100000`).
    pub fn start_with(port: u16, http_extra: &str) -> Influxd {
        let dir = tempfile::tempdir().unwrap();
        let rpc = free_port();
        let d = dir.path().display();
        let conf = dir.path().join("influxdb.conf");
        std::fs::write(
            &conf,
            format!(
                "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
                 [meta]\n  dir = \"{d}/meta\"\n\
                 [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
                 [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  max-row-limit = 0\n{http_extra}\n\
                 [monitor]\n  store-enabled = false\n\
                 [continuous_queries]\n  enabled = false\n"
            ),
        )
        .unwrap();
        let proc = Influxd::spawn(dir.path());
        let mut i = Influxd {
            port,
            proc,
            dir,
            auth: None,
        };
        i.wait_ready();
        i
    }

    fn spawn(dir: &Path) -> Proc {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        Proc::spawn(
            "influxd",
            Command::new("influxd")
                .arg("-config")
                .arg(dir.join("influxdb.conf")),
            &dir.join(format!("influxd-{n}.log")),
        )
    }

    fn wait_ready(&mut self) {
        let url = format!("{}/ping", self.url());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_get(&url).is_some_and(|(s, _)| s == 204) {
                return;
            }
            let exited = self.proc.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "influxd on port {} not ready ({}); its log ends:\n{}",
                    self.port,
                    exited.map_or("timed out".to_string(), |s| s.to_string()),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let mut logs: Vec<_> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        let text = logs
            .last()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Stop the database (an outage); `start_again` brings it back with its data.
    pub fn stop(&mut self) {
        assert_eq!(self.proc.stop(), Some(0));
    }

    pub fn start_again(&mut self) {
        self.proc = Influxd::spawn(self.dir.path());
        self.wait_ready();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// InfluxQL query; returns the JSON response.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let mut url = reqwest::Url::parse_with_params(
            &format!("{}/query", self.url()),
            &[("db", db), ("q", q), ("epoch", "s")],
        )
        .unwrap();
        if let Some((u, p)) = &self.auth {
            url.query_pairs_mut()
                .append_pair("u", u)
                .append_pair("p", p);
        }
        let (status, body) = http_get(url.as_str()).expect("influx query");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `SELECT count(field) FROM m`, 0 when there is nothing (or no database yet).
    pub fn count(&self, db: &str, measurement: &str, field: &str) -> u64 {
        let v = self.query(
            db,
            &format!("SELECT count(\"{field}\") FROM \"{measurement}\""),
        );
        v["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0)
    }
}

pub struct Victoria {
    pub port: u16,
    pub proc: Proc,
    pub dir: tempfile::TempDir,
}

impl Victoria {
    pub fn start() -> Victoria {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let proc = Proc::spawn(
            "victoria-metrics",
            Command::new("victoria-metrics")
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                .arg(format!(
                    "-storageDataPath={}",
                    dir.path().join("data").display()
                ))
                .arg("-retentionPeriod=100y")
                .arg("-search.latencyOffset=1s")
                // Without it VictoriaMetrics keeps a re-delivered sample twice (docs/operations.md).
                .arg("-dedup.minScrapeInterval=1ms"),
            &dir.path().join("vm.log"),
        );
        let v = Victoria { port, proc, dir };
        wait_until("victoria-metrics /health", Duration::from_secs(20), || {
            http_get(&format!("{}/health", v.url())).filter(|(s, _)| *s == 200)
        });
        v
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// All samples of a metric: (labels, values, timestamps in ms) per series.
    pub fn export(&self, metric: &str) -> Vec<serde_json::Value> {
        let _ = http_get(&format!("{}/internal/force_flush", self.url()));
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/export", self.url()),
            &[("match[]", format!("{{__name__=\"{metric}\"}}"))],
        )
        .unwrap();
        let (status, body) = http_get(url.as_str()).expect("vm export");
        assert_eq!(status, 200, "{body}");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn sample_count(&self, metric: &str) -> usize {
        self.export(metric)
            .iter()
            .map(|s| s["values"].as_array().map_or(0, |a| a.len()))
            .sum()
    }
}

/// The daemon under test, as its own process.
pub struct Meilid {
    pub http: u16,
    pub proc: Proc,
    pub config: PathBuf,
    /// A bearer token for the helpers' requests (daemons with `[[http.tokens]]`).
    pub token: Option<String>,
}

impl Meilid {
    pub fn start(dir: &Path, config_body: &str) -> Meilid {
        Meilid::start_with_daemon(dir, "", config_body)
    }

    /// Start with more `[daemon]` keys (`daemon_keys`, TOML lines).
    pub fn start_with_daemon(dir: &Path, daemon_keys: &str, config_body: &str) -> Meilid {
        Meilid::start_with_top(dir, "", daemon_keys, config_body)
    }

    /// Start with top-level keys (`top`, e.g. `include`) before the `[daemon]` section.
    pub fn start_with_top(dir: &Path, top: &str, daemon_keys: &str, config_body: &str) -> Meilid {
        let http = free_port();
        let config = dir.join("meilid.toml");
        let daemon = Meilid::daemon_section(dir, http);
        let daemon = daemon.trim_end().to_string() + "\n" + daemon_keys + "\n";
        std::fs::write(&config, top.to_string() + &daemon + config_body).unwrap();
        Meilid::start_with(dir, config, http)
    }

    /// Start without waiting for the MQTT subscription (for daemons that cannot connect).
    pub fn spawn(dir: &Path, config_body: &str) -> Meilid {
        let http = free_port();
        let config = dir.join("meilid.toml");
        std::fs::write(&config, Meilid::daemon_section(dir, http) + config_body).unwrap();
        let proc = Meilid::spawn_proc(dir, &config);
        let m = Meilid {
            http,
            proc,
            config,
            token: None,
        };
        wait_until("meilid http", Duration::from_secs(20), || m.metrics());
        m
    }

    /// The `[daemon]` section the helpers write (to rewrite a configuration between runs).
    pub fn daemon_section_for(dir: &Path, http: u16) -> String {
        Meilid::daemon_section(dir, http)
    }

    fn daemon_section(dir: &Path, http: u16) -> String {
        format!(
            "[daemon]\ndata_dir = \"{}\"\nhttp_listen = \"127.0.0.1:{http}\"\nshutdown_timeout_secs = 20\n\n",
            dir.join("data").display()
        )
    }

    fn spawn_proc(dir: &Path, config: &Path) -> Proc {
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        Proc::spawn(
            "meilid",
            Command::new(env!("CARGO_BIN_EXE_meilid"))
                .arg("run")
                .arg("--config")
                .arg(config)
                .env("RUST_LOG", "info"),
            &dir.join(format!("meilid-{n}.log")),
        )
    }

    fn start_with(dir: &Path, config: PathBuf, http: u16) -> Meilid {
        let proc = Meilid::spawn_proc(dir, &config);
        let m = Meilid {
            http,
            proc,
            config,
            token: None,
        };
        wait_until("meilid subscribed", Duration::from_secs(20), || {
            (m.metric("meili_mqtt_subscriptions_total", "")? >= 2.0).then_some(())
        });
        m
    }

    /// Crash (SIGKILL) and start again with the same configuration.
    pub fn crash_and_restart(&mut self, dir: &Path) {
        self.proc.kill9();
        self.proc = Meilid::spawn_proc(dir, &self.config);
        wait_until(
            "meilid subscribed after crash",
            Duration::from_secs(20),
            || (self.metric("meili_mqtt_subscriptions_total", "")? >= 2.0).then_some(()),
        );
    }

    /// Start a stopped daemon again with the same configuration (client id, data directory).
    pub fn start_again(stopped: Meilid, dir: &Path) -> Meilid {
        let (config, http) = (stopped.config.clone(), stopped.http);
        drop(stopped);
        Meilid::start_with(dir, config, http)
    }

    /// Start a stopped daemon again, waiting only for its HTTP server (a daemon that cannot take
    /// more readings may not read its SUBACKs behind the queued messages).
    pub fn start_again_unready(stopped: Meilid, dir: &Path) -> Meilid {
        let (config, http) = (stopped.config.clone(), stopped.http);
        drop(stopped);
        let proc = Meilid::spawn_proc(dir, &config);
        let m = Meilid {
            http,
            proc,
            config,
            token: None,
        };
        wait_until("meilid http", Duration::from_secs(20), || m.metrics());
        m
    }

    pub fn metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.http);
        match &self.token {
            None => http_get(&url).map(|(_, b)| b),
            Some(t) => {
                let auth = format!("Bearer {t}");
                http_request("GET", &url, &[("authorization", &auth)], None, None)
                    .filter(|r| r.status == 200)
                    .map(|r| r.body)
            }
        }
    }

    /// Start with a bearer token the helpers use (the configuration must accept it).
    pub fn start_with_token(dir: &Path, config_body: &str, token: &str) -> Meilid {
        Meilid::start_with_daemon_token(dir, "", config_body, token)
    }

    /// [`Meilid::start_with_token`] with more `[daemon]` keys.
    pub fn start_with_daemon_token(
        dir: &Path,
        daemon_keys: &str,
        config_body: &str,
        token: &str,
    ) -> Meilid {
        let http = free_port();
        let config = dir.join("meilid.toml");
        let daemon =
            Meilid::daemon_section(dir, http).trim_end().to_string() + "\n" + daemon_keys + "\n\n";
        std::fs::write(&config, daemon + config_body).unwrap();
        let proc = Meilid::spawn_proc(dir, &config);
        let m = Meilid {
            http,
            proc,
            config,
            token: Some(token.to_string()),
        };
        wait_until("meilid subscribed", Duration::from_secs(20), || {
            (m.metric("meili_mqtt_subscriptions_total", "")? >= 2.0).then_some(())
        });
        m
    }

    /// Value of the sample `name{labels}` (labels as rendered, e.g. `reason="bad_topic"`).
    pub fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        let text = self.metrics()?;
        let key = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The segment files of a daemon's buffer directory, oldest first (docs/delivery.md layout).
pub fn buffer_segments(buffer: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(buffer)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// `n` noise devices `d000…` on site `town`, as config TOML.
pub fn noise_devices(n: usize) -> String {
    let classes = ["0", "1", "2", "3", "4a", "4b"];
    (0..n)
        .map(|i| {
            format!(
                "[[devices]]\nid = \"d{i:03}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"{}\"\narea_km2 = 0.5\n\n",
                classes[i % classes.len()]
            )
        })
        .collect()
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `meilid replay --format json` of `input` with `config`: the JSON document it prints.
pub fn meilid_replay(config: &Path, input: &Path) -> serde_json::Value {
    meilid_replay_with(config, input, &[])
}

/// `meilid replay --format json` with further arguments (`--ignore-lateness`).
pub fn meilid_replay_with(config: &Path, input: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_meilid"))
        .args(["replay", "--format", "json", "--config"])
        .arg(config)
        .arg("--input")
        .arg(input)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A pymodbus server (an independent Modbus peer) on TCP or on one end of a socat pty pair.
pub struct ModbusServer {
    pub proc: Proc,
    /// TCP port (0 for RTU).
    pub port: u16,
    /// The pty end meilid opens (RTU).
    pub tty: PathBuf,
    _socat: Option<Proc>,
    counts: PathBuf,
    pub dir: tempfile::TempDir,
}

impl ModbusServer {
    fn spawn(dir: &Path, spec: &serde_json::Value, at: &[&str]) -> (Proc, PathBuf) {
        let spec_path = dir.join("spec.json");
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        let counts = dir.join("counts.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/system/modbus_server.py");
        let proc = Proc::spawn(
            "pymodbus",
            Command::new("python3")
                .arg(script)
                .args(at)
                .arg("--spec")
                .arg(&spec_path)
                .arg("--counts")
                .arg(&counts),
            &dir.join("pymodbus.log"),
        );
        wait_until("pymodbus started", Duration::from_secs(20), || {
            counts.exists().then_some(())
        });
        (proc, counts)
    }

    /// Serve `spec` over Modbus TCP on a free loopback port.
    pub fn tcp(spec: &serde_json::Value) -> ModbusServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (proc, counts) = ModbusServer::spawn(dir.path(), spec, &["--tcp", &port.to_string()]);
        wait_until("pymodbus tcp", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        ModbusServer {
            proc,
            port,
            tty: PathBuf::new(),
            _socat: None,
            counts,
            dir,
        }
    }

    /// Serve `spec` over RTU on one end of a socat pty pair; meilid opens `tty`.
    pub fn rtu(spec: &serde_json::Value) -> ModbusServer {
        let dir = tempfile::tempdir().unwrap();
        let (socat, a, b) = pty_pair(dir.path(), "server-tty", "meilid-tty");
        let (proc, counts) =
            ModbusServer::spawn(dir.path(), spec, &["--serial", &a.display().to_string()]);
        ModbusServer {
            proc,
            port: 0,
            tty: b,
            _socat: Some(socat),
            counts,
            dir,
        }
    }

    /// Reads served per unit so far (the server's own count).
    pub fn counts(&self) -> HashMap<String, u64> {
        std::fs::read_to_string(&self.counts)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

/// A socat pty pair (a virtual serial line) with its two ends linked as `dir/a` and `dir/b`.
pub fn pty_pair(dir: &Path, a: &str, b: &str) -> (Proc, PathBuf, PathBuf) {
    let (a, b) = (dir.join(a), dir.join(b));
    let socat = Proc::spawn(
        "socat",
        Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display())),
        &dir.join("socat.log"),
    );
    wait_until("socat ptys", Duration::from_secs(10), || {
        (a.exists() && b.exists()).then_some(())
    });
    (socat, a, b)
}

/// Run a command to completion; it must succeed; its stdout.
/// `meilid simulate <args> --print-config`: the gateway's `[[devices]]` for those devices.
pub fn simulated_devices(args: &[&str]) -> String {
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .arg("simulate")
            .args(args)
            .arg("--print-config"),
    )
}

/// `meilid simulate <args>` to its end: its summary line and how many readings it published.
pub fn simulate(args: &[&str]) -> (String, f64) {
    let text = run_ok(
        Command::new(env!("CARGO_BIN_EXE_meilid"))
            .arg("simulate")
            .args(args),
    );
    let published = text
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    (text, published)
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTTP request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A small HTTP server that answers 200 to every POST and keeps what it got (webhook peer).
pub struct Receiver {
    pub port: u16,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        let mut headers = HashMap::new();
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = h.split_once(':') {
                                headers.insert(k.trim().to_lowercase(), v.trim().to_string());
                            }
                        }
                        let len: usize = headers
                            .get("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        store.lock().unwrap().push(Request {
                            path,
                            headers,
                            body,
                        });
                        if conn
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { port, got }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Bodies (as JSON) received on `path`.
    pub fn json(&self, path: &str) -> Vec<(Request, serde_json::Value)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| (r.clone(), serde_json::from_slice(&r.body).unwrap()))
            .collect()
    }
}

/// Prometheus Alertmanager (Debian package) routing every alert to a webhook.
pub struct Alertmanager {
    pub port: u16,
    pub proc: Proc,
    pub dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(webhook: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = dir.path().join("am.yml");
        std::fs::write(
            &cfg,
            format!(
                "route:\n  receiver: test\n  group_by: ['alert_id']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 24h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n"
            ),
        )
        .unwrap();
        let proc = Proc::spawn(
            "prometheus-alertmanager",
            Command::new("prometheus-alertmanager")
                .arg(format!("--config.file={}", cfg.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
            &dir.path().join("am.log"),
        );
        let am = Alertmanager { port, proc, dir };
        wait_until("alertmanager ready", Duration::from_secs(20), || {
            http_get(&format!("{}/-/ready", am.url())).filter(|(s, _)| *s == 200)
        });
        am
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Alerts Alertmanager holds as active (`GET /api/v2/alerts`).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = http_get(&format!("{}/api/v2/alerts", self.url())).expect("am api");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// `mosquitto_sub -v` on `topic`, writing to a file, ready once a probe on `probe_topic`
/// came back.
pub struct Subscriber {
    pub proc: Proc,
    pub out: PathBuf,
}

impl Subscriber {
    pub fn start(port: u16, topic: &str, probe_topic: &str, dir: &Path) -> Subscriber {
        let out = dir.join("sub.txt");
        let proc = Proc::spawn(
            "mosquitto_sub",
            Command::new("mosquitto_sub").args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-q",
                "1",
                "-v",
                "-t",
                topic,
            ]),
            &out,
        );
        wait_until("subscriber ready", Duration::from_secs(20), || {
            let _ = Command::new("mosquitto_pub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-t",
                    probe_topic,
                    "-m",
                    "probe",
                ])
                .status();
            std::fs::read_to_string(&out)
                .ok()
                .filter(|t| t.contains(probe_topic))
                .map(|_| ())
        });
        Subscriber { proc, out }
    }

    /// Received (topic, payload) lines, probes left out.
    pub fn messages(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, p)| *p != "probe")
            .map(|(t, p)| (t.to_string(), p.to_string()))
            .collect()
    }
}

/// Publish each line of `payloads` on `topic` at QoS 1 (mosquitto_pub -l).
pub fn publish_lines(port: u16, topic: &str, payloads: &[String]) {
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-l",
            "-t",
            topic,
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for p in payloads {
        writeln!(stdin, "{p}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// POST `body` to `url` (`application/x-www-form-urlencoded` when `form`); status and body.
pub fn http_post(url: &str, body: Vec<u8>, form: bool) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(url)
            .timeout(Duration::from_secs(30))
            .body(body);
        if form {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        Some((status, r.text().await.ok()?))
    })
}

/// An HTTP answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request with headers and an optional body, from `local` (a loopback source address)
/// when given; redirects are not followed. `None` when the connection failed.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    local: Option<std::net::IpAddr>,
) -> Option<HttpReply> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(local)
            .build()
            .ok()?;
        let mut req = client
            .request(reqwest::Method::from_bytes(method.as_bytes()).ok()?, url)
            .timeout(Duration::from_secs(15));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Some(HttpReply {
            status,
            headers,
            body: r.text().await.ok()?,
        })
    })
}
