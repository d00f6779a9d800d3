//! The daemon's own reports: once a month has closed (the engine's watermark, as of its last
//! archived emission, is past local noon of its last day + 1 and the lateness), its report is written from the archive of
//! complete days into `{data_dir}/reports/` — and the quarter's and the year's with their
//! last month. Then the month's archive is compacted (once), and the oldest months beyond
//! `[reports] keep_months` or `max_disk_bytes` are removed (counted).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{build, stem, write_each, Format, Period, ReportError};
use crate::config::Config;
use crate::transforms::aggregate::archive;
use crate::transforms::aggregate::metrics::StandardsMetrics;

/// Where the reports are kept (served by `GET /api/v1/reports`).
pub fn reports_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("reports")
}

pub struct Monthly {
    pub config: Arc<Config>,
    pub metrics: Arc<StandardsMetrics>,
}

impl Monthly {
    /// Look for closed periods every `check_interval_secs` until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let every = Duration::from_secs(self.config.reports.check_interval_secs.max(1));
        let this = Arc::new(self);
        // A period that failed is tried again after an hour, not at every check.
        let mut failed: BTreeMap<String, Instant> = BTreeMap::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            failed.retain(|_, at| at.elapsed() < Duration::from_secs(3600));
            let skip: Vec<String> = failed.keys().cloned().collect();
            let t = Arc::clone(&this);
            match tokio::task::spawn_blocking(move || t.check(&skip)).await {
                Ok(newly_failed) => {
                    for f in newly_failed {
                        failed.insert(f, Instant::now());
                    }
                }
                Err(_) => tracing::error!("Report task failed."),
            }
        }
    }

    /// Write every due report (blocking); returns the periods that failed.
    pub fn check(&self, skip: &[String]) -> Vec<String> {
        let data_dir = &self.config.daemon.data_dir;
        let root = archive::dir(data_dir);
        let out_dir = reports_dir(data_dir);
        let watermark = self.metrics.archived_watermark_unix.load(Relaxed);
        let mut failed = Vec::new();
        for (site, months) in archived(&root) {
            for month in &months {
                for period in self.due(&site, month, watermark, &out_dir) {
                    let key = stem(&site, &period);
                    if skip.contains(&key) {
                        continue;
                    }
                    match self.write_one(&root, &site, &period, &out_dir) {
                        Ok(files) => {
                            self.metrics.reports_written.fetch_add(1, Relaxed);
                            tracing::info!(site, period = %period.label, files = ?files, "Report written.");
                            // The month is closed and reported: its archive, once, one line per day.
                            if period.kind == "month" {
                                if let Err(e) = archive::compact(&root, &site, month) {
                                    tracing::warn!(site, month, error = %e, "Cannot compact the archive.");
                                }
                            }
                        }
                        Err(e) => {
                            self.metrics.report_failures.fetch_add(1, Relaxed);
                            tracing::warn!(site, period = %period.label, error = %e, "Cannot write the report; trying again in an hour.");
                            failed.push(key);
                        }
                    }
                }
            }
        }
        self.prune(&root, &out_dir);
        failed
    }

    /// Month `YYYY-MM` has closed: no reading can change its days any more.
    fn closed(&self, month: &str, watermark: i64) -> bool {
        let Ok(p) = Period::month(month) else {
            return false;
        };
        let tz = jiff::tz::TimeZone::get(&self.config.daemon.timezone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let Ok(next) = p.to.tomorrow() else {
            return false;
        };
        let close = next
            .at(12, 0, 0, 0)
            .to_zoned(tz)
            .map_or(i64::MAX, |z| z.timestamp().as_second());
        let lateness = i64::try_from(self.config.standards.lateness_secs).unwrap_or(i64::MAX);
        watermark >= close.saturating_add(lateness)
    }

    /// The periods ending with `month` whose reports are due and not written yet.
    fn due(&self, site: &str, month: &str, watermark: i64, out_dir: &Path) -> Vec<Period> {
        if !self.closed(month, watermark) {
            return Vec::new();
        }
        let Ok(m) = Period::month(month) else {
            return Vec::new();
        };
        let mut periods = vec![m.clone()];
        if m.to.month() % 3 == 0 {
            let q = (m.to.month() - 1) / 3 + 1;
            periods.extend(Period::quarter(&format!("{}Q{q}", m.to.year())).ok());
        }
        if m.to.month() == 12 {
            periods.extend(Period::year(&m.to.year().to_string()).ok());
        }
        periods.retain(|p| !self.missing(site, p, out_dir).is_empty());
        periods
    }

    /// The configured formats of `period`'s report not written yet.
    fn missing(&self, site: &str, period: &Period, out_dir: &Path) -> Vec<Format> {
        let stem = stem(site, period);
        let mut formats = self.config.reports.formats.clone();
        formats.retain(|f| !out_dir.join(format!("{stem}.{}", f.ext())).exists());
        formats
    }

    fn write_one(
        &self,
        root: &Path,
        site: &str,
        period: &Period,
        out_dir: &Path,
    ) -> Result<Vec<PathBuf>, ReportError> {
        let previous = period.previous();
        let months = months_between(previous.from, period.to);
        let days = archive::read(root, site, &months)?;
        if days.unreadable > 0 {
            tracing::warn!(
                site,
                lines = days.unreadable,
                "Archive lines not readable; left out of the report."
            );
        }
        let report = build(
            days.output(site),
            None,
            site,
            period.clone(),
            &super::now(&self.config),
        )?;
        let formats = self.missing(site, period, out_dir);
        match write_each(
            &report,
            &self.config,
            self.config.reports.lang,
            &formats,
            out_dir,
        ) {
            (written, None) => Ok(written),
            (_, Some(e)) => Err(e),
        }
    }

    /// Remove the oldest months (archive and reports) beyond `keep_months` or over
    /// `max_disk_bytes`.
    fn prune(&self, root: &Path, out_dir: &Path) {
        let r = &self.config.reports;
        let mut files: Vec<(String, PathBuf, u64)> = Vec::new();
        for (site, months) in archived(root) {
            for m in months {
                let p = root.join(&site).join(format!("{m}.ndjson"));
                files.push((m, p, 0));
            }
        }
        if let Ok(rd) = std::fs::read_dir(out_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(month) = period_of(&name) {
                    files.push((month, e.path(), 0));
                }
            }
        }
        for f in &mut files {
            f.2 = std::fs::metadata(&f.1).map_or(0, |m| m.len());
        }
        files.sort();
        let mut months: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        months.dedup();
        let keep = r.keep_months.max(1) as usize;
        let too_old: Vec<String> = months
            .len()
            .checked_sub(keep)
            .map(|n| months[..n].iter().map(|m| m.to_string()).collect())
            .unwrap_or_default();
        let mut total: u64 = files.iter().map(|f| f.2).sum();
        for (month, path, len) in &files {
            let over = total > r.max_disk_bytes;
            if !over && !too_old.contains(month) {
                continue;
            }
            if std::fs::remove_file(path).is_ok() {
                total = total.saturating_sub(*len);
                self.metrics.reports_pruned.fetch_add(1, Relaxed);
                tracing::info!(path = %path.display(), "Removed an old report or archive month.");
            }
        }
    }
}

