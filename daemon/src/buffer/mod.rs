//! Durable store-and-forward buffer between validation and the sinks.
//!
//! # Specification
//!
//! - **Log.** The buffer is one append-only log of records in `{data_dir}/buffer/`, split into
//!   segment files named `{first_id:020}.seg`. A record is a chunk of validated readings as line
//!   protocol with a checksummed header ([`record`]). Record ids increase by one per append and
//!   never repeat, also across restarts.
//! - **Durability.** With `fsync = "always"` (default) every append is `fdatasync`ed before
//!   `append` returns, and only then does the pipeline acknowledge the chunk's MQTT messages.
//!   With `fsync = "never"` the data is handed to the OS only: a daemon crash loses nothing, a
//!   power cut may.
//! - **Readers.** Each sink reads the log in order from its own position and, after its server
//!   acknowledged a write, records the id of the next record it needs in `ack-{sink}` (written
//!   to a temporary file and renamed). Ack files are not fsynced: after a power cut a sink may
//!   go back a little and write some rows again, which the database absorbs (same series key
//!   and timestamp).
//! - **Deletion.** A segment file is deleted only when every sink has acknowledged all of its
//!   records; the segment being written is never deleted.
//! - **Size limit.** `max_bytes` bounds the files. When an append would exceed it, `when_full`
//!   decides: `block` (default) refuses the append, so the pipeline stops acknowledging and the
//!   broker keeps the messages; `drop_oldest` deletes the oldest segment even though some sink
//!   has not written it, counting the rows each sink lost.
//! - **Recovery.** Opening scans every segment. The first record whose header is incomplete,
//!   whose length is implausible, whose id does not increase, or whose checksum fails ends the
//!   valid part of its segment: the rest of that file is cut off, and the bytes and segment are
//!   reported (log and `/metrics`). Every complete record before it is kept; later segments
//!   are scanned in the same way. Appends after opening go to a new segment.

pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;
use tokio::sync::watch;

use crate::metrics::SinkMetrics;
use record::{Header, HEADER_LEN, MAX_PAYLOAD};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// fdatasync every append before it is acknowledged.
    #[default]
    Always,
    /// Leave flushing to the OS (survives a daemon crash, not a power cut).
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Refuse appends: the pipeline stops acknowledging, the broker keeps the messages.
    #[default]
    Block,
    /// Delete the oldest segment, counting the rows sinks lose.
    DropOldest,
}

/// `[buffer]` configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferConfig {
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    #[serde(default)]
    pub fsync: Fsync,
    #[serde(default)]
    pub when_full: WhenFull,
}

const fn default_max_bytes() -> u64 {
    1024 * 1024 * 1024
}
const fn default_segment_bytes() -> u64 {
    16 * 1024 * 1024
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            max_bytes: default_max_bytes(),
            segment_bytes: default_segment_bytes(),
            fsync: Fsync::default(),
            when_full: WhenFull::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("buffer full ({bytes} of {max} bytes)")]
    Full { bytes: u64, max: u64 },
    #[error("buffer I/O on {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BufferError + '_ {
    move |source| BufferError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What recovery found when opening.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub records: u64,
    pub rows: u64,
    /// (segment file, bytes cut) for every segment whose tail was damaged.
    pub cut: Vec<(PathBuf, u64)>,
}

/// Buffer-wide counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BufferMetrics {
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
    pub records_appended: AtomicU64,
    pub rows_appended: AtomicU64,
    pub fsyncs: AtomicU64,
    pub full_refusals: AtomicU64,
    pub recovery_cut_bytes: AtomicU64,
    pub recovery_cut_segments: AtomicU64,
}

#[derive(Debug, Clone)]
struct Segment {
    first_id: u64,
    /// Id of the last record, `None` while empty.
    last_id: Option<u64>,
    len: u64,
    path: PathBuf,
}

struct Inner {
    segments: Vec<Segment>,
    writer: Option<File>,
    next_id: u64,
    /// Per sink: id of the next record it needs.
    acked: Vec<u64>,
    bytes: u64,
}

/// A sink's reading position.
#[derive(Debug)]
pub struct Cursor {
    pub sink: usize,
    pub next_id: u64,
    seg_first_id: u64,
    offset: u64,
    file: Option<File>,
}

/// What one [`Buffer::read`] call added to the caller's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub records: u64,
    pub rows: u64,
    /// Append time of the first record read (0 if none).
    pub first_unix_ms: u64,
}

