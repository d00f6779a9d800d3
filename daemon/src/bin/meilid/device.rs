//! `meilid device provision`.

use std::path::Path;

use anyhow::Context as _;
use meili_daemon::config;
use meili_daemon::provision::{self, Board};

use crate::args::Device;

pub fn device(what: Device) -> anyhow::Result<()> {
    match what {
        Device::Provision {
            config,
            device,
            all,
            site,
            board,
            out,
            sets,
        } => provision_cmd(
            &config,
            device.as_deref(),
            all,
            site.as_deref(),
            board,
            &out,
            &sets,
        ),
    }
}

fn provision_cmd(
    path: &Path,
    device: Option<&str>,
    all: bool,
    site: Option<&str>,
    board: Board,
    out: &Path,
    sets: &[String],
) -> anyhow::Result<()> {
    let cfg = config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sets = sets
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_string(), v.trim().to_string())),
            None => Err(anyhow::anyhow!("--set {s}: expected KEY=VALUE")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let devices: Vec<&config::DeviceConfig> = cfg
        .devices
        .iter()
        .map(|d| d.get_ref())
        .filter(|d| site.is_none_or(|s| d.site == s))
        .filter(|d| all || device == Some(d.id.as_str()))
        .collect();
    if devices.is_empty() {
        anyhow::bail!(
            "{}",
            provision::ProvisionError::UnknownDevice(device.unwrap_or("(any)").to_string())
        );
    }
    if !all && devices.len() > 1 {
        anyhow::bail!(
            "{} devices are called {}: add --site",
            devices.len(),
            device.unwrap_or("")
        );
    }
    let p = cfg.provision.as_ref();
    let passwords = match p.and_then(|p| p.passwords_file.as_deref()) {
        Some(f) => Some(provision::passwords(&beside(path, f))?),
        None => None,
    };
    let ca = match p.filter(|p| p.tls).map(|p| p.ca_file.as_deref()) {
        Some(Some(f)) => Some(provision::ca_der(&beside(path, f))?),
        Some(None) => {
            anyhow::bail!("provision.tls = true needs provision.ca_file (the broker's CA, PEM)")
        }
        None => None,
    };
    std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
    for d in devices {
        let done = provision::provision(&cfg, d, board, passwords.as_ref(), ca.as_deref(), &sets)?;
        let file = out.join(format!("{}-{}.{}.bin", done.site, done.id, board.name()));
        write_atomic(&file, &done.image)?;
        println!(
            "{}/{}: {} bytes → {}",
            done.site,
            done.id,
            done.image.len(),
            file.display()
        );
        let mut shown = String::new();
        for key in [
            "broker_host",
            "broker_port",
            "username",
            "password",
            "tls",
            "apn",
            "period_s",
            "utc_offset_min",
            "modbus_unit",
        ] {
            let mut v = heapless::String::<96>::new();
            if done.record.get(key, &mut v).is_ok() {
                shown.push_str(&format!(" {key}={v}"));
            }
        }
        println!("  record:{shown}");
        for n in &done.notes {
            println!("  note: {n}");
        }
        println!("  write: {}", board.write_command(&file));
    }
    Ok(())
}

/// A relative path from the configuration file's folder if it is there, else as given.
fn beside(config: &Path, p: &Path) -> std::path::PathBuf {
    let b = config.parent().unwrap_or(Path::new(".")).join(p);
    if p.is_relative() && b.exists() {
        b
    } else {
        p.to_path_buf()
    }
}

/// Write then rename, so a half-written image is never flashed.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("bin.tmp");
    std::fs::write(&tmp, bytes).with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
}
