//! `meilid report`: what a county bureau files for a month, quarter, year or any range —
//! from the standards engine's own results (a replay of a capture or CSV export), in HTML and
//! PDF (charts drawn as SVG), XLSX and CSV (docs/reports.md).
//!
//! Figures for a whole month, quarter or year are the engine's `compliance` rows for that
//! window; for a `--from/--to` range they are the days' numerators and denominators summed
//! (the same arithmetic for every ratio metric).

mod html;
pub mod monthly;
mod pdf;
pub mod quality;
mod sheet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::replay::{Lateness, Stats};
use crate::transforms::aggregate::report::{ComplianceRow, DayReport, Output};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("period {0:?}: give --month YYYY-MM, --quarter YYYYQn, --year YYYY or --from/--to YYYY-MM-DD")]
    Period(String),
    #[error(transparent)]
    Replay(#[from] crate::replay::ReplayError),
    #[error("site {0:?} has no results in the input for this period")]
    NoData(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("archive: {0}")]
    Archive(#[from] crate::transforms::aggregate::archive::ArchiveError),
}

/// Which window the report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `month`, `quarter`, `year` or `range`.
    pub kind: &'static str,
    pub label: String,
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
}

impl Period {
    pub fn month(s: &str) -> Result<Period, ReportError> {
        let bad = || ReportError::Period(s.to_string());
        let from: jiff::civil::Date = format!("{s}-01").parse().map_err(|_| bad())?;
        Ok(Period {
            kind: "month",
            label: s.to_string(),
            from,
            to: from.last_of_month(),
        })
    }

    pub fn quarter(s: &str) -> Result<Period, ReportError> {
        let bad = || ReportError::Period(s.to_string());
        let (y, q) = s.split_once(['Q', 'q']).ok_or_else(bad)?;
        let (y, q): (i16, i8) = (y.parse().map_err(|_| bad())?, q.parse().map_err(|_| bad())?);
        if !(1..=4).contains(&q) {
            return Err(bad());
        }
        let from = jiff::civil::Date::new(y, (q - 1) * 3 + 1, 1).map_err(|_| bad())?;
        let to = jiff::civil::Date::new(y, q * 3, 1)
            .map_err(|_| bad())?
            .last_of_month();
        Ok(Period {
            kind: "quarter",
            label: format!("{y}Q{q}"),
            from,
            to,
        })
    }

    pub fn year(s: &str) -> Result<Period, ReportError> {
        let bad = || ReportError::Period(s.to_string());
        let y: i16 = s.parse().map_err(|_| bad())?;
        Ok(Period {
            kind: "year",
            label: s.to_string(),
            from: jiff::civil::Date::new(y, 1, 1).map_err(|_| bad())?,
            to: jiff::civil::Date::new(y, 12, 31).map_err(|_| bad())?,
        })
    }

    pub fn range(from: &str, to: &str) -> Result<Period, ReportError> {
        let bad = || ReportError::Period(format!("{from}..{to}"));
        let (f, t): (jiff::civil::Date, jiff::civil::Date) = (
            from.parse().map_err(|_| bad())?,
            to.parse().map_err(|_| bad())?,
        );
        if t < f {
            return Err(bad());
        }
        Ok(Period {
            kind: "range",
            label: format!("{f}–{t}"),
            from: f,
            to: t,
        })
    }

    /// The period before, of the same kind (a range: as many days before).
    pub fn previous(&self) -> Period {
        let from = match self.kind {
            "month" => self.from.saturating_sub(jiff::Span::new().months(1)),
            "quarter" => self.from.saturating_sub(jiff::Span::new().months(3)),
            "year" => self.from.saturating_sub(jiff::Span::new().years(1)),
            _ => {
                let days = (self.to - self.from).get_days() as i64 + 1;
                self.from.saturating_sub(jiff::Span::new().days(days))
            }
        };
        let to = self.from.yesterday().unwrap_or(self.from);
        Period {
            kind: self.kind,
            label: String::new(),
            from,
            to,
        }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).get_days() as i64 + 1
    }

    fn contains(&self, date: &str) -> bool {
        date.parse::<jiff::civil::Date>()
            .is_ok_and(|d| d >= self.from && d <= self.to)
    }
}

