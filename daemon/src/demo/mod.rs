//! `meilid demo`: the whole pipeline with nothing to install. An embedded MQTT broker
//! (rumqttd), a simulated fleet publishing over real MQTT to it, the daemon subscribed to it,
//! the local line-protocol store under the data directory, and a live table on stdout.

pub mod broker;
pub mod fleet;
pub mod link;
pub mod modbus_sim;
pub mod sensors;
pub mod simulate;
pub mod table;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, DeviceConfig, MqttConfig, MqttProtocol};
use crate::topology::Daemon;

/// The built-in demo configuration.
pub const DEMO_CONFIG: &str = include_str!("../../../configs/demo.toml");

pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub http_listen: SocketAddr,
    pub mqtt_port: u16,
    pub period_secs: u32,
    pub config: Option<PathBuf>,
    /// Publish the simulated fleet's last two days (5-minute periods) before going live, so
    /// that the day, night and monthly figures are there from the first minute.
    pub backfill: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("configuration:\n{0}")]
    Config(#[from] config::ConfigErrors),
    #[error("embedded broker: {0}")]
    Broker(std::io::Error),
    #[error(transparent)]
    Daemon(#[from] crate::topology::DaemonError),
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn run(
    opts: DemoOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), DemoError> {
    let mut config = match &opts.config {
        Some(path) => config::load(path)?,
        None => Config::from_toml(DEMO_CONFIG)?,
    };
    let (v4, v5_port) = start_broker(opts.mqtt_port)?;
    config.daemon.data_dir = opts.data_dir.clone();
    config.daemon.http_listen = opts.http_listen;
    // Reachable from other machines: the page needs a token; one is made for this run.
    let mut token_note = String::new();
    if !opts.http_listen.ip().is_loopback() && config.http.tokens.is_empty() {
        let (token, hash) = crate::http::auth::new_token().map_err(DemoError::Broker)?;
        config.http.tokens.push(crate::config::http::TokenConfig {
            name: "demo".into(),
            scope: crate::config::http::Scope::Admin,
            sha256: Some(hash),
            token_file: None,
        });
        token_note = format!(
            "\nmeilid demo: the page is open to the network; sign in with this run's token {token}"
        );
    }
    config.mqtt = Some(demo_mqtt(v4));
    let tz = jiff::tz::TimeZone::get(&config.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let devices: Vec<_> = config.devices.iter().map(|d| d.get_ref().clone()).collect();
    let daemon = Daemon::start(config).await?;
    println!(
        "meilid demo: broker mqtt://{v4} (MQTT 5 on port {v5_port}), web page http://{0}/ (metrics http://{0}/metrics), store {1}{token_note}",
        daemon.http_addr,
        opts.data_dir.join("store").display()
    );

    let fleet_stop = CancellationToken::new();
    tokio::pin!(stop);
    let mut stopped = false;
    if opts.backfill {
        tokio::select! {
            n = backfill(&devices, v4, &tz, &fleet_stop) => {
                println!("meilid demo: {n} readings of the last two days published; now live");
            }
            _ = &mut stop => stopped = true,
        }
    }
    let period = Duration::from_secs(u64::from(opts.period_secs.max(1)));
    let fleet: Vec<_> = devices
        .into_iter()
        .map(|d| {
            tokio::spawn(fleet::run_device(
                d,
                v4,
                period,
                tz.clone(),
                fleet_stop.clone(),
                fleet::SimOptions::default(),
            ))
        })
        .collect();

    let tty = std::io::stdout().is_terminal();
    let tz2 = tz.clone();
    let shared = daemon.shared.clone();
    let printer = tokio::spawn(async move {
        let tz = tz2;
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let now = jiff::Timestamp::now();
            let table = table::render(&shared, now.as_second(), is_night(now, &tz));
            if tty {
                print!("\x1b[2J\x1b[H{table}");
            } else {
                println!("{table}");
            }
        }
    });

    if !stopped {
        stop.await;
    }
    printer.abort();
    fleet_stop.cancel();
    for f in fleet {
        let _ = f.await;
    }
    // Give the last readings a moment to cross the broker before the daemon stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = jiff::Timestamp::now();
    let final_table = table::render(&daemon.shared, now.as_second(), is_night(now, &tz));
    daemon.shutdown().await;
    println!(
        "{final_table}\nmeilid demo stopped; readings stored under {}",
        opts.data_dir.join("store").display()
    );
    Ok(())
}

/// The embedded broker: MQTT 3.1.1 on `port` and MQTT 5 on the next one (both free ones for
/// 0). It refuses to start next to another broker: the fleet and the daemon would talk to it.
fn start_broker(port: u16) -> Result<(SocketAddr, u16), DemoError> {
    let (v4_port, v5_port) = if port == 0 {
        (
            free_port().map_err(DemoError::Broker)?,
            free_port().map_err(DemoError::Broker)?,
        )
    } else {
        (port, port.wrapping_add(1))
    };
    for port in [v4_port, v5_port] {
        std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            DemoError::Broker(std::io::Error::new(
                e.kind(),
                format!("port {port} is in use ({e}); pass --mqtt-port 0 to pick free ports"),
            ))
        })?;
    }
    let v4 = SocketAddr::from(([127, 0, 0, 1], v4_port));
    broker::start(v4, SocketAddr::from(([127, 0, 0, 1], v5_port))).map_err(DemoError::Broker)?;
    Ok((v4, v5_port))
}

