//! One record of the buffer log: a fixed 44-byte header and the payload.
//!
//! ```text
//! offset size field
//! 0      4    magic        FF 4D 4C 32 ("\xFFML2"; 0xFF never occurs in UTF-8 line protocol)
//! 4      4    len          payload length in bytes, u32 little-endian
//! 8      8    id           record id, u64 LE, +1 per record through the log
//! 16     4    rows         readings in the payload, u32 LE
//! 20     8    unix_ms      when the record was appended, u64 LE
//! 28     8    rows_before  readings appended to the log before this record, u64 LE
//! 36     4    payload_crc  CRC-32 (IEEE) of the payload, u32 LE
//! 40     4    header_crc   CRC-32 of bytes 0..40, u32 LE
//! 44     len  payload      line protocol, one line per reading
//! ```
//!
//! The magic and the header's own checksum make the log resynchronisable: after damage, the
//! reader looks for the next offset holding a header whose checksum holds, so a flipped byte
//! costs exactly the record it hits. `rows_before` makes the loss countable: the rows between
//! two intact records are the difference of their counters, whatever was destroyed between.

pub const HEADER_LEN: usize = 44;
pub const MAGIC: [u8; 4] = [0xFF, b'M', b'L', b'2'];
/// Larger lengths are treated as corruption (appends are bounded well below it).
pub const MAX_PAYLOAD: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub id: u64,
    pub rows: u32,
    pub unix_ms: u64,
    pub rows_before: u64,
    pub payload_crc: u32,
}

impl Header {
    pub fn new(id: u64, rows: u32, unix_ms: u64, rows_before: u64, payload: &[u8]) -> Header {
        Header {
            len: payload.len() as u32,
            id,
            rows,
            unix_ms,
            rows_before,
            payload_crc: crc32fast::hash(payload),
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16..20].copy_from_slice(&self.rows.to_le_bytes());
        b[20..28].copy_from_slice(&self.unix_ms.to_le_bytes());
        b[28..36].copy_from_slice(&self.rows_before.to_le_bytes());
        b[36..40].copy_from_slice(&self.payload_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..40]);
        b[40..44].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// The header at the start of `b`, if its magic, checksum and length are sound.
    pub fn decode(b: &[u8]) -> Option<Header> {
        let b = b.get(..HEADER_LEN)?;
        if b[0..4] != MAGIC || crc32fast::hash(&b[..40]) != u32_at(b, 40) {
            return None;
        }
        let h = Header {
            len: u32_at(b, 4),
            id: u64_at(b, 8),
            rows: u32_at(b, 16),
            unix_ms: u64_at(b, 20),
            rows_before: u64_at(b, 28),
            payload_crc: u32_at(b, 36),
        };
        (h.len <= MAX_PAYLOAD).then_some(h)
    }

    pub fn verify(&self, payload: &[u8]) -> bool {
        payload.len() == self.len as usize && crc32fast::hash(payload) == self.payload_crc
    }

    /// Bytes on disk, header included.
    pub fn size(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.len)
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// The records of the format before `rows_before` and the header checksum (segments named
/// `*.seg`), read once at start and rewritten in the current format.
pub mod legacy {
    pub const HEADER_LEN: usize = 28;

    /// (len, id, rows, unix_ms) if the 28-byte header and the payload's checksum hold.
    pub fn decode(b: &[u8; HEADER_LEN], payload: &[u8]) -> Option<(u32, u64, u32, u64)> {
        let len = super::u32_at(b, 0);
        let crc = super::u32_at(b, 4);
        let mut h = crc32fast::Hasher::new();
        h.update(&b[8..]);
        h.update(payload);
        (payload.len() == len as usize && h.finalize() == crc).then(|| {
            (
                len,
                super::u64_at(b, 8),
                super::u32_at(b, 16),
                super::u64_at(b, 20),
            )
        })
    }

    /// The payload length a header announces (before it can be checked).
    pub fn len(b: &[u8; HEADER_LEN]) -> u32 {
        super::u32_at(b, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let p = b"noise,device=d1 laeq=50 1\n";
        let h = Header::new(7, 1, 1_000, 41, p);
        let d = Header::decode(&h.encode()).unwrap();
        assert_eq!(d, h);
        assert!(d.verify(p));
        let mut bad = *p;
        bad[3] ^= 1;
        assert!(!d.verify(&bad));
        for i in 0..HEADER_LEN {
            let mut hb = h.encode();
            hb[i] ^= 0x10;
            assert_eq!(Header::decode(&hb), None, "flip at header byte {i}");
        }
    }
}