/// One target metric over the period.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub metric: String,
    pub value: Option<f64>,
    pub numerator: f64,
    pub denominator: f64,
    pub target: Option<f64>,
    pub met: Option<bool>,
    /// The same figure for the previous period, when the input has it for at least half of
    /// that period's days.
    pub previous: Option<f64>,
    /// Days with data behind the figure.
    pub days: u32,
}

/// Everything a report shows, ready to render.
#[derive(Debug)]
pub struct Report {
    pub site: String,
    pub period: Period,
    pub generated_at: String,
    /// Days of the period with any result, of all its days.
    pub days_with_data: usize,
    pub figures: Vec<Figure>,
    pub days: Vec<DayReport>,
    /// What the input held (a replay); `None` for the daemon's own reports, whose readings
    /// are counted in `/metrics`.
    pub input: Option<Stats>,
}

/// The compliance figures of `period` for `site`.
fn figures(rows: &[ComplianceRow], site: &str, p: &Period) -> BTreeMap<String, Figure> {
    let mut out = BTreeMap::new();
    let start = p.from.to_string();
    if p.kind != "range" {
        for r in rows
            .iter()
            .filter(|r| r.site == site && r.window == p.kind && r.start == start)
        {
            out.insert(
                r.metric.clone(),
                Figure {
                    metric: r.metric.clone(),
                    value: r.value,
                    numerator: r.numerator,
                    denominator: r.denominator,
                    target: r.target,
                    met: r.met,
                    previous: None,
                    days: r.days,
                },
            );
        }
        return out;
    }
    for r in rows
        .iter()
        .filter(|r| r.site == site && r.window == "day" && p.contains(&r.start))
    {
        let f = out.entry(r.metric.clone()).or_insert_with(|| Figure {
            metric: r.metric.clone(),
            value: None,
            numerator: 0.0,
            denominator: 0.0,
            target: r.target,
            met: None,
            previous: None,
            days: 0,
        });
        f.days += 1;
        f.numerator += r.numerator;
        f.denominator += r.denominator;
    }
    for f in out.values_mut() {
        f.value = (f.denominator > 0.0).then(|| f.numerator / f.denominator);
        f.met = f.value.zip(f.target).map(|(v, t)| v >= t);
    }
    out
}

/// Build the report of `site` over `period` from the engine's results.
pub fn build(
    out: Output,
    input: Option<Stats>,
    site: &str,
    period: Period,
    now: &str,
) -> Result<Report, ReportError> {
    let mut figs = figures(&out.compliance, site, &period);
    let previous = period.previous();
    let before = figures(&out.compliance, site, &previous);
    for (m, f) in figs.iter_mut() {
        f.previous = before
            .get(m)
            .filter(|b| i64::from(b.days) * 2 >= previous.days())
            .and_then(|b| b.value);
    }
    let days: Vec<DayReport> = out
        .days
        .into_iter()
        .filter(|d| d.site == site && period.contains(&d.date))
        .collect();
    if days.is_empty() && figs.is_empty() {
        return Err(ReportError::NoData(site.to_string()));
    }
    Ok(Report {
        site: site.to_string(),
        days_with_data: days.len(),
        period,
        generated_at: now.to_string(),
        figures: figs.into_values().collect(),
        days,
        input,
    })
}

pub use crate::config::reports::{Format, Lang};

/// Replay `input`, build the report and write it in `formats` into `out_dir` as
/// `{site}-{label}.{ext}`; returns the files written.
pub fn generate(
    config: &Config,
    (input, lateness): (&Path, Lateness),
    site: &str,
    period: Period,
    lang: Lang,
    formats: &[Format],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    let (out, stats) = crate::replay::run(config, input, lateness)?;
    let report = build(out, Some(stats), site, period, &now(config))?;
    write(&report, config, lang, formats, out_dir)
}

