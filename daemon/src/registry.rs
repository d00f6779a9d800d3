//! The device registry: declared devices, looked up from a topic without allocating.
//!
//! Devices declared at start are indexed in plain maps. A device adopted while running
//! ([`Registry::adopt`], from the page's pending list) takes the next id in an append-only
//! table of [`ADOPT_MAX`] slots and goes into small locked maps consulted only when the plain
//! ones miss, so the hot path of declared devices takes no lock. Ids never change or go away
//! while the daemon runs; components that keep per-device state grow it when they meet a new
//! id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, RwLock};

use meili_firmware::Kind;

use crate::config::{Config, DeviceConfig};

/// Index of a device in the [`Registry`].
pub type DeviceId = u32;

/// Devices that can be adopted while the daemon runs (a restart takes them in as declared).
pub const ADOPT_MAX: usize = 256;

#[derive(Debug, Clone)]
pub struct Device {
    pub config: DeviceConfig,
    /// `"{kind},device={id},…,site={site} "`: measurement and tags of its raw rows, ready to
    /// prepend to the fields (tags in key order, as InfluxDB prefers).
    pub line_prefix: String,
}

impl Device {
    pub fn new(config: DeviceConfig) -> Device {
        let class_tag = match (&config.zone_class, &config.road_class, &config.toilet_class) {
            (Some(z), _, _) => format!(",zone_class={}", z.as_str()),
            (_, Some(r), _) => format!(",road_class={}", r.as_str()),
            (_, _, Some(t)) => format!(",toilet_class={}", t.as_str()),
            _ => String::new(),
        };
        // Tag keys sorted: device < road_class/toilet_class < site < zone_class.
        let line_prefix = if config.zone_class.is_some() {
            format!(
                "{},device={},site={}{} ",
                config.kind.as_str(),
                config.id,
                config.site,
                class_tag
            )
        } else {
            format!(
                "{},device={}{},site={} ",
                config.kind.as_str(),
                config.id,
                class_tag,
                config.site
            )
        };
        Device {
            config,
            line_prefix,
        }
    }

    pub fn kind(&self) -> Kind {
        self.config.kind
    }
    pub fn id(&self) -> &str {
        &self.config.id
    }
    pub fn site(&self) -> &str {
        &self.config.site
    }
}

/// The lookup maps of a set of devices.
#[derive(Debug, Default)]
struct Index {
    /// `"{site}/{kind}/{id}"` → device: the topic levels between prefix and suffix.
    by_path: HashMap<String, DeviceId>,
    /// `"{site}/{id}"` → device, to tell an unknown device from a kind mismatch.
    by_site_id: HashMap<String, DeviceId>,
    /// Line prefix (measurement and tags, no trailing space) → device, to read raw rows back.
    by_prefix: HashMap<Vec<u8>, DeviceId>,
}

impl Index {
    fn insert(&mut self, id: DeviceId, d: &Device) {
        let c = &d.config;
        self.by_path
            .insert(format!("{}/{}/{}", c.site, c.kind.as_str(), c.id), id);
        self.by_site_id.insert(format!("{}/{}", c.site, c.id), id);
        self.by_prefix
            .insert(d.line_prefix.trim_end().as_bytes().to_vec(), id);
    }
}

#[derive(Debug)]
pub struct Registry {
    declared: Vec<Device>,
    index: Index,
    /// Adopted devices, ids from `declared.len()` on; filled in order.
    adopted: Vec<OnceLock<Device>>,
    adopted_index: RwLock<Index>,
    /// Devices in use: `declared.len()` + adopted ones (published after their slot and index).
    len: AtomicUsize,
    adopting: Mutex<()>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new([])
    }
}

/// Why a topic path did not resolve to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    UnknownDevice,
    KindMismatch,
}

/// Why a device could not be adopted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    #[error("{0} is already declared")]
    Declared(String),
    #[error("{ADOPT_MAX} devices were adopted since the daemon started: restart it to adopt more")]
    Full,
}

