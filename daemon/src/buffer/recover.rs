//! Opening the buffer: every segment scanned (damaged tails cut, damaged runs noted and
//! counted once), readers' positions checked against the log, the previous segment format
//! migrated.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::position::{Position, Stored};
use super::record::Header;
use super::segment::{header_at, payload_ok, resync, Damage, Segment};
use super::*;

/// One segment as found on disk.
pub(super) struct Scanned {
    /// End of the last intact record.
    valid_len: u64,
    last: Option<(u64, u64)>,
    /// Id and `rows_before` of the first intact record.
    first: Option<(u64, u64)>,
    damaged: Vec<Damage>,
    /// Bytes after the last intact record.
    tail: u64,
}

/// Scan one segment, resynchronising after damage; calls `each` for every intact record.
/// `prev` is the id and running row count after the previous segment's last record.
pub(super) fn scan(
    path: &Path,
    first_id: u64,
    prev: Option<(u64, u64)>,
    mut each: impl FnMut(&Header),
) -> io::Result<Scanned> {
    let f = File::open(path)?;
    let end = f.metadata()?.len();
    let mut buf = Vec::new();
    let mut out = Scanned {
        valid_len: 0,
        last: None,
        first: None,
        damaged: Vec::new(),
        tail: 0,
    };
    let mut prev = prev;
    let mut off = 0u64;
    while off < end {
        let intact = match header_at(&f, off, end)? {
            Some(h) if prev.is_none_or(|(p, _)| h.id > p) && payload_ok(&f, off, &h, &mut buf)? => {
                Some(h)
            }
            _ => None,
        };
        let (at, h) = match intact {
            Some(h) => {
                if let Some((p, r)) = prev.filter(|&(p, _)| h.id > p + 1) {
                    // Records missing between segments (a file emptied or removed).
                    out.damaged.push(Damage {
                        start: off,
                        end: off,
                        records: Some(h.id - p - 1),
                        rows: h.rows_before.checked_sub(r),
                    });
                }
                (off, h)
            }
            None => match resync(&f, off, end, prev.map(|p| p.0), &mut buf)? {
                Some((at, h)) => {
                    let (records, rows) = match prev {
                        Some((p, r)) => (Some(h.id - p - 1), h.rows_before.checked_sub(r)),
                        None => (Some(h.id.saturating_sub(first_id)), None),
                    };
                    out.damaged.push(Damage {
                        start: off,
                        end: at,
                        records,
                        rows,
                    });
                    (at, h)
                }
                None => break,
            },
        };
        each(&h);
        out.first.get_or_insert((h.id, h.rows_before));
        prev = Some((h.id, h.rows_before + u64::from(h.rows)));
        out.last = prev;
        off = at + h.size();
        out.valid_len = off;
    }
    out.tail = end - out.valid_len;
    Ok(out)
}

/// Whether bytes `from..to` of `f` are all zero.
fn zeros_only(f: &File, from: u64, to: u64) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Rewrite segments of the previous format (`*.seg`) as `*.log`; returns the records moved.
fn migrate_legacy(dir: &Path) -> Result<u64, BufferError> {
    use record::legacy;
    let mut old: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let id = e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok()?;
            Some((id, e.path()))
        })
        .collect();
    old.sort_unstable();
    let (mut moved, mut rows_total, mut prev_id) = (0u64, 0u64, None::<u64>);
    for (first, path) in old {
        let new = segment_path(dir, first);
        let data = fs::read(&path).map_err(io_err(&path))?;
        let mut w = io::BufWriter::new(File::create(&new).map_err(io_err(&new))?);
        let mut off = 0usize;
        while off + legacy::HEADER_LEN <= data.len() {
            let mut hb = [0u8; legacy::HEADER_LEN];
            hb.copy_from_slice(&data[off..off + legacy::HEADER_LEN]);
            let body = off + legacy::HEADER_LEN;
            let len = legacy::len(&hb) as usize;
            let Some(payload) = data.get(body..body.saturating_add(len)) else {
                break;
            };
            let Some((_, id, rows, ms)) = legacy::decode(&hb, payload) else {
                break;
            };
            if prev_id.is_some_and(|p| id <= p) {
                break;
            }
            let h = Header::new(id, rows, ms, rows_total, payload);
            w.write_all(&h.encode()).map_err(io_err(&new))?;
            w.write_all(payload).map_err(io_err(&new))?;
            rows_total += u64::from(rows);
            prev_id = Some(id);
            moved += 1;
            off = body + len;
        }
        let f = w.into_inner().map_err(|e| io_err(&new)(e.into_error()))?;
        f.sync_all().map_err(io_err(&new))?;
        fs::remove_file(&path).map_err(io_err(&path))?;
        tracing::info!(segment = %path.display(), records = moved, "Buffer segment rewritten in the current format.");
    }
    Ok(moved)
}

