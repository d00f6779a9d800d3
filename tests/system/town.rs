//! A generated month (October 2026, Asia/Shanghai) for a small town, and its expected figures
//! computed here from the generation rules, independently of the daemon's code.
//!
//! 6 noise points (one per class), 2 air stations, 200 lamps (120 main, 80 secondary, branch
//! and alley), 5 toilets. The capture is NDJSON as `meilid replay` reads it.

use std::fmt::Write as _;

pub const NOISE: [(&str, &str, f64, f64, f64); 6] = [
    // id, class, day limit, night limit, area km²
    ("n1", "0", 50.0, 40.0, 0.3),
    ("n2", "1", 55.0, 45.0, 0.5),
    ("n3", "2", 60.0, 50.0, 0.8),
    ("n4", "3", 65.0, 55.0, 1.0),
    ("n5", "4a", 70.0, 55.0, 0.4),
    ("n6", "4b", 70.0, 60.0, 0.6),
];
pub const LAMPS: usize = 200;
pub const TOILETS: usize = 5;
pub const DAYS: i64 = 31;

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// 1 October 2026 as a day number.
pub fn oct1() -> i64 {
    days_from_civil(2026, 10, 1)
}

/// Unix time of local hour `h` (hours since local 1970-01-01 00:00, UTC+8).
pub fn unix_of_hour(h: i64) -> i64 {
    h * 3600 - 8 * 3600
}

fn energy_mean(levels: &[f64]) -> f64 {
    let sum: f64 = levels.iter().map(|l| 10f64.powf(l / 10.0)).sum();
    10.0 * (sum / levels.len() as f64).log10()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---- noise ----------------------------------------------------------------------------

/// Level of point `p` in local hour `h` (absolute), and whether the point reported then.
pub fn noise_level(p: usize, h: i64) -> Option<f64> {
    let (_, _, dl, nl, _) = NOISE[p];
    let day = h.div_euclid(24) - oct1();
    let hod = h.rem_euclid(24);
    if p == 5 && (9..=11).contains(&day) && hod < 5 {
        return None; // n6 silent 00–05 on 10–12 Oct: the nights of 9–11 Oct are invalid
    }
    if p == 2 && day == 19 && (8..14).contains(&hod) {
        return None; // n3 silent 08–14 on 20 Oct: that day period is invalid
    }
    let is_day = (6..22).contains(&hod);
    let base = if is_day { dl } else { nl } - 2.0;
    let delta = ((p as i64 * 37 + h * 11).rem_euclid(9) - 4) as f64;
    // A loud evening on some days: +12 dB at 23:00, +10 dB at 14:00.
    let event_day = (h.div_euclid(24) - oct1() + p as i64).rem_euclid(6) == 0;
    let event = match hod {
        23 if event_day => 12.0,
        14 if event_day => 10.0,
        _ => 0.0,
    };
    Some(base + delta + event)
}

/// Per point and October day: (day valid, day ok, night valid, night ok, lmax ok).
pub fn noise_expected(p: usize, k: i64) -> (bool, bool, bool, bool, bool) {
    let (_, _, dl, nl, _) = NOISE[p];
    let d0 = (oct1() + k) * 24;
    let day: Vec<f64> = (d0 + 6..d0 + 22)
        .filter_map(|h| noise_level(p, h))
        .collect();
    let night: Vec<f64> = (d0 + 22..d0 + 30)
        .filter_map(|h| noise_level(p, h))
        .collect();
    let day_valid = day.len() >= 12;
    let night_valid = night.len() >= 6;
    let day_ok = day_valid && round1(energy_mean(&day)) <= dl;
    let night_ok = night_valid && round1(energy_mean(&night)) <= nl;
    let lmax = night.iter().map(|l| l + 8.0).fold(f64::MIN, f64::max);
    let lmax_ok = night_valid && lmax <= nl + 15.0;
    (day_valid, day_ok, night_valid, night_ok, lmax_ok)
}

// ---- air ------------------------------------------------------------------------------

/// Site PM2.5 of October day `k` (the two stations are 3 below and above it).
pub fn site_pm25(k: i64) -> i64 {
    40 + (k * 17).rem_euclid(35)
}

/// Stations are silent 00–05 on 25 October (k = 24): the day is not valid.
fn air_reports(k: i64, hod: i64) -> bool {
    !(k == 24 && hod < 5)
}

// ---- lighting -------------------------------------------------------------------------

pub fn road_class(i: usize) -> &'static str {
    match i {
        0..120 => "main",
        120..160 => "secondary",
        160..180 => "branch",
        _ => "alley",
    }
}

fn lamp_failed(i: usize, k: i64) -> bool {
    (i as i64 + k).rem_euclid(37) == 0
}
fn lamp_off_hour(i: usize, k: i64) -> bool {
    (i as i64 * 3 + k).rem_euclid(50) == 0
}
fn lamp_day_burn(i: usize, k: i64) -> bool {
    (i as i64 + 2 * k).rem_euclid(97) == 0
}

