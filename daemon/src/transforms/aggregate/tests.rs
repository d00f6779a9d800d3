use super::*;
use crate::config::Config;
use crate::rows::sample::Values;

const TZ: &str = "Asia/Shanghai";

fn engine(extra: &str, keep_all: bool) -> (Engine, Arc<Registry>) {
    let text = format!(
        r#"
[[devices]]
id = "n1"
site = "town"
kind = "noise"
lat = 30.0
lon = 110.0
zone_class = "1"
area_km2 = 2.0

[[devices]]
id = "a1"
site = "town"
kind = "air"
lat = 30.0
lon = 110.0
{extra}
"#
    );
    let config = Config::from_toml(&text).unwrap();
    let registry = Arc::new(Registry::from_config(&config));
    let tz = jiff::tz::TimeZone::get(TZ).unwrap();
    (
        Engine::new(
            config.standards.clone(),
            Arc::clone(&registry),
            tz,
            keep_all,
        ),
        registry,
    )
}

/// Unix time of local `date` + `hour`:`minute`.
fn at(date: &str, hour: i64, minute: i64) -> i64 {
    let d: jiff::civil::Date = date.parse().unwrap();
    let tz = jiff::tz::TimeZone::get(TZ).unwrap();
    d.to_zoned(tz).unwrap().timestamp().as_second() + hour * 3600 + minute * 60
}

fn noise(ts: i64, laeq: f32) -> Sample {
    Sample {
        ts,
        period_s: 60,
        values: Values::Noise {
            laeq,
            lamax: Some(laeq + 10.0),
        },
    }
}

/// Minute readings for local hours `[from, to)` of `date` (hours may pass 24) at `level(h)`.
fn noise_hours(e: &mut Engine, date: &str, from: i64, to: i64, level: impl Fn(i64) -> f32) {
    for h in from..to {
        for m in 1..=60 {
            assert_eq!(
                e.ingest(0, &noise(at(date, h, m), level(h))),
                Ingest::Counted
            );
        }
    }
}

fn row<'a>(out: &'a Output, metric: &str, window: &str, start: &str) -> &'a ComplianceRow {
    out.compliance
        .iter()
        .find(|c| c.metric == metric && c.window == window && c.start == start)
        .unwrap_or_else(|| panic!("no {metric} {window} {start} row"))
}

#[test]
fn noise_point_day_from_minute_readings() {
    let (mut e, _) = engine("", true);
    // Day 06–22: 15 h at 50 dB and 1 h at 70 dB → Ld 58.6 > 55 (class 1). Night 44 dB ≤ 45.
    noise_hours(&mut e, "2026-10-31", 6, 22, |h| {
        if h == 12 {
            70.0
        } else {
            50.0
        }
    });
    noise_hours(&mut e, "2026-10-31", 22, 30, |_| 44.0);
    let out = e.emit_all();
    let day = out.days.iter().find(|d| d.date == "2026-10-31").unwrap();
    let p = &day.noise[0].result;
    assert_eq!(
        (p.day.leq, p.day.ok, p.day.valid_hours),
        (Some(58.6), Some(false), 16)
    );
    assert_eq!(
        (p.night.leq, p.night.ok, p.night.valid_hours),
        (Some(44.0), Some(true), 8)
    );
    // Lmax 54 ≤ 45 + 15.
    assert_eq!(p.night.lmax_ok, Some(true));
    let night = row(&out, "noise_night_compliance", "day", "2026-10-31");
    assert_eq!((night.numerator, night.denominator), (1.0, 1.0));
    let dayc = row(&out, "noise_day_compliance_1", "day", "2026-10-31");
    assert_eq!((dayc.numerator, dayc.denominator), (0.0, 1.0));
    // The night ran into November but belongs to 31 October: October's month row has it.
    let oct = row(&out, "noise_night_compliance", "month", "2026-10-01");
    assert_eq!((oct.numerator, oct.denominator), (1.0, 1.0));
    assert!(
        !out.compliance
            .iter()
            .any(|c| c.metric == "noise_night_compliance" && c.start == "2026-11-01"),
        "no November night without data"
    );
    let cov = row(&out, "noise_zone_coverage", "day", "2026-10-31");
    assert_eq!((cov.numerator, cov.denominator), (0.0, 2.0));
}

#[test]
fn a_reading_delivered_twice_counts_once() {
    let (mut e, _) = engine("", true);
    let s = noise(at("2026-11-02", 10, 1), 60.0);
    assert_eq!(e.ingest(0, &s), Ingest::Counted);
    assert_eq!(e.ingest(0, &s), Ingest::Duplicate);
    assert_eq!(s.ts, 1_793_584_860);
    let lines = b"noise,device=n1,site=town,zone_class=1 laeq=60,seq=2i,period_s=60i 1793584920\n\
noise,device=n1,site=town,zone_class=1 laeq=60,seq=2i,period_s=60i 1793584920\n\
compliance,metric=x,site=town,window=day value=1 1793584860\n\
noise,device=zz,site=town,zone_class=1 laeq=60,seq=1i,period_s=60i 1793584860\n\
noise,device=n1,site=town,zone_class=1 laeq=loud,seq=3i,period_s=60i 1793584980\n";
    // counted, duplicate, late, unreadable; other measurements and unknown devices skipped.
    assert_eq!(e.ingest_lines(lines), [1, 1, 0, 1]);
}

