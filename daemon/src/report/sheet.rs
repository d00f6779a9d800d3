//! The report's numbers for spreadsheets: XLSX (one sheet per section, numbers as numbers,
//! units in the headers) and CSV (one row per device, day and metric).

use std::fmt::Write as _;
use std::path::Path;

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::html::name;
use super::{Lang, Report, ReportError};

/// Every daily value as (date, device, kind, metric, value, unit).
fn daily(
    r: &Report,
) -> Vec<(
    String,
    String,
    &'static str,
    &'static str,
    f64,
    &'static str,
)> {
    let mut out = Vec::new();
    for d in &r.days {
        let mut push = |dev: &str, kind, metric, v: Option<f64>, unit| {
            if let Some(v) = v {
                out.push((d.date.clone(), dev.to_string(), kind, metric, v, unit));
            }
        };
        for n in &d.noise {
            let (day, night) = (&n.result.day, &n.result.night);
            push(&n.device, "noise", "ld", day.leq, "dB(A)");
            push(&n.device, "noise", "ln", night.leq, "dB(A)");
            push(&n.device, "noise", "ldn", n.result.ldn, "dB(A)");
            push(&n.device, "noise", "lmax_night", night.lmax, "dB(A)");
            push(&n.device, "noise", "day_ok", day.ok.map(f64::from), "");
            push(&n.device, "noise", "night_ok", night.ok.map(f64::from), "");
        }
        for a in &d.air {
            let m = &a.means;
            push(&a.device, "air", "aqi", a.aqi.aqi.map(|x| x as f64), "");
            push(&a.device, "air", "pm2_5", m.pm2_5, "µg/m³");
            push(&a.device, "air", "pm10", m.pm10, "µg/m³");
            push(&a.device, "air", "so2", m.so2, "µg/m³");
            push(&a.device, "air", "no2", m.no2, "µg/m³");
            push(&a.device, "air", "co", m.co, "mg/m³");
            push(&a.device, "air", "o3_8h", m.o3_8h, "µg/m³");
            push(&a.device, "air", "good", a.good.map(f64::from), "");
        }
        for x in &d.lighting {
            push(x.road_class, "streetlight", "rate", x.rate, "");
            push(
                x.road_class,
                "streetlight",
                "lit_lamp_minutes",
                Some(x.lit_lamp_minutes),
                "min",
            );
            push(
                x.road_class,
                "streetlight",
                "scheduled_lamp_minutes",
                Some(x.scheduled_lamp_minutes),
                "min",
            );
            push(
                x.road_class,
                "streetlight",
                "day_burning_wh",
                Some(x.day_burning_wh),
                "Wh",
            );
        }
        for t in &d.toilets {
            push(
                &t.device,
                "toilet",
                "available_minutes",
                Some(t.available_minutes),
                "min",
            );
            push(
                &t.device,
                "toilet",
                "measured_open_minutes",
                Some(t.measured_open_minutes),
                "min",
            );
            push(
                &t.device,
                "toilet",
                "odour_ok_hours",
                Some(f64::from(t.odour_ok_hours)),
                "h",
            );
            push(
                &t.device,
                "toilet",
                "odour_hours",
                Some(f64::from(t.odour_hours)),
                "h",
            );
            push(&t.device, "toilet", "entries", Some(t.entries as f64), "");
        }
    }
    out
}

/// CSV (RFC 4180; no field needs quoting: dates, ids, metric names and numbers).
pub fn csv(r: &Report) -> String {
    let mut o = String::from("date,site,device,kind,metric,value,unit\r\n");
    let q = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    for (date, dev, kind, metric, v, unit) in daily(r) {
        let _ = write!(
            o,
            "{date},{},{},{kind},{metric},{v},{unit}\r\n",
            q(&r.site),
            q(&dev)
        );
    }
    o
}

