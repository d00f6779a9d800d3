//! The data directory's format stamp (`data_dir/FORMAT`, one line `meili-data N`): written on
//! first start, checked on every start. A directory stamped by a newer meilid with a format
//! this one does not know is refused before anything in it is opened or written, so a
//! downgrade never overwrites a newer buffer or state (docs/install.md, "Upgrades").

use std::path::Path;

/// The format this meilid reads and writes (buffer segments and positions, standards and
/// alert state, the adopt file).
pub const FORMAT: u32 = 1;
const NAME: &str = "FORMAT";

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{path}: written by a newer meilid (data format {found}; this meilid {version} reads format {FORMAT}). Nothing was changed: run the newer meilid, or start this one with another daemon.data_dir"
    )]
    Newer {
        path: String,
        found: u32,
        version: &'static str,
    },
    #[error("{path}: not a Meili data format stamp ({line:?})")]
    Unknown { path: String, line: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Check (or, for a new or pre-stamp directory, write) the stamp of `dir`.
pub fn check(dir: &Path) -> Result<(), FormatError> {
    let path = dir.join(NAME);
    let shown = path.display().to_string();
    let io = |source| FormatError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let line = text.trim();
            let found = line
                .strip_prefix("meili-data ")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| FormatError::Unknown {
                    path: shown.clone(),
                    line: line.chars().take(40).collect(),
                })?;
            if found > FORMAT {
                return Err(FormatError::Newer {
                    path: shown.clone(),
                    found,
                    version: env!("CARGO_PKG_VERSION"),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::buffer::stateful::write_atomically(
                &path,
                format!("meili-data {FORMAT}\n").as_bytes(),
            )
            .map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_a_new_directory_and_refuses_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        check(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
            "meili-data 1\n"
        );
        check(dir.path()).unwrap();
        std::fs::write(dir.path().join("FORMAT"), "meili-data 2\n").unwrap();
        let e = check(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("newer meilid (data format 2") && e.contains("Nothing was changed"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
            "meili-data 2\n",
            "left as it was"
        );
        std::fs::write(dir.path().join("FORMAT"), "something else").unwrap();
        assert!(matches!(
            check(dir.path()),
            Err(FormatError::Unknown { .. })
        ));
    }
}
