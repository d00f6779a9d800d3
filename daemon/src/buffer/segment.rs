//! Reading one segment file by offset: the record at an offset, and after damage the next
//! offset where an intact record starts (resynchronisation on the header's magic and checksum).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::record::{Header, HEADER_LEN, MAGIC};

/// A run of bytes that holds no intact record, and what it cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    pub start: u64,
    pub end: u64,
    /// Records and readings destroyed (`None` where no intact record bounds the run).
    pub records: Option<u64>,
    pub rows: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub first_id: u64,
    /// Id of the last record, `None` while empty.
    pub last_id: Option<u64>,
    /// `rows_before + rows` of the last record: the log's row counter after this segment.
    pub rows_end: u64,
    /// The log's row counter before this segment (for losses at its very start).
    pub rows_start: u64,
    pub len: u64,
    pub path: PathBuf,
    /// Known damaged runs, in offset order: readers skip them without counting twice.
    pub damaged: Vec<Damage>,
}

/// The record header at `off` if it is intact and its payload ends by `end`.
pub fn header_at(f: &File, off: u64, end: u64) -> io::Result<Option<Header>> {
    if off + HEADER_LEN as u64 > end {
        return Ok(None);
    }
    let mut hb = [0u8; HEADER_LEN];
    f.read_exact_at(&mut hb, off)?;
    Ok(Header::decode(&hb).filter(|h| off + h.size() <= end))
}

/// Whether the payload of the record at `off` matches its checksum (read in pieces).
pub fn payload_ok(f: &File, off: u64, h: &Header, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut crc = crc32fast::Hasher::new();
    let mut at = off + HEADER_LEN as u64;
    let mut left = u64::from(h.len);
    buf.resize(256 * 1024, 0);
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], at)?;
        crc.update(&buf[..n]);
        at += n as u64;
        left -= n as u64;
    }
    Ok(crc.finalize() == h.payload_crc)
}

/// The first offset in `(from, end)` holding an intact record (header and payload) with an id
/// above `after`, and its header.
pub fn resync(
    f: &File,
    from: u64,
    end: u64,
    after: Option<u64>,
    buf: &mut Vec<u8>,
) -> io::Result<Option<(u64, Header)>> {
    const WINDOW: usize = 64 * 1024;
    let mut window = vec![0u8; WINDOW];
    let mut base = from + 1;
    while base + HEADER_LEN as u64 <= end {
        let n = ((end - base) as usize).min(WINDOW);
        f.read_exact_at(&mut window[..n], base)?;
        // Candidates whose header starts in this window (it may run past the window's end).
        let last = n.saturating_sub(MAGIC.len() - 1);
        for i in (0..last).filter(|&i| window[i..i + MAGIC.len()] == MAGIC) {
            let off = base + i as u64;
            let Some(h) = header_at(f, off, end)? else {
                continue;
            };
            if after.is_some_and(|a| h.id <= a) || !payload_ok(f, off, &h, buf)? {
                continue;
            }
            return Ok(Some((off, h)));
        }
        base += last.max(1) as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn resync_finds_the_next_intact_record_after_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut f = File::create(&path).unwrap();
        let p = b"m v=1 1\n";
        let mut garbage = vec![0xFFu8; 70_000];
        garbage[69_990..69_994].copy_from_slice(&MAGIC); // a false magic
        f.write_all(&garbage).unwrap();
        let h = Header::new(9, 1, 0, 5, p);
        f.write_all(&h.encode()).unwrap();
        f.write_all(p).unwrap();
        drop(f);
        let f = File::open(&path).unwrap();
        let end = f.metadata().unwrap().len();
        let mut buf = Vec::new();
        let got = resync(&f, 0, end, Some(3), &mut buf).unwrap();
        assert_eq!(got, Some((70_000, h)));
        assert_eq!(resync(&f, 0, end, Some(9), &mut buf).unwrap(), None);
    }
}
