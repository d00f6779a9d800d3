//! Issue 8: every panel query of every Grafana dashboard in dashboards/ runs against a real
//! InfluxDB 1.6.7 that the daemon filled from a simulated day (`meilid simulate --start`
//! publishes yesterday and today so far through mosquitto), with the dashboards' template
//! variables substituted as Grafana would; each returns rows and the columns its SELECT names.
//! The JSON is checked for what Grafana requires of provisioned dashboards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fixed-offset IANA zone (`Etc/GMT∓N`) where the local time is now between 10:00 and 14:00.
fn noon_zone() -> (String, jiff::tz::TimeZone) {
    let utc_hour = i32::from(
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .hour(),
    );
    let mut offset = 12 - utc_hour; // UTC+offset
    if offset > 14 {
        offset -= 24;
    }
    // POSIX sign: Etc/GMT-8 is UTC+8.
    let name = match offset {
        0 => "Etc/GMT".to_string(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let tz = jiff::tz::TimeZone::get(&name).unwrap();
    (name, tz)
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(repo().join("dashboards"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 6,
        "six dashboards: {:?}",
        out.iter().map(|d| &d.0).collect::<Vec<_>>()
    );
    out
}

/// `key: value` of the first list item in a provisioning YAML file (flat keys only).
fn yaml_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim_start_matches([' ', '-']).trim())
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_string())
}

fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter());
        }
    }
    out
}

fn datasource_refs<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "datasource" {
                    out.push(x);
                } else {
                    datasource_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| datasource_refs(x, out)),
        _ => {}
    }
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

#[test]
fn dashboards_have_the_structure_grafana_requires() {
    let prov = repo().join("dashboards/provisioning");
    let ds = std::fs::read_to_string(prov.join("datasources/meili.yaml")).unwrap();
    let (uid, kind) = (
        yaml_value(&ds, "uid").unwrap(),
        yaml_value(&ds, "type").unwrap(),
    );
    assert_eq!(kind, "influxdb");
    assert_eq!(yaml_value(&ds, "apiVersion").as_deref(), Some("1"));
    let dp = std::fs::read_to_string(prov.join("dashboards/meili.yaml")).unwrap();
    assert_eq!(yaml_value(&dp, "type").as_deref(), Some("file"));
    assert!(yaml_value(&dp, "path").is_some_and(|p| p.starts_with('/')));

    let mut uids = BTreeSet::new();
    for (name, d) in dashboards() {
        let duid = d["uid"].as_str().unwrap_or_else(|| panic!("{name}: uid"));
        assert!(duid.len() <= 40, "{name}: uid longer than Grafana allows");
        assert!(
            uids.insert(duid.to_string()),
            "{name}: uid {duid} used twice"
        );
        let title = d["title"].as_str().unwrap();
        assert!(
            has_cjk(title) && title.contains(" · "),
            "{name}: title {title:?}"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: schemaVersion"
        );
        assert!(d["time"]["from"].is_string(), "{name}: time range");
        let mut ids = BTreeSet::new();
        let mut boxes: Vec<(i64, i64, i64, i64, String)> = Vec::new();
        for p in panels(&d) {
            let ptitle = p["title"].as_str().unwrap_or_default().to_string();
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {ptitle}: id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            assert!(
                has_cjk(&ptitle)
                    && ptitle.split(" · ").nth(1).is_some_and(
                        |en| en.is_ascii() || en.chars().any(|c| c.is_ascii_alphabetic())
                    ),
                "{name}: panel title {ptitle:?} (Chinese · English)"
            );
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_i64().unwrap(),
                g["y"].as_i64().unwrap(),
                g["w"].as_i64().unwrap(),
                g["h"].as_i64().unwrap(),
            );
            assert!(
                x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24,
                "{name}: {ptitle}: gridPos {g}"
            );
            for (bx, by, bw, bh, other) in &boxes {
                let overlap = x < bx + bw && *bx < x + w && y < by + bh && *by < y + h;
                assert!(!overlap, "{name}: {ptitle:?} overlaps {other:?}");
            }
            boxes.push((x, y, w, h, ptitle.clone()));
            if p["type"] != "row" {
                let targets = p["targets"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: {ptitle}: targets"));
                assert!(!targets.is_empty(), "{name}: {ptitle}: no query");
                let mut refs = BTreeSet::new();
                for t in targets {
                    assert!(
                        refs.insert(t["refId"].as_str().unwrap().to_string()),
                        "{name}: {ptitle}: refId twice"
                    );
                    assert_eq!(t["rawQuery"], true, "{name}: {ptitle}");
                }
                assert!(
                    p["description"].as_str().is_some_and(|s| !s.is_empty()),
                    "{name}: {ptitle}: description"
                );
            }
        }
        let mut refs = Vec::new();
        datasource_refs(&d, &mut refs);
        assert!(!refs.is_empty(), "{name}: no datasource references");
        // Every reference goes through the `datasource` variable (importable anywhere); its
        // default is the provisioned data source, and the import dialog asks for one.
        for r in refs {
            assert_eq!(r["uid"], "${datasource}", "{name}: datasource {r}");
            assert_eq!(r["type"], kind.as_str(), "{name}: datasource {r}");
        }
        let ds_var = &d["templating"]["list"][0];
        assert_eq!(ds_var["name"], "datasource", "{name}");
        assert_eq!(ds_var["type"], "datasource", "{name}");
        assert_eq!(ds_var["query"], kind.as_str(), "{name}");
        assert_eq!(ds_var["current"]["value"], uid.as_str(), "{name}");
        let input = &d["__inputs"][0];
        assert_eq!(
            (&input["type"], &input["pluginId"]),
            (&serde_json::json!("datasource"), &serde_json::json!(kind)),
            "{name}: __inputs"
        );
        let vars: Vec<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        assert!(vars.contains(&"site"), "{name}: no site variable");
    }
    // The committed JSON is what the generator makes.
    let out = Command::new("python3")
        .arg(repo().join("scripts/dashboards.py"))
        .arg("--check")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Seconds in a Grafana relative range like `now-2d`.
fn range_secs(from: &str) -> u64 {
    let s = from.strip_prefix("now-").expect("relative range");
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().unwrap();
    n * match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        u => panic!("unit {u}"),
    }
}

