//! `[reports]`: the reports the daemon writes by itself for each closed month, quarter and
//! year into `{data_dir}/reports/` (docs/reports.md).

use serde::Deserialize;

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Html,
    Pdf,
    Xlsx,
    Csv,
}

impl Format {
    pub const fn ext(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
        }
    }
}

/// A report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Zh,
    En,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Write the report of each closed month (and quarter and year) by itself.
    pub auto: bool,
    pub formats: Vec<Format>,
    pub lang: Lang,
    /// Months of archived days and written reports kept (oldest removed first).
    pub keep_months: u32,
    /// Bound on the archive and the reports together; the oldest months go first.
    pub max_disk_bytes: u64,
    /// How often closed periods are looked for.
    pub check_interval_secs: u64,
}

impl Default for ReportsConfig {
    fn default() -> ReportsConfig {
        ReportsConfig {
            auto: true,
            formats: vec![Format::Html, Format::Pdf, Format::Xlsx, Format::Csv],
            lang: Lang::Zh,
            keep_months: 36,
            max_disk_bytes: 1 << 30,
            check_interval_secs: 60,
        }
    }
}