#[test]
fn days_close_after_the_lateness_and_late_readings_are_counted() {
    let (mut e, _) = engine("[standards]\nlateness_secs = 3600", false);
    noise_hours(&mut e, "2026-11-02", 10, 11, |_| 50.0);
    let first = e.emit();
    assert!(!first.days[0].complete);
    // Watermark at 12:30 on the 3rd: the 2nd is complete (noon passed) but still open.
    e.ingest(0, &noise(at("2026-11-03", 12, 30), 50.0));
    let out = e.emit();
    let d2 = out.days.iter().find(|d| d.date == "2026-11-02").unwrap();
    assert!(d2.complete);
    assert_eq!(
        e.ingest(0, &noise(at("2026-11-02", 15, 0), 50.0)),
        Ingest::Counted
    );
    // Past noon + 1 h lateness: the 2nd is closed.
    e.ingest(0, &noise(at("2026-11-03", 14, 1), 50.0));
    e.emit();
    assert_eq!(
        e.ingest(0, &noise(at("2026-11-02", 16, 0), 50.0)),
        Ingest::Late
    );
    // Its ratios remain in the month.
    let day = e.day_of(at("2026-11-02", 0, 0));
    let rows = e.compliance_for(day);
    assert!(rows
        .iter()
        .any(|c| c.metric == "noise_day_compliance" && c.window == "month" && c.days == 2));
}

#[test]
fn restart_from_saved_state_equals_an_uninterrupted_run() {
    let feed = |e: &mut Engine, from: i64, to: i64| {
        for h in from..to {
            for m in (5..=60).step_by(5) {
                let level = 40.0 + ((h * 7 + m) % 23) as f32;
                let s = Sample {
                    period_s: 300,
                    ..noise(at("2026-11-05", h, m), level)
                };
                e.ingest(0, &s);
                e.ingest(
                    1,
                    &Sample {
                        period_s: 300,
                        ..air(at("2026-11-05", h, m), level)
                    },
                );
            }
        }
    };
    let result = |e: &mut Engine| {
        let out = e.emit_all();
        let days = serde_json::to_string(&out.days).unwrap();
        let rows = serde_json::to_string(&out.compliance).unwrap();
        (days, rows)
    };
    let (mut whole, _) = engine("", false);
    feed(&mut whole, 0, 30);
    let want = result(&mut whole);
    assert!(want.0.contains("\"valid\":true"), "{}", want.0);

    let (mut first, _) = engine("", false);
    feed(&mut first, 0, 13);
    first.emit();
    let saved = first.save().unwrap();
    let (mut second, _) = engine("", false);
    second.restore(&saved).unwrap();
    // The buffer hands back some readings the saved state already had.
    feed(&mut second, 11, 30);
    assert_eq!(result(&mut second), want);
}

fn air(ts: i64, pm2_5: f32) -> Sample {
    let mut v = [None; 6];
    v[air_std::Pollutant::Pm2_5 as usize] = Some(pm2_5);
    v[air_std::Pollutant::Pm10 as usize] = Some(40.0);
    v[air_std::Pollutant::So2 as usize] = Some(8.0);
    v[air_std::Pollutant::No2 as usize] = Some(20.0);
    v[air_std::Pollutant::Co as usize] = Some(0.6);
    v[air_std::Pollutant::O3 as usize] = Some(60.0);
    Sample {
        ts,
        period_s: 3600,
        values: Values::Air(v),
    }
}

#[test]
fn air_days_take_the_edition_in_force_on_the_day() {
    let (mut e, _) = engine("", true);
    for date in ["2026-02-28", "2026-03-01"] {
        for h in 1..=24 {
            assert_eq!(e.ingest(1, &air(at(date, h, 0), 75.0)), Ingest::Counted);
        }
    }
    let out = e.emit_all();
    let site = |date: &str| {
        out.days
            .iter()
            .find(|d| d.date == date)
            .and_then(|d| d.air.iter().find(|a| a.device == "_site"))
            .unwrap()
            .clone()
    };
    let feb = site("2026-02-28");
    assert_eq!(
        (feb.aqi.standard, feb.aqi.aqi, feb.good),
        ("2012", Some(100), Some(true))
    );
    let mar = site("2026-03-01");
    assert_eq!(
        (mar.aqi.standard, mar.aqi.aqi, mar.good),
        ("2026", Some(114), Some(false))
    );
    assert_eq!(mar.aqi_2012.as_ref().unwrap().aqi, Some(100));
    assert_eq!(mar.aqi.primary, vec!["pm2_5"]);
    let good = |start: &str| {
        let r = row(&out, "air_good_days", "month", start);
        (r.numerator, r.denominator)
    };
    assert_eq!(good("2026-02-01"), (1.0, 1.0));
    assert_eq!(good("2026-03-01"), (0.0, 1.0));
    let q1 = row(&out, "air_good_days", "quarter", "2026-01-01");
    assert_eq!((q1.numerator, q1.denominator, q1.days), (1.0, 2.0, 2));
    let both = row(&out, "air_good_days_2012", "quarter", "2026-01-01");
    assert_eq!((both.numerator, both.denominator), (2.0, 2.0));
}

