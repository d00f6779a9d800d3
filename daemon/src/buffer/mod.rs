//! Durable store-and-forward buffer between validation and the sinks.
//!
//! # Specification
//!
//! - **Log.** The buffer is one append-only log of records in `{data_dir}/buffer/`, split into
//!   segment files named `{first_id:020}.log`. A record is a chunk of validated readings as line
//!   protocol with a self-checking header ([`record`]), at most [`RECORD_MAX_BYTES`] of payload
//!   from the pipeline. Record ids increase by one per append and never repeat, also across
//!   restarts; every header also carries the log's running count of readings.
//! - **Durability.** With `fsync = "always"` (default) every append is `fdatasync`ed before
//!   `append` returns, and only then does the pipeline acknowledge the chunk's MQTT messages.
//!   With `fsync = "never"` the data is handed to the OS only: a daemon crash loses nothing, a
//!   power cut may.
//! - **Zeros ahead.** The segment being written is kept filled with zeros up to 1 MiB past its
//!   last record, so an append overwrites allocated blocks and its `fdatasync` need not commit a
//!   new file size. The zeros are cut at a roll and a clean close; after a crash, opening takes
//!   an all-zero tail as the clean end (a torn record followed by zeros is cut and reported).
//!   The files may exceed `max_bytes` by that 1 MiB.
//! - **Readers.** Each sink (and the standards engine and alert evaluator) reads the log in
//!   order from its own position and, after its server acknowledged a write, records the id of
//!   the next record it needs in `pos-{reader}` (`position.rs`), overwritten in place so that a
//!   full disk never stops positions moving. Positions are not fsynced: after a power cut a
//!   reader may go back a little and write some rows again, which the database absorbs.
//! - **Deletion.** A segment file is deleted when every reader has acknowledged all of its
//!   records; the segment being written is never deleted.
//! - **Size limit.** `max_bytes` bounds the files. When an append would exceed it, `when_full`
//!   decides: `block` (default) refuses the append, so the pipeline stops acknowledging and the
//!   broker keeps the messages; `drop_oldest` deletes the oldest segment even though some reader
//!   has not written it, counting, per reader, the rows it had not yet read.
//! - **Damage.** A record whose header or payload fails its checksum is skipped up to the next
//!   intact record (found by its magic and header checksum): one flipped byte costs one record.
//!   The readings lost are the difference of the running counts around the damage; they are
//!   counted once in `meili_buffer_corrupt_*` and, per reader that had not written them, in
//!   `meili_sink_rows_dropped_total`. Opening scans every segment the same way; a damaged tail
//!   with no intact record after it (a torn write) is cut off and reported.
//! - **Positions are checked.** A position beyond the log's end or unreadable is an error
//!   (logged, `meili_buffer_position_errors_total`): the reader starts again at the oldest record
//!   kept, so data may be written twice but is never skipped.
//! - **Upgrade.** Segments of the previous format (`*.seg`, no magic or running count) are
//!   rewritten in this format when the buffer opens.

mod metrics;
pub mod pace;
mod position;
pub mod record;
mod recover;
pub mod segment;
pub mod stateful;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;
use tokio::sync::watch;

use position::Position;
use record::{Header, HEADER_LEN, MAX_PAYLOAD};
use recover::scan;
use segment::{header_at, resync, Damage, Segment};

pub use metrics::{BufferMetrics, ReaderStats};

/// The largest payload the pipeline puts in one record (a chunk is split above it), so that a
/// record is always readable back and a sink's request can be bounded in bytes.
pub const RECORD_MAX_BYTES: usize = 1024 * 1024;
/// Record ids and positions beyond this are taken as corruption, not as a very long log.
const MAX_SANE_ID: u64 = 1 << 52;

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
    /// Group commit: a chunk of messages waits up to this long for more to arrive, so that
    /// they share one append and one fsync, unless the brokers' windows are already all in
    /// hand (`mqtt.broker_max_inflight`). 0 = append what is there at once.
    #[serde(default = "default_commit_wait_ms")]
    pub commit_wait_ms: u64,
    #[serde(default)]
    pub when_full: WhenFull,
    /// Appends are refused (as when full, `block`) while the file system has less free space
    /// than this, so that positions, the standards engine's and the alerts' state can still be
    /// saved, the readers move on and segments are freed: a full disk recovers by itself.
    #[serde(default = "default_min_free_bytes")]
    pub min_free_bytes: u64,
}

