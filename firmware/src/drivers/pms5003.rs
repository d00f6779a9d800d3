//! Plantower PMS5003 particulate sensor over UART (9600 8N1; DOMAIN.md §8.1).
//!
//! 32-byte frames `42 4D 00 1C …`, big-endian words, a 16-bit sum of bytes 0–29 as checksum.
//! The sensor answers a command with an 8-byte reply `42 4D 00 04 CMD DATA SUM`, which is
//! recognised and counted as a reply, not as a bad frame.
//! [`FrameParser`] takes bytes one at a time and resynchronises on the next `42 4D` after
//! garbage or a bad checksum; [`Pms5003`] drives the sensor over any `embedded-io` port.

use embedded_io::{Read, Write};

pub const FRAME_LEN: usize = 32;

/// One measurement frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// PM1.0, PM2.5, PM10 in µg/m³, CF=1 (standard particle; factory calibration).
    pub pm_cf1: [u16; 3],
    /// PM1.0, PM2.5, PM10 in µg/m³ under atmospheric environment (use these outdoors).
    pub pm_atm: [u16; 3],
    /// Particles per 0.1 L above 0.3, 0.5, 1.0, 2.5, 5.0, 10 µm.
    pub counts: [u16; 6],
}

impl Frame {
    /// Decode a complete frame, checking header, length and checksum.
    pub fn decode(b: &[u8; FRAME_LEN]) -> Result<Frame, FrameError> {
        if b[0] != 0x42 || b[1] != 0x4D {
            return Err(FrameError::Header);
        }
        let word = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        if word(2) != 28 {
            return Err(FrameError::Length);
        }
        let sum = b[..30]
            .iter()
            .fold(0u16, |s, &x| s.wrapping_add(u16::from(x)));
        if sum != word(30) {
            return Err(FrameError::Checksum);
        }
        Ok(Frame {
            pm_cf1: [word(4), word(6), word(8)],
            pm_atm: [word(10), word(12), word(14)],
            counts: [word(16), word(18), word(20), word(22), word(24), word(26)],
        })
    }

    /// Encode (for simulated sensors and tests).
    pub fn encode(&self) -> [u8; FRAME_LEN] {
        let mut b = [0u8; FRAME_LEN];
        b[0] = 0x42;
        b[1] = 0x4D;
        b[3] = 28;
        let words = self.pm_cf1.iter().chain(&self.pm_atm).chain(&self.counts);
        for (i, w) in words.enumerate() {
            b[4 + 2 * i..6 + 2 * i].copy_from_slice(&w.to_be_bytes());
        }
        let sum = b[..30]
            .iter()
            .fold(0u16, |s, &x| s.wrapping_add(u16::from(x)));
        b[30..].copy_from_slice(&sum.to_be_bytes());
        b
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    Header,
    Length,
    Checksum,
}

/// Byte-at-a-time frame assembly with resynchronisation.
#[derive(Debug, Clone)]
pub struct FrameParser {
    buf: [u8; FRAME_LEN],
    len: usize,
    /// Frames dropped for a bad length or checksum (for the device's status).
    pub rejected: u32,
    /// Command replies (`42 4D 00 04 …`) seen, with a good checksum.
    pub replies: u32,
}

/// Length of a command reply (`42 4D 00 04 CMD DATA SUMH SUML`).
pub const REPLY_LEN: usize = 8;

impl Default for FrameParser {
    fn default() -> Self {
        FrameParser {
            buf: [0; FRAME_LEN],
            len: 0,
            rejected: 0,
            replies: 0,
        }
    }
}

impl FrameParser {
    /// Feed one byte; returns a frame when one completes with a good checksum.
    pub fn push(&mut self, byte: u8) -> Option<Frame> {
        match self.len {
            0 if byte != 0x42 => return None,
            1 if byte != 0x4D => {
                self.len = usize::from(byte == 0x42);
                return None;
            }
            _ => {}
        }
        self.buf[self.len] = byte;
        self.len += 1;
        let want = match u16::from_be_bytes([self.buf[2], self.buf[3]]) {
            _ if self.len < 4 => return None,
            28 => FRAME_LEN,
            4 => REPLY_LEN,
            _ => return self.reject(),
        };
        if self.len < want {
            return None;
        }
        if want == REPLY_LEN {
            let b = &self.buf[..REPLY_LEN];
            let sum = b[..6]
                .iter()
                .fold(0u16, |s, &x| s.wrapping_add(u16::from(x)));
            if sum != u16::from_be_bytes([b[6], b[7]]) {
                return self.reject();
            }
            self.len = 0;
            self.replies = self.replies.wrapping_add(1);
            return None;
        }
        match Frame::decode(&self.buf) {
            Ok(f) => {
                self.len = 0;
                Some(f)
            }
            Err(_) => self.reject(),
        }
    }