/// `$__interval` as Grafana computes it: range / 1000 points, rounded up to a tidy step.
fn interval(range: u64) -> String {
    let raw = range.div_ceil(1000).max(1);
    let steps = [
        1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200,
        86_400,
    ];
    let s = steps.into_iter().find(|&s| s >= raw).unwrap_or(86_400);
    format!("{s}s")
}

/// The column names a query's SELECT list promises: aliases, bare fields, or the function's
/// name (with a regex field, a prefix: `last(/^x_/)` gives `last_x_…`).
fn expected_columns(q: &str) -> Vec<(String, bool)> {
    let body = q.trim_start_matches("SELECT ").trim_start();
    let (mut depth, mut end) = (0i32, body.len());
    let bytes = body.as_bytes();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if depth == 0 && body[i..].starts_with(" FROM ") => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let mut items = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    let list = &body[..end];
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(list[start..].trim());
    items
        .into_iter()
        .map(|item| {
            if let Some((_, alias)) = item.rsplit_once(" AS ") {
                return (alias.trim_matches('"').to_string(), false);
            }
            if item.starts_with('"') {
                return (item.trim_matches('"').to_string(), false);
            }
            let func = item.split('(').next().unwrap().trim().to_string();
            match item.find("/^") {
                Some(i) => {
                    let field = item[i + 2..].split('/').next().unwrap();
                    (format!("{func}_{field}"), true)
                }
                None => (func, false),
            }
        })
        .collect()
}

/// Substitute `$name` variables (longest names first).
fn substitute(q: &str, vars: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = q.to_string();
    for n in names {
        out = out.replace(&format!("${n}"), &vars[n]);
    }
    out
}

