//! The engine's archive of complete days, for the reports of closed months (docs/reports.md).
//!
//! The engine keeps a day's state only until its lateness has passed; a month's report needs
//! every day of it. So each complete day, when it is emitted, is appended to
//! `{data_dir}/standards/archive/{site}/{YYYY-MM}.ndjson` — its [`DayReport`] and its ratios
//! per metric with the target then in effect. A day emitted again (late data within the
//! lateness) is appended again; the last line of a day wins. Archived days are derived data:
//! a gap (e.g. a full disk) is logged and counted, and `meilid report` over an export
//! recomputes any month.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::report::{ComplianceRow, DayReport, Output};
use super::window_start;
use crate::standards::clock::Clock;
use crate::standards::ratio::Ratio;

/// Format version of an archive line.
const VERSION: u32 = 1;

/// Where a site's months are archived.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("standards").join("archive")
}

/// One metric's ratio on the day, with the target in effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayRatio {
    #[serde(flatten)]
    pub ratio: Ratio,
    pub target: Option<f64>,
}

/// One archive line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Line {
    v: u32,
    day: DayReport,
    ratios: BTreeMap<String, DayRatio>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The archive lines of an emission's complete days, by file (relative to [`dir`]).
pub fn lines_of(out: &Output) -> BTreeMap<PathBuf, String> {
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for day in out.days.iter().filter(|d| d.complete) {
        let ratios = out
            .compliance
            .iter()
            .filter(|c| c.window == "day" && c.site == day.site && c.start == day.date)
            .map(|c| {
                let ratio = Ratio {
                    numerator: c.numerator,
                    denominator: c.denominator,
                    invalid: c.invalid,
                };
                (
                    c.metric.clone(),
                    DayRatio {
                        ratio,
                        target: c.target,
                    },
                )
            })
            .collect();
        let line = Line {
            v: VERSION,
            day: day.clone(),
            ratios,
        };
        let Ok(json) = serde_json::to_string(&line) else {
            continue;
        };
        let month = day.date.get(..7).unwrap_or("unknown");
        let text = files
            .entry(Path::new(&day.site).join(format!("{month}.ndjson")))
            .or_default();
        text.push_str(&json);
        text.push('\n');
    }
    files
}

/// Append `files` (from [`lines_of`]) under `root`, each synced.
pub fn append(root: &Path, files: &BTreeMap<PathBuf, String>) -> Result<u64, ArchiveError> {
    let mut bytes = 0;
    for (rel, text) in files {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(text.as_bytes()).map_err(io(&path))?;
        f.sync_data().map_err(io(&path))?;
        bytes += text.len() as u64;
    }
    Ok(bytes)
}

/// A site's archived days of `months` (`YYYY-MM`), the last line of each day.
#[derive(Debug, Default)]
pub struct Days {
    pub days: BTreeMap<String, (DayReport, BTreeMap<String, DayRatio>)>,
    /// Lines that could not be read (damaged or from a newer version).
    pub unreadable: u64,
}

/// Read a site's archived `months`; a missing month is empty.
pub fn read(root: &Path, site: &str, months: &[String]) -> Result<Days, ArchiveError> {
    let mut out = Days::default();
    for m in months {
        let path = root.join(site).join(format!("{m}.ndjson"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&path)(e)),
        };
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Line>(l) {
                Ok(line) if line.v == VERSION => {
                    out.days
                        .insert(line.day.date.clone(), (line.day, line.ratios));
                }
                _ => out.unreadable += 1,
            }
        }
    }
    Ok(out)
}

/// Rewrite a month's file with one line per day (after its report is written).
pub fn compact(root: &Path, site: &str, month: &str) -> Result<(), ArchiveError> {
    let days = read(root, site, &[month.to_string()])?;
    let mut text = String::new();
    for (day, ratios) in days.days.into_values() {
        let line = Line {
            v: VERSION,
            day,
            ratios,
        };
        if let Ok(json) = serde_json::to_string(&line) {
            text.push_str(&json);
            text.push('\n');
        }
    }
    let path = root.join(site).join(format!("{month}.ndjson"));
    crate::buffer::stateful::write_atomically(&path, text.as_bytes()).map_err(io(&path))
}

impl Days {
    /// The engine's output for these days: the day reports, and `compliance` rows of every
    /// day, month, quarter and year window they touch (ratios summed as the engine sums them,
    /// the target of the window's last day).
    pub fn output(self, site: &str) -> Output {
        // (metric, window, start) → (sum, days, target)
        type Key = (String, &'static str, String);
        let mut windows: BTreeMap<Key, (Ratio, u32, Option<f64>)> = BTreeMap::new();
        let mut days = Vec::with_capacity(self.days.len());
        for (date, (day, ratios)) in self.days {
            let Ok(d) = date.parse::<jiff::civil::Date>() else {
                continue;
            };
            for (metric, r) in ratios {
                for w in ["day", "month", "quarter", "year"] {
                    let start = window_start(d, w).to_string();
                    let e = windows.entry((metric.clone(), w, start)).or_default();
                    e.0.add(&r.ratio);
                    e.1 += 1;
                    e.2 = r.target;
                }
            }
            days.push(day);
        }
        let compliance = windows
            .into_iter()
            .map(|((metric, window, start), (total, n, target))| {
                let start_unix = start
                    .parse::<jiff::civil::Date>()
                    .map_or(0, |d| Clock::day_number(d) * 86_400);
                ComplianceRow::of(
                    (site, &metric),
                    (window, start, start_unix),
                    &total,
                    target,
                    n,
                )
            })
            .collect();
        Output { days, compliance }
    }
}
