//! The device registry: declared devices, looked up from a topic without allocating.

use std::collections::HashMap;

use meili_firmware::Kind;

use crate::config::{Config, DeviceConfig};

/// Index of a device in the [`Registry`].
pub type DeviceId = u32;

#[derive(Debug, Clone)]
pub struct Device {
    pub config: DeviceConfig,
    /// `"{kind},device={id},…,site={site} "`: measurement and tags of its raw rows, ready to
    /// prepend to the fields (tags in key order, as InfluxDB prefers).
    pub line_prefix: String,
}

impl Device {
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

#[derive(Debug, Default)]
pub struct Registry {
    devices: Vec<Device>,
    /// `"{site}/{kind}/{id}"` → device: the topic levels between prefix and suffix.
    by_path: HashMap<String, DeviceId>,
    /// `"{site}/{id}"` → device, to tell an unknown device from a kind mismatch.
    by_site_id: HashMap<String, DeviceId>,
    /// Line prefix (measurement and tags, no trailing space) → device, to read raw rows back.
    by_prefix: HashMap<Vec<u8>, DeviceId>,
}

/// Why a topic path did not resolve to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    UnknownDevice,
    KindMismatch,
}

impl Registry {
    pub fn new(devices: impl IntoIterator<Item = DeviceConfig>) -> Registry {
        let mut reg = Registry::default();
        for config in devices {
            let id = reg.devices.len() as DeviceId;
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
            reg.by_path.insert(
                format!("{}/{}/{}", config.site, config.kind.as_str(), config.id),
                id,
            );
            reg.by_site_id
                .insert(format!("{}/{}", config.site, config.id), id);
            reg.by_prefix
                .insert(line_prefix.trim_end().as_bytes().to_vec(), id);
            reg.devices.push(Device {
                config,
                line_prefix,
            });
        }
        reg
    }

    pub fn from_config(config: &Config) -> Registry {
        Registry::new(config.devices.iter().map(|d| d.get_ref().clone()))
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn get(&self, id: DeviceId) -> &Device {
        &self.devices[id as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, &Device)> {
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| (i as DeviceId, d))
    }

    /// The device a raw line-protocol row belongs to, and the rest of the row (fields and
    /// timestamp); `None` for rows that are not raw readings of a declared device.
    pub fn by_line<'a>(&self, line: &'a [u8]) -> Option<(DeviceId, &'a [u8])> {
        let space = line.iter().position(|&b| b == b' ')?;
        let id = *self.by_prefix.get(&line[..space])?;
        Some((id, &line[space + 1..]))
    }

    /// `"{site}/{device}"` of a device, stable across configuration edits.
    pub fn path(&self, id: DeviceId) -> String {
        let d = self.get(id);
        format!("{}/{}", d.site(), d.id())
    }

    /// The device declared as `site` / `id`, whatever its kind.
    pub fn find(&self, site: &str, id: &str) -> Option<(DeviceId, &Device)> {
        let &d = self.by_site_id.get(&format!("{site}/{id}"))?;
        Some((d, self.get(d)))
    }

    /// Resolve `"{site}/{kind}/{device}"`.
    pub fn lookup(&self, path: &str) -> Result<DeviceId, LookupError> {
        if let Some(&id) = self.by_path.get(path) {
            return Ok(id);
        }
        let mut parts = path.splitn(3, '/');
        let (site, _kind, device) = (parts.next(), parts.next(), parts.next());
        match (site, device) {
            (Some(site), Some(device))
                if self.by_site_id.contains_key(&format!("{site}/{device}")) =>
            {
                Err(LookupError::KindMismatch)
            }
            _ => Err(LookupError::UnknownDevice),
        }
    }
}
