//! One record of the buffer log: a fixed 28-byte header and the payload.
//!
//! ```text
//! offset size field
//! 0      4    len       payload length in bytes, u32 little-endian
//! 4      4    crc       CRC-32 (IEEE) of bytes 8..28 and the payload, u32 LE
//! 8      8    id        record id, u64 LE, strictly increasing through the log
//! 16     4    rows      readings in the payload, u32 LE
//! 20     8    unix_ms   when the record was appended, u64 LE
//! 28     len  payload   line protocol, one line per reading
//! ```

pub const HEADER_LEN: usize = 28;
/// Larger lengths are treated as corruption.
pub const MAX_PAYLOAD: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub crc: u32,
    pub id: u64,
    pub rows: u32,
    pub unix_ms: u64,
}

impl Header {
    pub fn new(id: u64, rows: u32, unix_ms: u64, payload: &[u8]) -> Header {
        let mut h = Header {
            len: payload.len() as u32,
            crc: 0,
            id,
            rows,
            unix_ms,
        };
        h.crc = h.checksum(payload);
        h
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.len.to_le_bytes());
        b[4..8].copy_from_slice(&self.crc.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16..20].copy_from_slice(&self.rows.to_le_bytes());
        b[20..28].copy_from_slice(&self.unix_ms.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Header {
            len: u32_at(0),
            crc: u32_at(4),
            id: u64_at(8),
            rows: u32_at(16),
            unix_ms: u64_at(20),
        }
    }

    fn checksum(&self, payload: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.encode()[8..]);
        h.update(payload);
        h.finalize()
    }

    pub fn verify(&self, payload: &[u8]) -> bool {
        payload.len() == self.len as usize && self.checksum(payload) == self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let p = b"noise,device=d1 laeq=50 1\n";
        let h = Header::new(7, 1, 1_000, p);
        let d = Header::decode(&h.encode());
        assert_eq!(d, h);
        assert!(d.verify(p));
        let mut bad = *p;
        bad[3] ^= 1;
        assert!(!d.verify(&bad));
        let mut hb = h.encode();
        hb[8] ^= 1; // id changed
        assert!(!Header::decode(&hb).verify(p));
    }
}