/// The daemon's MQTT source on the embedded broker.
fn demo_mqtt(v4: SocketAddr) -> MqttConfig {
    MqttConfig {
        url: crate::config::SecretUrl::new(format!("mqtt://{v4}")),
        client_id: "meilid-demo".into(),
        protocol: MqttProtocol::V311,
        username: None,
        password: None,
        password_file: None,
        keep_alive_secs: 30,
        topic_prefix: crate::config::DEFAULT_TOPIC_PREFIX.into(),
        session_expiry_secs: 3600,
        receive_maximum: 1024,
        max_packet_size_bytes: 1024 * 1024,
        reconnect_max_backoff_ms: 5000,
        connections: 1,
        share_group: "meili".into(),
        // The embedded broker's `max_inflight_count`.
        broker_max_inflight: 1000,
        tls: None,
    }
}

/// The fleet's readings from midnight two days ago until now, in 5-minute periods, as fast as
/// the broker takes them: the day before yesterday is then a complete day with its night (to
/// 06:00 the next morning) at any time of day, and yesterday and today have figures so far.
async fn backfill(
    devices: &[DeviceConfig],
    broker: SocketAddr,
    tz: &jiff::tz::TimeZone,
    stop: &CancellationToken,
) -> u64 {
    let now = jiff::Timestamp::now();
    let from = now
        .to_zoned(tz.clone())
        .date()
        .checked_sub(jiff::Span::new().days(2))
        .ok()
        .and_then(|d| d.to_zoned(tz.clone()).ok())
        .map_or(now.as_second() - 2 * 86_400, |z| z.timestamp().as_second());
    println!(
        "meilid demo: publishing the simulated fleet's last two days first (5-minute periods)…"
    );
    let published = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = devices
        .iter()
        .map(|d| {
            tokio::spawn(fleet::run_device(
                d.clone(),
                broker,
                Duration::from_secs(300),
                tz.clone(),
                stop.clone(),
                fleet::SimOptions {
                    start_unix: Some(from),
                    end_unix: Some(now.as_second()),
                    published: std::sync::Arc::clone(&published),
                    ..fleet::SimOptions::default()
                },
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    published.load(std::sync::atomic::Ordering::Relaxed)
}

fn is_night(now: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> bool {
    crate::standards::noise::is_night(now.to_zoned(tz.clone()).hour() as u32, 22)
}
