//! `meilid replay` over a generated month for a small town: every October figure equals the
//! one computed independently in `town.rs` from the generation rules.

use serde_json::Value;

use crate::town::{self, DAYS, NOISE, TOILETS};
use crate::util::meilid_replay_with;

fn replay(dir: &std::path::Path, input: &str, name: &str) -> Value {
    let config = dir.join("town.toml");
    std::fs::write(&config, town::config()).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    // Generated device by device, not in arrival order: a full recomputation.
    meilid_replay_with(&config, &path, &["--ignore-lateness"])
}

fn row<'a>(doc: &'a Value, metric: &str, window: &str, start: &str) -> &'a Value {
    doc["compliance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == metric && c["window"] == window && c["start"] == start)
        .unwrap_or_else(|| panic!("no {metric} {window} {start} row"))
}

/// (numerator, denominator) of the October row of `metric`.
fn october(doc: &Value, metric: &str) -> (f64, f64) {
    let r = row(doc, metric, "month", "2026-10-01");
    (
        r["numerator"].as_f64().unwrap(),
        r["denominator"].as_f64().unwrap(),
    )
}

fn close(got: (f64, f64), want: (f64, f64), what: &str) {
    assert!(
        (got.0 - want.0).abs() < 1e-6 && (got.1 - want.1).abs() < 1e-6,
        "{what}: got {got:?}, computed {want:?}"
    );
}

#[test]
fn a_month_of_a_small_town_matches_independent_figures() {
    let dir = tempfile::tempdir().unwrap();
    let doc = replay(dir.path(), &town::capture(), "october.ndjson");

    // Input accounting.
    let input = &doc["input"];
    assert_eq!(input["duplicates"], 100, "{input}");
    assert_eq!(input["rejected"]["unknown_device"], 10, "{input}");
    assert_eq!(input["rejected"]["malformed_json"], 5, "{input}");
    assert_eq!(input["late"], 0);

    // Noise: point-days per period, per class, Lmax and area coverage.
    let (mut day, mut night, mut lmax, mut cov) = ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
    let mut per_class = std::collections::BTreeMap::new();
    for (p, (_, class, _, _, area)) in NOISE.iter().enumerate() {
        let c = per_class.entry(*class).or_insert(((0.0, 0.0), (0.0, 0.0)));
        for k in 0..DAYS {
            let (dv, dok, nv, nok, lok) = town::noise_expected(p, k);
            let add = |x: &mut (f64, f64), valid: bool, ok: bool| {
                if valid {
                    x.1 += 1.0;
                    x.0 += f64::from(u8::from(ok));
                }
            };
            add(&mut day, dv, dok);
            add(&mut night, nv, nok);
            add(&mut lmax, nv, lok);
            add(&mut c.0, dv, dok);
            add(&mut c.1, nv, nok);
            if dv && nv {
                cov.1 += area;
                if dok && nok {
                    cov.0 += area;
                }
            }
        }
    }
    // The data must exercise both outcomes, or the comparison proves little.
    assert!(
        night.0 > 0.0 && night.0 < night.1 && day.0 < day.1,
        "{night:?} {day:?}"
    );
    assert_eq!(night.1, 6.0 * 31.0 - 3.0, "three invalid nights");
    assert_eq!(day.1, 6.0 * 31.0 - 1.0, "one invalid day");
    close(october(&doc, "noise_day_compliance"), day, "day");
    close(october(&doc, "noise_night_compliance"), night, "night");
    close(october(&doc, "noise_lmax_compliance"), lmax, "lmax");
    close(october(&doc, "noise_zone_coverage"), cov, "coverage");
    for (class, (d, n)) in per_class {
        close(
            october(&doc, &format!("noise_day_compliance_{class}")),
            d,
            class,
        );
        close(
            october(&doc, &format!("noise_night_compliance_{class}")),
            n,
            class,
        );
    }
    let r = row(&doc, "noise_night_compliance", "month", "2026-10-01");
    assert_eq!(r["target"], 0.85);
    assert_eq!(r["met"], night.0 / night.1 >= 0.85);

    // Air: a good day has site PM2.5 ≤ 60 (HJ 633—2026, in force in October 2026) or ≤ 75
    // (2012); 25 October has 19 hours and is invalid.
    let valid: Vec<i64> = (0..DAYS).filter(|&k| k != 24).collect();
    let good26 = valid.iter().filter(|&&k| town::site_pm25(k) <= 60).count() as f64;
    let good12 = valid.iter().filter(|&&k| town::site_pm25(k) <= 75).count() as f64;
    assert!(good26 > 0.0 && good26 < 30.0);
    close(october(&doc, "air_good_days"), (good26, 30.0), "good days");
    close(
        october(&doc, "air_good_days_2012"),
        (good12, 30.0),
        "good days 2012",
    );
    assert_eq!(
        row(&doc, "air_good_days", "month", "2026-10-01")["invalid"],
        1.0
    );
    // 31 October: site PM2.5 exactly 60 → IAQI 100 under 2026, 良, primary PM2.5.
    let oct31 = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-10-31")
        .unwrap();
    let site = oct31["air"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["device"] == "_site")
        .unwrap();
    assert_eq!(town::site_pm25(30), 60);
    assert_eq!(site["aqi"]["aqi"], 100);
    assert_eq!(site["aqi"]["standard"], "2026");
    assert_eq!(site["aqi"]["category"], 2);
    assert_eq!(site["aqi"]["primary"], serde_json::json!(["pm2_5"]));
    assert_eq!(site["aqi_2012"]["aqi"], 82); // 35..75 → 50 + 50·25/40 = 81.25, rounded up

    // Lighting.
    let mut sums = [[0.0; 6]; 2];
    for k in 0..DAYS {
        for (g, main) in [(0, true), (1, false)] {
            let x = town::lighting_expected(main, k);
            for (s, v) in sums[g].iter_mut().zip(x) {
                *s += v;
            }
        }
    }
    close(
        october(&doc, "lighting_rate_main"),
        (sums[0][0], sums[0][1]),
        "main",
    );
    close(
        october(&doc, "lighting_rate_secondary"),
        (sums[1][0], sums[1][1]),
        "secondary",
    );
    close(
        october(&doc, "lighting_intact"),
        (sums[0][2] + sums[1][2], 200.0 * 31.0),
        "intact",
    );
    close(
        october(&doc, "lighting_snapshot_main"),
        (sums[0][3], sums[0][4]),
        "snapshot",
    );
    let burn: f64 = doc["days"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["lighting"].as_array().cloned().unwrap_or_default())
        .map(|g| g["day_burning_lamp_minutes"].as_f64().unwrap())
        .sum();
    assert_eq!(burn, sums[0][5] + sums[1][5]);

    // Toilets.
    let (mut avail, mut odour, mut entries) = ((0.0, 0.0), (0.0, 0.0), vec![0.0; TOILETS]);
    for (t, e) in entries.iter_mut().enumerate() {
        for k in 0..DAYS {
            let [measured, available, n, ok, hours] = town::toilet_expected(t, k);
            avail.0 += available;
            avail.1 += measured;
            odour.0 += ok;
            odour.1 += hours;
            *e += n;
        }
    }
    close(october(&doc, "toilet_availability"), avail, "availability");
    close(october(&doc, "toilet_odour_compliance"), odour, "odour");
    close(
        october(&doc, "toilet_density"),
        (5.0 * 31.0, 2.5 * 31.0),
        "density",
    );
    close(
        october(&doc, "toilet_coverage"),
        (2.0 * 31.0, 3.0 * 31.0),
        "coverage",
    );
    for (t, want) in entries.iter().enumerate() {
        let got: f64 = doc["days"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["toilets"].as_array().cloned().unwrap_or_default())
            .filter(|x| x["device"] == format!("t{t}"))
            .map(|x| x["entries"].as_f64().unwrap())
            .sum();
        assert_eq!(got, *want, "entries of t{t}");
    }
}

