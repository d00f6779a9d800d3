//! `meilid demo` and `meilid simulate` (cargo feature `demo`, on by default): a simulated
//! fleet against the embedded broker or any broker.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use meili_daemon::demo;

use crate::signal::shutdown_signal;

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
    /// Start live at once, without first publishing the last two days (which fills the day,
    /// night and monthly figures within a minute).
    #[arg(long)]
    pub no_backfill: bool,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Broker address, host:port (IP).
    #[arg(long)]
    pub broker: std::net::SocketAddr,
    /// Site of the simulated devices (the topic's site segment).
    #[arg(long, default_value = "sim")]
    pub site: String,
    /// Noise meters to simulate.
    #[arg(long, default_value_t = 0)]
    pub noise: usize,
    /// Air-quality stations to simulate.
    #[arg(long, default_value_t = 0)]
    pub air: usize,
    /// Smart toilets to simulate.
    #[arg(long, default_value_t = 0)]
    pub toilet: usize,
    /// Streetlight controllers to simulate.
    #[arg(long, default_value_t = 0)]
    pub streetlight: usize,
    /// Seconds between readings of each simulated device.
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
    /// Address the simulated Modbus TCP meters listen on.
    #[arg(long, default_value = "127.0.0.1:1502")]
    pub modbus_tcp: std::net::SocketAddr,
    /// Serve the Modbus meters as RTU slaves on this serial line instead of TCP.
    #[arg(long)]
    pub modbus_rtu: Option<PathBuf>,
    /// The gateway's end of the RTU line, for --print-config (default: --modbus-rtu).
    #[arg(long)]
    pub gateway_rtu: Option<PathBuf>,
    /// Baud rate of the simulated RTU line.
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
    /// The devices' local time zone (IANA name): opening hours, day and night, the lamps'
    /// schedule and `--start/--end` are in it. Give the gateway's `daemon.timezone`.
    #[arg(long, default_value = "Asia/Shanghai")]
    pub timezone: String,
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

/// `meilid demo`.
pub async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let opts = demo::DemoOptions {
        data_dir: a.data_dir,
        http_listen: a.http_listen,
        mqtt_port: a.mqtt_port,
        period_secs: a.period_secs,
        config: a.config,
        backfill: !a.no_backfill,
    };
    demo::run(opts, after_or_signal(a.duration)).await?;
    Ok(())
}

/// `meilid simulate`.
pub async fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let SimulateArgs {
        broker,
        site,
        noise,
        air,
        toilet,
        streetlight,
        period_secs,
        offline_pct,
        duration,
        modbus_noise,
        modbus_tcp,
        modbus_rtu,
        gateway_rtu,
        modbus_baud,
        map_dir,
        toilet_hours,
        start,
        end,
        print_config,
        timezone,
    } = a;
    use meili_daemon::demo::simulate::{self, ModbusLink};
    let counts = [noise, air, toilet, streetlight];
    if let Some(bad) = toilet_hours
        .iter()
        .find(|h| meili_daemon::standards::toilet::OpeningHours::parse(h).is_none())
    {
        anyhow::bail!("--toilet-hours: {bad:?} is not HH:MM-HH:MM");
    }
    let link = match &modbus_rtu {
        Some(p) => ModbusLink::Rtu(p.clone(), modbus_baud),
        None => ModbusLink::Tcp(modbus_tcp),
    };
    if print_config {
        let mut devices = simulate::devices(&site, counts, &toilet_hours);
        let map = std::path::absolute(map_dir.join("meili-noise.toml"))
            .unwrap_or(map_dir.join("meili-noise.toml"));
        let gateway = match (gateway_rtu, &link) {
            (Some(g), ModbusLink::Rtu(_, b)) => ModbusLink::Rtu(g, *b),
            _ => link.clone(),
        };
        devices.extend(simulate::modbus_devices(
            &site,
            modbus_noise,
            &gateway,
            &map,
            u64::from(period_secs.max(1)),
        ));
        print!("{}", simulate::config_toml(&devices));
        return Ok(());
    }
    let tz = jiff::tz::TimeZone::get(&timezone)
        .map_err(|e| anyhow::anyhow!("--timezone {timezone:?}: {e}"))?;
    let sim = simulate::Simulate {
        broker,
        site,
        counts,
        period: Duration::from_secs(u64::from(period_secs.max(1))),
        offline_pct,
        timezone: tz.clone(),
        modbus_noise,
        modbus: Some(link),
        toilet_hours,
        start_unix: start.map(|t| t.unix(&tz)),
        end_unix: end.map(|t| t.unix(&tz)),
    };
    let (published, dropped) = simulate::run(sim, after_or_signal(duration)).await;
    println!("simulate: {published} readings published, {dropped} dropped by full offline buffers");
    Ok(())
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

/// Resolves after `duration` (when given) or on SIGINT/SIGTERM, whichever comes first.
pub async fn after_or_signal(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::select! {
            _ = tokio::time::sleep(d) => {},
            _ = shutdown_signal() => {},
        },
        None => shutdown_signal().await,
    }
}