const fn default_min_free_bytes() -> u64 {
    64 * 1024 * 1024
}

const fn default_commit_wait_ms() -> u64 {
    1
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
            commit_wait_ms: default_commit_wait_ms(),
            when_full: WhenFull::default(),
            min_free_bytes: default_min_free_bytes(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("buffer full ({bytes} of {max} bytes)")]
    Full { bytes: u64, max: u64 },
    #[error("file system low on space ({free} bytes free, buffer.min_free_bytes = {min})")]
    DiskLow { free: u64, min: u64 },
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
    /// Damaged runs inside segments, skipped by every reader.
    pub damaged: Vec<(PathBuf, Damage)>,
    /// Readers whose position was impossible and now start at the oldest record.
    pub position_errors: Vec<String>,
    /// Records rewritten from the previous segment format.
    pub migrated_records: u64,
}

struct Inner {
    segments: Vec<Segment>,
    writer: Option<File>,
    /// Bytes of the writer's segment prepared with zeros (see [`ZERO_AHEAD`]).
    zeroed: u64,
    next_id: u64,
    /// Readings appended to the log before the next record (its header's `rows_before`).
    rows_total: u64,
    /// Per reader: id of the next record it needs (recorded in its position file).
    acked: Vec<u64>,
    /// Per reader: id of the next record its main cursor will read.
    read_to: Vec<u64>,
    positions: Vec<Position>,
    bytes: u64,
    /// The free space last read from the file system, when, and the bytes appended since.
    free: Option<(std::time::Instant, u64, u64)>,
    /// Header and payload of the record being appended (one write).
    rec: Vec<u8>,
}

/// Zeros are written this far ahead of the records of the segment being written, so that an
/// append overwrites allocated blocks and its `fdatasync` need not also commit a new file size
/// (on ext4 that halves its cost). Cut back at a roll and a clean close; after a crash opening
/// takes an all-zero tail as the log's clean end.
const ZERO_AHEAD: u64 = 1024 * 1024;

/// How often the free space is read again (also at once when the estimate nears the minimum).
const FREE_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// A reader's view of the segment it reads, the next one's first id and the log's next id, as
/// last seen under the lock: reused while the cursor stays within what it shows committed, so
/// that a step of many records takes the lock (which an append holds through its fsync) once,
/// not once per record.
struct Snap {
    seg: Segment,
    next_first: Option<u64>,
    end_id: u64,
}

impl Snap {
    fn covers(&self, cur: &Cursor) -> bool {
        cur.next_id < self.end_id
            && self.seg.first_id <= cur.next_id
            && self.next_first.is_none_or(|n| cur.next_id < n)
            && cur.seg_first_id == self.seg.first_id
            && cur.offset < self.seg.len
    }
}

enum Located {
    At(Snap),
    /// The cursor was moved (its segment was dropped): look again.
    Moved,
    End,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let mut inner = self.lock();
        self.cut_zeros(&mut inner);
    }
}

/// Write `rec` at `offset`, then zeros over `zero` (from, to) when the prepared part of the
/// segment ends before the record does.
fn write_record(w: &File, rec: &[u8], offset: u64, zero: Option<(u64, u64)>) -> io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    w.write_all_at(rec, offset)?;
    if let Some((mut at, to)) = zero {
        while at < to {
            let n = (to - at).min(ZEROS.len() as u64) as usize;
            w.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
    }
    Ok(())
}