/// What opening found in the segment files.
struct Opened {
    segments: Vec<Segment>,
    /// Per reader: `rows_before` of the first record at or after its stored position.
    rows_at: Vec<Option<u64>>,
    /// Id and running row count of the last intact record.
    prev: Option<(u64, u64)>,
    damages: Vec<(PathBuf, Damage)>,
}

/// Scan every segment in id order: count records, cut damaged tails, note damaged runs, and
/// delete empty segments.
fn scan_segments(
    dir: &Path,
    stored: &[Option<u64>],
    recovery: &mut Recovery,
) -> Result<Opened, BufferError> {
    let mut firsts: Vec<u64> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    firsts.sort_unstable();
    let mut segments: Vec<Segment> = Vec::new();
    // Per reader: `rows_before` of the first record at or after its stored position.
    let mut rows_at: Vec<Option<u64>> = vec![None; stored.len()];
    let mut prev: Option<(u64, u64)> = None;
    let mut damages: Vec<(PathBuf, Damage)> = Vec::new();
    for first in firsts {
        let path = segment_path(dir, first);
        let s = scan(&path, first, prev, |h| {
            recovery.records += 1;
            recovery.rows += u64::from(h.rows);
            for (r, p) in rows_at.iter_mut().zip(stored) {
                if r.is_none() && p.is_some_and(|p| h.id >= p) {
                    *r = Some(h.rows_before);
                }
            }
        })
        .map_err(io_err(&path))?;
        for d in &s.damaged {
            damages.push((path.clone(), *d));
        }
        if s.tail > 0 {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            // Zeros written ahead of the records (a crash before the clean close cut them).
            let zeros = zeros_only(&f, s.valid_len, s.valid_len + s.tail).map_err(io_err(&path))?;
            f.set_len(s.valid_len).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
            if !zeros {
                tracing::warn!(segment = %path.display(), cut_bytes = s.tail, kept_bytes = s.valid_len, "Buffer recovery cut a damaged tail.");
                recovery.cut.push((path.clone(), s.tail));
            }
        }
        let rows_start = prev.map_or(s.first.map_or(0, |f| f.1), |p| p.1);
        match s.last {
            Some((last_id, rows_end)) => {
                prev = Some((last_id, rows_end));
                segments.push(Segment {
                    first_id: first,
                    last_id: Some(last_id),
                    rows_end,
                    rows_start,
                    len: s.valid_len,
                    path,
                    damaged: s.damaged,
                });
            }
            None => fs::remove_file(&path).map_err(io_err(&path))?,
        }
    }
    Ok(Opened {
        segments,
        rows_at,
        prev,
        damages,
    })
}

/// A reader's stored position if the log can honour it; else `Err` with where it starts
/// again (the oldest record kept, and the rows before it), recorded in `recovery`.
fn check_position(
    name: &str,
    stored: Option<u64>,
    next_id: u64,
    segments: &[Segment],
    recovery: &mut Recovery,
) -> Result<u64, (u64, u64)> {
    let oldest = segments.first().map_or(0, |s| s.first_id);
    match stored {
        Some(p) if p <= next_id => return Ok(p.max(oldest).max(1)),
        _ => {}
    }
    let what = match stored {
        Some(p) => format!("{name}: position {p} is beyond the log's end {next_id}"),
        None => format!("{name}: position file unreadable"),
    };
    tracing::error!(reader = %name, "Buffer position impossible ({what}); this reader starts again at the oldest record kept (some rows may be written twice, none skipped).");
    recovery.position_errors.push(what);
    Err((oldest.max(1), segments.first().map_or(0, |s| s.rows_start)))
}

