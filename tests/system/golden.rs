//! Issue 17, before the move: what dashboards and users read from the daemon, pinned. The
//! shape of `/metrics` (every series' name, type and labels, values left out) and of the
//! health rows (measurement, tag keys, field keys and types) for a gateway with every kind of
//! component must equal `tests/golden/{metrics,health-rows}.txt`. After an intended change,
//! regenerate them with `MEILI_BLESS=1` and review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::*;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name)
}

/// Compare `lines` with the golden file (or write it when blessing).
fn check(name: &str, lines: &BTreeSet<String>) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let path = golden(name);
    if std::env::var_os("MEILI_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    let want: BTreeSet<String> = want.lines().map(str::to_string).collect();
    let missing: Vec<_> = want.difference(lines).collect();
    let added: Vec<_> = lines.difference(&want).collect();
    assert!(
        missing.is_empty() && added.is_empty(),
        "{name} changed (MEILI_BLESS=1 to accept):\nmissing: {missing:#?}\nadded: {added:#?}"
    );
}

/// `name{labels}` and `# TYPE` lines of the Prometheus text, values and ports left out.
fn metrics_shape(text: &str) -> BTreeSet<String> {
    let port = regex_port();
    text.lines()
        .filter(|l| !l.starts_with("# HELP"))
        .map(|l| {
            let l = if l.starts_with('#') {
                l.to_string()
            } else {
                l.rsplit_once(' ').map_or(l, |(k, _)| k).to_string()
            };
            port(&l)
        })
        .collect()
}

/// Replaces `127.0.0.1:NNNNN` and temporary paths, which differ from run to run.
fn regex_port() -> impl Fn(&str) -> String {
    |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..i + 10]);
            rest = &rest[i + 10..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            out.push_str("PORT");
            rest = &rest[digits..];
        }
        out.push_str(rest);
        out
    }
}

/// `measurement,tag-keys field:type…` of line-protocol rows.
fn row_shape(line: &str) -> Option<String> {
    let (series, rest) = line.split_once(' ')?;
    let (fields, _) = rest.rsplit_once(' ')?;
    let mut parts = series.split(',');
    let measurement = parts.next()?;
    let tags: Vec<&str> = parts
        .filter_map(|t| t.split_once('=').map(|(k, _)| k))
        .collect();
    let mut fs: Vec<String> = fields
        .split(',')
        .filter_map(|f| {
            let (k, v) = f.split_once('=')?;
            let ty = if v.ends_with('i') && v[..v.len() - 1].parse::<i64>().is_ok() {
                "int"
            } else if v == "true" || v == "false" {
                "bool"
            } else if v.starts_with('"') {
                "string"
            } else {
                "float"
            };
            Some(format!("{k}:{ty}"))
        })
        .collect();
    fs.sort();
    Some(format!("{measurement},{} {}", tags.join(","), fs.join(",")))
}

#[test]
fn metrics_and_health_rows_keep_their_shape() {
    let mq = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let maps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/modbus");
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-golden\"\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nname = \"db\"\nurl = \"http://127.0.0.1:{closed}\"\ndatabase = \"meili\"\n\n\
         [[sinks]]\ntype = \"file\"\nname = \"local\"\n[sinks.batch]\nmax_delay_ms = 200\n\n\
         [[devices]]\nid = \"n01\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"2\"\narea_km2 = 0.5\n\n\
         [[devices]]\nid = \"a01\"\nsite = \"town\"\nkind = \"air\"\nlat = 23.36\nlon = 103.37\n\n\
         [[devices]]\nid = \"t01\"\nsite = \"town\"\nkind = \"toilet\"\nlat = 23.36\nlon = 103.37\ntoilet_class = \"1\"\n\n\
         [[devices]]\nid = \"l01\"\nsite = \"town\"\nkind = \"streetlight\"\nlat = 23.36\nlon = 103.37\nroad_class = \"main\"\n\n\
         [[devices]]\nid = \"m01\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.37\nzone_class = \"2\"\n\
         modbus = {{ tcp = \"127.0.0.1:{closed}\", unit = 1, map = \"{}\", interval_secs = 1 }}\n\n\
         [alerts]\nevaluate_interval_ms = 200\n\n\
         [[alerts.rules]]\nname = \"offline\"\ntype = \"offline\"\nseverity = \"critical\"\nmissed_periods = 3\n\n\
         [[alerts.webhooks]]\nname = \"centre\"\nurl = \"http://127.0.0.1:{closed}/hook\"\n",
        mq.url(),
        maps.join("meili-noise.toml").display()
    );
    let m = Meilid::start_with_daemon(dir.path(), "health_interval_secs = 1", &config);
    let now = unix_now();
    mq.publish(
        "meili/v1/town/noise/n01/telemetry",
        &format!(
            r#"{{"v":1,"seq":1,"ts":{now},"period_s":60,"laeq":55.0,"lamax":60.0,"lamin":50.0}}"#
        ),
    );
    mq.publish("meili/v1/town/noise/n01/telemetry", "not json");
    // Health rows reach the file sink within a few seconds.
    let store = dir.path().join("data");
    let rows = wait_until("health rows", Duration::from_secs(30), || {
        let mut all = String::new();
        for e in walk(&store) {
            if e.extension().is_some_and(|x| x == "lp") || e.to_string_lossy().contains(".lp") {
                all.push_str(&std::fs::read_to_string(&e).unwrap_or_default());
            }
        }
        let shapes: BTreeSet<String> = all
            .lines()
            .filter(|l| {
                ["meili,", "meili_sink,", "device_status,", "meili_modbus,"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .filter_map(row_shape)
            .collect();
        // Every row kind, including a device that has reported (its age is known).
        let seen = shapes.iter().any(|s| s.starts_with("meili_sink,"))
            && shapes.iter().any(|s| s.starts_with("meili,"))
            && shapes
                .iter()
                .any(|s| s.starts_with("device_status,") && s.contains("age_s:int"));
        seen.then_some(shapes)
    });
    let metrics = m.metrics().unwrap();
    check("metrics.txt", &metrics_shape(&metrics));
    check("health-rows.txt", &rows);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
