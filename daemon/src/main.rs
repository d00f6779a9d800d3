//! `meilid`: command line. Errors from the library become an exit code here (anyhow at the edge).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use meili_daemon::{config, demo, topology};

#[derive(Parser)]
#[command(
    name = "meilid",
    version,
    about = "Meili edge gateway: street sensors to official compliance figures"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Zero-setup run: embedded MQTT broker, simulated fleet, local store, live table.
    Demo {
        /// Stop after this long (e.g. 30s, 5m, 1h); default: until Ctrl-C.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Where the local store and state go.
        #[arg(long, default_value = "meili-demo-data")]
        data_dir: PathBuf,
        /// HTTP address for /health and /metrics.
        #[arg(long, default_value = "127.0.0.1:9780")]
        http_listen: std::net::SocketAddr,
        /// Port of the embedded MQTT broker (3.1.1; MQTT 5 on the next port). 0 picks a free one.
        #[arg(long, default_value_t = 1883)]
        mqtt_port: u16,
        /// Seconds between readings of each simulated device.
        #[arg(long, default_value_t = 5)]
        period_secs: u32,
        /// Configuration with the demo's devices (default: the built-in configs/demo.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file; every error names file, line and key.
    CheckConfig { file: PathBuf },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off,rumqttc=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(c) => {
                println!(
                    "{}: OK ({} devices, {} sinks)",
                    file.display(),
                    c.devices.len(),
                    c.sinks.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} error(s)", errors.0.len());
                ExitCode::from(1)
            }
        },
        command => {
            init_logging(cli.log_format);
            match run_async(command) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("meilid: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run_async(command: Command) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            Command::Run { config } => {
                let config = config::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
                topology::run(config, shutdown_signal()).await?;
            }
            Command::Demo { duration, data_dir, http_listen, mqtt_port, period_secs, config } => {
                let opts = demo::DemoOptions { data_dir, http_listen, mqtt_port, period_secs, config };
                let stop = async move {
                    match duration {
                        Some(d) => tokio::select! { _ = tokio::time::sleep(d) => {}, _ = shutdown_signal() => {} },
                        None => shutdown_signal().await,
                    }
                };
                demo::run(opts, stop).await?;
            }
            Command::CheckConfig { .. } => unreachable!("handled without a runtime"),
        }
        Ok(())
    })
}