/// The gateway's local time, for a report's cover.
pub fn now(config: &Config) -> String {
    let tz = jiff::tz::TimeZone::get(&config.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::now()
        .to_zoned(tz)
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// A report's file name without its extension.
pub fn stem(site: &str, period: &Period) -> String {
    format!("{site}-{}", period.label.replace('–', "_"))
}

/// Write `report` in `formats` into `out_dir`, stopping at the first that fails; each file
/// appears whole (written beside it as `….part`, then renamed). Returns the files written.
pub fn write(
    report: &Report,
    config: &Config,
    lang: Lang,
    formats: &[Format],
    out_dir: &Path,
) -> Result<Vec<PathBuf>, ReportError> {
    match write_formats(report, (config, lang), formats, out_dir, true) {
        (written, None) => Ok(written),
        (_, Some(e)) => Err(e),
    }
}

/// As [`write`], but a format that fails (no Chromium) does not keep the others back: the
/// files written, and the first error.
pub fn write_each(
    report: &Report,
    config: &Config,
    lang: Lang,
    formats: &[Format],
    out_dir: &Path,
) -> (Vec<PathBuf>, Option<ReportError>) {
    write_formats(report, (config, lang), formats, out_dir, false)
}

fn write_formats(
    report: &Report,
    (config, lang): (&Config, Lang),
    formats: &[Format],
    out_dir: &Path,
    stop_at_error: bool,
) -> (Vec<PathBuf>, Option<ReportError>) {
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| ReportError::Write { path, source }
    };
    if let Err(e) = std::fs::create_dir_all(out_dir).map_err(write_err(out_dir)) {
        return (Vec::new(), Some(e));
    }
    let stem = stem(&report.site, &report.period);
    let (mut written, mut error) = (Vec::new(), None);
    // The page, once, for the formats made from it.
    let html_text = if formats
        .iter()
        .any(|f| matches!(f, Format::Html | Format::Pdf))
    {
        html::render(report, lang, config)
    } else {
        String::new()
    };
    for f in formats {
        let path = out_dir.join(format!("{stem}.{}", f.ext()));
        let part = out_dir.join(format!("{stem}.{}.part", f.ext()));
        let r = match f {
            Format::Html => std::fs::write(&part, &html_text).map_err(write_err(&part)),
            Format::Csv => std::fs::write(&part, sheet::csv(report)).map_err(write_err(&part)),
            Format::Xlsx => sheet::xlsx(report, lang, &part),
            Format::Pdf => pdf::print(&html_text, &part),
        }
        .and_then(|()| std::fs::rename(&part, &path).map_err(write_err(&path)));
        match r {
            Ok(()) => written.push(path),
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                error.get_or_insert(e);
                if stop_at_error {
                    break;
                }
            }
        }
    }
    (written, error)
}

impl Lang {
    /// The Chinese or English of a pair.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_cover_their_days() {
        let m = Period::month("2026-10").unwrap();
        assert_eq!(
            (m.from.to_string(), m.to.to_string(), m.days()),
            ("2026-10-01".into(), "2026-10-31".into(), 31)
        );
        let p = m.previous();
        assert_eq!(
            (p.from.to_string(), p.to.to_string()),
            ("2026-09-01".into(), "2026-09-30".into())
        );
        let q = Period::quarter("2026Q4").unwrap();
        assert_eq!(
            (q.from.to_string(), q.to.to_string()),
            ("2026-10-01".into(), "2026-12-31".into())
        );
        assert_eq!(Period::year("2026").unwrap().days(), 365);
        assert!(Period::quarter("2026Q5").is_err());
        assert!(Period::month("2026-13").is_err());
        assert!(Period::range("2026-10-05", "2026-10-01").is_err());
    }

    #[test]
    fn metrics_are_named_with_their_zone_class() {
        assert_eq!(
            html::name(Lang::Zh, "noise_night_compliance_4a"),
            "夜间声环境功能区达标率（4a类区）"
        );
        assert_eq!(
            html::name(Lang::En, "noise_night_compliance_2"),
            "night noise compliance, class 2"
        );
        assert_eq!(
            html::name(Lang::Zh, "lighting_snapshot_main"),
            "主干道亮灯率（巡查时刻）"
        );
    }
}
