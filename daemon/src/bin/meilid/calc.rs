//! `meilid calc`: the standards' arithmetic for one set of numbers.

use crate::args::Calc;
use crate::output::{date, print_json_or, timezone};

pub fn calc(what: Calc) -> anyhow::Result<()> {
    use meili_daemon::calc;
    use meili_daemon::standards::aqi::{Conc, Edition, Inputs};
    match what {
        Calc::Aqi {
            standard,
            pm2_5,
            pm10,
            so2,
            no2,
            co,
            o3_1h,
            o3_8h,
            hourly,
            no_round,
            format,
        } => {
            let ed = Edition::parse(&standard)
                .ok_or_else(|| anyhow::anyhow!("--standard is 2012 or 2026"))?;
            let num = |name: &str, v: Option<String>| -> anyhow::Result<Option<f64>> {
                v.map(|s| {
                    Conc::parse(&s).map(Conc::to_f64).ok_or_else(|| {
                        anyhow::anyhow!("--{name} {s:?} is not a non-negative decimal")
                    })
                })
                .transpose()
            };
            let input = Inputs {
                pm2_5: num("pm2_5", pm2_5)?,
                pm10: num("pm10", pm10)?,
                so2: num("so2", so2)?,
                no2: num("no2", no2)?,
                co: num("co", co)?,
                o3_1h: num("o3_1h", o3_1h)?,
                o3_8h: num("o3_8h", o3_8h)?,
            };
            let a = calc::aqi(ed, hourly, !no_round, &input);
            let t = aqi_text(&a);
            print_json_or(format, &a, t)
        }
        Calc::Leq { levels, format } => {
            let r = calc::leq(&calc::parse_levels(&levels)?)?;
            print_json_or(
                format,
                &r,
                format!("Leq = {:.1} dB ({} levels)\n", r.leq, r.n),
            )
        }
        Calc::Ldn {
            levels,
            day_start_hour,
            zone_class,
            format,
        } => {
            let hourly = hourly_levels(&levels)?;
            let class = zone_class.as_deref().map(parse_zone_class).transpose()?;
            let r = calc::ldn(&hourly, day_start_hour, class)?;
            let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            let t = format!(
                "Ld = {} dB ({} h)  Ln = {} dB ({} h)  Ldn = {} dB\n",
                f(r.ld),
                r.day_hours.len(),
                f(r.ln),
                r.night_hours.len(),
                f(r.ldn)
            );
            print_json_or(format, &r, t)
        }
        Calc::Sun {
            lat,
            lon,
            date: d,
            timezone: tz,
            format,
        } => {
            let r = calc::sun(lat, lon, date(&d)?, &timezone(&tz)?);
            let t = format!(
                "{}: sunrise {}  sunset {}\n",
                r.date,
                r.sunrise.as_deref().unwrap_or(r.note.unwrap_or("-")),
                r.sunset.as_deref().unwrap_or(r.note.unwrap_or("-"))
            );
            print_json_or(format, &r, t)
        }
        Calc::Lighting {
            lat,
            lon,
            date: d,
            on_offset_min,
            off_offset_min,
            timezone: tz,
            format,
        } => {
            let schedule = meili_daemon::standards::lighting::Schedule::Sun {
                on_offset_min,
                off_offset_min,
            };
            let r = calc::lighting_window(&schedule, lat, lon, date(&d)?, &timezone(&tz)?);
            let t = format!(
                "{}: on {}  off {}  ({} min)\n",
                r.date, r.on, r.off, r.lit_minutes
            );
            print_json_or(format, &r, t)
        }
    }
}

/// `calc aqi` as text: the index, category, primary pollutants, each IAQI.
fn aqi_text(a: &meili_daemon::standards::aqi::Aqi) -> String {
    let mut t = format!(
        "AQI ({}): {}",
        a.standard,
        match (a.aqi, a.max_iaqi) {
            (Some(x), _) => x.to_string(),
            (None, Some(m)) => format!("NA (pollutants missing; highest IAQI given {m})"),
            (None, None) => "NA".to_string(),
        }
    );
    if let (Some(c), Some(zh), Some(en)) = (a.category, a.category_zh, a.category_en) {
        t += &format!("  category {c} {zh} ({en})");
    }
    if !a.primary.is_empty() {
        t += &format!("  primary {}", a.primary.join(", "));
    }
    t.push('\n');
    for (k, v) in &a.iaqi {
        t += &format!(
            "  IAQI {k:<6} {v:>4}  (C = {})\n",
            a.concentrations.get(k).copied().unwrap_or(f64::NAN)
        );
    }
    if !a.missing.is_empty() {
        t += &format!("  missing: {}\n", a.missing.join(", "));
    }
    t
}

/// `--levels 55,56,,54`: one level per hour, empty for an hour without a valid Leq.
fn hourly_levels(levels: &str) -> anyhow::Result<Vec<Option<f64>>> {
    levels
        .split(',')
        .map(|x| x.trim())
        .map(|x| {
            if x.is_empty() {
                Ok(None)
            } else {
                x.parse::<f64>().map(Some)
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--levels: {e}"))
}

fn parse_zone_class(c: &str) -> anyhow::Result<meili_daemon::config::ZoneClass> {
    meili_daemon::config::ZoneClass::ALL
        .into_iter()
        .find(|z| z.as_str() == c)
        .ok_or_else(|| anyhow::anyhow!("--zone-class is one of 0 1 2 3 4a 4b"))
}
