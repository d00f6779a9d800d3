//! `meilid device provision`: a device's configuration record as the bytes of its
//! configuration sector, written with the flash library (`sequential-storage`) and the record
//! type (`meili_firmware::config`) the device itself reads at boot (docs/provisioning.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use embedded_storage_async::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use meili_firmware::config::{Config as Record, CA_MAX, JSON_MAX, KEY_CA, KEY_CONFIG};
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};

use crate::config::{Config, DeviceConfig};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no device {0} in the configuration")]
    UnknownDevice(String),
    #[error("{device}: {key}: {why}")]
    Value {
        device: String,
        key: String,
        why: &'static str,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("{device}: the configuration sector: {why}")]
    Flash { device: String, why: String },
}

/// The boards an image is made for: their configuration sector's size, page (erase) size,
/// and where it sits. Kept equal to `CONFIG_RANGE` and `Flash` in firmware/apps/src/board/.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Board {
    /// The product board: sectors 10–11 (2 × 128 KiB at 0x080C0000).
    Stm32f407,
    /// The emulated board (QEMU mps2-an386): 2 × 4 KiB pages.
    Qemu,
}

impl Board {
    fn sector(self) -> (usize, usize) {
        match self {
            Board::Stm32f407 => (256 * 1024, 128 * 1024),
            Board::Qemu => (8 * 1024, 4 * 1024),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Board::Stm32f407 => "stm32f407",
            Board::Qemu => "qemu",
        }
    }

    /// How the image gets onto the device.
    pub fn write_command(self, image: &Path) -> String {
        match self {
            Board::Stm32f407 => format!(
                "probe-rs download --chip STM32F407VGTx --binary-format bin --base-address 0x080C0000 {f} && probe-rs reset --chip STM32F407VGTx",
                f = image.display()
            ),
            // QEMU copies a loader's bytes again at every reset, so the emulated board takes
            // them from a window above its flash once per QEMU process (qemu_an386.rs).
            Board::Qemu => format!(
                "qemu-system-arm -M mps2-an386 -nographic -kernel KIND.elf -device loader,file={f},addr=0x00311000",
                f = image.display()
            ),
        }
    }
}

/// One device's record and its sector image.
#[derive(Debug)]
pub struct Provisioned {
    pub site: String,
    pub id: String,
    pub record: Record,
    pub image: Vec<u8>,
    /// Things the technician should know (no credentials, a DST time zone …).
    pub notes: Vec<String>,
}

/// Passwords `meilid broker-config` issued, by broker username.
pub fn passwords(path: &Path) -> Result<BTreeMap<String, String>, ProvisionError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProvisionError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(crate::broker::parse_issued(&text))
}

/// The broker's CA certificate (PEM) as the DER bytes the device keeps.
pub fn ca_der(path: &Path) -> Result<Vec<u8>, ProvisionError> {
    let io = |source| ProvisionError::Io {
        path: path.to_path_buf(),
        source,
    };
    let pem = std::fs::read_to_string(path).map_err(io)?;
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            ProvisionError::Config(format!("{}: not a PEM certificate ({e})", path.display()))
        })?;
    if der.is_empty() || der.len() > CA_MAX {
        return Err(ProvisionError::Config(format!(
            "{}: a device holds a CA certificate of 1 to {CA_MAX} bytes (DER), this one has {}",
            path.display(),
            der.len()
        )));
    }
    Ok(der)
}

/// The record for device `d`: its registry entry, `[provision]`, and `sets` (KEY=VALUE as on
/// the device's console) last. Every value goes through the device's own `set`.
pub fn record(
    cfg: &Config,
    d: &DeviceConfig,
    passwords: Option<&BTreeMap<String, String>>,
    sets: &[(String, String)],
) -> Result<(Record, Vec<String>), ProvisionError> {
    let mut r = Record::default();
    let mut notes = Vec::new();
    let set = |r: &mut Record, key: &str, value: &str| {
        r.set(key, value).map_err(|why| ProvisionError::Value {
            device: format!("{}/{}", d.site, d.id),
            key: key.into(),
            why,
        })
    };
    set(&mut r, "id", &d.id)?;
    set(&mut r, "site", &d.site)?;
    set(&mut r, "lat", &d.lat.to_string())?;
    set(&mut r, "lon", &d.lon.to_string())?;
    if let Some(p) = d.period_secs {
        set(&mut r, "period_s", &p.to_string())?;
    }
    let tz = jiff::tz::TimeZone::get(&cfg.daemon.timezone)
        .map_err(|e| ProvisionError::Config(format!("daemon.timezone: {e}")))?;
    let now = jiff::Timestamp::now();
    let offset_min = tz.to_offset(now).seconds() / 60;
    set(&mut r, "utc_offset_min", &offset_min.to_string())?;
    let in_half_year = now + jiff::SignedDuration::from_hours(183 * 24);
    if tz.to_offset(in_half_year) != tz.to_offset(now) {
        notes.push(format!(
            "{} observes daylight saving time; the device keeps UTC{:+} minutes",
            cfg.daemon.timezone, offset_min
        ));
    }
    if let Some(m) = &d.modbus {
        // Polled by the gateway: no broker, answer on the field bus.
        set(&mut r, "broker_host", "off")?;
        set(&mut r, "modbus_unit", &m.unit.to_string())?;
        if let Some(b) = m.baud {
            set(&mut r, "modbus_baud", &b.to_string())?;
        }
    } else {
        let p = cfg.provision.as_ref().ok_or_else(|| {
            ProvisionError::Config(
                "add a [provision] section with broker_host (the broker as devices reach it)"
                    .into(),
            )
        })?;
        let host = p.broker_host.as_deref().ok_or_else(|| {
            ProvisionError::Config(
                "set provision.broker_host (the broker as devices reach it)".into(),
            )
        })?;
        set(&mut r, "broker_host", host)?;
        set(&mut r, "broker_port", &p.broker_port.to_string())?;
        set(&mut r, "tls", if p.tls { "on" } else { "off" })?;
        set(&mut r, "apn", &p.apn)?;
        if d.kind == meili_firmware::Kind::Streetlight {
            set(&mut r, "on_offset_min", &p.on_offset_min.to_string())?;
            set(&mut r, "off_offset_min", &p.off_offset_min.to_string())?;
            set(&mut r, "dim_pct", &p.dim_pct.to_string())?;
        }
        let user = crate::broker::device_user(&d.site, &d.id);
        match passwords {
            Some(pw) => {
                let password = pw.get(&user).ok_or_else(|| {
                    ProvisionError::Config(format!(
                        "{user} has no broker password yet: run meilid broker-config again (it keeps the passwords issued) and reload the broker"
                    ))
                })?;
                set(&mut r, "username", &user)?;
                set(&mut r, "password", password)?;
            }
            None => notes.push(
                "no provision.passwords_file: the device connects without credentials".into(),
            ),
        }
    }
    for (k, v) in sets {
        set(&mut r, k, v)?;
    }
    Ok((r, notes))
}

