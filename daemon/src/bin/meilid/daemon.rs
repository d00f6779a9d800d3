//! Commands that run the pipeline on a tokio runtime: `run`, `demo`, `simulate`,
//! `alerts test`.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use meili_daemon::{config, demo, topology};

use crate::args::{DemoArgs, LogFormat, SimulateArgs};
use crate::signal::{after_or_signal, shutdown_signal};

/// Logging on, a multi-threaded runtime, `f` on it; its error logged as well as returned.
pub fn block_on(log: LogFormat, f: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    crate::init_logging(log);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let r = rt.block_on(f);
    if let Err(e) = &r {
        tracing::error!("{e:#}");
    }
    r
}

/// `meilid run`.
pub async fn run(config: PathBuf) -> anyhow::Result<()> {
    let config = config::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    topology::run(config, shutdown_signal()).await?;
    Ok(())
}

/// `meilid demo`.
pub async fn demo(a: DemoArgs) -> anyhow::Result<()> {
    let opts = demo::DemoOptions {
        data_dir: a.data_dir,
        http_listen: a.http_listen,
        mqtt_port: a.mqtt_port,
        period_secs: a.period_secs,
        config: a.config,
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
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap_or(jiff::tz::TimeZone::UTC);
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

/// `meilid alerts test`.
pub async fn alerts_test(config: PathBuf) -> anyhow::Result<()> {
    let config = config::load(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    send_test_alert(&config).await
}

/// `meilid alerts test`: one firing and one resolved test alert through every channel.
async fn send_test_alert(config: &config::Config) -> anyhow::Result<()> {
    use meili_daemon::sinks::alerts;
    let channels = alerts::build_all(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if channels.is_empty() {
        anyhow::bail!("no alert channels configured ([[alerts.webhooks]], [alerts.mqtt], [alerts.alertmanager])");
    }
    let site = config
        .devices
        .first()
        .map_or("gateway".to_string(), |d| d.get_ref().site.clone());
    let now = jiff::Timestamp::now()
        .to_zoned(
            jiff::tz::TimeZone::get(&config.daemon.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
        )
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let mut failed = 0;
    for (name, mut ch) in channels {
        let mut result = Ok(());
        for state in ["firing", "resolved"] {
            let a = alerts::test_alert(&site, state, &now);
            if let Err(e) = ch.deliver(&a).await {
                result = Err(e);
                break;
            }
        }
        match result {
            Ok(()) => println!("{name} ({}): ok, test alert fired and resolved", ch.kind()),
            Err(e) => {
                failed += 1;
                println!("{name} ({}): FAILED: {e}", ch.kind());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} channel(s) failed");
    }
    Ok(())
}
