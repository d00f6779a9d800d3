//! What every command shares: exit codes, JSON or table output, argument parsing helpers.

use std::process::ExitCode;

use crate::args::Format;

pub fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meilid: {e:#}");
            ExitCode::from(2)
        }
    }
}

pub fn print_json_or(
    format: Format,
    value: &impl serde::Serialize,
    table: String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string(value)?),
        Format::Table => print!("{table}"),
    }
    Ok(())
}

pub fn timezone(name: &str) -> anyhow::Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name)
        .map_err(|_| anyhow::anyhow!("{name:?} is not a known IANA time zone"))
}

pub fn date(s: &str) -> anyhow::Result<jiff::civil::Date> {
    s.parse()
        .map_err(|_| anyhow::anyhow!("{s:?} is not a date YYYY-MM-DD"))
}
