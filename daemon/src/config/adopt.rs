//! Adopting a device: its `[[devices]]` entry appended to `daemon.adopt_file` (one of the
//! `include` files), atomically: the new text is checked by parsing it back, written to a
//! temporary file beside it, flushed to disk and renamed over it. Other files, and the rest
//! of this one (comments included), are left as they are.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{DeviceConfig, DevicesFile};

#[derive(Debug, thiserror::Error)]
pub enum AdoptFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the file would not parse with the new entry: {why}")]
    Parse { path: PathBuf, why: String },
}

/// A TOML string (a JSON string's escapes are TOML's).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The `[[devices]]` entry of `d`, as a technician would write it.
pub fn entry(d: &DeviceConfig, note: &str) -> String {
    let mut t = format!("\n# {note}\n[[devices]]\n");
    t += &format!("id = {}\nsite = {}\n", quoted(&d.id), quoted(&d.site));
    t += &format!("kind = {}\n", quoted(d.kind.as_str()));
    if let Some(n) = &d.name {
        t += &format!("name = {}\n", quoted(n));
    }
    t += &format!("lat = {:?}\nlon = {:?}\n", d.lat, d.lon);
    if let Some(z) = d.zone_class {
        t += &format!("zone_class = {}\n", quoted(z.as_str()));
    }
    if let Some(a) = d.area_km2 {
        t += &format!("area_km2 = {a:?}\n");
    }
    if let Some(r) = d.road_class {
        t += &format!("road_class = {}\n", quoted(r.as_str()));
    }
    if let Some(c) = d.toilet_class {
        t += &format!("toilet_class = {}\n", quoted(c.as_str()));
    }
    if let Some(p) = d.period_secs {
        t += &format!("period_secs = {p}\n");
    }
    if let Some(h) = &d.opening_hours {
        t += &format!("opening_hours = {}\n", quoted(h));
    }
    if !d.facilities.is_empty() {
        let f: Vec<String> = d.facilities.iter().map(|x| quoted(x)).collect();
        t += &format!("facilities = [{}]\n", f.join(", "));
    }
    t
}

/// Append `d`'s entry to `file` (made if missing).
pub fn append(file: &Path, d: &DeviceConfig, note: &str) -> Result<(), AdoptFileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AdoptFileError::Io { path, source }
    };
    let mut text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# Devices adopted on the gateway's page (meilid appends here; edit freely).\n".into()
        }
        Err(e) => return Err(io(file)(e)),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text += &entry(d, note);
    let parsed: DevicesFile = toml::from_str(&text).map_err(|e| AdoptFileError::Parse {
        path: file.to_path_buf(),
        why: e.message().to_string(),
    })?;
    let found = parsed
        .devices
        .iter()
        .any(|x| x.get_ref().id == d.id && x.get_ref().site == d.site);
    if !found {
        return Err(AdoptFileError::Parse {
            path: file.to_path_buf(),
            why: "the new entry did not read back".into(),
        });
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("devices");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, file).map_err(io(file))?;
    // The rename itself is durable once the folder is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RoadClass, ZoneClass};

    fn device(id: &str) -> DeviceConfig {
        let text = format!(
            "[[devices]]\nid = \"{id}\"\nsite = \"town\"\nkind = \"noise\"\nlat = 23.36\nlon = 103.38\nzone_class = \"2\"\n"
        );
        let f: DevicesFile = toml::from_str(&text).unwrap();
        f.devices[0].get_ref().clone()
    }

    #[test]
    fn appends_an_entry_that_reads_back_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("devices/adopted.toml");
        let mut d = device("n07");
        d.name = Some("Main St \"east\" 东".into());
        d.area_km2 = Some(0.5);
        append(&file, &d, "adopted 2026-11-30").unwrap();
        let mut l = device("l01");
        l.kind = meili_firmware::Kind::Streetlight;
        l.zone_class = None;
        l.road_class = Some(RoadClass::Main);
        std::fs::write(
            &file,
            std::fs::read_to_string(&file).unwrap() + "# a technician's comment\n",
        )
        .unwrap();
        append(&file, &l, "adopted later").unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("# a technician's comment\n"), "{text}");
        let f: DevicesFile = toml::from_str(&text).unwrap();
        let got: Vec<_> = f.devices.iter().map(|d| d.get_ref().clone()).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name.as_deref(), Some("Main St \"east\" 东"));
        assert_eq!(got[0].zone_class, Some(ZoneClass::C2));
        assert_eq!(
            (got[0].lat, got[0].lon, got[0].area_km2),
            (23.36, 103.38, Some(0.5))
        );
        assert_eq!(got[1].road_class, Some(RoadClass::Main));
        assert!(!dir.path().join("devices/.adopted.toml.tmp").exists());
    }
}