#[test]
fn every_panel_query_returns_rows_from_a_simulated_day() {
    let mq = Mosquitto::start();
    let influx = Influxd::start();
    let dir = tempfile::tempdir().unwrap();
    let broker = format!("127.0.0.1:{}", mq.port);
    let sim_args = [
        "--broker",
        &broker,
        "--site",
        "sim",
        "--noise",
        "3",
        "--air",
        "2",
        "--toilet",
        "3",
        "--streetlight",
        "6",
        "--period-secs",
        "300",
        "--toilet-hours",
        "00:00-24:00,06:00-22:00",
    ];
    let devices = simulated_devices(&sim_args);
    let config = format!(
        "[mqtt]\nurl = \"{}\"\nclient_id = \"meilid-dash\"\n\n\
         [standards]\nemit_interval_secs = 1\n\n[standards.targets]\nnoise_night_compliance = 0.9\n\n\
         [standards.sites.sim]\nbuilt_up_area_km2 = 0.6\n\n\
         [[sinks]]\ntype = \"influxdb_v1\"\nurl = \"{}\"\ndatabase = \"meili\"\ncreate_database = true\n\n{devices}",
        mq.url(),
        influx.url()
    );
    // Health rows every second, so the fleet dashboard's rates have several points.
    let daemon = format!(
        "health_interval_secs = 1\ntimezone = \"{}\"\n",
        noon_zone().0
    );
    let m = Meilid::start_with_daemon(dir.path(), &daemon, &config);
    // Yesterday from midnight, and today so far, as fast as the broker takes it. A day's
    // night runs to 06:00 the next morning, so yesterday is a complete point-day only after
    // that: the test runs in a time zone where it is about noon now.
    let (tz_name, tz) = noon_zone();
    let yesterday = jiff::Timestamp::now()
        .to_zoned(tz)
        .date()
        .yesterday()
        .unwrap();
    let start = format!("{yesterday}T00:00");
    let (text, published) = simulate(
        &[
            &sim_args[..],
            &["--start", &start, "--end", "now", "--timezone", &tz_name],
        ]
        .concat(),
    );
    assert!(published > 14.0 * 288.0, "a day of readings: {text}");
    eprintln!("simulated day: {text}");
    let sink = "sink=\"influxdb_v1\",type=\"influxdb_v1\"";
    let engine_seen = |m: &Meilid| -> f64 {
        ["counted", "duplicate", "late", "invalid"]
            .iter()
            .filter_map(|o| {
                m.metric(
                    "meili_standards_readings_total",
                    &format!("outcome=\"{o}\""),
                )
            })
            .sum()
    };
    wait_until(
        "the engine has every reading",
        Duration::from_secs(180),
        || (engine_seen(&m) >= published).then_some(()),
    );
    // The engine emits what changed every second: once its count of emitted rows has stood
    // still for 3 s after it saw the last reading, the last results are out (waiting for one
    // more emission instead would hang when the final one came before this point).
    let mut last = (None::<f64>, std::time::Instant::now());
    wait_until(
        "results after the last reading, written",
        Duration::from_secs(180),
        || {
            let emitted = m.metric("meili_standards_rows_emitted_total", "")?;
            if last.0 != Some(emitted) {
                last = (Some(emitted), std::time::Instant::now());
                return None;
            }
            (last.1.elapsed() >= Duration::from_secs(3)
                && m.metric("meili_buffer_backlog_rows", sink)? == 0.0
                && influx.count("meili", "meili", "uptime_s") >= 12)
                .then_some(())
        },
    );

    let (mut checked, mut targets_checked) = (0, 0);
    for (name, d) in dashboards() {
        let range = range_secs(d["time"]["from"].as_str().unwrap());
        let mut vars = BTreeMap::from([
            ("timeFilter".to_string(), format!("time > now() - {range}s")),
            ("__interval".to_string(), interval(range)),
            ("interval".to_string(), interval(range)),
        ]);
        for v in d["templating"]["list"].as_array().unwrap() {
            let vname = v["name"].as_str().unwrap().to_string();
            if v["type"] == "datasource" {
                continue; // Grafana's choice of data source, not a query
            }
            let q = substitute(v["query"].as_str().unwrap(), &vars);
            let r = influx.query("meili", &q);
            let values: Vec<String> = r["results"][0]["series"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .flat_map(|s| {
                            s["values"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|x| x[1].as_str().unwrap().to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert!(
                !values.is_empty(),
                "{name}: variable {vname} has no values: {q} → {r}"
            );
            if name.contains("air") && vname == "device" {
                assert!(
                    values.iter().any(|v| v == "_site"),
                    "{name}: the site's own AQI series (_site) is not in the device list: {values:?}"
                );
            }
            // A single value as itself; multi-value (All) as Grafana's regex alternation.
            let value = if v["multi"] == true {
                format!("({})", values.join("|"))
            } else {
                values[0].clone()
            };
            vars.insert(vname, value);
        }
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default();
            for t in p["targets"].as_array().into_iter().flatten() {
                let raw = t["query"].as_str().unwrap();
                let q = substitute(raw, &vars);
                let unsubstituted = q.split('$').skip(1).any(|rest| {
                    rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '{')
                });
                assert!(
                    !unsubstituted,
                    "{name}: {title}: unsubstituted variable in {q}"
                );
                let r = influx.query("meili", &q);
                let res = &r["results"][0];
                assert!(res.get("error").is_none(), "{name}: {title}: {q} → {r}");
                let series = res["series"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: {title}: no rows: {q}"));
                let rows: usize = series
                    .iter()
                    .map(|s| s["values"].as_array().map_or(0, |v| v.len()))
                    .sum();
                assert!(rows > 0, "{name}: {title}: no rows: {q}");
                let columns: Vec<&str> = series[0]["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|c| c.as_str())
                    .collect();
                for (col, prefix) in expected_columns(raw) {
                    let idx: Vec<usize> = columns
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| {
                            if prefix {
                                c.starts_with(&col)
                            } else {
                                **c == col
                            }
                        })
                        .map(|(i, _)| i)
                        .collect();
                    assert!(
                        !idx.is_empty(),
                        "{name}: {title}: column {col:?} not in {columns:?} ({q})"
                    );
                    // And it holds a value somewhere (a misspelt field gives a column of nulls).
                    let valued = series
                        .iter()
                        .flat_map(|s| s["values"].as_array().into_iter().flatten())
                        .any(|row| idx.iter().any(|&i| !row[i].is_null()));
                    assert!(
                        valued,
                        "{name}: {title}: column {col:?} is null in every row ({q})"
                    );
                }
                // A target panel's threshold comes from the configured target (0.9 here,
                // not the contract's 0.85), through Grafana's "Config from query results".
                if t["refId"] == "B" && raw.contains("'noise_night_compliance'") {
                    assert_eq!(
                        p["transformations"][0]["options"]["configRefId"], "B",
                        "{name}: {title}"
                    );
                    let target = series[0]["values"][0][1].as_f64();
                    assert_eq!(target, Some(90.0), "{name}: {title}: {q}");
                    targets_checked += 1;
                }
                checked += 1;
            }
        }
    }
    assert!(targets_checked >= 2, "{targets_checked} target panels");
    assert!(checked >= 50, "{checked} queries");
    eprintln!("{checked} panel queries returned rows");
}
