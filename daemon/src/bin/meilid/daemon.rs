//! Commands that run the pipeline on a tokio runtime: `run` and `alerts test` (`demo` and
//! `simulate` in demo.rs).

use std::future::Future;
use std::path::PathBuf;

use meili_daemon::{config, topology};

use crate::args::LogFormat;
use crate::signal::shutdown_signal;

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
