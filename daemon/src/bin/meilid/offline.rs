//! Commands that read files and print: `check-config`, `replay`, `report`.

use std::path::Path;
use std::process::ExitCode;

use meili_daemon::config;

use crate::args::Format;

/// `meilid check-config`: every error with file, line and key; exit 1 when there is one.
pub fn check_config(file: &Path) -> ExitCode {
    match config::load(file) {
        Ok(c) => {
            println!(
                "{}: OK ({} devices, {} sinks)",
                file.display(),
                c.devices.len(),
                c.sinks.len()
            );
            if c.devices.is_empty() {
                eprintln!(
                    "warning: {}: no [[devices]] (nor an include with them): every reading will be rejected as unknown_device",
                    file.display()
                );
            }
            if c.sinks.is_empty() {
                eprintln!(
                    "warning: {}: no [[sinks]]: readings are kept in the buffer and counted, but written nowhere",
                    file.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} error(s)", errors.0.len());
            ExitCode::from(1)
        }
    }
}

pub fn replay(
    config: &Path,
    input: &Path,
    format: Format,
    ignore_lateness: bool,
) -> anyhow::Result<()> {
    use meili_daemon::replay::Lateness;
    let config = config::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let lateness = if ignore_lateness {
        Lateness::Ignore
    } else {
        Lateness::Apply
    };
    let (out, stats) = meili_daemon::replay::run(&config, input, lateness)?;
    match format {
        Format::Json => {
            let doc = meili_daemon::replay::Document {
                input: &stats,
                days: &out.days,
                compliance: &out.compliance,
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => print!("{}", meili_daemon::replay::table(&out, &stats)),
    }
    Ok(())
}

/// `meilid report`: the files written, one per line.
pub fn report(a: crate::args::ReportArgs) -> anyhow::Result<()> {
    use crate::args::{ReportFormat, ReportLang};
    use meili_daemon::report::{self, Format, Lang, Period};
    let config = config::load(&a.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let period = match (&a.month, &a.quarter, &a.year, &a.from, &a.to) {
        (Some(m), ..) => Period::month(m)?,
        (_, Some(q), ..) => Period::quarter(q)?,
        (_, _, Some(y), ..) => Period::year(y)?,
        (_, _, _, Some(f), Some(t)) => Period::range(f, t)?,
        _ => anyhow::bail!("give --month, --quarter, --year or --from/--to"),
    };
    let lang = match a.lang {
        ReportLang::Zh => Lang::Zh,
        ReportLang::En => Lang::En,
    };
    let formats: Vec<Format> = a
        .format
        .iter()
        .map(|f| match f {
            ReportFormat::Html => Format::Html,
            ReportFormat::Pdf => Format::Pdf,
            ReportFormat::Xlsx => Format::Xlsx,
            ReportFormat::Csv => Format::Csv,
        })
        .collect();
    let started = std::time::Instant::now();
    let lateness = if a.ignore_lateness {
        meili_daemon::replay::Lateness::Ignore
    } else {
        meili_daemon::replay::Lateness::Apply
    };
    let files = report::generate(
        &config,
        (&a.input, lateness),
        &a.site,
        period,
        lang,
        &formats,
        &a.out,
    )?;
    for f in &files {
        println!("{}", f.display());
    }
    eprintln!(
        "report: {} files in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
