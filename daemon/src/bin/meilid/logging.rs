//! Logs on stderr: colours only on a terminal (`NO_COLOR` honoured), plain text in files and
//! pipes, no timestamps under systemd (the journal adds its own), JSON on request.

use crate::args::LogFormat;

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off,rumqttc=warn"));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let style = log_style(
        terminal,
        std::env::var_os("NO_COLOR"),
        std::env::var_os("JOURNAL_STREAM"),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style == LogStyle::Colour);
    match (format, style) {
        (LogFormat::Json, _) => builder.json().init(),
        // The journal stamps every line itself.
        (LogFormat::Text, LogStyle::Journal) => builder.without_time().init(),
        (LogFormat::Text, _) => builder.init(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LogStyle {
    /// A terminal without `NO_COLOR`.
    Colour,
    /// Plain text (files, pipes, `NO_COLOR`).
    Plain,
    /// Plain text without timestamps: stderr is systemd's journal (`JOURNAL_STREAM`).
    Journal,
}

/// Colours only on a terminal and without `NO_COLOR` (no-color.org: set and not empty);
/// under systemd the journal's own timestamps.
fn log_style(
    terminal: bool,
    no_color: Option<std::ffi::OsString>,
    journal: Option<std::ffi::OsString>,
) -> LogStyle {
    if journal.is_some() && !terminal {
        LogStyle::Journal
    } else if terminal && no_color.is_none_or(|v| v.is_empty()) {
        LogStyle::Colour
    } else {
        LogStyle::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        let set = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(log_style(true, None, None), LogStyle::Colour);
        assert_eq!(
            log_style(true, set(""), None),
            LogStyle::Colour,
            "empty NO_COLOR"
        );
        assert_eq!(log_style(true, set("1"), None), LogStyle::Plain);
        assert_eq!(log_style(false, None, None), LogStyle::Plain);
        assert_eq!(log_style(false, None, set("8:12345")), LogStyle::Journal);
        assert_eq!(
            log_style(true, None, set("8:12345")),
            LogStyle::Colour,
            "a terminal wins"
        );
    }
}
