use super::*;

fn pm25(ed: Edition, c: &str) -> i64 {
    match iaqi(Item::Pm2_5, Basis::Day, ed, Conc::parse(c).unwrap()) {
        Iaqi::Value(v) => v,
        Iaqi::UseOther => panic!("no value"),
    }
}

fn daily(ed: Edition, input: Inputs) -> Aqi {
    let o3_1h = ed == Edition::Hj633_2012;
    compute(ed, Report::Daily { o3_1h }, &input, true)
}

#[test]
fn worked_checks_from_domain() {
    // DOMAIN.md §1.3: PM2.5 75 → 100 (2012) / 114 (2026); PM10 150 → 100 / 112.
    assert_eq!(pm25(Edition::Hj633_2012, "75"), 100);
    assert_eq!(pm25(Edition::Hj633_2026, "75"), 114);
    let pm10 = |ed, c| iaqi(Item::Pm10, Basis::Day, ed, Conc::parse(c).unwrap());
    assert_eq!(pm10(Edition::Hj633_2012, "150"), Iaqi::Value(100));
    assert_eq!(pm10(Edition::Hj633_2026, "150"), Iaqi::Value(112));
    // Unrounded decimals go up: 60.11 → 101 (2026), 35.01 → raw 50.02 → 51.
    assert_eq!(pm25(Edition::Hj633_2026, "60.11"), 101);
    assert_eq!(pm25(Edition::Hj633_2012, "35.01"), 51);
}

#[test]
fn exactly_on_breakpoints_is_not_pushed_up() {
    for (c, want) in [
        ("0", 0),
        ("35", 50),
        ("75", 100),
        ("115", 150),
        ("150", 200),
        ("250", 300),
        ("350", 400),
        ("500", 500),
    ] {
        assert_eq!(pm25(Edition::Hj633_2012, c), want, "PM2.5 {c}");
    }
    assert_eq!(pm25(Edition::Hj633_2026, "60"), 100);
    assert_eq!(pm25(Edition::Hj633_2026, "60.0"), 100);
    // Exact integers between nodes stay (the ceiling of an exact rational, issue 19):
    // 2026 PM2.5 71 → 100 + 50·11/55 = 110; 2012 PM2.5 43 → 50 + 50·8/40 = 60.
    assert_eq!(pm25(Edition::Hj633_2026, "71"), 110);
    assert_eq!(pm25(Edition::Hj633_2012, "43"), 60);
    // …and a hair above is the next integer: 2012 PM2.5 43.1 unrounded → 60.125 → 61.
    let c = iaqi(
        Item::Pm2_5,
        Basis::Day,
        Edition::Hj633_2012,
        Conc::parse("43.1").unwrap(),
    );
    assert_eq!(c, Iaqi::Value(61));
    // One above a node: 36 → 50 + 50/40·1 = 51.25 → 52.
    assert_eq!(pm25(Edition::Hj633_2012, "36"), 52);
    // CO 24 h 4.1 mg/m³: 100 + 50/10·0.1 = 100.5 → 101.
    let co = iaqi(
        Item::Co,
        Basis::Day,
        Edition::Hj633_2012,
        Conc::parse("4.1").unwrap(),
    );
    assert_eq!(co, Iaqi::Value(101));
    assert_eq!(
        pm25(Edition::Hj633_2012, "501"),
        500,
        "capped above the last node"
    );
}

#[test]
fn concentration_rounding_is_half_even_before_iaqi() {
    assert_eq!(Conc::parse("35.5").unwrap().round(0).m, 36);
    assert_eq!(Conc::parse("36.5").unwrap().round(0).m, 36);
    assert_eq!(Conc::parse("36.51").unwrap().round(0).m, 37);
    assert_eq!(round_conc(Item::Co, 0.85).unwrap(), Conc { m: 8, scale: 1 });
    assert_eq!(
        round_conc(Item::Co, 0.95).unwrap(),
        Conc { m: 10, scale: 1 }
    );
    // With rounding, 60.11 is 60 → IAQI 100 (2026), category 良.
    let a = daily(
        Edition::Hj633_2026,
        Inputs {
            pm2_5: Some(60.11),
            pm10: Some(20.0),
            so2: Some(5.0),
            no2: Some(10.0),
            co: Some(0.4),
            o3_8h: Some(50.0),
            ..Inputs::default()
        },
    );
    assert_eq!(a.aqi, Some(100));
    assert_eq!(a.primary, vec!["pm2_5"]);
}