impl Buffer {
    /// Open (and recover) the buffer in `dir` for the named readers.
    pub fn open(
        dir: &Path,
        config: BufferConfig,
        readers: Vec<String>,
    ) -> Result<(Buffer, Recovery), BufferError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut recovery = Recovery {
            migrated_records: migrate_legacy(dir)?,
            ..Recovery::default()
        };
        let mut positions = Vec::new();
        let mut stored = Vec::new();
        for name in &readers {
            let (p, s) = Position::open(dir, name).map_err(io_err(dir))?;
            positions.push(p);
            stored.push(match s {
                Stored::Valid(id) if id <= MAX_SANE_ID => Some(id),
                Stored::Valid(_) | Stored::Damaged => None,
                Stored::None => Some(0),
            });
        }
        let Opened {
            segments,
            mut rows_at,
            prev,
            damages,
        } = scan_segments(dir, &stored, &mut recovery)?;
        let rows_total = prev.map_or(0, |p| p.1);
        let log_next = prev.map(|p| p.0 + 1);
        let next_id = log_next
            .unwrap_or_else(|| stored.iter().flatten().copied().max().unwrap_or(0))
            .max(1);
        // Check every position against the log; an impossible one restarts at the oldest record.
        let acked: Vec<u64> = (0..readers.len())
            .map(|i| {
                check_position(&readers[i], stored[i], next_id, &segments, &mut recovery)
                    .unwrap_or_else(|start| {
                        rows_at[i] = Some(start.1);
                        start.0
                    })
            })
            .collect();
        let bytes = segments.iter().map(|s| s.len).sum();
        let buffer = Buffer {
            dir: dir.to_path_buf(),
            config,
            inner: Mutex::new(Inner {
                writer: None,
                zeroed: 0,
                next_id,
                rows_total,
                read_to: acked.clone(),
                acked,
                positions,
                bytes,
                segments,
                free: None,
                rec: Vec::new(),
            }),
            readers: readers
                .into_iter()
                .map(|n| Arc::new(ReaderStats::new(n)))
                .collect(),
            metrics: BufferMetrics::default(),
            appended: watch::channel(next_id).0,
        };
        {
            let mut inner = buffer.lock();
            for (i, m) in buffer.readers.iter().enumerate() {
                let from = rows_at[i].unwrap_or(rows_total).min(rows_total);
                m.backlog_rows.store((rows_total - from) as i64, Relaxed);
            }
            // Positions that changed (new readers, impossible ones reset) are recorded now.
            let Inner {
                acked, positions, ..
            } = &mut *inner;
            for ((p, &a), was) in positions.iter_mut().zip(acked.iter()).zip(&stored) {
                if *was != Some(a) {
                    if let Err(e) = p.write(a) {
                        buffer.metrics.position_write_errors.fetch_add(1, Relaxed);
                        tracing::error!(error = %e, "Could not write a buffer position.");
                    }
                }
            }
            for (path, d) in &damages {
                buffer.count_damage(&inner, path, d);
            }
            buffer
                .metrics
                .segments
                .store(inner.segments.len() as u64, Relaxed);
        }
        recovery.damaged = damages;
        buffer.metrics.recovered(bytes, &recovery);
        Ok((buffer, recovery))
    }

    /// Count a damaged run once: buffer-wide, and per reader that had not written it.
    pub(super) fn count_damage(&self, inner: &Inner, path: &Path, d: &Damage) {
        let next_intact = segment_next_id(&inner.segments, path, d.end);
        if next_intact.is_some_and(|n| inner.acked.iter().all(|&a| a >= n)) {
            return; // every reader had written these records before the damage was found
        }
        let records = d.records.unwrap_or(0);
        self.metrics.corrupt_records.fetch_add(records, Relaxed);
        self.metrics
            .corrupt_bytes
            .fetch_add(d.end - d.start, Relaxed);
        let rows = d.rows.unwrap_or(0);
        self.metrics.corrupt_rows.fetch_add(rows, Relaxed);
        tracing::error!(segment = %path.display(), offset = d.start, bytes = d.end - d.start, records, rows, "Damaged buffer records skipped; their readings are lost.");
        // The damage ends just before an intact record; a reader needing ids before it lost them.
        for (s, m) in self.readers.iter().enumerate() {
            if next_intact.is_none_or(|n| inner.acked[s] < n) {
                m.rows_dropped.fetch_add(rows, Relaxed);
                m.backlog_rows.fetch_sub(rows as i64, Relaxed);
            }
        }
    }
}

/// The id of the intact record at `offset` in the segment at `path`, if any is known.
fn segment_next_id(segments: &[Segment], path: &Path, offset: u64) -> Option<u64> {
    let i = segments.iter().position(|s| s.path == path)?;
    let s = &segments[i];
    let f = File::open(&s.path).ok()?;
    match header_at(&f, offset, s.len).ok()? {
        Some(h) => Some(h.id),
        None => segments.get(i + 1).map(|n| n.first_id),
    }
}
