//! A reader's position file, `pos-{reader}`: 40 bytes written in place, so recording a
//! position never needs free disk space (a full disk must not stop segments being freed).
//!
//! ```text
//! 0   8  header   FF 4D 4C 50 ("\xFFMLP"), format version u8 (1), 3 zero bytes
//! 8  16  slot A   } two slots, written alternately:
//! 24 16  slot B   }
//!
//! slot: 0  8  next_id  the id of the next record the reader needs, u64 LE
//!       8  4  seq      write counter, u32 LE (the valid slot with the higher seq wins)
//!       12 4  crc      CRC-32 of bytes 0..12 of the slot
//! ```
//!
//! A torn write damages at most the slot being written; the other still holds the previous
//! position (the reader then writes a few rows again, which the database absorbs). A file with
//! a newer format version is refused, never overwritten. Older layouts are read once and
//! replaced (temp file, rename): the 32-byte slots without a header, and before them text
//! files `ack-{reader}`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SLOT: usize = 16;
const MAGIC: [u8; 4] = [0xFF, b'M', b'L', b'P'];
pub const FORMAT: u8 = 1;
const HEADER: [u8; 8] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], FORMAT, 0, 0, 0];

#[derive(Debug)]
pub struct Position {
    file: File,
    seq: u32,
    pub path: PathBuf,
}

/// What was found on disk for a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No position yet (a new reader).
    None,
    Valid(u64),
    /// The file exists but neither slot (or the legacy text) can be read.
    Damaged,
}

fn slot(next_id: u64, seq: u32) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[0..8].copy_from_slice(&next_id.to_le_bytes());
    b[8..12].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&b[..12]);
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b
}

fn parse_slot(b: &[u8]) -> Option<(u64, u32)> {
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[12..16]);
    if crc32fast::hash(&b[..12]) != u32::from_le_bytes(crc) {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&b[0..8]);
    let mut seq = [0u8; 4];
    seq.copy_from_slice(&b[8..12]);
    Some((u64::from_le_bytes(id), u32::from_le_bytes(seq)))
}

impl Position {
    /// Open (creating) the position file of `reader` in `dir`; returns what it held.
    pub fn open(dir: &Path, reader: &str) -> io::Result<(Position, Stored)> {
        let path = dir.join(format!("pos-{reader}"));
        let legacy = dir.join(format!("ack-{reader}"));
        let (stored, seq, current) = match fs::read(&path) {
            Ok(b) => {
                let (slots, current) = match b.get(..4) {
                    Some(m) if m == MAGIC => {
                        let version = b.get(4).copied().unwrap_or(0);
                        if version != FORMAT {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!(
                                    "{}: position format {version}, this meilid reads {FORMAT} \
                                     (written by a newer meilid?); left as it is",
                                    path.display()
                                ),
                            ));
                        }
                        (&b[HEADER.len().min(b.len())..], true)
                    }
                    _ => (&b[..], false),
                };
                let best = slots
                    .chunks_exact(SLOT)
                    .take(2)
                    .filter_map(parse_slot)
                    .max_by_key(|&(_, seq)| seq);
                match best {
                    Some((id, seq)) => (Stored::Valid(id), seq, current),
                    None => (Stored::Damaged, 0, current),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::read_to_string(&legacy) {
                Ok(s) => match s.trim().parse() {
                    Ok(id) => (Stored::Valid(id), 0, false),
                    Err(_) => (Stored::Damaged, 0, false),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => (Stored::None, 0, false),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if !current {
            // New, or an older layout: write the whole file once (temp, fsync, rename), while
            // there is room; afterwards only slots are overwritten in place.
            let id = match stored {
                Stored::Valid(id) => id,
                _ => 0,
            };
            let mut bytes = HEADER.to_vec();
            bytes.extend_from_slice(&slot(id, seq));
            bytes.extend_from_slice(&slot(id, seq));
            let tmp = dir.join(format!("pos-{reader}.tmp"));
            {
                let mut f = File::create(&tmp)?;
                io::Write::write_all(&mut f, &bytes)?;
                f.sync_all()?;
            }
            fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let pos = Position { file, seq, path };
        if legacy.exists() {
            fs::remove_file(&legacy)?;
        }
        Ok((pos, stored))
    }

    /// Record `next_id` in the slot not holding the newest position.
    pub fn write(&mut self, next_id: u64) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let at = (HEADER.len() + (self.seq % 2) as usize * SLOT) as u64;
        self.file.write_all_at(&slot(next_id, self.seq), at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternating_slots_survive_a_torn_write_and_legacy_text_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("ack-db"), "42\n").unwrap();
        let (mut p, s) = Position::open(dir.path(), "db").unwrap();
        assert_eq!(s, Stored::Valid(42));
        assert!(!dir.path().join("ack-db").exists());
        p.write(50).unwrap();
        p.write(60).unwrap();
        drop(p);
        let (_, s) = Position::open(dir.path(), "db").unwrap();
        assert_eq!(s, Stored::Valid(60));
        // Tear the newest slot: the previous position remains.
        let path = dir.path().join("pos-db");
        let mut b = fs::read(&path).unwrap();
        assert_eq!(b.len(), 40);
        assert_eq!(&b[..8], &HEADER);
        let newest = b[8..]
            .chunks_exact(SLOT)
            .position(|c| parse_slot(c).is_some_and(|(id, _)| id == 60))
            .unwrap();
        b[8 + newest * SLOT + 3] ^= 0xFF;
        fs::write(&path, &b).unwrap();
        assert_eq!(
            Position::open(dir.path(), "db").unwrap().1,
            Stored::Valid(50)
        );
        fs::write(&path, [0u8; 32]).unwrap();
        assert_eq!(Position::open(dir.path(), "db").unwrap().1, Stored::Damaged);
        assert_eq!(Position::open(dir.path(), "new").unwrap().1, Stored::None);
    }

    #[test]
    fn the_headerless_layout_is_taken_over_and_a_newer_format_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pos-db");
        // Before format 1: two bare slots; the newer one (seq 8) wins.
        let mut old = slot(70, 7).to_vec();
        old.extend_from_slice(&slot(71, 8));
        fs::write(&path, &old).unwrap();
        let (mut p, s) = Position::open(dir.path(), "db").unwrap();
        assert_eq!(s, Stored::Valid(71));
        p.write(80).unwrap();
        drop(p);
        let b = fs::read(&path).unwrap();
        assert_eq!((b.len(), &b[..8]), (40, &HEADER[..]));
        assert_eq!(
            Position::open(dir.path(), "db").unwrap().1,
            Stored::Valid(80)
        );
        assert!(!dir.path().join("pos-db.tmp").exists());

        let mut newer = b.clone();
        newer[4] = FORMAT + 1;
        fs::write(&path, &newer).unwrap();
        let e = Position::open(dir.path(), "db").unwrap_err();
        assert!(
            e.to_string()
                .contains("position format 2, this meilid reads 1"),
            "{e}"
        );
        assert_eq!(fs::read(&path).unwrap(), newer, "left as it was");
    }
}