pub struct Buffer {
    dir: PathBuf,
    config: BufferConfig,
    inner: Mutex<Inner>,
    sinks: Vec<(String, Arc<SinkMetrics>)>,
    pub metrics: BufferMetrics,
    appended: watch::Sender<u64>,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn segment_path(dir: &Path, first_id: u64) -> PathBuf {
    dir.join(format!("{first_id:020}.seg"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Scan one segment: returns (valid length, last id, bytes cut) and calls `each(id, rows)`.
fn scan(
    path: &Path,
    mut prev_id: Option<u64>,
    mut each: impl FnMut(u64, u32),
) -> io::Result<(u64, Option<u64>, u64)> {
    let mut f = File::open(path)?;
    let file_len = f.metadata()?.len();
    let mut r = io::BufReader::with_capacity(256 * 1024, &mut f);
    let mut offset = 0u64;
    let mut payload = Vec::new();
    let mut last = None;
    loop {
        let mut hb = [0u8; HEADER_LEN];
        if offset + HEADER_LEN as u64 > file_len {
            break;
        }
        r.read_exact(&mut hb)?;
        let h = Header::decode(&hb);
        let end = offset + HEADER_LEN as u64 + u64::from(h.len);
        if h.len > MAX_PAYLOAD || end > file_len || prev_id.is_some_and(|p| h.id <= p) {
            break;
        }
        payload.resize(h.len as usize, 0);
        r.read_exact(&mut payload)?;
        if !h.verify(&payload) {
            break;
        }
        each(h.id, h.rows);
        prev_id = Some(h.id);
        last = Some(h.id);
        offset = end;
    }
    Ok((offset, last, file_len - offset))
}

impl Buffer {
    /// Open (and recover) the buffer in `dir` for the named sinks.
    pub fn open(
        dir: &Path,
        config: BufferConfig,
        sinks: Vec<(String, Arc<SinkMetrics>)>,
    ) -> Result<(Buffer, Recovery), BufferError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut acked: Vec<u64> = sinks
            .iter()
            .map(|(name, _)| {
                fs::read_to_string(dir.join(format!("ack-{name}")))
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        let mut firsts: Vec<u64> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        firsts.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = Vec::new();
        let mut backlog = vec![0u64; sinks.len()];
        let mut oldest = vec![0u64; sinks.len()];
        let mut prev: Option<u64> = None;
        let mut bytes = 0;
        for first in firsts {
            let path = segment_path(dir, first);
            let (len, last, cut) = scan(&path, prev, |id, rows| {
                recovery.records += 1;
                recovery.rows += u64::from(rows);
                for (s, a) in acked.iter().enumerate() {
                    if id >= *a {
                        backlog[s] += u64::from(rows);
                        if oldest[s] == 0 {
                            oldest[s] = id;
                        }
                    }
                }
            })
            .map_err(io_err(&path))?;
            if cut > 0 {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(len).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
                tracing::warn!(segment = %path.display(), cut_bytes = cut, kept_bytes = len, "Buffer recovery cut a damaged tail; every complete record before it is kept.");
                recovery.cut.push((path.clone(), cut));
            }
            match last {
                Some(last_id) => {
                    prev = Some(last_id);
                    bytes += len;
                    segments.push(Segment {
                        first_id: first,
                        last_id: Some(last_id),
                        len,
                        path,
                    });
                }
                None => fs::remove_file(&path).map_err(io_err(&path))?,
            }
        }
        let max_acked = acked.iter().copied().max().unwrap_or(0);
        let next_id = prev.map_or(1, |p| p + 1).max(max_acked).max(1);
        // A sink with no ack file (or one behind the log) starts at the oldest record.
        let oldest_id = segments.first().map_or(next_id, |s| s.first_id);
        for a in acked.iter_mut() {
            *a = (*a).max(oldest_id);
        }
        let buffer = Buffer {
            dir: dir.to_path_buf(),
            config,
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                next_id,
                acked,
                bytes,
            }),
            sinks,
            metrics: BufferMetrics::default(),
            appended: watch::channel(next_id).0,
        };
        for (s, (_, m)) in buffer.sinks.iter().enumerate() {
            m.backlog_rows.store(backlog[s] as i64, Relaxed);
        }
        buffer.metrics.bytes.store(bytes, Relaxed);
        buffer
            .metrics
            .recovery_cut_bytes
            .store(recovery.cut.iter().map(|c| c.1).sum(), Relaxed);
        buffer
            .metrics
            .recovery_cut_segments
            .store(recovery.cut.len() as u64, Relaxed);
        buffer
            .metrics
            .segments
            .store(buffer.lock().segments.len() as u64, Relaxed);
        Ok((buffer, recovery))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribe to "something was appended" (the value is the next id to be written).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Append one record of `rows` readings; durable when this returns (with `fsync = "always"`).
    pub fn append(&self, rows: u32, payload: &[u8]) -> Result<u64, BufferError> {
        let size = (HEADER_LEN + payload.len()) as u64;
        let mut inner = self.lock();
        if inner.bytes + size > self.config.max_bytes {
            match self.config.when_full {
                WhenFull::Block => {
                    self.metrics.full_refusals.fetch_add(1, Relaxed);
                    return Err(BufferError::Full {
                        bytes: inner.bytes,
                        max: self.config.max_bytes,
                    });
                }
                WhenFull::DropOldest => {
                    while inner.bytes + size > self.config.max_bytes && inner.segments.len() > 1 {
                        self.drop_oldest(&mut inner)?;
                    }
                }
            }
        }
        let roll = match inner.segments.last() {
            None => true,
            Some(s) => {
                inner.writer.is_none() || (s.len > 0 && s.len + size > self.config.segment_bytes)
            }
        };
        if roll {
            let first_id = inner.next_id;
            let path = segment_path(&self.dir, first_id);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            inner.writer = Some(f);
            inner.segments.push(Segment {
                first_id,
                last_id: None,
                len: 0,
                path,
            });
            self.metrics
                .segments
                .store(inner.segments.len() as u64, Relaxed);
        }
        let id = inner.next_id;
        let header = Header::new(id, rows, now_ms(), payload);
        let path = inner
            .segments
            .last()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let Some(w) = inner.writer.as_mut() else {
            return Err(BufferError::Io {
                path: path.display().to_string(),
                source: io::Error::other("no segment open"),
            });
        };
        let mut rec = Vec::with_capacity(size as usize);
        rec.extend_from_slice(&header.encode());
        rec.extend_from_slice(payload);
        if let Err(e) = w.write_all(&rec) {
            // A partial record may be on disk: start a new segment for the next append (the
            // partial tail is cut at the next recovery, or never read since `len` is not moved).
            inner.writer = None;
            return Err(io_err(&path)(e));
        }
        if self.config.fsync == Fsync::Always {
            w.sync_data().map_err(io_err(&path))?;
            self.metrics.fsyncs.fetch_add(1, Relaxed);
        }
        if let Some(seg) = inner.segments.last_mut() {
            seg.len += size;
            seg.last_id = Some(id);
        }
        inner.bytes += size;
        inner.next_id += 1;
        self.metrics.bytes.store(inner.bytes, Relaxed);
        self.metrics.records_appended.fetch_add(1, Relaxed);
        self.metrics
            .rows_appended
            .fetch_add(u64::from(rows), Relaxed);
        for (_, m) in &self.sinks {
            m.backlog_rows.fetch_add(i64::from(rows), Relaxed);
        }
        drop(inner);
        self.appended.send_replace(id + 1);
        Ok(id)
    }

    fn drop_oldest(&self, inner: &mut Inner) -> Result<(), BufferError> {
        let seg = inner.segments.remove(0);
        let last = seg.last_id.unwrap_or(seg.first_id);
        // Count, per sink, the rows it had not written yet.
        let mut lost = vec![0u64; self.sinks.len()];
        let acked = inner.acked.clone();
        scan(&seg.path, None, |id, rows| {
            for (s, a) in acked.iter().enumerate() {
                if id >= *a {
                    lost[s] += u64::from(rows);
                }
            }
        })
        .map_err(io_err(&seg.path))?;
        fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        inner.bytes -= seg.len;
        for (s, a) in inner.acked.iter_mut().enumerate() {
            *a = (*a).max(last + 1);
            if lost[s] > 0 {
                let (name, m) = &self.sinks[s];
                m.rows_dropped.fetch_add(lost[s], Relaxed);
                m.backlog_rows.fetch_sub(lost[s] as i64, Relaxed);
                tracing::error!(sink = %name, rows = lost[s], "Buffer full: oldest segment dropped before this sink wrote it.");
            }
        }
        self.metrics
            .segments
            .store(inner.segments.len() as u64, Relaxed);
        Ok(())
    }

    /// A cursor at the sink's acknowledged position.
    pub fn cursor(&self, sink: usize) -> Cursor {
        let next_id = self.lock().acked[sink];
        self.cursor_at(sink, next_id)
    }

    /// A cursor at record `next_id` (used for live data while a backlog drains).
    pub fn cursor_at(&self, sink: usize, next_id: u64) -> Cursor {
        Cursor {
            sink,
            next_id,
            seg_first_id: 0,
            offset: 0,
            file: None,
        }
    }

    /// The id the next append will get.
    pub fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    /// Append the payloads of the next records for the cursor's sink to `out`, until at least
    /// `max_rows` rows were added, the record `until` is reached, or the log is exhausted.
    pub fn read(
        &self,
        cur: &mut Cursor,
        max_rows: u64,
        until: u64,
        out: &mut Vec<u8>,
    ) -> Result<ReadStats, BufferError> {
        let mut got = ReadStats::default();
        while got.rows < max_rows && cur.next_id < until {
            // Locate the segment holding `cur.next_id`, and how much of it is committed.
            let (path, first_id, committed, next_first) = {
                let inner = self.lock();
                if cur.next_id >= inner.next_id {
                    break;
                }
                let Some(i) = inner
                    .segments
                    .iter()
                    .rposition(|s| s.first_id <= cur.next_id)
                else {
                    // Dropped from under us (drop_oldest): continue at the oldest segment.
                    match inner.segments.first() {
                        Some(s) => {
                            cur.next_id = s.first_id;
                            cur.file = None;
                            continue;
                        }
                        None => break,
                    }
                };
                let s = &inner.segments[i];
                (
                    s.path.clone(),
                    s.first_id,
                    s.len,
                    inner.segments.get(i + 1).map(|n| n.first_id),
                )
            };
            if cur.file.is_none() || cur.seg_first_id != first_id {
                cur.file = Some(File::open(&path).map_err(io_err(&path))?);
                cur.seg_first_id = first_id;
                cur.offset = 0;
            }
            if cur.offset >= committed {
                match next_first {
                    Some(n) => {
                        cur.next_id = cur.next_id.max(n);
                        cur.file = None;
                        continue;
                    }
                    None => break,
                }
            }
            let Some(f) = cur.file.as_mut() else { break };
            f.seek(SeekFrom::Start(cur.offset)).map_err(io_err(&path))?;
            let mut hb = [0u8; HEADER_LEN];
            f.read_exact(&mut hb).map_err(io_err(&path))?;
            let h = Header::decode(&hb);
            let start = out.len();
            if h.len <= MAX_PAYLOAD
                && cur.offset + (HEADER_LEN as u64) + u64::from(h.len) <= committed
            {
                out.resize(start + h.len as usize, 0);
                f.read_exact(&mut out[start..]).map_err(io_err(&path))?;
            }
            if !h.verify(&out[start..]) {
                out.truncate(start);
                tracing::error!(segment = %path.display(), offset = cur.offset, "Corrupt buffer record; skipping the rest of the segment.");
                cur.offset = committed;
                continue;
            }
            cur.offset += HEADER_LEN as u64 + u64::from(h.len);
            if h.id < cur.next_id {
                out.truncate(start); // already acknowledged (cursor positioned mid-segment)
                continue;
            }
            if h.id >= until {
                // Not this reader's part of the log: leave the cursor before it.
                out.truncate(start);
                cur.offset -= HEADER_LEN as u64 + u64::from(h.len);
                break;
            }
            if got.records == 0 {
                got.first_unix_ms = h.unix_ms;
            }
            cur.next_id = h.id + 1;
            got.records += 1;
            got.rows += u64::from(h.rows);
        }
        Ok(got)
    }

    /// The sink wrote everything before `next_id` (`rows` readings since its last ack).
    pub fn ack(&self, sink: usize, next_id: u64, rows: u64) -> Result<(), BufferError> {
        let mut inner = self.lock();
        if next_id <= inner.acked[sink] {
            return Ok(());
        }
        inner.acked[sink] = next_id;
        let (name, m) = &self.sinks[sink];
        m.backlog_rows.fetch_sub(rows as i64, Relaxed);
        let path = self.dir.join(format!("ack-{name}"));
        let tmp = self.dir.join(format!(".ack-{name}.tmp"));
        fs::write(&tmp, format!("{next_id}\n")).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        let min = inner.acked.iter().copied().min().unwrap_or(next_id);
        while inner.segments.len() > 1 && inner.segments[0].last_id.is_some_and(|l| l < min) {
            let seg = inner.segments.remove(0);
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            inner.bytes -= seg.len;
        }
        self.metrics.bytes.store(inner.bytes, Relaxed);
        self.metrics
            .segments
            .store(inner.segments.len() as u64, Relaxed);
        Ok(())
    }

    /// The sink wrote `rows` readings ahead of its acknowledged position (live data during a
    /// drain); only the backlog gauge moves, the position file does not.
    pub fn written_ahead(&self, sink: usize, rows: u64) {
        self.sinks[sink]
            .1
            .backlog_rows
            .fetch_sub(rows as i64, Relaxed);
    }

    /// Ids not yet written by the sink (for tests and health).
    pub fn pending_records(&self, sink: usize) -> u64 {
        let inner = self.lock();
        inner.next_id.saturating_sub(inner.acked[sink])
    }
}

#[cfg(test)]
mod tests;