#[test]
fn above_800_special_cases_differ_by_edition() {
    let c = |s| Conc::parse(s).unwrap();
    // SO2 1 h above 800: 2012 defers to the 24-h IAQI, 2026 reports 200.
    assert_eq!(
        iaqi(Item::So2, Basis::Hour, Edition::Hj633_2012, c("801")),
        Iaqi::UseOther
    );
    assert_eq!(
        iaqi(Item::So2, Basis::Hour, Edition::Hj633_2026, c("801")),
        Iaqi::Value(200)
    );
    assert_eq!(
        iaqi(Item::So2, Basis::Hour, Edition::Hj633_2012, c("800")),
        Iaqi::Value(200)
    );
    // O3 8 h above 800: 2012 uses the O3 1-h IAQI, 2026 reports 300.
    let input = Inputs {
        pm2_5: Some(10.0),
        pm10: Some(10.0),
        so2: Some(5.0),
        no2: Some(10.0),
        co: Some(0.5),
        o3_1h: Some(900.0),
        o3_8h: Some(850.0),
    };
    let a12 = daily(Edition::Hj633_2012, input);
    // O3 1 h 900: 300 + 100·100/200 = 350.
    assert_eq!(a12.iaqi["o3_8h"], 350);
    assert_eq!(a12.aqi, Some(350));
    assert_eq!(a12.primary, vec!["o3_1h", "o3_8h"]);
    let a26 = daily(Edition::Hj633_2026, input);
    assert_eq!(a26.iaqi["o3_8h"], 300);
    assert_eq!(a26.aqi, Some(300));
    assert!(
        !a26.iaqi.contains_key("o3_1h"),
        "2026 daily AQI uses O3 8 h only"
    );
}

#[test]
fn primary_pollutants_tie_and_none_below_51() {
    // PM2.5 75 → 100, PM10 150 → 100 (2012): both primary.
    let a = daily(
        Edition::Hj633_2012,
        Inputs {
            pm2_5: Some(75.0),
            pm10: Some(150.0),
            so2: Some(5.0),
            no2: Some(10.0),
            co: Some(0.5),
            o3_1h: Some(50.0),
            o3_8h: Some(40.0),
        },
    );
    assert_eq!(a.aqi, Some(100));
    assert_eq!(a.primary, vec!["pm2_5", "pm10"]);
    assert_eq!(a.category, Some(2));
    assert_eq!(a.category_zh, Some("良"));
    assert!(a.exceeding.is_empty());
    let clean = daily(
        Edition::Hj633_2012,
        Inputs {
            pm2_5: Some(20.0),
            pm10: Some(30.0),
            so2: Some(5.0),
            no2: Some(10.0),
            co: Some(0.5),
            o3_1h: Some(50.0),
            o3_8h: Some(40.0),
        },
    );
    assert_eq!(clean.category, Some(1));
    assert!(clean.primary.is_empty());
}

#[test]
fn missing_pollutant_gives_na_only_when_the_rest_is_good() {
    let mut input = Inputs {
        pm2_5: Some(50.0),
        pm10: Some(60.0),
        so2: Some(5.0),
        no2: Some(10.0),
        ..Inputs::default()
    };
    let a = daily(Edition::Hj633_2026, input);
    assert_eq!(a.aqi, None);
    assert_eq!(a.missing, vec!["co", "o3"]);
    assert_eq!(a.iaqi["pm2_5"], 80); // 35..60 → 50 + 50·15/25
    input.pm2_5 = Some(100.0);
    let a = daily(Edition::Hj633_2026, input);
    // 100 in 60..115 → 100 + 50·40/55 = 136.36 → 137: published with the missing items listed.
    assert_eq!(a.aqi, Some(137));
    assert_eq!(a.category, Some(3));
    assert_eq!(a.exceeding, vec!["pm2_5"]);
}

#[test]
fn hourly_report_uses_one_hour_columns_for_gases() {
    let input = Inputs {
        pm2_5: Some(75.0),
        pm10: Some(50.0),
        so2: Some(150.0),
        no2: Some(100.0),
        co: Some(5.0),
        o3_1h: Some(160.0),
        o3_8h: Some(100.0),
    };
    let a = compute(Edition::Hj633_2012, Report::Hourly, &input, true);
    assert_eq!(a.iaqi["so2"], 50);
    assert_eq!(a.iaqi["no2"], 50);
    assert_eq!(a.iaqi["co"], 50);
    assert_eq!(a.iaqi["pm2_5"], 100);
    assert_eq!(a.aqi, Some(100));
}

#[test]
fn categories() {
    let names: Vec<_> = [0, 51, 101, 151, 201, 301]
        .into_iter()
        .map(|a| (category(a), category_en(category(a))))
        .collect();
    assert_eq!(names[0], (1, "excellent"));
    assert_eq!(names[5], (6, "severely polluted"));
    assert_eq!(category(50), 1);
    assert_eq!(category(100), 2);
    assert_eq!(category(300), 5);
}
