//! The local store: line protocol appended to a file under the data directory, synced per
//! batch, rotated at `max_file_bytes` into `…lp.1 … .N` (the oldest beyond `keep_files` is
//! deleted, so the store never takes more than `(keep_files + 1) × max_file_bytes`).

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::config::FileSinkConfig;
use crate::sinks::WriteError;

pub struct FileWriter {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(tokio::fs::File, u64)>,
}

impl FileWriter {
    pub fn new(c: &FileSinkConfig, data_dir: &Path) -> FileWriter {
        FileWriter {
            path: data_dir.join(&c.path),
            max_bytes: c.max_file_bytes.max(1024),
            keep: c.keep_files,
            file: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    async fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            return tokio::fs::remove_file(&self.path).await;
        }
        let _ = tokio::fs::remove_file(self.rotated(self.keep)).await;
        for n in (1..self.keep).rev() {
            let _ = tokio::fs::rename(self.rotated(n), self.rotated(n + 1)).await;
        }
        tokio::fs::rename(&self.path, self.rotated(1)).await
    }

    pub async fn write(&mut self, body: &[u8]) -> Result<(), WriteError> {
        let shown = self.path.display().to_string();
        let io = |source| {
            WriteError::Unavailable(super::Unavailable::File {
                path: shown.clone(),
                source,
            })
        };
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(io)?;
            }
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(io)?;
            let len = f.metadata().await.map_err(io)?.len();
            self.file = Some((f, len));
        }
        let full = match self.file.as_mut() {
            Some((f, len)) => {
                f.write_all(body).await.map_err(io)?;
                f.sync_data().await.map_err(io)?;
                *len += body.len() as u64;
                *len >= self.max_bytes
            }
            None => false,
        };
        if full {
            self.rotate().await.map_err(io)?;
        }
        Ok(())
    }
}
