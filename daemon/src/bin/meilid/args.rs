//! The command line: every subcommand and its arguments (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "meilid",
    version = env!("MEILI_VERSION"),
    about = "Meili edge gateway: street sensors to official compliance figures"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run {
        /// The gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Zero-setup run: embedded MQTT broker, simulated fleet, local store, live table.
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
    /// Validate a configuration file; every error names file, line and key.
    CheckConfig {
        /// The configuration file to check (its includes and register maps are read too).
        file: PathBuf,
    },
    /// Device identities at the broker: mosquitto password file, ACL (each device writes only
    /// its own topics), per-device passwords for provisioning, listener settings.
    BrokerConfig {
        /// The gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Directory to write passwd, acl, device-passwords.csv, mosquitto-meili.conf into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Device commissioning: a provisioned configuration image to flash.
    Device {
        #[command(subcommand)]
        what: Device,
    },
    /// A new HTTP bearer token: prints the token (give it to its holder) and the
    /// `[[http.tokens]]` entry with its SHA-256 (put it in the configuration).
    Token {
        /// The token holder's name (shown in the audit log).
        #[arg(long)]
        name: String,
        /// read, write or admin.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// Simulated devices of every kind against any MQTT broker (load and soak tests).
    #[cfg(feature = "demo")]
    Simulate(crate::demo::SimulateArgs),
    /// Run a capture (NDJSON) or CSV export through the pipeline; print daily results and
    /// compliance.
    Replay {
        /// The gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Capture (NDJSON of {"topic","payload"}) or CSV export (time,site,kind,device,field,value).
        #[arg(long)]
        input: PathBuf,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Count every reading, however late it came (by default readings arriving after
        /// `standards.lateness_secs` are counted `late` and left out, as the live daemon does).
        #[arg(long)]
        ignore_lateness: bool,
    },
    /// A compliance report for a bureau (HTML, PDF, XLSX, CSV) from the standards engine's
    /// results over a capture or CSV export (docs/reports.md).
    Report(ReportArgs),
    /// Modbus tools for technicians.
    Modbus {
        #[command(subcommand)]
        what: Modbus,
    },
    /// The standards' arithmetic for one set of numbers.
    Calc {
        #[command(subcommand)]
        what: Calc,
    },
    /// Manual pages (meilid.1 and one per command, roff) for packagers.
    #[command(hide = true)]
    Manpage {
        /// Directory to write the pages into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Alert tools for commissioning.
    Alerts {
        #[command(subcommand)]
        what: Alerts,
    },
}

#[derive(Subcommand)]
pub enum Device {
    /// Write a device's configuration record (id, site, broker, its own broker account, APN,
    /// period, location, time zone, lamp schedule, Modbus unit) as an image of its
    /// configuration sector, and print the command that writes it (docs/provisioning.md).
    Provision {
        /// The gateway configuration (TOML) the device is declared in.
        #[arg(long)]
        config: PathBuf,
        /// The device's id (`n07`); with `--site` when two sites share ids.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        device: Option<String>,
        /// Every declared device (of `--site` if given).
        #[arg(long)]
        all: bool,
        /// Only devices of this site.
        #[arg(long)]
        site: Option<String>,
        /// The board the image is for.
        #[arg(long, value_enum, default_value_t = meili_daemon::provision::Board::Stm32f407)]
        board: meili_daemon::provision::Board,
        /// Directory for the images (`{site}-{id}.{board}.bin`).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// A further setting as on the device's console, `KEY=VALUE` (e.g. `offset=0.4`,
        /// `noise_input=mic`, `unit=3`); repeatable, applied last.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum Alerts {
    /// Send a test alert (firing, then resolved) through every configured channel; exits
    /// non-zero if any channel fails.
    Test {
        /// The gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The gateway configuration (TOML): devices, standards, targets, time zone.
    #[arg(long)]
    pub config: PathBuf,
    /// The readings: a capture (NDJSON of {"topic","payload"}) or CSV export, as `replay` reads.
    #[arg(long)]
    pub input: PathBuf,
    /// The site to report on.
    #[arg(long)]
    pub site: String,
    /// A month: 2026-10.
    #[arg(long, group = "period")]
    pub month: Option<String>,
    /// A quarter: 2026Q4.
    #[arg(long, group = "period")]
    pub quarter: Option<String>,
    /// A year: 2026.
    #[arg(long, group = "period")]
    pub year: Option<String>,
    /// First day of a range (with --to): 2026-10-01.
    #[arg(long, requires = "to", group = "period")]
    pub from: Option<String>,
    /// Last day of the range.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Language of the report.
    #[arg(long, value_enum, default_value_t = ReportLang::Zh)]
    pub lang: ReportLang,
    /// Formats to write (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ReportFormat::Html, ReportFormat::Pdf, ReportFormat::Xlsx, ReportFormat::Csv])]
    pub format: Vec<ReportFormat>,
    /// Directory for the files ({site}-{period}.{ext}).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Count every reading, however late it came (as `replay --ignore-lateness`: a full
    /// recomputation of an export).
    #[arg(long)]
    pub ignore_lateness: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportLang {
    Zh,
    En,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Pdf,
    Xlsx,
    Csv,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
pub enum Modbus {
    /// Read a unit once with a register map and print the decoded contract fields.
    Probe {
        /// Modbus TCP device or gateway, host:port.
        #[arg(long, conflicts_with = "rtu", required_unless_present = "rtu")]
        tcp: Option<String>,
        /// Serial device of the RS-485 line.
        #[arg(long, requires = "baud")]
        rtu: Option<PathBuf>,
        /// Baud rate of the RS-485 line.
        #[arg(long)]
        baud: Option<u32>,
        /// Parity of the RS-485 line.
        #[arg(long, value_enum, default_value_t = meili_daemon::config::Parity::None)]
        parity: meili_daemon::config::Parity,
        /// Stop bits (1 or 2).
        #[arg(long, default_value_t = 1)]
        stop_bits: u8,
        /// Modbus unit (slave) id, 1-247 on RS-485.
        #[arg(long)]
        unit: u8,
        /// Register map (configs/modbus/*.toml) for the device.
        #[arg(long)]
        map: PathBuf,
        /// How long to wait for an answer.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum Calc {
    /// AQI from daily values (24-h means, O3 daily max 1-h and max 8-h) or, with --hourly, from
    /// 1-h means. µg/m³; CO mg/m³.
    Aqi {
        /// HJ 633 edition: 2012 or 2026.
        #[arg(long, value_parser = ["2012", "2026"])]
        standard: String,
        /// PM2.5, µg/m³.
        #[arg(long = "pm2_5", alias = "pm25")]
        pm2_5: Option<String>,
        /// PM10, µg/m³.
        #[arg(long)]
        pm10: Option<String>,
        /// SO2, µg/m³.
        #[arg(long)]
        so2: Option<String>,
        /// NO2, µg/m³.
        #[arg(long)]
        no2: Option<String>,
        /// CO, mg/m³.
        #[arg(long)]
        co: Option<String>,
        /// O3 1-hour (daily maximum for the daily report), µg/m³.
        #[arg(long = "o3_1h")]
        o3_1h: Option<String>,
        /// O3 8-hour moving mean (daily maximum), µg/m³.
        #[arg(long = "o3_8h")]
        o3_8h: Option<String>,
        /// Real-time (hourly) report instead of the daily report.
        #[arg(long)]
        hourly: bool,
        /// Use the concentrations as given, without GB/T 8170 rounding first.
        #[arg(long)]
        no_round: bool,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Energy average of sound levels in dB.
    Leq {
        /// Comma-separated sound levels, dB.
        #[arg(long)]
        levels: String,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Ld, Ln and Ldn from 24 hourly Leq values (hour 0 first; leave an entry empty if missing).
    Ldn {
        /// Comma-separated sound levels, dB.
        #[arg(long)]
        levels: String,
        /// Hour the day period starts (GB 3096: 6; local rules may differ).
        #[arg(long, default_value_t = 6)]
        day_start_hour: u8,
        /// Zone class (0 1 2 3 4a 4b) to judge against its limits.
        #[arg(long)]
        zone_class: Option<String>,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Sunrise and sunset.
    Sun {
        /// Latitude, degrees (north positive).
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Longitude, degrees (east positive).
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Local date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// IANA time zone of the date.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// When a lamp should be lit on the night starting --date (sunset/sunrise with offsets).
    Lighting {
        /// Latitude, degrees (north positive).
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        /// Longitude, degrees (east positive).
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// Local date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Minutes after sunset the lamps switch on (negative: before).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        on_offset_min: i32,
        /// Minutes after sunrise the lamps switch off (negative: before).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        off_offset_min: i32,
        /// IANA time zone of the date.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// Output: a table for people, or JSON for scripts.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}