/// Lamp `i` in lighting day `k`, hour `r` after noon (0–23): (on, failed, power W).
fn lamp_state(i: usize, k: i64, r: i64) -> (bool, bool, f64) {
    let failed = lamp_failed(i, k);
    let scheduled = (6..18).contains(&r); // 18:00–06:00
    let on = if scheduled {
        !(r == 11 && lamp_off_hour(i, k))
    } else {
        r == 19 && lamp_day_burn(i, k)
    };
    (on, failed, if on { 100.0 } else { 0.0 })
}

/// (lit minutes, scheduled minutes, intact, snapshot lit, snapshot due, day-burning minutes)
/// for one road group (`main` or not) in lighting day `k`.
pub fn lighting_expected(main: bool, k: i64) -> [f64; 6] {
    let mut x = [0.0; 6];
    for i in (0..LAMPS).filter(|&i| (road_class(i) == "main") == main) {
        x[1] += 720.0;
        x[4] += 1.0;
        if lamp_failed(i, k) {
            x[5] += if lamp_day_burn(i, k) { 60.0 } else { 0.0 };
            continue;
        }
        x[2] += 1.0;
        x[3] += 1.0; // lit at 21:00 unless failed
        x[0] += if lamp_off_hour(i, k) { 660.0 } else { 720.0 };
        if lamp_day_burn(i, k) {
            x[5] += 60.0;
        }
    }
    x
}

// ---- toilets --------------------------------------------------------------------------

pub const TOILET_CLASS: [&str; TOILETS] = ["1", "1", "2", "2", "3"];

fn toilet_open_at(t: usize, minute_of_day: i64) -> bool {
    t == 4 || (6 * 60..22 * 60).contains(&minute_of_day)
}

/// Toilet `t`'s reading ending at local minute `m` (absolute minutes since the local epoch).
/// Returns (occupied, open flag, entry increment, nh3).
fn toilet_reading(t: usize, m: i64) -> (u32, bool, u32, f64) {
    let mid = m * 60 - 150;
    let hod = mid.rem_euclid(86_400) / 3600;
    let minute = mid.rem_euclid(86_400) / 60;
    let k = mid.div_euclid(86_400) - oct1();
    let occupied = if hod == 8 + t as i64 { 4 } else { 1 };
    let open = !(t == 3 && hod == 6);
    let inc = if toilet_open_at(t, minute) { 3 } else { 0 };
    let nh3 = if hod == 12 && k.rem_euclid(5) == t as i64 {
        3.5
    } else {
        0.25
    };
    (occupied, open, inc, nh3)
}

/// Reading end times (local minutes) of the month: 00:05 on 1 Oct … 00:00 on 1 Nov.
fn toilet_minutes() -> impl Iterator<Item = i64> {
    let start = oct1() * 1440;
    (1..=DAYS * 288).map(move |j| start + j * 5)
}

/// (measured open minutes, available minutes, entries, odour ok hours, odour hours).
pub fn toilet_expected(t: usize, k: i64) -> [f64; 5] {
    let open_minutes = if t == 4 { 1440.0 } else { 960.0 };
    let full_hour = 60.0;
    let closed_hour = if t == 3 { 60.0 } else { 0.0 };
    let day_start = (oct1() + k) * 1440;
    let mut entries = 0.0;
    let mut first = true;
    for m in toilet_minutes() {
        let (_, _, inc, _) = toilet_reading(t, m);
        let in_day = (day_start..day_start + 1440).contains(&m);
        if first {
            first = false; // no earlier value to count from
            continue;
        }
        if in_day {
            entries += f64::from(inc);
            if t == 0 && m == reset_minute() {
                entries -= f64::from(inc); // the counter restarted at 0
            }
        }
    }
    let bad = if k.rem_euclid(5) == t as i64 {
        1.0
    } else {
        0.0
    };
    [
        open_minutes,
        open_minutes - full_hour - closed_hour,
        entries,
        24.0 - bad,
        24.0,
    ]
}

/// Toilet 0's counter restarts at 12:00 on 15 October.
fn reset_minute() -> i64 {
    (oct1() + 14) * 1440 + 12 * 60
}

// ---- configuration and capture ---------------------------------------------------------

pub fn config() -> String {
    let mut c = String::from(
        "[daemon]\ntimezone = \"Asia/Shanghai\"\n\n[standards.lighting]\nschedule = { type = \"fixed\", on = \"18:00\", off = \"06:00\" }\ninspection_time = \"21:00\"\n\n[standards.sites.town]\nbuilt_up_area_km2 = 2.5\nbusy_points = [\n  { name = \"market\", lat = 30.0027, lon = 110.0 },\n  { name = \"station\", lat = 30.0036, lon = 110.002 },\n  { name = \"far\", lat = 30.1, lon = 110.1 },\n]\n\n",
    );
    for (id, class, _, _, area) in NOISE {
        let _ = writeln!(
            c,
            "[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 30.0\nlon = 110.0\nzone_class = \"{class}\"\narea_km2 = {area}\n"
        );
    }
    for a in ["a1", "a2"] {
        let _ = writeln!(
            c,
            "[[devices]]\nid = \"{a}\"\nsite = \"town\"\nkind = \"air\"\nlat = 30.0\nlon = 110.0\n"
        );
    }
    for i in 0..LAMPS {
        let _ = writeln!(
            c,
            "[[devices]]\nid = \"l{i:03}\"\nsite = \"town\"\nkind = \"streetlight\"\nlat = {}\nlon = 110.0\nroad_class = \"{}\"\n",
            30.0 + i as f64 * 1e-4,
            road_class(i)
        );
    }
    for (t, class) in TOILET_CLASS.iter().enumerate() {
        let hours = if t == 4 {
            "opening_hours = \"00:00-24:00\"\n"
        } else {
            ""
        };
        let _ = writeln!(
            c,
            "[[devices]]\nid = \"t{t}\"\nsite = \"town\"\nkind = \"toilet\"\nlat = 30.0\nlon = {}\ntoilet_class = \"{}\"\n{hours}",
            110.0 + t as f64 * 0.001,
            class
        );
    }
    c
}

