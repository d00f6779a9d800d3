//! Issue 20 (part): the Debian package (`scripts/package-deb.sh`), built from this test's
//! `meilid`: its files and conffiles, the shipped configuration valid, the systemd unit clean
//! under `systemd-analyze verify`, lintian without errors.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn debian_package_has_its_files_a_clean_unit_and_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (ok, text) = run(Command::new(repo.join("scripts/package-deb.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_meilid"), "--fast", "--out"])
        .arg(dir.path()));
    assert!(ok, "{text}");
    let deb = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");
    let (_, info) = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(
        info.contains("Package: meili-daemon") && info.contains("Depends: adduser"),
        "{info}"
    );
    let control = dir.path().join("control");
    assert!(run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control)).0);
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(
        conffiles.lines().any(|l| l == "/etc/meili/meili.toml"),
        "{conffiles}"
    );
    assert!(
        conffiles.contains("/etc/meili/modbus/noise-x10.toml"),
        "{conffiles}"
    );
    for script in ["postinst", "prerm", "postrm"] {
        let (ok, text) = run(Command::new("sh").arg("-n").arg(control.join(script)));
        assert!(ok, "{script}: {text}");
    }
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system") && postinst.contains("/var/lib/meili"));

    let root = dir.path().join("root");
    assert!(run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root)).0);
    for f in [
        "usr/bin/meilid",
        "lib/systemd/system/meilid.service",
        "etc/meili/meili.toml",
        "usr/share/meili/dashboards/meili-noise.json",
        "usr/share/doc/meili-daemon/copyright",
        "usr/share/doc/meili-daemon/example.toml",
        "usr/share/man/man1/meilid.1.gz",
        "usr/share/man/man1/meilid-check-config.1.gz",
    ] {
        assert!(root.join(f).exists(), "{f} missing");
    }
    let meilid = root.join("usr/bin/meilid");
    let (ok, version) = run(Command::new(&meilid).arg("--version"));
    assert!(ok && version.starts_with("meilid 0.1.0 ("), "{version}");
    let (ok, check) = run(Command::new(&meilid)
        .arg("check-config")
        .arg(root.join("etc/meili/meili.toml")));
    assert!(ok, "the shipped configuration: {check}");

    let unit = std::fs::read_to_string(root.join("lib/systemd/system/meilid.service")).unwrap();
    for line in [
        "Type=notify",
        "User=meili",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/meili",
        "NoNewPrivileges=true",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LimitNOFILE=65536",
        "WatchdogSec=30s",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} not in the unit");
    }
    // `systemd-analyze verify` in the package's root, with the system's targets and kill.
    let units = root.join("lib/systemd/system");
    for e in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".target") || name.ends_with(".slice") {
            let _ = std::fs::copy(e.path(), units.join(&name));
        }
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/kill", root.join("bin/kill")).unwrap();
    let (ok, verify) = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(units.join("meilid.service")));
    assert!(
        ok && verify.trim().is_empty(),
        "systemd-analyze verify: {verify}"
    );

    // lintian: no errors, no warnings (the man pages come from `meilid manpage`).
    let (_, lint) = run(Command::new("lintian")
        .args(["--tag-display-limit", "0"])
        .arg(&deb));
    let tags: Vec<&str> = lint
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(tags.is_empty(), "{lint}");
    let size = std::fs::metadata(&deb).unwrap().len();
    eprintln!(
        "package: {} ({size} bytes), lintian: {tags:?}",
        deb.display()
    );
}

/// A command chrooted in the throwaway root `state` (tests/system/deb_root.sh: an overlay of
/// this machine's root, changes kept in `state/upper`).
fn in_root(state: &Path) -> Command {
    let mut cmd =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/system/deb_root.sh"));
    cmd.arg(state);
    cmd
}

fn build_package(out: &Path, version: &str) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (ok, text) = run(Command::new(repo.join("scripts/package-deb.sh"))
        .args([
            "--binary",
            env!("CARGO_BIN_EXE_meilid"),
            "--fast",
            "--version",
            version,
            "--out",
        ])
        .arg(out));
    assert!(ok, "{text}");
    out.join(format!(
        "meili-daemon_{version}_{}.deb",
        String::from_utf8(
            Command::new("dpkg")
                .arg("--print-architecture")
                .output()
                .unwrap()
                .stdout
        )
        .unwrap()
        .trim()
    ))
}

/// The installed daemon, as systemd would start it: user meili, the shipped paths.
fn start_installed(state: &Path, log: &Path) -> Proc {
    Proc::spawn(
        "meilid (installed)",
        in_root(state).args([
            "setpriv",
            "--reuid=meili",
            "--regid=meili",
            "--init-groups",
            "/usr/bin/meilid",
            "run",
            "--config",
            "/etc/meili/meili.toml",
        ]),
        log,
    )
}

