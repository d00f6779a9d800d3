//! The command line: every subcommand and its arguments (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "meilid",
    version,
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
        #[arg(long)]
        config: PathBuf,
    },
    /// Zero-setup run: embedded MQTT broker, simulated fleet, local store, live table.
    Demo(DemoArgs),
    /// Validate a configuration file; every error names file, line and key.
    CheckConfig { file: PathBuf },
    /// Device identities at the broker: mosquitto password file, ACL (each device writes only
    /// its own topics), per-device passwords for provisioning, listener settings.
    BrokerConfig {
        #[arg(long)]
        config: PathBuf,
        /// Directory to write passwd, acl, device-passwords.csv, mosquitto-meili.conf into.
        #[arg(long)]
        out: PathBuf,
    },
    /// A new HTTP bearer token: prints the token (give it to its holder) and the
    /// `[[http.tokens]]` entry with its SHA-256 (put it in the configuration).
    Token {
        #[arg(long)]
        name: String,
        /// read, write or admin.
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// Simulated devices of every kind against any MQTT broker (load and soak tests).
    Simulate(SimulateArgs),
    /// Run a capture (NDJSON) or CSV export through the pipeline; print daily results and
    /// compliance.
    Replay {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
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
    /// Alert tools for commissioning.
    Alerts {
        #[command(subcommand)]
        what: Alerts,
    },
}

#[derive(Args)]
pub struct DemoArgs {
    /// Stop after this long (e.g. 30s, 5m, 1h); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Where the local store and state go.
    #[arg(long, default_value = "meili-demo-data")]
    pub data_dir: PathBuf,
    /// HTTP address for /health and /metrics.
    #[arg(long, default_value = "127.0.0.1:9780")]
    pub http_listen: std::net::SocketAddr,
    /// Port of the embedded MQTT broker (3.1.1; MQTT 5 on the next port). 0 picks a free one.
    #[arg(long, default_value_t = 1883)]
    pub mqtt_port: u16,
    /// Seconds between readings of each simulated device.
    #[arg(long, default_value_t = 5)]
    pub period_secs: u32,
    /// Configuration with the demo's devices (default: the built-in configs/demo.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Broker address, host:port (IP).
    #[arg(long)]
    pub broker: std::net::SocketAddr,
    #[arg(long, default_value = "sim")]
    pub site: String,
    #[arg(long, default_value_t = 0)]
    pub noise: usize,
    #[arg(long, default_value_t = 0)]
    pub air: usize,
    #[arg(long, default_value_t = 0)]
    pub toilet: usize,
    #[arg(long, default_value_t = 0)]
    pub streetlight: usize,
    #[arg(long, default_value_t = 60)]
    pub period_secs: u32,
    /// Chance (%) per period that a device's link goes down for 1–10 periods.
    #[arg(long, default_value_t = 0.0)]
    pub offline_pct: f64,
    /// Stop after this long (e.g. 10m); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Noise meters served over Modbus (units 1…N) on --modbus-tcp, or on --modbus-rtu.
    #[arg(long, default_value_t = 0)]
    pub modbus_noise: usize,
    #[arg(long, default_value = "127.0.0.1:1502")]
    pub modbus_tcp: std::net::SocketAddr,
    /// Serve the Modbus meters as RTU slaves on this serial line instead of TCP.
    #[arg(long)]
    pub modbus_rtu: Option<PathBuf>,
    /// The gateway's end of the RTU line, for --print-config (default: --modbus-rtu).
    #[arg(long)]
    pub gateway_rtu: Option<PathBuf>,
    #[arg(long, default_value_t = 9600)]
    pub modbus_baud: u32,
    /// Where the register maps are (for --print-config).
    #[arg(long, default_value = "configs/modbus")]
    pub map_dir: PathBuf,
    /// Opening hours "HH:MM-HH:MM" given to the toilets in turn (comma-separated);
    /// default 06:00-22:00.
    #[arg(long, value_delimiter = ',')]
    pub toilet_hours: Vec<String>,
    /// Start the simulated clock at this time: local "YYYY-MM-DDTHH:MM", or "-26h"
    /// (before now). Periods already past are published as fast as the broker takes them
    /// (to fill a database with a simulated day), then the clock runs in real time.
    #[arg(long, value_parser = parse_sim_time, allow_hyphen_values = true)]
    pub start: Option<SimTime>,
    /// Stop when the simulated clock passes this time (same forms, or "now").
    #[arg(long, value_parser = parse_sim_time, allow_hyphen_values = true)]
    pub end: Option<SimTime>,
    /// Print the gateway's `[[devices]]` for these devices and exit.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Subcommand)]
pub enum Alerts {
    /// Send a test alert (firing, then resolved) through every configured channel; exits
    /// non-zero if any channel fails.
    Test {
        #[arg(long)]
        config: PathBuf,
    },
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
        #[arg(long)]
        baud: Option<u32>,
        #[arg(long, value_enum, default_value_t = meili_daemon::config::Parity::None)]
        parity: meili_daemon::config::Parity,
        #[arg(long, default_value_t = 1)]
        stop_bits: u8,
        #[arg(long)]
        unit: u8,
        #[arg(long)]
        map: PathBuf,
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
pub enum Calc {
    /// AQI from daily values (24-h means, O3 daily max 1-h and max 8-h) or, with --hourly, from
    /// 1-h means. µg/m³; CO mg/m³.
    Aqi {
        #[arg(long, value_parser = ["2012", "2026"])]
        standard: String,
        #[arg(long = "pm2_5", alias = "pm25")]
        pm2_5: Option<String>,
        #[arg(long)]
        pm10: Option<String>,
        #[arg(long)]
        so2: Option<String>,
        #[arg(long)]
        no2: Option<String>,
        #[arg(long)]
        co: Option<String>,
        #[arg(long = "o3_1h")]
        o3_1h: Option<String>,
        #[arg(long = "o3_8h")]
        o3_8h: Option<String>,
        /// Real-time (hourly) report instead of the daily report.
        #[arg(long)]
        hourly: bool,
        /// Use the concentrations as given, without GB/T 8170 rounding first.
        #[arg(long)]
        no_round: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Energy average of sound levels in dB.
    Leq {
        #[arg(long)]
        levels: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Ld, Ln and Ldn from 24 hourly Leq values (hour 0 first; leave an entry empty if missing).
    Ldn {
        #[arg(long)]
        levels: String,
        #[arg(long, default_value_t = 6)]
        day_start_hour: u8,
        /// Zone class (0 1 2 3 4a 4b) to judge against its limits.
        #[arg(long)]
        zone_class: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Sunrise and sunset.
    Sun {
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// When a lamp should be lit on the night starting --date (sunset/sunrise with offsets).
    Lighting {
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        #[arg(long)]
        date: String,
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        on_offset_min: i32,
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        off_offset_min: i32,
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// A time for `simulate --start/--end`: local civil time, or a duration before now.
#[derive(Debug, Clone, Copy)]
pub enum SimTime {
    Local(jiff::civil::DateTime),
    Ago(Duration),
}

impl SimTime {
    pub fn unix(self, tz: &jiff::tz::TimeZone) -> i64 {
        let now = jiff::Timestamp::now().as_second();
        match self {
            SimTime::Local(dt) => dt
                .to_zoned(tz.clone())
                .map_or(now, |z| z.timestamp().as_second()),
            SimTime::Ago(d) => now - d.as_secs() as i64,
        }
    }
}

fn parse_sim_time(s: &str) -> Result<SimTime, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(SimTime::Ago(Duration::ZERO));
    }
    if let Some(ago) = s.strip_prefix('-') {
        return parse_duration(ago).map(SimTime::Ago);
    }
    s.parse::<jiff::civil::DateTime>()
        .map(SimTime::Local)
        .map_err(|_| {
            format!("{s:?} is not a local time like 2026-11-23T00:00, \"-26h\" or \"now\"")
        })
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (
            &s[..i],
            match &s[i..] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                u => return Err(format!("unknown unit {u:?} (use ms, s, m, h)")),
            },
        ),
        None => (s, 1.0),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 1h"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(n * mult))
}
