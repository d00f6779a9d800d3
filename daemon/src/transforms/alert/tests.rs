use super::*;
use crate::config::Config;

fn evaluator(rules: &str) -> Evaluator {
    let text = format!(
        r#"
[daemon]
timezone = "Asia/Shanghai"
[[devices]]
id = "n01"
site = "town"
kind = "noise"
lat = 23.36
lon = 103.37
zone_class = "1"
area_km2 = 0.5
[[devices]]
id = "a01"
site = "town"
kind = "air"
lat = 23.36
lon = 103.37
[[devices]]
id = "l01"
site = "town"
kind = "streetlight"
lat = 23.36
lon = 103.37
road_class = "main"
{rules}
"#
    );
    let cfg = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    let registry = Arc::new(Registry::from_config(&cfg));
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let e = Evaluator::new(&cfg.alerts, cfg.standards.clone(), registry, tz);
    e.store().set_channels(&["c".into()], 100, 100);
    e
}

/// 2026-11-23 22:00 +08:00 plus `mins`.
fn at(mins: i64) -> i64 {
    "2026-11-23T22:00:00+08:00"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
        + mins * 60
}

fn noise(e: &mut Evaluator, from_min: i64, to_min: i64, level: f64) {
    for m in (from_min..to_min).step_by(5) {
        let s = Sample {
            ts: at(m + 5),
            period_s: 300,
            values: Values::Noise {
                laeq: level,
                lamax: None,
            },
        };
        e.on_sample(0, &s, 0);
    }
}

fn outbox(e: &Evaluator) -> Vec<Alert> {
    e.store().outbox["c"].iter().cloned().collect()
}

const NIGHT_RULE: &str = r#"
[[alerts.rules]]
name = "night_noise"
type = "threshold"
metric = "laeq"
window_mins = 60
threshold = "limit"
periods = "night"
for_mins = 120
clear_margin = 1.0
"#;

#[test]
fn night_noise_fires_after_two_hours_above_the_zone_limit_and_resolves_once() {
    let mut e = evaluator(NIGHT_RULE);
    noise(&mut e, 0, 60, 55.0); // 22:00–23:00 at 55 dB, night limit of class 1 is 45
    noise(&mut e, 60, 120, 52.0);
    assert!(
        outbox(&e).is_empty(),
        "the second hour is not judged before it closes"
    );
    noise(&mut e, 120, 125, 40.0); // first reading of 00:00 closes 23:00
    let out = outbox(&e);
    assert_eq!(out.len(), 1, "{out:?}");
    let a = &out[0];
    assert_eq!(a.id, "night_noise:town/n01");
    assert_eq!(a.state, "firing");
    assert_eq!(a.threshold, Some(45.0));
    assert_eq!(a.value, Some(52.0));
    assert_eq!(a.starts_at, "2026-11-23T22:00:00+08:00");
    assert!(a.summary_zh.contains("45 dB(A)"), "{}", a.summary_zh);
    assert!(a.summary_en.contains("for 2 h"), "{}", a.summary_en);
    // 44.5 dB is below the limit but inside the 1 dB clear margin: still firing.
    noise(&mut e, 125, 180, 44.5);
    noise(&mut e, 180, 185, 40.0);
    assert_eq!(outbox(&e).len(), 1);
    noise(&mut e, 185, 240, 40.0);
    noise(&mut e, 240, 245, 40.0);
    let out = outbox(&e);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].state, "resolved");
    assert_eq!(out[1].ends_at.as_deref(), Some("2026-11-24T02:00:00+08:00"));
}

#[test]
fn one_loud_hour_or_an_interrupted_streak_does_not_fire() {
    let mut e = evaluator(NIGHT_RULE);
    noise(&mut e, 0, 60, 55.0);
    noise(&mut e, 60, 120, 40.0);
    noise(&mut e, 120, 180, 55.0);
    noise(&mut e, 180, 185, 40.0);
    assert!(outbox(&e).is_empty());
    // Day hours above the night limit but below the day limit (55) do not count.
    let mut e = evaluator(NIGHT_RULE);
    noise(&mut e, 9 * 60, 12 * 60, 54.0);
    assert!(outbox(&e).is_empty());
}

#[test]
fn a_thin_hour_neither_fires_nor_resolves() {
    let mut e = evaluator(NIGHT_RULE);
    noise(&mut e, 0, 15, 60.0); // 15 of 60 minutes: below 75 % coverage
    noise(&mut e, 60, 120, 60.0);
    noise(&mut e, 120, 180, 60.0);
    noise(&mut e, 180, 185, 60.0);
    let out = outbox(&e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].starts_at, "2026-11-23T23:00:00+08:00");
}