#[test]
fn air_day_with_too_few_hours_is_invalid_and_counted() {
    let (mut e, _) = engine("", true);
    for h in 1..=19 {
        e.ingest(1, &air(at("2026-11-10", h, 0), 30.0));
    }
    let out = e.emit_all();
    let r = row(&out, "air_good_days", "day", "2026-11-10");
    assert_eq!((r.numerator, r.denominator, r.invalid), (0.0, 0.0, 1.0));
    assert_eq!(r.value, None);
}

/// One main-road lamp (device index 2) lit 18:00–06:00.
const ONE_LAMP: &str = r#"
[[devices]]
id = "l1"
site = "town"
kind = "streetlight"
lat = 30.0
lon = 110.0
road_class = "main"

[standards.lighting]
schedule = { type = "fixed", on = "18:00", off = "06:00" }
"#;

/// A lighting night still in progress counts only the scheduled time that has passed: a lamp
/// lit from 18:00 to 21:00 is at 100 % live, and the full night decides once the day closes.
#[test]
fn live_lighting_rate_counts_the_schedule_up_to_now() {
    let (mut e, _) = engine(ONE_LAMP, true);
    let light = |ts: i64| Sample {
        ts,
        period_s: 60,
        values: Values::Light {
            on: true,
            faults: 0,
            power_w: Some(60.0),
        },
    };
    for m in 1..=180 {
        assert_eq!(
            e.ingest(2, &light(at("2026-11-20", 18, m))),
            Ingest::Counted
        );
    }
    let out = e.emit();
    let live = row(&out, "lighting_rate_main", "day", "2026-11-20");
    assert_eq!((live.numerator, live.denominator), (180.0, 180.0));
    assert_eq!(live.percent, Some(100.0));
    // Dark from 21:00 until the day closes at noon: 180 of 720 scheduled minutes.
    for m in (181..=18 * 60).step_by(60) {
        let mut s = light(at("2026-11-20", 18, m));
        s.values = Values::Light {
            on: false,
            faults: 0,
            power_w: None,
        };
        e.ingest(2, &s);
    }
    let out = e.emit();
    let closed = row(&out, "lighting_rate_main", "day", "2026-11-20");
    assert_eq!(closed.denominator, 720.0);
    assert_eq!(closed.numerator, 180.0);
}

/// A dead tube is only detectable while switched on: the morning's off readings keep the
/// night's lamp failure, so the lamp is not counted intact for that lighting day.
#[test]
fn a_lamp_failure_seen_at_night_is_kept_through_the_off_readings() {
    let (mut e, _) = engine(ONE_LAMP, true);
    let light = |ts: i64, on: bool, faults: u8| Sample {
        ts,
        period_s: 3600,
        values: Values::Light {
            on,
            faults,
            power_w: Some(0.0),
        },
    };
    let dead = meili_firmware::Fault::LampFailure.bit();
    // Relay on from 18:00 to 06:00 with no current (lamp failure), off until noon.
    for h in 19..=30 {
        e.ingest(2, &light(at("2026-11-20", h, 0), true, dead));
    }
    for h in 31..=36 {
        e.ingest(2, &light(at("2026-11-20", h, 0), false, 0));
    }
    let out = e.emit();
    let intact = row(&out, "lighting_intact", "day", "2026-11-20");
    assert_eq!((intact.numerator, intact.denominator), (0.0, 1.0));
    // The next lighting day: still faulty in the afternoon (off), intact once seen lit at dusk.
    for h in 37..=40 {
        e.ingest(2, &light(at("2026-11-20", h, 0), false, 0));
    }
    let out = e.emit();
    let next = row(&out, "lighting_intact", "day", "2026-11-21");
    assert_eq!((next.numerator, next.denominator), (0.0, 1.0));
    for h in 43..=44 {
        e.ingest(2, &light(at("2026-11-20", h, 0), true, 0));
    }
    let out = e.emit();
    let next = row(&out, "lighting_intact", "day", "2026-11-21");
    assert_eq!((next.numerator, next.denominator), (1.0, 1.0));
    // A lamp whose last reading was off and that had no failure counts as intact.
    let (mut e, _) = engine(ONE_LAMP, true);
    for h in 19..=36 {
        e.ingest(2, &light(at("2026-11-20", h, 0), (19..=30).contains(&h), 0));
    }
    let out = e.emit();
    let intact = row(&out, "lighting_intact", "day", "2026-11-20");
    assert_eq!((intact.numerator, intact.denominator), (1.0, 1.0));
}