fn header(ws: &mut Worksheet, bold: &Format, cols: &[&str]) -> Result<(), XlsxError> {
    for (i, c) in cols.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, *c, bold)?;
        ws.set_column_width(i as u16, (c.chars().count() as f64 * 1.6).clamp(10.0, 28.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

fn opt(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    v: Option<f64>,
    f: &Format,
) -> Result<(), XlsxError> {
    if let Some(v) = v {
        ws.write_number_with_format(row, col, v, f)?;
    }
    Ok(())
}

/// Cell formats shared by the sheets.
struct Formats {
    bold: Format,
    pct: Format,
    plain: Format,
    one: Format,
}

/// The workbook: Summary, Air, Noise, Lighting, Toilets, Quality.
pub fn xlsx(r: &Report, l: Lang, path: &Path) -> Result<(), ReportError> {
    let mut wb = Workbook::new();
    let f = Formats {
        bold: Format::new().set_bold(),
        pct: Format::new().set_num_format("0.0%"),
        plain: Format::new(),
        one: Format::new().set_num_format("0.0"),
    };
    summary_sheet(
        wb.add_worksheet().set_name(l.t("概要", "Summary"))?,
        r,
        l,
        &f,
    )?;
    air_sheet(wb.add_worksheet().set_name(l.t("空气", "Air"))?, r, l, &f)?;
    noise_sheet(wb.add_worksheet().set_name(l.t("噪声", "Noise"))?, r, l, &f)?;
    lighting_sheet(
        wb.add_worksheet().set_name(l.t("照明", "Lighting"))?,
        r,
        l,
        &f,
    )?;
    toilet_sheet(
        wb.add_worksheet().set_name(l.t("公厕", "Toilets"))?,
        r,
        l,
        &f,
    )?;
    quality_sheet(
        wb.add_worksheet().set_name(l.t("数据质量", "Quality"))?,
        r,
        l,
        &f,
    )?;
    wb.save(path)?;
    Ok(())
}

fn summary_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("指标", "Metric"),
            "metric",
            l.t("数值", "Value"),
            l.t("分子", "Numerator"),
            l.t("分母", "Denominator"),
            l.t("目标", "Target"),
            l.t("达标", "Met"),
            l.t("上期", "Previous"),
        ],
    )?;
    for (i, fig) in r.figures.iter().enumerate() {
        let row = i as u32 + 1;
        let fmt = if fig.metric == "toilet_density" {
            &f.plain
        } else {
            &f.pct
        };
        ws.write_string(row, 0, name(l, &fig.metric))?;
        ws.write_string(row, 1, &fig.metric)?;
        opt(ws, row, 2, fig.value, fmt)?;
        ws.write_number(row, 3, fig.numerator)?;
        ws.write_number(row, 4, fig.denominator)?;
        opt(ws, row, 5, fig.target, fmt)?;
        if let Some(m) = fig.met {
            ws.write_boolean(row, 6, m)?;
        }
        opt(ws, row, 7, fig.previous, fmt)?;
    }
    Ok(())
}

fn air_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("日期", "Date"),
            l.t("站点", "Station"),
            "AQI",
            l.t("类别", "Category"),
            l.t("首要污染物", "Primary"),
            "PM2.5 (µg/m³)",
            "PM10 (µg/m³)",
            "SO2 (µg/m³)",
            "NO2 (µg/m³)",
            "CO (mg/m³)",
            "O3 8h (µg/m³)",
            l.t("优良", "Good"),
        ],
    )?;
    let mut row = 1;
    for d in &r.days {
        for a in &d.air {
            ws.write_string(row, 0, &d.date)?;
            ws.write_string(row, 1, &a.device)?;
            opt(ws, row, 2, a.aqi.aqi.map(|x| x as f64), &f.plain)?;
            opt(ws, row, 3, a.aqi.category.map(f64::from), &f.plain)?;
            ws.write_string(row, 4, a.aqi.primary.join(","))?;
            let m = &a.means;
            for (c, v) in [m.pm2_5, m.pm10, m.so2, m.no2].into_iter().enumerate() {
                opt(ws, row, 5 + c as u16, v, &f.plain)?;
            }
            opt(ws, row, 9, m.co, &f.one)?;
            opt(ws, row, 10, m.o3_8h, &f.plain)?;
            if let Some(g) = a.good {
                ws.write_boolean(row, 11, g)?;
            }
            row += 1;
        }
    }
    Ok(())
}