/// A reader's position in the log.
#[derive(Debug)]
pub struct Cursor {
    pub sink: usize,
    pub next_id: u64,
    /// The reader's main cursor (its read progress decides what `drop_oldest` counts as lost).
    head: bool,
    seg_first_id: u64,
    offset: u64,
    /// Id and running row count after the last intact record this cursor passed.
    prev: Option<(u64, u64)>,
    file: Option<File>,
}

/// What one [`Buffer::read`] call added to the caller's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub records: u64,
    pub rows: u64,
    /// Append time of the first record read (0 if none).
    pub first_unix_ms: u64,
    /// The read stopped because the next record would pass the byte bound.
    pub full: bool,
}

pub struct Buffer {
    dir: PathBuf,
    config: BufferConfig,
    inner: Mutex<Inner>,
    readers: Vec<Arc<ReaderStats>>,
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
    dir.join(format!("{first_id:020}.log"))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Buffer {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribe to "something was appended" (the value is the next id to be written).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Append one record of `rows` readings; durable when this returns (with `fsync = "always"`).
    pub fn append(&self, rows: u32, payload: &[u8]) -> Result<u64, BufferError> {
        let r = self.try_append(rows, payload, false);
        let failing = matches!(r, Err(BufferError::Io { .. }));
        let blocking = match r {
            Err(BufferError::Full { .. }) => 1,
            Err(BufferError::DiskLow { .. }) => 2,
            _ => 0,
        };
        self.metrics
            .append_failing
            .store(u64::from(failing), Relaxed);
        self.metrics.full_blocking.store(blocking, Relaxed);
        r
    }

    /// Append the standards engine's results, past `max_bytes` and into the `min_free_bytes`
    /// reserve: the engine must append them before it saves its state and lets segments go, so
    /// refusing them while the buffer is full would keep it full for ever. They are small
    /// (daily rows per device and compliance rows per site).
    pub fn append_reserved(&self, rows: u32, payload: &[u8]) -> Result<u64, BufferError> {
        self.try_append(rows, payload, true)
    }

    fn try_append(&self, rows: u32, payload: &[u8], reserved: bool) -> Result<u64, BufferError> {
        if payload.len() > MAX_PAYLOAD as usize {
            return Err(BufferError::Io {
                path: self.dir.display().to_string(),
                source: io::Error::other("record larger than the format allows"),
            });
        }
        let size = (HEADER_LEN + payload.len()) as u64;
        let mut inner = self.lock();
        if self.config.min_free_bytes > 0 && !reserved {
            self.check_free(&mut inner, size)?;
        }
        if inner.bytes + size > self.config.max_bytes && !reserved {
            self.make_room(&mut inner, size)?;
        }
        let roll = match inner.segments.last() {
            None => true,
            Some(s) => {
                inner.writer.is_none() || (s.len > 0 && s.len + size > self.config.segment_bytes)
            }
        };
        if roll {
            self.roll(&mut inner)?;
        }
        let id = inner.next_id;
        let header = Header::new(id, rows, now_ms(), inner.rows_total, payload);
        let path = inner
            .segments
            .last()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let mut rec = std::mem::take(&mut inner.rec);
        rec.clear();
        rec.extend_from_slice(&header.encode());
        rec.extend_from_slice(payload);
        let offset = inner.segments.last().map_or(0, |s| s.len);
        let end = offset + size;
        let zero_to = end.max((end + ZERO_AHEAD).min(self.config.segment_bytes));
        let zero = (end > inner.zeroed).then_some((end.max(inner.zeroed), zero_to));
        let Some(w) = inner.writer.as_ref() else {
            return Err(BufferError::Io {
                path: path.display().to_string(),
                source: io::Error::other("no segment open"),
            });
        };
        let written = write_record(w, &rec, offset, zero).and_then(|()| match self.config.fsync {
            Fsync::Always => w.sync_data(),
            Fsync::Never => Ok(()),
        });
        if written.is_ok() {
            if let Some((_, to)) = zero {
                inner.zeroed = to;
            }
        }
        // Keep the allocation for the next append unless a burst made it large.
        if rec.capacity() <= 2 * RECORD_MAX_BYTES {
            inner.rec = rec;
        }
        if let Some(f) = inner.free.as_mut() {
            f.2 += size;
        }
        if let Err(e) = written {
            // A partial record may be on disk: the next append starts a new segment (the
            // partial tail is cut at the next recovery, and never read since `len` is not moved).
            inner.writer = None;
            return Err(io_err(&path)(e));
        }
        if self.config.fsync == Fsync::Always {
            self.metrics.fsyncs.fetch_add(1, Relaxed);
        }
        let rows_total = inner.rows_total + u64::from(rows);
        if let Some(seg) = inner.segments.last_mut() {
            seg.len += size;
            seg.last_id = Some(id);
            seg.rows_end = rows_total;
        }
        inner.rows_total = rows_total;
        inner.bytes += size;
        inner.next_id += 1;
        self.metrics.bytes.store(inner.bytes, Relaxed);
        self.metrics.records_appended.fetch_add(1, Relaxed);
        self.metrics
            .rows_appended
            .fetch_add(u64::from(rows), Relaxed);
        for m in &self.readers {
            m.backlog_rows.fetch_add(i64::from(rows), Relaxed);
        }
        drop(inner);
        self.appended.send_replace(id + 1);
        Ok(id)
    }

    /// Cut the zeros written ahead off the segment being written (at a roll or a clean close).
    fn cut_zeros(&self, inner: &mut Inner) {
        let (Some(w), Some(seg)) = (inner.writer.take(), inner.segments.last()) else {
            return;
        };
        if inner.zeroed > seg.len {
            if let Err(e) = w.set_len(seg.len) {
                tracing::debug!(error = %e, segment = %seg.path.display(), "Could not cut the zeros ahead (opening will).");
            }
        }
        inner.zeroed = 0;
    }

    /// The buffer would pass `max_bytes`: refuse (`block`) or drop the oldest segments.
    fn make_room(&self, inner: &mut Inner, size: u64) -> Result<(), BufferError> {
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
                    self.drop_oldest(inner)?;
                }
            }
        }
        Ok(())
    }

    /// Start a new segment at the next id.
    fn roll(&self, inner: &mut Inner) -> Result<(), BufferError> {
        self.cut_zeros(inner);
        let first_id = inner.next_id;
        let path = segment_path(&self.dir, first_id);
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        // A segment left from a failed append with this first id holds no intact record.
        if inner
            .segments
            .last()
            .is_some_and(|s| s.first_id == first_id)
        {
            inner.segments.pop();
        }
        f.set_len(0).map_err(io_err(&path))?;
        inner.writer = Some(f);
        inner.zeroed = 0;
        let rows_start = inner.rows_total;
        inner.segments.push(Segment {
            first_id,
            last_id: None,
            rows_end: rows_start,
            rows_start,
            len: 0,
            path,
            damaged: Vec::new(),
        });
        self.metrics
            .segments
            .store(inner.segments.len() as u64, Relaxed);
        Ok(())
    }

    /// Refuse an append of `size` bytes that would leave less than `min_free_bytes` free. The
    /// file system is asked at most once a second, or at once when the estimate (its last
    /// answer less what was appended since) comes within 8 MiB of the minimum.
    fn check_free(&self, inner: &mut Inner, size: u64) -> Result<(), BufferError> {
        let min = self.config.min_free_bytes;
        let margin = min.saturating_add(size).saturating_add(8 * 1024 * 1024);
        let known = inner.free.filter(|&(at, free, since)| {
            at.elapsed() < FREE_RECHECK && free.saturating_sub(since) >= margin
        });
        let free = match known {
            Some((_, free, since)) => free.saturating_sub(since),
            None => {
                let free = free_bytes(&self.dir).map_err(io_err(&self.dir))?;
                inner.free = Some((std::time::Instant::now(), free, 0));
                free
            }
        };
        if free < min.saturating_add(size) {
            self.metrics.full_refusals.fetch_add(1, Relaxed);
            return Err(BufferError::DiskLow { free, min });
        }
        Ok(())
    }

    /// Delete the oldest segment for `when_full = "drop_oldest"`. A reader loses the rows it
    /// had not read; rows it has read and holds for a write are still written.
    fn drop_oldest(&self, inner: &mut Inner) -> Result<(), BufferError> {
        let seg = inner.segments.remove(0);
        let last = seg.last_id.unwrap_or(seg.first_id);
        let mut lost = vec![0u64; self.readers.len()];
        let from: Vec<u64> = (0..self.readers.len())
            .map(|s| inner.acked[s].max(inner.read_to[s]))
            .collect();
        scan(&seg.path, seg.first_id, None, |h| {
            for (s, f) in from.iter().enumerate() {
                if h.id >= *f {
                    lost[s] += u64::from(h.rows);
                }
            }
        })
        .map_err(io_err(&seg.path))?;
        fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        inner.bytes -= seg.len;
        for (s, lost) in lost.iter().enumerate() {
            inner.acked[s] = inner.acked[s].max(last + 1);
            inner.read_to[s] = inner.read_to[s].max(last + 1);
            if *lost > 0 {
                let m = &self.readers[s];
                m.rows_dropped.fetch_add(*lost, Relaxed);
                m.backlog_rows.fetch_sub(*lost as i64, Relaxed);
                tracing::error!(sink = %m.name, rows = *lost, "Buffer full: oldest segment dropped before this sink read it.");
            }
        }
        self.metrics
            .segments
            .store(inner.segments.len() as u64, Relaxed);
        Ok(())
    }

    /// The reader's main cursor, at its acknowledged position.
    pub fn cursor(&self, sink: usize) -> Cursor {
        let mut inner = self.lock();
        let next_id = inner.acked[sink];
        inner.read_to[sink] = next_id;
        drop(inner);
        Cursor {
            head: true,
            ..self.cursor_at(sink, next_id)
        }
    }

    /// A cursor at record `next_id` (used for live data while a backlog drains).
    pub fn cursor_at(&self, sink: usize, next_id: u64) -> Cursor {
        Cursor {
            sink,
            next_id,
            head: false,
            seg_first_id: 0,
            offset: 0,
            prev: None,
            file: None,
        }
    }

    /// Make `cur` its reader's main cursor (the live cursor takes over after a drain).
    pub fn promote(&self, cur: &mut Cursor) {
        cur.head = true;
        let mut inner = self.lock();
        inner.read_to[cur.sink] = inner.read_to[cur.sink].max(cur.next_id);
    }

    /// The index of the reader opened under `name` (cursors and acks take it), so that no
    /// caller depends on the order the readers were listed in.
    pub fn reader(&self, name: &str) -> Option<usize> {
        self.readers.iter().position(|r| r.name == name)
    }

    /// The statistics of reader `index` (its backlog and the rows the buffer dropped for it).
    pub fn reader_stats(&self, index: usize) -> &ReaderStats {
        &self.readers[index]
    }

    /// Every reader's statistics, in the order they were opened.
    pub fn readers(&self) -> &[Arc<ReaderStats>] {
        &self.readers
    }

    /// The id the next append will get.
    pub fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    /// Append the payloads of the next records for the cursor's reader to `out`, until at
    /// least `max_rows` rows were added, the record `until` is reached, or the log is exhausted.
    pub fn read(
        &self,
        cur: &mut Cursor,
        max_rows: u64,
        until: u64,
        out: &mut Vec<u8>,
    ) -> Result<ReadStats, BufferError> {
        self.read_bounded(cur, max_rows, u64::MAX, until, out)
    }

    /// [`Buffer::read`], also stopping before the body would pass `max_bytes` (one record is
    /// always taken, so a reader never stalls).
    pub fn read_bounded(
        &self,
        cur: &mut Cursor,
        max_rows: u64,
        max_bytes: u64,
        until: u64,
        out: &mut Vec<u8>,
    ) -> Result<ReadStats, BufferError> {
        let mut got = ReadStats::default();
        let mut buf = Vec::new();
        let base = out.len() as u64;
        let mut snap: Option<Snap> = None;
        while got.rows < max_rows && cur.next_id < until {
            if !snap.as_ref().is_some_and(|s| s.covers(cur)) {
                match self.locate(cur) {
                    Located::At(s) => snap = Some(s),
                    Located::Moved => continue,
                    Located::End => break,
                }
            }
            let Some(Snap {
                seg, next_first, ..
            }) = &snap
            else {
                break;
            };
            let next_first = *next_first;
            let path = &seg.path;
            if cur.file.is_none() || cur.seg_first_id != seg.first_id {
                cur.file = Some(File::open(path).map_err(io_err(path))?);
                cur.seg_first_id = seg.first_id;
                cur.offset = 0;
                cur.prev = Some((seg.first_id.saturating_sub(1), seg.rows_start));
            }
            if cur.offset >= seg.len {
                match next_first {
                    Some(n) => {
                        cur.next_id = cur.next_id.max(n);
                        cur.file = None;
                        continue;
                    }
                    None => break,
                }
            }
            let Some(f) = cur.file.as_ref() else { break };
            let h = header_at(f, cur.offset, seg.len)
                .map_err(io_err(path))?
                .filter(|h| cur.prev.is_none_or(|(p, _)| h.id > p));
            let start = out.len();
            let intact = match h {
                Some(h) => {
                    out.resize(start + h.len as usize, 0);
                    f.read_exact_at(&mut out[start..], cur.offset + HEADER_LEN as u64)
                        .map_err(io_err(path))?;
                    h.verify(&out[start..]).then_some(h)
                }
                None => None,
            };
            let Some(h) = intact else {
                out.truncate(start);
                cur.offset = self.skip_damage(seg, cur, &mut buf)?;
                continue;
            };
            if h.id >= until {
                // Not this reader's part of the log: leave the cursor before it.
                out.truncate(start);
                break;
            }
            let size = h.size();
            if h.id >= cur.next_id && got.records > 0 && out.len() as u64 - base > max_bytes {
                out.truncate(start);
                got.full = true;
                break;
            }
            cur.offset += size;
            cur.prev = Some((h.id, h.rows_before + u64::from(h.rows)));
            if h.id < cur.next_id {
                out.truncate(start); // already acknowledged (cursor positioned mid-segment)
                continue;
            }
            if got.records == 0 {
                got.first_unix_ms = h.unix_ms;
            }
            cur.next_id = h.id + 1;
            got.records += 1;
            got.rows += u64::from(h.rows);
        }
        if cur.head {
            let mut inner = self.lock();
            inner.read_to[cur.sink] = inner.read_to[cur.sink].max(cur.next_id);
        }
        Ok(got)
    }

    /// The segment holding `cur.next_id` and how much of it is committed.
    fn locate(&self, cur: &mut Cursor) -> Located {
        let inner = self.lock();
        if cur.next_id >= inner.next_id {
            return Located::End;
        }
        let Some(i) = inner
            .segments
            .iter()
            .rposition(|s| s.first_id <= cur.next_id)
        else {
            // Dropped from under us (drop_oldest): continue at the oldest segment.
            return match inner.segments.first() {
                Some(s) => {
                    cur.next_id = s.first_id;
                    cur.file = None;
                    Located::Moved
                }
                None => Located::End,
            };
        };
        Located::At(Snap {
            seg: inner.segments[i].clone(),
            next_first: inner.segments.get(i + 1).map(|n| n.first_id),
            end_id: inner.next_id,
        })
    }

    /// The cursor stands on damage: return the offset of the next intact record (or the
    /// segment's end), registering and counting the damage if no reader met it before.
    fn skip_damage(
        &self,
        seg: &Segment,
        cur: &mut Cursor,
        buf: &mut Vec<u8>,
    ) -> Result<u64, BufferError> {
        let off = cur.offset;
        if let Some(d) = seg.damaged.iter().find(|d| d.start <= off && off < d.end) {
            return Ok(d.end);
        }
        let Some(f) = cur.file.as_ref() else {
            return Ok(seg.len);
        };
        let found =
            resync(f, off, seg.len, cur.prev.map(|p| p.0), buf).map_err(io_err(&seg.path))?;
        let (prev_id, prev_rows) = cur
            .prev
            .unwrap_or((seg.first_id.saturating_sub(1), seg.rows_start));
        let d = match found {
            Some((at, h)) => Damage {
                start: off,
                end: at,
                records: Some(h.id - prev_id - 1),
                rows: h.rows_before.checked_sub(prev_rows),
            },
            None => Damage {
                start: off,
                end: seg.len,
                records: seg.last_id.map(|l| l.saturating_sub(prev_id)),
                rows: seg.rows_end.checked_sub(prev_rows),
            },
        };
        let mut inner = self.lock();
        let Some(live) = inner
            .segments
            .iter_mut()
            .find(|s| s.first_id == seg.first_id)
        else {
            return Ok(d.end);
        };
        if live
            .damaged
            .iter()
            .any(|k| k.start < d.end && d.start < k.end)
        {
            return Ok(d.end); // another reader met it first and counted it
        }
        live.damaged.push(d);
        live.damaged.sort_by_key(|k| k.start);
        let path = live.path.clone();
        self.count_damage(&inner, &path, &d);
        Ok(d.end)
    }

    /// The reader wrote everything before `next_id` (`rows` readings since its last ack).
    /// The position is overwritten in place (no new disk space needed) and segments every
    /// reader is done with are deleted, even if the position could not be recorded.
    pub fn ack(&self, sink: usize, next_id: u64, rows: u64) -> Result<(), BufferError> {
        let m = &self.readers[sink];
        let name = &m.name;
        m.backlog_rows.fetch_sub(rows as i64, Relaxed);
        let mut inner = self.lock();
        if next_id <= inner.acked[sink] {
            return Ok(());
        }
        inner.acked[sink] = next_id;
        let recorded = inner.positions[sink].write(next_id);
        if recorded.is_err() {
            self.metrics.position_write_errors.fetch_add(1, Relaxed);
        }
        let min = inner.acked.iter().copied().min().unwrap_or(next_id);
        let mut freed = Ok(());
        while inner.segments.len() > 1 && inner.segments[0].last_id.is_some_and(|l| l < min) {
            let seg = inner.segments.remove(0);
            if let Err(e) = fs::remove_file(&seg.path) {
                freed = Err(io_err(&seg.path)(e));
            }
            inner.bytes -= seg.len;
        }
        self.metrics.bytes.store(inner.bytes, Relaxed);
        self.metrics
            .segments
            .store(inner.segments.len() as u64, Relaxed);
        let path = inner.positions[sink].path.clone();
        drop(inner);
        tracing::trace!(reader = %name, next_id, "position");
        recorded.map_err(io_err(&path))?;
        freed
    }

    /// The sink wrote `rows` readings ahead of its acknowledged position (live data during a
    /// drain); only the backlog gauge moves, the position file does not.
    pub fn written_ahead(&self, sink: usize, rows: u64) {
        self.readers[sink]
            .backlog_rows
            .fetch_sub(rows as i64, Relaxed);
    }

    /// Ids not yet written by the sink (for tests and health).
    pub fn pending_records(&self, sink: usize) -> u64 {
        let inner = self.lock();
        inner.next_id.saturating_sub(inner.acked[sink])
    }
}

/// Bytes an unprivileged process may still write on the file system holding `dir`.
fn free_bytes(dir: &Path) -> io::Result<u64> {
    let s = rustix::fs::statvfs(dir).map_err(io::Error::from)?;
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(test)]
mod tests;
