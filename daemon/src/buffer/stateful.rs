//! A reader of the buffer that keeps state (the standards engine, the alert evaluator). Its
//! position is saved *with* its state, in one file written atomically, and the buffer is
//! released only up to a saved position: after a crash the state and the position it was
//! saved at come back together, and the records after it are read again.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Buffer, BufferError, Cursor};

/// What a stateful reader saves and restores.
pub trait State: Send + 'static {
    /// The id of the next record this state has not counted.
    fn next_id(&self) -> u64;
    fn set_next_id(&mut self, id: u64);
    fn save(&self) -> Result<Vec<u8>, serde_json::Error>;
    fn restore(&mut self, bytes: &[u8]) -> Result<(), serde_json::Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("reading the buffer: {0}")]
    Read(#[from] BufferError),
    #[error("saving {path}: {source}")]
    Save {
        path: String,
        source: std::io::Error,
    },
    /// The blocking task died (a bug): the state is gone and the reader must stop.
    #[error("the reader's task failed")]
    Lost,
}

/// One step's read: records and rows taken from the buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    pub records: u64,
    pub rows: u64,
}

pub struct StatefulReader<T> {
    state: Option<T>,
    cursor: Option<Cursor>,
    body: Option<Vec<u8>>,
    buffer: Arc<Buffer>,
    reader: usize,
    path: PathBuf,
    saved_id: u64,
    unsaved_rows: u64,
}

impl<T: State> StatefulReader<T> {
    /// Restore `state` from `path`, or start it at the reader's acknowledged position. An
    /// unreadable file is kept as `*.unreadable` and the state starts from the buffer.
    pub fn open(mut state: T, buffer: Arc<Buffer>, reader: usize, path: PathBuf) -> Self {
        match std::fs::read(&path) {
            Ok(bytes) => match state.restore(&bytes) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), next_id = state.next_id(), "State restored.")
                }
                Err(e) => {
                    let aside = path.with_extension("unreadable");
                    let _ = std::fs::rename(&path, &aside);
                    tracing::error!(error = %e, kept = %aside.display(), "State unreadable; starting again from the buffer.");
                    state.set_next_id(buffer.cursor(reader).next_id);
                }
            },
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(error = %e, path = %path.display(), "Cannot read the state file.");
                }
                state.set_next_id(buffer.cursor(reader).next_id);
            }
        }
        let next_id = state.next_id();
        StatefulReader {
            cursor: Some(buffer.cursor_at(reader, next_id)),
            state: Some(state),
            body: Some(Vec::with_capacity(256 * 1024)),
            buffer,
            reader,
            path,
            saved_id: next_id,
            unsaved_rows: 0,
        }
    }

    /// The state, between steps (`None` only after [`StepError::Lost`]).
    pub fn state(&mut self) -> Option<&mut T> {
        self.state.as_mut()
    }

    /// Read up to `rows` rows and give them to `apply`, off the async threads.
    pub async fn step<R, F>(&mut self, rows: u64, apply: F) -> Result<(Read, R), StepError>
    where
        F: FnOnce(&mut T, &[u8]) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (Some(mut state), Some(mut cur), Some(mut body)) =
            (self.state.take(), self.cursor.take(), self.body.take())
        else {
            return Err(StepError::Lost);
        };
        let b = Arc::clone(&self.buffer);
        let done = tokio::task::spawn_blocking(move || {
            body.clear();
            let read = b.read(&mut cur, rows, u64::MAX, &mut body);
            let out = apply(&mut state, &body);
            state.set_next_id(cur.next_id);
            (state, cur, body, read, out)
        })
        .await;
        let (state, cur, body, read, out) = done.map_err(|_| StepError::Lost)?;
        (self.state, self.cursor, self.body) = (Some(state), Some(cur), Some(body));
        let r = read?;
        self.unsaved_rows += r.rows;
        Ok((
            Read {
                records: r.records,
                rows: r.rows,
            },
            out,
        ))
    }

    /// Records counted since the last save.
    pub fn unsaved(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.next_id() > self.saved_id)
    }

    /// Save the state with its position (temporary file, fsync, rename, fsync of the
    /// directory), then release the buffer up to it.
    pub async fn save(&mut self) -> Result<(), StepError> {
        let Some(state) = self.state.take() else {
            return Err(StepError::Lost);
        };
        let path = self.path.clone();
        let done = tokio::task::spawn_blocking(move || {
            let r = state
                .save()
                .map_err(std::io::Error::other)
                .and_then(|bytes| write_atomically(&path, &bytes));
            (state, r)
        })
        .await;
        let (state, r) = done.map_err(|_| StepError::Lost)?;
        let next_id = state.next_id();
        self.state = Some(state);
        r.map_err(|source| StepError::Save {
            path: self.path.display().to_string(),
            source,
        })?;
        if next_id > self.saved_id {
            self.saved_id = next_id;
            if let Err(e) = self.buffer.ack(self.reader, next_id, self.unsaved_rows) {
                tracing::warn!(error = %e, "Cannot record the buffer position; the records are read again after a restart.");
            }
            self.unsaved_rows = 0;
        }
        Ok(())
    }

    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    /// Told when something is appended.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.buffer.watch()
    }
}

/// Write `bytes` to `path` so that a crash leaves either the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