impl Registry {
    pub fn new(devices: impl IntoIterator<Item = DeviceConfig>) -> Registry {
        let declared: Vec<Device> = devices.into_iter().map(Device::new).collect();
        let mut index = Index::default();
        for (i, d) in declared.iter().enumerate() {
            index.insert(i as DeviceId, d);
        }
        Registry {
            len: AtomicUsize::new(declared.len()),
            declared,
            index,
            adopted: (0..ADOPT_MAX).map(|_| OnceLock::new()).collect(),
            adopted_index: RwLock::new(Index::default()),
            adopting: Mutex::new(()),
        }
    }

    pub fn from_config(config: &Config) -> Registry {
        Registry::new(config.devices.iter().map(|d| d.get_ref().clone()))
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The device with this id (ids come from this registry's lookups).
    pub fn get(&self, id: DeviceId) -> &Device {
        let i = id as usize;
        match self.declared.get(i) {
            Some(d) => d,
            None => self.adopted[i - self.declared.len()]
                .get()
                .expect("an adopted id is published after its slot is filled"),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, &Device)> {
        (0..self.len()).map(|i| (i as DeviceId, self.get(i as DeviceId)))
    }

    /// Take in a device while running; its id is the next one.
    pub fn adopt(&self, config: DeviceConfig) -> Result<DeviceId, AdoptError> {
        let _one_at_a_time = self.adopting.lock().unwrap_or_else(|e| e.into_inner());
        if self.find(&config.site, &config.id).is_some() {
            return Err(AdoptError::Declared(format!(
                "{}/{}",
                config.site, config.id
            )));
        }
        let n = self.len();
        let slot = self
            .adopted
            .get(n - self.declared.len())
            .ok_or(AdoptError::Full)?;
        let d = slot.get_or_init(|| Device::new(config));
        let id = n as DeviceId;
        self.adopted_index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, d);
        self.len.store(n + 1, Ordering::Release);
        Ok(id)
    }

    fn adopted_lookup<R>(&self, f: impl FnOnce(&Index) -> Option<R>) -> Option<R> {
        if self.len() == self.declared.len() {
            return None;
        }
        f(&self.adopted_index.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The device a raw line-protocol row belongs to, and the rest of the row (fields and
    /// timestamp); `None` for rows that are not raw readings of a declared device.
    pub fn by_line<'a>(&self, line: &'a [u8]) -> Option<(DeviceId, &'a [u8])> {
        let space = line.iter().position(|&b| b == b' ')?;
        let key = &line[..space];
        let id = match self.index.by_prefix.get(key) {
            Some(&id) => id,
            None => self.adopted_lookup(|x| x.by_prefix.get(key).copied())?,
        };
        Some((id, &line[space + 1..]))
    }

    /// `"{site}/{device}"` of a device, stable across configuration edits.
    pub fn path(&self, id: DeviceId) -> String {
        let d = self.get(id);
        format!("{}/{}", d.site(), d.id())
    }

    fn site_id(&self, key: &str) -> Option<DeviceId> {
        match self.index.by_site_id.get(key) {
            Some(&id) => Some(id),
            None => self.adopted_lookup(|x| x.by_site_id.get(key).copied()),
        }
    }

    /// The device declared as `site` / `id`, whatever its kind.
    pub fn find(&self, site: &str, id: &str) -> Option<(DeviceId, &Device)> {
        let d = self.site_id(&format!("{site}/{id}"))?;
        Some((d, self.get(d)))
    }

    /// Resolve `"{site}/{kind}/{device}"`.
    pub fn lookup(&self, path: &str) -> Result<DeviceId, LookupError> {
        if let Some(&id) = self.index.by_path.get(path) {
            return Ok(id);
        }
        if let Some(id) = self.adopted_lookup(|x| x.by_path.get(path).copied()) {
            return Ok(id);
        }
        let mut parts = path.splitn(3, '/');
        let (site, _kind, device) = (parts.next(), parts.next(), parts.next());
        match (site, device) {
            (Some(site), Some(device)) if self.site_id(&format!("{site}/{device}")).is_some() => {
                Err(LookupError::KindMismatch)
            }
            _ => Err(LookupError::UnknownDevice),
        }
    }
}