    /// Drop what was gathered, count it, and look for a header inside it.
    fn reject(&mut self) -> Option<Frame> {
        self.rejected = self.rejected.wrapping_add(1);
        let (copy, n) = (self.buf, self.len);
        self.len = 0;
        let mut found = None;
        for &b in &copy[1..n] {
            if let Some(f) = self.push(b) {
                found = Some(f);
            }
        }
        found
    }
}

/// Commands (7 bytes: `42 4D CMD DATAH DATAL LRCH LRCL`, LRC = byte sum).
pub mod command {
    const fn cmd(c: u8, data: u8) -> [u8; 7] {
        let sum = 0x42u16 + 0x4D + c as u16 + data as u16;
        [0x42, 0x4D, c, 0x00, data, (sum >> 8) as u8, sum as u8]
    }
    pub const PASSIVE: [u8; 7] = cmd(0xE1, 0x00);
    pub const ACTIVE: [u8; 7] = cmd(0xE1, 0x01);
    pub const READ: [u8; 7] = cmd(0xE2, 0x00);
    pub const SLEEP: [u8; 7] = cmd(0xE4, 0x00);
    pub const WAKE: [u8; 7] = cmd(0xE4, 0x01);
}

/// Driver errors: the port's own errors apart from the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    Io(E),
    /// The port ended (or returned nothing) before a good frame arrived.
    NoFrame,
}

/// A PMS5003 on a UART.
pub struct Pms5003<P> {
    port: P,
    parser: FrameParser,
}

impl<P: Read + Write> Pms5003<P> {
    pub fn new(port: P) -> Self {
        Pms5003 {
            port,
            parser: FrameParser::default(),
        }
    }

    /// Give the port back.
    pub fn release(self) -> P {
        self.port
    }

    fn send(&mut self, c: &[u8; 7]) -> Result<(), Error<P::Error>> {
        self.port.write_all(c).map_err(Error::Io)?;
        self.port.flush().map_err(Error::Io)
    }

    /// Passive mode: the sensor answers [`Pms5003::read`] only.
    pub fn passive(&mut self) -> Result<(), Error<P::Error>> {
        self.send(&command::PASSIVE)
    }
    pub fn active(&mut self) -> Result<(), Error<P::Error>> {
        self.send(&command::ACTIVE)
    }
    pub fn sleep(&mut self) -> Result<(), Error<P::Error>> {
        self.send(&command::SLEEP)
    }
    /// Wake the fan; discard about 30 s of readings afterwards (DOMAIN.md §8.1).
    pub fn wake(&mut self) -> Result<(), Error<P::Error>> {
        self.send(&command::WAKE)
    }

    /// Request (passive mode) and wait for the next good frame, reading at most `max_bytes`.
    pub fn read(&mut self, max_bytes: usize) -> Result<Frame, Error<P::Error>> {
        self.send(&command::READ)?;
        self.next_frame(max_bytes)
    }

    /// The next good frame from the port (active mode), reading at most `max_bytes`.
    pub fn next_frame(&mut self, max_bytes: usize) -> Result<Frame, Error<P::Error>> {
        let mut chunk = [0u8; 16];
        let mut seen = 0;
        while seen < max_bytes {
            let n = self.port.read(&mut chunk).map_err(Error::Io)?;
            if n == 0 {
                break;
            }
            seen += n;
            for &b in &chunk[..n] {
                if let Some(f) = self.parser.push(b) {
                    return Ok(f);
                }
            }
        }
        Err(Error::NoFrame)
    }