/// Sites and their archived months (`YYYY-MM`), sorted.
fn archived(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    for site in rd.flatten().filter(|e| e.path().is_dir()) {
        let name = site.file_name().to_string_lossy().into_owned();
        let mut months: Vec<String> = std::fs::read_dir(site.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let m = n.strip_suffix(".ndjson")?;
                Period::month(m).is_ok().then(|| m.to_string())
            })
            .collect();
        months.sort();
        out.push((name, months));
    }
    out.sort();
    out
}

/// `YYYY-MM` of every month from `from` to `to`.
fn months_between(from: jiff::civil::Date, to: jiff::civil::Date) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = from.first_of_month();
    while d <= to {
        out.push(d.strftime("%Y-%m").to_string());
        match d.checked_add(jiff::Span::new().months(1)) {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    out
}

/// The month a report file belongs to, for pruning: `{site}-YYYY-MM.ext` → `YYYY-MM`; a
/// quarter's (`{site}-YYYYQn`) or year's (`{site}-YYYY`) file counts as its last month.
fn period_of(name: &str) -> Option<String> {
    let stem = name.rsplit_once('.')?.0;
    if !stem.is_ascii() {
        return None;
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let tail = |n: usize| {
        let i = stem.len().checked_sub(n + 1)?;
        let t = stem.get(i..)?;
        t.strip_prefix('-')
    };
    if let Some(t) = tail(7).filter(|t| digits(&t[..4], 4) && &t[4..5] == "-" && digits(&t[5..], 2))
    {
        return Some(t.to_string());
    }
    if let Some(t) = tail(6).filter(|t| digits(&t[..4], 4) && &t[4..5] == "Q") {
        let q: u8 = t[5..].parse().ok().filter(|q| (1..=4).contains(q))?;
        return Some(format!("{}-{:02}", &t[..4], q * 3));
    }
    tail(4).filter(|t| digits(t, 4)).map(|y| format!("{y}-12"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_belong_to_their_last_month() {
        assert_eq!(period_of("town-2026-10.pdf").as_deref(), Some("2026-10"));
        assert_eq!(period_of("town-2026Q4.xlsx").as_deref(), Some("2026-12"));
        assert_eq!(period_of("east-town-2026.html").as_deref(), Some("2026-12"));
        assert_eq!(period_of("notes.txt"), None);
        assert_eq!(
            months_between("2026-09-01".parse().unwrap(), "2026-12-31".parse().unwrap()),
            ["2026-09", "2026-10", "2026-11", "2026-12"]
        );
    }
}