fn noise_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("日期", "Date"),
            l.t("监测点", "Point"),
            l.t("功能区", "Zone class"),
            "Ld (dB(A))",
            "Ln (dB(A))",
            "Ldn (dB(A))",
            l.t("夜间 Lmax (dB(A))", "Night Lmax (dB(A))"),
            l.t("昼间达标", "Day compliant"),
            l.t("夜间达标", "Night compliant"),
        ],
    )?;
    let mut row = 1;
    for d in &r.days {
        for n in &d.noise {
            ws.write_string(row, 0, &d.date)?;
            ws.write_string(row, 1, &n.device)?;
            ws.write_string(row, 2, n.zone_class)?;
            opt(ws, row, 3, n.result.day.leq, &f.one)?;
            opt(ws, row, 4, n.result.night.leq, &f.one)?;
            opt(ws, row, 5, n.result.ldn, &f.one)?;
            opt(ws, row, 6, n.result.night.lmax, &f.one)?;
            for (c, ok) in [n.result.day.ok, n.result.night.ok].into_iter().enumerate() {
                if let Some(ok) = ok {
                    ws.write_boolean(row, 7 + c as u16, ok)?;
                }
            }
            row += 1;
        }
    }
    Ok(())
}

fn lighting_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("日期", "Date"),
            l.t("道路等级", "Road class"),
            l.t("亮灯率", "Lighting rate"),
            l.t("亮灯灯·分钟", "Lit lamp-minutes"),
            l.t("应亮灯·分钟", "Scheduled lamp-minutes"),
            l.t("灯具总数", "Lamps"),
            l.t("完好", "Intact"),
            l.t("白天亮灯耗电 (Wh)", "Day-burning (Wh)"),
        ],
    )?;
    let mut row = 1;
    for d in &r.days {
        for x in &d.lighting {
            ws.write_string(row, 0, &d.date)?;
            ws.write_string(row, 1, x.road_class)?;
            opt(ws, row, 2, x.rate, &f.pct)?;
            ws.write_number(row, 3, x.lit_lamp_minutes)?;
            ws.write_number(row, 4, x.scheduled_lamp_minutes)?;
            ws.write_number(row, 5, f64::from(x.total))?;
            ws.write_number(row, 6, f64::from(x.intact))?;
            ws.write_number(row, 7, x.day_burning_wh)?;
            row += 1;
        }
    }
    Ok(())
}

fn toilet_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("日期", "Date"),
            l.t("公厕", "Toilet"),
            l.t("类别", "Class"),
            l.t("可用分钟", "Available (min)"),
            l.t("开放分钟（有数据）", "Open, measured (min)"),
            l.t("臭气达标小时", "Odour-ok hours"),
            l.t("臭气测量小时", "Odour hours"),
            l.t("如厕人次", "Entries"),
        ],
    )?;
    let mut row = 1;
    for d in &r.days {
        for t in &d.toilets {
            ws.write_string(row, 0, &d.date)?;
            ws.write_string(row, 1, &t.device)?;
            ws.write_string(row, 2, t.toilet_class)?;
            ws.write_number(row, 3, t.available_minutes)?;
            ws.write_number(row, 4, t.measured_open_minutes)?;
            ws.write_number(row, 5, f64::from(t.odour_ok_hours))?;
            ws.write_number(row, 6, f64::from(t.odour_hours))?;
            ws.write_number(row, 7, t.entries as f64)?;
            row += 1;
        }
    }
    Ok(())
}

fn quality_sheet(ws: &mut Worksheet, r: &Report, l: Lang, f: &Formats) -> Result<(), XlsxError> {
    header(
        ws,
        &f.bold,
        &[
            l.t("设备", "Device"),
            l.t("类型", "Kind"),
            l.t("有结果天数", "Days with results"),
            l.t("有效天数", "Valid days"),
            l.t("无有效数据小时 (h)", "Hours without valid data (h)"),
        ],
    )?;
    for (i, q) in super::quality::by_device(r).into_iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &q.device)?;
        ws.write_string(row, 1, q.kind)?;
        ws.write_number(row, 2, f64::from(q.days))?;
        if let Some(v) = q.valid_days {
            ws.write_number(row, 3, f64::from(v))?;
        }
        ws.write_number_with_format(row, 4, q.missing_hours, &f.one)?;
    }
    Ok(())
}