#[test]
fn hourly_aqi_above_150_fires() {
    let mut e = evaluator(
        r#"
[[alerts.rules]]
name = "aqi_high"
type = "threshold"
metric = "aqi"
window_mins = 60
threshold = 150
severity = "critical"
"#,
    );
    let mut a = [None; 6];
    a[0] = Some(160.0); // PM2.5 1-h mean 160 → IAQI 210 (HJ 633-2012, 24-h column)
    for m in (0..65).step_by(5) {
        let s = Sample {
            ts: at(m + 5),
            period_s: 300,
            values: Values::Air(a),
        };
        e.on_sample(1, &s, 0);
    }
    let out = outbox(&e);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].severity, "critical");
    assert_eq!(out[0].value, Some(210.0));
}

#[test]
fn lamp_failure_and_day_burning_fire_per_lamp() {
    let mut e = evaluator(
        r#"
[[alerts.rules]]
name = "lamp"
type = "lamp_fault"
"#,
    );
    let light = |on: bool, faults: u8| Values::Light {
        on,
        faults,
        power_w: None,
    };
    // 23:00: on and dark because the tube failed.
    let s = Sample {
        ts: at(60),
        period_s: 60,
        values: light(true, Fault::LampFailure.bit()),
    };
    e.on_sample(2, &s, 0);
    let s = Sample {
        ts: at(61),
        period_s: 60,
        values: light(true, 0),
    };
    e.on_sample(2, &s, 0);
    // Noon next day: on while the sun is up.
    let s = Sample {
        ts: at(14 * 60),
        period_s: 60,
        values: light(true, 0),
    };
    e.on_sample(2, &s, 0);
    let out = outbox(&e);
    let states: Vec<_> = out
        .iter()
        .map(|a| (a.state.as_str(), a.metric.as_str()))
        .collect();
    assert_eq!(
        states,
        [
            ("firing", "lamp_failure"),
            ("resolved", "lamp_failure"),
            ("firing", "day_burning")
        ]
    );
    assert!(out[2].summary_zh.contains("白天亮灯"));
}

#[test]
fn state_survives_a_restart_without_repeating_or_losing_an_alert() {
    let mut e = evaluator(NIGHT_RULE);
    noise(&mut e, 0, 125, 60.0);
    assert_eq!(outbox(&e).len(), 1);
    let saved = e.save().unwrap();
    let mut e2 = evaluator(NIGHT_RULE);
    e2.restore(&saved).unwrap();
    noise(&mut e2, 125, 185, 60.0);
    assert_eq!(outbox(&e2).len(), 1, "still firing, not sent again");
    noise(&mut e2, 185, 305, 40.0);
    let out = outbox(&e2);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].state, "resolved");
}

/// The saved state carries its format version; a file without one is version 1, a newer
/// one is refused with a message that says so (the reader then sets it aside, not over it).
#[test]
fn saved_state_has_a_format_version() {
    let e = evaluator("");
    let bytes = e.save().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["version"], 1);
    let mut back = evaluator("");
    back.restore(&bytes).unwrap();
    let mut old = v.clone();
    old.as_object_mut().unwrap().remove("version");
    back.restore(&serde_json::to_vec(&old).unwrap()).unwrap();
    let mut newer = v;
    newer["version"] = serde_json::json!(2);
    let err = back
        .restore(&serde_json::to_vec(&newer).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
}

/// Reload: an unchanged rule keeps its windows and timers (the alert fires as if nothing
/// happened), an added rule starts, a removed one's firing alert resolves with the reason.
#[test]
fn reconfigure_keeps_unchanged_rules_and_resolves_removed_ones() {
    const LOUD: &str = "\n[[alerts.rules]]\nname = \"loud\"\ntype = \"threshold\"\nmetric = \"laeq\"\nthreshold = 60.0\n";
    let mut e = evaluator(NIGHT_RULE);
    // 22:00–23:00 at 55 dB(A) (night limit of class 1: 45): the first hour of for_mins 120.
    noise(&mut e, 0, 60, 55.0);
    let cfg = |rules: &str| {
        Config::from_toml(&format!("[daemon]\ntimezone = \"Asia/Shanghai\"\n{rules}"))
            .unwrap()
            .alerts
    };
    let c = e.reconfigure(&cfg(&format!("{NIGHT_RULE}{LOUD}")), at(60));
    assert_eq!(
        (c.added.clone(), c.changed.clone(), c.removed.clone()),
        (vec!["loud".to_string()], vec![], vec![])
    );
    // Two more hours: night_noise fires after 120 minutes counted across the reload.
    noise(&mut e, 60, 180, 55.0);
    let ids: Vec<String> = outbox(&e).iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, ["night_noise:town/n01"]);
    noise(&mut e, 180, 190, 65.0);
    assert!(e.store().is_active("loud:town/n01"));
    let c = e.reconfigure(&cfg(NIGHT_RULE), at(200));
    assert_eq!(c.removed, ["loud"]);
    let last = outbox(&e).pop().unwrap();
    assert_eq!(
        (last.id.as_str(), last.state.as_str()),
        ("loud:town/n01", "resolved")
    );
    assert!(
        last.summary_en.contains("removed on reload"),
        "{}",
        last.summary_en
    );
    assert!(e.store().is_active("night_noise:town/n01"));
}