#[test]
fn csv_export_and_capture_give_the_same_day() {
    let dir = tempfile::tempdir().unwrap();
    // One noise point, one day, as a capture and as a long CSV export.
    let mut ndjson = String::new();
    let mut csv = String::from("time,site,kind,device,field,value\n");
    let d0 = town::oct1() * 24;
    for h in d0 + 6..d0 + 30 {
        let level = town::noise_level(1, h).unwrap();
        for j in 1..=12 {
            let ts = town::unix_of_hour(h) + 300 * j;
            ndjson += &format!(
                "{{\"topic\":\"meili/v1/town/noise/n2/telemetry\",\"payload\":{{\"v\":1,\"seq\":{j},\"ts\":{ts},\"period_s\":300,\"laeq\":{level}}}}}\n"
            );
            csv += &format!("{ts},town,noise,n2,laeq,{level}\n{ts},town,noise,n2,period_s,300\n");
        }
    }
    let a = replay(dir.path(), &ndjson, "day.ndjson");
    let b = replay(dir.path(), &csv, "day.csv");
    assert_eq!(a["input"]["counted"], 288);
    assert_eq!(b["input"]["counted"], 288);
    assert_eq!(a["days"], b["days"]);
    let (dv, dok, nv, nok, _) = town::noise_expected(1, 0);
    let n2 = &a["days"][0]["noise"][1];
    assert_eq!(n2["device"], "n2");
    assert_eq!(
        (n2["day"]["valid"].as_bool(), n2["day"]["ok"].as_bool()),
        (Some(dv), Some(dok))
    );
    assert_eq!(
        (n2["night"]["valid"].as_bool(), n2["night"]["ok"].as_bool()),
        (Some(nv), Some(nok))
    );
}
