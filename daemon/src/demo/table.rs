//! The live table `meilid demo` prints: one row per device, one per noise zone class, and the
//! standards engine's compliance figures for today and this month.

use std::fmt::Write as _;

use meili_firmware::Kind;

use crate::config::ZoneClass;
use crate::gateway::Shared;
use crate::standards::noise;

/// Render the table for `now_unix`; `night` selects which limit applies.
pub fn render(shared: &Shared, now_unix: i64, night: bool) -> String {
    let mut out = String::new();
    let live = shared.live.lock().unwrap_or_else(|e| e.into_inner());
    let m = &shared.metrics;
    let _ = writeln!(
        out,
        "meilid — {} period — readings accepted {}, rejected {}",
        if night { "night" } else { "day" },
        m.accepted_total(),
        m.rejected_total(),
    );
    let _ = writeln!(
        out,
        "{:<6} {:<6} {:<12} {:<34} {:>6} {:>6} {:>5}  status",
        "site", "device", "kind/class", "latest reading", "age_s", "count", "rssi",
    );
    let mut zones: Vec<(ZoneClass, Vec<f64>)> =
        ZoneClass::ALL.iter().map(|z| (*z, Vec::new())).collect();
    for (id, dev) in shared.registry.iter() {
        let st = live.get(id);
        let r = st.last();
        let class = dev
            .config
            .zone_class
            .map(|z| z.as_str())
            .or(dev.config.road_class.map(|c| c.as_str()))
            .or(dev.config.toilet_class.map(|c| c.as_str()))
            .unwrap_or("");
        let latest = latest(dev.kind(), r);
        let leq = r.and_then(|r| r.laeq);
        let age = st
            .last_seen_unix
            .map_or("-".to_string(), |t| (now_unix - t).max(0).to_string());
        let online = st
            .status
            .as_ref()
            .map_or("?", |s| if s.online { "online" } else { "OFFLINE" });
        let rssi = st
            .status
            .as_ref()
            .and_then(|s| s.rssi_dbm)
            .map_or("-".to_string(), |r| r.to_string());
        let _ = writeln!(
            out,
            "{:<6} {:<6} {:<12} {:<34} {:>6} {:>6} {:>5}  {}",
            dev.site(),
            dev.id(),
            format!("{} {class}", dev.kind().as_str()),
            latest,
            age,
            st.readings,
            rssi,
            online
        );
        if let (Kind::Noise, Some(z), Some(l)) = (dev.kind(), dev.config.zone_class, leq) {
            if let Some(slot) = zones.iter_mut().find(|(c, _)| *c == z) {
                slot.1.push(f64::from(l));
            }
        }
    }
    zone_rows(&mut out, &zones, night);
    compliance_rows(&mut out, shared);
    out
}

/// The latest reading's headline fields for the device's kind.
fn latest(kind: Kind, r: Option<&meili_firmware::Reading>) -> String {
    let f = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let g = |pick: fn(&meili_firmware::Reading) -> Option<f32>| f(r.and_then(pick));
    match kind {
        Kind::Noise => format!(
            "LAeq {} max {} min {}",
            g(|r| r.laeq),
            g(|r| r.lamax),
            g(|r| r.lamin)
        ),
        Kind::Air => format!(
            "PM2.5 {} PM10 {} O3 {}",
            g(|r| r.pm2_5),
            g(|r| r.pm10),
            g(|r| r.o3)
        ),
        Kind::Toilet => format!(
            "{}/{} busy, {} in, NH3 {}",
            r.and_then(|r| r.occupied)
                .map_or("-".into(), |v| v.to_string()),
            r.and_then(|r| r.stalls)
                .map_or("-".into(), |v| v.to_string()),
            r.and_then(|r| r.entries)
                .map_or("-".into(), |v| v.to_string()),
            r.and_then(|r| r.nh3)
                .map_or("-".into(), |v| format!("{v:.2}")),
        ),
        Kind::Streetlight => {
            let faults: Vec<&str> = r
                .and_then(|r| r.faults.as_ref())
                .map(|f| f.iter().map(|x| x.as_str()).collect())
                .unwrap_or_default();
            format!(
                "{} {} W {}",
                match r.and_then(|r| r.lamp_on) {
                    Some(true) => "on",
                    Some(false) => "off",
                    None => "-",
                },
                g(|r| r.power_w),
                faults.join(",")
            )
        }
    }
}

/// One row per noise zone class: the energy mean of its points' latest periods against the limit.
fn zone_rows(out: &mut String, zones: &[(ZoneClass, Vec<f64>)], night: bool) {
    let _ = writeln!(
        out,
        "\n{:<5} {:>7} {:>12} {:>7}  latest period",
        "zone", "points", "LAeq(energy)", "limit",
    );
    for (zone, levels) in zones.iter().filter(|(_, l)| !l.is_empty()) {
        let (day, night_limit) = noise::limits(*zone);
        let limit = if night { night_limit } else { day };
        let leq = noise::energy_mean(levels.iter().copied()).unwrap_or(0.0);
        let verdict = if leq <= limit {
            "within limit"
        } else {
            "ABOVE LIMIT"
        };
        let _ = writeln!(
            out,
            "{:<5} {:>7} {:>12.1} {:>7.0}  {}",
            zone.as_str(),
            levels.len(),
            leq,
            limit,
            verdict
        );
    }
}

/// The engine's headline compliance figures for today and this month.
fn compliance_rows(out: &mut String, shared: &Shared) {
    let rows = shared
        .compliance
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let _ = writeln!(
        out,
        "\n{:<30} {:<6} {:>8} {:>8} {:>4}  points/days (invalid)",
        "compliance (so far)", "window", "value", "target", "met"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "(first figures after the engine's next emission)");
    } else {
        let _ = writeln!(
            out,
            "(a point-day needs 12 valid day hours or 6 night hours, each 75 % covered: a short demo counts them as invalid; see docs/standards.md)"
        );
    }
    for c in rows
        .iter()
        .filter(|c| c.window == "day" || c.window == "month")
        // The headline metrics (not the per-class and per-edition ones).
        .filter(|c| {
            let suffix = c.metric.rsplit('_').next().unwrap_or("");
            !matches!(
                suffix,
                "0" | "1" | "2" | "3" | "4a" | "4b" | "2012" | "2026"
            )
        })
    {
        // Density is toilets per km², not a share.
        let pct = |v: Option<f64>| match v {
            None => "-".to_string(),
            Some(v) if c.metric == "toilet_density" => format!("{:.2}/km²", v / 100.0),
            Some(v) => format!("{v:.1} %"),
        };
        let _ = writeln!(
            out,
            "{:<30} {:<6} {:>8} {:>8} {:>4}  {}/{} ({})",
            c.metric,
            c.window,
            pct(c.percent),
            pct(c.target.map(|t| t * 100.0)),
            c.met.map_or("-", |m| if m { "yes" } else { "no" }),
            num(c.numerator),
            num(c.denominator),
            num(c.invalid)
        );
    }
}

/// A count as an integer, an area or minutes with two decimals.
fn num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