    /// Frames dropped for bad checksums so far.
    pub fn rejected(&self) -> u32 {
        self.parser.rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frame {
        Frame {
            pm_cf1: [12, 20, 25],
            pm_atm: [10, 17, 22],
            counts: [2000, 600, 120, 10, 3, 1],
        }
    }

    #[test]
    fn byte_exact_frame() {
        let b = sample().encode();
        assert_eq!(&b[..4], &[0x42, 0x4D, 0x00, 0x1C]);
        assert_eq!(&b[12..14], &[0x00, 17], "PM2.5 atmospheric at bytes 12–13");
        let sum: u16 = b[..30].iter().map(|&x| u16::from(x)).sum();
        assert_eq!(u16::from_be_bytes([b[30], b[31]]), sum);
        assert_eq!(Frame::decode(&b), Ok(sample()));
    }

    #[test]
    fn commands_match_the_datasheet() {
        assert_eq!(command::PASSIVE, [0x42, 0x4D, 0xE1, 0x00, 0x00, 0x01, 0x70]);
        assert_eq!(command::ACTIVE, [0x42, 0x4D, 0xE1, 0x00, 0x01, 0x01, 0x71]);
        assert_eq!(command::READ, [0x42, 0x4D, 0xE2, 0x00, 0x00, 0x01, 0x71]);
        assert_eq!(command::SLEEP, [0x42, 0x4D, 0xE4, 0x00, 0x00, 0x01, 0x73]);
        assert_eq!(command::WAKE, [0x42, 0x4D, 0xE4, 0x00, 0x01, 0x01, 0x74]);
    }

    #[test]
    fn command_replies_are_replies_not_bad_frames() {
        // The reply to "passive mode" (E1 00): 42 4D 00 04 E1 00, sum 0x0174.
        let reply = [0x42, 0x4D, 0x00, 0x04, 0xE1, 0x00, 0x01, 0x74];
        let mut p = FrameParser::default();
        let mut got = None;
        for &b in reply.iter().chain(&sample().encode()).chain(&reply) {
            if let Some(f) = p.push(b) {
                got = Some(f);
            }
        }
        assert_eq!(got, Some(sample()));
        assert_eq!((p.replies, p.rejected), (2, 0));
        // A reply with a wrong sum is a bad frame.
        for &b in &[0x42, 0x4D, 0x00, 0x04, 0xE1, 0x00, 0x01, 0x75] {
            p.push(b);
        }
        assert_eq!((p.replies, p.rejected), (2, 1));
    }

    #[test]
    fn resynchronises_after_garbage_and_bad_checksums() {
        let good = sample().encode();
        let mut bad = good;
        bad[12] ^= 0xFF; // corrupt a value: checksum fails
        let mut stream = std::vec::Vec::new();
        stream.extend_from_slice(&[0x00, 0x42, 0x42, 0x13, 0x4D]); // garbage with false starts
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&good[..10]); // a truncated frame…
        stream.extend_from_slice(&good); // …then a good one
        let mut p = FrameParser::default();
        let frames: std::vec::Vec<Frame> = stream.iter().filter_map(|&b| p.push(b)).collect();
        assert_eq!(frames, std::vec![sample()]);
        assert!(p.rejected >= 1);
    }

    /// An in-memory UART: reads come from `rx`, writes go to `tx`.
    struct Uart {
        rx: std::vec::Vec<u8>,
        at: usize,
        tx: std::vec::Vec<u8>,
    }
    impl embedded_io::ErrorType for Uart {
        type Error = core::convert::Infallible;
    }
    impl Read for Uart {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.rx.len() - self.at).min(5);
            buf[..n].copy_from_slice(&self.rx[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    impl Write for Uart {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.tx.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[test]
    fn driver_requests_and_reads_a_frame() {
        let mut rx = std::vec![0xFF, 0x00];
        rx.extend_from_slice(&sample().encode());
        let mut s = Pms5003::new(Uart {
            rx,
            at: 0,
            tx: std::vec::Vec::new(),
        });
        s.passive().unwrap();
        assert_eq!(s.read(256), Ok(sample()));
        assert_eq!(s.next_frame(256), Err(Error::NoFrame));
        let uart = s.release();
        assert_eq!(&uart.tx[..7], &command::PASSIVE);
        assert_eq!(&uart.tx[7..], &command::READ);
    }
}