fn metric(http: u16, name: &str) -> Option<f64> {
    let (_, text) = http_get(&format!("http://127.0.0.1:{http}/metrics"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// Files under `dir` (relative paths) with their bytes.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Installed with dpkg and its maintainer scripts in a throwaway root; the daemon runs as
/// `meili` from the shipped paths and buffers 500 readings while its database is down; the
/// package is upgraded (the edited conffile kept, /var/lib/meili untouched); the new version
/// delivers exactly those 500; purge removes the package but keeps the state directory.
#[test]
fn debian_package_installs_upgrades_keeping_buffered_readings_and_purges() {
    let dir = tempfile::tempdir().unwrap();
    let old = build_package(dir.path(), "0.0.9");
    let new = build_package(dir.path(), env!("CARGO_PKG_VERSION"));
    let state = dir.path().join("root");
    let upper = state.join("upper");

    let (ok, text) = run(in_root(&state).arg("dpkg").arg("-i").arg(&old));
    assert!(
        ok && text.contains("Setting up meili-daemon (0.0.9)"),
        "{text}"
    );
    assert!(!text.contains("Warning"), "{text}");
    let (ok, text) = run(in_root(&state).args([
        "sh",
        "-c",
        "getent passwd meili; stat -c '%U:%G %a %n' /var/lib/meili /etc/meili/meili.toml; \
         dpkg-query -W -f '${Status} ${Version}\\n' meili-daemon; id -nG meili; \
         ls /usr/share/man/man1/meilid.1.gz /usr/share/man/man1/meilid-run.1.gz",
    ]));
    assert!(ok, "{text}");
    for want in [
        ":/var/lib/meili:/usr/sbin/nologin",
        "meili:meili 750 /var/lib/meili",
        "root:meili 640 /etc/meili/meili.toml",
        "install ok installed 0.0.9",
        "meili dialout",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // The host was not touched.
    assert!(!Path::new("/var/lib/dpkg/info/meili-daemon.list").exists());

    // The operator edits the conffile: the local broker's port, a database (down for now),
    // a device.
    let mq = Mosquitto::start();
    let http = free_port();
    let db_port = free_port();
    let conf_path = upper.join("etc/meili/meili.toml");
    let shipped = std::fs::read_to_string(&conf_path).unwrap();
    let edited = shipped
        .replace("127.0.0.1:9780", &format!("127.0.0.1:{http}"))
        .replace("mqtt://127.0.0.1:1883", &mq.url())
        + &format!(
            "\n[[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"http://127.0.0.1:{db_port}\"\n\
             database = \"meili\"\n\n[[devices]]\nid = \"n1\"\nsite = \"town\"\nkind = \"noise\"\n\
             lat = 23.36\nlon = 103.38\nzone_class = \"2\"\n"
        );
    assert_ne!(shipped, edited);
    std::fs::write(&conf_path, &edited).unwrap();

    let mut daemon = start_installed(&state, &dir.path().join("meilid-old.log"));
    wait_until(
        "installed meilid subscribed",
        Duration::from_secs(30),
        || (metric(http, "meili_mqtt_subscriptions_total")? >= 2.0).then_some(()),
    );
    let now = unix_now();
    let lines: Vec<String> = (0..500)
        .map(|i| {
            format!(
                r#"{{"v":1,"seq":{i},"ts":{},"period_s":1,"laeq":{}.5}}"#,
                now - 3_000 + i,
                40 + i % 30
            )
        })
        .collect();
    mq.publish_lines("meili/v1/town/noise/n1/telemetry", &lines);
    wait_until("500 readings acknowledged", Duration::from_secs(30), || {
        (metric(http, "meili_mqtt_acks_sent_total")? >= 500.0).then_some(())
    });
    assert_eq!(daemon.stop(), Some(0), "SIGTERM: a clean stop");
    let data = upper.join("var/lib/meili");
    let before = tree(&data);
    assert!(before.contains_key("FORMAT"), "{:?}", before.keys());
    assert!(
        before.len() > 2,
        "buffer and state files: {:?}",
        before.keys()
    );

    // The upgrade: no question about the edited conffile, the state directory as it was.
    let (ok, text) = run(in_root(&state).arg("dpkg").arg("-i").arg(&new));
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!(
            "Unpacking meili-daemon ({}) over (0.0.9)",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&conf_path).unwrap(), edited);
    assert_eq!(tree(&data), before, "the upgrade changed /var/lib/meili");

    // The new version delivers what the old one acknowledged, once the database is up.
    let db = Influxd::start_on(db_port);
    let mut daemon = start_installed(&state, &dir.path().join("meilid-new.log"));
    let count = || db.count("meili", "noise", "laeq");
    wait_until(
        "500 buffered readings delivered",
        Duration::from_secs(60),
        || (count() >= 500).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(count(), 500);
    assert_eq!(daemon.stop(), Some(0));

    // Purge: the package and its conffiles go, the readings' directory stays.
    let (ok, text) = run(in_root(&state).args(["dpkg", "--purge", "meili-daemon"]));
    assert!(
        ok && text.contains("/var/lib/meili (buffer, standards and alert state) is kept"),
        "{text}"
    );
    let (_, text) = run(in_root(&state).args([
        "sh",
        "-c",
        "ls /usr/bin/meilid /etc/meili/meili.toml 2>&1; ls /var/lib/meili",
    ]));
    assert!(text.contains("/usr/bin/meilid': No such file"), "{text}");
    assert!(
        text.contains("/etc/meili/meili.toml': No such file"),
        "{text}"
    );
    assert!(text.contains("FORMAT"), "{text}");
}
