//! The report as one self-contained HTML page (A4 when printed), its charts inline SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Figure, Lang, Report};
use crate::config::Config;
use crate::transforms::aggregate::report::AirDay;
use crate::transforms::alert::text::metric_names;

/// HJ 633 category colours (1 good … 6 severely polluted).
const AQI_COLOURS: [&str; 6] = [
    "#00e400", "#ffff00", "#ff7e00", "#ff0000", "#99004c", "#7e0023",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

pub fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

/// A metric's name in the report's language; per-class breakdowns (`…_2`, `…_4a`) name
/// their zone class.
pub fn name(l: Lang, metric: &str) -> String {
    const CLASSES: [&str; 6] = ["0", "1", "2", "3", "4a", "4b"];
    if let Some((base, class)) = metric.rsplit_once('_').filter(|(_, c)| CLASSES.contains(c)) {
        return match l {
            Lang::Zh => format!("{}（{class}类区）", name(l, base)),
            Lang::En => format!("{}, class {class}", name(l, base)),
        };
    }
    let extra = match metric {
        "air_good_days_2012" => (
            "空气质量优良天数比例（HJ 633-2012）",
            "good-air days (HJ 633-2012)",
        ),
        "air_good_days_2026" => (
            "空气质量优良天数比例（HJ 633-2026）",
            "good-air days (HJ 633-2026)",
        ),
        "lighting_snapshot_main" => (
            "主干道亮灯率（巡查时刻）",
            "main-road lighting at inspection",
        ),
        "lighting_snapshot_secondary" => (
            "次干道及支路亮灯率（巡查时刻）",
            "secondary-road lighting at inspection",
        ),
        "noise_lmax_compliance" => ("夜间突发噪声达标率", "night Lmax compliance"),
        "toilet_coverage" => ("公厕服务覆盖率", "toilet coverage"),
        _ => ("", ""),
    };
    let (zh, en, _) = metric_names(metric);
    let (zh, en) = if zh.is_empty() { extra } else { (zh, en) };
    match l {
        Lang::Zh if !zh.is_empty() => zh.to_string(),
        Lang::En if !en.is_empty() => en.to_string(),
        _ => metric.replace('_', " "),
    }
}

/// A numerator or denominator: whole numbers without decimals, thousands grouped.
fn count(v: f64) -> String {
    if v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        let digits = format!("{}", v.abs() as u64);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else {
        format!("{v:.2}")
    }
}

/// A figure's value as reported: a percentage, or toilets per km².
fn shown(f: &Figure, v: Option<f64>) -> String {
    if f.metric == "toilet_density" {
        v.map_or("–".into(), |v| format!("{v:.2} /km²"))
    } else {
        pct(v)
    }
}

/// A section's heading; `false`, with a line saying so, when it has nothing to show.
fn section(o: &mut String, title: &str, has_data: bool, none: &str) -> bool {
    let _ = write!(o, "<h2>{title}</h2>");
    if !has_data {
        let _ = write!(o, "<p>{none}</p>");
    }
    has_data
}

fn table_head(o: &mut String, heads: &[&str]) {
    o.push_str("<table><tr>");
    for h in heads {
        let _ = write!(o, "<th>{h}</th>");
    }
    o.push_str("</tr>");
}

fn summary(r: &Report, l: Lang, o: &mut String) {
    let _ = write!(o, "<h2>{}</h2>", l.t("一、目标指标汇总", "1. Targets"));
    table_head(
        o,
        &[
            l.t("指标", "Metric"),
            l.t("数值", "Value"),
            l.t("分子 / 分母", "Numerator / denominator"),
            l.t("目标", "Target"),
            l.t("是否达标", "Met"),
            l.t("较上期", "Change"),
        ],
    );
    for f in &r.figures {
        let met = match f.met {
            Some(true) => format!("<span class=ok>{}</span>", l.t("达标", "met")),
            Some(false) => format!("<span class=bad>{}</span>", l.t("未达标", "not met")),
            None => "–".into(),
        };
        let change = match (f.value, f.previous) {
            (Some(v), Some(p)) if f.metric == "toilet_density" => format!("{:+.2}", v - p),
            (Some(v), Some(p)) => format!("{:+.1} {}", (v - p) * 100.0, l.t("个百分点", "pp")),
            _ => "–".into(),
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{} / {}</td><td class=n>{}</td><td>{met}</td><td class=n>{change}</td></tr>",
            esc(&name(l, &f.metric)),
            shown(f, f.value),
            count(f.numerator),
            count(f.denominator),
            shown(f, f.target),
        );
    }
    o.push_str("</table>");
    o.push_str(&target_chart(r, l));
}

/// Horizontal bars: each target metric's value, its target marked by a dashed line.
fn target_chart(r: &Report, l: Lang) -> String {
    let rows: Vec<&Figure> = r
        .figures
        .iter()
        .filter(|f| f.metric != "toilet_density" && f.value.is_some() && f.target.is_some())
        .collect();
    let (w, bar, left) = (680.0, 20.0, 240.0);
    let h = rows.len() as f64 * (bar + 8.0) + 20.0;
    let mut s = format!(
        "<svg class=chart viewBox='0 0 {w} {h}' width='100%' role=img aria-label='{}'>",
        l.t("指标与目标", "Figures against targets")
    );
    let scale = |v: f64| left + (w - left - 70.0) * v.clamp(0.0, 1.0);
    for (i, f) in rows.iter().enumerate() {
        let y = 10.0 + i as f64 * (bar + 8.0);
        let v = f.value.unwrap_or(0.0);
        let colour = if f.met == Some(false) {
            "#d9534f"
        } else {
            "#3a7bd5"
        };
        let _ = write!(
            s,
            "<text x='{}' y='{}' text-anchor='end' font-size='12'>{}</text><rect x='{left}' y='{y}' width='{:.1}' height='{bar}' fill='{colour}'/><text x='{:.1}' y='{}' font-size='12'>{}</text>",
            left - 6.0,
            y + 14.0,
            esc(&name(l, &f.metric)),
            scale(v) - left,
            scale(v) + 4.0,
            y + 14.0,
            pct(Some(v)),
        );
        if let Some(t) = f.target {
            let x = scale(t);
            let _ = write!(
                s,
                "<line x1='{x:.1}' x2='{x:.1}' y1='{}' y2='{}' stroke='#000' stroke-width='2' stroke-dasharray='3 2'/>",
                y - 3.0,
                y + bar + 3.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The site's own daily AQI (device `_site`) per date.
pub fn site_air(r: &Report) -> Vec<(&str, &AirDay)> {
    r.days
        .iter()
        .filter_map(|d| Some((d.date.as_str(), d.air.iter().find(|a| a.device == "_site")?)))
        .collect()
}

fn air(r: &Report, l: Lang, o: &mut String) {
    let site = site_air(r);
    if !section(
        o,
        l.t("二、环境空气质量（HJ 633）", "2. Air quality (HJ 633)"),
        !site.is_empty(),
        l.t(
            "本期无空气质量数据。",
            "No air quality data in this period.",
        ),
    ) {
        return;
    }
    let valid: Vec<&AirDay> = site.iter().map(|(_, a)| *a).filter(|a| a.valid).collect();
    let good = valid.iter().filter(|a| a.good == Some(true)).count();
    let over = valid
        .iter()
        .filter(|a| a.aqi.aqi.is_some_and(|x| x > 100))
        .count();
    let mean = |f: fn(&AirDay) -> Option<f64>| {
        let v: Vec<f64> = valid.iter().filter_map(|a| f(a)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let num = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.0}"));
    let _ = write!(
        o,
        "<p>{} {good} / {} · {} {over} · {} PM2.5 {} µg/m³ · PM10 {} µg/m³</p>",
        l.t("优良天数 / 有效天数：", "Good days / valid days:"),
        valid.len(),
        l.t("超标天数（AQI > 100）：", "Days with AQI > 100:"),
        l.t("有效日均值的平均：", "Mean of the valid daily means:"),
        num(mean(|a| a.means.pm2_5)),
        num(mean(|a| a.means.pm10)),
    );
    o.push_str(&aqi_calendar(&site, l));
    let names = match l {
        Lang::Zh => ["优", "良", "轻度污染", "中度污染", "重度污染", "严重污染"],
        Lang::En => [
            "good",
            "moderate",
            "light",
            "moderate pollution",
            "heavy",
            "severe",
        ],
    };
    o.push_str("<p style='font-size:.8rem'>");
    for (c, n) in AQI_COLOURS.iter().zip(names) {
        let _ = write!(o, "<span style='display:inline-block;width:.9em;height:.9em;background:{c};border:1px solid #999;vertical-align:middle'></span> {n}　");
    }
    o.push_str("</p>");
}

/// The period's days as a calendar, each coloured by its AQI category.
fn aqi_calendar(days: &[(&str, &AirDay)], l: Lang) -> String {
    let (cell, cols, row_h) = (92.0, 7usize, 58.0);
    let first: Option<jiff::civil::Date> = days.first().and_then(|(d, _)| d.parse().ok());
    let offset = first.map_or(0, |d| d.weekday().to_monday_zero_offset() as usize);
    let rows = (days.len() + offset).div_ceil(cols);
    let h = rows as f64 * row_h + 24.0;
    let mut s = format!(
        "<svg class=chart viewBox='0 0 {} {h}' width='100%' role=img aria-label='{}'>",
        cell * cols as f64,
        l.t("每日 AQI 日历", "Daily AQI calendar")
    );
    let heads = match l {
        Lang::Zh => ["一", "二", "三", "四", "五", "六", "日"],
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    };
    for (i, hd) in heads.iter().enumerate() {
        let _ = write!(
            s,
            "<text x='{}' y='14' font-size='12' text-anchor='middle'>{hd}</text>",
            i as f64 * cell + cell / 2.0
        );
    }
    for (i, (date, a)) in days.iter().enumerate() {
        let k = i + offset;
        let (x, y) = ((k % cols) as f64 * cell, 20.0 + (k / cols) as f64 * row_h);
        let fill = a
            .aqi
            .category
            .map_or("#dddddd", |c| AQI_COLOURS[usize::from(c.clamp(1, 6) - 1)]);
        let ink = if a.aqi.category.is_some_and(|c| c >= 4) {
            "#fff"
        } else {
            "#000"
        };
        let aqi = a.aqi.aqi.map_or("NA".into(), |v| v.to_string());
        let primary = a
            .aqi
            .primary
            .iter()
            .map(|p| match *p {
                "pm2_5" => "PM2.5",
                "pm10" => "PM10",
                "o3_8h" | "o3_1h" | "o3" => "O3",
                "so2" => "SO2",
                "no2" => "NO2",
                "co" => "CO",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(",");
        let _ = write!(
            s,
            "<rect x='{}' y='{y}' width='{}' height='{}' fill='{fill}' stroke='#fff'/><text x='{}' y='{}' font-size='11' fill='{ink}'>{}</text><text x='{}' y='{}' font-size='15' font-weight='bold' fill='{ink}'>{aqi}</text><text x='{}' y='{}' font-size='10' fill='{ink}'>{}</text>",
            x + 1.0,
            cell - 2.0,
            row_h - 2.0,
            x + 5.0,
            y + 13.0,
            date.get(5..).unwrap_or(date),
            x + 5.0,
            y + 32.0,
            x + 5.0,
            y + 48.0,
            esc(&primary),
        );
    }
    s.push_str("</svg>");
    s
}

/// Per noise point: (zone class, [day valid, day ok, night valid, night ok, night Lmax
/// events], night Ln values).
pub type NoisePoint<'a> = (&'a str, [u32; 5], Vec<f64>);

pub fn noise_points(r: &Report) -> BTreeMap<&str, NoisePoint<'_>> {
    let mut points: BTreeMap<&str, NoisePoint<'_>> = BTreeMap::new();
    for d in &r.days {
        for n in &d.noise {
            let e = points
                .entry(n.device.as_str())
                .or_insert((n.zone_class, [0; 5], Vec::new()));
            let (day, night) = (&n.result.day, &n.result.night);
            e.1[0] += u32::from(day.valid);
            e.1[1] += u32::from(day.ok == Some(true));
            e.1[2] += u32::from(night.valid);
            e.1[3] += u32::from(night.ok == Some(true));
            e.1[4] += u32::from(night.lmax_ok == Some(false));
            e.2.extend(night.leq);
        }
    }
    points
}

fn device_label(config: &Config, site: &str, id: &str) -> String {
    config
        .devices
        .iter()
        .map(|d| d.get_ref())
        .find(|d| d.site == site && d.id == id)
        .and_then(|d| d.name.clone())
        .map_or(id.to_string(), |n| format!("{n} ({id})"))
}

fn noise(r: &Report, l: Lang, config: &Config, o: &mut String) {
    let points = noise_points(r);
    if !section(
        o,
        l.t("三、声环境质量（GB 3096-2008）", "3. Noise (GB 3096-2008)"),
        !points.is_empty(),
        l.t("本期无噪声数据。", "No noise data in this period."),
    ) {
        return;
    }
    table_head(
        o,
        &[
            l.t("监测点", "Point"),
            l.t("功能区", "Zone class"),
            l.t("昼间达标 / 有效天", "Day compliant / valid"),
            l.t("夜间达标 / 有效天", "Night compliant / valid"),
            l.t("夜间达标率", "Night compliance"),
            l.t("夜间突发超标天数（Lmax）", "Nights with Lmax events"),
            l.t("夜间 Ln 均值 dB(A)", "Mean night Ln dB(A)"),
        ],
    );
    for (id, (class, c, ln)) in &points {
        let mean_ln = (!ln.is_empty()).then(|| ln.iter().sum::<f64>() / ln.len() as f64);
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{class}</td><td class=n>{} / {}</td><td class=n>{} / {}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            esc(&device_label(config, &r.site, id)),
            c[1],
            c[0],
            c[3],
            c[2],
            pct(ratio(f64::from(c[3]), f64::from(c[2]))),
            c[4],
            mean_ln.map_or("–".into(), |v| format!("{v:.1}")),
        );
    }
    o.push_str("</table>");
    o.push_str(&night_strip(r, l, config));
}

/// Each point's nights as a strip of days: green within the night limit, red above it, grey
/// not a valid night; the night's Ln written in the cell.
fn night_strip(r: &Report, l: Lang, config: &Config) -> String {
    let points: Vec<&str> = noise_points(r).keys().copied().collect();
    let dates: Vec<&str> = r.days.iter().map(|d| d.date.as_str()).collect();
    let (left, cell, row_h) = (70.0, 20.0, 22.0);
    let w = left + cell * dates.len().max(1) as f64 + 4.0;
    let h = row_h * points.len() as f64 + 34.0;
    let mut s = format!(
        "<p style='font-size:.85rem;margin-bottom:0'>{}</p><svg class=chart viewBox='0 0 {w} {h}' width='100%' role=img aria-label='{}'>",
        l.t(
            "夜间逐日达标情况（绿：达标，红：超标，灰：无效夜）；格内为夜间等效声级 Ln dB(A)",
            "Nights day by day (green: within the limit, red: above, grey: not a valid night); Ln dB(A) in each cell"
        ),
        l.t("夜间逐日达标", "Nights day by day")
    );
    for (j, date) in dates.iter().enumerate() {
        if j % 5 == 0 {
            let _ = write!(
                s,
                "<text x='{:.1}' y='10' font-size='9'>{}</text>",
                left + j as f64 * cell,
                date.get(5..).unwrap_or(date)
            );
        }
    }
    for (i, p) in points.iter().enumerate() {
        let y = 14.0 + i as f64 * row_h;
        let _ = write!(
            s,
            "<text x='{}' y='{}' font-size='10' text-anchor='end'>{}</text>",
            left - 4.0,
            y + 12.0,
            esc(&device_label(config, &r.site, p))
        );
        for (j, d) in r.days.iter().enumerate() {
            let night = d
                .noise
                .iter()
                .find(|n| n.device == *p)
                .map(|n| &n.result.night);
            let (fill, ln) = match night {
                Some(n) if n.valid && n.ok == Some(true) => ("#5cb85c", n.leq),
                Some(n) if n.valid => ("#d9534f", n.leq),
                _ => ("#dddddd", None),
            };
            let x = left + j as f64 * cell;
            let _ = write!(
                s,
                "<rect x='{x:.1}' y='{y}' width='{}' height='{}' fill='{fill}'/>",
                cell - 1.0,
                row_h - 2.0
            );
            if let Some(v) = ln {
                let _ = write!(
                    s,
                    "<text x='{:.1}' y='{}' font-size='8' text-anchor='middle' fill='#fff'>{v:.0}</text>",
                    x + cell / 2.0,
                    y + 14.0
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// Per road class: [lit lamp-minutes, scheduled lamp-minutes, day-burning Wh, lamps at the
/// end, intact at the end].
pub fn lighting_classes(r: &Report) -> BTreeMap<&'static str, [f64; 5]> {
    let mut by: BTreeMap<&str, [f64; 5]> = BTreeMap::new();
    for d in &r.days {
        for x in &d.lighting {
            let e = by.entry(x.road_class).or_default();
            e[0] += x.lit_lamp_minutes;
            e[1] += x.scheduled_lamp_minutes;
            e[2] += x.day_burning_wh;
            e[3] = f64::from(x.total);
            e[4] = f64::from(x.intact);
        }
    }
    by
}

fn lighting(r: &Report, l: Lang, o: &mut String) {
    let by = lighting_classes(r);
    let none = l.t(
        "本期无路灯数据。",
        "No street lighting data in this period.",
    );
    if !section(
        o,
        l.t("四、道路照明", "4. Street lighting"),
        !by.is_empty(),
        none,
    ) {
        return;
    }
    table_head(
        o,
        &[
            l.t("道路等级", "Road class"),
            l.t("亮灯率", "Lighting rate"),
            l.t("完好 / 总数（期末）", "Intact / total (end)"),
            l.t("故障灯（期末）", "Failed lamps (end)"),
            l.t("白天亮灯耗电 kWh", "Day-burning energy kWh"),
        ],
    );
    for (class, v) in &by {
        let _ = write!(
            o,
            "<tr><td>{class}</td><td class=n>{}</td><td class=n>{} / {}</td><td class=n>{}</td><td class=n>{:.1}</td></tr>",
            pct(ratio(v[0], v[1])),
            v[4],
            v[3],
            v[3] - v[4],
            v[2] / 1000.0,
        );
    }
    o.push_str("</table>");
}

/// Per toilet: (class, [available minutes, measured open minutes, odour-ok hours, odour
/// hours, entries]).
pub fn toilet_rows(r: &Report) -> BTreeMap<&str, (&'static str, [f64; 5])> {
    let mut by: BTreeMap<&str, (&str, [f64; 5])> = BTreeMap::new();
    for d in &r.days {
        for t in &d.toilets {
            let e = by
                .entry(t.device.as_str())
                .or_insert((t.toilet_class, [0.0; 5]));
            e.1[0] += t.available_minutes;
            e.1[1] += t.measured_open_minutes;
            e.1[2] += f64::from(t.odour_ok_hours);
            e.1[3] += f64::from(t.odour_hours);
            e.1[4] += t.entries as f64;
        }
    }
    by
}

fn toilets(r: &Report, l: Lang, config: &Config, o: &mut String) {
    let by = toilet_rows(r);
    let none = l.t("本期无公厕数据。", "No toilet data in this period.");
    if !section(
        o,
        l.t("五、智慧公厕", "5. Public toilets"),
        !by.is_empty(),
        none,
    ) {
        return;
    }
    table_head(
        o,
        &[
            l.t("公厕", "Toilet"),
            l.t("类别", "Class"),
            l.t("可用率", "Availability"),
            l.t("臭气达标率", "Odour compliance"),
            l.t("如厕人次", "Entries"),
        ],
    );
    for (id, (class, v)) in &by {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{class}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:.0}</td></tr>",
            esc(&device_label(config, &r.site, id)),
            pct(ratio(v[0], v[1])),
            pct(ratio(v[2], v[3])),
            v[4],
        );
    }
    o.push_str("</table>");
    o.push_str(&toilet_map(r, l, config));
}

/// Where the toilets are (as configured, WGS-84), to scale, each labelled with its
/// availability: the map the public feed publishes, for the bureau's file.
fn toilet_map(r: &Report, l: Lang, config: &Config) -> String {
    let rows = toilet_rows(r);
    let spots: Vec<(f64, f64, String, Option<f64>)> = config
        .devices
        .iter()
        .map(|d| d.get_ref())
        .filter(|d| d.site == r.site && rows.contains_key(d.id.as_str()))
        .map(|d| {
            let v = rows[d.id.as_str()].1;
            let label = d.name.clone().unwrap_or_else(|| d.id.clone());
            (d.lat, d.lon, label, ratio(v[0], v[1]))
        })
        .collect();
    if spots.is_empty() {
        return String::new();
    }
    let (lat0, lat1) = spots
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), s| (a.min(s.0), b.max(s.0)));
    let (lon0, lon1) = spots
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), s| (a.min(s.1), b.max(s.1)));
    // Metres per degree here; the map keeps the true proportions.
    let (my, mx) = (
        111_320.0,
        111_320.0 * ((lat0 + lat1) / 2.0).to_radians().cos(),
    );
    let span = ((lat1 - lat0) * my).max((lon1 - lon0) * mx).max(200.0);
    let (w, pad): (f64, f64) = (640.0, 40.0);
    let scale = (w - 2.0 * pad) / span;
    // As tall as the points need (a street of toilets is a short strip).
    let h = ((lat1 - lat0) * my * scale + 2.0 * pad + 24.0).clamp(140.0, 480.0);
    let x = |lon: f64| pad + (lon - lon0) * mx * scale;
    // Points centred in the height left above the scale bar.
    let extra = ((h - 2.0 * pad - 24.0) - (lat1 - lat0) * my * scale).max(0.0) / 2.0;
    let y = |lat: f64| h - pad - 24.0 - extra - (lat - lat0) * my * scale;
    let mut s = format!(
        "<svg class=chart viewBox='0 0 {w} {h}' width='100%' role=img aria-label='{}' style='border:1px solid #ccc'>",
        l.t("公厕位置图", "Toilet locations")
    );
    for (i, (lat, lon, label, avail)) in spots.iter().enumerate() {
        // Labels below and above in turn, so that neighbours do not overlap.
        let dy = if i % 2 == 0 { 18.0 } else { -10.0 };
        let fill = match avail {
            Some(a) if *a >= 0.9 => "#1a7f37",
            Some(_) => "#c62828",
            None => "#888",
        };
        let _ = write!(
            s,
            "<circle cx='{:.1}' cy='{:.1}' r='6' fill='{fill}'/><text x='{:.1}' y='{:.1}' font-size='11' text-anchor='middle'>{} {}</text>",
            x(*lon),
            y(*lat),
            x(*lon),
            y(*lat) + dy,
            esc(label),
            pct(*avail)
        );
    }
    // A scale bar of a round length.
    let bar_m = [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
        .into_iter()
        .find(|m| m * scale >= 60.0)
        .unwrap_or(10_000.0);
    let _ = write!(
        s,
        "<line x1='{pad}' x2='{:.1}' y1='{}' y2='{}' stroke='#000' stroke-width='2'/><text x='{pad}' y='{}' font-size='10'>{} m · {}</text></svg>",
        pad + bar_m * scale,
        h - 12.0,
        h - 12.0,
        h - 16.0,
        bar_m,
        l.t("WGS-84，按配置坐标；绿：可用率 ≥ 90 %", "WGS-84 as configured; green: availability ≥ 90 %")
    );
    s
}

fn quality(r: &Report, l: Lang, o: &mut String) {
    let _ = write!(
        o,
        "<h2>{}</h2><p>{} {} / {}",
        l.t("六、数据质量", "6. Data quality"),
        l.t("有结果的天数：", "Days with results:"),
        r.days_with_data,
        r.period.days(),
    );
    inputs(r, l, o);
    let devices = super::quality::by_device(r);
    if devices.is_empty() {
        return;
    }
    table_head(
        o,
        &[
            l.t("设备", "Device"),
            l.t("类型", "Kind"),
            l.t("有结果天数", "Days with results"),
            l.t("有效天数", "Valid days"),
            l.t("无有效数据小时", "Hours without valid data"),
        ],
    );
    for q in devices {
        let valid = q.valid_days.map_or("–".to_string(), |v| v.to_string());
        let kind = match q.kind {
            "noise" => l.t("噪声", "noise"),
            "air" => l.t("空气", "air"),
            _ => l.t("公厕", "toilet"),
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{kind}</td><td class=n>{}</td><td class=n>{valid}</td><td class=n>{:.1}</td></tr>",
            esc(&q.device),
            q.days,
            q.missing_hours
        );
    }
    let _ = write!(
        o,
        "</table><p class=note>{}</p>",
        l.t(
            "有效天：噪声点位昼、夜均有效（GB 3096—2008），空气站日均值有效；无有效数据小时为离线或覆盖不足的时长。路灯按道路等级统计，不逐灯列出。",
            "Valid day: a noise point's day and night both valid (GB 3096-2008), an air station's daily values valid; hours without valid data are time offline or under-covered. Lamps are counted per road class, not listed per lamp."
        )
    );
}

/// What the input held: readings by outcome, rejections by reason (a replay only).
fn inputs(r: &Report, l: Lang, o: &mut String) {
    let Some(s) = &r.input else {
        let _ = write!(
            o,
            " · {}</p>",
            l.t(
                "由网关按日归档的结果生成；读数与拒收原因的计数见网关的 /metrics（meili_readings_rejected_total）",
                "made by the gateway from its archived daily results; readings and rejections are counted in its /metrics (meili_readings_rejected_total)"
            )
        );
        return;
    };
    let _ = write!(
        o,
        " · {} {} · {} {} · {} {} · {} {}</p>",
        l.t("读数", "Readings"),
        s.readings,
        l.t("计入", "counted"),
        s.counted,
        l.t("重复", "duplicates"),
        s.duplicates,
        l.t("迟到未计", "late, left out"),
        s.late,
    );
    if !s.rejected.is_empty() {
        table_head(
            o,
            &[l.t("拒收原因", "Rejected: reason"), l.t("条数", "Count")],
        );
        for (k, v) in &s.rejected {
            let _ = write!(o, "<tr><td>{k}</td><td class=n>{v}</td></tr>");
        }
        o.push_str("</table>");
    }
}

const STYLE: &str = "body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei',sans-serif;margin:2rem auto;padding:0 1rem;color:#222;max-width:60rem}\
h1{font-size:1.6rem;margin:0 0 .3rem}h2{font-size:1.2rem;border-bottom:2px solid #3a7bd5;padding-bottom:.2rem;margin-top:1.6rem;break-after:avoid}\
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.85rem}th,td{border:1px solid #ccc;padding:.25rem .4rem;text-align:left}\
th{background:#eef3fb}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}\
.note{color:#555;font-size:.8rem}.cover{border:1px solid #3a7bd5;padding:1rem 1.2rem;margin-bottom:1rem}.chart{margin:.5rem 0;break-inside:avoid}svg text{font-family:inherit}\
@page{size:A4;margin:14mm}@media print{body{margin:0;max-width:none}}";

/// The whole page.
pub fn render(r: &Report, l: Lang, config: &Config) -> String {
    let kind = match (r.period.kind, l) {
        ("month", Lang::Zh) => "月度",
        ("quarter", Lang::Zh) => "季度",
        ("year", Lang::Zh) => "年度",
        (_, Lang::Zh) => "时段",
        ("month", Lang::En) => "Monthly",
        ("quarter", Lang::En) => "Quarterly",
        ("year", Lang::En) => "Annual",
        (_, Lang::En) => "Period",
    };
    let mut o = format!(
        "<!doctype html><html lang='{}'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'><title>{} {}</title><style>{STYLE}</style></head><body>",
        l.t("zh-CN", "en"),
        esc(&r.site),
        esc(&r.period.label),
    );
    let title = match l {
        Lang::Zh => format!("{} {kind}城市运行监测报告", esc(&r.site)),
        Lang::En => format!("{} — {kind} monitoring report", esc(&r.site)),
    };
    let _ =
        write!(
        o,
        "<div class=cover><h1>{title}</h1><p>{} {} – {}（{}）<br>{} {}<br>{} {} / {} {}</p></div>",
        l.t("统计期：", "Period:"),
        r.period.from,
        r.period.to,
        esc(&r.period.label),
        l.t("生成时间：", "Generated:"),
        esc(&r.generated_at),
        l.t("数据完整性：有结果的天数", "Completeness: days with results"),
        r.days_with_data,
        r.period.days(),
        l.t("天", "days"),
    );
    summary(r, l, &mut o);
    air(r, l, &mut o);
    noise(r, l, config, &mut o);
    lighting(r, l, &mut o);
    toilets(r, l, config, &mut o);
    quality(r, l, &mut o);
    let _ = write!(
        o,
        "<p style='font-size:.75rem;color:#666;margin-top:2rem'>{}</p></body></html>",
        l.t(
            "由 Meili 网关按 GB 3096-2008、HJ 633 及配置的目标计算；计算方法见 docs/standards.md。",
            "Computed by the Meili gateway under GB 3096-2008, HJ 633 and the configured targets; methods in docs/standards.md."
        )
    );
    o
}