/// The configuration sector of `board` holding `record` (and the broker's CA), as the
/// device's flash library lays it out on an erased sector; read back before it is returned.
pub fn image(board: Board, record: &Record, ca: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let mut json = [0u8; JSON_MAX];
    let n = serde_json_core::to_slice(record, &mut json)
        .map_err(|_| format!("the record is longer than {JSON_MAX} bytes as JSON"))?;
    let json = &json[..n];
    match board.sector() {
        (size, 4096) => sector::<4096>(size, json, record, ca),
        (size, 131_072) => sector::<131_072>(size, json, record, ca),
        (_, page) => Err(format!("no image for {page}-byte pages")),
    }
}

fn sector<const PAGE: usize>(
    size: usize,
    json: &[u8],
    record: &Record,
    ca: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let mut flash = RamFlash::<PAGE> {
        bytes: vec![0xFF; size],
    };
    let range = 0..u32::try_from(size).map_err(|_| "sector size")?;
    let mut map =
        MapStorage::<u8, _, _>::new(&mut flash, MapConfig::new(range), Cache::new_uncached());
    let mut buf = vec![0u8; JSON_MAX + 64];
    block_on(map.store_item(&mut buf, &KEY_CONFIG, &json)).map_err(|e| format!("{e:?}"))?;
    if let Some(ca) = ca {
        block_on(map.store_item(&mut buf, &KEY_CA, &ca)).map_err(|e| format!("{e:?}"))?;
    }
    let back: Option<&[u8]> =
        block_on(map.fetch_item(&mut buf, &KEY_CONFIG)).map_err(|e| format!("{e:?}"))?;
    let parsed = back.and_then(|b| serde_json_core::from_slice::<Record>(b).ok());
    if parsed.map(|(r, _)| r).as_ref() != Some(record) {
        return Err("the record did not read back".into());
    }
    let _ = map.destroy();
    Ok(flash.bytes)
}

/// Provision `d` for `board`: its record and the image.
pub fn provision(
    cfg: &Config,
    d: &DeviceConfig,
    board: Board,
    passwords: Option<&BTreeMap<String, String>>,
    ca: Option<&[u8]>,
    sets: &[(String, String)],
) -> Result<Provisioned, ProvisionError> {
    let (record, notes) = record(cfg, d, passwords, sets)?;
    let ca = if record.tls { ca } else { None };
    let image = image(board, &record, ca).map_err(|why| ProvisionError::Flash {
        device: format!("{}/{}", d.site, d.id),
        why,
    })?;
    Ok(Provisioned {
        site: d.site.clone(),
        id: d.id.clone(),
        record,
        image,
        notes,
    })
}

/// Flash in memory with NOR semantics (erase to 0xFF, programming clears bits) and the
/// board's page size, never pending.
struct RamFlash<const PAGE: usize> {
    bytes: Vec<u8>,
}

impl<const PAGE: usize> ErrorType for RamFlash<PAGE> {
    type Error = NorFlashErrorKind;
}

impl<const PAGE: usize> RamFlash<PAGE> {
    fn span(&self, offset: u32, len: usize) -> Result<std::ops::Range<usize>, NorFlashErrorKind> {
        let at = offset as usize;
        let end = at.checked_add(len).filter(|e| *e <= self.bytes.len());
        end.map(|e| at..e).ok_or(NorFlashErrorKind::OutOfBounds)
    }
}

impl<const PAGE: usize> ReadNorFlash for RamFlash<PAGE> {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let r = self.span(offset, bytes.len())?;
        bytes.copy_from_slice(&self.bytes[r]);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl<const PAGE: usize> NorFlash for RamFlash<PAGE> {
    // Both boards program 4-byte words (`WRITE_SIZE` of their `Flash`).
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = PAGE;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let r = self.span(from, to.saturating_sub(from) as usize)?;
        if r.start % PAGE != 0 || r.end % PAGE != 0 {
            return Err(NorFlashErrorKind::NotAligned);
        }
        self.bytes[r].fill(0xFF);
        Ok(())
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let r = self.span(offset, bytes.len())?;
        for (d, s) in self.bytes[r].iter_mut().zip(bytes) {
            *d &= s;
        }
        Ok(())
    }
}

/// Drive a future that never waits (RAM flash) to its end.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