fn push(out: &mut String, kind: &str, device: &str, payload: &str) {
    let escaped = payload.replace('"', "\\\"");
    let _ = writeln!(
        out,
        r#"{{"topic":"meili/v1/town/{kind}/{device}/telemetry","payload":"{escaped}"}}"#
    );
}

/// The month's capture, with 100 repeated deliveries, 10 messages of an undeclared device and
/// 5 malformed lines.
pub fn capture() -> String {
    let mut out = String::new();
    let mut seq = 0u32;
    let mut next = || {
        seq = seq.wrapping_add(1);
        seq
    };
    // Noise: 5-minute readings from 22:00 on 30 Sep to 06:00 on 1 Nov.
    let mut repeats = Vec::new();
    for h in (oct1() * 24 - 2)..((oct1() + DAYS) * 24 + 6) {
        for (p, (id, ..)) in NOISE.iter().enumerate() {
            let Some(level) = noise_level(p, h) else {
                continue;
            };
            for j in 1..=12 {
                let ts = unix_of_hour(h) + 300 * j;
                let payload = format!(
                    r#"{{"v":1,"seq":{},"ts":{ts},"period_s":300,"laeq":{level},"lamax":{}}}"#,
                    next(),
                    level + 8.0
                );
                if repeats.len() < 100 && h % 7 == 0 && j == 3 {
                    repeats.push((id.to_string(), payload.clone()));
                }
                push(&mut out, "noise", id, &payload);
            }
        }
    }
    for (id, payload) in &repeats {
        push(&mut out, "noise", id, payload);
    }
    // Air: hourly readings.
    for k in 0..DAYS {
        for hod in 0..24 {
            if !air_reports(k, hod) {
                continue;
            }
            let h = (oct1() + k) * 24 + hod;
            for (station, pm) in [("a1", site_pm25(k) - 3), ("a2", site_pm25(k) + 3)] {
                let payload = format!(
                    r#"{{"v":1,"seq":{},"ts":{},"period_s":3600,"pm2_5":{pm},"pm10":50,"so2":5,"no2":10,"co":0.4,"o3":30}}"#,
                    next(),
                    unix_of_hour(h + 1)
                );
                push(&mut out, "air", station, &payload);
            }
        }
    }
    // Lamps: hourly readings from 13:00 on 1 Oct (covering 12–13) to 12:00 on 1 Nov.
    for k in 0..DAYS {
        for r in 0..24 {
            let h = (oct1() + k) * 24 + 12 + r;
            for i in 0..LAMPS {
                let (on, failed, power) = lamp_state(i, k, r);
                let faults = if failed {
                    r#","faults":["lamp_failure"]"#
                } else {
                    ""
                };
                let payload = format!(
                    r#"{{"v":1,"seq":{},"ts":{},"period_s":3600,"lamp_on":{on},"power_w":{power}{faults}}}"#,
                    next(),
                    unix_of_hour(h + 1)
                );
                push(&mut out, "streetlight", &format!("l{i:03}"), &payload);
            }
        }
    }
    // Toilets: 5-minute readings.
    let mut counters = [0u32; TOILETS];
    for m in toilet_minutes() {
        for (t, counter) in counters.iter_mut().enumerate() {
            let (occupied, open, inc, nh3) = toilet_reading(t, m);
            *counter += inc;
            if t == 0 && m == reset_minute() {
                *counter = 0;
            }
            let payload = format!(
                r#"{{"v":1,"seq":{},"ts":{},"period_s":300,"stalls":4,"occupied":{occupied},"open":{open},"entries":{},"nh3":{nh3},"h2s":0.005}}"#,
                next(),
                m * 60 - 8 * 3600,
                *counter
            );
            push(&mut out, "toilet", &format!("t{t}"), &payload);
        }
    }
    for i in 0..10 {
        push(
            &mut out,
            "noise",
            "ghost",
            &format!(
                r#"{{"v":1,"seq":{i},"ts":{},"period_s":300,"laeq":50}}"#,
                unix_of_hour(oct1() * 24 + 30)
            ),
        );
    }
    for _ in 0..5 {
        out.push_str("{\"topic\":\n");
    }
    out
}
